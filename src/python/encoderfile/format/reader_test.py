from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from encoderfile.format import (
    ArtifactKind,
    ArtifactOutOfBoundsError,
    ChecksumMismatchError,
    EncoderfileReader,
    Footer,
    InvalidModelTypeError,
    ManifestDecodeError,
    ManifestTooLargeError,
    MissingArtifactError,
    ModelType,
    NotAnEncoderfileError,
    TruncatedFileError,
    UnsupportedFlagsError,
    UnsupportedVersionError,
    write_encoderfile,
)
from encoderfile.format.testing import GOLDEN
from encoderfile.proto import manifest_pb2

MANIFEST = GOLDEN[:186]
PAYLOAD = GOLDEN[186:208]


def open_bytes(data: bytes, **kwargs) -> EncoderfileReader:
    return EncoderfileReader.open(io.BytesIO(data), **kwargs)


def golden_manifest() -> manifest_pb2.EncoderfileManifest:
    return manifest_pb2.EncoderfileManifest.FromString(MANIFEST)


def assemble(manifest: bytes, payload: bytes, footer: Footer | None = None) -> bytes:
    footer = footer or Footer(1, 0, len(manifest), 1)
    return manifest + payload + footer.pack()


def test_reads_golden_from_path(tmp_path: Path) -> None:
    path = tmp_path / "golden.encoderfile"
    path.write_bytes(GOLDEN)
    with EncoderfileReader.open(path) as r:
        assert r.file_size == 240 and r.base_size == 0 and r.manifest_length == 186
        assert (r.name, r.version, r.model_type) == ("test-model", "0.1.0", ModelType.EMBEDDING)
        assert list(r.artifacts) == [
            ArtifactKind.WEIGHTS,
            ArtifactKind.MODEL_CONFIG,
            ArtifactKind.TOKENIZER,
        ]
        assert r.has(ArtifactKind.TOKENIZER) and not r.has(ArtifactKind.TRANSFORM)
        info = r.info(ArtifactKind.WEIGHTS)
        assert (info.offset, info.length, info.absolute_offset(r.base_size)) == (186, 7, 186)
        assert info.sha256_hex == hashlib.sha256(b"weights").hexdigest()
        assert r.read_bytes(ArtifactKind.MODEL_CONFIG) == b"config"
        view = r.view(ArtifactKind.TOKENIZER)
        assert bytes(view) == b"tokenizer"
        stream = r.open_stream(ArtifactKind.WEIGHTS)
        assert stream.read(3) == b"wei" and stream.read() == b"ghts" and stream.read() == b""
        stream.seek(-2, io.SEEK_END)
        assert stream.read() == b"ts"
        r.verify(ArtifactKind.WEIGHTS)
        assert r.verify_all() == []
        r.require_artifacts()
        sink = io.BytesIO()
        assert r.copy_base_to(sink) == 0 and sink.getvalue() == b""
    with pytest.raises(ValueError):
        bytes(view)  # released on close


def test_reads_from_unmappable_file_object() -> None:
    f = io.BytesIO(GOLDEN)
    with EncoderfileReader.open(f) as r:
        assert bytes(r.view(ArtifactKind.WEIGHTS)) == b"weights"
    assert not f.closed  # borrowed files stay open


def test_view_survives_derived_buffers(tmp_path: Path) -> None:
    path = tmp_path / "g"
    path.write_bytes(GOLDEN)
    r = EncoderfileReader.open(path)
    derived = memoryview(r.view(ArtifactKind.WEIGHTS))  # like numpy.frombuffer would hold
    r.close()  # must not raise BufferError
    assert bytes(derived) == b"weights"


def test_base_and_trailing_bytes_are_tolerated(tmp_path: Path) -> None:
    base = b"#!/bin/sh\nexit 0\n"
    manifest = golden_manifest().SerializeToString()
    data = base + manifest + PAYLOAD + b"\0" * 77 + Footer(1, len(base), len(manifest), 1).pack()
    with open_bytes(data) as r:
        assert r.base_size == len(base)
        assert r.read_bytes(ArtifactKind.TOKENIZER) == b"tokenizer"
        assert r.verify_all() == []
        sink = io.BytesIO()
        r.copy_base_to(sink)
        assert sink.getvalue() == base


def test_zero_length_artifact(tmp_path: Path) -> None:
    out = tmp_path / "o"
    artifacts = {"weights": b"weights", "transform": b"", "model_config": b"", "tokenizer": b"t"}
    write_encoderfile(
        out, base=None, model_type="embedding", name="n", version="1", artifacts=artifacts
    )
    with EncoderfileReader.open(out) as r:
        assert bytes(r.view(ArtifactKind.TRANSFORM)) == b""
        assert r.read_bytes(ArtifactKind.MODEL_CONFIG) == b""
        assert r.open_stream(ArtifactKind.TRANSFORM).read() == b""
        assert bytes(r.view(ArtifactKind.TOKENIZER)) == b"t"
        assert r.verify_all() == []


# -- one test per error type, asserting the message ----------------------------------------------


def test_not_an_encoderfile() -> None:
    with pytest.raises(NotAnEncoderfileError) as exc:
        open_bytes(b"short")
    assert str(exc.value) == (
        "not an encoderfile: the file is 5 bytes, smaller than the 32-byte footer"
    )
    with pytest.raises(NotAnEncoderfileError, match="do not start with the magic"):
        open_bytes(b"\0" * 100)


def test_unsupported_version() -> None:
    with pytest.raises(UnsupportedVersionError, match="format version 7; this library reads"):
        open_bytes(assemble(MANIFEST, PAYLOAD, Footer(7, 0, 186, 1)))


def test_unsupported_flags() -> None:
    with pytest.raises(UnsupportedFlagsError, match=r"unknown bits 0x00000100"):
        open_bytes(assemble(MANIFEST, PAYLOAD, Footer(1, 0, 186, 0x101)))


def test_truncated_manifest() -> None:
    with pytest.raises(TruncatedFileError) as exc:
        open_bytes(assemble(MANIFEST, PAYLOAD, Footer(1, 0, 300, 1)))
    assert str(exc.value) == (
        "manifest ends at byte 300, but the footer starts at byte 208 (file is 240 bytes);"
        " the file is truncated"
    )
    with pytest.raises(TruncatedFileError) as exc2:
        open_bytes(assemble(MANIFEST, PAYLOAD, Footer(1, 2**64 - 1, 2**64 - 1, 1)))
    assert str(exc2.value) == (
        "the manifest starts at byte 18446744073709551615, but the footer starts at byte 208"
        " (file is 240 bytes); the file is truncated"
    )


def test_manifest_too_large() -> None:
    with pytest.raises(ManifestTooLargeError) as exc:
        open_bytes(GOLDEN, max_manifest_size=100)
    assert str(exc.value) == (
        "the manifest is 186 bytes, larger than the limit of 100 bytes; the file is damaged"
        " (raise max_manifest_size if it is not)"
    )


def test_manifest_decode_error() -> None:
    with pytest.raises(ManifestDecodeError) as exc:
        open_bytes(assemble(b"\xff" * 186, PAYLOAD))
    assert str(exc.value).startswith(
        "the manifest (186 bytes) is not a valid EncoderfileManifest protobuf: "
    )
    manifest = golden_manifest()
    manifest.weights.sha256 = b"abc"
    with pytest.raises(ManifestDecodeError) as exc2:
        open_bytes(assemble(manifest.SerializeToString(), PAYLOAD))
    assert str(exc2.value) == "weights: sha256 is 3 bytes, expected 32"


def test_artifact_out_of_bounds() -> None:
    manifest = golden_manifest()
    manifest.tokenizer.length = 2**64 - 1
    with pytest.raises(ArtifactOutOfBoundsError) as exc:
        open_bytes(assemble(manifest.SerializeToString(), PAYLOAD))
    assert str(exc.value) == (
        "tokenizer: bytes 199..18446744073709551814 (relative offset 199, length"
        " 18446744073709551615) run past the footer at byte 208 (file is 240 bytes); the file"
        " is truncated or damaged"
    )
    manifest = golden_manifest()
    manifest.weights.offset = 10
    with pytest.raises(ArtifactOutOfBoundsError) as exc2:
        open_bytes(assemble(manifest.SerializeToString(), PAYLOAD))
    assert str(exc2.value) == (
        "weights: starts at relative offset 10, inside the 186-byte manifest; the file is damaged"
    )


def test_checksum_mismatch() -> None:
    data = GOLDEN.replace(b"weights", b"WEIGHTS")
    with open_bytes(data) as r:
        with pytest.raises(ChecksumMismatchError) as exc:
            r.verify(ArtifactKind.WEIGHTS)
        problems = r.verify_all()
    expected = hashlib.sha256(b"weights").hexdigest()
    actual = hashlib.sha256(b"WEIGHTS").hexdigest()
    assert str(exc.value) == (
        f"weights: SHA-256 mismatch: the manifest records {expected} but the bytes hash to"
        f" {actual}; the file was modified or damaged after it was written, rebuild it"
    )
    assert [(p.kind, p.expected, p.actual) for p in problems] == [
        (ArtifactKind.WEIGHTS, expected, actual)
    ]


def test_missing_artifact(tmp_path: Path) -> None:
    out = tmp_path / "o"
    write_encoderfile(
        out,
        base=None,
        model_type="image_classification",
        name="n",
        version="1",
        artifacts={"weights": b"w", "model_config": b"{}"},
        require_artifacts=False,
    )
    with EncoderfileReader.open(out) as r:
        with pytest.raises(MissingArtifactError) as exc:
            r.require_artifacts()
        assert str(exc.value) == (
            "a image_classification encoderfile needs the artifact(s) image_preprocessor"
            " (required: weights, model_config, image_preprocessor)"
        )
        with pytest.raises(MissingArtifactError) as exc2:
            r.read_bytes(ArtifactKind.TOKENIZER)
        assert (
            str(exc2.value) == f"{out} has no tokenizer artifact (present: weights, model_config)"
        )


def test_unknown_model_type_is_reported_lazily() -> None:
    manifest = golden_manifest()
    manifest.model_type = 22  # a future model type: still inspectable
    with open_bytes(assemble(manifest.SerializeToString(), PAYLOAD)) as r:
        assert r.name == "test-model"
        with pytest.raises(InvalidModelTypeError, match="unknown model type number 22"):
            _ = r.model_type


def test_file_shrinking_after_open(tmp_path: Path) -> None:
    path = tmp_path / "g"
    path.write_bytes(GOLDEN)
    with EncoderfileReader.open(path) as r:
        with open(path, "r+b") as f:
            f.truncate(190)
        with pytest.raises(TruncatedFileError) as exc:
            r.read_bytes(ArtifactKind.TOKENIZER)
        assert str(exc.value) == (
            "tokenizer: expected 9 bytes at byte 199, got 0; the file is truncated or changed"
            " while being read"
        )
        with pytest.raises(TruncatedFileError, match="tokenizer: the file ended at byte 199"):
            r.verify(ArtifactKind.TOKENIZER)
