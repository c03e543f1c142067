"""`encoderfile inspect`: show the footer and manifest of an encoderfile."""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from encoderfile.format import EncoderfileReader, InvalidModelTypeError

HELP = "show the manifest and artifact layout of an encoderfile"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help=HELP,
        description=f"{HELP}. Reads only the footer and manifest; see `verify` for checksums.",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("file", metavar="FILE", help="encoderfile to inspect")
    p.set_defaults(func=run)


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def describe(reader: EncoderfileReader) -> Dict[str, Any]:
    try:
        model_type = reader.model_type.snake
    except InvalidModelTypeError:  # a newer model type: still show the rest
        model_type = f"unknown({reader.manifest.model_type})"
    return {
        "name": reader.name,
        "version": reader.version,
        "model_type": model_type,
        "format_version": reader.format_version,
        "file_size": reader.file_size,
        "base_size": reader.base_size,
        "manifest_length": reader.manifest_length,
        "artifacts": {
            kind.field_name: {
                "offset": info.offset,
                "absolute_offset": info.absolute_offset(reader.base_size),
                "length": info.length,
                "sha256": info.sha256_hex,
            }
            for kind, info in reader.artifacts.items()
        },
    }


def render(path: str, d: Dict[str, Any]) -> str:
    rows = [
        ("file", path),
        ("name", d["name"]),
        ("version", d["version"]),
        ("model type", d["model_type"]),
        ("format version", str(d["format_version"])),
        ("file size", f"{d['file_size']} ({human_size(d['file_size'])})"),
        ("base size", f"{d['base_size']} ({human_size(d['base_size'])})"),
        ("manifest", f"{d['manifest_length']} bytes at byte {d['base_size']}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    table = [("artifact", "offset", "abs offset", "length", "size", "sha256")]
    for name, a in d["artifacts"].items():
        table.append(
            (
                name,
                str(a["offset"]),
                str(a["absolute_offset"]),
                str(a["length"]),
                human_size(a["length"]),
                a["sha256"],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines.append("")
    for row in table:
        cells = [
            cell.ljust(w) if i in (0, 4, 5) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    if len(table) == 1:
        lines.append("(no artifacts)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with EncoderfileReader.open(args.file) as reader:
        d = describe(reader)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        print(render(args.file, d))
    return 0
