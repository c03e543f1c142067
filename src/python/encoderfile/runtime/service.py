"""The inference service every transport uses: validate, tokenize, batch, run, post-process.

service = InferenceService.from_encoderfile(path, InferenceOptions(), batching=None)
service.predict_sync(["hello"])             # from any thread
await service.predict(["hello"], options)   # from an asyncio loop, dynamically batched
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from encoderfile.runtime import postprocess as pp
from encoderfile.runtime.batching import BatchingConfig, DynamicBatcher, plan_batches
from encoderfile.runtime.errors import ModelLoadError, RuntimeInputError
from encoderfile.runtime.options import InferenceOptions, PredictOptions

if TYPE_CHECKING:  # pragma: no cover
    from encoderfile.format import ModelType
    from encoderfile.runtime.model import LoadedModel
    from encoderfile.runtime.transforms import LuaTransform

_LOG = logging.getLogger(__name__)

EMPTY_INPUT_MESSAGE = "Cannot tokenize empty string"
DEFAULT_PREDICT_OPTIONS = PredictOptions()
DEFAULT_INFERENCE_OPTIONS = InferenceOptions()
_EMBEDDING_TYPES = ("embedding", "sentence_embedding")
_CLASSIFIER_TYPES = ("sequence_classification", "token_classification")


@dataclass(frozen=True)
class _Item:
    """One text of one request, tokenized (unpadded)."""

    text: str
    encoding: Any
    options: PredictOptions

    @property
    def length(self) -> int:
        return len(self.encoding.ids)


class InferenceService:
    """A loaded encoderfile ready to answer predictions."""

    def __init__(
        self,
        *,
        model_id: str,
        model_type: ModelType,
        model: LoadedModel,
        transform: LuaTransform | None = None,
        batching: BatchingConfig | None = None,
    ) -> None:
        from encoderfile.runtime.model import id2label_from_config

        self.model_id = model_id
        self.model_type = model_type
        self.model = model
        self.transform = transform
        self.batching = batching or BatchingConfig()
        self.id2label: dict[int, str] | None = id2label_from_config(model.config)
        snake = model_type.snake
        self.hidden_size: int | None = model.output_dim if snake in _EMBEDDING_TYPES else None
        num_labels = model.output_dim if snake in _CLASSIFIER_TYPES else None
        if num_labels is None and snake in _CLASSIFIER_TYPES:
            configured = model.config.get("num_labels")
            num_labels = configured if isinstance(configured, int) else None
            if num_labels is None and self.id2label:
                num_labels = len(self.id2label)
        self.num_labels: int | None = num_labels
        self._lock = threading.Lock()  # reference behaviour when batching is disabled
        self._batcher_lock = threading.Lock()
        self._batcher: DynamicBatcher | None = None  # started by the first predict()
        self._closed = False

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_encoderfile(
        cls,
        path: str | os.PathLike[str],
        options: InferenceOptions = DEFAULT_INFERENCE_OPTIONS,
        *,
        batching: BatchingConfig | None = None,
    ) -> InferenceService:
        """Open and load an encoderfile. Raises ModelLoadError with one clear line."""
        from encoderfile.format import ArtifactKind, EncoderfileError, EncoderfileReader
        from encoderfile.runtime.errors import TransformError
        from encoderfile.runtime.model import load_model
        from encoderfile.runtime.transforms import LuaTransform

        try:
            reader = EncoderfileReader.open(path)
        except EncoderfileError as exc:
            raise ModelLoadError(f"{os.fspath(path)}: {exc}") from None
        except OSError as exc:
            raise ModelLoadError(f"cannot open {os.fspath(path)}: {exc.strerror or exc}") from None
        try:
            model = load_model(reader, options)
            transform = None
            if reader.has(ArtifactKind.TRANSFORM):
                try:
                    transform = LuaTransform.from_artifact(
                        reader.read_bytes(ArtifactKind.TRANSFORM)
                    )
                except TransformError as exc:
                    raise ModelLoadError(f"embedded transform: {exc}") from None
                if not transform.has_postprocess:
                    transform = None
            service = cls(
                model_id=reader.name,
                model_type=reader.model_type,
                model=model,
                transform=transform,
                batching=batching,
            )
        except EncoderfileError as exc:
            reader.close()
            raise ModelLoadError(f"{os.fspath(path)}: {exc}") from None
        except BaseException:
            reader.close()
            raise
        if model.keepalive is None:
            reader.close()  # everything was copied out; the file is not needed any more
        else:
            service._reader = reader  # external initializers point into its mmap
        return service

    _reader: Any = None

    # -- metadata ------------------------------------------------------------------------------
    def model_info(self) -> dict[str, Any]:
        """The GET /model response."""
        id2label = None
        if self.id2label is not None:
            id2label = {str(k): v for k, v in self.id2label.items()}
        return {
            "model_id": self.model_id,
            "model_type": self.model_type.snake,
            "id2label": id2label,
        }

    # -- prediction ----------------------------------------------------------------------------
    def _validate(self, inputs: Any, options: PredictOptions) -> list[str]:
        if not isinstance(inputs, (list, tuple)):
            raise RuntimeInputError("'inputs' must be a list of strings")
        if not inputs:
            raise RuntimeInputError(EMPTY_INPUT_MESSAGE)
        for text in inputs:
            if not isinstance(text, str):
                raise RuntimeInputError(
                    f"'inputs' must be a list of strings, got an item of type {type(text).__name__}"
                )
            if not text:
                raise RuntimeInputError(EMPTY_INPUT_MESSAGE)
        if not isinstance(options, PredictOptions):
            raise TypeError("options must be a PredictOptions")
        snake = self.model_type.snake
        if options.normalize and snake not in _EMBEDDING_TYPES:
            raise RuntimeInputError(f"'normalize' applies to embedding models, not {snake}")
        if options.softmax and snake not in _CLASSIFIER_TYPES:
            raise RuntimeInputError(f"'softmax' applies to classification models, not {snake}")
        if options.aggregation and snake != "token_classification":
            raise RuntimeInputError(
                f"'aggregation' applies to token_classification models, not {snake}"
            )
        return list(inputs)

    def _encode(self, texts: list[str], options: PredictOptions) -> list[_Item]:
        try:
            encodings = self.model.tokenizer.encode_batch(texts, add_special_tokens=True)
        except Exception as exc:  # tokenizers raises plain Exception
            raise RuntimeError(f"Error during tokenization: {exc}") from None
        return [_Item(t, e, options) for t, e in zip(texts, encodings)]

    def _run_batch(self, items: list[_Item]) -> list[dict[str, Any]]:
        """Run one padded batch and post-process each item with its own options."""
        from encoderfile.runtime.transforms import apply_postprocess

        model = self.model
        feeds, length = model.tensors([it.encoding for it in items])
        output = model.run(feeds)
        snake = self.model_type.snake
        mask = feeds["attention_mask"]
        if snake == "sentence_embedding":
            if self.transform is not None:
                pooled = apply_postprocess(self.transform, snake, output, mask)
            else:
                pooled = pp.mean_pool(output, mask)
            return [
                pp.sentence_embedding_results(pooled[b : b + 1], it.options)[0]
                for b, it in enumerate(items)
            ]
        if self.transform is not None:
            output = apply_postprocess(self.transform, snake, output)
        if snake == "sequence_classification":
            return [
                pp.sequence_classification_results(output[b : b + 1], self.id2label, it.options)[0]
                for b, it in enumerate(items)
            ]
        results = []
        for b, it in enumerate(items):
            n = it.length
            # The item's own positions: encodings are unpadded, the batch may be left-padded.
            row = output[b, length - n :] if model.padding.left else output[b, :n]
            row = row[None]
            if snake == "embedding":
                results.append(pp.embedding_results(row, [it.encoding], [it.text], it.options)[0])
            else:
                results.append(
                    pp.token_classification_results(
                        row, [it.encoding], [it.text], self.id2label, it.options
                    )[0]
                )
        return results

    def _run_request(self, items: list[_Item]) -> list[dict[str, Any]]:
        """Run one request without the batcher: length-sorted batches, input order restored."""
        if not self.batching.enabled:
            with self._lock:  # the reference: a whole request is one batch, requests serialize
                return self._run_batch(items)
        results: list[Any] = [None] * len(items)
        for batch in plan_batches(
            items,
            self.batching.max_batch_size,
            self.batching.max_batch_tokens,
            self.batching.max_padding_ratio,
        ):
            for i, result in zip(batch, self._run_batch([items[i] for i in batch])):
                results[i] = result
        return results

    def count_tokens(self, inputs: Sequence[str]) -> list[int]:
        """Tokens per input as the model sees them (special tokens included, after truncation).

        For usage reporting (the OpenAI-compatible endpoint); tokenizes again, which costs a few
        percent of an inference.
        """
        return [item.length for item in self._encode(list(inputs), DEFAULT_PREDICT_OPTIONS)]

    def predict_sync(
        self, inputs: Sequence[str], options: PredictOptions = DEFAULT_PREDICT_OPTIONS
    ) -> list[dict[str, Any]]:
        """Results for `inputs` in order (the "results" list of a /predict response)."""
        texts = self._validate(inputs, options)
        return self._run_request(self._encode(texts, options))

    async def predict(
        self, inputs: Sequence[str], options: PredictOptions = DEFAULT_PREDICT_OPTIONS
    ) -> list[dict[str, Any]]:
        """Like predict_sync, from an asyncio loop; concurrent calls are batched together."""
        texts = self._validate(inputs, options)
        items = await asyncio.to_thread(self._encode, texts, options)
        batcher = self._get_batcher()
        if batcher is None:
            return await asyncio.to_thread(self._run_request, items)
        return await batcher.run(items)

    def _get_batcher(self) -> DynamicBatcher | None:
        if not self.batching.enabled:
            return None
        with self._batcher_lock:
            if self._closed:
                raise RuntimeError("the inference service is closed")
            if self._batcher is None:
                self._batcher = DynamicBatcher(self._run_batch, self.batching)
            return self._batcher

    def close(self) -> None:
        """Stop the batcher and release the file."""
        with self._batcher_lock:
            self._closed = True
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()
        if self._reader is not None:
            # Drop every user of the mmap first: the session and the arrays it was fed.
            self.model.session = None  # type: ignore[assignment]
            self.model.keepalive = None
            reader, self._reader = self._reader, None
            try:
                reader.close()
            except BufferError:
                pass  # still referenced somewhere: the mapping goes away with its last user

    def __enter__(self) -> InferenceService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
