"""The 32-byte footer at the very end of every encoderfile."""

from __future__ import annotations

from dataclasses import dataclass

from encoderfile.format.constants import (
    FLAG_PROTOBUF_MANIFEST,
    FOOTER_SIZE,
    FOOTER_STRUCT,
    FORMAT_VERSION,
    KNOWN_FLAGS,
    MAGIC,
)
from encoderfile.format.errors import (
    NotAnEncoderfileError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
)

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Footer:
    """Footer fields. metadata_offset is the ABSOLUTE file offset of the manifest.

    >>> Footer.unpack(Footer(1, 0, 186, 1).pack())
    Footer(format_version=1, metadata_offset=0, metadata_length=186, flags=1)
    """

    format_version: int
    metadata_offset: int
    metadata_length: int
    flags: int = FLAG_PROTOBUF_MANIFEST

    def pack(self) -> bytes:
        """The 32 footer bytes (little-endian)."""
        for name, value, limit in (
            ("format_version", self.format_version, _U32),
            ("metadata_offset", self.metadata_offset, _U64),
            ("metadata_length", self.metadata_length, _U64),
            ("flags", self.flags, _U32),
        ):
            if not 0 <= value <= limit:
                raise ValueError(f"footer {name} {value} does not fit in {limit.bit_length()} bits")
        return FOOTER_STRUCT.pack(
            MAGIC, self.format_version, self.metadata_offset, self.metadata_length, self.flags
        )

    @classmethod
    def unpack(cls, data: bytes) -> Footer:
        """Parse 32 footer bytes; checks the length and magic (not version or flags).

        Raises NotAnEncoderfileError.
        """
        if len(data) != FOOTER_SIZE:
            raise NotAnEncoderfileError(
                f"footer must be {FOOTER_SIZE} bytes, got {len(data)} bytes"
            )
        magic, version, offset, length, flags = FOOTER_STRUCT.unpack(bytes(data))
        if magic != MAGIC:
            raise NotAnEncoderfileError(
                f"not an encoderfile: the last {FOOTER_SIZE} bytes do not start with the magic"
                f" {MAGIC!r} (found {magic!r})"
            )
        return cls(
            format_version=version, metadata_offset=offset, metadata_length=length, flags=flags
        )

    @property
    def metadata_end(self) -> int:
        """Absolute offset one past the manifest's last byte."""
        return self.metadata_offset + self.metadata_length

    def check_supported(self) -> None:
        """Raise UnsupportedVersionError / UnsupportedFlagsError unless this library reads it."""
        if self.format_version != FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"unsupported encoderfile format version {self.format_version}; this library reads"
                f" version {FORMAT_VERSION} (use a newer encoderfile to read this file)"
            )
        unknown = self.flags & ~KNOWN_FLAGS
        if unknown:
            raise UnsupportedFlagsError(
                f"unsupported footer flags 0x{self.flags:08x} (unknown bits 0x{unknown:08x});"
                " use a newer encoderfile to read this file"
            )
        if not self.flags & FLAG_PROTOBUF_MANIFEST:
            raise UnsupportedFlagsError(
                f"footer flags 0x{self.flags:08x} lack bit 0 (protobuf manifest), which format"
                f" version {FORMAT_VERSION} requires"
            )
