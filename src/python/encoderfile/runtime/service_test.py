"""InferenceService on encoderfiles built from the tiny models, checked against onnxruntime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from encoderfile.runtime.batching import BatchingConfig
from encoderfile.runtime.errors import ModelLoadError, RuntimeInputError
from encoderfile.runtime.options import InferenceOptions, PredictOptions
from encoderfile.runtime.service import InferenceService
from encoderfile.runtime.testing import build_test_encoderfile, tiny_models_dir

TEXTS = [
    "Hello world, this is a test.",
    "short",
    "The quick brown fox jumps over the lazy dog near the river bank in the evening.",
    "Zürich café — naïve résumé",
    "a b c",
]


def reference(model_type: str, texts: list[str]) -> tuple[np.ndarray, list, np.ndarray]:
    """Run the tiny model directly: (output, encodings, attention mask) of one padded batch."""
    src = tiny_models_dir() / model_type
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    tok.enable_truncation(128)
    encs = tok.encode_batch(texts)
    sess = ort.InferenceSession(str(src / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    feeds = {
        "input_ids": np.array([e.ids for e in encs], np.int64),
        "attention_mask": np.array([e.attention_mask for e in encs], np.int64),
    }
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.array([e.type_ids for e in encs], np.int64)
    out = sess.run(None, feeds)[0]
    return out, encs, feeds["attention_mask"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ef")
    return {
        mt: build_test_encoderfile(tmp, mt)
        for mt in (
            "embedding",
            "sentence_embedding",
            "sequence_classification",
            "token_classification",
        )
    }


def load(path: Path, **kwargs) -> InferenceService:
    return InferenceService.from_encoderfile(path, InferenceOptions(), **kwargs)


def test_embedding_values_tokens_and_offsets(files: dict[str, Path]) -> None:
    out, encs, _ = reference("embedding", TEXTS)
    with load(files["embedding"]) as svc:
        assert svc.model_info() == {
            "model_id": "tiny-embedding",
            "model_type": "embedding",
            "id2label": None,
        }
        assert svc.hidden_size == out.shape[-1]
        results = svc.predict_sync(TEXTS)
    for b, (text, res) in enumerate(zip(TEXTS, results)):
        keep = [i for i, s in enumerate(encs[b].special_tokens_mask) if not s]
        assert len(res["embeddings"]) == len(keep)
        tokens = [e["token_info"]["token"] for e in res["embeddings"]]
        assert "[CLS]" not in tokens and "[SEP]" not in tokens and "[PAD]" not in tokens
        for i, e in zip(keep, res["embeddings"]):
            np.testing.assert_allclose(e["embedding"], out[b, i], rtol=1e-4, atol=1e-5)
            info = e["token_info"]
            assert info["token_id"] == encs[b].ids[i]
            assert isinstance(e["embedding"][0], float)
            # Offsets are UTF-8 byte offsets (as the reference) and cover the token's text.
            assert 0 <= info["start"] < info["end"] <= len(text.encode())
            c0, c1 = encs[b].offsets[i]
            assert text[c0:c1].encode() == text.encode()[info["start"] : info["end"]]


def test_sentence_embedding_is_masked_mean(files: dict[str, Path]) -> None:
    out, _, mask = reference("sentence_embedding", TEXTS)
    expected = (out * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    with load(files["sentence_embedding"]) as svc:
        results = svc.predict_sync(TEXTS)
        normalized = svc.predict_sync(TEXTS, PredictOptions(normalize=True))
    got = np.array([r["embedding"] for r in results])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    norms = np.linalg.norm(np.array([r["embedding"] for r in normalized]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_sequence_classification(files: dict[str, Path]) -> None:
    out, _, _ = reference("sequence_classification", TEXTS)
    with load(files["sequence_classification"]) as svc:
        info = svc.model_info()
        results = svc.predict_sync(TEXTS)
        soft = svc.predict_sync(TEXTS, PredictOptions(softmax=True))
    assert info["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    for b, r in enumerate(results):
        assert set(r) == {"logits", "scores", "predicted_index", "predicted_label"}
        np.testing.assert_allclose(r["logits"], out[b], rtol=1e-4, atol=1e-5)
        assert r["scores"] == r["logits"]
        assert r["predicted_index"] == int(out[b].argmax())
        assert r["predicted_label"] == info["id2label"][str(r["predicted_index"])]
        assert abs(sum(soft[b]["scores"]) - 1) < 1e-5


def test_token_classification(files: dict[str, Path]) -> None:
    out, encs, _ = reference("token_classification", TEXTS)
    with load(files["token_classification"]) as svc:
        results = svc.predict_sync(TEXTS)
        grouped = svc.predict_sync(TEXTS, PredictOptions(softmax=True, aggregation="simple"))
        labels = svc.id2label
    assert labels is not None
    for b, r in enumerate(results):
        keep = [i for i, s in enumerate(encs[b].special_tokens_mask) if not s]
        assert [t["token_info"]["token_id"] for t in r["tokens"]] == [encs[b].ids[i] for i in keep]
        for i, t in zip(keep, r["tokens"]):
            np.testing.assert_allclose(t["scores"], out[b, i], rtol=1e-4, atol=1e-5)
            assert t["label"] == labels[int(out[b, i].argmax())]
            assert t["score"] == max(t["scores"])
        assert "entities" not in r
    for r in grouped:
        assert "entities" in r
        for e in r["entities"]:
            assert set(e) == {"entity_group", "score", "word", "start", "end"}


def test_concurrent_predict_equals_sequential(files: dict[str, Path]) -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    requests = [
        [" ".join(words[: 1 + (r * 3 + k) % 10] * (1 + r % 4)) for k in range(1 + r % 3)]
        for r in range(50)
    ]
    with load(files["sequence_classification"], batching=BatchingConfig(max_batch_size=16)) as svc:
        sequential = [svc.predict_sync(req) for req in requests]

        async def go() -> list:
            return await asyncio.gather(*(svc.predict(req) for req in requests))

        concurrent = asyncio.run(go())
        batches = svc._batcher.batches_run if svc._batcher else 0
    assert len(concurrent) == len(sequential)
    for a, b in zip(concurrent, sequential):
        for x, y in zip(a, b):
            assert x["predicted_index"] == y["predicted_index"]
            np.testing.assert_allclose(x["logits"], y["logits"], rtol=1e-4, atol=1e-5)
    assert 0 < batches < 50


def test_batching_disabled_matches(files: dict[str, Path]) -> None:
    with load(files["embedding"], batching=BatchingConfig(enabled=False)) as svc:
        a = svc.predict_sync(TEXTS)
        b = asyncio.run(svc.predict(TEXTS))
    assert [len(r["embeddings"]) for r in a] == [len(r["embeddings"]) for r in b]
    np.testing.assert_allclose(
        a[2]["embeddings"][3]["embedding"], b[2]["embeddings"][3]["embedding"], rtol=1e-5
    )


@pytest.mark.parametrize(
    "inputs,message",
    [
        ([], "Cannot tokenize empty string"),
        (["ok", ""], "Cannot tokenize empty string"),
        (["ok", 3], "list of strings"),
        ("text", "list of strings"),
    ],
)
def test_input_validation(files: dict[str, Path], inputs, message: str) -> None:
    with load(files["embedding"]) as svc:
        with pytest.raises(RuntimeInputError, match=message):
            svc.predict_sync(inputs)
        with pytest.raises(RuntimeInputError, match=message):
            asyncio.run(svc.predict(inputs))
        with pytest.raises(RuntimeInputError, match="softmax"):
            svc.predict_sync(["x"], PredictOptions(softmax=True))


def test_predict_options_from_request() -> None:
    assert PredictOptions.from_request({"inputs": ["x"]}) == PredictOptions()
    assert PredictOptions.from_request(
        {"softmax": True, "aggregation": "simple"}
    ) == PredictOptions(softmax=True, aggregation="simple")
    with pytest.raises(RuntimeInputError, match="'normalize' must be a boolean"):
        PredictOptions.from_request({"normalize": "yes"})
    with pytest.raises(RuntimeInputError, match="unknown aggregation"):
        PredictOptions.from_request({"aggregation": "max"})


def test_transform_in_file(tmp_path: Path) -> None:
    path = build_test_encoderfile(
        tmp_path,
        "sequence_classification",
        transform="function Postprocess(x) return x:softmax(2) end",
    )
    with load(path) as svc:
        r = svc.predict_sync(["hello there"])[0]
    assert abs(sum(r["logits"]) - 1) < 1e-5


def test_sentence_transform_replaces_pooling(tmp_path: Path) -> None:
    src = (
        "function Postprocess(x, m)"
        " return x:mean_pool(m):truncate_axis(2, 8):lp_normalize(2, 2) end"
    )
    path = build_test_encoderfile(tmp_path, "sentence_embedding", transform=src)
    with load(path) as svc:
        r = svc.predict_sync(["hello there", "a much longer sentence than the first one"])
    assert [len(x["embedding"]) for x in r] == [8, 8]
    assert abs(np.linalg.norm(r[1]["embedding"]) - 1) < 1e-5


def test_broken_transform_is_a_load_error(tmp_path: Path) -> None:
    path = build_test_encoderfile(tmp_path, "embedding", transform="function Postprocess(x")
    with pytest.raises(ModelLoadError, match="embedded transform"):
        load(path)


def test_corrupted_file_is_a_one_line_load_error(tmp_path: Path, files: dict[str, Path]) -> None:
    data = files["embedding"].read_bytes()
    truncated = tmp_path / "truncated.encoderfile"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as info:
        load(truncated)
    assert "\n" not in str(info.value)
    flipped = tmp_path / "flipped.encoderfile"
    raw = bytearray(data)
    raw[1000] ^= 0xFF  # inside the ONNX weights
    flipped.write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match="integrity|sha|checksum|SHA") as info:
        InferenceService.from_encoderfile(flipped, InferenceOptions(verify=True))
    assert "\n" not in str(info.value)
    with pytest.raises(ModelLoadError, match="cannot open"):
        load(tmp_path / "missing.encoderfile")


def test_large_model_path_matches(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The external-initializer path (used above 64 MB) gives the same numbers."""
    from encoderfile.runtime import model

    with load(files["embedding"]) as svc:
        expected = svc.predict_sync(TEXTS[:2])
    monkeypatch.setattr(model, "EXTERNAL_INITIALIZER_THRESHOLD", 0)
    monkeypatch.setattr(model, "_MIN_EXTERNAL_TENSOR", 256)
    with load(files["embedding"]) as svc:
        assert svc.model.keepalive is not None
        got = svc.predict_sync(TEXTS[:2])
    for a, b in zip(expected, got):
        for x, y in zip(a["embeddings"], b["embeddings"]):
            np.testing.assert_allclose(x["embedding"], y["embedding"], rtol=1e-5, atol=1e-6)
