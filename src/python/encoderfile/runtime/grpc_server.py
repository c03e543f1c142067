"""The gRPC API (grpc.aio): the model type's inference service plus the standard health service.

Service and message names match the reference runtime (`encoderfile.<type>.<Type>Inference`, with
`Predict` and `GetModelMetadata`). Bad input -> INVALID_ARGUMENT with the user-facing message;
anything else -> INTERNAL. Runs on the caller's asyncio loop, so it shares the loop (and the
dynamic batcher) with the HTTP server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

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
    token_pb2,
)
from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import (
    NO_OPTIONS,
    applicable_options,
    log_failure,
    validate_inputs,
)
from encoderfile.runtime.serving import BindError

__all__ = ["BindError", "GrpcServer", "bind", "create_grpc_server", "model_metadata"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def _token_info(info: Mapping[str, Any]) -> token_pb2.TokenInfo:
    return token_pb2.TokenInfo(
        token=info["token"],
        token_id=int(info["token_id"]),
        start=int(info["start"]),
        end=int(info["end"]),
    )


def _embedding_response(results: Sequence[Mapping[str, Any]]) -> embedding_pb2.EmbeddingResponse:
    response = embedding_pb2.EmbeddingResponse()
    for result in results:
        sequence = response.results.add()
        for token in result["embeddings"]:
            item = sequence.embeddings.add()
            item.embedding.extend(token["embedding"])
            item.token_info.CopyFrom(_token_info(token["token_info"]))
    return response


def _sentence_embedding_response(
    results: Sequence[Mapping[str, Any]],
) -> sentence_embedding_pb2.SentenceEmbeddingResponse:
    response = sentence_embedding_pb2.SentenceEmbeddingResponse()
    for result in results:
        response.results.add().embedding.extend(result["embedding"])
    return response


def _sequence_classification_response(
    results: Sequence[Mapping[str, Any]],
) -> sequence_classification_pb2.SequenceClassificationResponse:
    response = sequence_classification_pb2.SequenceClassificationResponse()
    for result in results:
        item = response.results.add()
        item.logits.extend(result["logits"])
        item.scores.extend(result["scores"])
        item.predicted_index = int(result["predicted_index"])
        label = result.get("predicted_label")
        if label is not None:  # proto3 optional: absent, not "", when there is no label
            item.predicted_label = label
    return response


def _token_classification_response(
    results: Sequence[Mapping[str, Any]],
) -> token_classification_pb2.TokenClassificationResponse:
    response = token_classification_pb2.TokenClassificationResponse()
    for result in results:
        sequence = response.results.add()
        for token in result["tokens"]:
            item = sequence.tokens.add()
            item.token_info.CopyFrom(_token_info(token["token_info"]))
            item.scores.extend(token["scores"])
            item.label = token["label"]
            item.score = float(token["score"])
    return response


@dataclass(frozen=True)
class GrpcServiceSpec:
    """How one model type is exposed over gRPC."""

    full_name: str  # "encoderfile.embedding.EmbeddingInference", also the health service name
    add_to_server: Callable[[Any, Any], None]
    build_response: Callable[[Sequence[Mapping[str, Any]]], Any]


SERVICE_SPECS: dict[ModelType, GrpcServiceSpec] = {
    ModelType.EMBEDDING: GrpcServiceSpec(
        "encoderfile.embedding.EmbeddingInference",
        embedding_pb2_grpc.add_EmbeddingInferenceServicer_to_server,
        _embedding_response,
    ),
    ModelType.SENTENCE_EMBEDDING: GrpcServiceSpec(
        "encoderfile.sentence_embedding.SentenceEmbeddingInference",
        sentence_embedding_pb2_grpc.add_SentenceEmbeddingInferenceServicer_to_server,
        _sentence_embedding_response,
    ),
    ModelType.SEQUENCE_CLASSIFICATION: GrpcServiceSpec(
        "encoderfile.sequence_classification.SequenceClassificationInference",
        sequence_classification_pb2_grpc.add_SequenceClassificationInferenceServicer_to_server,
        _sequence_classification_response,
    ),
    ModelType.TOKEN_CLASSIFICATION: GrpcServiceSpec(
        "encoderfile.token_classification.TokenClassificationInference",
        token_classification_pb2_grpc.add_TokenClassificationInferenceServicer_to_server,
        _token_classification_response,
    ),
}


def model_metadata(service: Any) -> metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata's answer: model id, type and id2label (uint32 keys)."""
    response = metadata_pb2.GetModelMetadataResponse(
        model_id=service.model_id, model_type=service.model_type.proto_value
    )
    for key, label in (service.id2label or {}).items():
        response.id2label[int(key)] = label
    return response


class InferenceServicer:
    """Implements Predict and GetModelMetadata for whichever model type `service` has."""

    def __init__(self, service: Any, spec: GrpcServiceSpec, default_options: PredictOptions):
        self._service = service
        self._spec = spec
        self._options = default_options

    async def Predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        code, message = grpc.StatusCode.INTERNAL, ""
        try:
            inputs = validate_inputs(list(request.inputs))
            results = await self._service.predict(inputs, self._options)
            response = self._spec.build_response(results)
            response.model_id = self._service.model_id
            response.metadata.update(request.metadata)
            return response
        except RuntimeInputError as exc:
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except Exception as exc:  # noqa: BLE001 - a request must never take the server down
            log_failure(logger, "gRPC Predict failed: %s: %s", type(exc).__name__, exc, exc=exc)
            message = f"internal error: {type(exc).__name__}: {exc}"
        # abort() raises; it is called outside the try so the except clauses cannot swallow it.
        await context.abort(code, message)

    async def GetModelMetadata(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> metadata_pb2.GetModelMetadataResponse:
        try:
            return model_metadata(self._service)
        except Exception as exc:  # noqa: BLE001
            log_failure(logger, "gRPC GetModelMetadata failed: %s", exc, exc=exc)
            message = f"internal error: {type(exc).__name__}: {exc}"
        await context.abort(grpc.StatusCode.INTERNAL, message)


@dataclass
class GrpcServer:
    """A configured grpc.aio server and its health servicer."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    service_name: str

    async def start(self) -> None:
        await self.server.start()
        for name in ("", self.service_name):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float | None) -> None:
        """Stop accepting RPCs; in-flight RPCs get `grace` seconds to finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def create_grpc_server(
    service: Any,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    default_options: PredictOptions = NO_OPTIONS,
) -> GrpcServer:
    """A grpc.aio server (not started, no port yet) serving `service`'s model type.

    Raises:
        ValueError: the model type has no gRPC service (image models).
    """
    spec = SERVICE_SPECS.get(service.model_type)
    if spec is None:
        raise ValueError(f"model type {service.model_type.snake} has no gRPC service")
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
        # gRPC sets SO_REUSEPORT by default, so a second server would silently share the port;
        # turning it off makes "address already in use" an error we can report.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options)
    default_options = applicable_options(service.model_type, default_options)
    spec.add_to_server(InferenceServicer(service, spec, default_options), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    return GrpcServer(server=server, health=health, service_name=spec.full_name)


def grpc_address(host: str, port: int) -> str:
    """host:port for grpc, with IPv6 literals bracketed."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def bind(
    server: GrpcServer,
    host: str,
    port: int,
    *,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
) -> int:
    """Listen on host:port (TLS when a certificate and key are given); returns the bound port.

    Raises:
        BindError: the address cannot be bound (in use, not local, no permission).
    """
    address = grpc_address(host, port)
    try:
        if certificate_chain is not None and private_key is not None:
            credentials = grpc.ssl_server_credentials([(private_key, certificate_chain)])
            bound = server.server.add_secure_port(address, credentials)
        else:
            bound = server.server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc raises RuntimeError("Failed to bind to address ...")
        raise BindError(
            f"gRPC cannot listen on {address}: {exc} (is the port in use? choose another "
            "with --grpc-port)"
        ) from None
    if not bound:
        raise BindError(
            f"gRPC cannot listen on {address} (is the port in use? choose another with "
            "--grpc-port)"
        )
    return int(bound)
