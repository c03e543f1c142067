"""Read the inputs and outputs of an ONNX model without loading it.

An ONNX file is a protobuf `ModelProto`. Its weights (graph initializers) can be gigabytes, so
instead of parsing the message we walk the protobuf wire format with seeks: ModelProto field 7
(graph) is entered, and inside GraphProto only `input` (11), `output` (12) and the names of
`initializer` (5, TensorProto.name = 8) are read; everything else is skipped with `seek`.
ValueInfoProto messages are small and are decoded from bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Tuple, Union

from encoderfile.builder.errors import OnnxGraphError

# Wire types.
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

# Field numbers (onnx.proto).
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_GRAPH_INPUT = 11
_GRAPH_OUTPUT = 12
_TENSOR_NAME = 8
_VALUE_INFO_NAME = 1
_VALUE_INFO_TYPE = 2
_TYPE_TENSOR = 1
_TENSOR_TYPE_ELEM = 1
_TENSOR_TYPE_SHAPE = 2
_SHAPE_DIM = 1
_DIM_VALUE = 1
_DIM_PARAM = 2

# A ValueInfoProto is a name plus a type; anything near this size is not an ONNX graph input.
_MAX_VALUE_INFO = 1 << 20
_MAX_NAME = 1 << 16

ELEM_TYPE_NAMES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bfloat16",
}
INT64 = 7

Dim = Union[int, str, None]  # a fixed size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: name, element type (TensorProto.DataType) and shape."""

    name: str
    elem_type: int | None  # None when the value is not a tensor or the type is not recorded
    shape: Tuple[Dim, ...] | None  # None when the shape is not recorded

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def elem_type_name(self) -> str:
        if self.elem_type is None:
            return "unknown"
        return ELEM_TYPE_NAMES.get(self.elem_type, f"type {self.elem_type}")

    def describe(self) -> str:
        shape = (
            "?" if self.shape is None else "[" + ", ".join(_dim_str(d) for d in self.shape) + "]"
        )
        return f"{self.name}: {self.elem_type_name} {shape}"


@dataclass(frozen=True)
class GraphSignature:
    """The graph's real inputs (initializers excluded) and outputs, in declaration order."""

    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]

    def input(self, name: str) -> TensorInfo | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorInfo | None:
        return next((t for t in self.outputs if t.name == name), None)


def _dim_str(d: Dim) -> str:
    return "?" if d is None else str(d)


class _Reader:
    """Varint/tag reading over a binary file with an end bound."""

    def __init__(self, f: BinaryIO, path: str) -> None:
        self.f = f
        self.path = path

    def fail(self, what: str) -> OnnxGraphError:
        return OnnxGraphError(
            f"{self.path} is not a valid ONNX model ({what} at byte {self.f.tell()}); re-export it"
        )

    def varint(self) -> int:
        result = 0
        shift = 0
        while True:
            b = self.f.read(1)
            if not b:
                raise self.fail("truncated varint")
            result |= (b[0] & 0x7F) << shift
            if not b[0] & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise self.fail("varint longer than 10 bytes")

    def fields(self, end: int) -> Iterator[Tuple[int, int]]:
        """Yield (field_number, wire_type) until `end`; the caller consumes or skips the value."""
        while self.f.tell() < end:
            key = self.varint()
            field, wire = key >> 3, key & 7
            if field == 0:
                raise self.fail("field number 0")
            yield field, wire

    def length(self, end: int) -> int:
        n = self.varint()
        if self.f.tell() + n > end:
            raise self.fail(f"length {n} runs past the end of its message (byte {end})")
        return n

    def skip(self, wire: int, end: int) -> None:
        if wire == _VARINT:
            self.varint()
        elif wire == _I64:
            self.f.seek(8, os.SEEK_CUR)
        elif wire == _I32:
            self.f.seek(4, os.SEEK_CUR)
        elif wire == _LEN:
            n = self.length(end)
            self.f.seek(n, os.SEEK_CUR)
        elif wire == _SGROUP:
            # Deprecated groups never appear in ONNX; skip them properly anyway.
            while True:
                key = self.varint()
                if key & 7 == _EGROUP:
                    return
                self.skip(key & 7, end)
        else:
            raise self.fail(f"invalid wire type {wire}")
        if self.f.tell() > end:
            raise self.fail("field runs past the end of its message")


def _decode_varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _iter_fields(buf: bytes) -> Iterator[Tuple[int, int, Union[int, bytes]]]:
    """Decode one in-memory message into (field, wire, value); LEN values are bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _decode_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _decode_varint(buf, pos)
        elif wire == _I64:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == _I32:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        elif wire == _LEN:
            n, pos = _decode_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length past end of message")
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("field past end of message")
        yield field, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _parse_shape(buf: bytes) -> Tuple[Dim, ...]:
    dims = []
    for field, wire, value in _iter_fields(buf):
        if field == _SHAPE_DIM and wire == _LEN:
            dim: Dim = None
            for f2, w2, v2 in _iter_fields(value):  # type: ignore[arg-type]
                if f2 == _DIM_VALUE and w2 == _VARINT:
                    dim = _signed64(v2)  # type: ignore[arg-type]
                elif f2 == _DIM_PARAM and w2 == _LEN:
                    dim = v2.decode("utf-8", "replace")  # type: ignore[union-attr]
            dims.append(dim)
    return tuple(dims)


def _parse_value_info(buf: bytes) -> TensorInfo:
    name = ""
    elem_type: int | None = None
    shape: Tuple[Dim, ...] | None = None
    for field, wire, value in _iter_fields(buf):
        if field == _VALUE_INFO_NAME and wire == _LEN:
            name = value.decode("utf-8", "replace")  # type: ignore[union-attr]
        elif field == _VALUE_INFO_TYPE and wire == _LEN:
            for f2, w2, v2 in _iter_fields(value):  # type: ignore[arg-type]
                if f2 == _TYPE_TENSOR and w2 == _LEN:
                    for f3, w3, v3 in _iter_fields(v2):  # type: ignore[arg-type]
                        if f3 == _TENSOR_TYPE_ELEM and w3 == _VARINT:
                            elem_type = v3  # type: ignore[assignment]
                        elif f3 == _TENSOR_TYPE_SHAPE and w3 == _LEN:
                            shape = _parse_shape(v3)  # type: ignore[arg-type]
    return TensorInfo(name=name, elem_type=elem_type, shape=shape)


def read_graph_signature(path: Union[str, os.PathLike]) -> GraphSignature:
    """Return the inputs and outputs of the ONNX model at `path`, reading only their bytes.

    Raises:
        OnnxGraphError: the file cannot be opened, is not an ONNX ModelProto, or has no graph.
    """
    spath = os.fspath(path)
    try:
        f = open(spath, "rb")
    except OSError as e:
        raise OnnxGraphError(f"cannot open {spath}: {e.strerror}") from e
    with f:
        size = os.fstat(f.fileno()).st_size
        r = _Reader(f, spath)
        graph_span: Tuple[int, int] | None = None
        for field, wire in r.fields(size):
            if field == _MODEL_GRAPH and wire == _LEN:
                n = r.length(size)
                graph_span = (f.tell(), f.tell() + n)
                f.seek(n, os.SEEK_CUR)
            else:
                r.skip(wire, size)
        if graph_span is None:
            raise OnnxGraphError(
                f"{spath} has no graph (ModelProto field 7); is it an ONNX model? re-export it"
            )
        start, end = graph_span
        f.seek(start)
        inputs = []
        outputs = []
        initializer_names = set()
        for field, wire in r.fields(end):
            if field in (_GRAPH_INPUT, _GRAPH_OUTPUT) and wire == _LEN:
                n = r.length(end)
                if n > _MAX_VALUE_INFO:
                    raise r.fail(f"graph input/output description of {n} bytes")
                buf = f.read(n)
                try:
                    info = _parse_value_info(buf)
                except ValueError as e:
                    raise r.fail(f"bad graph input/output ({e})") from e
                (inputs if field == _GRAPH_INPUT else outputs).append(info)
            elif field == _GRAPH_INITIALIZER and wire == _LEN:
                n = r.length(end)
                tensor_end = f.tell() + n
                for f2, w2 in r.fields(tensor_end):
                    if f2 == _TENSOR_NAME and w2 == _LEN:
                        m = r.length(tensor_end)
                        if m > _MAX_NAME:
                            raise r.fail(f"initializer name of {m} bytes")
                        initializer_names.add(f.read(m).decode("utf-8", "replace"))
                    else:
                        r.skip(w2, tensor_end)
                f.seek(tensor_end)
            else:
                r.skip(wire, end)
        # Models of IR version < 4 list initializers among the inputs; they are not fed.
        real_inputs = tuple(t for t in inputs if t.name not in initializer_names)
        return GraphSignature(inputs=real_inputs, outputs=tuple(outputs))


# What the runtime feeds (positionally, as int64) and what it reads back per model type.
REQUIRED_INPUTS = ("input_ids", "attention_mask")
OPTIONAL_INPUTS = ("token_type_ids",)
EXPECTED_OUTPUT = {
    "embedding": ("last_hidden_state", 3),
    "sentence_embedding": ("last_hidden_state", 3),
    "sequence_classification": ("logits", 2),
    "token_classification": ("logits", 3),
}


def check_signature(
    sig: GraphSignature, model_type: str, path: str, num_labels: int | None = None
) -> list[str]:
    """Check a graph signature against a model type (snake name); return notes of what was assumed.

    Raises:
        OnnxGraphError: an input the runtime cannot feed, a missing input, a missing output, a
            wrong rank, or a logits width different from the number of labels.
    """
    notes: list[str] = []
    allowed = REQUIRED_INPUTS + OPTIONAL_INPUTS
    extra = [t.name for t in sig.inputs if t.name not in allowed]
    if extra:
        raise OnnxGraphError(
            f"{path} has inputs the runtime cannot feed: {', '.join(extra)}; allowed inputs are "
            f"{', '.join(allowed)} (token_type_ids optional); re-export the model with only those"
        )
    missing = [n for n in REQUIRED_INPUTS if sig.input(n) is None]
    if missing:
        raise OnnxGraphError(
            f"{path} lacks the input(s) {', '.join(missing)}; the runtime feeds input_ids, "
            f"attention_mask and optionally token_type_ids"
        )
    for t in sig.inputs:
        if t.elem_type is not None and t.elem_type != INT64:
            raise OnnxGraphError(
                f"{path}: input {t.name} is {t.elem_type_name}, the runtime feeds int64; "
                f"re-export the model with int64 inputs"
            )
    out_name, rank = EXPECTED_OUTPUT[model_type]
    out = sig.output(out_name)
    if out is None:
        have = ", ".join(t.describe() for t in sig.outputs) or "none"
        raise OnnxGraphError(
            f"{path} has no output {out_name!r}, which model_type {model_type} needs "
            f"(rank {rank}); its outputs: {have}"
        )
    if out.rank is None:
        notes.append(f"{path}: output {out_name} has no recorded shape; assuming rank {rank}")
    elif out.rank != rank:
        raise OnnxGraphError(
            f"{path}: output {out.describe()} has rank {out.rank}, model_type {model_type} needs "
            f"rank {rank}; is model_type right?"
        )
    if out.elem_type is not None and out.elem_type != 1:
        notes.append(
            f"{path}: output {out_name} is {out.elem_type_name}; the runtime converts it to float32"
        )
    if num_labels is not None and out.shape:
        last = out.shape[-1]
        if isinstance(last, int) and last >= 0 and last != num_labels:
            raise OnnxGraphError(
                f"{path}: output {out.describe()} gives {last} scores per item but config.json "
                f"has {num_labels} labels; fix id2label or the model head"
            )
    return notes
