"""Entry point of the `encoderfile` command.

Each subcommand is a module exposing `register(subparsers) -> None`; the parser it adds sets
`func=run(args) -> int` as its default. Add a subcommand by adding its module to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Sequence

from encoderfile import __version__
from encoderfile.format import EncoderfileError

PROG = "encoderfile"
# Order = order in --help.
SUBCOMMANDS: List[str] = [
    "encoderfile.cli.build",
    "encoderfile.cli.pack",
    "encoderfile.cli.inspect_cmd",
    "encoderfile.cli.verify",
    "encoderfile.cli.extract",
    "encoderfile.cli.runtime",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Assemble, inspect, verify and unpack encoderfiles (format v1).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def error(message: str) -> None:
    """Print one error line on stderr, the CLI's only way to report a failure."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def describe_os_error(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 1 failure, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (argparse printed them)
        return exc.code if isinstance(exc.code, int) else 1
    try:
        return int(args.func(args) or 0)
    except EncoderfileError as exc:
        if args.debug:
            raise
        error(str(exc))
    except OSError as exc:
        if args.debug:
            raise
        error(describe_os_error(exc))
    except KeyboardInterrupt:
        if args.debug:
            raise
        error("interrupted")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
