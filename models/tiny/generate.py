"""Generate tiny random BERT models for tests, reproducibly (byte-identical on every run).

Writes, for each text model type (embedding, sentence_embedding, sequence_classification,
token_classification), the directory ``models/tiny/<model_type>/`` with what an ONNX export of a
BERT model holds: ``config.json``, ``model.onnx``, ``tokenizer.json``, ``tokenizer_config.json``.

How to run (by hand; tests only read the committed files, they never run this)::

    python3.11 models/tiny/generate.py            # writes next to this script
    python3.11 models/tiny/generate.py --out DIR  # writes DIR/<model_type>/...
    python3.11 models/tiny/generate.py --check    # also runs each model (onnxruntime)

Needs: CPython 3.11 (the tokenizer is trained on its ``pydoc_data.topics`` text, which changes
between CPython releases), numpy, onnx, tokenizers (0.23.x: its JSON layout is what gets written),
and onnxruntime for ``--check`` only. The committed files were made with CPython 3.11.7,
numpy 2.4.6, onnx 1.23.2, tokenizers 0.23.3.

The ONNX graph is built directly with ``onnx.helper`` (no torch): it is the graph of a BERT
encoder with eager attention, as the legacy torch exporter writes it at opset 17 (inputs
``input_ids``, ``attention_mask``, ``token_type_ids``, int64, dynamic batch and sequence axes).
Weights come from a seeded numpy generator, so every run gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import WordPieceTrainer

VOCAB_SIZE = 1000
HIDDEN = 32
LAYERS = 2
HEADS = 2
INTERMEDIATE = 64
MAX_POSITIONS = 128
TYPE_VOCAB = 2
LAYER_NORM_EPS = 1e-12
OPSET = 17
IR_VERSION = 8  # what the legacy torch exporter writes at opset 17; old runtimes accept it
SEED = 20240601

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SENTIMENT_LABELS = ["NEGATIVE", "POSITIVE"]
CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")
# float32 minimum, as transformers' eager attention uses for masked positions
MASK_VALUE = float(np.finfo(np.float32).min)


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the four tiny models."""

    model_type: str
    architecture: str
    labels: tuple[str, ...]  # empty for encoders
    head_seed: int


SPECS = {
    "embedding": ModelSpec("embedding", "BertModel", (), 1),
    "sentence_embedding": ModelSpec("sentence_embedding", "BertModel", (), 2),
    "sequence_classification": ModelSpec(
        "sequence_classification", "BertForSequenceClassification", tuple(SENTIMENT_LABELS), 3
    ),
    "token_classification": ModelSpec(
        "token_classification", "BertForTokenClassification", tuple(CONLL_LABELS), 4
    ),
}


# --------------------------------------------------------------------------- tokenizer


def _training_text() -> list[str]:
    """The corpus: CPython's pydoc topic texts, in sorted key order (dict order is stable too)."""
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def _bert_pipeline(tok: Tokenizer) -> None:
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()


def build_tokenizer() -> Tokenizer:
    """Train a WordPiece tokenizer, then renumber its vocab canonically.

    The trainer numbers equal-frequency tokens in hash order (it differs from run to run), so the
    ids are reassigned: special tokens first, then whole-word pieces, then ``##`` pieces, each
    group sorted by code points.
    """
    trainer_tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    _bert_pipeline(trainer_tok)
    trainer = WordPieceTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    trainer_tok.train_from_iterator(_training_text(), trainer=trainer)
    learned = set(trainer_tok.get_vocab())
    rest = learned.difference(SPECIAL_TOKENS)
    words = sorted(t for t in rest if not t.startswith("##"))
    pieces = sorted(t for t in rest if t.startswith("##"))
    ordered = SPECIAL_TOKENS + words + pieces
    vocab = {token: i for i, token in enumerate(ordered)}

    tok = Tokenizer(
        models.WordPiece(
            vocab=vocab,
            unk_token="[UNK]",
            continuing_subword_prefix="##",
            max_input_chars_per_word=100,
        )
    )
    _bert_pipeline(tok)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(SPECIAL_TOKENS)
    for token in SPECIAL_TOKENS:  # the added tokens must keep their vocab ids
        assert tok.token_to_id(token) == vocab[token], token
    return tok


def tokenizer_json(tok: Tokenizer) -> str:
    # Re-dump with stable formatting; padding/truncation stay null as a HF export leaves them.
    data = json.loads(tok.to_str())
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def tokenizer_config() -> dict:
    """tokenizer_config.json as transformers writes it for a BertTokenizer(Fast)."""
    added = {
        str(i): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, token in enumerate(SPECIAL_TOKENS)
    }
    return {
        "added_tokens_decoder": added,
        "clean_up_tokenization_spaces": True,
        "cls_token": "[CLS]",
        "do_basic_tokenize": True,
        "do_lower_case": True,
        "extra_special_tokens": {},
        "mask_token": "[MASK]",
        "model_max_length": MAX_POSITIONS,
        "never_split": None,
        "pad_token": "[PAD]",
        "padding_side": "right",
        "sep_token": "[SEP]",
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
        "truncation_side": "right",
        "unk_token": "[UNK]",
    }


# --------------------------------------------------------------------------- config


def model_config(spec: ModelSpec) -> dict:
    """A BertConfig dict as transformers serializes it (sorted keys)."""
    cfg: dict = {
        "architectures": [spec.architecture],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "layer_norm_eps": LAYER_NORM_EPS,
        "max_position_embeddings": MAX_POSITIONS,
        "model_type": "bert",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.46.3",
        "type_vocab_size": TYPE_VOCAB,
        "use_cache": True,
        "vocab_size": VOCAB_SIZE,
    }
    if spec.labels:
        cfg["id2label"] = {str(i): label for i, label in enumerate(spec.labels)}
        cfg["label2id"] = {label: i for i, label in enumerate(spec.labels)}
        cfg["num_labels"] = len(spec.labels)
    return dict(sorted(cfg.items()))


# --------------------------------------------------------------------------- ONNX graph


class GraphBuilder:
    """Collects nodes and float32 initializers with unique, readable names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: object) -> str:
        self._count += 1
        out = f"/{op_type}_{self._count}_output_0"
        self.nodes.append(
            helper.make_node(op_type, inputs, [out], name=f"/{op_type}_{self._count}", **attrs)
        )
        return out

    def linear(self, x: str, weight: str, bias: str) -> str:
        return self.op("Add", [self.op("MatMul", [x, weight]), bias])

    def layer_norm(self, x: str, prefix: str, rng: np.random.Generator) -> str:
        del rng  # LayerNorm starts as identity (gamma 1, beta 0), like BERT's init
        gamma = self.const(f"{prefix}.weight", np.ones(HIDDEN, dtype=np.float32))
        beta = self.const(f"{prefix}.bias", np.zeros(HIDDEN, dtype=np.float32))
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=LAYER_NORM_EPS)


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


def build_onnx(spec: ModelSpec) -> onnx.ModelProto:
    """A BERT encoder (plus the head of ``spec``) as an opset-17 ONNX graph."""
    # One seeded backbone for all four models; each head gets its own stream.
    rng = np.random.default_rng(SEED)
    head_rng = np.random.default_rng([SEED, spec.head_seed])
    # A larger std than BERT's 0.02 so random outputs vary visibly with the input.
    std = 0.2
    g = GraphBuilder()

    word = g.const("embeddings.word_embeddings.weight", _normal(rng, (VOCAB_SIZE, HIDDEN), std))
    pos = g.const(
        "embeddings.position_embeddings.weight", _normal(rng, (MAX_POSITIONS, HIDDEN), std)
    )
    typ = g.const(
        "embeddings.token_type_embeddings.weight", _normal(rng, (TYPE_VOCAB, HIDDEN), std)
    )
    zero = g.const("const_zero", np.array(0, dtype=np.int64))
    one = g.const("const_one", np.array(1, dtype=np.int64))
    axes0 = g.const("const_axes_0", np.array([0], dtype=np.int64))
    axes12 = g.const("const_axes_1_2", np.array([1, 2], dtype=np.int64))
    f_one = g.const("const_float_one", np.array(1.0, dtype=np.float32))
    f_min = g.const("const_float_min", np.array(MASK_VALUE, dtype=np.float32))
    head_dim = HIDDEN // HEADS
    scale = g.const("const_scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    split_shape = g.const("const_split_heads", np.array([0, 0, HEADS, head_dim], dtype=np.int64))
    merge_shape = g.const("const_merge_heads", np.array([0, 0, HIDDEN], dtype=np.int64))
    sqrt2 = g.const("const_sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    half = g.const("const_half", np.array(0.5, dtype=np.float32))

    # Embeddings: word + position(arange(seq)) + token type, then LayerNorm.
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), one], axis=0)
    position_ids = g.op("Unsqueeze", [g.op("Range", [zero, seq_len, one]), axes0])
    x = g.op(
        "Add",
        [
            g.op(
                "Add",
                [g.op("Gather", [word, "input_ids"]), g.op("Gather", [typ, "token_type_ids"])],
            ),
            g.op("Gather", [pos, position_ids]),
        ],
    )
    x = g.layer_norm(x, "embeddings.LayerNorm", rng)

    # Additive mask [b, 1, 1, s]: 0 where attended, float32 min where padded.
    mask = g.op("Unsqueeze", ["attention_mask", axes12])
    mask = g.op("Cast", [mask], to=TensorProto.FLOAT)
    mask = g.op("Mul", [g.op("Sub", [f_one, mask]), f_min])

    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}"
        weights = {}
        for name, shape in (
            ("attention.self.query", (HIDDEN, HIDDEN)),
            ("attention.self.key", (HIDDEN, HIDDEN)),
            ("attention.self.value", (HIDDEN, HIDDEN)),
            ("attention.output.dense", (HIDDEN, HIDDEN)),
            ("intermediate.dense", (HIDDEN, INTERMEDIATE)),
            ("output.dense", (INTERMEDIATE, HIDDEN)),
        ):
            w = g.const(f"{p}.{name}.weight", _normal(rng, shape, std))
            b = g.const(f"{p}.{name}.bias", _normal(rng, (shape[1],), std))
            weights[name] = (w, b)

        def heads(t: str, perm: list[int]) -> str:
            return g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=perm)

        q = heads(g.linear(x, *weights["attention.self.query"]), [0, 2, 1, 3])
        k = heads(g.linear(x, *weights["attention.self.key"]), [0, 2, 3, 1])
        v = heads(g.linear(x, *weights["attention.self.value"]), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape])
        attn = g.linear(ctx, *weights["attention.output.dense"])
        x = g.layer_norm(g.op("Add", [attn, x]), f"{p}.attention.output.LayerNorm", rng)

        # Exact (erf) GELU, as the torch exporter decomposes it at opset 17.
        h = g.linear(x, *weights["intermediate.dense"])
        erf = g.op("Erf", [g.op("Div", [h, sqrt2])])
        h = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, f_one])]), half])
        out = g.linear(h, *weights["output.dense"])
        x = g.layer_norm(g.op("Add", [out, x]), f"{p}.output.LayerNorm", rng)

    batch, seq = "batch_size", "sequence_length"
    if spec.model_type in ("embedding", "sentence_embedding"):
        g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="/output"))
        outputs = [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, [batch, seq, HIDDEN]
            )
        ]
    elif spec.model_type == "sequence_classification":
        n = len(spec.labels)
        wp = g.const("bert.pooler.dense.weight", _normal(head_rng, (HIDDEN, HIDDEN), 0.5))
        bp = g.const("bert.pooler.dense.bias", _normal(head_rng, (HIDDEN,), 0.5))
        wc = g.const("classifier.weight", _normal(head_rng, (HIDDEN, n), 0.5))
        bc = g.const("classifier.bias", np.zeros(n, dtype=np.float32))
        cls = g.op("Gather", [x, zero], axis=1)  # [CLS] hidden state, [b, H]
        pooled = g.op("Tanh", [g.linear(cls, wp, bp)])
        g.nodes.append(
            helper.make_node("Gemm", [pooled, wc, bc], ["logits"], name="/classifier/Gemm")
        )
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n])]
    else:
        n = len(spec.labels)
        wc = g.const("classifier.weight", _normal(head_rng, (HIDDEN, n), 0.5))
        bc = g.const("classifier.bias", np.zeros(n, dtype=np.float32))
        g.nodes.append(
            helper.make_node("MatMul", [x, wc], ["/classifier/MatMul_output_0"], name="/cls/MM")
        )
        g.nodes.append(
            helper.make_node(
                "Add", ["/classifier/MatMul_output_0", bc], ["logits"], name="/classifier/Add"
            )
        )
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, seq, n])]

    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, [batch, seq])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="encoderfile-tiny-generator",
        producer_version="1",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------- writing


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_all(out_dir: Path) -> dict[str, dict[str, str]]:
    """Write the four model directories; return {model_type: {file: sha256}}."""
    tok = build_tokenizer()
    tok_text = tokenizer_json(tok)
    tok_cfg_text = _json_text(tokenizer_config())
    digests: dict[str, dict[str, str]] = {}
    for model_type in MODEL_TYPES:
        spec = SPECS[model_type]
        target = out_dir / model_type
        target.mkdir(parents=True, exist_ok=True)
        files = {
            "config.json": _json_text(model_config(spec)).encode("utf-8"),
            "model.onnx": build_onnx(spec).SerializeToString(),
            "tokenizer.json": tok_text.encode("utf-8"),
            "tokenizer_config.json": tok_cfg_text.encode("utf-8"),
        }
        digests[model_type] = {}
        for name, data in files.items():
            (target / name).write_bytes(data)
            digests[model_type][name] = hashlib.sha256(data).hexdigest()
    return digests


def check(out_dir: Path) -> None:
    """Run each model on a tokenized batch with onnxruntime and check names and shapes."""
    import onnxruntime as ort

    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "A lambda expression creates an anonymous function.",
        "Hi",
        "Exceptions are raised when an error is detected during execution of a program.",
    ]
    for model_type in MODEL_TYPES:
        d = out_dir / model_type
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        tok.enable_truncation(max_length=MAX_POSITIONS)
        enc = tok.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        sess = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"])
        (out,) = sess.run(None, feed)
        name = sess.get_outputs()[0].name
        b, s = feed["input_ids"].shape
        expected = {
            "embedding": ("last_hidden_state", (b, s, HIDDEN)),
            "sentence_embedding": ("last_hidden_state", (b, s, HIDDEN)),
            "sequence_classification": ("logits", (b, len(SENTIMENT_LABELS))),
            "token_classification": ("logits", (b, s, len(CONLL_LABELS))),
        }[model_type]
        assert (name, out.shape) == expected, (model_type, name, out.shape)
        assert np.isfinite(out).all(), model_type
        if model_type == "sequence_classification":
            assert len({tuple(np.round(row, 5)) for row in out}) == len(texts), out
            print(f"{model_type}: logits {np.round(out, 3).tolist()}", file=sys.stderr)
        # Padding must not change a text's outputs: compare the short text run alone.
        single = tok.encode("Hi")
        alone = {
            "input_ids": np.array([single.ids], dtype=np.int64),
            "attention_mask": np.array([single.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([single.type_ids], dtype=np.int64),
        }
        (out1,) = sess.run(None, alone)
        n = len(single.ids)
        batched = out[2] if out.ndim == 2 else out[2, :n]
        assert np.allclose(out1[0], batched, atol=1e-4), model_type
        print(f"{model_type}: ok {name} {out.shape}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output directory"
    )
    parser.add_argument("--check", action="store_true", help="run each model with onnxruntime")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        print(
            "note: the committed models were made with CPython 3.11; another version's "
            "pydoc_data.topics gives a different vocab",
            file=sys.stderr,
        )
    digests = write_all(args.out)
    for model_type, files in digests.items():
        for name, digest in files.items():
            print(f"{digest}  {model_type}/{name}")
    if args.check:
        check(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
