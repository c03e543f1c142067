"""The shared /predict contract: parsing, option merging, response shape, JSON Schemas."""

from __future__ import annotations

import pytest

from encoderfile.format import ModelType
from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.openapi import build_openapi
from encoderfile.runtime.options import PredictOptions
from encoderfile.runtime.predict_api import (
    EMPTY_INPUT_MESSAGE,
    applicable_options,
    dumps_json,
    merge_options,
    parse_predict_request,
    predict_request_schema,
    predict_response,
    predict_response_schema,
)

TYPES = [
    ModelType.EMBEDDING,
    ModelType.SENTENCE_EMBEDDING,
    ModelType.SEQUENCE_CLASSIFICATION,
    ModelType.TOKEN_CLASSIFICATION,
]


def test_parse_valid_request() -> None:
    request = parse_predict_request(
        {"inputs": ["a", "b"], "metadata": {"k": "v"}, "softmax": True, "unknown": 1}
    )
    assert request.inputs == ["a", "b"]
    assert request.metadata == {"k": "v"}
    assert request.options == PredictOptions(softmax=True)
    assert parse_predict_request({"inputs": ["a"]}).metadata is None


@pytest.mark.parametrize(
    "body,message",
    [
        (None, "request body must be a JSON object, got null"),
        ({"inputs": []}, f"{EMPTY_INPUT_MESSAGE}: 'inputs' is an empty list"),
        ({"inputs": [""]}, f"{EMPTY_INPUT_MESSAGE} (inputs[0])"),
        ({"inputs": [True]}, "inputs[0] must be a string, got boolean"),
        ({"inputs": {"a": 1}}, "'inputs' must be a list of strings, got object"),
        ({"inputs": ["a"], "metadata": "x"}, "'metadata' must be an object of strings, got string"),
    ],
)
def test_parse_errors(body: object, message: str) -> None:
    with pytest.raises(RuntimeInputError) as info:
        parse_predict_request(body)
    assert str(info.value) == message


def test_merge_options() -> None:
    defaults = PredictOptions(normalize=True, softmax=True)
    assert merge_options(defaults, PredictOptions()) is defaults
    assert merge_options(defaults, PredictOptions(softmax=False)) == PredictOptions(
        normalize=True, softmax=False
    )


def test_applicable_options() -> None:
    everything = PredictOptions(normalize=True, softmax=True, aggregation="simple")
    assert applicable_options(ModelType.SENTENCE_EMBEDDING, everything) == PredictOptions(
        normalize=True
    )
    assert applicable_options(ModelType.SEQUENCE_CLASSIFICATION, everything) == PredictOptions(
        softmax=True
    )
    assert applicable_options(ModelType.TOKEN_CLASSIFICATION, everything) == PredictOptions(
        softmax=True, aggregation="simple"
    )


def test_predict_response_echoes_metadata_only_when_given() -> None:
    assert predict_response([1], "m", None) == {"results": [1], "model_id": "m"}
    assert predict_response([], "m", {}) == {"results": [], "model_id": "m", "metadata": {}}


def test_dumps_json() -> None:
    assert dumps_json({"a": [1.5, "é"]}) == '{"a":[1.5,"é"]}'.encode()
    with pytest.raises(ValueError):
        dumps_json([float("nan")])


@pytest.mark.parametrize("model_type", TYPES)
def test_schemas_are_valid_json_schema(model_type: ModelType) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator
    validator.check_schema(predict_request_schema(model_type))
    validator.check_schema(predict_response_schema(model_type))
    doc = build_openapi(model_type, "m", "1.0")
    for schema in doc["components"]["schemas"].values():
        validator.check_schema(schema)
    request_schema = predict_request_schema(model_type)
    validator(request_schema).validate({"inputs": ["a"], "metadata": {"k": "v"}})
    assert not validator(request_schema).is_valid({"inputs": []})
    assert not validator(request_schema).is_valid({"inputs": [""]})
