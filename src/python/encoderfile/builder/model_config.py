"""The model_config artifact: a compact, reproducible JSON subset of HF config.json."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Union

from encoderfile.builder.errors import ModelConfigError

# Key order of the reference's ModelConfig struct (serde writes fields in declaration order).
MODEL_CONFIG_KEYS = (
    "model_type",
    "num_labels",
    "id2label",
    "label2id",
    "height",
    "width",
    "image_size",
    "num_channels",
)
_U32 = (1 << 32) - 1
CLASSIFIER_TYPES = ("sequence_classification", "token_classification")


@dataclass(frozen=True)
class ModelConfigArtifact:
    """The artifact bytes plus what the ONNX check needs."""

    data: bytes
    num_labels: int | None  # the number of labels for classifiers, else None


def _uint(v: Any, key: str, path: str, limit: int = _U32) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
        raise ModelConfigError(f"{path}: {key} must be a non-negative integer, got {v!r}")
    return v


def build_model_config(path: Union[str, os.PathLike], model_type: str) -> ModelConfigArtifact:
    """Read config.json and return the model_config artifact.

    id2label is written sorted by id and label2id sorted by id then label, so the output does not
    depend on dict order (the reference writes them in hash order).

    Raises:
        ModelConfigError: unreadable/invalid JSON, wrong value types, or a classifier without
            labels or with num_labels disagreeing with id2label.
    """
    spath = os.fspath(path)
    try:
        with open(spath, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise ModelConfigError(f"cannot read {spath}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelConfigError(f"{spath} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise ModelConfigError(f"{spath} must hold a JSON object")

    hf_type = cfg.get("model_type")
    if not isinstance(hf_type, str):
        raise ModelConfigError(
            f'{spath} has no string model_type (e.g. "bert"); the runtime requires it'
        )
    out: Dict[str, Any] = {k: None for k in MODEL_CONFIG_KEYS}
    out["model_type"] = hf_type

    num_labels = cfg.get("num_labels")
    if num_labels is not None:
        out["num_labels"] = _uint(num_labels, "num_labels", spath, limit=(1 << 63) - 1)

    id2label = cfg.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict):
            raise ModelConfigError(f'{spath}: id2label must be an object {{"0": "LABEL", ...}}')
        parsed = {}
        for k, v in id2label.items():
            try:
                i = int(k)
            except (TypeError, ValueError):
                raise ModelConfigError(f"{spath}: id2label key {k!r} is not an integer") from None
            _uint(i, "id2label key", spath)
            if not isinstance(v, str):
                raise ModelConfigError(f"{spath}: id2label[{k}] must be a string, got {v!r}")
            if i in parsed:
                raise ModelConfigError(f"{spath}: id2label has id {i} twice")
            parsed[i] = v
        out["id2label"] = {str(i): parsed[i] for i in sorted(parsed)}

    label2id = cfg.get("label2id")
    if label2id is not None:
        if not isinstance(label2id, dict):
            raise ModelConfigError(f'{spath}: label2id must be an object {{"LABEL": 0, ...}}')
        for k, v in label2id.items():
            _uint(v, f"label2id[{k!r}]", spath)
        out["label2id"] = {k: label2id[k] for k in sorted(label2id, key=lambda k: (label2id[k], k))}

    for key in ("height", "width", "image_size", "num_channels"):
        if cfg.get(key) is not None:
            out[key] = _uint(cfg[key], key, spath)

    labels: int | None = None
    if model_type in CLASSIFIER_TYPES:
        if not out["id2label"]:
            raise ModelConfigError(
                f"{spath}: model_type {model_type} needs id2label (the class names), e.g. "
                f'"id2label": {{"0": "NEGATIVE", "1": "POSITIVE"}}'
            )
        labels = len(out["id2label"])
        if out["num_labels"] is not None and out["num_labels"] != labels:
            raise ModelConfigError(
                f"{spath}: num_labels is {out['num_labels']} but id2label has {labels} entries; "
                f"make them agree"
            )
    # ensure_ascii=False and compact separators: the bytes serde_json would write.
    data = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return ModelConfigArtifact(data=data, num_labels=labels)
