#!/usr/bin/env python3
"""Regenerate the committed Python protobuf modules from proto/encoderfile/*.proto.

Usage (from anywhere):

    python3.11 proto/generate.py            # into src/python/encoderfile/proto/
    python3.11 proto/generate.py OUT_DIR    # e.g. a test's tmp_path

Needs grpcio-tools (grpc_tools.protoc). For every .proto it writes `X_pb2.py` and `X_pb2.pyi`;
for protos that define a `service`, also `X_pb2_grpc.py`.

The .proto files live under the `encoderfile/` include directory, so their import paths (and the
descriptor names recorded in the generated code) are `encoderfile/X.proto`, as in the reference
implementation. protoc therefore emits `from encoderfile import X_pb2`. We rewrite those imports
to `from encoderfile.proto import X_pb2` so the generated modules stay in the
`encoderfile.proto` subpackage instead of cluttering the `encoderfile` package root, while the
descriptor names (and so the wire/registry identity) stay unchanged.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
PROTO_PACKAGE_DIR = PROTO_ROOT / "encoderfile"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "python" / "encoderfile" / "proto"

# `from encoderfile import manifest_pb2 as encoderfile_dot_manifest__pb2`
_IMPORT_RE = re.compile(r"^from encoderfile import (\w+_pb2(?:_grpc)?)\b", re.MULTILINE)
# `_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'encoderfile.manifest_pb2', _globals)`
# sets the message classes' __module__; keep it importable (pickle looks classes up by it).
_MODULE_NAME_RE = re.compile(r"'encoderfile\.(\w+_pb2(?:_grpc)?)'")
_SERVICE_RE = re.compile(r"^\s*service\s+\w+", re.MULTILINE)


def proto_files() -> list[Path]:
    """All .proto files of the encoderfile package, sorted for reproducible output."""
    return sorted(PROTO_PACKAGE_DIR.glob("*.proto"))


def defines_service(proto: Path) -> bool:
    text = re.sub(r"//[^\n]*", "", proto.read_text(encoding="utf-8"))
    return bool(_SERVICE_RE.search(text))


def rewrite_imports(text: str) -> str:
    """Point generated cross-imports at the `encoderfile.proto` subpackage."""
    text = _IMPORT_RE.sub(r"from encoderfile.proto import \1", text)
    return _MODULE_NAME_RE.sub(r"'encoderfile.proto.\1'", text)


def _protoc(args: list[str]) -> None:
    from grpc_tools import protoc  # imported lazily: only generation needs grpcio-tools

    include = str(Path(protoc.__file__).resolve().parent / "_proto")  # well-known types
    code = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", *args])
    if code != 0:
        raise SystemExit(f"generate.py: protoc failed with exit code {code}: {' '.join(args)}")


def generate(output_dir: Path) -> list[Path]:
    """Generate into output_dir (created if needed); returns the files written."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    protos = proto_files()
    if not protos:
        raise SystemExit(f"generate.py: no .proto files under {PROTO_PACKAGE_DIR}")
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for proto in protos:
            rel = proto.relative_to(PROTO_ROOT).as_posix()  # "encoderfile/manifest.proto"
            args = [f"--python_out={tmp_path}", f"--pyi_out={tmp_path}"]
            if defines_service(proto):
                args.append(f"--grpc_python_out={tmp_path}")
            _protoc([*args, rel])
        # protoc mirrors the include-relative path: tmp/encoderfile/X_pb2.py
        for generated in sorted((tmp_path / "encoderfile").iterdir()):
            if generated.name == "__init__.py":
                continue
            target = output_dir / generated.name
            text = rewrite_imports(generated.read_text(encoding="utf-8"))
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "output_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the modules (default: {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    ns = parser.parse_args(argv)
    for path in generate(ns.output_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
