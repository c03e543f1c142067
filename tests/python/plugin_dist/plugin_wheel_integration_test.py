"""INTEGRATION TEST: shells out to `./pants` (minutes, cold) to prove the plugin wheel works in a
repository that holds none of this project's sources.

Runs only when ENCODERFILE_INTEGRATION=1 or when this file is invoked directly
(`python3.11 tests/python/plugin_dist/plugin_wheel_integration_test.py`). Steps:

1. copy the repository (`git ls-files -co --exclude-standard`) to a temporary directory and
   `./pants package` the plugin wheel and the host runtime PEX there;
2. write a scratch repository whose pants.toml installs the wheel through `[GLOBAL].plugins`, with
   the tiny embedding model and `[encoderfile-runtime-release]` pinned to that runtime PEX
   (file:// URL, its real sha256 and size);
3. `pants package` the model there (the `encoderfile` command is built from the sources and
   lockfile inside the wheel), verify every checksum, run `infer` with a fresh PEX_ROOT;
4. pin a wrong sha256 and check the build fails naming both digests.

ENCODERFILE_REPO_ROOT overrides the repository found from this file's location.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLUGIN_DIST = "//src:pants-backend-encoderfile"
RUNTIME_PEX = "//src/python/encoderfile/runtime:runtime-pex"
WHEEL_GLOB = "pants_backend_encoderfile-*.whl"
RUNTIME_VERSION = "0.1.0"
HOST_TRIPLE = "x86_64-unknown-linux-gnu"
HOST_PLATFORM = "linux_x86_64"
OUTPUT = "dist/models/tiny.encoderfile"
MODEL_FILES = ("model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json")
# Settings copied verbatim from the repository's pants.toml: what any repository on these
# machines needs to run Pants offline from GitHub (pex tool, pip config trap, cache hygiene).
COPIED_SECTIONS = ("pex-cli", "python-bootstrap", "pex", "subprocess-environment")
COPIED_GLOBAL_KEYS = ("ca_certs_path",)


def _repo_root() -> Path | None:
    env = os.environ.get("ENCODERFILE_REPO_ROOT")
    root = Path(env) if env else Path(__file__).resolve().parents[3]
    return root if (root / "pants.toml").is_file() and (root / "pants").is_file() else None


pytestmark = pytest.mark.skipif(
    os.environ.get("ENCODERFILE_INTEGRATION") != "1" or _repo_root() is None,
    reason="set ENCODERFILE_INTEGRATION=1 (runs ./pants for minutes)",
)


def _run(argv: list, cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    print(f"[{time.monotonic() - started:6.1f}s] {' '.join(argv[:4])} ... (in {cwd.name})")
    return result


def _copy_repo(src: Path, dst: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=src,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = src / rel
        if not source.is_file():  # deleted but still tracked
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _toml_sections(text: str) -> dict:
    """Raw lines per `[section]` of a TOML file (enough to copy sections verbatim)."""
    sections: dict = {}
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = stripped.strip("[]")
            sections[current] = []
        elif current or stripped:
            sections.setdefault(current, []).append(line)
    return sections


def _global_line(lines: list, key: str) -> str:
    return next(line for line in lines if line.split("=")[0].strip() == key)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_scratch(scratch: Path, repo: Path, wheel: Path, runtime_dir: Path, pin: str) -> None:
    sections = _toml_sections((repo / "pants.toml").read_text())
    copied = "\n".join(
        f"[{name}]\n" + "\n".join(sections[name]).strip() + "\n" for name in COPIED_SECTIONS
    )
    global_lines = "\n".join(_global_line(sections["GLOBAL"], k) for k in COPIED_GLOBAL_KEYS)
    (scratch / "pants.toml").write_text(
        f"""[GLOBAL]
pants_version = "2.17.1"
plugins = ["pants-backend-encoderfile @ file://{wheel}"]
backend_packages = ["pants.backend.python", "pants_backend_encoderfile"]
{global_lines}

[python]
interpreter_constraints = ["CPython==3.11.*"]

[encoderfile-runtime-release]
version = "{RUNTIME_VERSION}"
known_versions = ["{RUNTIME_VERSION}|{HOST_PLATFORM}|{pin}"]
url_template = "file://{runtime_dir}/encoderfile-runtime-{{platform}}.pex"

[anonymous-telemetry]
enabled = false

{copied}"""
    )
    models = scratch / "models"
    (models / "tiny").mkdir(parents=True)
    for name in MODEL_FILES:
        shutil.copy2(repo / "models/tiny/embedding" / name, models / "tiny" / name)
    (models / "BUILD").write_text(
        'files(name="tiny-files", sources=["tiny/model.onnx", "tiny/*.json"])\n\n'
        'encoderfile(name="tiny", model_type="embedding", model_files=[":tiny-files"])\n'
    )


def test_plugin_wheel_in_a_foreign_repository(tmp_path: Path) -> None:
    root = _repo_root()
    assert root is not None
    repo, scratch, runtime_dir = tmp_path / "repo", tmp_path / "scratch", tmp_path / "runtimes"
    for d in (scratch, runtime_dir):
        d.mkdir()
    _copy_repo(root, repo)
    pants = str(repo / "pants")

    built = _run([pants, "--no-pantsd", "package", PLUGIN_DIST, RUNTIME_PEX], cwd=repo)
    assert built.returncode == 0, built.stdout
    (wheel,) = (repo / "dist").glob(WHEEL_GLOB)
    runtime = runtime_dir / f"encoderfile-runtime-{HOST_TRIPLE}.pex"
    shutil.copy2(repo / "dist/encoderfile-runtime.pex", runtime)
    real_pin = f"{_sha256(runtime)}|{runtime.stat().st_size}"

    # The scratch repository has no sources of this project: only the wheel brings them.
    _write_scratch(scratch, repo, wheel, runtime_dir, real_pin)
    packaged = _run([pants, "--no-pantsd", "package", "//models:tiny"], cwd=scratch)
    assert packaged.returncode == 0, packaged.stdout
    out = scratch / OUTPUT
    assert os.access(out, os.X_OK)
    assert f"sha256:   {_sha256(out)}" in packaged.stdout
    assert f"[encoderfile-runtime-release] {RUNTIME_VERSION}" in packaged.stdout

    sys.path.insert(0, str(repo / "src/python"))
    from encoderfile.format import EncoderfileReader

    with EncoderfileReader.open(out) as reader:
        assert reader.verify_all() == []
        assert reader.model_type.snake == "embedding"
        assert reader.base_size == runtime.stat().st_size

    env = {**os.environ, "PEX_ROOT": str(tmp_path / "pex_root")}
    infer = subprocess.run(
        [str(out), "infer", "hello world"], env=env, stdout=subprocess.PIPE, timeout=300
    )
    assert infer.returncode == 0
    assert len(json.loads(infer.stdout)["results"]) == 1

    # A wrong pin: the download must be refused, naming the pinned and the actual digest.
    wrong_sha256 = "f" * 64
    wrong = _run(
        [
            pants,
            "--no-pantsd",
            "--encoderfile-runtime-release-known-versions="
            f'["{RUNTIME_VERSION}|{HOST_PLATFORM}|{wrong_sha256}|{runtime.stat().st_size}"]',
            "package",
            "//models:tiny",
        ],
        cwd=scratch,
    )
    assert wrong.returncode != 0, wrong.stdout
    assert wrong_sha256 in wrong.stdout
    assert _sha256(runtime) in wrong.stdout


if __name__ == "__main__":
    os.environ["ENCODERFILE_INTEGRATION"] = "1"
    sys.exit(pytest.main(["-q", "-s", "-p", "no:cacheprovider", __file__]))
