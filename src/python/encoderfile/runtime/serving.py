"""Running the HTTP, gRPC and MCP servers in one asyncio loop, with graceful shutdown.

Shared by `serve` and `mcp`. Sockets are bound before the model loads, so "port in use" is
reported at once as one clear line. uvicorn is driven programmatically with its own signal
handling turned off: SIGINT/SIGTERM stop every server together; in-flight requests finish
(within `shutdown_grace` seconds); a second signal forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Iterator

logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_GRACE = 30.0


class UsageError(ValueError):
    """Conflicting or invalid command-line flags."""


class BindError(OSError):
    """A server cannot listen on its address (usually: the port is in use)."""


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain and private key (PEM), both read up front to fail early."""

    cert_file: str
    key_file: str
    certificate_chain: bytes
    private_key: bytes

    @classmethod
    def from_args(cls, cert_file: str | None, key_file: str | None) -> TlsFiles | None:
        """None when neither is given.

        Raises:
            UsageError: only one of the two is given, or the pair is not a usable key/cert.
            OSError: a file cannot be read.
        """
        if not cert_file and not key_file:
            return None
        if not cert_file or not key_file:
            given, missing = (
                ("--cert-file", "--key-file") if cert_file else ("--key-file", "--cert-file")
            )
            raise UsageError(f"{given} needs {missing} too (TLS takes both or neither)")
        with open(cert_file, "rb") as f:
            chain = f.read()
        with open(key_file, "rb") as f:
            key = f.read()
        try:  # the same check uvicorn will do, now, so a bad pair is one clear line
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            raise UsageError(
                f"--cert-file {cert_file} and --key-file {key_file} are not a usable "
                f"certificate/key pair: {exc.reason or exc}"
            ) from None
        return cls(cert_file, key_file, chain, key)


def _strip_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def display_address(host: str, port: int) -> str:
    host = _strip_brackets(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_socket(host: str, port: int, *, what: str, flag: str) -> socket.socket:
    """A TCP socket bound to host:port (not listening yet), IPv4 or IPv6 by the address.

    Raises:
        BindError: with one line naming the address and the flag that changes it.
    """
    host = _strip_brackets(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"{what} cannot listen on {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while in TIME_WAIT
        if family == socket.AF_INET6 and host in ("::", ""):
            # "[::]" means every address, IPv4 included (as in the reference).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = f"; choose another port with {flag}" if exc.errno in (98, 48, 10048) else ""
        raise BindError(
            f"{what} cannot listen on {display_address(host, port)}: {reason}{hint}"
        ) from None
    return sock


def probe_port(host: str, port: int, *, what: str, flag: str) -> None:
    """Fail early (before loading the model) when host:port cannot be bound."""
    if port == 0:
        return
    bind_socket(host, port, what=what, flag=flag).close()


def uvicorn_server(
    app: Any,
    *,
    tls: TlsFiles | None,
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
    lifespan: str = "auto",
) -> Any:
    """A uvicorn.Server for `app` that leaves signal handling to us; quiet (warnings only)."""
    import uvicorn

    class _Server(uvicorn.Server):
        def capture_signals(self) -> Any:  # type: ignore[override]
            # run_servers handles SIGINT/SIGTERM for every server at once.
            return contextlib.nullcontext()

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=shutdown_grace,  # type: ignore[arg-type] # float works
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        server_header=False,
    )
    config.load()  # loads the app and the TLS context now, so errors surface before serving
    return _Server(config)


@dataclass
class HttpEndpoint:
    """One uvicorn server and the socket it serves."""

    server: Any  # uvicorn.Server
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
) -> Iterator[None]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signal support (Windows): stop via the event
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_servers(
    http: list[HttpEndpoint],
    grpc_server: Any | None = None,
    *,
    on_ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
) -> None:
    """Serve until SIGINT/SIGTERM (or `stop` is set), then shut everything down gracefully.

    `grpc_server` is a started-or-not `GrpcServer` already bound to its port.
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        stop.set()
        if signals > 1:  # a second Ctrl+C: do not wait for in-flight requests
            for endpoint in http:
                endpoint.server.force_exit = True

    with _signal_handlers(loop, on_signal):
        tasks: list[asyncio.Task] = []
        try:
            if grpc_server is not None:
                await grpc_server.start()
            for endpoint in http:
                tasks.append(asyncio.create_task(endpoint.server.serve(sockets=[endpoint.sock])))
            for endpoint, task in zip(http, tasks):
                while not endpoint.server.started:
                    if task.done():
                        task.result()  # raises what went wrong
                        raise RuntimeError("the HTTP server stopped during start-up")
                    await asyncio.sleep(0.01)
            if on_ready is not None:
                on_ready()
            waiters = [asyncio.create_task(stop.wait()), *tasks]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            waiters[0].cancel()
        finally:
            for endpoint in http:
                endpoint.server.should_exit = True
            shutdowns = []
            if grpc_server is not None:
                shutdowns.append(grpc_server.stop(shutdown_grace))
            await asyncio.gather(*shutdowns, *tasks, return_exceptions=True)
            for endpoint in http:
                endpoint.sock.close()
        for task in tasks:  # a server that died on its own is an error
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
