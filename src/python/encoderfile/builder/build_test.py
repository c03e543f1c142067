from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest

from encoderfile.builder.build import BuildOptions, apply_cli_overrides, build_encoderfile
from encoderfile.builder.config import TEXT_MODEL_TYPES, load_config
from encoderfile.builder.errors import BaseBinaryNotCachedError
from encoderfile.builder.testing import TINY_MODELS_DIR, write_config
from encoderfile.format import ArtifactKind, EncoderfileReader, ModelType
from encoderfile.proto import manifest_pb2

LUA = "function Postprocess(arr) return arr end"


def _yml(tmp_path: Path, model: Path, model_type: str, extra: str = "") -> Path:
    return write_config(
        tmp_path / f"{model_type}.yml",
        f"encoderfile:\n  name: tiny-{model_type}\n  path: {model}\n  model_type: {model_type}\n"
        f"  base_binary_path: base.sh\n{extra}",
    )


def _build_twice(tmp_path: Path, cfg_path: Path) -> tuple[bytes, Path, list[str]]:
    notes: list[str] = []
    config = load_config(cfg_path)
    first = build_encoderfile(config, note=notes.append)
    data = first.path.read_bytes()
    second = build_encoderfile(
        apply_cli_overrides(config, output_path=tmp_path / "again.encoderfile")
    )
    assert (tmp_path / "again.encoderfile").read_bytes() == data
    assert second.sha256 == first.sha256
    return data, first.path, notes


def _check(path: Path, model_type: str, transform: bool = False) -> None:
    assert os.access(path, os.X_OK)
    with EncoderfileReader.open(path) as r:
        assert r.verify_all() == []
        r.require_artifacts()
        assert r.model_type == ModelType.parse(model_type)
        assert r.name == f"tiny-{model_type}" and r.version == "0.2.0"
        assert r.has(ArtifactKind.TRANSFORM) == transform
        mc = json.loads(r.read_bytes(ArtifactKind.MODEL_CONFIG))
        assert list(mc)[:2] == ["model_type", "num_labels"]
        tok = json.loads(r.read_bytes(ArtifactKind.TOKENIZER))
        assert tok["tokenizer"]["padding"] == tok["config"]["padding"]
        if transform:
            t = manifest_pb2.Transform.FromString(r.read_bytes(ArtifactKind.TRANSFORM))
            assert t.transform == LUA


@pytest.mark.parametrize("model_type", TEXT_MODEL_TYPES)
def test_build_fixture_models_reproducibly(
    tmp_path: Path, model_dir: Callable[..., Path], base_binary: Path, model_type: str
) -> None:
    cfg = _yml(tmp_path, model_dir(model_type), model_type, f"  transform: '{LUA}'\n")
    data, path, notes = _build_twice(tmp_path, cfg)
    assert path == tmp_path / f"tiny-{model_type}.encoderfile"
    assert data.startswith(base_binary.read_bytes())
    _check(path, model_type, transform=True)


@pytest.mark.skipif(not TINY_MODELS_DIR.is_dir(), reason="models/tiny not available here")
@pytest.mark.parametrize("model_type", TEXT_MODEL_TYPES)
def test_build_tiny_models_reproducibly(tmp_path: Path, base_binary: Path, model_type: str) -> None:
    cfg = _yml(tmp_path, TINY_MODELS_DIR / model_type, model_type)
    data, path, notes = _build_twice(tmp_path, cfg)
    _check(path, model_type)
    with EncoderfileReader.open(path) as r:
        assert (
            r.info(ArtifactKind.WEIGHTS).length
            == (TINY_MODELS_DIR / model_type / "model.onnx").stat().st_size
        )


def test_directory_without_tokenizer_config_notes(
    tmp_path: Path, model_dir: Callable[..., Path], base_binary: Path
) -> None:
    cfg = _yml(tmp_path, model_dir("embedding", tokenizer_config=False), "embedding")
    notes: list[str] = []
    build_encoderfile(load_config(cfg), note=notes.append)
    assert any("has no tokenizer_config.json" in n for n in notes)
    assert any("no padding in" in n for n in notes)


def test_cache_resolution_and_no_download(
    tmp_path: Path, model_dir: Callable[..., Path], base_binary: Path
) -> None:
    cfg = write_config(
        tmp_path / "e.yml",
        f"encoderfile:\n  name: e\n  path: {model_dir()}\n  model_type: embedding\n"
        f"  cache_dir: cache\n  target: aarch64-apple-darwin\n",
    )
    config = load_config(cfg)
    with pytest.raises(BaseBinaryNotCachedError, match="encoderfile runtime add aarch64-apple"):
        build_encoderfile(config, BuildOptions(runtime_version="9.9.9", no_download=True))
    assert not (tmp_path / "e.encoderfile").exists()
    cached = tmp_path / "cache/base-binaries/9.9.9/aarch64-apple-darwin/encoderfile-runtime"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(base_binary.read_bytes())
    r = build_encoderfile(config, BuildOptions(runtime_version="9.9.9", no_download=True))
    assert (r.base.how, r.base.target, r.base.version) == ("cache", "aarch64-apple-darwin", "9.9.9")
