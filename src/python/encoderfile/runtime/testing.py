"""Test helpers: build small encoderfiles from the tiny models in models/tiny/ (tests only).

path = build_test_encoderfile(tmp_path, "token_classification")
path = build_test_encoderfile(tmp_path, "embedding", transform="function Postprocess(x) ...")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

CONFIG_KEYS = (
    "model_type",
    "num_labels",
    "id2label",
    "label2id",
    "height",
    "width",
    "image_size",
    "num_channels",
)
MAX_LENGTH = 128


def tiny_models_dir() -> Path:
    """models/tiny/ of the repository (override with ENCODERFILE_TINY_MODELS)."""
    override = os.environ.get("ENCODERFILE_TINY_MODELS")
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "models" / "tiny"
        if (candidate / "embedding" / "model.onnx").is_file():
            return candidate
    raise FileNotFoundError(f"models/tiny not found above {here}; set ENCODERFILE_TINY_MODELS")


def model_config_artifact(config: dict[str, Any]) -> bytes:
    """The compact config subset of format-v1.md, keys in the format's order."""
    subset: dict[str, Any] = {k: config.get(k) for k in CONFIG_KEYS}
    for key in ("id2label",):
        if isinstance(subset[key], dict):
            subset[key] = {
                str(k): v for k, v in sorted(subset[key].items(), key=lambda kv: int(kv[0]))
            }
    if isinstance(subset["label2id"], dict):
        subset["label2id"] = dict(sorted(subset["label2id"].items(), key=lambda kv: kv[1]))
    return json.dumps(subset, separators=(",", ":")).encode()


def tokenizer_artifact(tokenizer_json: str, *, max_length: int = MAX_LENGTH) -> bytes:
    """The tokenizer wrapper: padding BatchLongest (pad token [PAD]) and truncation applied."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    pad_token = "[PAD]"
    pad_id = tok.token_to_id(pad_token)
    if pad_id is None:
        raise ValueError(f"{pad_token} is not in the vocabulary")
    tok.enable_padding(direction="right", pad_id=pad_id, pad_type_id=0, pad_token=pad_token)
    tok.enable_truncation(max_length, stride=0, strategy="longest_first", direction="right")
    inner = json.loads(tok.to_str())
    wrapper = {
        "tokenizer": inner,
        "config": {"padding": inner["padding"], "truncation": inner["truncation"]},
    }
    return json.dumps(wrapper, separators=(",", ":")).encode()


def transform_artifact(source: str, lua_libs: Iterable[str] | None = None) -> bytes:
    from encoderfile.proto import manifest_pb2

    msg = manifest_pb2.Transform(transform_type=manifest_pb2.LUA, transform=source.strip())
    if lua_libs is not None:
        msg.lua_libs.libs.extend(lua_libs)
    return msg.SerializeToString()


def build_test_encoderfile(
    tmp_path: str | os.PathLike[str],
    model_type: str,
    *,
    base: str | os.PathLike[str] | bytes | None = None,
    transform: str | None = None,
    lua_libs: Iterable[str] | None = None,
    name: str | None = None,
    version: str = "0.1.0",
    filename: str | None = None,
) -> Path:
    """Write `<tmp_path>/<model_type>.encoderfile` from models/tiny/<model_type>/."""
    from encoderfile.format import ArtifactKind, write_encoderfile

    src = tiny_models_dir() / model_type
    if not src.is_dir():
        raise FileNotFoundError(f"no tiny model for {model_type!r} in {src.parent}")
    config = json.loads((src / "config.json").read_text())
    artifacts: dict[ArtifactKind, Any] = {
        ArtifactKind.WEIGHTS: src / "model.onnx",
        ArtifactKind.MODEL_CONFIG: model_config_artifact(config),
        ArtifactKind.TOKENIZER: tokenizer_artifact((src / "tokenizer.json").read_text()),
    }
    if transform is not None:
        artifacts[ArtifactKind.TRANSFORM] = transform_artifact(transform, lua_libs)
    out = Path(tmp_path) / (filename or f"{model_type}.encoderfile")
    write_encoderfile(
        out,
        base=base,
        model_type=model_type,
        name=name or f"tiny-{model_type.replace('_', '-')}",
        version=version,
        artifacts=artifacts,
    )
    return out
