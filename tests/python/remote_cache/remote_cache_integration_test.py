"""Remote cache integration test: shells out to ./pants and a local BuildGrid server.

Starts BuildGrid (scripts/remote-cache/buildgrid.sh) on a free loopback port and copies the
working tree (tracked + untracked files, so uncommitted work counts) into two clones:

  A  empty local store: runs `./pants package <targets>` with pants.remote-cache.toml, executing
     every process and uploading it to the remote cache.
  B  empty local store AND empty named caches (a fresh CI machine): must get every cacheable
     process from the remote cache, and produce byte-identical files.
  C  the server is stopped, empty local store: the build still succeeds, with a warning, and
     (executing everything again) gives the same bytes as A.

This test needs CPython 3.13 (for BuildGrid) and the package registry (pip, for BuildGrid's first
install and for the PEXes that Pants builds with fresh named caches). It cannot run inside the
Pants sandbox (it runs ./pants itself), so it only runs when ENCODERFILE_INTEGRATION=1 or when
this file is named on the pytest command line, from a git checkout:

    ENCODERFILE_INTEGRATION=1 /tmp/dev311/bin/python -m pytest -q -s \\
        tests/python/remote_cache/remote_cache_integration_test.py

Environment:
  ENCODERFILE_REPO_ROOT              the repository to copy (default: found from this file)
  ENCODERFILE_REMOTE_CACHE_TARGETS   space-separated targets (default: //models/tiny:embedding)
  ENCODERFILE_REMOTE_CACHE_WARM_NAMED_CACHES
                                     named caches for clones A and C (default: a fresh dir in tmp;
                                     pointing it at a warm one, e.g. ~/.cache/pants/named_caches,
                                     saves the downloads; it never changes cache keys)
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pytest

# An encoderfile: its build and verify processes, the CLI PEX and the runtime PEX.
DEFAULT_TARGETS = ("//models/tiny:embedding",)
# A cold Pants with fresh caches on a busy 2-core machine: engine start, plugin resolve, PEXes.
PANTS_TIMEOUT = 1800.0
SCRIPT_TIMEOUT = 600.0
REGISTRY_PROBE_TIMEOUT = 5.0

_COUNTER_LINE = re.compile(r"^\s+([a-z_]+): (\d+)\s*$")


def _this_file_named_on_command_line() -> bool:
    me = Path(__file__).resolve()
    for arg in sys.argv[1:]:
        path = Path(arg.split("::", 1)[0])
        try:
            if path.exists() and path.resolve() == me:
                return True
        except OSError:
            continue
    return False


pytestmark = pytest.mark.skipif(
    os.environ.get("ENCODERFILE_INTEGRATION") != "1" and not _this_file_named_on_command_line(),
    reason="runs ./pants and BuildGrid: set ENCODERFILE_INTEGRATION=1 or run this file directly",
)


def find_repo_root() -> Path | None:
    """$ENCODERFILE_REPO_ROOT, else the git checkout above this file (none in a Pants sandbox)."""
    explicit = os.environ.get("ENCODERFILE_REPO_ROOT")
    candidates = [Path(explicit)] if explicit else list(Path(__file__).resolve().parents)
    for candidate in candidates:
        if (candidate / "pants.toml").is_file() and (candidate / ".git").exists():
            return candidate.resolve()
    return None


def find_python313() -> str | None:
    """The interpreter buildgrid.sh would pick (it needs CPython >= 3.13)."""
    candidates: list[str] = []
    explicit = os.environ.get("ENCODERFILE_BUILDGRID_PYTHON")
    if explicit:
        candidates.append(explicit)
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        candidates.extend(sorted(str(p) for p in Path(root).glob("versions/3.13.*/bin/python3.13")))
    on_path = shutil.which("python3.13")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info[:2] >= (3, 13)"],
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def registry_reachable(repo: Path, python: str) -> tuple[bool, str]:
    """Asks the index that Pants' pip uses (pip's default: no config file) about protobuf.

    `python` must have pip: under `pants test` sys.executable is a PEX venv without it.
    """
    argv = [python, "-m", "pip", "index", "versions", "protobuf"]
    argv += ["--retries", "0", "--timeout", "10", "--disable-pip-version-check"]
    # The same CA bundle as Pants' pip ([GLOBAL].ca_certs_path).
    match = re.search(r'^ca_certs_path\s*=\s*"([^"]+)"', (repo / "pants.toml").read_text(), re.M)
    if match and Path(match.group(1)).is_file():
        argv += ["--cert", match.group(1)]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    try:
        probe = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    lines = probe.stderr.strip().splitlines()
    return probe.returncode == 0, lines[-1] if lines else f"pip exited {probe.returncode}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_worktree(repo: Path, dest: Path) -> int:
    """Copies tracked + untracked (not ignored) files: uncommitted work is part of the build."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    count = 0
    for raw in listing.split(b"\0"):
        if not raw:
            continue
        rel = os.fsdecode(raw)
        src = repo / rel
        if not os.path.lexists(src):  # tracked but deleted in the working tree
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
        count += 1
    return count


def parse_counters(stderr: str) -> dict[str, int]:
    """The `--stats-log` block: "Counters:" followed by indented "name: value" lines."""
    counters: dict[str, int] = {}
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("Counters:"):
            for follower in lines[i + 1 :]:
                match = _COUNTER_LINE.match(follower)
                if not match:
                    break
                counters[match.group(1)] = int(match.group(2))
    return counters


def dist_digests(dist: Path) -> dict[str, str]:
    digests: dict[str, str] = {}
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digests[str(path.relative_to(dist))] = h.hexdigest()
    return digests


@dataclass(frozen=True)
class PantsRun:
    name: str
    returncode: int
    seconds: float
    stderr: str
    counters: Mapping[str, int]
    digests: Mapping[str, str]

    def summary(self) -> str:
        keys = (
            "local_execution_requests",
            "remote_cache_requests",
            "remote_cache_requests_cached",
            "remote_cache_requests_uncached",
            "remote_cache_write_successes",
            "remote_cache_read_errors",
        )
        shown = ", ".join(f"{k}={self.counters.get(k, 0)}" for k in keys)
        return f"[{self.name}] rc={self.returncode} {self.seconds:.1f}s {shown}"

    def failure(self) -> str:
        # The log before the (long) counters block is what explains a failure.
        lines = self.stderr.splitlines()
        cut = next((i for i, line in enumerate(lines) if line.rstrip().endswith("Counters:")), None)
        tail = "\n".join(lines[:cut][-25:])
        return f"{self.summary()}\n--- last lines of stderr ---\n{tail}"


@dataclass(frozen=True)
class Server:
    script: Path
    port: int
    env: Mapping[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.script), *args],
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
        )


def base_env() -> dict[str, str]:
    # The caller's Pants options must not leak in (e.g. a PANTS_REMOTE_* of their own).
    return {k: v for k, v in os.environ.items() if not k.startswith("PANTS_")}


def run_pants(
    name: str,
    clone: Path,
    targets: Sequence[str],
    *,
    port: int,
    local_store: Path,
    named_caches: Path,
) -> PantsRun:
    env = base_env()
    env["PANTS_LOCAL_STORE_DIR"] = str(local_store)
    env["PANTS_NAMED_CACHES_DIR"] = str(named_caches)
    argv = [
        "./pants",
        "--no-pantsd",
        "--pants-config-files=pants.remote-cache.toml",
        f"--remote-store-address=grpc://127.0.0.1:{port}",
        "--stats-log",
        "package",
        *targets,
    ]
    start = time.monotonic()
    proc = subprocess.run(
        argv, cwd=clone, env=env, capture_output=True, text=True, timeout=PANTS_TIMEOUT
    )
    seconds = time.monotonic() - start
    dist = clone / "dist"
    run = PantsRun(
        name=name,
        returncode=proc.returncode,
        seconds=seconds,
        stderr=proc.stderr,
        counters=parse_counters(proc.stderr),
        digests=dist_digests(dist) if dist.is_dir() else {},
    )
    # Shown with `pytest -s`: the timings and hit counts are what this test is for.
    print(run.summary(), file=sys.stderr)
    return run


@dataclass(frozen=True)
class Builds:
    a: PantsRun
    b: PantsRun
    c: PantsRun


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    repo = find_repo_root()
    if repo is None:
        pytest.skip(
            "no git checkout above this file (inside the Pants sandbox?): run it directly with "
            "pytest or set ENCODERFILE_REPO_ROOT"
        )
    python313 = find_python313()
    if python313 is None:
        pytest.skip("BuildGrid needs CPython >= 3.13 and none was found (pyenv, PATH)")
    ok, detail = registry_reachable(repo, python313)
    if not ok:
        pytest.skip(f"the package registry is unreachable ({detail}); pip cannot fetch wheels")

    targets = tuple(os.environ.get("ENCODERFILE_REMOTE_CACHE_TARGETS", "").split()) or (
        DEFAULT_TARGETS
    )
    tmp = tmp_path_factory.mktemp("remote-cache")
    server_env = base_env()
    server_env["ENCODERFILE_BUILDGRID_RUN_DIR"] = str(tmp / "buildgrid")
    server = Server(repo / "scripts" / "remote-cache" / "buildgrid.sh", free_port(), server_env)
    started = server.run("start", "--port", str(server.port))
    if started.returncode != 0:
        pytest.fail(f"buildgrid.sh start failed: {started.stderr.strip()}")
    try:
        clone_a, clone_b = tmp / "clone-a", tmp / "clone-b"
        copy_worktree(repo, clone_a)
        copy_worktree(repo, clone_b)
        warm = os.environ.get("ENCODERFILE_REMOTE_CACHE_WARM_NAMED_CACHES")
        named_a = Path(warm).expanduser() if warm else tmp / "named-caches-a"

        a = run_pants(
            "A",
            clone_a,
            targets,
            port=server.port,
            local_store=tmp / "store-a",
            named_caches=named_a,
        )
        assert a.returncode == 0, a.failure()
        b = run_pants(
            "B",
            clone_b,
            targets,
            port=server.port,
            local_store=tmp / "store-b",
            named_caches=tmp / "named-caches-b",
        )
    finally:
        stopped = server.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert server.run("status").returncode != 0, "buildgrid.sh status: still running after stop"

    # A fresh local store must execute everything; reusing A's named caches only skips downloads.
    shutil.rmtree(clone_b / "dist", ignore_errors=True)
    c = run_pants(
        "C",
        clone_b,
        targets,
        port=server.port,
        local_store=tmp / "store-c",
        named_caches=named_a,
    )
    yield Builds(a, b, c)


def test_clone_a_uploads_every_process(builds: Builds) -> None:
    a = builds.a
    assert a.counters, f"no --stats-log counters in the output\n{a.failure()}"
    assert a.counters["remote_cache_requests"] > 0, a.failure()
    assert a.counters["remote_cache_write_errors"] == 0, a.failure()
    # Every cacheable process missed (empty store) and was uploaded. local_execution_requests can
    # be larger: processes that are never remote-cached (interpreter discovery etc.) count there.
    assert a.counters["remote_cache_requests_uncached"] == a.counters["remote_cache_requests"]
    assert (
        a.counters["remote_cache_write_successes"] == a.counters["remote_cache_requests"]
    ), a.failure()
    assert a.digests, "clone A wrote nothing to dist/"


def test_clone_b_gets_every_process_from_the_remote_cache(builds: Builds) -> None:
    a, b = builds.a, builds.b
    assert b.returncode == 0, b.failure()
    requests = b.counters.get("remote_cache_requests", 0)
    hits = b.counters.get("remote_cache_requests_cached", 0)
    assert requests > 0, b.failure()
    assert hits == requests, f"{hits} of {requests} remote cache hits\n{b.failure()}"
    assert b.counters["remote_cache_requests_uncached"] == 0, b.failure()
    assert b.counters["remote_cache_read_errors"] == 0, b.failure()
    assert b.counters["local_cache_requests_cached"] == 0, "clone B's local store was not empty"
    # Pants 2.17 starts the local process alongside the lookup; the remote hit must win each race.
    assert b.counters["remote_cache_speculation_local_completed_first"] == 0, b.failure()
    # Every process that A executed is one that B looked up.
    assert requests == a.counters["remote_cache_write_successes"], b.failure()


def test_clone_b_outputs_are_byte_identical(builds: Builds) -> None:
    assert builds.b.digests == builds.a.digests


def test_server_down_still_builds_with_a_warning(builds: Builds) -> None:
    c = builds.c
    assert c.returncode == 0, c.failure()
    assert c.digests, "the build without a server wrote nothing to dist/"
    assert c.counters["remote_cache_requests_cached"] == 0, c.failure()
    # e.g. "[WARN] Failed to read from remote cache (1 occurrences so far): Unavailable: ..."
    warnings = [line for line in c.stderr.splitlines() if "[WARN]" in line]
    assert any("remote cache" in line for line in warnings), c.failure()


def test_local_rebuild_is_byte_identical(builds: Builds) -> None:
    """C executed every process again from scratch: a cache is only sound if builds reproduce."""
    a, c = builds.a, builds.c
    assert c.returncode == 0, c.failure()
    differing = {
        name: (a.digests.get(name), c.digests.get(name))
        for name in sorted(set(a.digests) | set(c.digests))
        if a.digests.get(name) != c.digests.get(name)
    }
    assert not differing, f"not reproducible (sha256 A, C): {differing}"
