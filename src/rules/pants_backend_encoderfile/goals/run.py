"""`pants run //models/minilm:minilm -- infer "text"`: build the host's encoderfile and run it."""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.run import RunFieldSet, RunInSandboxBehavior, RunRequest
from pants.engine.platform import Platform
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_encoderfile.platforms import PLATFORM_TO_TRIPLE
from pants_backend_encoderfile.target_types import (
    EncoderfileModelTypeField,
    EncoderfileOutputPathField,
)
from pants_backend_encoderfile.util_rules.build import BuildEncoderfileRequest, BuiltEncoderfile

# The runtime unpacks itself (~150 MB) into PEX_ROOT on first start. A named cache keeps that
# across runs (its key is the runtime PEX's hash, shared by every encoderfile on that runtime)
# without touching the user's ~/.cache/pex.
PEX_ROOT_CACHE = "encoderfile_pex_root"
PEX_ROOT_DIR = ".cache/encoderfile_pex_root"


@dataclass(frozen=True)
class EncoderfileRunFieldSet(RunFieldSet):
    required_fields = (EncoderfileModelTypeField,)
    run_in_sandbox_behavior = RunInSandboxBehavior.RUN_REQUEST_HERMETIC

    model_type: EncoderfileModelTypeField
    output_path: EncoderfileOutputPathField


@rule(desc="Run an encoderfile", level=LogLevel.DEBUG)
async def run_encoderfile(field_set: EncoderfileRunFieldSet, platform: Platform) -> RunRequest:
    triple = PLATFORM_TO_TRIPLE[platform]
    built = await Get(
        BuiltEncoderfile,
        BuildEncoderfileRequest(
            field_set.address, triple, field_set.output_path.for_platforms((triple,))[triple]
        ),
    )
    return RunRequest(
        digest=built.digest,
        args=(f"{{chroot}}/{built.path}",),
        extra_env={"PEX_ROOT": f"{{chroot}}/{PEX_ROOT_DIR}"},
        append_only_caches={PEX_ROOT_CACHE: PEX_ROOT_DIR},
    )


def rules():
    return [*collect_rules(), *EncoderfileRunFieldSet.rules()]
