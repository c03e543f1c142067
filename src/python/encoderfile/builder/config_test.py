from __future__ import annotations

from pathlib import Path

import pytest

from encoderfile.builder.config import DEFAULT_VERSION, load_config
from encoderfile.builder.errors import ConfigError, ModelFilesError
from encoderfile.builder.testing import write_config


def _cfg(tmp_path: Path, body: str, **kw: object):  # type: ignore[no-untyped-def]
    return load_config(write_config(tmp_path / "encoderfile.yml", body), **kw)


def test_minimal_defaults_and_relative_paths(tmp_path: Path) -> None:
    c = _cfg(tmp_path, "encoderfile:\n  name: m\n  path: ./model\n  model_type: embedding\n")
    assert c.version == DEFAULT_VERSION == "0.2.0"
    assert c.paths.directory == tmp_path / "model"
    assert c.paths.weights == tmp_path / "model" / "model.onnx"
    assert c.paths.tokenizer_config is None
    assert c.output_path == tmp_path / "m.encoderfile"
    assert c.validate_transform is True
    assert c.unknown_keys == ()
    assert c.lua_libs is None and c.transform is None


def test_directory_flag_changes_the_base(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    c = _cfg(
        tmp_path,
        "encoderfile:\n  name: m\n  path: model\n  model_type: embedding\n  output_path: o.ef\n",
        directory=other,
    )
    assert c.paths.directory == other / "model"
    assert c.output_path == other / "o.ef"


def test_explicit_paths_and_all_keys(tmp_path: Path) -> None:
    (tmp_path / "post.lua").write_text("  function Postprocess(a) return a end \n")
    c = _cfg(
        tmp_path,
        """
encoderfile:
  name: m
  version: "1.2.3"
  path:
    model_config_path: a/config.json
    model_weights_path: /abs/model.onnx
    tokenizer_path: a/tok.json
    tokenizer_config_path: a/tc.json
  model_type: token_classification
  cache_dir: cache
  base_binary_path: bin/base
  target: aarch64-apple-darwin
  transform: {path: post.lua}
  lua_libs: [table, math, table]
  validate_transform: false
  runtime_url_template: "file:///r/{version}/{target}"
  runtime_sha256: {x86_64-unknown-linux-gnu: "%s"}
  tokenizer:
    pad_strategy: {fixed: 32}
    truncation_side: left
    truncation_strategy: only_first
    max_length: 64
    stride: 4
"""
        % ("AB" * 32),
    )
    assert c.version == "1.2.3"
    assert c.paths.model_config == tmp_path / "a/config.json"
    assert c.paths.weights == Path("/abs/model.onnx")
    assert c.paths.tokenizer_config == tmp_path / "a/tc.json"
    assert c.paths.directory is None
    assert c.cache_dir == tmp_path / "cache"
    assert c.base_binary_path == tmp_path / "bin/base"
    assert c.target == "aarch64-apple-darwin"
    assert c.transform is not None and c.transform.origin == str(tmp_path / "post.lua")
    assert c.lua_libs == ("table", "math")
    assert c.validate_transform is False
    assert c.runtime_sha256 == {"x86_64-unknown-linux-gnu": "ab" * 32}
    t = c.tokenizer
    assert (t.pad_strategy, t.truncation_side, t.truncation_strategy, t.max_length, t.stride) == (
        32,
        "left",
        "only_first",
        64,
        4,
    )


def test_unknown_keys_are_collected(tmp_path: Path) -> None:
    c = _cfg(
        tmp_path,
        """
encoderfile:
  name: m
  path: {model_config_path: c, model_weights_path: w, tokenizer_path: t, extra: 1}
  model_type: embedding
  colour: blue
  tokenizer: {pad_strategy: batch_longest, padding: 3}
other_top: 1
""",
    )
    assert c.unknown_keys == ("colour", "other_top", "path.extra", "tokenizer.padding")
    assert c.tokenizer.pad_strategy == "batch_longest"


@pytest.mark.parametrize(
    "body, message",
    [
        ("encoderfile:\n  name: m\n  path: x\n  model_type: [\n", "not valid YAML at line 5"),
        ("name: m\n", "top-level `encoderfile:` mapping"),
        ("encoderfile:\n  path: x\n  model_type: embedding\n", "encoderfile.name is required"),
        ("encoderfile:\n  name: m\n  path: x\n", "model_type is required"),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: fill_mask\n",
            "unknown model_type 'fill_mask'; valid: embedding, sentence_embedding, "
            "sequence_classification, token_classification",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: image_classification\n",
            "not supported by this builder yet",
        ),
        ("encoderfile:\n  name: m\n  model_type: embedding\n", "encoderfile.path is required"),
        (
            "encoderfile:\n  name: m\n  path: {tokenizer_path: t}\n  model_type: embedding\n",
            "lacks model_config_path, model_weights_path",
        ),
        (
            "encoderfile:\n  name: m\n  version: 1.0\n  path: x\n  model_type: embedding\n",
            "version must be a string; quote it",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n  target: sparc\n",
            "unknown target 'sparc'; valid targets: x86_64-unknown-linux-gnu",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n  lua_libs: [net]\n",
            "unknown lua_libs net; allowed: coroutine",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n"
            "  tokenizer: {pad_strategy: longest}\n",
            "pad_strategy must be batch_longest or {fixed: <n>}",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n"
            "  tokenizer: {max_length: 0}\n",
            "tokenizer.max_length must be an integer >= 1",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n"
            "  transform: {path: nope.lua}\n",
            "transform file .*nope.lua not found",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n"
            "  runtime_sha256: {x86_64-unknown-linux-gnu: abc}\n",
            "a SHA-256 must be 64 hex digits",
        ),
        (
            "encoderfile:\n  name: m\n  path: x\n  model_type: embedding\n"
            "  runtime_url_template: 'https://x/{tag}'\n",
            "use the placeholders {version} and {target}",
        ),
        ("encoderfile:\n  name: a/b\n  path: x\n  model_type: embedding\n", "path separators"),
    ],
)
def test_config_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", "\\[").replace("{", "\\{")):
        _cfg(tmp_path, body)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; pass -f"):
        load_config(tmp_path / "nope.yml")


def test_directory_mode_missing_files(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    c = _cfg(tmp_path, "encoderfile:\n  name: m\n  path: model\n  model_type: embedding\n")
    with pytest.raises(ModelFilesError) as e:
        c.paths.check()
    msg = str(e.value)
    assert "model weights" in msg and "model.onnx" in msg and "tokenizer.json" in msg
    assert "config.json" not in msg.split("(")[0]
    c2 = _cfg(tmp_path, "encoderfile:\n  name: m\n  path: nodir\n  model_type: embedding\n")
    with pytest.raises(ModelFilesError, match="model directory .*nodir does not exist"):
        c2.paths.check()
