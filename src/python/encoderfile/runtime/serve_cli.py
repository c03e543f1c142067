"""`serve`: the HTTP and gRPC APIs in one process and one asyncio loop.

Same flags as the reference runtime, but both servers bind 127.0.0.1 by default (pass
`--http-hostname 0.0.0.0` / `--grpc-hostname [::]` to listen on every interface). Command module
convention of runtime/main.py: `register(subparsers)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from encoderfile.runtime.serving import DEFAULT_SHUTDOWN_GRACE, UsageError

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_BATCH_TOKENS = 1024  # = BatchingConfig's default; not imported: keeps --help light


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535 (0 = any), got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--file and --debug, as runtime/main.py gives its own commands (defaults suppressed)."""
    parser.add_argument(
        "--file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="use this encoderfile instead of the running one (development)",
    )
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS")
    group.add_argument("--cert-file", metavar="PEM", help="TLS certificate chain (with --key-file)")
    group.add_argument("--key-file", metavar="PEM", help="TLS private key (with --cert-file)")


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    """Request limits, per-request option defaults and dynamic batching."""
    from encoderfile.runtime.options import AGGREGATIONS

    group = parser.add_argument_group("requests")
    group.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        metavar="N",
        help="largest request body (HTTP) / message (gRPC) accepted (default: 8 MiB)",
    )
    group.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="L2-normalise embeddings unless a request says otherwise (embedding models)",
    )
    group.add_argument(
        "--softmax",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="return softmax probabilities as scores unless a request says otherwise "
        "(classifiers)",
    )
    group.add_argument(
        "--aggregation",
        choices=("none", *AGGREGATIONS),
        default=None,
        help="default entity grouping for token classification",
    )
    group.add_argument(
        "--shutdown-grace",
        type=_non_negative_float,
        default=DEFAULT_SHUTDOWN_GRACE,
        metavar="SECONDS",
        help="on SIGINT/SIGTERM, how long in-flight requests may take to finish (default: 30)",
    )
    batching = parser.add_argument_group("dynamic batching")
    batching.add_argument(
        "--no-batching",
        action="store_true",
        help="run every request as its own batch, one at a time (the reference's behaviour)",
    )
    batching.add_argument(
        "--max-batch-size",
        type=_positive_int,
        default=32,
        metavar="N",
        help="most texts run together (default: 32)",
    )
    batching.add_argument(
        "--max-wait-ms",
        type=_non_negative_float,
        default=5.0,
        metavar="MS",
        help="how long a text may wait for others to join its batch (default: 5)",
    )
    batching.add_argument(
        "--max-batch-tokens",
        type=_positive_int,
        default=DEFAULT_MAX_BATCH_TOKENS,
        metavar="N",
        help=f"padded tokens per batch at most; bounds peak memory "
        f"(default: {DEFAULT_MAX_BATCH_TOKENS})",
    )


def batching_config(args: argparse.Namespace) -> Any:
    from encoderfile.runtime.batching import BatchingConfig

    return BatchingConfig(
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_batch_tokens=args.max_batch_tokens,
        enabled=not args.no_batching,
    )


def default_predict_options(args: argparse.Namespace) -> Any:
    from encoderfile.runtime.options import PredictOptions

    return PredictOptions.from_request(
        {"normalize": args.normalize, "softmax": args.softmax, "aggregation": args.aggregation}
    )


def warn_inapplicable_defaults(service: Any, args: argparse.Namespace) -> None:
    """One stderr line per default flag that does not apply to this model type."""
    snake = service.model_type.snake
    embeddings = snake in ("embedding", "sentence_embedding")
    classifier = snake in ("sequence_classification", "token_classification")
    if args.normalize is not None and not embeddings:
        print(f"warning: --normalize has no effect on a {snake} model", file=sys.stderr)
    if args.softmax is not None and not classifier:
        print(f"warning: --softmax has no effect on a {snake} model", file=sys.stderr)
    if args.aggregation not in (None, "none") and snake != "token_classification":
        print(f"warning: --aggregation has no effect on a {snake} model", file=sys.stderr)


def configure_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "debug", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def register(subparsers: Any) -> None:
    """Add the `serve` command."""
    from encoderfile.runtime.options import add_inference_arguments

    parser = subparsers.add_parser(
        "serve",
        help="serve the model over HTTP and gRPC",
        description="Serve the model: HTTP (/predict, /model, /health, /openapi.json, "
        "/v1/embeddings) and gRPC, in one process. Stop with Ctrl+C or SIGTERM; in-flight "
        "requests finish first.",
    )
    add_common_arguments(parser)
    http = parser.add_argument_group("HTTP")
    http.add_argument(
        "--http-hostname", default="127.0.0.1", metavar="HOST", help="default: 127.0.0.1"
    )
    http.add_argument("--http-port", type=_port, default=8080, metavar="PORT", help="default: 8080")
    http.add_argument("--disable-http", action="store_true", help="do not start the HTTP server")
    grpc = parser.add_argument_group("gRPC")
    grpc.add_argument(
        "--grpc-hostname", default="127.0.0.1", metavar="HOST", help="default: 127.0.0.1"
    )
    grpc.add_argument(
        "--grpc-port", type=_port, default=50051, metavar="PORT", help="default: 50051"
    )
    grpc.add_argument("--disable-grpc", action="store_true", help="do not start the gRPC server")
    add_tls_arguments(parser)
    add_request_arguments(parser)
    otel = parser.add_argument_group("OpenTelemetry (accepted for compatibility; not exported)")
    otel.add_argument("--enable-otel", action="store_true", help=argparse.SUPPRESS)
    otel.add_argument("--otel-exporter-url", metavar="URL", help=argparse.SUPPRESS)
    add_inference_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the flags, bind the ports, load the model, serve until a signal. Returns 0."""
    import asyncio

    from encoderfile.runtime.serving import TlsFiles, probe_port

    if args.disable_http and args.disable_grpc:
        raise UsageError("--disable-http and --disable-grpc together leave nothing to serve")
    tls = TlsFiles.from_args(args.cert_file, args.key_file)
    options = default_predict_options(args)
    batching = batching_config(args)
    configure_logging(args)
    if args.enable_otel or args.otel_exporter_url:
        print("warning: OpenTelemetry export is not supported; ignoring", file=sys.stderr)

    # Ports first: a busy port is reported before spending time on loading the model.
    http_sock = None
    if not args.disable_http:
        from encoderfile.runtime.serving import bind_socket

        http_sock = bind_socket(args.http_hostname, args.http_port, what="HTTP", flag="--http-port")
    try:
        if not args.disable_grpc:
            probe_port(args.grpc_hostname, args.grpc_port, what="gRPC", flag="--grpc-port")
        from encoderfile.runtime.main import load_service

        service = load_service(args, batching=batching)
    except BaseException:
        if http_sock is not None:
            http_sock.close()
        raise
    try:
        warn_inapplicable_defaults(service, args)
        asyncio.run(serve(service, args, options=options, tls=tls, http_sock=http_sock))
    finally:
        service.close()
        if http_sock is not None:
            http_sock.close()
    return 0


async def serve(
    service: Any,
    args: argparse.Namespace,
    *,
    options: Any,
    tls: Any,
    http_sock: Any,
    stop: Any = None,
    on_ready: Any = None,
) -> None:
    """Start the enabled servers for a loaded service and run until stopped.

    `on_ready(ports)` is called once both listen, with {"http": port | None, "grpc": port | None}.
    """
    from encoderfile.runtime.serving import HttpEndpoint, display_address, run_servers

    http_endpoints = []
    urls = []
    ports: dict[str, int | None] = {"http": None, "grpc": None}
    if http_sock is not None:
        from encoderfile.runtime.http_server import create_http_app
        from encoderfile.runtime.serving import uvicorn_server

        app = create_http_app(service, max_body_bytes=args.max_body_bytes, default_options=options)
        endpoint = HttpEndpoint(
            uvicorn_server(app, tls=tls, shutdown_grace=args.shutdown_grace), http_sock
        )
        http_endpoints.append(endpoint)
        ports["http"] = endpoint.port
        scheme = "https" if tls else "http"
        urls.append(f"HTTP on {scheme}://{display_address(args.http_hostname, endpoint.port)}")
    grpc_server = None
    if not args.disable_grpc:
        from encoderfile.runtime.grpc_server import bind, create_grpc_server

        grpc_server = create_grpc_server(
            service, max_message_bytes=args.max_body_bytes, default_options=options
        )
        port = bind(
            grpc_server,
            args.grpc_hostname,
            args.grpc_port,
            certificate_chain=tls.certificate_chain if tls else None,
            private_key=tls.private_key if tls else None,
        )
        ports["grpc"] = port
        urls.append(f"gRPC on {display_address(args.grpc_hostname, port)}{' (TLS)' if tls else ''}")

    def ready() -> None:
        print(
            f"encoderfile: serving {service.model_id} ({service.model_type.snake}): "
            f"{', '.join(urls)}",
            file=sys.stderr,
            flush=True,
        )
        if on_ready is not None:
            on_ready(ports)

    await run_servers(
        http_endpoints,
        grpc_server,
        on_ready=ready,
        stop=stop,
        shutdown_grace=args.shutdown_grace,
    )
