from __future__ import annotations

import pytest

from encoderfile.format import (
    FOOTER_SIZE,
    MAGIC,
    Footer,
    NotAnEncoderfileError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
)

# From format-v1.md: the golden example's footer.
GOLDEN_FOOTER = bytes.fromhex(
    "454e4346494c4500" "01000000" "0000000000000000" "ba00000000000000" "01000000"
)


def test_golden_footer_pack_unpack() -> None:
    footer = Footer(format_version=1, metadata_offset=0, metadata_length=186, flags=1)
    assert footer.pack() == GOLDEN_FOOTER
    assert Footer.unpack(GOLDEN_FOOTER) == footer
    assert FOOTER_SIZE == 32 and MAGIC == b"ENCFILE\0"


def test_roundtrip_large_values() -> None:
    footer = Footer(1, 2**64 - 1, 2**63, 1)
    assert Footer.unpack(footer.pack()) == footer
    assert footer.metadata_end == 2**64 - 1 + 2**63  # no overflow in Python


def test_pack_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="metadata_offset -1 does not fit in 64 bits"):
        Footer(1, -1, 0, 1).pack()


def test_unpack_bad_magic() -> None:
    with pytest.raises(NotAnEncoderfileError) as exc:
        Footer.unpack(b"NOTMAGIC" + GOLDEN_FOOTER[8:])
    assert str(exc.value) == (
        "not an encoderfile: the last 32 bytes do not start with the magic b'ENCFILE\\x00'"
        " (found b'NOTMAGIC')"
    )


def test_unpack_wrong_length() -> None:
    with pytest.raises(NotAnEncoderfileError, match="footer must be 32 bytes, got 31 bytes"):
        Footer.unpack(GOLDEN_FOOTER[:31])


def test_check_supported() -> None:
    Footer(1, 0, 186, 1).check_supported()
    with pytest.raises(UnsupportedVersionError) as exc:
        Footer(2, 0, 186, 1).check_supported()
    assert str(exc.value) == (
        "unsupported encoderfile format version 2; this library reads version 1"
        " (use a newer encoderfile to read this file)"
    )
    with pytest.raises(UnsupportedFlagsError) as exc2:
        Footer(1, 0, 186, 0b101).check_supported()
    assert str(exc2.value) == (
        "unsupported footer flags 0x00000005 (unknown bits 0x00000004);"
        " use a newer encoderfile to read this file"
    )
    with pytest.raises(UnsupportedFlagsError) as exc3:
        Footer(1, 0, 186, 0).check_supported()
    assert str(exc3.value) == (
        "footer flags 0x00000000 lack bit 0 (protobuf manifest), which format version 1 requires"
    )
