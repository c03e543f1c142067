"""`encoderfile extract`: unpack the base binary and every artifact into a directory."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from encoderfile.format import EncoderfileReader

HELP = "write the base binary and each artifact of an encoderfile into a directory"
BASE_FILENAME = "base"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract",
        help=HELP,
        description=(
            f"{HELP}. Files: `base` (executable), model.onnx, transform.pb, config.json,"
            " tokenizer.json, preprocessor_config.json (those present)."
        ),
    )
    p.add_argument("file", metavar="FILE", help="encoderfile to unpack")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write into")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.output)
    with EncoderfileReader.open(args.file) as reader:
        targets = [out_dir / BASE_FILENAME] + [out_dir / kind.filename for kind in reader.artifacts]
        if not args.force:
            for target in targets:  # check all before writing anything
                if os.path.lexists(target):
                    raise FileExistsError(f"{target} already exists; use --force to overwrite it")
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(targets[0], "wb") as f:
            reader.copy_base_to(f)
        os.chmod(targets[0], 0o755)
        for kind, target in zip(reader.artifacts, targets[1:]):
            with reader.open_stream(kind) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    for target in targets:
        print(f"{target} ({target.stat().st_size} bytes)")
    return 0
