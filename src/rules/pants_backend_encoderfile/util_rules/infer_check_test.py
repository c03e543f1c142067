"""The `encoderfile_test` checker: label and numeric comparisons, and their messages."""

from __future__ import annotations

import json
from pathlib import Path

from pants_backend_encoderfile.util_rules.infer_check import check, compare


def test_compare_within_tolerance() -> None:
    assert compare({"a": [1.0, 2.0]}, {"a": [1.00005, 2.0]}, 1e-4) == []
    assert compare([1.0], [1.1], 1e-4) == ["results[0]: 1.0 != 1.1 (|diff| 0.1 > tolerance 0.0001)"]
    assert compare([1, 2], [1], 0) == ["results: 2 items != expected 1"]
    assert compare({"a": 1}, {"b": 1}, 0) == ["results: keys ['a'] != expected ['b']"]
    assert compare([float("nan")], [0.0], 1.0)  # NaN never matches


def test_sequence_labels() -> None:
    spec = {
        "inputs": ["a", "b"],
        "model_type": "sequence_classification",
        "expected_labels": ["POS", "NEG"],
    }
    out = {"results": [{"predicted_label": "POS"}, {"predicted_label": "POS"}]}
    assert check(out, spec) == ["input 1 ('b'): predicted 'POS', expected 'NEG'"]


def test_token_labels() -> None:
    spec = {
        "inputs": ["a"],
        "model_type": "token_classification",
        "expected_labels": [("O", "B-PER")],
    }
    out = {"results": [{"tokens": [{"label": "O"}, {"label": "B-PER"}]}]}
    assert check(out, spec) == []


def test_result_count_and_expected_file(tmp_path: Path) -> None:
    spec = {"inputs": ["a"], "model_type": "embedding", "expected_labels": None}
    assert check({"results": []}, spec) == ["0 results for 1 inputs"]
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"results": [{"embedding": [0.5, 0.25]}]}))
    spec = {**spec, "expected": str(expected), "tolerance": 0.01}
    assert check({"results": [{"embedding": [0.501, 0.25]}]}, spec) == []
    assert check({"results": [{"embedding": [0.6, 0.25]}]}, spec) == [
        "results[0].embedding[0]: 0.6 != 0.5 (|diff| 0.1 > tolerance 0.01)"
    ]
