"""The tokenizer artifact: tokenizer.json with padding and truncation decided and applied.

Derivation (as the reference builder, see format-v1.md): start from tokenizer_config.json if there
is one (overlaying its keys on the defaults), else from what tokenizer.json already has, else the
defaults; then the `tokenizer:` overrides of encoderfile.yml. The pad token must be in the vocab.
Every assumption is returned as a note.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple, Union

from encoderfile.builder.config import TokenizerOverrides
from encoderfile.builder.errors import TokenizerConfigError

DEFAULT_MAX_LENGTH = 512
# transformers writes model_max_length = int(1e30) when it does not know the limit; the reference
# casts it and silently disables truncation. Anything this large is treated as "unknown".
SENTINEL_THRESHOLD = 10**12

_STRATEGY_SNAKE = {
    "LongestFirst": "longest_first",
    "OnlyFirst": "only_first",
    "OnlySecond": "only_second",
}
_STRATEGY_PASCAL = {v: k for k, v in _STRATEGY_SNAKE.items()}


@dataclass(frozen=True)
class TokenizerSettings:
    """Padding and truncation, in the tokenizers library's serialized vocabulary."""

    pad_fixed: int | None  # None = BatchLongest
    pad_direction: str  # "Left" | "Right"
    pad_to_multiple_of: int | None
    pad_id: int
    pad_type_id: int
    pad_token: str
    trunc_direction: str  # "Left" | "Right"
    max_length: int
    trunc_strategy: str  # "LongestFirst" | "OnlyFirst" | "OnlySecond"
    stride: int


DEFAULTS = TokenizerSettings(
    pad_fixed=None,
    pad_direction="Right",
    pad_to_multiple_of=None,
    pad_id=0,
    pad_type_id=0,
    pad_token="[PAD]",
    trunc_direction="Right",
    max_length=DEFAULT_MAX_LENGTH,
    trunc_strategy="LongestFirst",
    stride=0,
)


@dataclass(frozen=True)
class TokenizerArtifact:
    data: bytes
    settings: TokenizerSettings
    notes: Tuple[str, ...]


def _side(v: Any, key: str, src: str) -> str:
    if v not in ("left", "right"):
        raise TokenizerConfigError(f'{src}: {key} must be "left" or "right", got {v!r}')
    return v.capitalize()


def _uint(v: Any, key: str, src: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise TokenizerConfigError(f"{src}: {key} must be a non-negative integer, got {v!r}")
    return v


def _from_tokenizer_config(tc: Dict[str, Any], src: str, notes: List[str]) -> Dict[str, Any]:
    s: Dict[str, Any] = dict(DEFAULTS.__dict__)
    missing: List[str] = []

    if "padding_side" in tc:
        s["pad_direction"] = _side(tc["padding_side"], "padding_side", src)
    else:
        missing.append(f"padding_side={DEFAULTS.pad_direction.lower()}")
    if "pad_to_multiple_of" in tc:
        v = tc["pad_to_multiple_of"]
        s["pad_to_multiple_of"] = None if v is None else _uint(v, "pad_to_multiple_of", src)
    else:
        missing.append("pad_to_multiple_of=null")
    if "pad_token" in tc:
        v = tc["pad_token"]
        # transformers may serialize special tokens as AddedToken objects.
        if isinstance(v, dict) and isinstance(v.get("content"), str):
            v = v["content"]
        if not isinstance(v, str):
            raise TokenizerConfigError(f"{src}: pad_token must be a string, got {v!r}")
        s["pad_token"] = v
    else:
        missing.append(f"pad_token={DEFAULTS.pad_token}")
    if "pad_token_type_id" in tc:
        s["pad_type_id"] = _uint(tc["pad_token_type_id"], "pad_token_type_id", src)
    else:
        missing.append("pad_token_type_id=0")
    if "truncation_strategy" in tc:
        v = tc["truncation_strategy"]
        if v not in _STRATEGY_PASCAL:
            raise TokenizerConfigError(
                f"{src}: truncation_strategy must be one of "
                f"{', '.join(_STRATEGY_PASCAL)}, got {v!r}"
            )
        s["trunc_strategy"] = _STRATEGY_PASCAL[v]
    else:
        missing.append("truncation_strategy=longest_first")
    if "truncation_side" in tc:
        s["trunc_direction"] = _side(tc["truncation_side"], "truncation_side", src)
    else:
        missing.append("truncation_side=right")
    key = "model_max_length" if "model_max_length" in tc else "max_length"
    if key in tc and tc[key] is not None:
        v = tc[key]
        if isinstance(v, float) and v >= SENTINEL_THRESHOLD:
            v = int(v)
        v = _uint(v, key, src)
        if v >= SENTINEL_THRESHOLD:
            notes.append(
                f"{src}: {key} is {v} (transformers' 'unknown' value); truncating at "
                f"{DEFAULT_MAX_LENGTH} instead — set tokenizer.max_length in encoderfile.yml"
            )
        elif v == 0:
            raise TokenizerConfigError(f"{src}: {key} must be at least 1")
        else:
            s["max_length"] = v
    else:
        missing.append(f"model_max_length={DEFAULT_MAX_LENGTH}")
    if "stride" in tc:
        s["stride"] = _uint(tc["stride"], "stride", src)
    else:
        missing.append("stride=0")
    if missing:
        notes.append(
            f"{src} does not set {', '.join(k.split('=')[0] for k in missing)}; "
            f"assuming {', '.join(missing)}"
        )
    return s


def _from_tokenizer_json(tok_json: Dict[str, Any], src: str, notes: List[str]) -> Dict[str, Any]:
    s: Dict[str, Any] = dict(DEFAULTS.__dict__)
    p = tok_json.get("padding")
    if isinstance(p, dict):
        strategy = p.get("strategy")
        if isinstance(strategy, dict) and "Fixed" in strategy:
            s["pad_fixed"] = _uint(strategy["Fixed"], "padding.strategy.Fixed", src)
        s["pad_direction"] = p.get("direction", "Right")
        s["pad_to_multiple_of"] = p.get("pad_to_multiple_of")
        s["pad_id"] = p.get("pad_id", 0)
        s["pad_type_id"] = p.get("pad_type_id", 0)
        s["pad_token"] = p.get("pad_token", DEFAULTS.pad_token)
        notes.append(f"no tokenizer_config.json; using the padding stored in {src}")
    else:
        notes.append(
            f"no tokenizer_config.json and no padding in {src}; assuming padding batch_longest, "
            f"right, pad_token {DEFAULTS.pad_token}"
        )
    t = tok_json.get("truncation")
    if isinstance(t, dict):
        s["trunc_direction"] = t.get("direction", "Right")
        s["max_length"] = t.get("max_length", DEFAULT_MAX_LENGTH)
        s["trunc_strategy"] = t.get("strategy", "LongestFirst")
        s["stride"] = t.get("stride", 0)
        notes.append(f"no tokenizer_config.json; using the truncation stored in {src}")
    else:
        notes.append(
            f"no tokenizer_config.json and no truncation in {src}; assuming truncation at "
            f"{DEFAULT_MAX_LENGTH} tokens, longest_first, right, stride 0"
        )
    return s


def _apply_overrides(s: Dict[str, Any], o: TokenizerOverrides) -> None:
    if o.pad_strategy is not None:
        s["pad_fixed"] = None if o.pad_strategy == "batch_longest" else int(o.pad_strategy)
    if o.truncation_side is not None:
        s["trunc_direction"] = o.truncation_side.capitalize()
    if o.truncation_strategy is not None:
        s["trunc_strategy"] = _STRATEGY_PASCAL[o.truncation_strategy]
    if o.max_length is not None:
        s["max_length"] = o.max_length
    if o.stride is not None:
        s["stride"] = o.stride


def build_tokenizer_artifact(
    tokenizer_path: Union[str, os.PathLike],
    tokenizer_config_path: Union[str, os.PathLike] | None,
    overrides: TokenizerOverrides,
) -> TokenizerArtifact:
    """Derive padding/truncation, apply them, and return the tokenizer artifact bytes.

    Raises:
        TokenizerConfigError: unreadable files, bad values, pad token not in the vocab, or
            settings the tokenizers library rejects.
    """
    from tokenizers import Tokenizer  # deferred: heavy import only the build needs

    tpath = os.fspath(tokenizer_path)
    try:
        with open(tpath, encoding="utf-8") as f:
            tok_text = f.read()
        tok_json = json.loads(tok_text)
    except OSError as e:
        raise TokenizerConfigError(f"cannot read {tpath}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerConfigError(f"{tpath} is not valid JSON: {e}") from None
    try:
        tok = Tokenizer.from_str(tok_text)
    except Exception as e:  # the library raises plain Exception subclasses
        raise TokenizerConfigError(f"{tpath} is not a tokenizers tokenizer: {e}") from None

    notes: List[str] = []
    if tokenizer_config_path is not None:
        cpath = os.fspath(tokenizer_config_path)
        try:
            with open(cpath, encoding="utf-8") as f:
                tc = json.load(f)
        except OSError as e:
            raise TokenizerConfigError(f"cannot read {cpath}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise TokenizerConfigError(f"{cpath} is not valid JSON: {e}") from None
        if not isinstance(tc, dict):
            raise TokenizerConfigError(f"{cpath} must hold a JSON object")
        s = _from_tokenizer_config(tc, cpath, notes)
        from_config = True
    else:
        s = _from_tokenizer_json(tok_json, tpath, notes)
        from_config = False
    _apply_overrides(s, overrides)

    pad_id = tok.token_to_id(s["pad_token"])
    if pad_id is None:
        raise TokenizerConfigError(
            f"pad token {s['pad_token']!r} is not in the vocabulary of {tpath}; set pad_token in "
            f"tokenizer_config.json to a token the tokenizer has (e.g. [PAD])"
        )
    if not from_config and pad_id != s["pad_id"]:
        notes.append(
            f"{tpath}: padding pad_id {s['pad_id']} is not the id of {s['pad_token']!r}; "
            f"using its vocabulary id {pad_id}"
        )
    s["pad_id"] = pad_id
    settings = TokenizerSettings(**s)

    try:
        tok.enable_padding(
            direction=settings.pad_direction.lower(),
            pad_id=settings.pad_id,
            pad_type_id=settings.pad_type_id,
            pad_token=settings.pad_token,
            length=settings.pad_fixed,
            pad_to_multiple_of=settings.pad_to_multiple_of,
        )
        tok.enable_truncation(
            max_length=settings.max_length,
            stride=settings.stride,
            strategy=_STRATEGY_SNAKE[settings.trunc_strategy],
            direction=settings.trunc_direction.lower(),
        )
    except Exception as e:
        raise TokenizerConfigError(
            f"the tokenizers library rejects padding/truncation {settings}: {e}"
        ) from None

    serialized = tok.to_str()
    # The "config" part uses the library's own serialization of the params (same serializer as
    # the reference), taken from the tokenizer JSON it just produced.
    applied = json.loads(serialized, object_pairs_hook=OrderedDict)
    config = OrderedDict(padding=applied["padding"], truncation=applied["truncation"])
    data = (
        '{"tokenizer":'
        + serialized
        + ',"config":'
        + json.dumps(config, ensure_ascii=False, separators=(",", ":"))
        + "}"
    ).encode("utf-8")
    return TokenizerArtifact(data=data, settings=settings, notes=tuple(notes))
