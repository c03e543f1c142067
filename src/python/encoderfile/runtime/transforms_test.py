"""Lua transforms: the reference examples and every Tensor op, compared with numpy."""

from __future__ import annotations

import time

import numpy as np
import pytest

from encoderfile.runtime.errors import TransformError
from encoderfile.runtime.transforms import LuaTransform, apply_postprocess

RNG = np.random.default_rng(0)


def run(body: str, *arrays: np.ndarray, **kwargs) -> np.ndarray:
    return LuaTransform(f"function Postprocess(...)\n{body}\nend", **kwargs).postprocess(*arrays)


def close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_reference_l2_normalize_embeddings() -> None:
    x = RNG.standard_normal((2, 5, 8)).astype(np.float32)
    out = LuaTransform("function Postprocess(arr) return arr:lp_normalize(2, 3) end").postprocess(x)
    close(out, x / np.linalg.norm(x, axis=2, keepdims=True))


@pytest.mark.parametrize("shape,axis", [((4, 3), 2), ((2, 5, 9), 3)])
def test_reference_softmax(shape: tuple[int, ...], axis: int) -> None:
    x = (RNG.standard_normal(shape) * 20).astype(np.float32)
    out = LuaTransform(f"function Postprocess(arr) return arr:softmax({axis}) end").postprocess(x)
    close(out, np_softmax(x, axis - 1))


def test_reference_matryoshka() -> None:
    hidden = RNG.standard_normal((3, 7, 768)).astype(np.float32)
    mask = np.ones((3, 7), np.float32)
    mask[1, 4:] = 0
    mask[2, 2:] = 0
    src = """
    function Postprocess(arr, mask)
        local pooled = arr:mean_pool(mask)
        return pooled:layer_norm(2, 1e-5):truncate_axis(2, 512):lp_normalize(2, 2)
    end
    """
    out = LuaTransform(src).postprocess(hidden, mask)
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    normed = (pooled - pooled.mean(1, keepdims=True)) / np.sqrt(pooled.var(1, keepdims=True) + 1e-5)
    cut = normed[:, :512]
    close(out, cut / np.linalg.norm(cut, axis=1, keepdims=True))


def test_ops_against_numpy() -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    close(run("local a = ...; return a:exp()", x), np.exp(x))
    close(run("local a = ...; return a:sum_axis(2)", x), x.sum(1))
    close(run("local a = ...; return a:transpose()", x), np.swapaxes(x, 1, 2))
    close(run("local a = ...; return a:clamp(-0.5, 0.5)", x), np.clip(x, -0.5, 0.5))
    close(run("local a = ...; return a:clamp(nil, 0)", x), np.minimum(x, 0))
    close(run("local a = ...; return a:truncate_axis(3, 2)", x), x[:, :, :2])
    close(run("local a = ...; return a:truncate_axis(3, 99)", x), x)
    close(run("local a = ...; return a:lp_normalize(1, 1)", x), x / np.abs(x).sum(0))
    close(
        run("local a = ...; return a:layer_norm(3, 0)", x),
        (x - x.mean(2, keepdims=True)) / x.std(2, keepdims=True),
    )
    scalars = (
        "local a = ...; return Tensor({a:sum(), a:mean(), a:std(1), a:min(), a:max(),"
        " a:ndim(), #a, a:lp_norm(2)})"
    )
    expected = [x.sum(), x.mean(), x.std(ddof=1), x.min(), x.max(), 3, 24, np.linalg.norm(x)]
    close(run(scalars, x), np.array(expected, np.float32))


def test_arithmetic_and_broadcasting() -> None:
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    close(run("local a = ...; return a + 1", x), x + 1)
    close(run("local a = ...; return 2 * a - a / 4", x), 2 * x - x / 4)
    close(run("local a = ...; return 1 - a", x), 1 - x)
    close(run("local a = ...; return a * Tensor({10, 20, 30})", x), x * [10, 20, 30])
    close(run("local a = ...; return -a", x), -x)
    assert run(
        "local a = ...; return Tensor({(a == a:exp():exp()) and 1 or 0, (a == a * 1) and 1 or 0})",
        x,
    ).tolist() == [0, 1]
    with pytest.raises(TransformError, match="not broadcastable"):
        run("local a = ...; return a + Tensor({1, 2})", x)
    with pytest.raises(TransformError, match="Expected either number or Tensor"):
        run("local a = ...; return a + true", x)


def test_map_and_fold_axis() -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    close(run("local a = ...; return a:map_axis(3, function(t) return t * 2 end)", x), x * 2)
    close(
        run("local a = ...; return a:map_axis(1, function(t) return t:softmax(2) end)", x),
        np_softmax(x, 2),
    )
    t = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    close(
        run("local a = ...; return a:fold_axis(1, 0, function(acc, v) return acc + v end)", t),
        np.array([6, 15], np.float32),
    )
    close(
        run("local a = ...; return a:fold_axis(1, 1, function(acc, v) return acc * v end)", t),
        np.array([6, 120], np.float32),
    )


def test_tensor_constructor_and_errors() -> None:
    x = np.zeros((1,), np.float32)
    close(run("return Tensor({{1, 2}, {3, 4}})", x), np.array([[1, 2], [3, 4]], np.float32))
    with pytest.raises(TransformError, match="Shape error"):
        run("return Tensor({{1, 2}, {3}})", x)
    with pytest.raises(TransformError, match="Axis must be >= 1"):
        run("local a = ...; return a:softmax(0)", x)
    with pytest.raises(TransformError, match="Axis out of range"):
        run("local a = ...; return a:softmax(2)", x)
    with pytest.raises(TransformError, match="p cannot equal 0"):
        run("local a = ...; return a:lp_normalize(0, 1)", x)
    with pytest.raises(TransformError, match="must return a Tensor, got int"):
        run("return 1", x)


def test_sandbox_default_libs() -> None:
    x = np.zeros((2,), np.float32)
    out = run("return Tensor({math.sqrt(9), #string.upper('ab'), #table.pack(1, 2, 3)})", x)
    assert out.tolist() == [3, 2, 3]
    for name in (
        "os",
        "io",
        "debug",
        "package",
        "require",
        "python",
        "coroutine",
        "utf8",
        "dofile",
    ):
        assert run(f"return Tensor({{{name} == nil and 1 or 0}})", x).tolist() == [1], name
    with pytest.raises(TransformError, match="no accessible field"):
        run("local a = ...; return a.__class__", x)
    out = LuaTransform(
        "function Postprocess(a) return Tensor({os.time() > 0 and 1 or 0}) end", ["os", "math"]
    ).postprocess(x)
    assert out.tolist() == [1]
    with pytest.raises(TransformError, match="unknown Lua library"):
        LuaTransform("function Postprocess(a) return a end", ["ffi"])


def test_time_limit() -> None:
    start = time.monotonic()
    with pytest.raises(TransformError, match="time limit"):
        run("while true do end", np.zeros(1, np.float32), timeout_s=0.3)
    assert time.monotonic() - start < 3


def test_script_loaded_once_per_thread() -> None:
    t = LuaTransform("count = 0\nfunction Postprocess(a) count = count + 1; return a * count end")
    x = np.ones(2, np.float32)
    assert t.postprocess(x).tolist() == [1, 1]
    assert t.postprocess(x).tolist() == [2, 2]


def test_syntax_error_at_load() -> None:
    with pytest.raises(TransformError, match="transform error"):
        LuaTransform("function Postprocess(a) return a")


def test_shape_contracts() -> None:
    hidden = RNG.standard_normal((2, 4, 6)).astype(np.float32)
    mask = np.ones((2, 4), np.int64)
    ident = LuaTransform("function Postprocess(a) return a end")
    close(apply_postprocess(ident, "embedding", hidden), hidden)
    with pytest.raises(TransformError, match=r"shape \[2, \*\], got \[2, 4, 6\]"):
        apply_postprocess(ident, "sentence_embedding", hidden, mask)
    pool = LuaTransform("function Postprocess(a, m) return a:mean_pool(m) end")
    close(apply_postprocess(pool, "sentence_embedding", hidden, mask), hidden.mean(1))
    logits = hidden[:, 0, :3]
    bad = LuaTransform("function Postprocess(a) return a:sum_axis(1) end")
    with pytest.raises(TransformError, match=r"shape \[2, 3\], got \[3\]"):
        apply_postprocess(bad, "sequence_classification", logits)
    trunc = LuaTransform("function Postprocess(a) return a:truncate_axis(3, 2) end")
    assert apply_postprocess(trunc, "embedding", hidden).shape == (2, 4, 2)
