"""The transform artifact (a protobuf `Transform`) and an optional check of the Lua script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

from encoderfile.builder.config import DEFAULT_LUA_LIBS, LUA_LIBS, TransformSpec
from encoderfile.builder.errors import TransformError

# The build-time check runs untrusted top-level code: cap it.
_LUA_MAX_MEMORY = 64 * 1024 * 1024
_LUA_MAX_INSTRUCTIONS = 10_000_000


@dataclass(frozen=True)
class TransformArtifact:
    data: bytes
    notes: Tuple[str, ...]


def encode_transform(source: str, lua_libs: Sequence[str] | None) -> bytes:
    """Serialize Transform{LUA, source, lua_libs only when configured} deterministically."""
    from encoderfile.proto import manifest_pb2

    msg = manifest_pb2.Transform(transform_type=manifest_pb2.LUA, transform=source)
    if lua_libs is not None:
        msg.lua_libs.libs.extend(lua_libs)
    return msg.SerializeToString(deterministic=True)


def check_lua_transform(source: str, libs: Sequence[str], origin: str) -> None:
    """Load the script in a sandboxed Lua 5.4 with only `libs` and check it defines Postprocess.

    Raises:
        TransformError: syntax/run-time error at load, or no global function Postprocess.
        ImportError: lupa (or its Lua 5.4 module) is not installed.
    """
    from lupa import lua54  # ImportError is handled by the caller

    rt = lua54.LuaRuntime(register_eval=False, register_builtins=False, max_memory=_LUA_MAX_MEMORY)
    g = rt.globals()
    # Built before the sandbox is closed so it keeps `debug.sethook`: an instruction limit makes
    # an endless top-level loop fail fast.
    loader = rt.execute(
        "local load, pcall, tostring, sethook = load, pcall, tostring, debug.sethook\n"
        "return function(src, name, limit)\n"
        "  local chunk, err = load(src, '=' .. name, 't')\n"
        "  if not chunk then return false, tostring(err) end\n"
        "  sethook(function() error('instruction limit reached while loading', 0) end, '', limit)\n"
        "  local ok, e = pcall(chunk)\n"
        "  sethook()\n"
        "  return ok, e\n"
        "end"
    )
    # lupa opens every standard library plus `python`; close what the runtime would not open.
    for lib in LUA_LIBS:
        if lib not in libs:
            g[lib] = None
    for name in ("python", "dofile", "loadfile", "require"):
        g[name] = None
    try:
        result = loader(source, origin, _LUA_MAX_INSTRUCTIONS)
    except lua54.LuaMemoryError:
        raise TransformError(
            f"transform {origin}: ran out of the {_LUA_MAX_MEMORY >> 20} MiB build-time memory "
            f"limit while loading"
        ) from None
    except lua54.LuaError as e:
        raise TransformError(f"transform {origin}: {e}") from None
    ok, err = (result[0], result[1]) if isinstance(result, tuple) else (result, None)
    if not ok:
        raise TransformError(f"transform {origin} fails to load: {err}")
    post = g["Postprocess"]
    if post is None or lua54.lua_type(post) != "function":
        raise TransformError(
            f"transform {origin} does not define a global function Postprocess(arr[, mask]); "
            f"e.g. `function Postprocess(arr) return arr:lp_normalize(2, 3) end`"
        )


def build_transform_artifact(
    spec: TransformSpec, lua_libs: Sequence[str] | None, validate: bool
) -> TransformArtifact:
    """Trim the source (as the reference), check it, and encode the artifact."""
    source = spec.source.strip()
    if not source:
        raise TransformError(f"transform {spec.origin} is empty")
    notes = []
    if validate:
        libs = tuple(lua_libs) if lua_libs is not None else DEFAULT_LUA_LIBS
        try:
            check_lua_transform(source, libs, spec.origin)
        except ImportError:
            notes.append("lupa is not installed; the Lua transform was not checked at build time")
    else:
        notes.append("validate_transform is false; the Lua transform was not checked")
    return TransformArtifact(data=encode_transform(source, lua_libs), notes=tuple(notes))
