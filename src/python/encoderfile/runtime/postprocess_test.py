"""Post-processing helpers that need no model."""

from __future__ import annotations

import numpy as np

from encoderfile.runtime import postprocess as pp


def tok(label: str, start: int, end: int, score: float = 1.0) -> dict:
    return {"label": label, "score": score, "token_info": {"start": start, "end": end}}


def test_group_entities_simple() -> None:
    text = "John Smith lives in New York"
    tokens = [
        tok("B-PER", 0, 4, 0.9),
        tok("I-PER", 5, 10, 0.7),
        tok("O", 11, 16),
        tok("O", 17, 19),
        tok("B-LOC", 20, 23),
        tok("I-LOC", 24, 28),
    ]
    ents = pp.group_entities(tokens, text)
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in ents] == [
        ("PER", "John Smith", 0, 10),
        ("LOC", "New York", 20, 28),
    ]
    assert abs(ents[0]["score"] - 0.8) < 1e-9


def test_group_entities_type_change_and_b_restart() -> None:
    tokens = [tok("B-PER", 0, 1), tok("I-ORG", 1, 2), tok("B-ORG", 2, 3), tok("PER", 3, 4)]
    ents = pp.group_entities(tokens, "abcd")
    assert [(e["entity_group"], e["word"]) for e in ents] == [
        ("PER", "a"),
        ("ORG", "b"),
        ("ORG", "c"),
        ("PER", "d"),
    ]


def test_byte_offsets_for_non_ascii() -> None:
    assert pp._byte_offsets("abc") is None
    table = pp._byte_offsets("zé!")
    assert table == [0, 1, 3, 4]


def test_mean_pool_and_normalize() -> None:
    h = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pp.mean_pool(h, mask), h[:, :2].mean(1))
    v = pp.l2_normalize(np.array([[3.0, 4.0]], np.float32))
    np.testing.assert_allclose(v, [[0.6, 0.8]], rtol=1e-6)
    s = pp.softmax(np.array([[0.0, 0.0]], np.float32))
    np.testing.assert_allclose(s, [[0.5, 0.5]])
