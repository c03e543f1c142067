"""`pants test` for `encoderfile_test`: build the host's encoderfile, run `infer` with a fresh
PEX_ROOT in a sandbox, and compare its output with the expected labels or JSON."""

from __future__ import annotations

import json
import pkgutil
from dataclasses import dataclass
from typing import Any

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex_environment import PythonExecutable
from pants.core.goals.test import TestExtraEnv, TestFieldSet, TestRequest, TestResult, TestSubsystem
from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.engine.addresses import Addresses, UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.platform import Platform
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    HydratedSources,
    HydrateSourcesRequest,
    InvalidFieldException,
    SourcesField,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.logging import LogLevel

from pants_backend_encoderfile.platforms import PLATFORM_TO_TRIPLE
from pants_backend_encoderfile.subsystems import EncoderfileTestSubsystem
from pants_backend_encoderfile.target_types import (
    EncoderfileModelTypeField,
    EncoderfileOutputPathField,
    EncoderfileTarget,
    EncoderfileTestEncoderfileField,
    EncoderfileTestExpectedField,
    EncoderfileTestExpectedLabelsField,
    EncoderfileTestInputsField,
    EncoderfileTestTimeoutField,
    EncoderfileTestToleranceField,
)
from pants_backend_encoderfile.util_rules.build import BuildEncoderfileRequest, BuiltEncoderfile

CHECK_SCRIPT = "__encoderfile_infer_check.py"
SPEC_FILE = "__encoderfile_test_spec.json"


@dataclass(frozen=True)
class EncoderfileTestFieldSet(TestFieldSet):
    required_fields = (EncoderfileTestEncoderfileField, EncoderfileTestInputsField)

    encoderfile: EncoderfileTestEncoderfileField
    inputs: EncoderfileTestInputsField
    expected_labels: EncoderfileTestExpectedLabelsField
    expected: EncoderfileTestExpectedField
    tolerance: EncoderfileTestToleranceField
    timeout: EncoderfileTestTimeoutField


class EncoderfileTestRequest(TestRequest):
    tool_subsystem = EncoderfileTestSubsystem
    field_set_type = EncoderfileTestFieldSet


@rule(desc="Test an encoderfile", level=LogLevel.DEBUG)
async def run_encoderfile_test(
    batch: EncoderfileTestRequest.Batch[EncoderfileTestFieldSet, Any],
    test_subsystem: TestSubsystem,
    test_extra_env: TestExtraEnv,
    python_setup: PythonSetup,
    platform: Platform,
) -> TestResult:
    field_set = batch.single_element
    addresses = await Get(
        Addresses, UnparsedAddressInputs, field_set.encoderfile.to_unparsed_address_inputs()
    )
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(addresses[0], description_of_origin=f"{field_set.address}"),
    )
    target = wrapped.target
    if not isinstance(target, EncoderfileTarget):
        raise InvalidFieldException(
            f"The {field_set.encoderfile.alias!r} field in target {field_set.address} points at "
            f"{target.address}, a `{target.alias}` target; it must be an `encoderfile` target."
        )
    triple = PLATFORM_TO_TRIPLE[platform]
    output_path = target[EncoderfileOutputPathField].for_platforms((triple,))[triple]

    expected_targets = await Get(
        Targets, UnparsedAddressInputs, field_set.expected.to_unparsed_address_inputs()
    )
    built, python, *expected_sources = await MultiGet(
        Get(BuiltEncoderfile, BuildEncoderfileRequest(target.address, triple, output_path)),
        # The runtime is a CPython 3.x PEX: run it with an interpreter Pants found through
        # `[python-bootstrap]`, never whatever is on PATH.
        Get(
            PythonExecutable,
            InterpreterConstraints,
            InterpreterConstraints(python_setup.interpreter_constraints),
        ),
        *(
            Get(
                HydratedSources,
                HydrateSourcesRequest(
                    t.get(SourcesField), for_sources_types=(FileSourceField, ResourceSourceField)
                ),
            )
            for t in expected_targets
        ),
    )
    expected_files = [f for h in expected_sources for f in h.snapshot.files]
    if field_set.expected.value and len(expected_files) != 1:
        raise InvalidFieldException(
            f"The {field_set.expected.alias!r} field in target {field_set.address} must point at "
            f"a `file`/`resource` target owning one JSON file, but {field_set.expected.spec} has "
            f"{len(expected_files)}."
        )
    spec = {
        "encoderfile": built.path,
        "inputs": list(field_set.inputs.value or ()),
        "model_type": target[EncoderfileModelTypeField].value,
        "expected_labels": (
            None
            if field_set.expected_labels.value is None
            else [list(v) if isinstance(v, tuple) else v for v in field_set.expected_labels.value]
        ),
        "expected": expected_files[0] if expected_files else None,
        "tolerance": field_set.tolerance.value,
    }
    script = pkgutil.get_data("pants_backend_encoderfile.util_rules", "infer_check.py")
    assert script is not None
    files_digest = await Get(
        Digest,
        CreateDigest(
            [
                FileContent(CHECK_SCRIPT, script),
                FileContent(SPEC_FILE, json.dumps(spec, sort_keys=True).encode()),
            ]
        ),
    )
    input_digest = await Get(
        Digest,
        MergeDigests((built.digest, files_digest, *(h.snapshot.digest for h in expected_sources))),
    )
    result = await Get(
        FallibleProcessResult,
        Process(
            (python.path, CHECK_SCRIPT, SPEC_FILE),
            description=f"Run {field_set.address} ({built.path} infer)",
            level=LogLevel.DEBUG,
            input_digest=input_digest,
            env=test_extra_env.env,
            append_only_caches=python.append_only_caches,
            timeout_seconds=field_set.timeout.value,
            cache_scope=(
                ProcessCacheScope.PER_SESSION
                if test_subsystem.force
                else ProcessCacheScope.SUCCESSFUL
            ),
        ),
    )
    return TestResult.from_fallible_process_result(
        result, address=field_set.address, output_setting=test_subsystem.output
    )


def rules():
    return [*collect_rules(), *EncoderfileTestRequest.rules()]
