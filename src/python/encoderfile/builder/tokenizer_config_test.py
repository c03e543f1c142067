from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoderfile.builder.config import TokenizerOverrides
from encoderfile.builder.errors import TokenizerConfigError
from encoderfile.builder.testing import tokenizer_json
from encoderfile.builder.tokenizer_config import build_tokenizer_artifact

DEFAULT_CONFIG = {
    "padding": {
        "strategy": "BatchLongest",
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "[PAD]",
    },
    "truncation": {
        "direction": "Right",
        "max_length": 512,
        "strategy": "LongestFirst",
        "stride": 0,
    },
}


def _files(tmp_path: Path, tc: object = None, tok: str | None = None) -> tuple[Path, Path | None]:
    t = tmp_path / "tokenizer.json"
    t.write_text(tok or tokenizer_json())
    c = None
    if tc is not None:
        c = tmp_path / "tokenizer_config.json"
        c.write_text(json.dumps(tc))
    return t, c


def _parse(data: bytes) -> dict:
    doc = json.loads(data)
    assert list(doc) == ["tokenizer", "config"]
    # The applied params inside the tokenizer are the ones in "config".
    assert doc["tokenizer"]["padding"] == doc["config"]["padding"]
    assert doc["tokenizer"]["truncation"] == doc["config"]["truncation"]
    return doc


def test_no_config_no_params_uses_defaults(tmp_path: Path) -> None:
    a = build_tokenizer_artifact(*_files(tmp_path), TokenizerOverrides())
    doc = _parse(a.data)
    assert doc["config"] == DEFAULT_CONFIG
    assert b'"config":{"padding":{"strategy":"BatchLongest","direction":"Right"' in a.data
    assert len(a.notes) == 2 and "no padding" in a.notes[0] and "no truncation" in a.notes[1]


def test_no_config_keeps_tokenizer_json_params(tmp_path: Path) -> None:
    tok = tokenizer_json(pad=True, truncation=True)
    a = build_tokenizer_artifact(*_files(tmp_path, tok=tok), TokenizerOverrides())
    cfg = _parse(a.data)["config"]
    assert cfg["padding"]["strategy"] == {"Fixed": 16}
    assert cfg["truncation"]["max_length"] == 16
    assert any("using the padding stored in" in n for n in a.notes)


def test_tokenizer_config_overlay(tmp_path: Path) -> None:
    tc = {
        "padding_side": "left",
        "pad_token": {"content": "[MASK]", "special": True},
        "pad_token_type_id": 1,
        "pad_to_multiple_of": 8,
        "truncation_side": "left",
        "truncation_strategy": "only_first",
        "model_max_length": 128,
        "stride": 2,
    }
    a = build_tokenizer_artifact(*_files(tmp_path, tc), TokenizerOverrides())
    assert a.notes == ()
    assert _parse(a.data)["config"] == {
        "padding": {
            "strategy": "BatchLongest",
            "direction": "Left",
            "pad_to_multiple_of": 8,
            "pad_id": 4,
            "pad_type_id": 1,
            "pad_token": "[MASK]",
        },
        "truncation": {
            "direction": "Left",
            "max_length": 128,
            "strategy": "OnlyFirst",
            "stride": 2,
        },
    }


def test_sentinel_max_length_falls_back(tmp_path: Path) -> None:
    a = build_tokenizer_artifact(
        *_files(tmp_path, {"model_max_length": int(1e30), "pad_token": "[PAD]"}),
        TokenizerOverrides(),
    )
    assert _parse(a.data)["config"]["truncation"]["max_length"] == 512
    assert any("transformers' 'unknown' value); truncating at 512" in n for n in a.notes)
    assert any("does not set padding_side" in n for n in a.notes)


def test_yaml_overrides_win(tmp_path: Path) -> None:
    o = TokenizerOverrides(
        pad_strategy=32,
        truncation_side="left",
        truncation_strategy="only_second",
        max_length=30,
        stride=3,
    )
    a = build_tokenizer_artifact(*_files(tmp_path, {"model_max_length": 64}), o)
    cfg = _parse(a.data)["config"]
    assert cfg["padding"]["strategy"] == {"Fixed": 32}
    assert cfg["truncation"] == {
        "direction": "Left",
        "max_length": 30,
        "strategy": "OnlySecond",
        "stride": 3,
    }
    o2 = TokenizerOverrides(pad_strategy="batch_longest")
    tok = tokenizer_json(pad=True)
    a2 = build_tokenizer_artifact(*_files(tmp_path, tok=tok), o2)
    assert _parse(a2.data)["config"]["padding"]["strategy"] == "BatchLongest"


def test_applied_tokenizer_really_pads_and_truncates(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    o = TokenizerOverrides(pad_strategy=8, max_length=8)
    a = build_tokenizer_artifact(*_files(tmp_path, {"model_max_length": 64}), o)
    tok = Tokenizer.from_str(json.dumps(_parse(a.data)["tokenizer"]))
    enc = tok.encode("hello world the cat sat on the mat the dog")
    assert len(enc.ids) == 8 and enc.ids[-1] == 3
    assert tok.encode("hello").ids == [2, 5, 3, 0, 0, 0, 0, 0]


def test_deterministic(tmp_path: Path) -> None:
    f = _files(tmp_path, {"model_max_length": 64})
    assert (
        build_tokenizer_artifact(*f, TokenizerOverrides()).data
        == build_tokenizer_artifact(*f, TokenizerOverrides()).data
    )


@pytest.mark.parametrize(
    "tc, message",
    [
        ({"pad_token": "<pad>"}, "pad token '<pad>' is not in the vocabulary"),
        ({"padding_side": "top"}, 'padding_side must be "left" or "right"'),
        ({"truncation_strategy": "do_not_truncate"}, "truncation_strategy must be one of"),
        ({"model_max_length": "big"}, "model_max_length must be a non-negative integer"),
        ({"stride": 200, "model_max_length": 16}, "the tokenizers library rejects"),
        ([1], "must hold a JSON object"),
    ],
)
def test_errors(tmp_path: Path, tc: object, message: str) -> None:
    with pytest.raises(TokenizerConfigError, match=message):
        build_tokenizer_artifact(*_files(tmp_path, tc), TokenizerOverrides())


def test_bad_tokenizer_json(tmp_path: Path) -> None:
    t, _ = _files(tmp_path, tok="{}")
    with pytest.raises(TokenizerConfigError, match="is not a tokenizers tokenizer"):
        build_tokenizer_artifact(t, None, TokenizerOverrides())
    t.write_text("{oops")
    with pytest.raises(TokenizerConfigError, match="is not valid JSON"):
        build_tokenizer_artifact(t, None, TokenizerOverrides())
