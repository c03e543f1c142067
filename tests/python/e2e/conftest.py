"""End-to-end fixtures: build real encoderfiles on the real runtime PEX and run them.

The two PEXes come from $ENCODERFILE_RUNTIME_PEX / $ENCODERFILE_CLI_PEX, else
`encoderfile-runtime.pex` / `encoderfile.pex` in the current directory (where Pants'
`runtime_package_dependencies` put them in the test sandbox), else `dist/` above this file.
Without the runtime PEX every test here is skipped; without the CLI PEX the encoderfiles are
built with the builder's Python API and the CLI-only checks are skipped.

Every process that runs a built encoderfile gets a fresh, empty PEX_ROOT: a warm pex cache
would hide a broken zip (base-binary.md, "Plain appending breaks a PEX"). That costs ~5 s of CPU
per process (pex extracts ~200 MB), so independent processes run concurrently, one per core.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import pytest

RUNTIME_PEX_ENV = "ENCODERFILE_RUNTIME_PEX"
CLI_PEX_ENV = "ENCODERFILE_CLI_PEX"
RUNTIME_PEX_NAME = "encoderfile-runtime.pex"
CLI_PEX_NAME = "encoderfile.pex"
MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")
# Generous: a fresh PEX_ROOT takes 5 s of CPU, far more on a shared, busy machine.
START_TIMEOUT = 120.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
WORKERS = max(2, os.cpu_count() or 1)


def _ancestors() -> list[Path]:
    return list(Path(__file__).resolve().parents)


def find_pex(env_var: str, name: str) -> Path | None:
    """$env_var, else ./name, else dist/name in a directory above this file."""
    explicit = os.environ.get(env_var)
    if explicit:
        path = Path(explicit)
        return path.resolve() if path.is_file() else None
    local = Path.cwd() / name
    if local.is_file():
        return local.resolve()
    for parent in _ancestors():
        candidate = parent / "dist" / name
        if candidate.is_file():
            return candidate
    return None


def find_models_dir(*parts: str) -> Path | None:
    """models/<parts> in the current directory or a directory above this file."""
    for base in [Path.cwd(), *_ancestors()]:
        candidate = base.joinpath("models", *parts)
        if candidate.is_dir():
            return candidate
    return None


def python311() -> str | None:
    """A CPython 3.11 to run the PEXes with (their wheels are cp311)."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    return shutil.which("python3.11")


@dataclass
class Tools:
    runtime_pex: Path
    cli_pex: Path | None
    python: str
    tmp: Path
    _count: list[int] = field(default_factory=lambda: [0])

    def fresh_dir(self, prefix: str) -> Path:
        self._count[0] += 1
        path = self.tmp / f"{prefix}-{self._count[0]}"
        path.mkdir(parents=True)
        return path

    def env(self, pex_root: Path | None = None) -> dict[str, str]:
        """A clean environment: a fresh PEX_ROOT unless given; PATH finds python3.11 and sh."""
        if pex_root is None:
            pex_root = self.fresh_dir("pex-root")
        path = [os.path.dirname(self.python), os.path.dirname(os.path.realpath(self.python))]
        path += ["/usr/local/bin", "/usr/bin", "/bin"]
        return {
            "PATH": os.pathsep.join(dict.fromkeys(path)),
            "PEX_ROOT": str(pex_root),
            "HOME": str(self.tmp),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def cli_env(self) -> dict[str, str]:
        """The `encoderfile` CLI is not an encoderfile: one shared pex cache is enough."""
        env = self.env(self.tmp / "cli-pex-root")
        env["ENCODERFILE_CACHE_DIR"] = str(self.tmp / "cache")
        return env


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    runtime = find_pex(RUNTIME_PEX_ENV, RUNTIME_PEX_NAME)
    if runtime is None:
        pytest.skip(
            f"runtime PEX not found: set ${RUNTIME_PEX_ENV}, run through Pants, or "
            "`./pants package //src/python/encoderfile/runtime:runtime-pex` first"
        )
    python = python311()
    if python is None:
        pytest.skip("no CPython 3.11 to run the cp311 PEXes with")
    return Tools(
        runtime_pex=runtime,
        cli_pex=find_pex(CLI_PEX_ENV, CLI_PEX_NAME),
        python=python,
        tmp=tmp_path_factory.mktemp("e2e"),
    )


@pytest.fixture(scope="session")
def cli_pex(tools: Tools) -> Path:
    if tools.cli_pex is None:
        pytest.skip(
            f"CLI PEX not found: set ${CLI_PEX_ENV}, run through Pants, or "
            "`./pants package //src/python/encoderfile:cli` first"
        )
    return tools.cli_pex


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and anything it started (it runs in its own session)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass


def run(
    argv: Sequence[str], *, env: Mapping[str, str], timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess:
    """Run to completion with a bound; a hang is killed and reported with its output."""
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(
            f"{list(argv)[:3]} timed out after {timeout} s\n{out}\n{err}"
        ) from None
    except BaseException:
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def run_all(
    jobs: Mapping[str, tuple[Sequence[str], Mapping[str, str]]],
) -> dict[str, subprocess.CompletedProcess]:
    """Run independent commands concurrently (WORKERS at a time)."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {key: pool.submit(run, argv, env=env) for key, (argv, env) in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


def _write_config(model_dir: Path, model_type: str, name: str, output: Path) -> Path:
    config = output.with_suffix(".yml")
    body = {
        "encoderfile": {
            "name": name,
            "version": "1.0.0",
            "model_type": model_type,
            "path": str(model_dir),
            "output_path": str(output),
        }
    }
    config.write_text(json.dumps(body, indent=2))  # JSON is YAML
    return config


def build_encoderfiles(
    tools: Tools, specs: Mapping[str, tuple[Path, str, str]], out_dir: Path
) -> dict[str, Path]:
    """Build {key: (model_dir, model_type, name)} with the CLI PEX (`build -f cfg.yml`), or with
    the builder's Python API when there is no CLI PEX."""
    outputs = {key: out_dir / f"{key}.encoderfile" for key in specs}
    configs = {
        key: _write_config(model_dir, model_type, name, outputs[key])
        for key, (model_dir, model_type, name) in specs.items()
    }
    if tools.cli_pex is not None:
        jobs = {}
        for key, config in configs.items():
            argv = [tools.python, str(tools.cli_pex), "build", "-f", str(config)]
            argv += ["--base-binary-path", str(tools.runtime_pex), "-o", str(outputs[key])]
            jobs[key] = (argv, tools.cli_env())
        # The first build extracts the CLI PEX; later ones reuse its cache.
        first = next(iter(jobs))
        results = {first: run(jobs[first][0], env=jobs[first][1])}
        results.update(run_all({k: v for k, v in jobs.items() if k != first}))
        for key, result in results.items():
            assert result.returncode == 0, f"build {key} failed:\n{result.stdout}\n{result.stderr}"
    else:
        from encoderfile.builder.build import BuildOptions, apply_cli_overrides, build_encoderfile
        from encoderfile.builder.config import load_config

        for config in configs.values():
            cfg = apply_cli_overrides(load_config(config), base_binary_path=tools.runtime_pex)
            build_encoderfile(cfg, BuildOptions(no_download=True, cache_dir=tools.tmp / "cache"))
    for path in outputs.values():
        assert path.is_file() and os.access(path, os.X_OK), path
    return outputs


@pytest.fixture(scope="session")
def encoderfiles(tools: Tools) -> dict[str, Path]:
    """One encoderfile per tiny model type, built once per session."""
    tiny = find_models_dir("tiny")
    if tiny is None:
        pytest.skip("models/tiny not found")
    out = tools.fresh_dir("built")
    specs = {t: (tiny / t, t, f"tiny-{t.replace('_', '-')}") for t in MODEL_TYPES}
    return build_encoderfiles(tools, specs, out)


@pytest.fixture(scope="session")
def minilm_encoderfile(tools: Tools) -> Path:
    minilm = find_models_dir("minilm")
    if minilm is None or not (minilm / "model.onnx").is_file():
        pytest.skip("models/minilm/model.onnx not exported yet (models/minilm/export.py)")
    out = tools.fresh_dir("minilm")
    specs = {"minilm": (minilm, "sentence_embedding", "all-MiniLM-L6-v2")}
    return build_encoderfiles(tools, specs, out)["minilm"]


@dataclass
class Server:
    """A running `serve`/`mcp` process and its startup line (`encoderfile: ...` on stderr)."""

    proc: subprocess.Popen
    line: str = ""
    stderr_lines: list[str] = field(default_factory=list)
    stopped: tuple[int | None, float, str] | None = None


def _popen_server(tools: Tools, argv: Sequence[str]) -> Server:
    proc = subprocess.Popen(
        list(argv),
        env=tools.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return Server(proc=proc)


def _await_ready(servers: Sequence[Server], timeout: float = START_TIMEOUT) -> None:
    """Read each server's stderr until its `encoderfile:` startup line (bounded)."""
    deadline = time.monotonic() + timeout
    waiting = {s.proc.stderr: s for s in servers if not s.line}
    sel = selectors.DefaultSelector()
    for stream in waiting:
        sel.register(stream, selectors.EVENT_READ)
    try:
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                server = waiting[key.fileobj]
                line = key.fileobj.readline()
                server.stderr_lines.append(line)
                if line.startswith("encoderfile:"):
                    server.line = line
                if server.line or not line:
                    sel.unregister(key.fileobj)
                    del waiting[key.fileobj]
    finally:
        sel.close()
    failed = [s for s in servers if not s.line]
    for s in failed:
        kill_group(s.proc)
    if failed:
        s = failed[0]
        raise AssertionError(
            f"{s.proc.args[:2]} did not start: rc={s.proc.returncode}\n{''.join(s.stderr_lines)}"
        )


def stop_server(server: Server, timeout: float = STOP_TIMEOUT) -> tuple[int | None, float, str]:
    """SIGTERM once; (exit code or None if it had to be killed, seconds, rest of stderr)."""
    if server.stopped is not None:
        return server.stopped
    proc = server.proc
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
        server.stopped = (proc.returncode, time.monotonic() - started, err or "")
    except subprocess.TimeoutExpired:
        kill_group(proc)
        server.stopped = (None, time.monotonic() - started, "")
    return server.stopped


@pytest.fixture(scope="session")
def servers(tools: Tools, encoderfiles: dict[str, Path]) -> Iterator[dict[str, Server]]:
    """`serve` for every tiny model type (OS-chosen ports) and one `mcp`, started together."""
    argvs = {
        t: [str(encoderfiles[t]), "serve", "--http-port", "0", "--grpc-port", "0"]
        for t in MODEL_TYPES
    }
    argvs["mcp"] = [str(encoderfiles["sequence_classification"]), "mcp", "--port", "0"]
    running: dict[str, Server] = {}
    try:
        for key, argv in argvs.items():
            running[key] = _popen_server(tools, argv)
        _await_ready(list(running.values()))
        yield running
    finally:
        for server in running.values():
            if server.proc.poll() is None:
                stop_server(server, timeout=2.0)
            kill_group(server.proc)


@pytest.fixture(scope="session")
def stop() -> Callable[[Server], tuple[int | None, float, str]]:
    """stop(server) -> (exit code, seconds, stderr): SIGTERM once, kill after STOP_TIMEOUT."""
    return stop_server


@pytest.fixture(scope="session")
def run_encoderfile(tools: Tools) -> Callable[..., subprocess.CompletedProcess]:
    """run_encoderfile(path, *args, via_python=False) with a fresh PEX_ROOT."""

    def _run(path: Path, *args: str, via_python: bool = False) -> subprocess.CompletedProcess:
        argv = ([tools.python, str(path)] if via_python else [str(path)]) + list(args)
        return run(argv, env=tools.env())

    return _run


@pytest.fixture(scope="session")
def run_many() -> Callable[..., dict[str, subprocess.CompletedProcess]]:
    """run_many({key: (argv, env)}) -> {key: CompletedProcess}, run concurrently."""
    return run_all


def _floats(values: object, n: int | None = None) -> list[float]:
    assert isinstance(values, list) and values, values
    assert all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in values)
    assert all(v == v and abs(v) < 1e30 for v in values), "NaN or inf in output"
    if n is not None:
        assert len(values) == n
    return [float(v) for v in values]


def _token_info(info: dict, text: str) -> None:
    assert set(info) == {"token", "token_id", "start", "end"}, info
    assert isinstance(info["token"], str) and info["token"]
    assert isinstance(info["token_id"], int) and info["token_id"] >= 0
    assert 0 <= info["start"] <= info["end"] <= len(text)


def check_results(model_type: str, body: dict, texts: Sequence[str]) -> None:
    """The reference JSON shape of a /predict (or `infer`) response for `texts`."""
    assert isinstance(body.get("model_id"), str) and body["model_id"]
    results = body["results"]
    assert isinstance(results, list) and len(results) == len(texts)
    for text, result in zip(texts, results):
        if model_type == "embedding":
            assert set(result) == {"embeddings"}
            tokens = result["embeddings"]
            assert tokens, "one vector per non-special token expected"
            assert len({len(_floats(t["embedding"])) for t in tokens}) == 1
            for t in tokens:
                _token_info(t["token_info"], text)
        elif model_type == "sentence_embedding":
            assert set(result) == {"embedding"}
            _floats(result["embedding"])
        elif model_type == "sequence_classification":
            assert set(result) == {"logits", "scores", "predicted_index", "predicted_label"}
            logits = _floats(result["logits"])
            _floats(result["scores"], len(logits))
            assert result["predicted_index"] == max(range(len(logits)), key=logits.__getitem__)
            assert isinstance(result["predicted_label"], str)
        elif model_type == "token_classification":
            assert set(result) == {"tokens"}
            assert result["tokens"]
            for t in result["tokens"]:
                _token_info(t["token_info"], text)
                scores = _floats(t["scores"])
                assert isinstance(t["label"], str) and t["label"]
                assert isinstance(t["score"], float) and t["score"] == pytest.approx(max(scores))
        else:  # pragma: no cover
            raise AssertionError(model_type)


@pytest.fixture(scope="session")
def check() -> Callable[[str, dict, Sequence[str]], None]:
    """check(model_type, response_body, texts): asserts the reference JSON shape."""
    return check_results
