"""HTTP API tests against the Starlette app with a fake service (every route, every bad request)."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from encoderfile.format import ModelType
from encoderfile.runtime.http_server import create_http_app
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import EMPTY_INPUT_MESSAGE
from encoderfile.runtime.transport_testing import FakeService

ALL_TYPES = [
    ModelType.EMBEDDING,
    ModelType.SENTENCE_EMBEDDING,
    ModelType.SEQUENCE_CLASSIFICATION,
    ModelType.TOKEN_CLASSIFICATION,
]


def _client(service: Any, **kwargs: Any) -> TestClient:
    app = create_http_app(service, **kwargs)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture()
def service() -> FakeService:
    return FakeService(ModelType.SENTENCE_EMBEDDING)


@pytest.fixture()
def client(service: FakeService) -> Iterator[TestClient]:
    with _client(service, max_body_bytes=4096) as c:
        yield c


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == "OK!"
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_model(model_type: ModelType) -> None:
    with _client(FakeService(model_type)) as c:
        body = c.get("/model").json()
    assert body["model_id"] == "fake-model"
    assert body["model_type"] == model_type.snake
    if model_type in (ModelType.SEQUENCE_CLASSIFICATION, ModelType.TOKEN_CLASSIFICATION):
        assert body["id2label"]["0"]
    else:
        assert body["id2label"] is None


def test_predict_sentence_embedding(client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": ["hello world", "a"]})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "model_id"}  # no metadata key when none was sent
    assert body["model_id"] == "fake-model"
    assert body["results"] == [
        {"embedding": [11.0, 2.0, 1.0, 0.0]},
        {"embedding": [1.0, 1.0, 1.0, 0.0]},
    ]


def test_predict_metadata_echo(client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": ["x"], "metadata": {"k": "v", "n": "1"}})
    assert response.status_code == 200
    assert response.json()["metadata"] == {"k": "v", "n": "1"}
    response = client.post("/predict", json={"inputs": ["x"], "metadata": {}})
    assert response.json()["metadata"] == {}


def test_predict_options_merge_with_defaults() -> None:
    service = FakeService(ModelType.SEQUENCE_CLASSIFICATION)
    with _client(service, default_options=PredictOptions(softmax=True)) as c:
        body = c.post("/predict", json={"inputs": ["abc"]}).json()
        scores = body["results"][0]["scores"]
        assert abs(sum(scores) - 1.0) < 1e-6
        assert service.calls[-1][1] == PredictOptions(softmax=True)
        body = c.post("/predict", json={"inputs": ["abc"], "softmax": False}).json()
        result = body["results"][0]
        assert result["scores"] == result["logits"]
        assert service.calls[-1][1] == PredictOptions(softmax=False)


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_predict_shapes_per_model_type(model_type: ModelType) -> None:
    with _client(FakeService(model_type)) as c:
        body = c.post("/predict", json={"inputs": ["hello big world"]}).json()
    (result,) = body["results"]
    if model_type is ModelType.EMBEDDING:
        tokens = result["embeddings"]
        assert [t["token_info"]["token"] for t in tokens] == ["hello", "big", "world"]
        assert tokens[1]["token_info"]["start"] == 6 and tokens[1]["token_info"]["end"] == 9
    elif model_type is ModelType.SENTENCE_EMBEDDING:
        assert len(result["embedding"]) == 4
    elif model_type is ModelType.SEQUENCE_CLASSIFICATION:
        assert set(result) == {"logits", "scores", "predicted_index", "predicted_label"}
    else:
        assert [t["label"] for t in result["tokens"]] == ["B-PER", "I-PER", "I-PER"]


BAD_BODIES = [
    (b"{not json", "malformed JSON"),
    (b'{"inputs": ["a"', "malformed JSON"),
    (b"\xff\xfe", "not valid UTF-8"),
    (b"", "request body is empty"),
    (b"[]", "must be a JSON object"),
    (b'"text"', "must be a JSON object"),
    (b"{}", "missing field 'inputs'"),
    (b'{"inputs": null}', "missing field 'inputs'"),
    (b'{"inputs": "hello"}', "'inputs' must be a list of strings, got string"),
    (b'{"inputs": [1, 2]}', "inputs[0] must be a string, got number"),
    (b'{"inputs": ["a", null]}', "inputs[1] must be a string, got null"),
    (b'{"inputs": []}', EMPTY_INPUT_MESSAGE),
    (b'{"inputs": ["ok", ""]}', EMPTY_INPUT_MESSAGE + " (inputs[1])"),
    (b'{"inputs": ["a"], "metadata": ["x"]}', "'metadata' must be an object"),
    (b'{"inputs": ["a"], "metadata": {"k": 1}}', "metadata['k'] must be a string"),
    (b'{"inputs": ["a"], "normalize": "yes"}', "'normalize' must be a boolean"),
    (b'{"inputs": ["a"], "aggregation": "max"}', "unknown aggregation"),
    (b"[" * 100000 + b"]" * 100000, None),
]


@pytest.mark.parametrize("payload,message", BAD_BODIES)
def test_predict_bad_requests_are_422(payload: bytes, message: str | None) -> None:
    with _client(FakeService(), max_body_bytes=1 << 20) as c:
        response = c.post("/predict", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    if message is not None:
        assert message in error


def test_empty_input_message_matches_reference(client: TestClient) -> None:
    for body in ({"inputs": []}, {"inputs": [""]}):
        response = client.post("/predict", json=body)
        assert response.status_code == 422
        assert response.json()["error"].startswith("Cannot tokenize empty string")


def test_service_input_error_is_422(client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": ["__invalid__"]})
    assert response.status_code == 422
    assert response.json() == {"error": "the fake service refuses '__invalid__'"}


def test_internal_error_is_500_and_server_survives(client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": ["__boom__"]})
    assert response.status_code == 500
    assert "the fake model exploded" in response.json()["error"]
    assert client.post("/predict", json={"inputs": ["fine"]}).status_code == 200


def test_nan_is_500_with_message(client: TestClient) -> None:
    response = client.post("/predict", json={"inputs": ["__nan__"]})
    assert response.status_code == 500
    assert "non-finite" in response.json()["error"]


def test_body_over_limit_is_413(client: TestClient, service: FakeService) -> None:
    big = json.dumps({"inputs": ["x" * 5000]}).encode()
    response = client.post("/predict", content=big)
    assert response.status_code == 413
    assert "4096" in response.json()["error"]
    assert service.calls == []


def test_streamed_body_over_limit_is_413(client: TestClient, service: FakeService) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"inputs": ["'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"]}'

    response = client.post("/predict", content=chunks())
    assert response.status_code == 413
    assert service.calls == []


def test_lying_content_length_is_refused(client: TestClient) -> None:
    response = client.post("/predict", content=b"{}", headers={"content-length": "999999999"})
    assert response.status_code == 413


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
    response = client.get("/predict")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.json()["error"] == "Method Not Allowed"
    assert client.post("/health").status_code == 405


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_openapi(model_type: ModelType) -> None:
    with _client(FakeService(model_type)) as c:
        response = c.get("/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert {"/health", "/model", "/predict", "/openapi.json"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    results = schemas["PredictResponse"]["properties"]["results"]["items"]
    key = {
        ModelType.EMBEDDING: "embeddings",
        ModelType.SENTENCE_EMBEDDING: "embedding",
        ModelType.SEQUENCE_CLASSIFICATION: "predicted_index",
        ModelType.TOKEN_CLASSIFICATION: "tokens",
    }[model_type]
    assert key in results["properties"]
    has_embeddings = model_type in (ModelType.EMBEDDING, ModelType.SENTENCE_EMBEDDING)
    assert ("/v1/embeddings" in doc["paths"]) == has_embeddings
    # every $ref resolves
    text = response.text
    for ref in {part.split('"')[0] for part in text.split('"$ref":"')[1:]}:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas


def test_openapi_validates_responses() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for model_type in ALL_TYPES:
        with _client(FakeService(model_type)) as c:
            doc = c.get("/openapi.json").json()
            body = c.post("/predict", json={"inputs": ["a b"], "metadata": {"k": "v"}}).json()
            model = c.get("/model").json()
        schemas = doc["components"]["schemas"]
        jsonschema.validate(body, schemas["PredictResponse"])
        jsonschema.validate({"inputs": ["a"]}, schemas["PredictRequest"])
        jsonschema.validate(model, schemas["ModelInfo"])


# --- OpenAI-compatible /v1/embeddings -------------------------------------------------------


def test_v1_embeddings_sentence(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"input": ["hello world", "b"], "model": "x"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "fake-model"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert body["data"][0] == {
        "object": "embedding",
        "index": 0,
        "embedding": [11.0, 2.0, 1.0, 0.0],
    }
    assert body["usage"] == {"prompt_tokens": 4 + 3, "total_tokens": 7}


def test_v1_embeddings_single_string_and_base64(client: TestClient) -> None:
    body = client.post("/v1/embeddings", json={"input": "ab", "encoding_format": "base64"}).json()
    (item,) = body["data"]
    raw = base64.b64decode(item["embedding"])
    assert struct.unpack("<4f", raw) == (2.0, 1.0, 1.0, 0.0)


def test_v1_embeddings_dimensions(client: TestClient) -> None:
    body = client.post("/v1/embeddings", json={"input": "abc", "dimensions": 2}).json()
    vector = body["data"][0]["embedding"]
    assert len(vector) == 2
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-9
    response = client.post("/v1/embeddings", json={"input": "abc", "dimensions": 5})
    assert response.status_code == 400
    assert "4 dimensions" in response.json()["error"]["message"]


def test_v1_embeddings_token_embeddings_are_mean_pooled() -> None:
    with _client(FakeService(ModelType.EMBEDDING)) as c:
        body = c.post("/v1/embeddings", json={"input": ["ab cdef"]}).json()
    # token vectors [2, 0, 1, .5] and [4, 1, 1, .5]
    assert body["data"][0]["embedding"] == pytest.approx([3.0, 0.5, 1.0, 0.5])


@pytest.mark.parametrize(
    "payload,message",
    [
        ({"input": ""}, EMPTY_INPUT_MESSAGE),
        ({"input": []}, EMPTY_INPUT_MESSAGE),
        ({"input": [1, 2, 3]}, "token id arrays are not supported"),
        ({"input": [[1, 2]]}, "token id arrays are not supported"),
        ({"model": "m"}, "missing field 'inputs'"),
        ({"input": "a", "encoding_format": "int8"}, "'encoding_format'"),
        ({"input": "a", "dimensions": 0}, "'dimensions'"),
        ({"input": "a", "dimensions": True}, "'dimensions'"),
        (["a"], "must be a JSON object"),
    ],
)
def test_v1_embeddings_bad_requests(client: TestClient, payload: Any, message: str) -> None:
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert message.replace("'inputs'", "") in error["message"] or message in error["message"]


def test_v1_embeddings_malformed_json(client: TestClient) -> None:
    response = client.post("/v1/embeddings", content=b"{oops")
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "model_type", [ModelType.SEQUENCE_CLASSIFICATION, ModelType.TOKEN_CLASSIFICATION]
)
def test_v1_embeddings_refused_for_classifiers(model_type: ModelType) -> None:
    with _client(FakeService(model_type)) as c:
        response = c.post("/v1/embeddings", json={"input": "hello"})
    assert response.status_code == 404
    assert "does not produce embeddings" in response.json()["error"]["message"]


def test_v1_embeddings_internal_error(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"input": "__boom__"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_v1_models(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["data"][0]["id"] == "fake-model"


def test_invalid_limit() -> None:
    with pytest.raises(ValueError):
        create_http_app(FakeService(), max_body_bytes=0)
