"""HTTP, gRPC and MCP against the real InferenceService for all four tiny model types."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any, Iterator

import grpc
import httpx2
import pytest
from starlette.testclient import TestClient

from encoderfile.format import ModelType
from encoderfile.proto import metadata_pb2
from encoderfile.runtime.grpc_server import bind, create_grpc_server
from encoderfile.runtime.grpc_server_test import STUBS
from encoderfile.runtime.http_server import create_http_app
from encoderfile.runtime.mcp_server import create_mcp_app
from encoderfile.runtime.predict_api import predict_response_schema
from encoderfile.runtime.transport_testing import running_uvicorn

jsonschema = pytest.importorskip("jsonschema")
from encoderfile.runtime import testing  # noqa: E402

TIMEOUT = 20.0
TYPES = [
    ModelType.EMBEDDING,
    ModelType.SENTENCE_EMBEDDING,
    ModelType.SEQUENCE_CLASSIFICATION,
    ModelType.TOKEN_CLASSIFICATION,
]
TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.", "x"]


@pytest.fixture(scope="module", params=TYPES, ids=lambda t: t.snake)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from encoderfile.runtime.batching import BatchingConfig
    from encoderfile.runtime.options import InferenceOptions
    from encoderfile.runtime.service import InferenceService

    model_type: ModelType = request.param
    try:
        path = testing.build_test_encoderfile(tmp_path_factory.mktemp("ef"), model_type.snake)
    except FileNotFoundError as exc:
        pytest.skip(f"tiny models not available: {exc}")
    svc = InferenceService.from_encoderfile(
        path, InferenceOptions(), batching=BatchingConfig(max_wait_ms=2.0)
    )
    yield svc
    svc.close()


@pytest.fixture()
def client(service: Any) -> Iterator[TestClient]:
    with TestClient(create_http_app(service), raise_server_exceptions=False) as c:
        yield c


def test_http_predict_matches_service_and_schema(service: Any, client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": TEXTS, "metadata": {"k": "v"}})
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, predict_response_schema(service.model_type))
    assert body["metadata"] == {"k": "v"}
    assert body["model_id"] == service.model_id
    assert len(body["results"]) == len(TEXTS)
    expected = service.predict_sync(TEXTS)
    assert _flatten(body["results"]) == pytest.approx(_flatten(expected), rel=1e-5, abs=1e-6)


def test_http_model_and_openapi(service: Any, client: TestClient) -> None:
    info = client.get("/model").json()
    assert info == service.model_info()
    assert info["model_type"] == service.model_type.snake
    doc = client.get("/openapi.json").json()
    body = client.post("/predict", json={"inputs": ["a b c"]}).json()
    jsonschema.validate(body, doc["components"]["schemas"]["PredictResponse"])


def test_http_options(service: Any, client: TestClient) -> None:
    snake = service.model_type.snake
    if snake in ("embedding", "sentence_embedding"):
        body = client.post("/predict", json={"inputs": ["hello"], "normalize": True}).json()
        result = body["results"][0]
        vector = (
            result["embedding"] if "embedding" in result else result["embeddings"][0]["embedding"]
        )
        assert math.sqrt(sum(v * v for v in vector)) == pytest.approx(1.0, rel=1e-4)
        wrong = client.post("/predict", json={"inputs": ["hello"], "softmax": True})
        assert wrong.status_code == 422 and "softmax" in wrong.json()["error"]
    else:
        body = client.post("/predict", json={"inputs": ["hello world"], "softmax": True}).json()
        result = body["results"][0]
        scores = result["scores"] if "scores" in result else result["tokens"][0]["scores"]
        assert sum(scores) == pytest.approx(1.0, rel=1e-4)
    if snake == "token_classification":
        body = client.post(
            "/predict", json={"inputs": ["John Smith lives in Paris"], "aggregation": "simple"}
        ).json()
        jsonschema.validate(body, predict_response_schema(service.model_type))
        assert "entities" in body["results"][0]


def test_http_errors(client: TestClient) -> None:
    for payload in ({"inputs": []}, {"inputs": [""]}):
        response = client.post("/predict", json=payload)
        assert response.status_code == 422
        assert response.json()["error"].startswith("Cannot tokenize empty string")


def test_v1_embeddings(service: Any, client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"input": TEXTS, "model": "any"})
    if service.model_type not in (ModelType.EMBEDDING, ModelType.SENTENCE_EMBEDDING):
        assert response.status_code == 404
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    dims = {len(d["embedding"]) for d in body["data"]}
    assert len(dims) == 1 and dims.pop() > 1
    # Every input costs at least [CLS] + one token + [SEP].
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] >= 3 * len(TEXTS)
    assert body["usage"]["prompt_tokens"] == sum(service.count_tokens(TEXTS))


def test_concurrent_requests_are_batched_correctly(service: Any) -> None:
    """Many clients at once through the dynamic batcher: each gets its own results."""
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(24)]
    expected = {t: service.predict_sync([t]) for t in texts}

    async def main(base: str) -> None:
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            responses = await asyncio.gather(
                *(http.post(f"{base}/predict", json={"inputs": [t]}) for t in texts)
            )
        for text, response in zip(texts, responses):
            assert response.status_code == 200
            got = response.json()["results"]
            assert _flatten(got) == pytest.approx(_flatten(expected[text]), rel=1e-4, abs=1e-5)

    with running_uvicorn(create_http_app(service)) as base:
        asyncio.run(asyncio.wait_for(main(base), 60))


def test_grpc(service: Any) -> None:
    stub_class, request_class = STUBS[service.model_type]

    async def main() -> None:
        server = create_grpc_server(service)
        port = bind(server, "127.0.0.1", 0)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = stub_class(channel)
                response = await stub.Predict(
                    request_class(inputs=TEXTS, metadata={"k": "v"}), timeout=TIMEOUT
                )
                assert response.model_id == service.model_id
                assert dict(response.metadata) == {"k": "v"}
                assert len(response.results) == len(TEXTS)
                meta = await stub.GetModelMetadata(
                    metadata_pb2.GetModelMetadataRequest(), timeout=TIMEOUT
                )
                assert meta.model_type == service.model_type.proto_value
                assert dict(meta.id2label) == dict(service.id2label or {})
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Predict(request_class(inputs=[""]), timeout=TIMEOUT)
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            await server.stop(None)

    asyncio.run(asyncio.wait_for(main(), 60))


def test_mcp(service: Any) -> None:
    import anyio
    from mcp import Client

    with running_uvicorn(create_mcp_app(service)) as base:

        async def main() -> None:
            with anyio.fail_after(TIMEOUT):
                async with Client(f"{base}/mcp", read_timeout_seconds=TIMEOUT) as client:
                    result = await client.call_tool("run_encoder", {"inputs": TEXTS})
                    assert len(result.structured_content["results"]) == len(TEXTS)

        anyio.run(main)


def _flatten(value: Any) -> list[float]:
    """Every number in a nested result, in order (labels and token strings are dropped)."""
    out: list[float] = []
    if isinstance(value, bool):
        return out
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        for key in sorted(value):
            out.extend(_flatten(value[key]))
    elif isinstance(value, (list, tuple)):
        for item in value:
            out.extend(_flatten(item))
    return out


def test_flatten_helper() -> None:
    assert _flatten({"b": [1, 2], "a": {"x": 3.5, "s": "str"}}) == [3.5, 1.0, 2.0]
    assert Path(__file__).name.endswith("_test.py")
