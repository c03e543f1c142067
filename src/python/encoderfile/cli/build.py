"""`encoderfile build -f encoderfile.yml`: build an encoderfile from a model and a base binary."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable

PROG = "encoderfile"
LARGE_FILE = 16 << 20  # show a progress bar only for writes/downloads at least this big


def note(msg: str) -> None:
    print(f"{PROG}: note: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def error(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


class ProgressBar:
    """A lazily created tqdm bar on stderr, only when stderr is a terminal and the file is large."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: Any = None
        self.enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if total is not None and total < LARGE_FILE:
                self.enabled = False
                return
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=self.desc, unit="B", unit_scale=True, file=sys.stderr, leave=False
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_cache_dir_argument(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """--cache-dir; `suppress` keeps a subparser from resetting a value given before it."""
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=argparse.SUPPRESS if suppress else None,
        help="base-binary cache (default: $ENCODERFILE_CACHE_DIR or ~/.cache/encoderfile)",
    )


def run_guarded(args: argparse.Namespace, fn: Callable[[argparse.Namespace], int]) -> int:
    """Run a command: one `encoderfile: error:` line and a non-zero exit instead of a traceback."""
    from encoderfile.builder.errors import BuildError

    try:
        from encoderfile.format import EncoderfileError
    except ImportError:  # pragma: no cover - the format library is part of the package
        EncoderfileError = BuildError  # type: ignore[misc,assignment]
    try:
        return fn(args)
    except (BuildError, EncoderfileError) as e:
        if getattr(args, "debug", False):
            raise
        error(str(e))
        return 1
    except OSError as e:
        if getattr(args, "debug", False):
            raise
        where = f"{e.filename}: " if e.filename else ""
        error(f"{where}{e.strerror or e}")
        return 1
    except KeyboardInterrupt:
        error("interrupted")
        return 130


def register(subparsers: Any) -> None:
    """Add the `build` command."""
    p = subparsers.add_parser(
        "build",
        help="build an encoderfile from encoderfile.yml",
        description=(
            "Build a single-file executable from an ONNX encoder model, its tokenizer and a "
            "runtime base binary. Relative paths in the config resolve against the config "
            "file's directory (or --directory)."
        ),
    )
    p.add_argument("-f", "--config", default="encoderfile.yml", help="build config (YAML)")
    p.add_argument(
        "-o", "--output-path", type=Path, help="output file (default <name>.encoderfile)"
    )
    p.add_argument("--base-binary-path", type=Path, help="use this runtime instead of the cache")
    p.add_argument("--target", "--platform", dest="target", help="target triple of the runtime")
    p.add_argument("--runtime-version", help="runtime version (default: this CLI's version)")
    p.add_argument(
        "--no-download", action="store_true", help="fail instead of downloading a missing runtime"
    )
    p.add_argument(
        "--directory", type=Path, help="resolve relative config paths against this directory"
    )
    p.add_argument(
        "--runtime-url-template",
        help="runtime download URL with {version} and {target} "
        "(default: $ENCODERFILE_RUNTIME_URL_TEMPLATE or the project's releases)",
    )
    p.add_argument("--runtime-sha256", help="pinned SHA-256 of the runtime for the build target")
    add_cache_dir_argument(p)
    p.set_defaults(func=lambda args: run_guarded(args, _run_build))


def _run_build(args: argparse.Namespace) -> int:
    from encoderfile.builder.build import BuildOptions, apply_cli_overrides, build_encoderfile
    from encoderfile.builder.config import check_sha256, check_url_template, load_config
    from encoderfile.builder.targets import detect_host

    config = load_config(args.config, directory=args.directory)
    if config.unknown_keys:
        warn(f"{args.config}: unknown key(s) ignored: {', '.join(config.unknown_keys)}")
    sha_override = None
    if args.runtime_sha256:
        digest = check_sha256(args.runtime_sha256, "--runtime-sha256")
        target = args.target or config.target or detect_host()
        sha_override = {target: digest}
    url_template = (
        check_url_template(args.runtime_url_template, "--runtime-url-template")
        if args.runtime_url_template
        else None
    )
    config = apply_cli_overrides(
        config,
        output_path=Path(os.path.abspath(args.output_path)) if args.output_path else None,
        base_binary_path=(
            Path(os.path.abspath(args.base_binary_path)) if args.base_binary_path else None
        ),
        target=args.target,
        runtime_sha256=sha_override,
    )
    options = BuildOptions(
        runtime_version=args.runtime_version,
        no_download=args.no_download,
        cache_dir=args.cache_dir,
        url_template=url_template,
    )
    write_bar = ProgressBar("writing")
    download_bar = ProgressBar("downloading runtime")
    try:
        result = build_encoderfile(
            config,
            options,
            note=note,
            write_progress=write_bar,
            download_progress=download_bar,
        )
    finally:
        write_bar.close()
        download_bar.close()
    base = result.base
    origin = f"{base.version}/{base.target} ({base.how})" if base.target else str(base.path)
    print(
        f"wrote {result.path} ({result.size} bytes, sha256 {result.sha256}); "
        f"model_type {result.model_type}, runtime {origin}"
    )
    return 0
