"""Test helpers for CLI modules: an in-process `encoderfile` runner and an isolated environment.

Only tests import this module. It does not depend on cli/main.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encoderfile.builder.testing import write_base_binary, write_model_dir
from encoderfile.cli import build as build_cli
from encoderfile.cli import runtime as runtime_cli


def run(argv: list[str]) -> int:
    """Parse and run like `encoderfile <argv>`; return the exit code."""
    parser = argparse.ArgumentParser(prog="encoderfile")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    build_cli.register(sub)
    runtime_cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def one_error(capsys: Any, code: int) -> str:
    """Assert exit code 1 and exactly one `encoderfile: error:` line, no traceback; return it."""
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("encoderfile: error:")]
    assert len(lines) == 1, err
    return lines[0]


def make_env(tmp_path: Path, monkeypatch: Any) -> Path:
    """Private cache, no proxies/URL template, base.sh, and a sequence classifier in model/."""
    monkeypatch.setenv("ENCODERFILE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ENCODERFILE_RUNTIME_URL_TEMPLATE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(v, raising=False)
    write_base_binary(tmp_path / "base.sh")
    write_model_dir(tmp_path / "model", "sequence_classification")
    return tmp_path
