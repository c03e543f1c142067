"""Constants and enums of encoderfile format v1 (see format-v1.md).

Both enums are append-only: their values are part of the on-disk format.
"""

from __future__ import annotations

import enum
import struct
from typing import FrozenSet, Union

from encoderfile.format.errors import InvalidArtifactKindError, InvalidModelTypeError

MAGIC = b"ENCFILE\0"
FORMAT_VERSION = 1
# Footer: magic, format_version u32, metadata_offset u64 (absolute), metadata_length u64, flags u32.
FOOTER_STRUCT = struct.Struct("<8sIQQI")
FOOTER_SIZE = FOOTER_STRUCT.size  # 32
FLAG_PROTOBUF_MANIFEST = 1 << 0
KNOWN_FLAGS = FLAG_PROTOBUF_MANIFEST
SHA256_SIZE = 32
# Readers refuse larger manifests before allocating (a real manifest is a few hundred bytes).
DEFAULT_MAX_MANIFEST_SIZE = 16 * 1024 * 1024
COPY_CHUNK_SIZE = 1024 * 1024

assert FOOTER_SIZE == 32


class ArtifactKind(enum.IntEnum):
    """Artifact kinds; value = manifest field number. Append-only; declaration order is canonical
    payload order (weights, transform, model_config, tokenizer, image_preprocessor)."""

    WEIGHTS = 100
    TRANSFORM = 110
    MODEL_CONFIG = 120
    TOKENIZER = 130
    IMAGE_PREPROCESSOR = 140

    @property
    def field_name(self) -> str:
        """The manifest field name, e.g. "model_config"."""
        return self.name.lower()

    @property
    def filename(self) -> str:
        """Conventional file name of the artifact, e.g. "config.json"."""
        return _FILENAMES[self]

    @classmethod
    def parse(cls, value: Union[ArtifactKind, int, str]) -> ArtifactKind:
        """ArtifactKind from itself, its field number or its field name ("weights")."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            for kind in cls:
                if kind.field_name == key:
                    return kind
        valid = ", ".join(k.field_name for k in cls)
        raise InvalidArtifactKindError(f"unknown artifact kind {value!r}; valid kinds: {valid}")


_FILENAMES = {
    ArtifactKind.WEIGHTS: "model.onnx",
    ArtifactKind.TRANSFORM: "transform.pb",
    ArtifactKind.MODEL_CONFIG: "config.json",
    ArtifactKind.TOKENIZER: "tokenizer.json",
    ArtifactKind.IMAGE_PREPROCESSOR: "preprocessor_config.json",
}

CANONICAL_ORDER = tuple(ArtifactKind)

_TEXT_REQUIRED = frozenset(
    {ArtifactKind.WEIGHTS, ArtifactKind.MODEL_CONFIG, ArtifactKind.TOKENIZER}
)
_IMAGE_REQUIRED = frozenset(
    {ArtifactKind.WEIGHTS, ArtifactKind.MODEL_CONFIG, ArtifactKind.IMAGE_PREPROCESSOR}
)


class ModelType(enum.Enum):
    """Model types; value = snake_case name, .proto_value = encoderfile.metadata.ModelType."""

    EMBEDDING = "embedding"
    SEQUENCE_CLASSIFICATION = "sequence_classification"
    TOKEN_CLASSIFICATION = "token_classification"
    SENTENCE_EMBEDDING = "sentence_embedding"
    IMAGE_CLASSIFICATION = "image_classification"

    @property
    def snake(self) -> str:
        return self.value

    @property
    def proto_value(self) -> int:
        return _PROTO_VALUES[self]

    @property
    def is_image(self) -> bool:
        return self is ModelType.IMAGE_CLASSIFICATION

    @property
    def required_artifacts(self) -> FrozenSet[ArtifactKind]:
        return _IMAGE_REQUIRED if self.is_image else _TEXT_REQUIRED

    @property
    def allowed_artifacts(self) -> FrozenSet[ArtifactKind]:
        """Required artifacts plus the optional transform."""
        return self.required_artifacts | {ArtifactKind.TRANSFORM}

    @classmethod
    def parse(cls, value: Union[ModelType, str]) -> ModelType:
        """ModelType from itself or a name ("sentence_embedding", "SENTENCE_EMBEDDING").

        Raises InvalidModelTypeError listing the valid names.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            for member in cls:
                if member.value == key:
                    return member
        raise InvalidModelTypeError(
            f"unknown model type {value!r}; valid model types: {', '.join(valid_model_types())}"
        )

    @classmethod
    def from_proto(cls, value: int) -> ModelType:
        """ModelType from its encoderfile.metadata.ModelType number."""
        for member, number in _PROTO_VALUES.items():
            if number == value:
                return member
        raise InvalidModelTypeError(
            f"unknown model type number {value} in the manifest (known: "
            + ", ".join(f"{m.value}={n}" for m, n in _PROTO_VALUES.items())
            + "); the file may need a newer encoderfile"
        )


def valid_model_types() -> list:
    return [m.value for m in ModelType]


_PROTO_VALUES = {
    ModelType.EMBEDDING: 1,
    ModelType.SEQUENCE_CLASSIFICATION: 2,
    ModelType.TOKEN_CLASSIFICATION: 3,
    ModelType.SENTENCE_EMBEDDING: 4,
    ModelType.IMAGE_CLASSIFICATION: 21,
}
