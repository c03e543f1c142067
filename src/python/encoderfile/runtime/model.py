"""Load the model, tokenizer, config and transform embedded in an encoderfile.

The tokenizer artifact is the wrapper `{"tokenizer": <tokenizers JSON>, "config": {...}}`. We
encode texts one by one without padding (so the batcher can regroup them) and pad in numpy with
the tokenizer's own padding parameters, which gives the same tensors as `encode_batch`.

Memory: a model file up to EXTERNAL_INITIALIZER_THRESHOLD bytes is handed to onnxruntime as
bytes (one transient copy). Larger models are split: the graph without its big initializers goes
in as bytes, the initializers are fed through `SessionOptions.add_external_initializers` as numpy
arrays over the memory-mapped encoderfile, so the weights are never copied in Python.
Measured (all-MiniLM-L6-v2, peak RSS of the load): int8 23 MB 156 -> 124 MB and 0.98 -> 0.70 s;
fp32 90 MB 414 -> 337 MB (steady RSS is higher, 335 vs 260 MB, but those are clean file-backed
pages the kernel can drop). Hence the split already from 16 MB.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from encoderfile.runtime.errors import ModelLoadError
from encoderfile.runtime.options import InferenceOptions

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime
    import tokenizers

    from encoderfile.format import EncoderfileReader, ModelType

_LOG = logging.getLogger(__name__)

EXTERNAL_INITIALIZER_THRESHOLD = 16 * 1024 * 1024
_MIN_EXTERNAL_TENSOR = 4096  # smaller initializers stay inside the graph bytes

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}


@dataclass(frozen=True)
class Padding:
    """Padding parameters as the tokenizers library serializes them."""

    fixed_length: int | None = None  # strategy {"Fixed": n}; None = BatchLongest
    left: bool = False
    pad_to_multiple_of: int | None = None
    pad_id: int = 0
    pad_type_id: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Padding:
        if not params:
            return cls()
        strategy = params.get("strategy", "BatchLongest")
        fixed = None
        if isinstance(strategy, dict):
            fixed = int(strategy.get("Fixed", 0)) or None
        elif "length" in params and params.get("length"):  # Python binding's own spelling
            fixed = int(params["length"])
        direction = str(params.get("direction", "Right")).lower()
        return cls(
            fixed_length=fixed,
            left=direction == "left",
            pad_to_multiple_of=params.get("pad_to_multiple_of") or None,
            pad_id=int(params.get("pad_id", 0) or 0),
            pad_type_id=int(params.get("pad_type_id", 0) or 0),
        )

    def target_length(self, longest: int) -> int:
        n = max(longest, self.fixed_length or 0)
        m = self.pad_to_multiple_of
        if m:
            n = -(-n // m) * m
        return max(n, 1)


@dataclass
class LoadedModel:
    """A ready onnxruntime session plus what is needed to feed it."""

    session: onnxruntime.InferenceSession
    tokenizer: tokenizers.Tokenizer  # padding disabled; truncation as embedded
    padding: Padding
    input_names: tuple[str, ...]
    output_name: str
    output_dim: int | None  # last dim of the output if static (hidden size or num_labels)
    config: dict[str, Any]
    keepalive: Any = None  # objects backing external initializers (mmap views)

    @property
    def has_token_type_ids(self) -> bool:
        return "token_type_ids" in self.input_names

    def tensors(self, encodings: Sequence[Any]) -> tuple[dict[str, np.ndarray], int]:
        """int64 model inputs for unpadded encodings, padded as the tokenizer would; returns
        (feeds, padded length)."""
        longest = max(len(e.ids) for e in encodings)
        length = self.padding.target_length(longest)
        batch = len(encodings)
        ids = np.full((batch, length), self.padding.pad_id, dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.int64)
        types = np.full((batch, length), self.padding.pad_type_id, dtype=np.int64)
        for b, enc in enumerate(encodings):
            n = len(enc.ids)
            sl = slice(length - n, length) if self.padding.left else slice(0, n)
            ids[b, sl] = enc.ids
            mask[b, sl] = enc.attention_mask
            types[b, sl] = enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self.has_token_type_ids:
            feeds["token_type_ids"] = types
        return feeds, length

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.session.run([self.output_name], feeds)
        return np.asarray(out, dtype=np.float32)


def parse_tokenizer_artifact(data: bytes) -> tuple[str, dict[str, Any] | None]:
    """(tokenizer JSON text, padding params) from the wrapper (or a plain tokenizer.json)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"tokenizer artifact is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelLoadError("tokenizer artifact must be a JSON object")
    if isinstance(doc.get("tokenizer"), dict):
        inner = doc["tokenizer"]
        config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
        padding = config.get("padding") or inner.get("padding")
    else:  # a plain tokenizer.json
        inner = doc
        padding = inner.get("padding")
    return json.dumps(inner), padding


def load_tokenizer(data: bytes) -> tuple[tokenizers.Tokenizer, Padding]:
    from tokenizers import Tokenizer

    text, padding_params = parse_tokenizer_artifact(data)
    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelLoadError(f"cannot load the embedded tokenizer: {exc}") from None
    padding = Padding.from_params(padding_params if isinstance(padding_params, dict) else None)
    tokenizer.no_padding()
    return tokenizer, padding


def parse_model_config(data: bytes) -> dict[str, Any]:
    try:
        config = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model config artifact is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelLoadError("model config artifact must be a JSON object")
    return config


def id2label_from_config(config: dict[str, Any]) -> dict[int, str] | None:
    raw = config.get("id2label")
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        return {int(k): str(v) for k, v in sorted(raw.items(), key=lambda kv: int(kv[0]))}
    except (TypeError, ValueError):
        raise ModelLoadError("model config: id2label keys must be integers") from None


def session_options(options: InferenceOptions) -> onnxruntime.SessionOptions:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "1": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "2": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "3": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.graph_optimization_level]
    if options.intra_op_threads:
        so.intra_op_num_threads = options.intra_op_threads
    so.enable_cpu_mem_arena = options.with_arena_allocator
    so.log_severity_level = 3  # errors only: warnings about unused initializers are noise
    if options.disable_cpu_fallback:
        so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    return so


def providers(options: InferenceOptions) -> list[Any]:
    import onnxruntime as ort

    name = _PROVIDERS[options.execution_provider]
    available = ort.get_available_providers()
    if name not in available:
        if options.disable_cpu_fallback:
            raise ModelLoadError(
                f"execution provider {options.execution_provider!r} ({name}) is not available"
                f" in this build of onnxruntime (available: {', '.join(available)}) and"
                " --disable-cpu-fallback is set"
            )
        _LOG.warning("%s is not available, falling back to the CPU", name)
        return ["CPUExecutionProvider"]
    if name == "CPUExecutionProvider":
        return [name]
    chosen: list[Any] = [(name, {"device_id": options.device_id})]
    if not options.disable_cpu_fallback:
        chosen.append("CPUExecutionProvider")
    return chosen


def create_session(
    weights: memoryview, options: InferenceOptions
) -> tuple[onnxruntime.InferenceSession, Any]:
    """An InferenceSession over the ONNX bytes; returns (session, objects to keep alive)."""
    import onnxruntime as ort

    so = session_options(options)
    keepalive = None
    if len(weights) > EXTERNAL_INITIALIZER_THRESHOLD:
        from encoderfile.runtime.onnx_split import split_initializers

        graph_bytes, names, arrays = split_initializers(weights, _MIN_EXTERNAL_TENSOR)
        if names:
            values = [ort.OrtValue.ortvalue_from_numpy(a) for a in arrays]
            so.add_external_initializers(names, values)
            keepalive = (arrays, values)
        model_bytes = graph_bytes
    else:
        model_bytes = bytes(weights)
    try:
        session = ort.InferenceSession(model_bytes, sess_options=so, providers=providers(options))
    except ModelLoadError:
        raise
    except Exception as exc:  # onnxruntime raises its own exception types
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"onnxruntime cannot load the embedded model: {message}") from None
    return session, keepalive


def _check_io(session: Any, model_type: ModelType) -> tuple[tuple[str, ...], str, int | None]:
    inputs = tuple(i.name for i in session.get_inputs())
    for required in ("input_ids", "attention_mask"):
        if required not in inputs:
            raise ModelLoadError(
                f"the embedded model has no input {required!r} (inputs: {', '.join(inputs)})"
            )
    extra = [n for n in inputs if n not in ("input_ids", "attention_mask", "token_type_ids")]
    if extra:
        raise ModelLoadError(f"the embedded model needs inputs this runtime cannot feed: {extra}")
    snake = model_type.snake
    wanted, rank = {
        "embedding": ("last_hidden_state", 3),
        "sentence_embedding": ("last_hidden_state", 3),
        "sequence_classification": ("logits", 2),
        "token_classification": ("logits", 3),
    }.get(snake, (None, None))
    if wanted is None:
        raise ModelLoadError(f"model type {snake!r} is not supported by this runtime")
    outputs = {o.name: o for o in session.get_outputs()}
    if wanted not in outputs:
        raise ModelLoadError(
            f"a {snake} model must have an output {wanted!r} (outputs: {', '.join(outputs)})"
        )
    shape = outputs[wanted].shape
    if shape is not None and len(shape) != rank:
        raise ModelLoadError(f"output {wanted!r} has rank {len(shape)}, expected {rank}")
    last = shape[-1] if shape else None
    return inputs, wanted, last if isinstance(last, int) else None


def load_model(reader: EncoderfileReader, options: InferenceOptions) -> LoadedModel:
    """Build a LoadedModel from an open reader (kept open while the model is in use)."""
    from encoderfile.format import ArtifactKind, EncoderfileError

    try:
        reader.require_artifacts()
        if options.verify:
            problems = reader.verify_all()
            if problems:
                raise ModelLoadError(f"integrity check failed: {problems[0]}")
        config = parse_model_config(reader.read_bytes(ArtifactKind.MODEL_CONFIG))
        tokenizer, padding = load_tokenizer(reader.read_bytes(ArtifactKind.TOKENIZER))
        weights = reader.view(ArtifactKind.WEIGHTS)
    except EncoderfileError as exc:
        raise ModelLoadError(str(exc)) from None
    session, keepalive = create_session(weights, options)
    if keepalive is None:
        weights.release()
    inputs, output_name, output_dim = _check_io(session, reader.model_type)
    return LoadedModel(
        session=session,
        tokenizer=tokenizer,
        padding=padding,
        input_names=inputs,
        output_name=output_name,
        output_dim=output_dim,
        config=config,
        keepalive=keepalive,
    )
