"""Typed errors of the format library: one public base class, one subclass per failure mode.

Messages carry the numbers involved and, where there is one, the fix. Library code raises; only
the CLI prints.
"""

from __future__ import annotations


class EncoderfileError(Exception):
    """Base class of every error raised by the encoderfile format library."""


class NotAnEncoderfileError(EncoderfileError):
    """The file does not end with an encoderfile footer (bad magic or too short)."""


class UnsupportedVersionError(EncoderfileError):
    """The footer declares a format version this library cannot read."""


class UnsupportedFlagsError(EncoderfileError):
    """The footer sets flags this library does not understand (or lacks required ones)."""


class TruncatedFileError(EncoderfileError):
    """An offset or length in the footer points past the end of the data."""


class ManifestDecodeError(EncoderfileError):
    """The manifest bytes are not a valid EncoderfileManifest protobuf."""


class ManifestTooLargeError(EncoderfileError):
    """The footer declares a manifest larger than the reader's cap."""


class ArtifactOutOfBoundsError(EncoderfileError):
    """An artifact's byte range lies outside the payload."""


class ChecksumMismatchError(EncoderfileError):
    """An artifact's bytes do not hash to the SHA-256 recorded in the manifest.

    Attributes: kind (ArtifactKind), expected and actual (hex digests).
    """

    def __init__(self, kind: object, expected: str, actual: str, message: str | None = None):
        self.kind = kind
        self.expected = expected
        self.actual = actual
        name = getattr(kind, "field_name", str(kind))
        super().__init__(
            message
            or (
                f"{name}: SHA-256 mismatch: the manifest records {expected} but the bytes hash to"
                f" {actual}; the file was modified or damaged after it was written, rebuild it"
            )
        )


class MissingArtifactError(EncoderfileError):
    """An artifact required by the model type is absent."""


class UnexpectedArtifactError(EncoderfileError):
    """An artifact present is not allowed for the model type."""


class InvalidModelTypeError(EncoderfileError):
    """A model type name or number is not one of the known model types."""


class InvalidArtifactKindError(EncoderfileError):
    """An artifact kind name or number is not one of the known kinds."""


class PayloadTooLargeError(EncoderfileError):
    """The output would exceed what the base binary can address (4 GiB for a zip base)."""


class DuplicateArtifactError(EncoderfileError):
    """The same artifact kind was given more than once."""


class UnsupportedBaseError(EncoderfileError):
    """The base binary is a zip this writer cannot relocate (e.g. ZIP64)."""


class FileChangedError(EncoderfileError):
    """An input file changed while it was being written into the encoderfile."""
