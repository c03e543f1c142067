from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest
from onnx import TensorProto

from encoderfile.builder import onnx_graph
from encoderfile.builder.errors import OnnxGraphError
from encoderfile.builder.onnx_graph import check_signature, read_graph_signature
from encoderfile.builder.testing import onnx_model_bytes


def _write(tmp_path: Path, data: bytes, name: str = "model.onnx") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "model_type, out, shape",
    [
        ("embedding", "last_hidden_state", ("batch", "seq", 8)),
        ("sentence_embedding", "last_hidden_state", ("batch", "seq", 8)),
        ("sequence_classification", "logits", ("batch", 2)),
        ("token_classification", "logits", ("batch", "seq", 3)),
    ],
)
def test_reads_inputs_and_outputs(tmp_path: Path, model_type: str, out: str, shape: tuple) -> None:
    sig = read_graph_signature(_write(tmp_path, onnx_model_bytes(model_type)))
    assert [t.name for t in sig.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(t.elem_type == TensorProto.INT64 for t in sig.inputs)
    assert sig.inputs[0].shape == ("batch", "seq")
    assert [t.name for t in sig.outputs] == [out]
    assert sig.outputs[0].shape == shape
    assert sig.outputs[0].elem_type == TensorProto.FLOAT
    assert check_signature(sig, model_type, "m") == []


def test_initializers_listed_as_inputs_are_not_inputs(tmp_path: Path) -> None:
    data = onnx_model_bytes("sequence_classification", initializers_as_inputs=True)
    sig = read_graph_signature(_write(tmp_path, data))
    assert [t.name for t in sig.inputs] == ["input_ids", "attention_mask", "token_type_ids"]


def test_seeks_over_initializers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, onnx_model_bytes("embedding", extra_initializer_bytes=8 << 20))
    read = [0]

    class Counting:
        def __init__(self, f):  # type: ignore[no-untyped-def]
            self.f = f

        def read(self, n: int = -1) -> bytes:
            b = self.f.read(n)
            read[0] += len(b)
            return b

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(self.f, name)

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *a):  # type: ignore[no-untyped-def]
            self.f.close()

    monkeypatch.setattr(
        onnx_graph, "open", lambda p, m: Counting(builtins.open(p, m)), raising=False
    )
    sig = read_graph_signature(path)
    assert sig.output("last_hidden_state") is not None
    assert path.stat().st_size > 8 << 20
    assert read[0] < 4096


def test_not_onnx(tmp_path: Path) -> None:
    with pytest.raises(OnnxGraphError, match="not a valid ONNX model"):
        read_graph_signature(_write(tmp_path, b"\xff" * 20))
    with pytest.raises(OnnxGraphError, match="has no graph"):
        read_graph_signature(_write(tmp_path, b""))
    with pytest.raises(OnnxGraphError, match="cannot open"):
        read_graph_signature(tmp_path / "missing.onnx")
    truncated = onnx_model_bytes("embedding")[:-10]
    with pytest.raises(OnnxGraphError, match="not a valid ONNX model"):
        read_graph_signature(_write(tmp_path, truncated))


def _sig(tmp_path: Path, model_type: str = "embedding", **kw: Any) -> Any:
    return read_graph_signature(_write(tmp_path, onnx_model_bytes(model_type, **kw)))


def test_extra_input_rejected(tmp_path: Path) -> None:
    sig = _sig(tmp_path, inputs=("input_ids", "attention_mask", "position_ids"))
    with pytest.raises(OnnxGraphError, match="inputs the runtime cannot feed: position_ids"):
        check_signature(sig, "embedding", "m.onnx")


def test_missing_attention_mask(tmp_path: Path) -> None:
    sig = _sig(tmp_path, inputs=("input_ids",))
    with pytest.raises(OnnxGraphError, match="lacks the input\\(s\\) attention_mask"):
        check_signature(sig, "embedding", "m.onnx")


def test_token_type_ids_optional(tmp_path: Path) -> None:
    sig = _sig(tmp_path, inputs=("input_ids", "attention_mask"))
    assert check_signature(sig, "embedding", "m.onnx") == []


def test_int32_inputs_rejected(tmp_path: Path) -> None:
    sig = _sig(tmp_path, input_type=TensorProto.INT32)
    with pytest.raises(OnnxGraphError, match="input_ids is int32, the runtime feeds int64"):
        check_signature(sig, "embedding", "m.onnx")


def test_output_must_fit_model_type(tmp_path: Path) -> None:
    emb = _sig(tmp_path, "embedding")
    with pytest.raises(OnnxGraphError, match="no output 'logits'.*last_hidden_state: float32"):
        check_signature(emb, "sequence_classification", "m.onnx")
    tok = _sig(tmp_path, "token_classification")
    with pytest.raises(OnnxGraphError, match="has rank 3, model_type sequence_classification"):
        check_signature(tok, "sequence_classification", "m.onnx")
    seq = _sig(tmp_path, "sequence_classification")
    with pytest.raises(OnnxGraphError, match="has rank 2, model_type token_classification"):
        check_signature(seq, "token_classification", "m.onnx")
    renamed = _sig(tmp_path, "embedding", output_name="hidden_out")
    with pytest.raises(OnnxGraphError, match="no output 'last_hidden_state'"):
        check_signature(renamed, "embedding", "m.onnx")


def test_logits_width_must_match_labels(tmp_path: Path) -> None:
    sig = _sig(tmp_path, "sequence_classification", num_labels=3)
    with pytest.raises(OnnxGraphError, match="gives 3 scores per item but config.json has 2"):
        check_signature(sig, "sequence_classification", "m.onnx", num_labels=2)
    assert check_signature(sig, "sequence_classification", "m.onnx", num_labels=3) == []
