"""gRPC tests: a real grpc.aio server on 127.0.0.1 (port 0) and generated client stubs."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from encoderfile.format import ModelType
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
from encoderfile.runtime.grpc_server import BindError, bind, create_grpc_server, grpc_address
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import EMPTY_INPUT_MESSAGE
from encoderfile.runtime.transport_testing import FakeService

TIMEOUT = 10.0

STUBS = {
    ModelType.EMBEDDING: (
        embedding_pb2_grpc.EmbeddingInferenceStub,
        embedding_pb2.EmbeddingRequest,
    ),
    ModelType.SENTENCE_EMBEDDING: (
        sentence_embedding_pb2_grpc.SentenceEmbeddingInferenceStub,
        sentence_embedding_pb2.SentenceEmbeddingRequest,
    ),
    ModelType.SEQUENCE_CLASSIFICATION: (
        sequence_classification_pb2_grpc.SequenceClassificationInferenceStub,
        sequence_classification_pb2.SequenceClassificationRequest,
    ),
    ModelType.TOKEN_CLASSIFICATION: (
        token_classification_pb2_grpc.TokenClassificationInferenceStub,
        token_classification_pb2.TokenClassificationRequest,
    ),
}


def run_with_server(
    service: Any,
    body: Callable[[grpc.aio.Channel, Any], Awaitable[None]],
    **server_kwargs: Any,
) -> None:
    """Start a server for `service`, run `body(channel, stub)` against it, always stop it."""

    async def main() -> None:
        server = create_grpc_server(service, **server_kwargs)
        port = bind(server, "127.0.0.1", 0)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = STUBS[service.model_type][0](channel)
                await body(channel, stub)
        finally:
            await server.stop(None)

    asyncio.run(asyncio.wait_for(main(), 30))


def _request(model_type: ModelType, inputs: list[str], metadata: dict | None = None) -> Any:
    return STUBS[model_type][1](inputs=inputs, metadata=metadata or {})


def test_sentence_embedding_predict_and_metadata_echo() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        request = _request(ModelType.SENTENCE_EMBEDDING, ["hello world", "x"], {"k": "v"})
        response = await stub.Predict(request, timeout=TIMEOUT)
        assert response.model_id == "fake-model"
        assert dict(response.metadata) == {"k": "v"}
        assert [list(r.embedding) for r in response.results] == [
            [11.0, 2.0, 1.0, 0.0],
            [1.0, 1.0, 1.0, 0.0],
        ]

    run_with_server(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_embedding_predict() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        response = await stub.Predict(_request(ModelType.EMBEDDING, ["ab cde"]), timeout=TIMEOUT)
        (sequence,) = response.results
        infos = [
            (e.token_info.token, e.token_info.start, e.token_info.end) for e in sequence.embeddings
        ]
        assert infos == [("ab", 0, 2), ("cde", 3, 6)]
        assert list(sequence.embeddings[1].embedding) == [3.0, 1.0, 1.0, 0.5]

    run_with_server(FakeService(ModelType.EMBEDDING), body)


def test_sequence_classification_predict_with_default_softmax() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        request = _request(ModelType.SEQUENCE_CLASSIFICATION, ["abc", "abcd"])
        response = await stub.Predict(request, timeout=TIMEOUT)
        for result in response.results:
            assert abs(sum(result.scores) - 1.0) < 1e-6
            assert result.HasField("predicted_label")
            assert result.predicted_label in ("NEGATIVE", "POSITIVE")

    run_with_server(
        FakeService(ModelType.SEQUENCE_CLASSIFICATION),
        body,
        default_options=PredictOptions(softmax=True),
    )


def test_token_classification_predict() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        response = await stub.Predict(
            _request(ModelType.TOKEN_CLASSIFICATION, ["John Smith"]), timeout=TIMEOUT
        )
        tokens = response.results[0].tokens
        assert [t.label for t in tokens] == ["B-PER", "I-PER"]
        assert tokens[0].token_info.token == "John"
        assert tokens[0].score == pytest.approx(2.0)

    run_with_server(FakeService(ModelType.TOKEN_CLASSIFICATION), body)


@pytest.mark.parametrize("model_type", list(STUBS))
def test_get_model_metadata(model_type: ModelType) -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        response = await stub.GetModelMetadata(
            metadata_pb2.GetModelMetadataRequest(), timeout=TIMEOUT
        )
        assert response.model_id == "fake-model"
        assert response.model_type == model_type.proto_value
        if model_type is ModelType.SEQUENCE_CLASSIFICATION:
            assert dict(response.id2label) == {0: "NEGATIVE", 1: "POSITIVE"}
        elif model_type is ModelType.EMBEDDING:
            assert dict(response.id2label) == {}

    run_with_server(FakeService(model_type), body)


@pytest.mark.parametrize(
    "inputs,message",
    [
        ([], EMPTY_INPUT_MESSAGE),
        (["ok", ""], EMPTY_INPUT_MESSAGE + " (inputs[1])"),
        (["__invalid__"], "the fake service refuses '__invalid__'"),
    ],
)
def test_invalid_input_is_invalid_argument(inputs: list[str], message: str) -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Predict(_request(ModelType.SENTENCE_EMBEDDING, inputs), timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in info.value.details()

    run_with_server(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_internal_error_is_internal_and_server_survives() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Predict(
                _request(ModelType.SENTENCE_EMBEDDING, ["__boom__"]), timeout=TIMEOUT
            )
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "the fake model exploded" in info.value.details()
        response = await stub.Predict(
            _request(ModelType.SENTENCE_EMBEDDING, ["ok"]), timeout=TIMEOUT
        )
        assert len(response.results) == 1

    run_with_server(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_message_size_limit() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        request = _request(ModelType.SENTENCE_EMBEDDING, ["x" * 5000])
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Predict(request, timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    run_with_server(FakeService(ModelType.SENTENCE_EMBEDDING), body, max_message_bytes=1024)


def test_health_service() -> None:
    async def body(channel: grpc.aio.Channel, stub: Any) -> None:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "encoderfile.sentence_embedding.SentenceEmbeddingInference"):
            response = await health.Check(
                health_pb2.HealthCheckRequest(service=name), timeout=TIMEOUT
            )
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND

    run_with_server(FakeService(ModelType.SENTENCE_EMBEDDING), body)


def test_port_in_use_is_bind_error() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def main() -> None:
        server = create_grpc_server(FakeService())
        with pytest.raises(BindError, match="is the port in use"):
            bind(server, "127.0.0.1", port)
        await server.stop(None)

    try:
        asyncio.run(asyncio.wait_for(main(), 10))
    finally:
        holder.close()


def test_grpc_address_brackets_ipv6() -> None:
    assert grpc_address("::", 1) == "[::]:1"
    assert grpc_address("[::1]", 2) == "[::1]:2"
    assert grpc_address("127.0.0.1", 3) == "127.0.0.1:3"


def test_image_model_type_has_no_service() -> None:
    with pytest.raises(ValueError, match="no gRPC service"):
        create_grpc_server(FakeService(ModelType.IMAGE_CLASSIFICATION))
