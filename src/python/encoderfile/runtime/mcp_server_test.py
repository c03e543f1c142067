"""MCP tests: the SDK's client over Streamable HTTP against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from encoderfile.format import ModelType
from encoderfile.runtime.mcp_server import TOOL_NAME, create_mcp_app
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import EMPTY_INPUT_MESSAGE
from encoderfile.runtime.transport_testing import FakeService, running_uvicorn

TIMEOUT = 20.0


def run_client(service: Any, body: Callable[[Client], Awaitable[None]], **app_kwargs: Any) -> None:
    app = create_mcp_app(service, **app_kwargs)
    with running_uvicorn(app) as base_url:

        async def main() -> None:
            with anyio.fail_after(TIMEOUT):
                async with Client(f"{base_url}/mcp", read_timeout_seconds=TIMEOUT) as client:
                    await body(client)

        anyio.run(main)


def test_list_tools_has_exactly_run_encoder() -> None:
    async def body(client: Client) -> None:
        assert client.server_capabilities.tools is not None
        result = await client.list_tools()
        assert [tool.name for tool in result.tools] == [TOOL_NAME]
        (tool,) = result.tools
        assert tool.input_schema["required"] == ["inputs"]
        assert tool.input_schema["properties"]["inputs"]["type"] == "array"
        assert "results" in tool.output_schema["properties"]

    run_client(FakeService(ModelType.SENTENCE_EMBEDDING), body)


@pytest.mark.parametrize(
    "model_type",
    [
        ModelType.EMBEDDING,
        ModelType.SENTENCE_EMBEDDING,
        ModelType.SEQUENCE_CLASSIFICATION,
        ModelType.TOKEN_CLASSIFICATION,
    ],
)
def test_call_run_encoder(model_type: ModelType) -> None:
    async def body(client: Client) -> None:
        result = await client.call_tool(
            TOOL_NAME, {"inputs": ["hello world"], "metadata": {"k": "v"}}
        )
        assert not result.is_error
        structured = result.structured_content
        assert structured["model_id"] == "fake-model"
        assert structured["metadata"] == {"k": "v"}
        assert len(structured["results"]) == 1
        assert isinstance(result.content[0], types.TextContent)

    run_client(FakeService(model_type), body)


def test_call_without_metadata_omits_it_and_applies_defaults() -> None:
    service = FakeService(ModelType.SEQUENCE_CLASSIFICATION)

    async def body(client: Client) -> None:
        result = await client.call_tool(TOOL_NAME, {"inputs": ["abc"]})
        assert "metadata" not in result.structured_content
        scores = result.structured_content["results"][0]["scores"]
        assert abs(sum(scores) - 1.0) < 1e-6

    run_client(service, body, default_options=PredictOptions(softmax=True, normalize=True))
    assert service.calls[-1][1] == PredictOptions(softmax=True)  # normalize dropped for classifiers


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"inputs": []}, EMPTY_INPUT_MESSAGE),
        ({"inputs": ["a", ""]}, EMPTY_INPUT_MESSAGE),
        ({"inputs": "text"}, "'inputs' must be a list of strings"),
        ({}, "missing field 'inputs'"),
        ({"inputs": ["__invalid__"]}, "the fake service refuses"),
    ],
)
def test_bad_input_is_invalid_request(arguments: dict, message: str) -> None:
    async def body(client: Client) -> None:
        with pytest.raises(MCPError) as info:
            await client.call_tool(TOOL_NAME, arguments)
        assert info.value.code == types.INVALID_REQUEST
        assert message in info.value.message

    run_client(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_unknown_tool_and_internal_error() -> None:
    async def body(client: Client) -> None:
        with pytest.raises(MCPError) as info:
            await client.call_tool("other_tool", {"inputs": ["a"]})
        assert info.value.code == types.INVALID_PARAMS
        with pytest.raises(MCPError) as info:
            await client.call_tool(TOOL_NAME, {"inputs": ["__boom__"]})
        assert info.value.code == types.INTERNAL_ERROR
        assert "the fake model exploded" in info.value.message
        result = await client.call_tool(TOOL_NAME, {"inputs": ["still alive"]})
        assert len(result.structured_content["results"]) == 1

    run_client(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_health_route() -> None:
    app = create_mcp_app(FakeService())
    with running_uvicorn(app) as base_url:
        response = httpx2.get(f"{base_url}/health", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == "OK!"
