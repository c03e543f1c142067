"""`encoderfile build`: validate the inputs, derive the artifacts, resolve the base, write.

Everything is checked before the base binary is fetched and before anything is written, so a
bad input never costs a download or leaves a file behind. Same inputs give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, Mapping, Tuple, Union

from encoderfile.builder.base_binaries import (
    Progress,
    ResolvedBase,
    default_cache_dir,
    default_runtime_version,
    resolve_base_binary,
)
from encoderfile.builder.config import BuildConfig
from encoderfile.builder.model_config import build_model_config
from encoderfile.builder.onnx_graph import check_signature, read_graph_signature
from encoderfile.builder.targets import detect_host, parse_target
from encoderfile.builder.tokenizer_config import build_tokenizer_artifact
from encoderfile.builder.transform import build_transform_artifact

NoteSink = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    """Command-line choices that are not part of encoderfile.yml (or override it)."""

    runtime_version: str | None = None  # default: this package's version
    no_download: bool = False
    cache_dir: Path | None = None  # overrides the config's cache_dir
    url_template: str | None = None
    download_timeout: float = 60.0
    download_retries: int = 3


@dataclass(frozen=True)
class PreparedArtifacts:
    """The validated inputs, ready to be written."""

    weights: Path
    model_config: bytes
    tokenizer: bytes
    transform: bytes | None


@dataclass(frozen=True)
class BuildResult:
    path: Path
    size: int
    sha256: str
    base: ResolvedBase
    model_type: str


def apply_cli_overrides(
    config: BuildConfig,
    *,
    output_path: Path | None = None,
    base_binary_path: Path | None = None,
    target: str | None = None,
    runtime_sha256: Mapping[str, str] | None = None,
    runtime_url_template: str | None = None,
) -> BuildConfig:
    """Flags win over encoderfile.yml."""
    changes: Dict[str, object] = {}
    if output_path is not None:
        changes["output_path"] = output_path
    if base_binary_path is not None:
        changes["base_binary_path"] = base_binary_path
    if target is not None:
        changes["target"] = parse_target(target)
    if runtime_sha256:
        changes["runtime_sha256"] = {**config.runtime_sha256, **runtime_sha256}
    if runtime_url_template is not None:
        changes["runtime_url_template"] = runtime_url_template
    return replace(config, **changes) if changes else config


def prepare_artifacts(config: BuildConfig, note: NoteSink) -> PreparedArtifacts:
    """Check every input and derive the small artifacts; the weights stay on disk."""
    config.paths.check()
    if config.paths.directory is not None and config.paths.tokenizer_config is None:
        note(
            f"{config.paths.directory} has no tokenizer_config.json; padding and truncation come "
            f"from tokenizer.json or the defaults (the reference builder requires the file)"
        )
    mc = build_model_config(config.paths.model_config, config.model_type)
    sig = read_graph_signature(config.paths.weights)
    for n in check_signature(sig, config.model_type, str(config.paths.weights), mc.num_labels):
        note(n)
    transform: bytes | None = None
    if config.transform is not None:
        t = build_transform_artifact(config.transform, config.lua_libs, config.validate_transform)
        for n in t.notes:
            note(n)
        transform = t.data
    elif config.lua_libs is not None:
        note("lua_libs is set but there is no transform; lua_libs is ignored")
    tok = build_tokenizer_artifact(
        config.paths.tokenizer, config.paths.tokenizer_config, config.tokenizer
    )
    for n in tok.notes:
        note(n)
    return PreparedArtifacts(
        weights=config.paths.weights,
        model_config=mc.data,
        tokenizer=tok.data,
        transform=transform,
    )


def build_encoderfile(
    config: BuildConfig,
    options: BuildOptions = BuildOptions(),
    *,
    note: NoteSink | None = None,
    write_progress: Callable[[int, int], None] | None = None,
    download_progress: Progress | None = None,
) -> BuildResult:
    """Build the encoderfile described by `config`.

    Raises:
        BuildError (and subclasses) for bad inputs or an unavailable base binary;
        encoderfile.format.EncoderfileError if the format library refuses to write.
    """
    from encoderfile.format import ArtifactKind, ModelType, write_encoderfile

    sink: NoteSink = note if note is not None else (lambda _msg: None)
    prepared = prepare_artifacts(config, sink)

    target = config.target
    if config.base_binary_path is None and target is None:
        target = detect_host()
        sink(f"no target given; building for this host: {target}")
    cache_dir = options.cache_dir or config.cache_dir or default_cache_dir()
    base = resolve_base_binary(
        base_binary_path=config.base_binary_path,
        cache_dir=cache_dir,
        version=options.runtime_version or default_runtime_version(),
        target=target,
        no_download=options.no_download,
        url_template=options.url_template or config.runtime_url_template,
        sha256_overrides=config.runtime_sha256,
        progress=download_progress,
        timeout=options.download_timeout,
        retries=options.download_retries,
    )

    artifacts: Dict[ArtifactKind, Union[Path, bytes]] = {
        ArtifactKind.WEIGHTS: prepared.weights,
        ArtifactKind.MODEL_CONFIG: prepared.model_config,
        ArtifactKind.TOKENIZER: prepared.tokenizer,
    }
    if prepared.transform is not None:
        artifacts[ArtifactKind.TRANSFORM] = prepared.transform
    config.output_path.parent.mkdir(parents=True, exist_ok=True)
    result = write_encoderfile(
        config.output_path,
        base=base.path,
        model_type=ModelType.parse(config.model_type),
        name=config.name,
        version=config.version,
        artifacts=artifacts,
        progress=write_progress,
    )
    return BuildResult(
        path=Path(result.path),
        size=result.size,
        sha256=result.sha256,
        base=base,
        model_type=config.model_type,
    )


__all__: Tuple[str, ...] = (
    "BuildOptions",
    "BuildResult",
    "PreparedArtifacts",
    "apply_cli_overrides",
    "build_encoderfile",
    "prepare_artifacts",
)
