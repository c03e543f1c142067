from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoderfile.builder.errors import ModelConfigError
from encoderfile.builder.model_config import build_model_config


def _write(tmp_path: Path, cfg: object) -> Path:
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return p


def test_subset_order_nulls_and_sorted_labels(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        {
            "hidden_size": 8,
            "label2id": {"b": 10, "a": 2, "c": 1},
            "id2label": {"10": "b", "2": "a", "1": "c"},
            "model_type": "bert",
            "image_size": 224,
        },
    )
    a = build_model_config(p, "sequence_classification")
    assert a.data == (
        b'{"model_type":"bert","num_labels":null,"id2label":{"1":"c","2":"a","10":"b"},'
        b'"label2id":{"c":1,"a":2,"b":10},"height":null,"width":null,"image_size":224,'
        b'"num_channels":null}'
    )
    assert a.num_labels == 3


def test_embedding_and_unicode(tmp_path: Path) -> None:
    a = build_model_config(_write(tmp_path, {"model_type": "bért"}), "embedding")
    assert a.data.startswith('{"model_type":"bért","num_labels":null'.encode())
    assert a.num_labels is None


@pytest.mark.parametrize(
    "cfg, model_type, message",
    [
        ({"model_type": "bert"}, "sequence_classification", "needs id2label"),
        (
            {"model_type": "bert", "num_labels": 3, "id2label": {"0": "a", "1": "b"}},
            "token_classification",
            "num_labels is 3 but id2label has 2 entries",
        ),
        ({}, "embedding", "no string model_type"),
        ({"model_type": "bert", "id2label": {"x": "a"}}, "embedding", "key 'x' is not an integer"),
        ({"model_type": "bert", "num_labels": -1}, "embedding", "num_labels must be"),
        ([], "embedding", "must hold a JSON object"),
    ],
)
def test_errors(tmp_path: Path, cfg: object, model_type: str, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message):
        build_model_config(_write(tmp_path, cfg), model_type)


def test_unreadable(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelConfigError, match="is not valid JSON"):
        build_model_config(tmp_path / "config.json", "embedding")
    with pytest.raises(ModelConfigError, match="cannot read"):
        build_model_config(tmp_path / "nope.json", "embedding")
