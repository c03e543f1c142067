from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import zipapp
import zipfile
from pathlib import Path

import pytest

from encoderfile.format import (
    ArtifactKind,
    DuplicateArtifactError,
    EncoderfileReader,
    FileChangedError,
    MissingArtifactError,
    PayloadTooLargeError,
    UnexpectedArtifactError,
    write_encoderfile,
)
from encoderfile.format import writer as writer_module
from encoderfile.format.testing import GOLDEN, GOLDEN_ARTIFACTS


def write_golden(path: Path, **overrides) -> writer_module.WriteResult:
    kwargs = dict(
        base=None,
        model_type="embedding",
        name="test-model",
        version="0.1.0",
        artifacts=GOLDEN_ARTIFACTS,
    )
    kwargs.update(overrides)
    return write_encoderfile(path, **kwargs)


def test_golden_bytes(tmp_path: Path) -> None:
    assert len(GOLDEN) == 240
    out = tmp_path / "golden.encoderfile"
    result = write_golden(out)
    assert out.read_bytes() == GOLDEN
    assert result.size == 240
    assert result.manifest_length == 186
    assert result.sha256 == hashlib.sha256(GOLDEN).hexdigest()
    assert [(i.kind, i.offset, i.length) for i in result.artifacts.values()] == [
        (ArtifactKind.WEIGHTS, 186, 7),
        (ArtifactKind.MODEL_CONFIG, 193, 6),
        (ArtifactKind.TOKENIZER, 199, 9),
    ]
    assert not result.zip_relocated and result.base_size == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


def test_golden_from_paths_and_reversed_order(tmp_path: Path) -> None:
    sources = {}
    for kind, data in reversed(list(GOLDEN_ARTIFACTS.items())):
        path = tmp_path / kind.filename
        path.write_bytes(data)
        sources[kind.field_name] = str(path)
    out = tmp_path / "golden.encoderfile"
    write_golden(out, artifacts=sources, base=b"")
    assert out.read_bytes() == GOLDEN


def test_plain_base_is_appended_unchanged(tmp_path: Path) -> None:
    base = tmp_path / "native"
    base.write_bytes(b"\x7fELF" + bytes(range(256)) * 100)
    out = tmp_path / "out.encoderfile"
    result = write_golden(out, base=base, mode=0o700)
    data = out.read_bytes()
    assert data.startswith(base.read_bytes())
    assert data[result.base_size :] == GOLDEN[:-32] + data[-32:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    with EncoderfileReader.open(out) as reader:
        assert reader.base_size == base.stat().st_size
        assert reader.read_bytes(ArtifactKind.TOKENIZER) == b"tokenizer"


def test_progress_reports_total(tmp_path: Path) -> None:
    calls = []
    result = write_golden(tmp_path / "o", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (result.size, result.size)
    assert all(total == result.size for _, total in calls)


def test_overwrites_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "o.encoderfile"
    out.write_bytes(b"old")
    write_golden(out)
    assert out.read_bytes() == GOLDEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.encoderfile"]


def test_error_removes_temp_file_and_keeps_old_output(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "o.encoderfile"
    out.write_bytes(b"old")
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"weights")
    real_hash = writer_module._Source.hash

    def hash_then_modify(self):
        result = real_hash(self)
        if self.path == str(weights):
            weights.write_bytes(b"WEIGHTS")  # same length, different bytes
        return result

    monkeypatch.setattr(writer_module._Source, "hash", hash_then_modify)
    artifacts = dict(GOLDEN_ARTIFACTS)
    artifacts[ArtifactKind.WEIGHTS] = weights
    with pytest.raises(FileChangedError) as exc:
        write_golden(out, artifacts=artifacts)
    assert str(exc.value) == (
        f"weights: {weights} changed while the encoderfile was being written (hashed 7 bytes"
        " first, then 7 bytes with a different digest); retry when it is stable"
    )
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "o.encoderfile"]


def test_duplicate_artifact(tmp_path: Path) -> None:
    with pytest.raises(DuplicateArtifactError) as exc:
        write_golden(
            tmp_path / "o",
            artifacts=[("weights", b"a"), (ArtifactKind.WEIGHTS, b"b")],
        )
    assert str(exc.value) == (
        "artifact 'weights' (field 100) was given more than once; pass each artifact kind"
        " exactly once"
    )
    with pytest.raises(DuplicateArtifactError):
        write_golden(tmp_path / "o", artifacts={"tokenizer": b"a", ArtifactKind.TOKENIZER: b"b"})
    assert list(tmp_path.iterdir()) == []


def test_missing_and_unexpected_artifacts(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError) as exc:
        write_golden(tmp_path / "o", artifacts={"weights": b"w"})
    assert str(exc.value) == (
        "a embedding encoderfile needs the artifact(s) model_config, tokenizer"
        " (required: weights, model_config, tokenizer)"
    )
    artifacts = dict(GOLDEN_ARTIFACTS)
    artifacts[ArtifactKind.IMAGE_PREPROCESSOR] = b"{}"
    with pytest.raises(UnexpectedArtifactError) as exc2:
        write_golden(tmp_path / "o", artifacts=artifacts)
    assert str(exc2.value) == (
        "a embedding encoderfile cannot contain the artifact(s) image_preprocessor"
        " (allowed: weights, transform, model_config, tokenizer)"
    )
    # Off by request (e.g. tests of the format itself).
    write_golden(tmp_path / "o", artifacts={"weights": b"w"}, require_artifacts=False)


def test_empty_artifact(tmp_path: Path) -> None:
    artifacts = dict(GOLDEN_ARTIFACTS)
    artifacts[ArtifactKind.TRANSFORM] = b""
    out = tmp_path / "o"
    write_golden(out, artifacts=artifacts)
    with EncoderfileReader.open(out) as reader:
        assert reader.read_bytes(ArtifactKind.TRANSFORM) == b""
        assert bytes(reader.view(ArtifactKind.TRANSFORM)) == b""
        assert reader.verify_all() == []


# -- zip bases ---------------------------------------------------------------------------------


def make_zipapp(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text(
        "import sys, zipfile\n" "print('zipapp ok', zipfile.ZipFile(sys.argv[0]).namelist())\n"
    )
    (app / "data.txt").write_text("x" * 5000)
    base = tmp_path / "base.pyz"
    zipapp.create_archive(app, base, interpreter="/usr/bin/env python3")
    return base


def test_zip_base_relocation(tmp_path: Path) -> None:
    base = make_zipapp(tmp_path)
    weights = tmp_path / "model.onnx"
    weights.write_bytes(os.urandom(1_200_000))  # far past the 64 KiB EOCD search window
    out = tmp_path / "out.pyz"
    result = write_golden(
        out, base=base, artifacts={**GOLDEN_ARTIFACTS, ArtifactKind.WEIGHTS: weights}
    )
    assert result.zip_relocated and result.padding == 0
    data = out.read_bytes()
    assert data.startswith(base.read_bytes())
    assert data[-32:][:8] == b"ENCFILE\0"
    # The footer is the new EOCD's 32-byte comment.
    assert data[-54:-50] == b"PK\x05\x06" and data[-34:-32] == b"\x20\x00"

    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.comment == data[-32:]
        assert sorted(zf.namelist()) == ["__main__.py", "data.txt"]
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, check=True)
    assert run.stdout.startswith("zipapp ok")

    with EncoderfileReader.open(out) as reader:
        assert reader.base_size == base.stat().st_size
        assert bytes(reader.view(ArtifactKind.WEIGHTS)) == weights.read_bytes()
        assert reader.verify_all() == []


def test_zip_base_with_prefix(tmp_path: Path) -> None:
    """A header prepended after zipping: zip offsets are relative to the zip's own start."""
    base = make_zipapp(tmp_path)
    prefixed = tmp_path / "prefixed.pyz"
    prefixed.write_bytes(b"#" * 70_000 + b"\n" + base.read_bytes())
    out = tmp_path / "out.pyz"
    result = write_golden(out, base=prefixed)
    assert result.zip_relocated
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("data.txt") == b"x" * 5000


def test_zip_footer_signature_is_avoided_with_padding(tmp_path: Path) -> None:
    """metadata_offset 0x06054b50 would put PK\\x05\\x06 into the footer: pad one byte."""
    small = make_zipapp(tmp_path).read_bytes()
    base = tmp_path / "big.pyz"
    with open(base, "wb") as f:
        f.truncate(0x06054B50 - len(small))  # sparse prefix, cheap to create
        f.seek(0, os.SEEK_END)
        f.write(small)
    assert base.stat().st_size == 0x06054B50
    out = tmp_path / "out.pyz"
    result = write_golden(out, base=base)
    assert result.padding == 1 and result.metadata_offset == 0x06054B50 + 1
    with open(out, "rb") as f:
        f.seek(-54, os.SEEK_END)
        trailer = f.read()
    assert trailer.rfind(b"PK\x05\x06") == 0  # only the EOCD's own signature
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
    with EncoderfileReader.open(out) as reader:
        assert reader.base_size == 0x06054B50 + 1
        assert reader.read_bytes(ArtifactKind.TOKENIZER) == b"tokenizer"
    out.unlink()
    base.unlink()


def test_zip_base_payload_too_large(tmp_path: Path) -> None:
    small = make_zipapp(tmp_path).read_bytes()
    base = tmp_path / "huge.pyz"
    with open(base, "wb") as f:
        f.truncate(2**32 - 100 - len(small))  # sparse; never read whole
        f.seek(0, os.SEEK_END)
        f.write(small)
    with pytest.raises(PayloadTooLargeError) as exc:
        write_golden(tmp_path / "out.pyz", base=base)
    assert str(exc.value) == (
        "a zip (PEX) base of 4294967196 bytes plus a payload of 373 bytes makes a 4294967569-byte"
        " file, but a zip base must stay under 4 GiB (4294967296 bytes) because CPython <= 3.12"
        " cannot import from ZIP64; use a smaller (e.g. quantized) model or a native, non-zip base"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "base.pyz", "huge.pyz"]
