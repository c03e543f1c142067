"""`encoderfile build`: config parsing, artifact derivation, ONNX checks, base-binary cache.

>>> from encoderfile.builder import load_config, build_encoderfile  # doctest: +SKIP
>>> build_encoderfile(load_config("encoderfile.yml"))  # doctest: +SKIP
"""

from __future__ import annotations

from encoderfile.builder.build import (
    BuildOptions,
    BuildResult,
    apply_cli_overrides,
    build_encoderfile,
    prepare_artifacts,
)
from encoderfile.builder.config import BuildConfig, load_config, parse_config
from encoderfile.builder.errors import (
    BaseBinaryError,
    BaseBinaryNotCachedError,
    BuildError,
    ConfigError,
    DigestMismatchError,
    DownloadError,
    ModelConfigError,
    ModelFilesError,
    NoPinnedDigestError,
    OnnxGraphError,
    TargetError,
    TokenizerConfigError,
    TransformError,
)

__all__ = [
    "BaseBinaryError",
    "BaseBinaryNotCachedError",
    "BuildConfig",
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "ConfigError",
    "DigestMismatchError",
    "DownloadError",
    "ModelConfigError",
    "ModelFilesError",
    "NoPinnedDigestError",
    "OnnxGraphError",
    "TargetError",
    "TokenizerConfigError",
    "TransformError",
    "apply_cli_overrides",
    "build_encoderfile",
    "load_config",
    "parse_config",
    "prepare_artifacts",
]
