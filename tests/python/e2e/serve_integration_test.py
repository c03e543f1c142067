"""End-to-end: `./file serve` (HTTP + gRPC) and `./file mcp` of real encoderfiles.

One server process per tiny model type (started together by the `servers` fixture) serves every
HTTP and gRPC check, then is stopped with SIGTERM (the last test of each group). Ports are chosen
by the OS (`--http-port 0`) and read from the startup line, so parallel runs never collide.
Loopback only, bounded timeouts; conftest.py kills whatever is left.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from encoderfile.proto import (
    embedding_pb2,
    embedding_pb2_grpc,
    metadata_pb2,
    sentence_embedding_pb2,
    sentence_embedding_pb2_grpc,
    sequence_classification_pb2,
    sequence_classification_pb2_grpc,
    token_classification_pb2,
    token_classification_pb2_grpc,
)

MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")
TIMEOUT = 30.0
TEXTS = ["The quick brown fox jumps over the lazy dog.", "hello world", "x"]
STUBS: dict[str, tuple[Any, Any]] = {
    "embedding": (embedding_pb2_grpc.EmbeddingInferenceStub, embedding_pb2.EmbeddingRequest),
    "sentence_embedding": (
        sentence_embedding_pb2_grpc.SentenceEmbeddingInferenceStub,
        sentence_embedding_pb2.SentenceEmbeddingRequest,
    ),
    "sequence_classification": (
        sequence_classification_pb2_grpc.SequenceClassificationInferenceStub,
        sequence_classification_pb2.SequenceClassificationRequest,
    ),
    "token_classification": (
        token_classification_pb2_grpc.TokenClassificationInferenceStub,
        token_classification_pb2.TokenClassificationRequest,
    ),
}


class Running:
    def __init__(self, model_type: str, server: Any) -> None:
        self.model_type = model_type
        self.server = server
        http = re.search(r"HTTP on http://127\.0\.0\.1:(\d+)", server.line)
        grpc_port = re.search(r"gRPC on 127\.0\.0\.1:(\d+)", server.line)
        assert http and grpc_port, server.line
        self.http = f"http://127.0.0.1:{http.group(1)}"
        self.grpc = f"127.0.0.1:{grpc_port.group(1)}"


@pytest.fixture(scope="module", params=MODEL_TYPES)
def served(request: pytest.FixtureRequest, servers: dict[str, Any]) -> Running:
    return Running(request.param, servers[request.param])


def _http(
    base: str, path: str, body: bytes | None = None, method: str | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        base + path,
        data=body,
        method=method or ("POST" if body is not None else "GET"),
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_health_and_model(served: Running) -> None:
    status, body = _http(served.http, "/health")
    assert (status, json.loads(body)) == (200, "OK!")
    status, body = _http(served.http, "/model")
    assert status == 200
    model = json.loads(body)
    assert model["model_id"] == f"tiny-{served.model_type.replace('_', '-')}"
    assert model["model_type"] == served.model_type
    if served.model_type.endswith("classification"):
        assert isinstance(model["id2label"], dict) and model["id2label"]
    else:
        assert model["id2label"] is None


def test_http_predict(served: Running, check: Callable) -> None:
    payload = {"inputs": TEXTS, "metadata": {"request": "e2e"}}
    status, body = _http(served.http, "/predict", json.dumps(payload).encode())
    assert status == 200, body
    result = json.loads(body)
    check(served.model_type, result, TEXTS)
    assert result["metadata"] == {"request": "e2e"}
    status, body = _http(served.http, "/predict", json.dumps({"inputs": ["x"]}).encode())
    assert status == 200 and "metadata" not in json.loads(body)


@pytest.mark.parametrize(
    "path,body,method",
    [
        ("/predict", b"{not json", None),
        ("/predict", b'{"inputs": []}', None),
        ("/predict", b'{"inputs": [""]}', None),
        ("/predict", b'{"inputs": "not a list"}', None),
        ("/predict", b'{"inputs": [1, 2]}', None),
        ("/predict", b"[]", None),
        ("/predict", None, "GET"),
        ("/no-such-route", None, "GET"),
    ],
    ids=["malformed", "empty", "empty-string", "string", "numbers", "array", "get", "404"],
)
def test_http_bad_requests_are_4xx_and_server_stays_up(
    served: Running, path: str, body: bytes | None, method: str | None
) -> None:
    status, text = _http(served.http, path, body, method)
    assert 400 <= status < 500, (status, text)
    status, text = _http(served.http, "/health")
    assert status == 200


def test_grpc_predict_metadata_health(served: Running) -> None:
    stub_class, request_class = STUBS[served.model_type]
    with grpc.insecure_channel(served.grpc) as channel:
        stub = stub_class(channel)
        response = stub.Predict(request_class(inputs=TEXTS, metadata={"k": "v"}), timeout=TIMEOUT)
        assert len(response.results) == len(TEXTS)
        assert response.model_id == f"tiny-{served.model_type.replace('_', '-')}"
        assert dict(response.metadata) == {"k": "v"}
        first = response.results[0]
        if served.model_type == "embedding":
            assert len(first.embeddings) > 0 and len(first.embeddings[0].embedding) > 0
            assert first.embeddings[0].token_info.token
        elif served.model_type == "sentence_embedding":
            assert len(first.embedding) > 0
        elif served.model_type == "sequence_classification":
            assert len(first.logits) == len(first.scores) > 0
            assert first.HasField("predicted_label")
        else:
            assert first.tokens and first.tokens[0].label
        meta = stub.GetModelMetadata(metadata_pb2.GetModelMetadataRequest(), timeout=TIMEOUT)
        assert meta.model_id == response.model_id
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request_class(inputs=[]), timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert _http(served.http, "/health")[0] == 200  # gRPC errors do not disturb HTTP


def test_sigterm_stops_serve_cleanly(served: Running, stop: Callable) -> None:
    """Last of each group: SIGTERM ends the server quickly with exit code 0."""
    rc, seconds, err = stop(served.server)
    assert rc == 0, err
    assert seconds < 5.0, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in err


def test_mcp_list_tools_and_run_encoder(
    servers: dict[str, Any], stop: Callable, check: Callable
) -> None:
    import anyio
    import mcp.types as types
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    server = servers["mcp"]
    match = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", server.line)
    assert match, server.line

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(match.group(1), read_timeout_seconds=TIMEOUT) as client:
                listed = await client.list_tools()
                assert [t.name for t in listed.tools] == ["run_encoder"]
                result = await client.call_tool("run_encoder", {"inputs": TEXTS})
                assert not result.is_error
                check("sequence_classification", result.structured_content, TEXTS)
                with pytest.raises(MCPError) as info:
                    await client.call_tool("run_encoder", {"inputs": []})
                assert info.value.code == types.INVALID_REQUEST

    anyio.run(main)
    rc, seconds, err = stop(server)
    assert rc == 0, err
    assert seconds < 5.0, f"took {seconds:.1f} s to stop"
