"""`[encoderfile-runtime-release]`: a pinned request for every platform, placeholders refused, and a
download whose sha256 does not match the pin fails naming both digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pants.core.util_rules.external_tool import ExternalToolError
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.option_util import create_subsystem
from pants.testutil.rule_runner import RuleRunner

from pants_backend_encoderfile.platforms import TRIPLES
from pants_backend_encoderfile.subsystems import PLACEHOLDER_SHA256, EncoderfileRuntimeSubsystem
from pants_backend_encoderfile.target_types import EncoderfileRuntimeField
from pants_backend_encoderfile.testutil import encoderfile_rule_runner
from pants_backend_encoderfile.util_rules.base_binary import BaseBinary, BaseBinaryRequest

SHA = {t: hashlib.sha256(t.encode()).hexdigest() for t in TRIPLES}
PINS = [
    f"1.2.3|{p}|{SHA[t]}|{100 + i}"
    for i, (p, t) in enumerate(
        zip(("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64"), TRIPLES)
    )
]


def runtime_subsystem(**options: object) -> EncoderfileRuntimeSubsystem:
    values = dict(
        version="1.2.3",
        known_versions=PINS,
        url_template="https://releases.example/v{version}/encoderfile-runtime-{platform}.pex",
        url_platform_mapping=EncoderfileRuntimeSubsystem.default_url_platform_mapping,
        use_unsupported_version="error",
    )
    values.update(options)
    return create_subsystem(EncoderfileRuntimeSubsystem, **values)


@pytest.mark.parametrize("index, triple", list(enumerate(TRIPLES)))
def test_request_for_every_platform(index: int, triple: str) -> None:
    request = runtime_subsystem().get_request_for_triple(triple)
    download = request.download_file_request
    assert download.url == f"https://releases.example/v1.2.3/encoderfile-runtime-{triple}.pex"
    assert download.expected_digest.fingerprint == SHA[triple]
    assert download.expected_digest.serialized_bytes_length == 100 + index
    assert request.exe == f"./encoderfile-runtime-{triple}.pex"


def test_placeholder_pins_are_refused() -> None:
    subsystem = runtime_subsystem(
        version="0.1.0", known_versions=EncoderfileRuntimeSubsystem.default_known_versions
    )
    assert all(PLACEHOLDER_SHA256 in v for v in subsystem.known_versions)
    with pytest.raises(
        ExternalToolError, match="No sha256 is pinned for \\[encoderfile-runtime-release\\]"
    ):
        subsystem.get_request_for_triple("aarch64-apple-darwin")


def test_unknown_version_names_the_platform() -> None:
    with pytest.raises(Exception, match="No known version of encoderfile-runtime 9.9.9"):
        runtime_subsystem(version="9.9.9").get_request_for_triple("x86_64-apple-darwin")


@pytest.fixture
def rule_runner() -> RuleRunner:
    return encoderfile_rule_runner(
        [QueryRule(BaseBinary, [BaseBinaryRequest]), QueryRule(DigestContents, [Digest])]
    )


def _download(rule_runner: RuleRunner, tmp_path: Path, pinned_sha: str, size: int) -> BaseBinary:
    triple = "x86_64-unknown-linux-gnu"
    (tmp_path / f"encoderfile-runtime-{triple}.pex").write_bytes(b"#!/bin/sh\necho runtime\n")
    rule_runner.set_options(
        [
            "--encoderfile-runtime-release-version=1.2.3",
            f"--encoderfile-runtime-release-known-versions=['1.2.3|linux_x86_64|{pinned_sha}|{size}']",
            f"--encoderfile-runtime-release-url-template=file://{tmp_path}/encoderfile-runtime-{{platform}}.pex",
        ]
    )
    field = EncoderfileRuntimeField(None, Address("models", target_name="m"))
    return rule_runner.request(BaseBinary, [BaseBinaryRequest(field, triple)])


def test_download_with_the_right_pin(rule_runner: RuleRunner, tmp_path: Path) -> None:
    content = b"#!/bin/sh\necho runtime\n"
    base = _download(rule_runner, tmp_path, hashlib.sha256(content).hexdigest(), len(content))
    assert base.path == "encoderfile-runtime-x86_64-unknown-linux-gnu.pex"
    assert base.origin == "[encoderfile-runtime-release] 1.2.3"
    contents = rule_runner.request(DigestContents, [base.digest])
    assert [(c.path, c.content, c.is_executable) for c in contents] == [(base.path, content, True)]


def test_download_with_a_wrong_pin_names_both_digests(
    rule_runner: RuleRunner, tmp_path: Path
) -> None:
    content = b"#!/bin/sh\necho runtime\n"
    wrong = "ab" * 32
    with pytest.raises(ExecutionError) as e:
        _download(rule_runner, tmp_path, wrong, len(content))
    message = str(e.value)
    assert wrong in message
    assert hashlib.sha256(content).hexdigest() in message
