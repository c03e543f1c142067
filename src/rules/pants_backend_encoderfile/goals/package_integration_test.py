"""INTEGRATION TEST: runs `./pants` (minutes, cold) in a temporary copy of the repository.

Skipped unless ENCODERFILE_PANTS_INTEGRATION=1 and ENCODERFILE_REPO_ROOT (or this file's
location, under plain pytest) points at the repository. It packages the tiny embedding model on
the runtime built from source, checks the output is executable, that its size and sha256 are
logged, that a second build gives identical bytes, and runs `infer` with a fresh PEX_ROOT.

    ENCODERFILE_PANTS_INTEGRATION=1 PYTHONPATH=src/rules:src/python \\
      ~/.cache/encoderfile-pants/pants-2.17.1/bin/python -m pytest -q \\
      src/rules/pants_backend_encoderfile/goals/package_integration_test.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

TARGET = "models/tiny:embedding"
OUTPUT = "dist/models.tiny/embedding.encoderfile"
SKIP = ("/.git", "/.pants.d", "/dist", "/.pids", "/.pytest_cache", "/.ruff_cache")


def _repo_root() -> Path | None:
    env = os.environ.get("ENCODERFILE_REPO_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parents[4]
    return root if (root / "pants.toml").is_file() and (root / "pants").is_file() else None


pytestmark = pytest.mark.skipif(
    os.environ.get("ENCODERFILE_PANTS_INTEGRATION") != "1" or _repo_root() is None,
    reason="set ENCODERFILE_PANTS_INTEGRATION=1 (runs ./pants for minutes)",
)


def _copy_repo(src: Path, dst: Path) -> None:
    def ignore(directory: str, names: list) -> list:
        rel = "/" + os.path.relpath(directory, src).replace(os.sep, "/").lstrip("./")
        return [n for n in names if f"{rel.rstrip('/')}/{n}" in SKIP or n == "__pycache__"]

    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def _pants(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["./pants", "--no-pantsd", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
    )


def test_package_is_reproducible_and_runs(tmp_path: Path) -> None:
    root = _repo_root()
    assert root is not None
    repo = tmp_path / "repo"
    _copy_repo(root, repo)

    first = _pants(repo, "package", TARGET)
    assert first.returncode == 0, first.stdout
    out = repo / OUTPUT
    assert os.access(out, os.X_OK)
    data_sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256:   {data_sha}" in first.stdout
    assert f"size:     {out.stat().st_size:,} bytes" in first.stdout

    out.unlink()
    second = _pants(repo, "package", TARGET)
    assert second.returncode == 0, second.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() == data_sha

    env = {**os.environ, "PEX_ROOT": str(tmp_path / "pex_root")}
    infer = subprocess.run(
        [str(out), "infer", "hello world"],
        env=env,
        stdout=subprocess.PIPE,
        timeout=300,
    )
    assert infer.returncode == 0
    assert len(json.loads(infer.stdout)["results"]) == 1
