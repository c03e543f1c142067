"""`encoderfile runtime add|list|remove` through argparse."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from encoderfile.cli.cli_testing import one_error, run

T = "x86_64-unknown-linux-gnu"


def test_add_list_remove(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = env / "base.sh"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    cache = env / "rc"
    assert run(["runtime", "--cache-dir", str(cache), "list"]) == 0
    assert "no runtimes cached" in capsys.readouterr().out
    assert (
        run(
            [
                "runtime",
                "add",
                T,
                "--from",
                str(src),
                "--runtime-version",
                "1.0.0",
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    assert f"added 1.0.0/{T}" in capsys.readouterr().out
    assert (
        run(
            [
                "runtime",
                "--cache-dir",
                str(cache),
                "add",
                "aarch64-apple-darwin",
                "--from",
                src.as_uri(),
                "--sha256",
                digest,
                "--runtime-version",
                "1.0.0",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert run(["runtime", "list", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TARGET", "VERSION", "SIZE", "SHA256"]
    assert out[1].split() == [T, "1.0.0", str(src.stat().st_size), digest]
    assert out[2].split()[0] == "aarch64-apple-darwin"
    assert (
        run(["runtime", "remove", T, "--runtime-version", "1.0.0", "--cache-dir", str(cache)]) == 0
    )
    line = one_error(
        capsys,
        run(["runtime", "remove", T, "--runtime-version", "1.0.0", "--cache-dir", str(cache)]),
    )
    assert "no runtime 1.0.0 for x86_64-unknown-linux-gnu" in line


def test_add_errors(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error(capsys, run(["runtime", "add", "mips-unknown-linux-gnu"]))
    assert "unknown target 'mips-unknown-linux-gnu'; valid targets:" in line
    line = one_error(
        capsys, run(["runtime", "add", T, "--from", str(env / "base.sh"), "--sha256", "00" * 32])
    )
    assert "SHA-256 mismatch" in line and "expected " + "00" * 32 in line
    line = one_error(
        capsys,
        run(
            ["runtime", "add", T, "--runtime-url-template", "http://127.0.0.1:9/{version}/{target}"]
        ),
    )
    assert "no SHA-256 is pinned" in line
    line = one_error(capsys, run(["runtime", "add", T, "--sha256", "zz"]))
    assert "a SHA-256 must be 64 hex digits" in line
    assert not any(p.is_file() for p in (env / "cache").rglob("*"))
