"""Zip base binaries (PEX/zipapp): detect the End-Of-Central-Directory record and relocate it.

A zip reader finds the EOCD by scanning the last 64 KiB + 22 bytes of a file, so a payload
appended to a zip makes it unreadable. The writer therefore writes, after the payload, a copy of
the base's central directory and a new EOCD whose 32-byte comment is the encoderfile footer
(base-binary.md). This module holds only the zip arithmetic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from encoderfile.format.errors import UnsupportedBaseError

EOCD_SIGNATURE = b"PK\x05\x06"
EOCD_STRUCT = struct.Struct("<4sHHHHIIH")
EOCD_SIZE = EOCD_STRUCT.size  # 22
CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
ZIP64_LOCATOR_SIZE = 20
MAX_COMMENT_LENGTH = 0xFFFF
# Where readers look for the EOCD: the record plus the largest possible comment.
EOCD_SEARCH_WINDOW = EOCD_SIZE + MAX_COMMENT_LENGTH
# Zip without ZIP64 records addresses at most 4 GiB, and CPython <= 3.12 zipimport reads no ZIP64.
ZIP_SIZE_LIMIT = 1 << 32

assert EOCD_SIZE == 22


@dataclass(frozen=True)
class ZipTrailer:
    """The EOCD of a zip base. prefix = bytes before the zip's offset 0 (e.g. a shebang header
    that was prepended after zipping); zip offsets are relative to it."""

    eocd_offset: int
    entries_this_disk: int
    entries_total: int
    cd_size: int
    cd_offset: int
    comment_length: int

    @property
    def prefix(self) -> int:
        return self.eocd_offset - self.cd_size - self.cd_offset

    @property
    def cd_start(self) -> int:
        """Absolute offset of the central directory (it immediately precedes the EOCD)."""
        return self.eocd_offset - self.cd_size

    def relocated_eocd(self, new_cd_start: int, comment_length: int) -> bytes:
        """EOCD for a copy of the central directory written at absolute offset new_cd_start."""
        cd_offset = new_cd_start - self.prefix
        if not 0 <= cd_offset < ZIP_SIZE_LIMIT:
            raise ValueError(f"central directory offset {cd_offset} does not fit in 32 bits")
        return EOCD_STRUCT.pack(
            EOCD_SIGNATURE,
            0,
            0,
            self.entries_this_disk,
            self.entries_total,
            self.cd_size,
            cd_offset,
            comment_length,
        )


def find_zip_trailer(read_at: Callable[[int, int], bytes], size: int) -> ZipTrailer | None:
    """Locate a valid EOCD in a file of `size` bytes, or None if it is not a zip.

    read_at(offset, n) returns n bytes at offset. An EOCD counts only when it sits in the last
    EOCD_SEARCH_WINDOW bytes, its comment reaches exactly to the end of the file, it describes a
    single-disk archive and its central directory fits before it and starts with a central
    directory signature. Raises UnsupportedBaseError for ZIP64 archives.
    """
    window = min(size, EOCD_SEARCH_WINDOW)
    if window < EOCD_SIZE:
        return None
    start = size - window
    tail = read_at(start, window)
    # rfind's end is exclusive and covers the whole signature: a match must start at or before
    # the last index where a whole record fits, then strictly before the previous candidate.
    search_end = len(tail) - EOCD_SIZE + len(EOCD_SIGNATURE)
    while True:
        i = tail.rfind(EOCD_SIGNATURE, 0, search_end)
        if i < 0:
            return None
        search_end = i + len(EOCD_SIGNATURE) - 1
        fields = EOCD_STRUCT.unpack_from(tail, i)
        _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_length = fields
        if i + EOCD_SIZE + comment_length != len(tail):
            continue  # the comment must reach exactly to EOF
        eocd_offset = start + i
        if _is_zip64(read_at, eocd_offset, fields):
            raise UnsupportedBaseError(
                "the base binary is a ZIP64 archive, which cannot be relocated; build the base"
                " without ZIP64 (under 65535 entries and 4 GiB)"
            )
        if disk != 0 or cd_disk != 0 or n_disk != n_total:
            continue
        trailer = ZipTrailer(eocd_offset, n_disk, n_total, cd_size, cd_offset, comment_length)
        if trailer.prefix < 0:
            continue
        if cd_size and read_at(trailer.cd_start, 4) != CENTRAL_DIRECTORY_SIGNATURE:
            continue
        if not cd_size and n_total:
            continue
        return trailer


def _is_zip64(read_at: Callable[[int, int], bytes], eocd_offset: int, fields: tuple) -> bool:
    _, _, _, n_disk, n_total, cd_size, cd_offset, _ = fields
    if 0xFFFF in (n_disk, n_total) or 0xFFFFFFFF in (cd_size, cd_offset):
        return True
    if eocd_offset >= ZIP64_LOCATOR_SIZE:
        return read_at(eocd_offset - ZIP64_LOCATOR_SIZE, 4) == ZIP64_LOCATOR_SIGNATURE
    return False
