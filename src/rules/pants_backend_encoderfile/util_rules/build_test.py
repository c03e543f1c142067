"""The generated `encoderfile build` config."""

from __future__ import annotations

from pants_backend_encoderfile.util_rules.build import build_config

PATHS = {"weights": "m/model.onnx", "tokenizer": "m/tokenizer.json", "model_config": "m/c.json"}


def test_minimal_config() -> None:
    assert build_config(name="m", version="0.1.0", model_type="embedding", paths=PATHS) == {
        "encoderfile": {
            "name": "m",
            "version": "0.1.0",
            "model_type": "embedding",
            "path": {
                "model_config_path": "m/c.json",
                "model_weights_path": "m/model.onnx",
                "tokenizer_path": "m/tokenizer.json",
            },
        }
    }


def test_full_config() -> None:
    cfg = build_config(
        name="m",
        version="2",
        model_type="sequence_classification",
        paths={**PATHS, "tokenizer_config": "m/tc.json", "transform": "t.lua"},
        lua_libs=("table", "math"),
        pad_strategy=64,
        truncation_side="left",
        truncation_strategy="only_first",
        max_length=128,
        stride=8,
    )["encoderfile"]
    assert cfg["path"]["tokenizer_config_path"] == "m/tc.json"
    assert cfg["transform"] == {"path": "t.lua"}
    assert cfg["lua_libs"] == ["table", "math"]
    assert cfg["tokenizer"] == {
        "pad_strategy": {"fixed": 64},
        "truncation_side": "left",
        "truncation_strategy": "only_first",
        "max_length": 128,
        "stride": 8,
    }
    batch = build_config(
        name="m", version="2", model_type="embedding", paths=PATHS, pad_strategy="batch_longest"
    )
    assert batch["encoderfile"]["tokenizer"] == {"pad_strategy": "batch_longest"}
