"""Split an ONNX model's large initializers out of the graph bytes, without the onnx package.

For large models, onnxruntime gets the graph (small) as bytes and each large initializer as a
numpy array over the memory-mapped encoderfile (`SessionOptions.add_external_initializers`), so
the weights are not copied in Python. Only the protobuf wire format is walked:

    ModelProto.graph = 7 -> GraphProto.initializer = 5 -> TensorProto
    TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9, external_data = 13,
                 data_location = 14

A split-out TensorProto keeps its name, dims and type, loses raw_data and is marked
data_location = EXTERNAL with a placeholder location; onnxruntime replaces it with the value we
inject. Unaligned tensors are copied (onnxruntime's kernels expect aligned buffers).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

_ONNX_DTYPES = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
}


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) of each field."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, value_end = _varint(buf, pos)
            value_start = pos
        elif wire == 1:
            value_start, value_end = pos, pos + 8
        elif wire == 5:
            value_start, value_end = pos, pos + 4
        elif wire == 2:
            length, value_start = _varint(buf, pos)
            value_end = value_start + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if value_end > end:
            raise ValueError("field runs past its message")
        yield number, wire, field_start, value_start, value_end
        pos = value_end


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint((number << 3) | 2) + _encode_varint(len(payload)) + payload


_EXTERNAL_MARK = _len_field(13, _len_field(1, b"location") + _len_field(2, b"encoderfile")) + bytes(
    [(14 << 3) | 0, 1]
)


def _split_tensor(
    buf: memoryview, start: int, end: int, min_size: int
) -> tuple[bytes, str, np.ndarray] | None:
    dims: list[int] = []
    dtype = name = raw = None
    kept = bytearray()
    for number, wire, fstart, vstart, vend in _fields(buf, start, end):
        if number == 1 and wire == 0:
            dims.append(_varint(buf, vstart)[0])
        elif number == 1 and wire == 2:  # packed dims
            pos = vstart
            while pos < vend:
                value, pos = _varint(buf, pos)
                dims.append(value)
        elif number == 2 and wire == 0:
            dtype = _varint(buf, vstart)[0]
        elif number == 8 and wire == 2:
            name = bytes(buf[vstart:vend]).decode("utf-8")
        elif number == 9 and wire == 2:
            raw = (vstart, vend)
            continue
        elif number in (13, 14):
            return None  # already external: leave it alone
        kept += buf[fstart:vend]
    if raw is None or name is None or dtype not in _ONNX_DTYPES or raw[1] - raw[0] < min_size:
        return None
    np_dtype = np.dtype(_ONNX_DTYPES[dtype])
    count = int(np.prod(dims)) if dims else 1
    if count * np_dtype.itemsize != raw[1] - raw[0]:
        return None
    array = np.frombuffer(buf, dtype=np_dtype, count=count, offset=raw[0]).reshape(dims)
    if raw[0] % np_dtype.alignment:
        array = array.copy()
    return bytes(kept) + _EXTERNAL_MARK, name, array


def split_initializers(
    model: memoryview, min_size: int = 4096
) -> tuple[bytes, list[str], list[np.ndarray]]:
    """(graph bytes, initializer names, arrays over `model`) for initializers >= min_size bytes.

    The arrays reference `model`'s buffer: keep it alive as long as the session.
    """
    buf = memoryview(model).cast("B")
    names: list[str] = []
    arrays: list[np.ndarray] = []
    out = bytearray()
    for number, wire, fstart, vstart, vend in _fields(buf, 0, len(buf)):
        if number != 7 or wire != 2:
            out += buf[fstart:vend]
            continue
        graph = bytearray()
        for gnum, gwire, gstart, gvstart, gvend in _fields(buf, vstart, vend):
            if gnum == 5 and gwire == 2:
                split = _split_tensor(buf, gvstart, gvend, min_size)
                if split is not None:
                    tensor_bytes, name, array = split
                    graph += _len_field(5, tensor_bytes)
                    names.append(name)
                    arrays.append(array)
                    continue
            graph += buf[gstart:gvend]
        out += _len_field(7, bytes(graph))
    return bytes(out), names, arrays
