"""Turn model outputs into the reference's JSON result shapes (runtime-api.md).

Every function takes the (possibly transformed) model output for a batch plus the tokenizer
encodings of that batch and returns one result dict per input, floats as Python floats.

Offsets: the reference (Rust tokenizers, `encode_batch`) reports UTF-8 *byte* offsets; the Python
tokenizers binding reports character offsets. We convert to bytes so clients of the reference see
the same numbers (identical for ASCII text).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from encoderfile.runtime.options import PredictOptions

OFFSETS_IN_BYTES = True


def _byte_offsets(text: str) -> list[int] | None:
    """Prefix table char index -> UTF-8 byte index, or None when they coincide (ASCII)."""
    if not OFFSETS_IN_BYTES or text.isascii():
        return None
    table = [0]
    for ch in text:
        table.append(table[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return table


def _keep_positions(encoding: Any) -> list[int]:
    """Positions of real, non-special tokens (CLS/SEP/PAD and other specials left out)."""
    special = encoding.special_tokens_mask
    attention = encoding.attention_mask
    return [i for i in range(len(special)) if not special[i] and attention[i]]


def token_info(encoding: Any, i: int, table: list[int] | None) -> dict[str, Any]:
    start, end = encoding.offsets[i]
    if table is not None:
        start, end = table[start], table[end]
    return {
        "token": encoding.tokens[i],
        "token_id": int(encoding.ids[i]),
        "start": start,
        "end": end,
    }


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.square(x, dtype=np.float32).sum(axis=-1, keepdims=True))
    return x / np.maximum(norms, np.float32(1e-12))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over the sequence axis: [B,S,H], [B,S] -> [B,H]."""
    m = mask.astype(np.float32)[..., None]
    counts = np.maximum(m.sum(axis=1), np.float32(1e-9))
    return (hidden * m).sum(axis=1) / counts


def embedding_results(
    hidden: np.ndarray,
    encodings: Sequence[Any],
    texts: Sequence[str],
    options: PredictOptions,
) -> list[dict[str, Any]]:
    """embedding: one vector per non-special token, with its token_info."""
    if options.normalize:
        hidden = l2_normalize(hidden)
    results = []
    for b, enc in enumerate(encodings):
        table = _byte_offsets(texts[b])
        keep = _keep_positions(enc)
        vectors = hidden[b, keep].tolist() if keep else []
        results.append(
            {
                "embeddings": [
                    {"embedding": vec, "token_info": token_info(enc, i, table)}
                    for i, vec in zip(keep, vectors)
                ]
            }
        )
    return results


def sentence_embedding_results(pooled: np.ndarray, options: PredictOptions) -> list[dict[str, Any]]:
    """sentence_embedding: one vector per input (already pooled or transformed)."""
    if options.normalize:
        pooled = l2_normalize(pooled)
    return [{"embedding": row} for row in pooled.tolist()]


def sequence_classification_results(
    logits: np.ndarray, id2label: Mapping[int, str] | None, options: PredictOptions
) -> list[dict[str, Any]]:
    """sequence_classification: logits, scores (== logits unless softmax), argmax and label."""
    scores = softmax(logits) if options.softmax else logits
    predicted = logits.argmax(axis=-1).tolist()
    results = []
    for row, score_row, index in zip(logits.tolist(), scores.tolist(), predicted):
        label = id2label.get(index) if id2label else None
        results.append(
            {
                "logits": row,
                "scores": score_row,
                "predicted_index": int(index),
                "predicted_label": label,
            }
        )
    return results


def token_classification_results(
    logits: np.ndarray,
    encodings: Sequence[Any],
    texts: Sequence[str],
    id2label: Mapping[int, str] | None,
    options: PredictOptions,
) -> list[dict[str, Any]]:
    """token_classification: per non-special token its scores, argmax label and score."""
    scores_all = softmax(logits) if options.softmax else logits
    results = []
    for b, enc in enumerate(encodings):
        table = _byte_offsets(texts[b])
        keep = _keep_positions(enc)
        rows = scores_all[b, keep] if keep else np.zeros((0, logits.shape[-1]), np.float32)
        argmax = rows.argmax(axis=-1).tolist() if keep else []
        tokens = []
        for i, row, index in zip(keep, rows.tolist(), argmax):
            label = id2label.get(index) if id2label else None
            tokens.append(
                {
                    "token_info": token_info(enc, i, table),
                    "scores": row,
                    "label": label if label is not None else f"LABEL_{index}",
                    "score": row[index],
                }
            )
        result: dict[str, Any] = {"tokens": tokens}
        if options.aggregation == "simple":
            result["entities"] = group_entities(tokens, texts[b])
        results.append(result)
    return results


def _split_label(label: str) -> tuple[str, str]:
    """("B"|"I"|"O"|"", entity type) from IOB-style labels; unprefixed labels are their type."""
    if label == "O":
        return "O", ""
    if len(label) > 2 and label[1] in "-_" and label[0] in "BIES":
        prefix = {"E": "I", "S": "B"}.get(label[0], label[0])
        return prefix, label[2:]
    return "", label


def group_entities(tokens: Sequence[Mapping[str, Any]], text: str) -> list[dict[str, Any]]:
    """Simple aggregation: merge B-X I-X ... runs (and runs of one bare label) into entities.

    An I-X that does not continue an X entity starts a new one (as the common "simple"
    strategy does). Spans are in the same units as token_info offsets.
    """
    raw = text.encode("utf-8") if OFFSETS_IN_BYTES and not text.isascii() else None
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            count = current.pop("_count")
            current["score"] = current.pop("_sum") / count
            start, end = current["start"], current["end"]
            current["word"] = (
                raw[start:end].decode("utf-8", "replace") if raw is not None else text[start:end]
            )
            entities.append(current)
        current = None

    for tok in tokens:
        prefix, kind = _split_label(str(tok["label"]))
        info = tok["token_info"]
        if prefix == "O":
            close()
            continue
        continues = current is not None and current["entity_group"] == kind and prefix != "B"
        if not continues:
            close()
            current = {
                "entity_group": kind,
                "start": info["start"],
                "end": info["end"],
                "_sum": 0.0,
                "_count": 0,
            }
        assert current is not None
        current["end"] = max(current["end"], info["end"])
        current["_sum"] += float(tok["score"])
        current["_count"] += 1
    close()
    return [{k: e[k] for k in ("entity_group", "score", "word", "start", "end")} for e in entities]
