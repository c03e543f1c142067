"""`serve` and `mcp` commands: flag checks, one loop for HTTP + gRPC, graceful shutdown, TLS.

In-process tests use the fake service; the subprocess tests run the real runtime entry point on
a tiny encoderfile (ports 0, loopback only, bounded timeouts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import httpx2
import pytest

from encoderfile.format import ModelType
from encoderfile.proto import sentence_embedding_pb2, sentence_embedding_pb2_grpc
from encoderfile.runtime import mcp_cli, serve_cli
from encoderfile.runtime.serving import BindError, TlsFiles, UsageError, bind_socket
from encoderfile.runtime.transport_testing import FakeService

SRC = Path(__file__).resolve().parents[2]  # src/python
TIMEOUT = 20.0


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="encoderfile")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cli.register(sub)
    mcp_cli.register(sub)
    return parser.parse_args(list(argv))


def test_defaults_bind_loopback() -> None:
    args = parse("serve")
    assert (args.http_hostname, args.http_port) == ("127.0.0.1", 8080)
    assert (args.grpc_hostname, args.grpc_port) == ("127.0.0.1", 50051)
    assert args.max_body_bytes == 8 * 1024 * 1024
    assert args.normalize is None and args.softmax is None and not args.no_batching
    args = parse("mcp")
    assert (args.hostname, args.port) == ("127.0.0.1", 9100)


def test_option_and_batching_flags() -> None:
    args = parse("serve", "--softmax", "--no-normalize", "--max-batch-size", "8", "--no-batching")
    options = serve_cli.default_predict_options(args)
    assert (options.softmax, options.normalize) == (True, False)
    batching = serve_cli.batching_config(args)
    assert batching.max_batch_size == 8 and not batching.enabled


def test_both_disabled_is_an_error() -> None:
    args = parse("serve", "--disable-http", "--disable-grpc")
    with pytest.raises(UsageError, match="leave nothing to serve"):
        serve_cli.run(args)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--cert-file needs --key-file"):
        TlsFiles.from_args("cert.pem", None)
    with pytest.raises(UsageError, match="--key-file needs --cert-file"):
        TlsFiles.from_args(None, "key.pem")
    assert TlsFiles.from_args(None, None) is None
    (tmp_path / "c.pem").write_text("not a cert")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(UsageError, match="not a usable certificate/key pair"):
        TlsFiles.from_args(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    with pytest.raises(OSError):
        TlsFiles.from_args(str(tmp_path / "missing.pem"), str(tmp_path / "k.pem"))


def test_port_in_use_is_one_clear_error() -> None:
    holder = bind_socket("127.0.0.1", 0, what="HTTP", flag="--http-port")
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(BindError) as info:
            bind_socket("127.0.0.1", port, what="HTTP", flag="--http-port")
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message and "--http-port" in message
        assert "\n" not in message
    finally:
        holder.close()


# --- in-process: both servers in one loop, graceful shutdown ---------------------------------


def test_http_and_grpc_in_one_loop_with_graceful_shutdown() -> None:
    service = FakeService(ModelType.SENTENCE_EMBEDDING, slow_seconds=0.7)
    args = parse("serve", "--http-port", "0", "--grpc-port", "0", "--shutdown-grace", "10")

    async def main() -> None:
        sock = bind_socket("127.0.0.1", 0, what="HTTP", flag="--http-port")
        http_port = sock.getsockname()[1]
        stop = asyncio.Event()
        ready = asyncio.Event()
        ports: dict[str, Any] = {}

        def on_ready(bound: dict[str, Any]) -> None:
            ports.update(bound)
            ready.set()

        task = asyncio.create_task(
            serve_cli.serve(
                service,
                args,
                options=serve_cli.default_predict_options(args),
                tls=None,
                http_sock=sock,
                stop=stop,
                on_ready=on_ready,
            )
        )
        await asyncio.wait_for(ready.wait(), TIMEOUT)
        assert ports["http"] == http_port
        grpc_port = ports["grpc"]
        base = f"http://127.0.0.1:{http_port}"
        async with httpx2.AsyncClient(timeout=TIMEOUT) as client:
            assert (await client.get(f"{base}/health")).json() == "OK!"
            # in-flight requests on both servers while the stop arrives
            slow_http = asyncio.create_task(
                client.post(f"{base}/predict", json={"inputs": ["__slow__"]})
            )
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
            stub = sentence_embedding_pb2_grpc.SentenceEmbeddingInferenceStub(channel)

            async def grpc_call() -> Any:
                request = sentence_embedding_pb2.SentenceEmbeddingRequest(inputs=["__slow__"])
                return await stub.Predict(request, timeout=TIMEOUT)

            slow_grpc = asyncio.create_task(grpc_call())
            await asyncio.sleep(0.3)
            stop.set()
            response = await asyncio.wait_for(slow_http, TIMEOUT)
            assert response.status_code == 200
            assert len((await asyncio.wait_for(slow_grpc, TIMEOUT)).results) == 1
            await channel.close()
            await asyncio.wait_for(task, TIMEOUT)
            with pytest.raises(httpx2.ConnectError):
                await client.get(f"{base}/health")

    asyncio.run(asyncio.wait_for(main(), 60))


# --- subprocess: the real runtime entry point on a tiny encoderfile ---------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The child sees exactly what this process sees (under Pants, deps come from a PEX).
    paths = [str(SRC), *(p for p in sys.path if p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PEX_ROOT"] = str(tmp_path / "pex_root")
    env.pop("ENCODERFILE_PATH", None)
    return env


@pytest.fixture(scope="module")
def tiny_sentence_embedding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    testing = pytest.importorskip("encoderfile.runtime.testing")
    try:
        return testing.build_test_encoderfile(tmp_path_factory.mktemp("ef"), "sentence_embedding")
    except FileNotFoundError as exc:
        pytest.skip(f"tiny models not available: {exc}")


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "encoderfile.runtime.main", *argv],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _startup_line(proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + TIMEOUT
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("encoderfile:"):
            return line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no startup line; rc={proc.poll()} stderr={proc.stderr.read()}")


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, err


def test_serve_subprocess(tmp_path: Path, tiny_sentence_embedding: Path) -> None:
    proc = _start(
        tmp_path,
        "serve",
        "--file",
        str(tiny_sentence_embedding),
        "--http-port",
        "0",
        "--grpc-port",
        "0",
    )
    try:
        line = _startup_line(proc)
        http_port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        grpc_port = int(re.search(r"gRPC on 127\.0\.0\.1:(\d+)", line).group(1))
        body = httpx2.post(
            f"http://127.0.0.1:{http_port}/predict",
            json={"inputs": ["hello world"], "metadata": {"k": "v"}},
            timeout=TIMEOUT,
        ).json()
        assert body["model_id"] == "tiny-sentence-embedding"
        assert body["metadata"] == {"k": "v"}
        assert len(body["results"][0]["embedding"]) > 1
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = sentence_embedding_pb2_grpc.SentenceEmbeddingInferenceStub(channel)
            response = stub.Predict(
                sentence_embedding_pb2.SentenceEmbeddingRequest(inputs=["hello world"]),
                timeout=TIMEOUT,
            )
        assert list(response.results[0].embedding) == pytest.approx(
            body["results"][0]["embedding"], rel=1e-5, abs=1e-6
        )
    finally:
        started = time.monotonic()
        rc, err = _stop(proc)
    assert rc == 0, err
    assert time.monotonic() - started < 10
    assert "Traceback" not in err


def test_serve_port_in_use_subprocess(tmp_path: Path, tiny_sentence_embedding: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        proc = _start(
            tmp_path,
            "serve",
            "--file",
            str(tiny_sentence_embedding),
            "--http-port",
            "0",
            "--grpc-port",
            str(port),
        )
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        holder.close()
    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"127.0.0.1:{port}" in lines[0] and "--grpc-port" in lines[0]


def test_serve_flag_errors_subprocess(tmp_path: Path, tiny_sentence_embedding: Path) -> None:
    for extra, expected in [
        (["--disable-http", "--disable-grpc"], "leave nothing to serve"),
        (["--cert-file", "x.pem"], "--cert-file needs --key-file"),
    ]:
        proc = _start(tmp_path, "serve", "--file", str(tiny_sentence_embedding), *extra)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode != 0
        assert len(err.strip().splitlines()) == 1 and expected in err, err


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_serve_tls_subprocess(tmp_path: Path, tiny_sentence_embedding: Path) -> None:
    cert, key = _self_signed(tmp_path)
    proc = _start(
        tmp_path,
        "serve",
        "--file",
        str(tiny_sentence_embedding),
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--cert-file",
        str(cert),
        "--key-file",
        str(key),
    )
    try:
        line = _startup_line(proc)
        http_port = int(re.search(r"https://127\.0\.0\.1:(\d+)", line).group(1))
        grpc_port = int(re.search(r"gRPC on 127\.0\.0\.1:(\d+)", line).group(1))
        context = ssl.create_default_context(cafile=str(cert))
        response = httpx2.get(
            f"https://127.0.0.1:{http_port}/health", verify=context, timeout=TIMEOUT
        )
        assert response.json() == "OK!"
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{grpc_port}", credentials) as channel:
            stub = sentence_embedding_pb2_grpc.SentenceEmbeddingInferenceStub(channel)
            result = stub.Predict(
                sentence_embedding_pb2.SentenceEmbeddingRequest(inputs=["tls"]), timeout=TIMEOUT
            )
        assert len(result.results) == 1
    finally:
        rc, err = _stop(proc)
    assert rc == 0, err


def test_mcp_subprocess(tmp_path: Path, tiny_sentence_embedding: Path) -> None:
    import anyio
    from mcp import Client

    proc = _start(tmp_path, "mcp", "--file", str(tiny_sentence_embedding), "--port", "0")
    try:
        line = _startup_line(proc)
        url = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", line).group(1)

        async def main() -> None:
            with anyio.fail_after(TIMEOUT):
                async with Client(url, read_timeout_seconds=TIMEOUT) as client:
                    result = await client.call_tool("run_encoder", {"inputs": ["hi there"]})
                    assert result.structured_content["model_id"] == "tiny-sentence-embedding"

        anyio.run(main)
    finally:
        rc, err = _stop(proc)
    assert rc == 0, err
