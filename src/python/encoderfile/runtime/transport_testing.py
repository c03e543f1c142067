"""Test helpers for the transports: a fake inference service and a uvicorn runner.

`FakeService` implements the `InferenceService` interface the transports use (model_id,
model_type, id2label, model_info(), predict_sync(), async predict(), close()) without a model,
with deterministic outputs and trigger words for the error paths:

- an input equal to "__invalid__" raises RuntimeInputError (the user's fault),
- "__boom__" raises RuntimeError (an internal error),
- "__nan__" returns a NaN (not JSON-serialisable),
- "__slow__" sleeps `slow_seconds` first (for graceful-shutdown tests).

Not used by the runtime itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import threading
import time
from typing import Any, Iterator, Sequence

from encoderfile.format import ModelType
from encoderfile.runtime.errors import RuntimeInputError
from encoderfile.runtime.options import PredictOptions

HIDDEN = 4
SEQUENCE_LABELS = {0: "NEGATIVE", 1: "POSITIVE"}
TOKEN_LABELS = {0: "O", 1: "B-PER", 2: "I-PER"}


def _tokens(text: str) -> list[dict[str, Any]]:
    """Whitespace tokens with character offsets, ids from a stable hash of the text."""
    out = []
    position = 0
    for word in text.split():
        start = text.index(word, position)
        end = start + len(word)
        position = end
        token_id = sum(word.encode("utf-8")) % 1000
        out.append({"token": word, "token_id": token_id, "start": start, "end": end})
    return out


def _l2(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / max(norm, 1e-12) for v in vector]


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


class FakeService:
    """Deterministic stand-in for `InferenceService` (see the module docstring)."""

    def __init__(
        self,
        model_type: ModelType | str = ModelType.SENTENCE_EMBEDDING,
        *,
        model_id: str = "fake-model",
        slow_seconds: float = 0.5,
    ) -> None:
        self.model_type = ModelType.parse(model_type)
        self.model_id = model_id
        self.slow_seconds = slow_seconds
        self.id2label: dict[int, str] | None = {
            ModelType.SEQUENCE_CLASSIFICATION: SEQUENCE_LABELS,
            ModelType.TOKEN_CLASSIFICATION: TOKEN_LABELS,
        }.get(self.model_type)
        self.calls: list[tuple[list[str], PredictOptions]] = []
        self.closed = False

    def model_info(self) -> dict[str, Any]:
        id2label = None
        if self.id2label is not None:
            id2label = {str(k): v for k, v in self.id2label.items()}
        return {
            "model_id": self.model_id,
            "model_type": self.model_type.snake,
            "id2label": id2label,
        }

    def count_tokens(self, inputs: Sequence[str]) -> list[int]:
        """Tokens per input including the two special tokens, as a BERT tokenizer would."""
        return [len(_tokens(text)) + 2 for text in inputs]

    def predict_sync(
        self, inputs: Sequence[str], options: PredictOptions | None = None
    ) -> list[dict[str, Any]]:
        options = options or PredictOptions()
        inputs = list(inputs)
        self.calls.append((inputs, options))
        if not inputs or any(not text for text in inputs):
            raise RuntimeInputError("Cannot tokenize empty string")
        if "__invalid__" in inputs:
            raise RuntimeInputError("the fake service refuses '__invalid__'")
        if "__boom__" in inputs:
            raise RuntimeError("the fake model exploded")
        if "__slow__" in inputs:
            time.sleep(self.slow_seconds)
        return [self._one(text, options) for text in inputs]

    async def predict(
        self, inputs: Sequence[str], options: PredictOptions | None = None
    ) -> list[dict[str, Any]]:
        if "__slow__" in inputs:
            await asyncio.sleep(self.slow_seconds)
            inputs = [text if text != "__slow__" else "slow" for text in inputs]
        return self.predict_sync(inputs, options)

    def close(self) -> None:
        self.closed = True

    def _one(self, text: str, options: PredictOptions) -> dict[str, Any]:
        tokens = _tokens(text)
        nan = float("nan") if text == "__nan__" else 0.0
        if self.model_type is ModelType.EMBEDDING:
            embeddings = []
            for i, info in enumerate(tokens):
                vector = [float(len(info["token"])), float(i), 1.0, 0.5 + nan]
                if options.normalize:
                    vector = _l2(vector)
                embeddings.append({"embedding": vector, "token_info": info})
            return {"embeddings": embeddings}
        if self.model_type is ModelType.SENTENCE_EMBEDDING:
            vector = [float(len(text)), float(len(tokens)), 1.0, 0.0 + nan]
            if options.normalize:
                vector = _l2(vector)
            return {"embedding": vector}
        if self.model_type is ModelType.SEQUENCE_CLASSIFICATION:
            logits = [float(len(text) % 3) - 1.0, 0.5 + nan]
            scores = _softmax(logits) if options.softmax else list(logits)
            index = max(range(len(scores)), key=scores.__getitem__)
            return {
                "logits": logits,
                "scores": scores,
                "predicted_index": index,
                "predicted_label": SEQUENCE_LABELS.get(index),
            }
        if self.model_type is ModelType.TOKEN_CLASSIFICATION:
            out = []
            for i, info in enumerate(tokens):
                logits = [1.0, 2.0 if i == 0 else 0.0, 2.0 if i > 0 else 0.0]
                scores = _softmax(logits) if options.softmax else logits
                index = max(range(3), key=scores.__getitem__)
                out.append(
                    {
                        "token_info": info,
                        "scores": scores,
                        "label": TOKEN_LABELS[index],
                        "score": scores[index],
                    }
                )
            return {"tokens": out}
        raise RuntimeError(f"the fake service does not do {self.model_type.snake}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_uvicorn(app: Any, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (port 0) in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start in time")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
