"""The MCP server: Streamable HTTP at /mcp with exactly one tool, `run_encoder`.

`run_encoder` takes the /predict request body as its arguments and returns the /predict response
as its structured result (and as JSON text content, for clients that only read text). Bad input
is an MCP error with code INVALID_REQUEST (as the reference) and the user-facing message.
Built on the SDK's low-level `Server` so the tool's input and output schemas are exactly ours.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp.types as types
from mcp.server import Server
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import (
    NO_OPTIONS,
    applicable_options,
    dumps_json,
    log_failure,
    merge_options,
    parse_predict_request,
    predict_request_schema,
    predict_response,
    predict_response_schema,
)

logger = logging.getLogger(__name__)

TOOL_NAME = "run_encoder"
MCP_PATH = "/mcp"
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


def tool_description(service: Any) -> str:
    kind = service.model_type.snake.replace("_", " ")
    return (
        f"Run the {kind} model '{service.model_id}' on a list of texts. Arguments are the "
        "/predict request body ({'inputs': [...], 'metadata'?: {...}}); the result is the "
        "/predict response (one result per input, in order)."
    )


def create_mcp_server(
    service: Any, *, default_options: PredictOptions = NO_OPTIONS, version: str = ""
) -> Server:
    """A low-level MCP server with the single `run_encoder` tool for `service`."""
    model_type = service.model_type
    defaults = applicable_options(model_type, default_options)
    tool = types.Tool(
        name=TOOL_NAME,
        title=f"Run {service.model_id}",
        description=tool_description(service),
        input_schema=predict_request_schema(model_type),
        output_schema=predict_response_schema(model_type),
        annotations=types.ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name != TOOL_NAME:
            raise MCPError(
                types.INVALID_PARAMS,
                f"unknown tool {params.name!r}; the only tool is {TOOL_NAME!r}",
            )
        try:
            request = parse_predict_request(params.arguments or {})
            options = merge_options(defaults, request.options)
            results = await service.predict(request.inputs, options)
            body = predict_response(results, service.model_id, request.metadata)
            text = dumps_json(body).decode("utf-8")
        except RuntimeInputError as exc:
            raise MCPError(types.INVALID_REQUEST, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a request must never take the server down
            log_failure(logger, "MCP run_encoder failed: %s: %s", type(exc).__name__, exc, exc=exc)
            raise MCPError(
                types.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}"
            ) from None
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=body)

    return Server(
        "encoderfile",
        version=version,
        title=f"encoderfile: {service.model_id}",
        instructions=tool_description(service),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def create_mcp_app(
    service: Any,
    *,
    host: str = "127.0.0.1",
    default_options: PredictOptions = NO_OPTIONS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    version: str = "",
) -> Starlette:
    """The Starlette app: Streamable HTTP MCP at /mcp, plus GET /health.

    `host` is the address the server binds: for loopback addresses the SDK turns on DNS-rebinding
    protection (Host/Origin checks). The app's lifespan runs the MCP session manager, so serve it
    with lifespan enabled (uvicorn's default "auto" does).
    """
    server = create_mcp_server(service, default_options=default_options, version=version)

    async def health(request: Request) -> Response:
        return Response(b'"OK!"', media_type="application/json")

    return server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        max_request_body_size=max_body_bytes,
        custom_starlette_routes=[Route("/health", health, methods=["GET"])],
    )
