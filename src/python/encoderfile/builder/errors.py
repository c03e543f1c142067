"""Typed errors of `encoderfile build` and of the base-binary cache; each message names the fix."""

from __future__ import annotations


class BuildError(Exception):
    """Base class of every builder error; the message is one line meant for a human."""


class ConfigError(BuildError):
    """encoderfile.yml cannot be read, parsed or has a bad value."""


class ModelFilesError(BuildError):
    """A model file (config.json, model.onnx, tokenizer.json, ...) is missing or unreadable."""


class ModelConfigError(BuildError):
    """config.json does not fit the model type (e.g. a classifier without id2label)."""


class OnnxGraphError(BuildError):
    """model.onnx cannot be parsed or its inputs/outputs do not fit the model type."""


class TokenizerConfigError(BuildError):
    """tokenizer.json / tokenizer_config.json cannot be turned into a working configuration."""


class TransformError(BuildError):
    """The Lua transform is missing, empty or does not define Postprocess."""


class TargetError(BuildError):
    """An unknown target triple, or a host this project ships no runtime for."""


class BaseBinaryError(BuildError):
    """The base binary (runtime) cannot be found, fetched or verified."""


class BaseBinaryNotCachedError(BaseBinaryError):
    """--no-download was given and the runtime is not in the cache."""


class NoPinnedDigestError(BaseBinaryError):
    """A download was requested but no SHA-256 is pinned for (version, target)."""


class DigestMismatchError(BaseBinaryError):
    """A downloaded or added runtime does not have the pinned SHA-256."""


class DownloadError(BaseBinaryError):
    """The runtime could not be downloaded (HTTP error, connection error, timeout)."""
