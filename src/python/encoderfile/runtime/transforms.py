"""Lua 5.4 post-processing transforms, compatible with the reference's scripts.

A script defines a global `Postprocess(tensor[, mask])`. Tensors are float32 numpy arrays wrapped
in `Tensor`, which Lua sees as userdata (as in the reference): methods are called with `t:op()`,
and the arithmetic/`==`/`#` metamethods are installed on lupa's shared Python-object metatable.
All axes are 1-based. Only the configured standard libraries are visible to the script.

Each worker thread gets its own Lua VM (a VM is not thread-safe); the script is loaded once per
VM, not per request. A count hook (installed before `debug` is hidden) enforces a wall-clock time
limit on Lua code, and lupa's allocator cap bounds the VM's memory.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from encoderfile.runtime.errors import TransformError

ALLOWED_LIBS = ("coroutine", "table", "io", "os", "string", "utf8", "math", "package", "debug")
DEFAULT_LIBS = ("table", "string", "math")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_MEMORY = 512 * 1024 * 1024
# Lua instructions between two checks of the deadline (a Python call each time: cheap).
_HOOK_INTERVAL = 100_000

_TENSOR_METHODS = frozenset(
    {
        "ndim",
        "softmax",
        "lp_normalize",
        "lp_norm",
        "mean_pool",
        "layer_norm",
        "truncate_axis",
        "clamp",
        "exp",
        "sum",
        "sum_axis",
        "mean",
        "std",
        "min",
        "max",
        "len",
        "transpose",
        "map_axis",
        "fold_axis",
    }
)


class LuaOpError(Exception):
    """An error raised by a Tensor operation called from Lua (message shown to the user)."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LuaOpError(f"{what} must be a number, got {_type_name(value)}")
    return float(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, Tensor):
        return "Tensor"
    return type(value).__name__


class Tensor:
    """A float32 n-d array as seen by Lua scripts (1-based axes)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.asarray(array, dtype=np.float32)

    # -- helpers (hidden from Lua by the attribute filter) ------------------------------------
    def _axis(self, axis: Any) -> int:
        if isinstance(axis, bool) or not isinstance(axis, (int, float)) or axis != int(axis):
            raise LuaOpError(f"Axis must be an integer, got {_type_name(axis)}")
        axis = int(axis)
        if axis <= 0:
            raise LuaOpError("Axis must be >= 1.")
        if axis > self.array.ndim:
            raise LuaOpError(f"Axis out of range: {axis} for a tensor of rank {self.array.ndim}.")
        return axis - 1

    def __str__(self) -> str:
        return f"Tensor(shape={list(self.array.shape)}, {np.array2string(self.array)})"

    # -- properties ----------------------------------------------------------------------------
    def ndim(self) -> int:
        return int(self.array.ndim)

    def len(self) -> int:
        return int(self.array.size)

    def sum(self) -> float:
        return float(self.array.sum(dtype=np.float32))

    def mean(self) -> float | None:
        return None if self.array.size == 0 else float(self.array.mean(dtype=np.float32))

    def std(self, ddof: Any = 0) -> float:
        ddof = _number(ddof, "ddof")
        with np.errstate(all="ignore"):
            return float(self.array.std(ddof=ddof, dtype=np.float32))

    def min(self) -> float:
        if self.array.size == 0:
            raise LuaOpError("min() of an empty tensor")
        return float(self.array.min())

    def max(self) -> float:
        if self.array.size == 0:
            raise LuaOpError("max() of an empty tensor")
        return float(self.array.max())

    def lp_norm(self, p: Any) -> float:
        p = _number(p, "p")
        if p == 0:
            raise LuaOpError("P has to be larger than 0.")
        a = np.abs(self.array)
        if math.isinf(p):
            return float(a.max(initial=0.0))
        return float(np.power(np.power(a, p).sum(dtype=np.float32), 1.0 / p))

    # -- ops returning tensors -----------------------------------------------------------------
    def exp(self) -> Tensor:
        with np.errstate(all="ignore"):
            return Tensor(np.exp(self.array))

    def softmax(self, axis: Any) -> Tensor:
        ax = self._axis(axis)
        shifted = self.array - self.array.max(axis=ax, keepdims=True)
        e = np.exp(shifted)
        return Tensor(e / e.sum(axis=ax, keepdims=True))

    def lp_normalize(self, p: Any, axis: Any) -> Tensor:
        if self.array.size == 0:
            raise LuaOpError("Cannot normalize an empty tensor")
        p = _number(p, "p")
        if p == 0:
            raise LuaOpError("p cannot equal 0.0")
        ax = self._axis(axis)
        a = np.abs(self.array)
        if math.isinf(p):
            norms = a.max(axis=ax, keepdims=True)
        elif p == 2:
            norms = np.sqrt(np.square(a).sum(axis=ax, keepdims=True))
        else:
            norms = np.power(np.power(a, p).sum(axis=ax, keepdims=True), 1.0 / p)
        return Tensor(self.array / np.maximum(norms, np.float32(1e-12)))

    def mean_pool(self, mask: Any) -> Tensor:
        mask_arr = _to_array(mask, "mask")
        nd = self.array.ndim
        if nd < 2 or mask_arr.ndim != nd - 1:
            raise LuaOpError(
                f"mean_pool: mask must have rank {nd - 1} (tensor rank {nd}), "
                f"got rank {mask_arr.ndim}"
            )
        expanded = mask_arr[..., None]
        try:
            weighted = self.array * expanded
        except ValueError:
            raise LuaOpError(
                f"cannot broadcast mask shape {list(expanded.shape)} "
                f"to {list(self.array.shape)}"
            ) from None
        axes = tuple(range(1, nd - 1))
        total = weighted.sum(axis=axes)
        count = expanded.sum(axis=axes)
        with np.errstate(all="ignore"):
            return Tensor(total / count)

    def layer_norm(self, axis: Any, eps: Any) -> Tensor:
        ax = self._axis(axis)
        eps = _number(eps, "eps")
        mean = self.array.mean(axis=ax, keepdims=True)
        centered = self.array - mean
        var = np.square(centered).mean(axis=ax, keepdims=True)
        return Tensor(centered / np.sqrt(var + np.float32(eps)))

    def truncate_axis(self, axis: Any, length: Any) -> Tensor:
        ax = self._axis(axis)
        n = _number(length, "len")
        if n < 0 or n != int(n):
            raise LuaOpError(f"len must be a non-negative integer, got {length}")
        index = [slice(None)] * self.array.ndim
        index[ax] = slice(0, int(n))
        return Tensor(np.ascontiguousarray(self.array[tuple(index)]))

    def clamp(self, lo: Any = None, hi: Any = None) -> Tensor:
        lo = None if lo is None else _number(lo, "min")
        hi = None if hi is None else _number(hi, "max")
        if (lo is not None and math.isnan(lo)) or (hi is not None and math.isnan(hi)):
            # Same policy as the reference: a NaN bound makes everything NaN.
            return Tensor(np.full_like(self.array, np.nan))
        out = self.array
        if lo is not None:
            out = np.maximum(out, np.float32(lo))
        if hi is not None:
            out = np.minimum(out, np.float32(hi))
        return Tensor(np.array(out, dtype=np.float32, copy=True))

    def sum_axis(self, axis: Any) -> Tensor:
        return Tensor(self.array.sum(axis=self._axis(axis)))

    def transpose(self) -> Tensor:
        if self.array.ndim < 2:
            return Tensor(self.array.copy())
        return Tensor(np.ascontiguousarray(np.swapaxes(self.array, -1, -2)))

    def map_axis(self, axis: Any, fn: Callable[[Tensor], Any]) -> Tensor:
        ax = self._axis(axis)
        if not callable(fn):
            raise LuaOpError(f"map_axis: expected a function, got {_type_name(fn)}")
        outs = []
        for i in range(self.array.shape[ax]):
            result = fn(Tensor(np.take(self.array, i, axis=ax)))
            if not isinstance(result, Tensor):
                raise LuaOpError(
                    f"map_axis: function must return a Tensor, got {_type_name(result)}"
                )
            outs.append(result.array)
        if not outs:
            return Tensor(self.array.copy())
        try:
            return Tensor(np.stack(outs, axis=ax))
        except ValueError as exc:
            raise LuaOpError(f"map_axis: stack error: {exc}") from None

    def fold_axis(self, axis: Any, acc: Any, fn: Callable[[float, float], Any]) -> Tensor:
        ax = self._axis(axis)
        start = _number(acc, "acc")
        if not callable(fn):
            raise LuaOpError(f"fold_axis: expected a function, got {_type_name(fn)}")
        out = []
        for i in range(self.array.shape[ax]):
            value: Any = start
            for x in np.take(self.array, i, axis=ax).ravel().tolist():
                value = fn(value, x)
            out.append(_number(value, "fold_axis result"))
        return Tensor(np.asarray(out, dtype=np.float32))


def _to_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.array
    if _is_lua_table(value):
        return _table_to_array(value)
    raise LuaOpError(f"{what} must be a Tensor, got {_type_name(value)}")


def _is_lua_table(value: Any) -> bool:
    from lupa import lua54

    return lua54.lua_type(value) == "table"


def _table_to_nested(table: Any) -> Any:
    items = [table[i] for i in range(1, len(table) + 1)]
    out = []
    for item in items:
        if _is_lua_table(item):
            out.append(_table_to_nested(item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(float(item))
        else:
            raise LuaOpError(f"Tensor values must be numbers, got {_type_name(item)}")
    return out


def _table_to_array(table: Any) -> np.ndarray:
    nested = _table_to_nested(table)
    try:
        return np.array(nested, dtype=np.float32)
    except ValueError:
        raise LuaOpError("Shape error: nested tables must be rectangular") from None


def _operand(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.array
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.float32(value)
    raise LuaOpError("Expected either number or Tensor.")


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Tensor]:
    def apply(a: Any, b: Any) -> Tensor:
        x, y = _operand(a), _operand(b)
        try:
            np.broadcast_shapes(np.shape(x), np.shape(y))
        except ValueError:
            raise LuaOpError(
                f"Shape {list(np.shape(x))} not broadcastable to {list(np.shape(y))}"
            ) from None
        with np.errstate(all="ignore"):
            return Tensor(op(x, y))

    return apply


def _eq(a: Any, b: Any) -> bool:
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        return False
    return a.array.shape == b.array.shape and bool(np.array_equal(a.array, b.array))


def _len(a: Any, *_: Any) -> int:
    if not isinstance(a, Tensor):
        raise LuaOpError(f"attempt to get length of a {_type_name(a)} value")
    return a.len()


def _unm(a: Any, *_: Any) -> Tensor:
    return Tensor(-_operand(a))


def _make_tensor(value: Any = None) -> Tensor:
    if isinstance(value, Tensor):
        return Tensor(value.array.copy())
    if _is_lua_table(value):
        return Tensor(_table_to_array(value))
    raise LuaOpError(f"Unknown type: {_type_name(value)}")


def _attribute_filter(obj: Any, name: Any, is_setting: bool) -> Any:
    # Lua may call Tensor methods, nothing else: no attribute of any other Python object, no
    # private or dunder names (which would lead to the interpreter's internals).
    if not is_setting and isinstance(obj, Tensor) and name in _TENSOR_METHODS:
        return name
    raise AttributeError(f"'{_type_name(obj)}' has no accessible field '{name}'")


_SETUP_LUA = """
local sample, ops, state, clock, interval = ...
local mt = debug.getmetatable(sample)
mt.__add = ops.add
mt.__sub = ops.sub
mt.__mul = ops.mul
mt.__div = ops.div
mt.__unm = ops.unm
mt.__eq = ops.eq
mt.__len = ops.len
local timeout, fmt, err = state.timeout, string.format, error
debug.sethook(function()
  local deadline = state.deadline
  if deadline and clock() > deadline then
    err(fmt("transform exceeded its time limit of %g s", timeout), 2)
  end
end, "", interval)
"""


def validate_libs(libs: Iterable[str] | None) -> tuple[str, ...]:
    """Check configured Lua libs; None means the default (table, string, math)."""
    if libs is None:
        return DEFAULT_LIBS
    out = []
    for lib in libs:
        if lib not in ALLOWED_LIBS:
            raise TransformError(f"unknown Lua library {lib!r}; allowed: {', '.join(ALLOWED_LIBS)}")
        if lib not in out:
            out.append(lib)
    return tuple(out)


class _VM:
    """One Lua runtime with the script loaded."""

    def __init__(self, source: str, libs: Sequence[str], timeout_s: float, max_memory: int):
        from lupa import lua54

        self.timeout_s = timeout_s
        self.lua = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_attribute_filter,
            max_memory=max_memory,
        )
        g = self.lua.globals()
        self.state = self.lua.table(timeout=timeout_s)
        ops = self.lua.table(
            add=_binary(np.add),
            sub=_binary(np.subtract),
            mul=_binary(np.multiply),
            div=_binary(np.divide),
            unm=_unm,
            eq=_eq,
            len=_len,
        )
        setup = self.lua.execute("return function(...) " + _SETUP_LUA + " end")
        setup(Tensor(np.zeros(0)), ops, self.state, time.monotonic, _HOOK_INTERVAL)
        # Hide everything the configuration did not ask for (lupa opens all libraries).
        for name in ALLOWED_LIBS:
            if name not in libs:
                g[name] = None
        if "package" not in libs:
            g["require"] = None
        for name in ("python", "dofile", "loadfile"):
            g[name] = None
        g["Tensor"] = _make_tensor
        self._run(lambda: self.lua.execute(source))
        self.postprocess = g["Postprocess"]
        if self.postprocess is not None and lua54.lua_type(self.postprocess) != "function":
            raise TransformError("transform: global 'Postprocess' is not a function")

    def _run(self, fn: Callable[[], Any]) -> Any:
        from lupa import lua54

        self.state["deadline"] = time.monotonic() + self.timeout_s
        try:
            return fn()
        except TransformError:
            raise
        except (LuaOpError, lua54.LuaError) as exc:
            raise TransformError(f"transform error: {_first_line(exc)}") from None
        except MemoryError:
            raise TransformError("transform exceeded its memory limit") from None
        except Exception as exc:  # an error inside a Tensor op: keep its message
            raise TransformError(f"transform error: {type(exc).__name__}: {exc}") from None
        finally:
            self.state["deadline"] = None

    def call(self, *arrays: np.ndarray) -> np.ndarray:
        result = self._run(lambda: self.postprocess(*[Tensor(a) for a in arrays]))
        if not isinstance(result, Tensor):
            raise TransformError(
                f"transform error: Postprocess must return a Tensor, got {_type_name(result)}"
            )
        return result.array


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # lupa appends a Lua stack traceback; the first line is the message.
    return text.split("\nstack traceback:")[0].strip() or type(exc).__name__


class LuaTransform:
    """A compiled transform: one Lua VM per thread, the script loaded once per VM."""

    def __init__(
        self,
        source: str,
        libs: Iterable[str] | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        self.source = source.strip()
        self.libs = validate_libs(libs)
        self.timeout_s = timeout_s
        self.max_memory = max_memory
        self._local = threading.local()
        # Load once now so a broken script fails at start-up, not on the first request.
        self.has_postprocess = self._vm().postprocess is not None

    @classmethod
    def from_artifact(cls, data: bytes, **kwargs: Any) -> LuaTransform:
        """Decode the protobuf `Transform` artifact (type LUA) and compile it."""
        from google.protobuf.message import DecodeError

        from encoderfile.proto import manifest_pb2

        msg = manifest_pb2.Transform()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise TransformError(
                f"transform artifact is not a valid Transform message: {exc}"
            ) from None
        if msg.transform_type not in (manifest_pb2.LUA, manifest_pb2.TRANSFORM_TYPE_UNSPECIFIED):
            raise TransformError(f"unsupported transform type {msg.transform_type}")
        libs = list(msg.lua_libs.libs) if msg.HasField("lua_libs") else None
        return cls(msg.transform, libs, **kwargs)

    def _vm(self) -> _VM:
        vm = getattr(self._local, "vm", None)
        if vm is None:
            vm = _VM(self.source, self.libs, self.timeout_s, self.max_memory)
            self._local.vm = vm
        return vm

    def postprocess(self, *arrays: np.ndarray) -> np.ndarray:
        """Call `Postprocess(*arrays)`; returns the resulting float32 array."""
        return self._vm().call(*arrays)


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def apply_postprocess(
    transform: LuaTransform, model_type: str, output: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Run the transform under the reference's shape contract for `model_type` (snake name).

    embedding [B,S,H] -> [B,S,*]; sentence_embedding (hidden, mask) -> [B,*] (replaces mean
    pooling); sequence/token classification keep the shape exactly.
    """
    if not transform.has_postprocess:
        return output
    if model_type == "sentence_embedding":
        if mask is None:
            raise ValueError("sentence_embedding transforms need the attention mask")
        result = transform.postprocess(output, mask.astype(np.float32))
        ok = result.ndim == 2 and result.shape[0] == output.shape[0]
        expected = f"[{output.shape[0]}, *]"
    elif model_type == "embedding":
        result = transform.postprocess(output)
        ok = result.ndim == 3 and result.shape[:2] == output.shape[:2]
        expected = f"[{output.shape[0]}, {output.shape[1]}, *]"
    else:
        result = transform.postprocess(output)
        ok = result.shape == output.shape
        expected = _shape(output.shape)
    if not ok:
        raise TransformError(
            f"transform for {model_type} models must return a tensor of shape {expected}, "
            f"got {_shape(result.shape)}"
        )
    return result
