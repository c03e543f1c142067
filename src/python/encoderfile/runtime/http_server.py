"""The HTTP API (Starlette): /health, /model, /predict, /openapi.json, /v1/embeddings, /v1/models.

Shapes match the reference runtime; every failure is a JSON error with a status code, and no
request can take the server down. Request bodies are capped at `max_body_bytes`, checked against
Content-Length first and counted while streaming (so a huge body is never read whole).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import sys
from array import array
from typing import Any, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from encoderfile.format import ModelType
from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.openapi import EMBEDDING_TYPES, build_openapi
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import (
    NO_OPTIONS,
    applicable_options,
    dumps_json,
    log_failure,
    merge_options,
    parse_predict_request,
    predict_response,
    validate_inputs,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

_NON_FINITE_MESSAGE = (
    "the model produced a non-finite value (NaN or infinity), which JSON cannot represent"
)


class ApiError(Exception):
    """An HTTP error with a status code and a user-facing message."""

    def __init__(self, status: int, message: str, *, openai_type: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.openai_type = openai_type


def json_response(body: Any, status: int = 200) -> Response:
    return Response(dumps_json(body), status_code=status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def openai_error_response(status: int, message: str, error_type: str, param: str | None = None):
    body = {"error": {"message": message, "type": error_type, "param": param, "code": None}}
    return json_response(body, status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(400, f"invalid Content-Length header {declared!r}") from None
        if length > limit:
            raise ApiError(
                413,
                f"request body is {length} bytes; the limit is {limit} bytes "
                "(start the server with a larger --max-body-bytes)",
            )
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(
                413,
                f"request body exceeds the limit of {limit} bytes "
                "(start the server with a larger --max-body-bytes)",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """Decode the body as JSON; malformed JSON is the client's fault (422)."""
    body = await read_body(request, limit)
    if not body.strip():
        raise ApiError(422, "request body is empty; expected a JSON object")
    try:
        # RFC 8259: JSON on the wire is UTF-8 (json.loads(bytes) would also guess UTF-16/32).
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"request body is not valid UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            422, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ApiError(422, "malformed JSON: nested too deeply") from None


def _internal_error(route: str, exc: BaseException) -> Response:
    log_failure(logger, "%s failed: %s: %s", route, type(exc).__name__, exc, exc=exc)
    return error_response(500, f"internal error: {type(exc).__name__}: {exc}")


def _serialise(body: Any) -> Response:
    try:
        return json_response(body)
    except ValueError as exc:
        if "JSON compliant" in str(exc) or "Out of range float" in str(exc):
            logger.error("response not serialisable: %s", exc)
            return error_response(500, _NON_FINITE_MESSAGE)
        raise


def _mean(vectors: Sequence[Sequence[float]]) -> list[float]:
    import numpy as np  # the runtime already depends on it; imported here to keep import light

    return np.asarray(vectors, dtype=np.float32).mean(axis=0).tolist()


def _shorten(vector: list[float], dimensions: int) -> list[float]:
    """Matryoshka-style: keep the first N dimensions and L2-normalise, as OpenAI does."""
    head = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in head))
    return [v / max(norm, 1e-12) for v in head]


def _base64_f32(vector: list[float]) -> str:
    packed = array("f", vector)
    if sys.byteorder != "little":  # the OpenAI wire format is little-endian float32
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def create_http_app(
    service: Any,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    default_options: PredictOptions = NO_OPTIONS,
    version: str = "",
) -> Starlette:
    """The Starlette app serving `service` (an `InferenceService` or anything with its interface).

    Args:
        service: provides model_id, model_type, model_info(), `async predict(inputs, options)` and
            `count_tokens(inputs)`.
        max_body_bytes: larger request bodies get 413 without being read whole.
        default_options: per-request options fall back to these (the serve flags).
        version: shown in the OpenAPI document.
    """
    if max_body_bytes <= 0:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    model_type: ModelType = service.model_type
    default_options = applicable_options(model_type, default_options)
    openapi_body = dumps_json(build_openapi(model_type, service.model_id, version))

    async def health(request: Request) -> Response:
        return json_response("OK!")

    async def model(request: Request) -> Response:
        try:
            return json_response(service.model_info())
        except Exception as exc:  # noqa: BLE001 - a request must never take the server down
            return _internal_error("GET /model", exc)

    async def openapi(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    async def predict(request: Request) -> Response:
        try:
            parsed = parse_predict_request(await read_json(request, max_body_bytes))
            options = merge_options(default_options, parsed.options)
            results = await service.predict(parsed.inputs, options)
            body = predict_response(results, service.model_id, parsed.metadata)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        except RuntimeInputError as exc:
            return error_response(422, str(exc))
        except Exception as exc:  # noqa: BLE001
            return _internal_error("POST /predict", exc)
        return _serialise(body)

    async def list_models(request: Request) -> Response:
        return json_response(
            {
                "object": "list",
                "data": [
                    {"id": service.model_id, "object": "model", "created": 0, "owned_by": "local"}
                ],
            }
        )

    async def embeddings(request: Request) -> Response:
        if model_type not in EMBEDDING_TYPES:
            return openai_error_response(
                404,
                f"this is a {model_type.snake} model, which does not produce embeddings; "
                "use POST /predict",
                "invalid_request_error",
            )
        try:
            body = await read_json(request, max_body_bytes)
            return await _openai_embeddings(body)
        except ApiError as exc:
            if exc.status == 413:
                return openai_error_response(413, exc.message, "invalid_request_error")
            return openai_error_response(400, exc.message, exc.openai_type)
        except RuntimeInputError as exc:
            return openai_error_response(400, str(exc), "invalid_request_error", "input")
        except Exception as exc:  # noqa: BLE001
            log_failure(logger, "POST /v1/embeddings failed: %s", exc, exc=exc)
            return openai_error_response(
                500, f"internal error: {type(exc).__name__}: {exc}", "server_error"
            )

    async def _openai_embeddings(body: Any) -> Response:
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        raw = body.get("input")
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list) and raw and not all(isinstance(x, str) for x in raw):
            if all(isinstance(x, (int, list)) and not isinstance(x, bool) for x in raw):
                raise ApiError(400, "token id arrays are not supported; send 'input' as strings")
        inputs = validate_inputs(raw)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise ApiError(400, f"'encoding_format' must be 'float' or 'base64', got {encoding!r}")
        dimensions = body.get("dimensions")
        if dimensions is not None and (
            not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1
        ):
            raise ApiError(400, f"'dimensions' must be a positive integer, got {dimensions!r}")
        results = await service.predict(inputs, default_options)
        vectors: list[list[float]] = []
        for index, result in enumerate(results):
            if model_type is ModelType.SENTENCE_EMBEDDING:
                vector = list(result["embedding"])
            else:
                tokens = [t["embedding"] for t in result["embeddings"]]
                if not tokens:
                    raise ApiError(400, f"input[{index}] has no tokens to embed")
                vector = _mean(tokens)
            if dimensions is not None:
                if dimensions > len(vector):
                    raise ApiError(
                        400,
                        f"'dimensions' is {dimensions} but the model's embeddings have "
                        f"{len(vector)} dimensions",
                    )
                vector = _shorten(vector, dimensions)
            vectors.append(vector)
        tokens_used = _count_tokens(service, inputs)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _base64_f32(v) if encoding == "base64" else v,
            }
            for i, v in enumerate(vectors)
        ]
        return _serialise(
            {
                "object": "list",
                "data": data,
                "model": service.model_id,
                "usage": {"prompt_tokens": tokens_used, "total_tokens": tokens_used},
            }
        )

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = error_response(exc.status_code, str(exc.detail))
        if exc.headers:  # e.g. Allow for 405
            response.headers.update(exc.headers)
        return response

    async def unhandled(request: Request, exc: Exception) -> Response:
        return _internal_error(f"{request.method} {request.url.path}", exc)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_exception,
        Exception: unhandled,
    }
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/model", model, methods=["GET"]),
        Route("/predict", predict, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers=handlers)


def _count_tokens(service: Any, inputs: list[str]) -> int:
    """Prompt tokens for the OpenAI usage block (special tokens included)."""
    try:
        return int(sum(service.count_tokens(inputs)))
    except Exception:  # noqa: BLE001 - usage is informational; never fail the request
        logger.debug("count_tokens failed", exc_info=True)
        return 0
