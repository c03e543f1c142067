"""Fixtures for builder and CLI tests: tiny model directories and a base binary."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from encoderfile.builder.testing import write_base_binary, write_model_dir


@pytest.fixture
def model_dir(tmp_path: Path) -> Callable[..., Path]:
    """model_dir(model_type="embedding", name=None, **kw) -> a fresh model directory."""

    def make(model_type: str = "embedding", name: str | None = None, **kw: object) -> Path:
        return write_model_dir(tmp_path / (name or f"model-{model_type}"), model_type, **kw)

    return make


@pytest.fixture
def base_binary(tmp_path: Path) -> Path:
    return write_base_binary(tmp_path / "base.sh")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No test may see the user's cache, URL template or proxies (loopback downloads only).
    monkeypatch.setenv("ENCODERFILE_CACHE_DIR", str(tmp_path / "default-cache"))
    monkeypatch.delenv("ENCODERFILE_RUNTIME_URL_TEMPLATE", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
