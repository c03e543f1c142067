"""The encoderfile format library (format v1): footer, manifest, reader, writer, errors.

Python 3.9 compatible; stdlib + protobuf only. Everything else in encoderfile builds on it.

    >>> from encoderfile.format import EncoderfileReader, write_encoderfile  # doctest: +SKIP
"""

from __future__ import annotations

from encoderfile.format.constants import (
    CANONICAL_ORDER,
    DEFAULT_MAX_MANIFEST_SIZE,
    FLAG_PROTOBUF_MANIFEST,
    FOOTER_SIZE,
    FOOTER_STRUCT,
    FORMAT_VERSION,
    MAGIC,
    ArtifactKind,
    ModelType,
)
from encoderfile.format.errors import (
    ArtifactOutOfBoundsError,
    ChecksumMismatchError,
    DuplicateArtifactError,
    EncoderfileError,
    FileChangedError,
    InvalidArtifactKindError,
    InvalidModelTypeError,
    ManifestDecodeError,
    ManifestTooLargeError,
    MissingArtifactError,
    NotAnEncoderfileError,
    PayloadTooLargeError,
    TruncatedFileError,
    UnexpectedArtifactError,
    UnsupportedBaseError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
)
from encoderfile.format.footer import Footer
from encoderfile.format.manifest import ArtifactInfo, build_manifest, check_artifact_set
from encoderfile.format.reader import EncoderfileReader
from encoderfile.format.writer import WriteResult, write_encoderfile

__all__ = [
    "CANONICAL_ORDER",
    "DEFAULT_MAX_MANIFEST_SIZE",
    "FLAG_PROTOBUF_MANIFEST",
    "FOOTER_SIZE",
    "FOOTER_STRUCT",
    "FORMAT_VERSION",
    "MAGIC",
    "ArtifactInfo",
    "ArtifactKind",
    "ArtifactOutOfBoundsError",
    "ChecksumMismatchError",
    "DuplicateArtifactError",
    "EncoderfileError",
    "EncoderfileReader",
    "FileChangedError",
    "Footer",
    "InvalidArtifactKindError",
    "InvalidModelTypeError",
    "ManifestDecodeError",
    "ManifestTooLargeError",
    "MissingArtifactError",
    "ModelType",
    "NotAnEncoderfileError",
    "PayloadTooLargeError",
    "TruncatedFileError",
    "UnexpectedArtifactError",
    "UnsupportedBaseError",
    "UnsupportedFlagsError",
    "UnsupportedVersionError",
    "WriteResult",
    "build_manifest",
    "check_artifact_set",
    "write_encoderfile",
]
