"""Fixtures for CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoderfile.cli.cli_testing import make_env


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_env(tmp_path, monkeypatch)
