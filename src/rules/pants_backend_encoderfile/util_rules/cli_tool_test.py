"""The shipped `encoderfile` command: which sources go in, and the lockfile's pins."""

from __future__ import annotations

import json
import pkgutil
from pathlib import Path

import pytest

from pants_backend_encoderfile.util_rules.cli_tool import (
    CLI_REQUIREMENTS,
    LOCKFILE_NAME,
    LOCKFILE_PACKAGE,
    cli_sources,
    is_cli_source,
)

# The project's resolve; found from this file under plain pytest (absent from Pants sandboxes).
PROJECT_LOCK = Path(__file__).resolve().parents[4] / "third_party/python/python-default.lock"


def _load_pex_lock(data: bytes) -> dict:
    lines = [line for line in data.decode().splitlines() if not line.lstrip().startswith("//")]
    return json.loads("\n".join(lines))


def _pins(lock: dict) -> dict:
    (resolve,) = lock["locked_resolves"]
    return {r["project_name"]: r["version"] for r in resolve["locked_requirements"]}


def _shipped_lock() -> dict:
    data = pkgutil.get_data(LOCKFILE_PACKAGE, LOCKFILE_NAME)
    assert data is not None
    return _load_pex_lock(data)


@pytest.mark.parametrize(
    "relpath, expected",
    [
        ("__init__.py", True),
        ("cli/main.py", True),
        ("proto/manifest_pb2.py", True),
        ("format/reader_test.py", False),
        ("builder/conftest.py", False),
        ("builder/testing.py", False),
        ("cli/cli_testing.py", False),
        ("proto/embedding_pb2_grpc.py", False),
        ("proto/manifest_pb2.pyi", False),
        ("runtime/main.py", False),
        ("format/sub/deep.py", False),
        ("setup.py", False),
    ],
)
def test_is_cli_source(relpath: str, expected: bool) -> None:
    assert is_cli_source(relpath) is expected


def test_cli_sources_walks_the_package(tmp_path: Path) -> None:
    for relpath in ("__init__.py", "cli/main.py", "cli/main_test.py", "runtime/main.py"):
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text(f"# {relpath}\n")
    (tmp_path / "cli/__pycache__").mkdir()
    (tmp_path / "cli/__pycache__/main.py").write_text("")
    files = cli_sources(str(tmp_path))
    assert [(f.path, f.content) for f in files] == [
        ("encoderfile/__init__.py", b"# __init__.py\n"),
        ("encoderfile/cli/main.py", b"# cli/main.py\n"),
    ]


def test_lockfile_is_for_the_command_on_cpython_311() -> None:
    lock = _shipped_lock()
    assert sorted(lock["requirements"]) == sorted(CLI_REQUIREMENTS)
    assert lock["requires_python"] == ["==3.11.*"]
    assert lock["style"] == "universal"
    assert sorted(lock["target_systems"]) == ["linux", "mac"]


@pytest.mark.skipif(not PROJECT_LOCK.is_file(), reason="needs the repository's third_party/")
def test_lockfile_pins_equal_the_project_resolve() -> None:
    shipped = _pins(_shipped_lock())
    project = _pins(_load_pex_lock(PROJECT_LOCK.read_bytes()))
    assert {name: project.get(name) for name in shipped} == shipped
