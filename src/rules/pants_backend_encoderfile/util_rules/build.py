"""Build one encoderfile for one platform: ONE sandboxed process runs `encoderfile build` (and
`encoderfile verify`) on the model files, a generated config and the runtime base binary.

The rule never reads the model: the sandbox gets the digests, and the output's size and sha256
come from the store's entries (`FileEntry.file_digest`).
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import Any, Dict

from pants.backend.python.util_rules.pex import PexProcess
from pants.core.util_rules.system_binaries import BashBinary
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestEntries,
    Directory,
    FileContent,
    FileEntry,
    MergeDigests,
)
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import WrappedTarget, WrappedTargetRequest
from pants.util.logging import LogLevel

from pants_backend_encoderfile.subsystems import EncoderfileSubsystem
from pants_backend_encoderfile.target_types import (
    BATCH_LONGEST,
    EncoderfileLuaLibsField,
    EncoderfileMaxLengthField,
    EncoderfileModelNameField,
    EncoderfileModelTypeField,
    EncoderfilePadStrategyField,
    EncoderfileRuntimeField,
    EncoderfileStrideField,
    EncoderfileTruncationSideField,
    EncoderfileTruncationStrategyField,
    EncoderfileVersionField,
)
from pants_backend_encoderfile.util_rules.base_binary import BaseBinary, BaseBinaryRequest
from pants_backend_encoderfile.util_rules.cli_tool import EncoderfileCliTool
from pants_backend_encoderfile.util_rules.model_files import (
    MODEL_CONFIG,
    TOKENIZER,
    TOKENIZER_CONFIG,
    TRANSFORM,
    WEIGHTS,
    ModelFiles,
    ModelFilesRequest,
)

# Written at the sandbox root, so the repo-relative paths in it resolve as they are.
CONFIG_FILENAME = "__encoderfile_build.json"


@dataclass(frozen=True)
class BuildEncoderfileRequest:
    address: Address  # of an `encoderfile` target
    triple: str
    output_path: str  # relative to the sandbox / dist dir


@dataclass(frozen=True)
class BuiltEncoderfile:
    digest: Digest  # holds just `path`, executable
    path: str
    triple: str
    size: int
    sha256: str
    base_origin: str


def build_config(
    *,
    name: str,
    version: str,
    model_type: str,
    paths: Dict[str, str],
    lua_libs: Any = None,
    pad_strategy: Any = None,
    truncation_side: Any = None,
    truncation_strategy: Any = None,
    max_length: Any = None,
    stride: Any = None,
) -> Dict[str, Any]:
    """The `encoderfile build` config (JSON is valid YAML); unset values are left out.

    >>> paths = {"weights": "w", "tokenizer": "t", "model_config": "c"}
    >>> cfg = build_config(name="m", version="1", model_type="embedding", paths=paths)
    >>> cfg["encoderfile"]["path"]
    {'model_config_path': 'c', 'model_weights_path': 'w', 'tokenizer_path': 't'}
    """
    path = {
        "model_config_path": paths[MODEL_CONFIG],
        "model_weights_path": paths[WEIGHTS],
        "tokenizer_path": paths[TOKENIZER],
    }
    if TOKENIZER_CONFIG in paths:
        path["tokenizer_config_path"] = paths[TOKENIZER_CONFIG]
    cfg: Dict[str, Any] = {
        "name": name,
        "version": version,
        "model_type": model_type,
        "path": path,
    }
    if TRANSFORM in paths:
        cfg["transform"] = {"path": paths[TRANSFORM]}
    if lua_libs is not None:
        cfg["lua_libs"] = list(lua_libs)
    tokenizer: Dict[str, Any] = {}
    if pad_strategy is not None:
        tokenizer["pad_strategy"] = (
            BATCH_LONGEST if pad_strategy == BATCH_LONGEST else {"fixed": pad_strategy}
        )
    for key, value in (
        ("truncation_side", truncation_side),
        ("truncation_strategy", truncation_strategy),
        ("max_length", max_length),
        ("stride", stride),
    ):
        if value is not None:
            tokenizer[key] = value
    if tokenizer:
        cfg["tokenizer"] = tokenizer
    return {"encoderfile": cfg}


def _sh(process: Process) -> str:
    return shlex.join(process.argv)


@rule(desc="Build an encoderfile", level=LogLevel.DEBUG)
async def build_encoderfile(
    request: BuildEncoderfileRequest,
    encoderfile: EncoderfileSubsystem,
    bash: BashBinary,
    cli: EncoderfileCliTool,
) -> BuiltEncoderfile:
    wrapped = await Get(
        WrappedTarget, WrappedTargetRequest(request.address, description_of_origin="<infallible>")
    )
    tgt = wrapped.target
    model_files, base = await MultiGet(
        Get(ModelFiles, ModelFilesRequest(request.address)),
        Get(BaseBinary, BaseBinaryRequest(tgt[EncoderfileRuntimeField], request.triple)),
    )
    config = build_config(
        name=tgt[EncoderfileModelNameField].value_or_default(),
        version=tgt[EncoderfileVersionField].value or encoderfile.default_version,
        model_type=tgt[EncoderfileModelTypeField].value,
        paths=dict(model_files.paths),
        lua_libs=tgt[EncoderfileLuaLibsField].value,
        pad_strategy=tgt[EncoderfilePadStrategyField].value,
        truncation_side=tgt[EncoderfileTruncationSideField].value,
        truncation_strategy=tgt[EncoderfileTruncationStrategyField].value,
        max_length=tgt[EncoderfileMaxLengthField].value,
        stride=tgt[EncoderfileStrideField].value,
    )
    out_dir = os.path.dirname(request.output_path)
    config_digest = await Get(
        Digest,
        CreateDigest(
            [
                FileContent(
                    CONFIG_FILENAME,
                    (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
                ),
                *([Directory(out_dir)] if out_dir else []),
            ]
        ),
    )
    input_digest = await Get(Digest, MergeDigests((model_files.digest, base.digest, config_digest)))
    build_argv = (
        "build",
        "-f",
        CONFIG_FILENAME,
        "--base-binary-path",
        base.path,
        "--target",
        request.triple,
        "--no-download",
        "-o",
        request.output_path,
    )
    build, verify = await MultiGet(
        Get(
            Process,
            PexProcess(
                cli.pex,
                argv=build_argv,
                description="encoderfile build",
                input_digest=input_digest,
            ),
        ),
        Get(
            Process,
            PexProcess(
                cli.pex,
                argv=("verify", request.output_path),
                description="encoderfile verify",
                input_digest=input_digest,
            ),
        ),
    )
    # One process per platform: the model is materialised in one sandbox, once.
    script = f"set -eu\n{_sh(build)}\n"
    if encoderfile.verify:
        script += f"{_sh(verify)} >&2\n"
    result = await Get(
        ProcessResult,
        Process(
            (bash.path, "-c", script),
            description=f"Building {request.output_path} ({request.triple}) for {request.address}",
            level=LogLevel.DEBUG,
            input_digest=build.input_digest,
            env=build.env,
            append_only_caches=build.append_only_caches,
            immutable_input_digests=build.immutable_input_digests,
            output_files=(request.output_path,),
        ),
    )
    entries = await Get(DigestEntries, Digest, result.output_digest)
    entry = next(e for e in entries if isinstance(e, FileEntry) and e.path == request.output_path)
    return BuiltEncoderfile(
        digest=result.output_digest,
        path=request.output_path,
        triple=request.triple,
        size=entry.file_digest.serialized_bytes_length,
        sha256=entry.file_digest.fingerprint,
        base_origin=base.origin,
    )


def rules():
    return collect_rules()
