"""`mcp`: a Streamable HTTP MCP server at /mcp with the single tool `run_encoder`.

Same flags as the reference runtime, but it binds 127.0.0.1 by default (`--hostname 0.0.0.0`
listens on every interface; DNS-rebinding protection is on only for loopback addresses).
Command module convention of runtime/main.py: `register(subparsers)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from encoderfile.runtime.serve_cli import (
    _port,
    add_common_arguments,
    add_request_arguments,
    add_tls_arguments,
    batching_config,
    configure_logging,
    default_predict_options,
    warn_inapplicable_defaults,
)


def register(subparsers: Any) -> None:
    """Add the `mcp` command."""
    from encoderfile.runtime.options import add_inference_arguments

    parser = subparsers.add_parser(
        "mcp",
        help="serve the model as an MCP tool (Streamable HTTP at /mcp)",
        description="Serve the model to MCP clients: Streamable HTTP at /mcp, one tool "
        "`run_encoder` taking the /predict request body. Stop with Ctrl+C or SIGTERM.",
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--hostname", default="127.0.0.1", metavar="HOST", help="default: 127.0.0.1"
    )
    parser.add_argument("--port", type=_port, default=9100, metavar="PORT", help="default: 9100")
    add_tls_arguments(parser)
    add_request_arguments(parser)
    add_inference_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the flags, bind the port, load the model, serve until a signal. Returns 0."""
    import asyncio

    from encoderfile.runtime.serving import TlsFiles, bind_socket

    tls = TlsFiles.from_args(args.cert_file, args.key_file)
    options = default_predict_options(args)
    batching = batching_config(args)
    configure_logging(args)
    sock = bind_socket(args.hostname, args.port, what="MCP", flag="--port")
    try:
        from encoderfile.runtime.main import load_service

        service = load_service(args, batching=batching)
        try:
            warn_inapplicable_defaults(service, args)
            asyncio.run(serve(service, args, options=options, tls=tls, sock=sock))
        finally:
            service.close()
    finally:
        sock.close()
    return 0


async def serve(
    service: Any,
    args: argparse.Namespace,
    *,
    options: Any,
    tls: Any,
    sock: Any,
    stop: Any = None,
    on_ready: Any = None,
) -> None:
    """Run the MCP server for a loaded service until stopped."""
    from encoderfile.runtime.mcp_server import MCP_PATH, create_mcp_app
    from encoderfile.runtime.serving import (
        HttpEndpoint,
        display_address,
        run_servers,
        uvicorn_server,
    )

    app = create_mcp_app(
        service,
        host=args.hostname,
        default_options=options,
        max_body_bytes=args.max_body_bytes,
    )
    # Open MCP streams (GET /mcp) never end on their own: keep the grace short.
    endpoint = HttpEndpoint(
        uvicorn_server(app, tls=tls, shutdown_grace=min(args.shutdown_grace, 5.0), lifespan="on"),
        sock,
    )
    scheme = "https" if tls else "http"
    url = f"{scheme}://{display_address(args.hostname, endpoint.port)}{MCP_PATH}"

    def ready() -> None:
        print(
            f"encoderfile: MCP server for {service.model_id} ({service.model_type.snake}) "
            f"on {url}",
            file=sys.stderr,
            flush=True,
        )
        if on_ready is not None:
            on_ready()

    await run_servers(
        [endpoint], None, on_ready=ready, stop=stop, shutdown_grace=args.shutdown_grace
    )
