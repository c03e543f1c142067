"""The runtime base binary of one platform: built from an `encoderfile_runtime` target, or
downloaded (pinned) through `[encoderfile-runtime-release]`."""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.target_types import EntryPoint, PexLayout
from pants.backend.python.util_rules.pex import CompletePlatforms, Pex
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.core.util_rules.external_tool import DownloadedExternalTool, ExternalToolRequest
from pants.engine.addresses import Address, Addresses, UnparsedAddressInputs
from pants.engine.fs import Digest
from pants.engine.platform import Platform
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import (
    DependenciesRequest,
    InvalidFieldException,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.logging import LogLevel

from pants_backend_encoderfile.platforms import PLATFORM_TO_TRIPLE
from pants_backend_encoderfile.subsystems import EncoderfileRuntimeSubsystem
from pants_backend_encoderfile.target_types import (
    EncoderfileRuntimeCompletePlatformsField,
    EncoderfileRuntimeDependenciesField,
    EncoderfileRuntimeEntryPointField,
    EncoderfileRuntimeExcludesField,
    EncoderfileRuntimeField,
    EncoderfileRuntimeTarget,
)

# `--venv --sh-boot`: the fastest warm start (a plain zipapp imports onnxruntime ~4x slower).
RUNTIME_PEX_ARGS = ("--venv", "--sh-boot")


def runtime_pex_filename(triple: str) -> str:
    """The release asset name, also used by `[encoderfile-runtime-release].url_template`."""
    return f"encoderfile-runtime-{triple}.pex"


@dataclass(frozen=True)
class RuntimePexRequest:
    address: Address  # of an `encoderfile_runtime` target
    triple: str


@dataclass(frozen=True)
class RuntimePex:
    digest: Digest  # holds just `filename`
    filename: str
    triple: str


@dataclass(frozen=True)
class BaseBinaryRequest:
    runtime: EncoderfileRuntimeField  # unset = download
    triple: str


@dataclass(frozen=True)
class BaseBinary:
    digest: Digest  # holds just `path`
    path: str
    triple: str
    origin: str  # for log lines: "built from //...:runtime" or "downloaded 0.1.0"


@rule(desc="Build an encoderfile runtime PEX", level=LogLevel.DEBUG)
async def build_runtime_pex(request: RuntimePexRequest, platform: Platform) -> RuntimePex:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(request.address, description_of_origin="<infallible>"),
    )
    tgt = wrapped.target
    cp_field = tgt[EncoderfileRuntimeCompletePlatformsField]
    cp_inputs = cp_field.for_triple(request.triple)
    if cp_inputs is None and request.triple != PLATFORM_TO_TRIPLE[platform]:
        raise InvalidFieldException(
            f"The {cp_field.alias!r} field in target {tgt.address} has no entry for "
            f"{request.triple!r}, so the runtime cannot be built for it (only the host, "
            f"{PLATFORM_TO_TRIPLE[platform]}, can use the local interpreter). Add "
            f'"{request.triple}": "<address of a file target with its complete-platform JSON>".'
        )
    dependencies = await Get(
        Addresses, DependenciesRequest(tgt[EncoderfileRuntimeDependenciesField])
    )
    complete_platforms = (
        await Get(CompletePlatforms, UnparsedAddressInputs, cp_inputs)
        if cp_inputs is not None
        else CompletePlatforms()
    )
    if not dependencies:
        raise InvalidFieldException(
            f"The 'dependencies' field in target {tgt.address} is empty; list the runtime's "
            f'Python sources, e.g. dependencies=["src/python/encoderfile/runtime"].'
        )
    filename = runtime_pex_filename(request.triple)
    pex = await Get(
        Pex,
        PexFromTargetsRequest(
            dependencies,
            output_filename=filename,
            # Shipped to users (inside every encoderfile): a self-contained zipapp.
            internal_only=False,
            layout=PexLayout.ZIPAPP,
            main=EntryPoint.parse(
                tgt[EncoderfileRuntimeEntryPointField].value, provenance=f"{tgt.address}"
            ),
            complete_platforms=complete_platforms,
            additional_args=(
                *RUNTIME_PEX_ARGS,
                *(
                    a
                    for name in tgt[EncoderfileRuntimeExcludesField].value or ()
                    for a in ("--exclude", name)
                ),
            ),
            description=f"Build the encoderfile runtime for {request.triple}",
        ),
    )
    return RuntimePex(pex.digest, filename, request.triple)


@rule(desc="Get an encoderfile runtime base binary", level=LogLevel.DEBUG)
async def get_base_binary(
    request: BaseBinaryRequest, runtime_subsystem: EncoderfileRuntimeSubsystem
) -> BaseBinary:
    field = request.runtime
    if field.value:
        addresses = await Get(Addresses, UnparsedAddressInputs, field.to_unparsed_address_inputs())
        wrapped = await Get(
            WrappedTarget,
            WrappedTargetRequest(addresses[0], description_of_origin=f"{field.address}"),
        )
        if not isinstance(wrapped.target, EncoderfileRuntimeTarget):
            raise InvalidFieldException(
                f"The {field.alias!r} field in target {field.address} points at "
                f"{addresses[0]}, a `{wrapped.target.alias}` target; it must be an "
                f"`{EncoderfileRuntimeTarget.alias}` target (or unset, to download the runtime)."
            )
        runtime = await Get(RuntimePex, RuntimePexRequest(addresses[0], request.triple))
        return BaseBinary(
            runtime.digest, runtime.filename, request.triple, f"built from {addresses[0]}"
        )
    tool_request = runtime_subsystem.get_request_for_triple(request.triple)
    downloaded = await Get(DownloadedExternalTool, ExternalToolRequest, tool_request)
    return BaseBinary(
        downloaded.digest,
        downloaded.exe.lstrip("./"),
        request.triple,
        f"[{runtime_subsystem.options_scope}] {runtime_subsystem.version}",
    )


def rules():
    return collect_rules()
