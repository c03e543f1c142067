"""The package rule with its build step mocked: one file per platform, names and log lines."""

from __future__ import annotations

from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, Digest, MergeDigests
from pants.engine.platform import Platform
from pants.engine.target import Target
from pants.testutil.option_util import create_subsystem
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks

from pants_backend_encoderfile.goals.package import EncoderfileFieldSet, package_encoderfile
from pants_backend_encoderfile.subsystems import EncoderfileSubsystem
from pants_backend_encoderfile.target_types import EncoderfileTarget
from pants_backend_encoderfile.util_rules.build import BuildEncoderfileRequest, BuiltEncoderfile


def package(fields: dict, default_platforms: list) -> tuple[BuiltPackage, list]:
    address = Address("models/tiny", target_name="emb")
    tgt: Target = EncoderfileTarget(
        {"model_type": "embedding", "model_files": [":f"], **fields}, address
    )
    requests: list = []

    def build(request: BuildEncoderfileRequest) -> BuiltEncoderfile:
        requests.append(request)
        return BuiltEncoderfile(
            EMPTY_DIGEST, request.output_path, request.triple, 1234, "ab" * 32, "built from :rt"
        )

    subsystem = create_subsystem(
        EncoderfileSubsystem,
        default_platforms=default_platforms,
        default_version="0.1.0",
        verify=True,
    )
    built = run_rule_with_mocks(
        package_encoderfile,
        rule_args=[EncoderfileFieldSet.create(tgt), subsystem, Platform.linux_x86_64],
        mock_gets=[
            MockGet(BuiltEncoderfile, (BuildEncoderfileRequest,), build),
            MockGet(Digest, (MergeDigests,), lambda _: EMPTY_DIGEST),
        ],
    )
    return built, requests


def test_host_default() -> None:
    built, requests = package({}, ["host"])
    assert [(r.triple, r.output_path) for r in requests] == [
        ("x86_64-unknown-linux-gnu", "models.tiny/emb.encoderfile")
    ]
    assert built.artifacts[0].relpath == "models.tiny/emb.encoderfile"
    assert built.artifacts[0].extra_log_lines == (
        "    platform: x86_64-unknown-linux-gnu",
        "    size:     1,234 bytes",
        f"    sha256:   {'ab' * 32}",
        "    runtime:  built from :rt",
    )


def test_several_platforms_and_host_dedup() -> None:
    built, requests = package(
        {"platforms": ["host", "x86_64-unknown-linux-gnu", "aarch64-apple-darwin"]}, ["host"]
    )
    assert [r.output_path for r in requests] == [
        "models.tiny/emb.x86_64-unknown-linux-gnu.encoderfile",
        "models.tiny/emb.aarch64-apple-darwin.encoderfile",
    ]
    assert [a.relpath for a in built.artifacts] == [r.output_path for r in requests]
