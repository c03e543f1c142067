"""`encoderfile verify`: recompute every artifact's SHA-256."""

from __future__ import annotations

import argparse

from encoderfile.cli.main import error
from encoderfile.format import EncoderfileReader

HELP = "check every artifact against the SHA-256 recorded in the manifest"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help=HELP,
        description=f"{HELP}. Exits 0 when all match, 1 naming each bad artifact otherwise.",
    )
    p.add_argument("file", metavar="FILE", help="encoderfile to verify")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with EncoderfileReader.open(args.file) as reader:
        problems = reader.verify_all()
        count = len(reader.artifacts)
        total = sum(info.length for info in reader.artifacts.values())
    if problems:
        for problem in problems:
            error(f"{args.file}: {problem}")
        return 1
    print(f"OK: {args.file}: {count} artifacts, {total} bytes, all SHA-256 digests match")
    return 0
