"""Benchmark a MiniLM encoderfile against bare onnxruntime, in one run, as ratios.

Builds models/minilm into an encoderfile on a given runtime PEX, then measures:
  (a) HTTP /predict throughput at batch 32 vs bare onnxruntime + tokenizers in-process
      (same model, same length-sorted batches, same thread count);
  (b) 16 concurrent single-text clients: dynamic batching vs --no-batching;
  (c) cold start: exec -> first /health answer, exec -> `infer` done (warm and empty PEX_ROOT);
  (d) peak RSS (VmHWM) of the server vs the model size;
  optionally sentence-transformers on an fp32 model directory when importable.
The machine is shared: read the ratios, the load average and the CPU times, not the absolutes.
Loopback only; every loop is bounded. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
TARGETS = {
    "http_vs_bare": 0.9,
    "batching_vs_serial": 3.0,
    "cold_start_warm_s": 1.0,
    "rss_over_model_mb": 300.0,
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- corpus


def make_corpus(n: int, seed: int = 1234) -> list[str]:
    """n deterministic mixed-length English-ish texts from CPython's pydoc topics."""
    import pydoc_data.topics as topics

    sentences: list[str] = []
    for key in sorted(topics.topics):
        text = re.sub(r"\s+", " ", topics.topics[key])
        for s in re.split(r"(?<=[.!?])\s+", text):
            s = s.strip()
            if 20 <= len(s) <= 400 and not s.startswith(("*", "=", "-", ">>>")):
                sentences.append(s)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.choice((1, 1, 1, 2, 2, 3, 5, 8))  # mostly short, a long tail
        start = rng.randrange(len(sentences) - k)
        out.append(" ".join(sentences[start : start + k]))
    return out


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its waited-for children), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pex_env(pex_root: Path, python: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEX")}
    env["PEX_ROOT"] = str(pex_root)
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(python), os.path.dirname(os.path.realpath(python)), env.get("PATH", "")]
    )
    return env


@dataclass
class Server:
    proc: subprocess.Popen
    port: int

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def wait_health(port: int, deadline: float, proc: subprocess.Popen) -> float:
    """Poll /health until it answers 200; returns the monotonic time of the answer."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return time.monotonic()
            conn.close()
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("server did not answer /health in time")


def start_server(
    path: Path, env: dict[str, str], extra: Sequence[str] = (), timeout: float = 120.0
) -> tuple[Server, float]:
    """Start `serve` (HTTP only); returns the server and seconds from exec to first /health."""
    port = free_port()
    argv = [str(path), "serve", "--http-port", str(port), "--disable-grpc", *extra]
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = wait_health(port, started + timeout, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Server(proc, port), ready - started


def post(conn: http.client.HTTPConnection, texts: list[str]) -> dict[str, Any]:
    conn.request(
        "POST", "/predict", json.dumps({"inputs": texts}), {"Content-Type": "application/json"}
    )
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"/predict -> {resp.status}: {body[:200]!r}")
    return json.loads(body)


# --------------------------------------------------------------------------- measurements


def sorted_batches(texts: list[str], lengths: list[int], size: int) -> list[list[str]]:
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    return [[texts[i] for i in order[k : k + size]] for k in range(0, len(order), size)]


class Bare:
    """onnxruntime + tokenizers in this process: the floor the server is measured against."""

    def __init__(self, model: Path, tokenizer: Path, threads: int) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.np = np
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer))

    def lengths(self, texts: list[str]) -> list[int]:
        return [sum(e.attention_mask) for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str]) -> Any:
        np = self.np
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(["last_hidden_state"], feed)[0]
        m = mask[:, :, None].astype(np.float32)
        return (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, items) of fn()."""
    t0, c0 = time.monotonic(), time.process_time()
    n = fn()
    return time.monotonic() - t0, time.process_time() - c0, n


def bench_batch32(
    bare: Bare, server: Server, batches: list[list[str]], rounds: int
) -> dict[str, Any]:
    """Alternate bare and HTTP passes over the same batches; best pass of each counts."""

    def run_bare() -> int:
        for b in batches:
            bare.embed(b)
        return sum(len(b) for b in batches)

    def run_http() -> int:
        # A new connection per pass: uvicorn drops keep-alive connections idle for 5 s.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        try:
            for b in batches:
                post(conn, b)
        finally:
            conn.close()
        return sum(len(b) for b in batches)

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    post(conn, batches[-1])  # warm-up: largest shapes once
    conn.close()
    bare.embed(batches[-1])
    bare_runs, http_runs = [], []
    for _ in range(rounds):
        bare_runs.append(timed(run_bare))
        s0 = cpu_seconds(server.proc.pid)
        wall, client_cpu, n = timed(run_http)
        http_runs.append((wall, client_cpu, n, cpu_seconds(server.proc.pid) - s0))
    best_bare = min(bare_runs)
    best_http = min(http_runs)
    return {
        "bare_sent_per_s": best_bare[2] / best_bare[0],
        "bare_cpu_s": best_bare[1],
        "bare_wall_s": best_bare[0],
        "http_sent_per_s": best_http[2] / best_http[0],
        "http_wall_s": best_http[0],
        "http_server_cpu_s": best_http[3],
        "http_client_cpu_s": best_http[1],
        "all_bare_sent_per_s": [r[2] / r[0] for r in bare_runs],
        "all_http_sent_per_s": [r[2] / r[0] for r in http_runs],
    }


def bench_concurrent(server: Server, texts: list[str], clients: int) -> dict[str, Any]:
    """`clients` threads, each sending one text per request, until the shared list is empty."""
    lock = threading.Lock()
    queue = list(texts)
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    text = queue.pop()
                t0 = time.monotonic()
                try:
                    post(conn, [text])
                except Exception as exc:  # report, stop the run
                    with lock:
                        errors.append(repr(exc))
                    return
                with lock:
                    latencies.append(time.monotonic() - t0)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    s0 = cpu_seconds(server.proc.pid)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"concurrent clients failed: {errors[0]}")
    latencies.sort()
    return {
        "sent_per_s": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "server_cpu_s": cpu_seconds(server.proc.pid) - s0,
        "wall_s": wall,
    }


def bench_cold_start(path: Path, python: str, work: Path, warm_runs: int) -> dict[str, Any]:
    warm_root = work / "pex-root-warm"
    out: dict[str, Any] = {}
    # Empty PEX_ROOT: the first run extracts the runtime (~150 MB).
    server, seconds = start_server(path, pex_env(work / "pex-root-empty-serve", python))
    server.stop()
    out["serve_empty_s"] = seconds
    t0 = time.monotonic()
    done = subprocess.run(
        [str(path), "infer", "hello world"],
        env=pex_env(work / "pex-root-empty-infer", python),
        capture_output=True,
        timeout=300,
    )
    out["infer_empty_s"] = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"infer failed: {done.stderr.decode()[-500:]}")
    # Warm: one run fills the cache, then measure.
    server, _ = start_server(path, pex_env(warm_root, python))
    server.stop()
    serve_warm, infer_warm = [], []
    for _ in range(warm_runs):
        server, seconds = start_server(path, pex_env(warm_root, python))
        server.stop()
        serve_warm.append(seconds)
        t0 = time.monotonic()
        subprocess.run(
            [str(path), "infer", "hello world"],
            env=pex_env(warm_root, python),
            capture_output=True,
            timeout=120,
            check=True,
        )
        infer_warm.append(time.monotonic() - t0)
    out["serve_warm_s"] = statistics.median(serve_warm)
    out["infer_warm_s"] = statistics.median(infer_warm)
    out["serve_warm_all_s"] = serve_warm
    out["infer_warm_all_s"] = infer_warm
    return out


def bench_sentence_transformers(
    st_dir: Path, batches: list[list[str]], threads: int
) -> dict[str, Any] | None:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    torch.set_num_threads(threads)
    model = SentenceTransformer(str(st_dir), device="cpu")
    model.encode(batches[-1], batch_size=32)

    def run() -> int:
        for b in batches:
            model.encode(b, batch_size=32)
        return sum(len(b) for b in batches)

    wall, cpu, n = timed(run)
    return {"sent_per_s": n / wall, "cpu_s": cpu}


# --------------------------------------------------------------------------- build


def find_runtime_pex(given: str | None) -> Path:
    candidates = [
        given,
        os.environ.get("ENCODERFILE_RUNTIME_PEX"),
        REPO / "dist/encoderfile-runtime.pex",
    ]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c).resolve()
    raise SystemExit(
        "error: no runtime PEX; pass --runtime-pex or run "
        "`./pants package //src/python/encoderfile/runtime:runtime-pex`"
    )


def build(model_dir: Path, runtime_pex: Path, cli_pex: Path | None, python: str, out: Path) -> Path:
    config = out.with_suffix(".yml")
    config.write_text(
        json.dumps(
            {
                "encoderfile": {
                    "name": "all-MiniLM-L6-v2",
                    "model_type": "sentence_embedding",
                    "path": str(model_dir),
                    "output_path": str(out),
                }
            }
        )
    )
    if cli_pex is not None:
        argv = [python, str(cli_pex), "build", "-f", str(config)]
        argv += ["--base-binary-path", str(runtime_pex), "-o", str(out)]
        subprocess.run(argv, check=True, timeout=600, env=pex_env(out.parent / "cli-root", python))
    else:
        sys.path.insert(0, str(REPO / "src/python"))
        from encoderfile.builder.build import BuildOptions, apply_cli_overrides, build_encoderfile
        from encoderfile.builder.config import load_config

        cfg = apply_cli_overrides(load_config(config), base_binary_path=runtime_pex)
        build_encoderfile(cfg, BuildOptions(no_download=True, cache_dir=out.parent / "cache"))
    return out


# --------------------------------------------------------------------------- main


def verdict(ok: bool) -> str:
    return "OK  " if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runtime-pex", help="runtime base binary (default: dist/encoderfile-runtime.pex)"
    )
    p.add_argument("--cli-pex", help="build with this `encoderfile` PEX (default: builder API)")
    p.add_argument("--model-dir", default=str(REPO / "models/minilm"), help="MiniLM directory")
    p.add_argument("--encoderfile", help="skip the build: benchmark this encoderfile")
    p.add_argument("--texts", type=int, default=1024, help="corpus size (default 1024)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="onnxruntime threads")
    p.add_argument(
        "--rounds", type=int, default=2, help="alternating bare/HTTP passes (best counts)"
    )
    p.add_argument("--clients", type=int, default=16, help="concurrent single-text clients")
    p.add_argument("--concurrent-texts", type=int, default=384, help="requests in (b), per mode")
    p.add_argument("--warm-runs", type=int, default=3, help="warm cold-start repetitions")
    p.add_argument("--st-model", help="sentence-transformers model directory (optional)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--skip", default="", help="comma list of parts to skip: a,b,c,d")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    python = shutil.which("python3.11") or sys.executable
    runtime_pex = find_runtime_pex(args.runtime_pex)
    model_dir = Path(args.model_dir).resolve()
    model = model_dir / "model.onnx"
    if not model.is_file():
        raise SystemExit(f"error: {model} not found (export it: models/minilm/export.py)")
    load0 = os.getloadavg()
    t_start, cpu_start = time.monotonic(), os.times()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
    )
    print(f"python {sys.version.split()[0]}, threads {args.threads}, runtime {runtime_pex}")

    work = Path(tempfile.mkdtemp(prefix="encoderfile-bench-"))
    results: dict[str, Any] = {"load_start": load0}
    servers: list[Server] = []
    try:
        if args.encoderfile:
            path = Path(args.encoderfile).resolve()
        else:
            t0 = time.monotonic()
            path = build(
                model_dir,
                runtime_pex,
                Path(args.cli_pex) if args.cli_pex else None,
                python,
                work / "minilm.encoderfile",
            )
            print(
                f"built {path.name}: {path.stat().st_size / 1e6:.1f} MB "
                f"in {time.monotonic() - t0:.1f} s"
            )
        model_mb = model.stat().st_size / 2**20
        texts = make_corpus(args.texts)
        bare = Bare(model, model_dir / "tokenizer.json", args.threads)
        lengths = bare.lengths(texts)
        print(
            f"corpus: {len(texts)} texts, tokens min {min(lengths)} median "
            f"{statistics.median(lengths):.0f} max {max(lengths)}; model {model_mb:.1f} MiB"
        )
        warm_root = work / "pex-root-bench"
        extra = ["--intra-op-threads", str(args.threads)]
        server, _ = start_server(path, pex_env(warm_root, python), extra)
        servers.append(server)
        idle_mb = vm_hwm_mb(server.proc.pid)  # loaded model, no request yet

        if "a" not in skip:
            batches = sorted_batches(texts, lengths, 32)
            a = bench_batch32(bare, server, batches, args.rounds)
            results["a"] = a
            ratio = a["http_sent_per_s"] / a["bare_sent_per_s"]
            a["ratio"] = ratio
            print(
                f"(a) batch 32: bare onnxruntime {a['bare_sent_per_s']:.1f} sent/s "
                f"(cpu {a['bare_cpu_s']:.1f} s / wall {a['bare_wall_s']:.1f} s); "
                f"HTTP /predict {a['http_sent_per_s']:.1f} sent/s (server cpu "
                f"{a['http_server_cpu_s']:.1f} s, client cpu {a['http_client_cpu_s']:.1f} s / wall "
                f"{a['http_wall_s']:.1f} s)"
            )
            # On a shared machine wall time follows the neighbours; CPU seconds much less so.
            a["cpu_ratio"] = a["bare_cpu_s"] / (a["http_server_cpu_s"] + a["http_client_cpu_s"])
            print(f"    CPU-time ratio bare/(server+client) = {a['cpu_ratio']:.2f}")
            print(
                f"    all passes: bare {[round(x, 1) for x in a['all_bare_sent_per_s']]}, "
                f"HTTP {[round(x, 1) for x in a['all_http_sent_per_s']]}"
            )
            print(
                f"    {verdict(ratio >= TARGETS['http_vs_bare'])} HTTP/bare = {ratio:.2f} "
                "(target >= 0.9)"
            )
        del bare

        if "b" not in skip:
            rng = random.Random(7)
            single = rng.sample(texts, min(args.concurrent_texts, len(texts)))
            post_conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            post(post_conn, single[:4])
            post_conn.close()
            dyn = bench_concurrent(server, single, args.clients)
            serial_server, _ = start_server(
                path, pex_env(warm_root, python), [*extra, "--no-batching"]
            )
            servers.append(serial_server)
            ser = bench_concurrent(serial_server, single, args.clients)
            serial_server.stop()
            ratio = dyn["sent_per_s"] / ser["sent_per_s"]
            cpu_ratio = ser["server_cpu_s"] / dyn["server_cpu_s"]
            results["b"] = {
                "dynamic": dyn,
                "no_batching": ser,
                "ratio": ratio,
                "cpu_ratio": cpu_ratio,
            }
            for name, r in (("dynamic batching", dyn), ("--no-batching   ", ser)):
                print(
                    f"(b) {args.clients} clients, {name}: {r['sent_per_s']:.1f} req/s, p50 "
                    f"{r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, server cpu "
                    f"{r['server_cpu_s']:.1f} s / wall {r['wall_s']:.1f} s"
                )
            print(
                f"    {verdict(ratio >= TARGETS['batching_vs_serial'])} dynamic/serial = "
                f"{ratio:.2f} (target >= 3); server CPU serial/dynamic = {cpu_ratio:.2f}"
            )

        if "d" not in skip:
            rss = vm_hwm_mb(server.proc.pid)
            results["d"] = {
                "vm_hwm_mb": rss,
                "idle_mb": idle_mb,
                "model_mb": model_mb,
                "over_model_mb": rss - model_mb,
            }
            print(
                f"(d) server peak RSS (VmHWM) {rss:.0f} MiB (loaded, before any request: "
                f"{idle_mb:.0f} MiB), model {model_mb:.1f} MiB, over model {rss - model_mb:.0f} MiB"
            )
            print(
                f"    {verdict(rss - model_mb <= TARGETS['rss_over_model_mb'])} "
                "(target <= model + 300 MiB)"
            )
        server.stop()

        if "c" not in skip:
            c = bench_cold_start(path, python, work, args.warm_runs)
            results["c"] = c
            print(
                f"(c) cold start, warm PEX_ROOT: serve -> /health {c['serve_warm_s']:.2f} s, "
                f"infer {c['infer_warm_s']:.2f} s (runs: "
                f"{[round(x, 2) for x in c['serve_warm_all_s']]}, "
                f"{[round(x, 2) for x in c['infer_warm_all_s']]})"
            )
            print(
                f"    empty PEX_ROOT: serve -> /health {c['serve_empty_s']:.2f} s, "
                f"infer {c['infer_empty_s']:.2f} s"
            )
            print(
                f"    {verdict(c['serve_warm_s'] <= TARGETS['cold_start_warm_s'])} "
                "warm serve <= 1.0 s; "
                f"{verdict(c['infer_warm_s'] <= TARGETS['cold_start_warm_s'])} warm infer <= 1.0 s"
            )

        if args.st_model:
            batches = sorted_batches(texts, lengths, 32)
            st = bench_sentence_transformers(Path(args.st_model), batches, args.threads)
            results["sentence_transformers"] = st
            if st is None:
                print("(st) sentence-transformers not importable; skipped")
            else:
                print(
                    f"(st) sentence-transformers: {st['sent_per_s']:.1f} sent/s "
                    f"(cpu {st['cpu_s']:.1f} s)"
                )
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    cpu_end = os.times()
    load1 = os.getloadavg()
    results["load_end"] = load1
    print(
        f"done in {time.monotonic() - t_start:.0f} s; bench process cpu user "
        f"{cpu_end.user - cpu_start.user:.1f} s sys {cpu_end.system - cpu_start.system:.1f} s, "
        f"children {cpu_end.children_user - cpu_start.children_user:.1f} s; load average now "
        f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
