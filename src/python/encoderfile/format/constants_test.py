from __future__ import annotations

import pytest

from encoderfile.format import (
    CANONICAL_ORDER,
    ArtifactKind,
    InvalidArtifactKindError,
    InvalidModelTypeError,
    ModelType,
)
from encoderfile.proto import manifest_pb2, metadata_pb2


def test_artifact_kinds_match_manifest_fields() -> None:
    fields = manifest_pb2.EncoderfileManifest.DESCRIPTOR.fields_by_name
    for kind in ArtifactKind:
        assert fields[kind.field_name].number == int(kind)
    assert [k.field_name for k in CANONICAL_ORDER] == [
        "weights",
        "transform",
        "model_config",
        "tokenizer",
        "image_preprocessor",
    ]
    assert [k.filename for k in CANONICAL_ORDER] == [
        "model.onnx",
        "transform.pb",
        "config.json",
        "tokenizer.json",
        "preprocessor_config.json",
    ]
    assert ArtifactKind.parse("model-config") is ArtifactKind.MODEL_CONFIG
    assert ArtifactKind.parse(130) is ArtifactKind.TOKENIZER


def test_manifest_reserves_backend_field() -> None:
    descriptor = manifest_pb2.EncoderfileManifest.DESCRIPTOR
    assert 4 not in descriptor.fields_by_number
    assert "backend" not in descriptor.fields_by_name


def test_model_types_match_proto() -> None:
    for model_type in ModelType:
        assert metadata_pb2.ModelType.Value(model_type.name) == model_type.proto_value
        assert ModelType.from_proto(model_type.proto_value) is model_type
        assert ModelType.parse(model_type.snake) is model_type
    assert ModelType.parse("SENTENCE_EMBEDDING") is ModelType.SENTENCE_EMBEDDING
    assert ModelType.IMAGE_CLASSIFICATION.required_artifacts == {
        ArtifactKind.WEIGHTS,
        ArtifactKind.MODEL_CONFIG,
        ArtifactKind.IMAGE_PREPROCESSOR,
    }
    assert ArtifactKind.TRANSFORM in ModelType.EMBEDDING.allowed_artifacts


def test_invalid_model_type_message() -> None:
    with pytest.raises(InvalidModelTypeError) as exc:
        ModelType.parse("llm")
    assert str(exc.value) == (
        "unknown model type 'llm'; valid model types: embedding, sequence_classification,"
        " token_classification, sentence_embedding, image_classification"
    )
    with pytest.raises(InvalidModelTypeError) as exc2:
        ModelType.from_proto(22)
    assert str(exc2.value) == (
        "unknown model type number 22 in the manifest (known: embedding=1,"
        " sequence_classification=2, token_classification=3, sentence_embedding=4,"
        " image_classification=21); the file may need a newer encoderfile"
    )


def test_invalid_artifact_kind_message() -> None:
    with pytest.raises(InvalidArtifactKindError) as exc:
        ArtifactKind.parse("vocab")
    assert str(exc.value) == (
        "unknown artifact kind 'vocab'; valid kinds: weights, transform, model_config,"
        " tokenizer, image_preprocessor"
    )
