"""Test helpers: tiny ONNX models (onnx.helper), a WordPiece tokenizer, model dirs, base binaries.

Only tests import this module (it needs `onnx`, a test-only dependency).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HIDDEN = 8
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["hello", "world", "the", "a", "cat", "dog", "sat", "on", "mat", "##s", "##ing", "good"]
VOCAB = SPECIAL + WORDS
LABELS = {
    "sequence_classification": ["NEGATIVE", "POSITIVE"],
    "token_classification": ["O", "B-PER", "I-PER"],
}
TINY_MODELS_DIR = Path(__file__).resolve().parents[4] / "models" / "tiny"


def tokenizer_json(pad: bool = False, truncation: bool = False) -> str:
    """A deterministic BERT-style WordPiece tokenizer (no training), optionally with padding."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    if pad:
        tok.enable_padding(pad_id=0, pad_token="[PAD]", length=16)
    if truncation:
        tok.enable_truncation(max_length=16)
    return tok.to_str()


def onnx_model_bytes(
    model_type: str = "embedding",
    *,
    inputs: Sequence[str] = ("input_ids", "attention_mask", "token_type_ids"),
    input_type: int | None = None,
    output_name: str | None = None,
    output_rank: int | None = None,
    num_labels: int | None = None,
    extra_initializer_bytes: int = 0,
    initializers_as_inputs: bool = False,
) -> bytes:
    """A tiny but runnable ONNX model: an embedding lookup plus an optional linear head."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    elem = TensorProto.INT64 if input_type is None else input_type
    graph_inputs = [helper.make_tensor_value_info(n, elem, ["batch", "seq"]) for n in inputs]
    emb = numpy_helper.from_array(
        rng.standard_normal((len(VOCAB), HIDDEN)).astype(np.float32), "emb"
    )
    inits = [emb]
    nodes = [helper.make_node("Gather", ["emb", inputs[0]], ["hidden"], axis=0)]
    labels = num_labels if num_labels is not None else len(LABELS.get(model_type, [])) or 2
    if model_type in ("embedding", "sentence_embedding"):
        name, rank = "last_hidden_state", 3
        nodes.append(helper.make_node("Identity", ["hidden"], [name]))
        shape: list[Any] = ["batch", "seq", HIDDEN]
    else:
        name = "logits"
        rank = 2 if model_type == "sequence_classification" else 3
        w = numpy_helper.from_array(
            rng.standard_normal((HIDDEN, labels)).astype(np.float32), "head"
        )
        inits.append(w)
        if rank == 2:
            nodes.append(
                helper.make_node("ReduceMean", ["hidden"], ["pooled"], keepdims=0, axes=[1])
            )
            nodes.append(helper.make_node("MatMul", ["pooled", "head"], [name]))
            shape = ["batch", labels]
        else:
            nodes.append(helper.make_node("MatMul", ["hidden", "head"], [name]))
            shape = ["batch", "seq", labels]
    if output_name is not None:
        nodes.append(helper.make_node("Identity", [name], [output_name]))
        name = output_name
    if output_rank is not None and output_rank != rank:
        shape = (shape + [1, 1, 1])[:output_rank]
    if extra_initializer_bytes:
        # Large, unused weights: the graph walker must seek over them.
        inits.append(
            numpy_helper.from_array(np.zeros(extra_initializer_bytes // 4, np.float32), "big")
        )
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)]
    if initializers_as_inputs:
        graph_inputs += [
            helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits
        ]
    graph = helper.make_graph(nodes, "tiny", graph_inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph,
        producer_name="encoderfile-tests",
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    return model.SerializeToString()


def write_model_dir(
    directory: Path,
    model_type: str = "embedding",
    *,
    tokenizer_config: dict[str, Any] | None | bool = True,
    config: dict[str, Any] | None = None,
    onnx_kwargs: dict[str, Any] | None = None,
    tokenizer_text: str | None = None,
) -> Path:
    """Write config.json, model.onnx, tokenizer.json and (optionally) tokenizer_config.json."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {"model_type": "bert", "hidden_size": HIDDEN}
    if model_type in LABELS:
        labels = LABELS[model_type]
        cfg["id2label"] = {str(i): lab for i, lab in enumerate(labels)}
        cfg["label2id"] = {lab: i for i, lab in enumerate(labels)}
    if config is not None:
        cfg = config
    (directory / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    (directory / "model.onnx").write_bytes(onnx_model_bytes(model_type, **(onnx_kwargs or {})))
    (directory / "tokenizer.json").write_text(tokenizer_text or tokenizer_json(), encoding="utf-8")
    if tokenizer_config is True:
        tokenizer_config = {
            "model_max_length": 64,
            "pad_token": "[PAD]",
            "padding_side": "right",
            "truncation_side": "right",
            "pad_token_type_id": 0,
            "pad_to_multiple_of": None,
            "truncation_strategy": "longest_first",
            "stride": 0,
        }
    if isinstance(tokenizer_config, dict):
        (directory / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config), encoding="utf-8"
        )
    return directory


def write_base_binary(path: Path, text: str = "base") -> Path:
    """A small executable shell script to use as a base binary."""
    path.write_text(f"#!/bin/sh\necho {text}\nexit 0\n", encoding="utf-8")
    os.chmod(path, 0o755)
    return path


def write_config(path: Path, body: str) -> Path:
    """Write an encoderfile.yml (body is the YAML text)."""
    path.write_text(body, encoding="utf-8")
    return path
