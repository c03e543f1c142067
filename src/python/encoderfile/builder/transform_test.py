from __future__ import annotations

import sys

import pytest

from encoderfile.builder.config import TransformSpec
from encoderfile.builder.errors import TransformError
from encoderfile.builder.transform import build_transform_artifact, check_lua_transform
from encoderfile.proto import manifest_pb2

GOOD = "\n  function Postprocess(arr)\n    return arr:lp_normalize(2, 3)\n  end\n\n"


def test_encodes_trimmed_source_without_libs() -> None:
    a = build_transform_artifact(TransformSpec(GOOD, "inline"), None, True)
    msg = manifest_pb2.Transform.FromString(a.data)
    assert msg.transform_type == manifest_pb2.LUA
    assert msg.transform == GOOD.strip()
    assert not msg.HasField("lua_libs")
    assert a.notes == ()
    assert a.data == b"\x08\x01\x12" + bytes([len(GOOD.strip())]) + GOOD.strip().encode()


def test_encodes_lua_libs_when_configured() -> None:
    a = build_transform_artifact(TransformSpec(GOOD, "inline"), ("math", "utf8"), True)
    assert list(manifest_pb2.Transform.FromString(a.data).lua_libs.libs) == ["math", "utf8"]


@pytest.mark.parametrize(
    "src, message",
    [
        ("function Postprocess(arr", "fails to load: inline:1:"),
        ("x = 1", "does not define a global function Postprocess"),
        ("Postprocess = 3", "does not define a global function Postprocess"),
        ("local function Postprocess(a) return a end", "does not define a global function"),
        ("while true do end", "instruction limit"),
        ("io.write('x')\nfunction Postprocess(a) return a end", "global 'io'"),
        ("python.eval('1')", "global 'python'"),
    ],
)
def test_validation_errors(src: str, message: str) -> None:
    with pytest.raises(TransformError, match=message):
        check_lua_transform(src, ("table", "string", "math"), "inline")


def test_configured_libs_are_available() -> None:
    check_lua_transform(
        "local x = utf8.char(72)\nfunction Postprocess(a) return a end", ["utf8"], "t"
    )
    with pytest.raises(TransformError, match="global 'utf8'"):
        check_lua_transform("local x = utf8.char(72)", ["math"], "t")


def test_empty_transform() -> None:
    with pytest.raises(TransformError, match="is empty"):
        build_transform_artifact(TransformSpec("  \n", "t.lua"), None, True)


def test_validation_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_transform_artifact(TransformSpec("not lua at all", "inline"), None, False)
    assert "not checked" in a.notes[0]
    monkeypatch.setitem(sys.modules, "lupa", None)
    b = build_transform_artifact(TransformSpec("not lua at all", "inline"), None, True)
    assert b.notes == ("lupa is not installed; the Lua transform was not checked at build time",)
