"""The /predict request and response contract, shared by the HTTP, gRPC and MCP transports.

One place parses and validates a request body (so every transport rejects the same inputs with
the same message), builds the response body, serialises JSON, and describes both as JSON Schema
(used by GET /openapi.json and by the MCP tool's input/output schemas).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

from encoderfile.format import ModelType
from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.options import AGGREGATIONS, PredictOptions

# The reference runtime's message for empty inputs; clients may match on it.
EMPTY_INPUT_MESSAGE = "Cannot tokenize empty string"

# Frozen, so one shared instance is a safe default argument.
NO_OPTIONS = PredictOptions()

TEXT_MODEL_TYPES = (
    ModelType.EMBEDDING,
    ModelType.SEQUENCE_CLASSIFICATION,
    ModelType.TOKEN_CLASSIFICATION,
    ModelType.SENTENCE_EMBEDDING,
)


@dataclass(frozen=True)
class PredictRequest:
    """A validated /predict body."""

    inputs: list[str]
    metadata: dict[str, str] | None
    options: PredictOptions


def _type_name(value: Any) -> str:
    """JSON type name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def validate_inputs(inputs: Any) -> list[str]:
    """Check `inputs` is a non-empty list of non-empty strings.

    Raises:
        RuntimeInputError: with a user-facing message naming the offending index.
    """
    if inputs is None:
        raise RuntimeInputError("missing field 'inputs': expected a list of strings")
    if not isinstance(inputs, (list, tuple)):
        raise RuntimeInputError(f"'inputs' must be a list of strings, got {_type_name(inputs)}")
    if not inputs:
        raise RuntimeInputError(f"{EMPTY_INPUT_MESSAGE}: 'inputs' is an empty list")
    for index, text in enumerate(inputs):
        if not isinstance(text, str):
            raise RuntimeInputError(f"inputs[{index}] must be a string, got {_type_name(text)}")
        if not text:
            raise RuntimeInputError(f"{EMPTY_INPUT_MESSAGE} (inputs[{index}])")
    return list(inputs)


def validate_metadata(metadata: Any) -> dict[str, str] | None:
    """`metadata` is optional; when present it is a string-to-string map (as in the reference)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise RuntimeInputError(
            f"'metadata' must be an object of strings, got {_type_name(metadata)}"
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise RuntimeInputError(f"metadata[{key!r}] must be a string, got {_type_name(value)}")
    return dict(metadata)


def parse_predict_request(body: Any) -> PredictRequest:
    """Validate a decoded /predict body; unknown keys are ignored (as serde does in the reference).

    Raises:
        RuntimeInputError: the body is not an object, or a field has the wrong type or is empty.
    """
    if not isinstance(body, Mapping):
        raise RuntimeInputError(f"request body must be a JSON object, got {_type_name(body)}")
    inputs = validate_inputs(body.get("inputs"))
    metadata = validate_metadata(body.get("metadata"))
    options = PredictOptions.from_request(body)
    return PredictRequest(inputs=inputs, metadata=metadata, options=options)


def merge_options(defaults: PredictOptions, override: PredictOptions) -> PredictOptions:
    """Per-request values win; None in the request keeps the server's default."""
    changes = {
        f.name: getattr(override, f.name)
        for f in fields(override)
        if getattr(override, f.name) is not None
    }
    return replace(defaults, **changes) if changes else defaults


def applicable_options(model_type: ModelType, options: PredictOptions) -> PredictOptions:
    """Server defaults minus those that do not apply to the model type.

    The service refuses e.g. `softmax` for an embedding model; a server-wide default must not
    turn every request into an error, so it is dropped here (explicit per-request values still
    reach the service and get its clear message).
    """
    embeddings = model_type in (ModelType.EMBEDDING, ModelType.SENTENCE_EMBEDDING)
    classifier = model_type in (ModelType.SEQUENCE_CLASSIFICATION, ModelType.TOKEN_CLASSIFICATION)
    return replace(
        options,
        normalize=options.normalize if embeddings else None,
        softmax=options.softmax if classifier else None,
        aggregation=options.aggregation if model_type is ModelType.TOKEN_CLASSIFICATION else None,
    )


def predict_response(
    results: Sequence[Any], model_id: str, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """The /predict response body: metadata is echoed only when the request had it."""
    body: dict[str, Any] = {"results": list(results), "model_id": model_id}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def log_failure(logger: logging.Logger, message: str, *args: Any, exc: BaseException) -> None:
    """One error line per failed request; the traceback only at debug level (--debug)."""
    logger.error(message, *args)
    logger.debug("traceback of the failure above", exc_info=exc)


def _json_default(value: Any) -> Any:
    # numpy arrays and scalars, without importing numpy here.
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def dumps_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (they are not JSON)."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# JSON Schemas (draft 2020-12 compatible subset, also valid inside OpenAPI 3.1)

_FLOATS = {"type": "array", "items": {"type": "number"}}

TOKEN_INFO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A token and its character span [start, end) in the input string.",
    "properties": {
        "token": {"type": "string"},
        "token_id": {"type": "integer", "minimum": 0},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
    },
    "required": ["token", "token_id", "start", "end"],
}


def predict_request_schema(model_type: ModelType | None = None) -> dict[str, Any]:
    """JSON Schema of the /predict body (also the MCP tool's input schema)."""
    properties: dict[str, Any] = {
        "inputs": {
            "type": "array",
            "description": "Texts to run through the model (non-empty strings).",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
        },
        "metadata": {
            "type": "object",
            "description": "Optional string map, echoed back unchanged in the response.",
            "additionalProperties": {"type": "string"},
        },
    }
    if model_type in (None, ModelType.EMBEDDING, ModelType.SENTENCE_EMBEDDING):
        properties["normalize"] = {
            "type": ["boolean", "null"],
            "description": "L2-normalise the embeddings (default: the server's setting).",
        }
    if model_type in (
        None,
        ModelType.SEQUENCE_CLASSIFICATION,
        ModelType.TOKEN_CLASSIFICATION,
    ):
        properties["softmax"] = {
            "type": ["boolean", "null"],
            "description": "Return softmax probabilities as scores instead of the raw logits "
            "(default: the server's setting).",
        }
    if model_type in (None, ModelType.TOKEN_CLASSIFICATION):
        properties["aggregation"] = {
            "type": ["string", "null"],
            "enum": ["none", *AGGREGATIONS, None],
            "description": "'simple' groups B-/I- tagged tokens into entities.",
        }
    return {"type": "object", "properties": properties, "required": ["inputs"]}


def result_schema(model_type: ModelType) -> dict[str, Any]:
    """JSON Schema of one entry of `results` for a model type."""
    if model_type is ModelType.EMBEDDING:
        return {
            "type": "object",
            "description": "One vector per non-special token (no pooling).",
            "properties": {
                "embeddings": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"embedding": _FLOATS, "token_info": TOKEN_INFO_SCHEMA},
                        "required": ["embedding", "token_info"],
                    },
                }
            },
            "required": ["embeddings"],
        }
    if model_type is ModelType.SENTENCE_EMBEDDING:
        return {
            "type": "object",
            "description": "One pooled vector per input.",
            "properties": {"embedding": _FLOATS},
            "required": ["embedding"],
        }
    if model_type is ModelType.SEQUENCE_CLASSIFICATION:
        return {
            "type": "object",
            "properties": {
                "logits": _FLOATS,
                "scores": _FLOATS,
                "predicted_index": {"type": "integer", "minimum": 0},
                "predicted_label": {"type": ["string", "null"]},
            },
            "required": ["logits", "scores", "predicted_index"],
        }
    if model_type is ModelType.TOKEN_CLASSIFICATION:
        return {
            "type": "object",
            "properties": {
                "tokens": {
                    "type": "array",
                    "description": "One entry per non-special token.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "token_info": TOKEN_INFO_SCHEMA,
                            "scores": _FLOATS,
                            "label": {"type": "string"},
                            "score": {"type": "number"},
                        },
                        "required": ["token_info", "scores", "label", "score"],
                    },
                },
                "entities": {
                    "type": "array",
                    "description": "Grouped entities; present only with aggregation 'simple'.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "entity_group": {"type": "string"},
                            "score": {"type": "number"},
                            "word": {"type": "string"},
                            "start": {"type": "integer", "minimum": 0},
                            "end": {"type": "integer", "minimum": 0},
                        },
                        "required": ["entity_group", "score", "word", "start", "end"],
                    },
                },
            },
            "required": ["tokens"],
        }
    return {"type": "object"}


def predict_response_schema(model_type: ModelType) -> dict[str, Any]:
    """JSON Schema of the /predict response (also the MCP tool's output schema)."""
    return {
        "type": "object",
        "properties": {
            "results": {
                "type": "array",
                "description": "One entry per input, in order.",
                "items": result_schema(model_type),
            },
            "model_id": {"type": "string"},
            "metadata": {
                "type": "object",
                "description": "The request's metadata, present only when the request had it.",
                "additionalProperties": {"type": "string"},
            },
        },
        "required": ["results", "model_id"],
    }
