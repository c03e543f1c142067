from __future__ import annotations

import io
import zipfile

import pytest

from encoderfile.format import UnsupportedBaseError
from encoderfile.format.testing import make_zip
from encoderfile.format.zip import EOCD_STRUCT, find_zip_trailer


def find(data: bytes):
    return find_zip_trailer(lambda offset, n: data[offset : offset + n], len(data))


def test_finds_plain_and_commented_zip() -> None:
    data = make_zip()
    trailer = find(data)
    assert trailer is not None and trailer.eocd_offset == len(data) - 22 and trailer.prefix == 0
    commented = make_zip(b"hi there")
    trailer = find(commented)
    assert trailer is not None and trailer.comment_length == 8
    assert find(b"#!/bin/sh\n" + data).prefix == 10


def test_rejects_non_zip_and_false_positives() -> None:
    assert find(b"") is None
    assert find(b"\x7fELF" + b"\0" * 1000) is None
    data = make_zip()
    assert find(data + b"trailing junk") is None  # comment must reach exactly to EOF
    # A lone EOCD whose central directory is not there.
    fake = b"\0" * 100 + EOCD_STRUCT.pack(b"PK\x05\x06", 0, 0, 1, 1, 46, 10, 0)
    assert find(fake) is None
    # Beyond the 64 KiB search window.
    assert find(data + b"\0" * 70_000) is None


def test_rejects_zip64() -> None:
    fake = b"\0" * 100 + EOCD_STRUCT.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0, 0, 0)
    with pytest.raises(UnsupportedBaseError, match="ZIP64"):
        find(fake)


def test_relocated_eocd_arithmetic() -> None:
    data = b"#" * 7 + make_zip()
    trailer = find(data)
    assert trailer is not None
    payload = b"x" * 1000
    cd = data[trailer.cd_start : trailer.eocd_offset]
    new_cd_start = len(data) + len(payload)
    out = data + payload + cd + trailer.relocated_eocd(new_cd_start, 0)
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert zf.read("a.txt") == b"hello"
