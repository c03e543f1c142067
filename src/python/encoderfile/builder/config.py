"""encoderfile.yml: parsing and validation of the build configuration.

The file has one top key, `encoderfile:`, with the reference builder's keys (see `KNOWN_KEYS`).
Unlike the reference, which resolves relative paths against the current directory, relative paths
here resolve against the directory of the config file (or `--directory`), so a build does not
depend on where it is started from. The default output, `<name>.encoderfile`, goes there too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple, Union

from encoderfile.builder.errors import ConfigError, ModelFilesError, TargetError
from encoderfile.builder.targets import parse_target

DEFAULT_VERSION = "0.2.0"

TEXT_MODEL_TYPES = (
    "embedding",
    "sentence_embedding",
    "sequence_classification",
    "token_classification",
)

KNOWN_KEYS = (
    "name",
    "version",
    "path",
    "model_type",
    "output_path",
    "cache_dir",
    "base_binary_path",
    "target",
    "transform",
    "lua_libs",
    "tokenizer",
    "validate_transform",
    "runtime_url_template",
    "runtime_sha256",
)
PATH_KEYS = ("model_config_path", "model_weights_path", "tokenizer_path", "tokenizer_config_path")
TOKENIZER_KEYS = ("pad_strategy", "truncation_side", "truncation_strategy", "max_length", "stride")

# The libraries the reference runtime can open for a transform.
LUA_LIBS = ("coroutine", "table", "io", "os", "string", "utf8", "math", "package", "debug")
DEFAULT_LUA_LIBS = ("table", "string", "math")

TRUNCATION_SIDES = ("left", "right")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")

# Directory-mode file names (as the reference).
CONFIG_JSON = "config.json"
MODEL_ONNX = "model.onnx"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG_JSON = "tokenizer_config.json"

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ModelPaths:
    """Where the model files are; `tokenizer_config` is optional."""

    model_config: Path
    weights: Path
    tokenizer: Path
    tokenizer_config: Path | None
    directory: Path | None = None  # set in directory mode

    def check(self) -> None:
        """Raise ModelFilesError naming every required file that is missing."""
        if self.directory is not None and not self.directory.is_dir():
            raise ModelFilesError(f"model directory {self.directory} does not exist")
        required = [
            ("model config", self.model_config),
            ("model weights", self.weights),
            ("tokenizer", self.tokenizer),
        ]
        if self.tokenizer_config is not None and self.directory is None:
            required.append(("tokenizer config", self.tokenizer_config))
        missing = [f"{what} {p}" for what, p in required if not p.is_file()]
        if missing:
            where = f" in {self.directory}" if self.directory is not None else ""
            raise ModelFilesError(
                f"missing model file(s){where}: {'; '.join(missing)}"
                + (
                    f" (a model directory needs {CONFIG_JSON}, {MODEL_ONNX} and {TOKENIZER_JSON})"
                    if self.directory is not None
                    else ""
                )
            )


@dataclass(frozen=True)
class TokenizerOverrides:
    """The `tokenizer:` section; None = not set. pad_strategy is "batch_longest" or a fixed int."""

    pad_strategy: Union[str, int] | None = None
    truncation_side: str | None = None
    truncation_strategy: str | None = None
    max_length: int | None = None
    stride: int | None = None


@dataclass(frozen=True)
class TransformSpec:
    """A Lua transform: its source and where it came from (a path or "inline")."""

    source: str
    origin: str


@dataclass(frozen=True)
class BuildConfig:
    """A validated encoderfile.yml with paths made absolute."""

    name: str
    version: str
    model_type: str  # one of TEXT_MODEL_TYPES
    paths: ModelPaths
    output_path: Path
    base_dir: Path
    config_path: Path | None = None
    cache_dir: Path | None = None
    base_binary_path: Path | None = None
    target: str | None = None
    transform: TransformSpec | None = None
    lua_libs: Tuple[str, ...] | None = None
    tokenizer: TokenizerOverrides = field(default_factory=TokenizerOverrides)
    validate_transform: bool = True
    runtime_url_template: str | None = None
    runtime_sha256: Mapping[str, str] = field(default_factory=dict)
    unknown_keys: Tuple[str, ...] = ()


def load_config(
    path: Union[str, os.PathLike], directory: Union[str, os.PathLike] | None = None
) -> BuildConfig:
    """Read and validate an encoderfile.yml.

    Args:
        path: the YAML file.
        directory: resolve relative paths against this directory instead of the file's.

    Raises:
        ConfigError: unreadable file, bad YAML, a missing/ill-typed key or a bad value.
    """
    import yaml  # deferred: only the build command needs it

    cpath = Path(path)
    try:
        text = cpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {cpath} not found; pass -f <encoderfile.yml>") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {cpath}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{cpath} is not valid YAML{where}: {problem}") from None
    base = Path(directory) if directory is not None else cpath.parent
    return parse_config(data, base_dir=Path(os.path.abspath(base)), config_path=cpath)


def parse_config(data: Any, base_dir: Path, config_path: Path | None = None) -> BuildConfig:
    """Validate already-parsed YAML (the whole document, with its `encoderfile:` top key)."""
    src = str(config_path) if config_path is not None else "config"
    if not isinstance(data, dict) or "encoderfile" not in data:
        raise ConfigError(f"{src} must have a top-level `encoderfile:` mapping")
    top_unknown = [f"{k}" for k in data if k != "encoderfile"]
    cfg = data["encoderfile"]
    if not isinstance(cfg, dict):
        raise ConfigError(f"{src}: `encoderfile:` must be a mapping of keys to values")
    unknown = [f"{k}" for k in cfg if k not in KNOWN_KEYS] + top_unknown

    def resolve(p: Any, key: str) -> Path:
        if not isinstance(p, str) or not p:
            raise ConfigError(f"{src}: {key} must be a non-empty path string")
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else base_dir / q

    name = cfg.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{src}: encoderfile.name is required (a non-empty string)")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"{src}: encoderfile.name {name!r} must not contain path separators")
    version = cfg.get("version", DEFAULT_VERSION)
    if not isinstance(version, str) or not version:
        raise ConfigError(
            f'{src}: encoderfile.version must be a string; quote it, e.g. version: "{version}"'
        )

    model_type = cfg.get("model_type")
    if model_type is None:
        raise ConfigError(
            f"{src}: encoderfile.model_type is required; one of {', '.join(TEXT_MODEL_TYPES)}"
        )
    if model_type == "image_classification":
        raise ConfigError(
            f"{src}: model_type image_classification is not supported by this builder yet; "
            f"supported: {', '.join(TEXT_MODEL_TYPES)}"
        )
    if model_type not in TEXT_MODEL_TYPES:
        raise ConfigError(
            f"{src}: unknown model_type {model_type!r}; valid: {', '.join(TEXT_MODEL_TYPES)}"
        )

    paths = _parse_paths(cfg.get("path"), resolve, src, unknown)

    output_path = (
        resolve(cfg["output_path"], "output_path")
        if cfg.get("output_path") is not None
        else base_dir / f"{name}.encoderfile"
    )
    cache_dir = resolve(cfg["cache_dir"], "cache_dir") if cfg.get("cache_dir") is not None else None
    base_binary_path = (
        resolve(cfg["base_binary_path"], "base_binary_path")
        if cfg.get("base_binary_path") is not None
        else None
    )
    target = cfg.get("target")
    if target is not None:
        if not isinstance(target, str):
            raise ConfigError(f"{src}: target must be a string target triple")
        try:
            target = parse_target(target)
        except TargetError as e:
            raise ConfigError(f"{src}: {e}") from None

    transform = _parse_transform(cfg.get("transform"), resolve, src)
    lua_libs = _parse_lua_libs(cfg.get("lua_libs"), src)
    tokenizer = _parse_tokenizer(cfg.get("tokenizer"), src, unknown)

    validate_transform = cfg.get("validate_transform", True)
    if not isinstance(validate_transform, bool):
        raise ConfigError(f"{src}: validate_transform must be true or false")

    url_template = cfg.get("runtime_url_template")
    if url_template is not None:
        url_template = check_url_template(url_template, src)
    runtime_sha256 = _parse_sha256_map(cfg.get("runtime_sha256"), src)

    return BuildConfig(
        name=name,
        version=version,
        model_type=model_type,
        paths=paths,
        output_path=output_path,
        base_dir=base_dir,
        config_path=config_path,
        cache_dir=cache_dir,
        base_binary_path=base_binary_path,
        target=target,
        transform=transform,
        lua_libs=lua_libs,
        tokenizer=tokenizer,
        validate_transform=validate_transform,
        runtime_url_template=url_template,
        runtime_sha256=runtime_sha256,
        unknown_keys=tuple(unknown),
    )


def model_paths_for_directory(directory: Path) -> ModelPaths:
    """Directory mode: fixed file names; tokenizer_config.json is used only when it exists."""
    tc = directory / TOKENIZER_CONFIG_JSON
    return ModelPaths(
        model_config=directory / CONFIG_JSON,
        weights=directory / MODEL_ONNX,
        tokenizer=directory / TOKENIZER_JSON,
        tokenizer_config=tc if tc.is_file() else None,
        directory=directory,
    )


def _parse_paths(p: Any, resolve: Any, src: str, unknown: list) -> ModelPaths:
    if p is None:
        raise ConfigError(
            f"{src}: encoderfile.path is required: a model directory, or a mapping with "
            f"{', '.join(PATH_KEYS[:3])} (and optionally tokenizer_config_path)"
        )
    if isinstance(p, str):
        return model_paths_for_directory(resolve(p, "path"))
    if not isinstance(p, dict):
        raise ConfigError(f"{src}: encoderfile.path must be a directory or a mapping of paths")
    unknown.extend(f"path.{k}" for k in p if k not in PATH_KEYS)
    missing = [k for k in PATH_KEYS[:3] if p.get(k) is None]
    if missing:
        raise ConfigError(f"{src}: encoderfile.path lacks {', '.join(missing)}")
    tc = p.get("tokenizer_config_path")
    return ModelPaths(
        model_config=resolve(p["model_config_path"], "path.model_config_path"),
        weights=resolve(p["model_weights_path"], "path.model_weights_path"),
        tokenizer=resolve(p["tokenizer_path"], "path.tokenizer_path"),
        tokenizer_config=resolve(tc, "path.tokenizer_config_path") if tc is not None else None,
    )


def _parse_transform(t: Any, resolve: Any, src: str) -> TransformSpec | None:
    if t is None:
        return None
    if isinstance(t, str):
        return TransformSpec(source=t, origin="inline")
    if isinstance(t, dict) and set(t) == {"path"}:
        tpath = resolve(t["path"], "transform.path")
        try:
            return TransformSpec(source=tpath.read_text(encoding="utf-8"), origin=str(tpath))
        except FileNotFoundError:
            raise ConfigError(f"{src}: transform file {tpath} not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{src}: cannot read transform file {tpath}: {e}") from None
    raise ConfigError(f"{src}: transform must be Lua source (a string) or {{path: <file.lua>}}")


def _parse_lua_libs(libs: Any, src: str) -> Tuple[str, ...] | None:
    if libs is None:
        return None
    if not isinstance(libs, list) or not all(isinstance(x, str) for x in libs):
        raise ConfigError(f"{src}: lua_libs must be a list of library names")
    bad = [x for x in libs if x not in LUA_LIBS]
    if bad:
        raise ConfigError(
            f"{src}: unknown lua_libs {', '.join(bad)}; allowed: {', '.join(LUA_LIBS)}"
        )
    # Order kept as written (it is embedded); duplicates dropped.
    return tuple(dict.fromkeys(libs))


def _nonneg_int(v: Any, key: str, src: str, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{src}: tokenizer.{key} must be an integer >= {minimum}, got {v!r}")
    return v


def _parse_tokenizer(t: Any, src: str, unknown: list) -> TokenizerOverrides:
    if t is None:
        return TokenizerOverrides()
    if not isinstance(t, dict):
        raise ConfigError(f"{src}: tokenizer must be a mapping of overrides")
    unknown.extend(f"tokenizer.{k}" for k in t if k not in TOKENIZER_KEYS)
    pad: Union[str, int] | None = None
    ps = t.get("pad_strategy")
    if ps is not None:
        if ps == "batch_longest":
            pad = "batch_longest"
        elif isinstance(ps, dict) and set(ps) == {"fixed"}:
            pad = _nonneg_int(ps["fixed"], "pad_strategy.fixed", src, minimum=1)
        else:
            raise ConfigError(
                f"{src}: tokenizer.pad_strategy must be batch_longest or {{fixed: <n>}}, got {ps!r}"
            )
    side = t.get("truncation_side")
    if side is not None and side not in TRUNCATION_SIDES:
        raise ConfigError(f"{src}: tokenizer.truncation_side must be left or right, got {side!r}")
    strat = t.get("truncation_strategy")
    if strat is not None and strat not in TRUNCATION_STRATEGIES:
        raise ConfigError(
            f"{src}: tokenizer.truncation_strategy must be one of "
            f"{', '.join(TRUNCATION_STRATEGIES)}, got {strat!r}"
        )
    ml = t.get("max_length")
    stride = t.get("stride")
    return TokenizerOverrides(
        pad_strategy=pad,
        truncation_side=side,
        truncation_strategy=strat,
        max_length=_nonneg_int(ml, "max_length", src, minimum=1) if ml is not None else None,
        stride=_nonneg_int(stride, "stride", src) if stride is not None else None,
    )


def check_url_template(t: Any, src: str = "runtime_url_template") -> str:
    """A URL template must be a string whose only placeholders are {version} and {target}."""
    if not isinstance(t, str) or not t:
        raise ConfigError(f"{src}: runtime_url_template must be a non-empty string")
    try:
        t.format(version="0", target="t")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"{src}: bad runtime_url_template {t!r} ({e}); use the placeholders "
            f"{{version}} and {{target}}"
        ) from None
    return t


def check_sha256(h: Any, what: str) -> str:
    """Return a lowercase 64-hex-digit digest or raise ConfigError."""
    if not isinstance(h, str) or not _HEX64.match(h):
        raise ConfigError(f"{what}: a SHA-256 must be 64 hex digits, got {h!r}")
    return h.lower()


def _parse_sha256_map(m: Any, src: str) -> Dict[str, str]:
    if m is None:
        return {}
    if not isinstance(m, dict):
        raise ConfigError(f"{src}: runtime_sha256 must be a mapping {{<target>: <sha256 hex>}}")
    out: Dict[str, str] = {}
    for target, h in m.items():
        try:
            t = parse_target(str(target))
        except TargetError as e:
            raise ConfigError(f"{src}: runtime_sha256: {e}") from None
        out[t] = check_sha256(h, f"{src}: runtime_sha256.{t}")
    return out
