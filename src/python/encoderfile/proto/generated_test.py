"""The committed generated modules must match what proto/generate.py produces now."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest

PROTO_DIR = Path(__file__).resolve().parent
GENERATE_PY = PROTO_DIR.parents[3] / "proto" / "generate.py"  # src/python/encoderfile/proto


def _load_generate():
    spec = importlib.util.spec_from_file_location("encoderfile_proto_generate", GENERATE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is needed to regenerate protos")
    if not GENERATE_PY.is_file():
        pytest.skip(f"{GENERATE_PY} not available (tests run outside the repository)")
    generate = _load_generate()
    written = generate.generate(tmp_path)
    assert written, "generate.py produced no files"
    problems = []
    for fresh in written:
        committed = PROTO_DIR / fresh.name
        if not committed.is_file():
            problems.append(f"{fresh.name}: missing from {PROTO_DIR}")
            continue
        old = committed.read_text(encoding="utf-8")
        new = fresh.read_text(encoding="utf-8")
        if old != new:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), str(committed), "regenerated", n=1
                )
            )
            problems.append(f"{fresh.name}: differs\n{diff[:2000]}")
    fresh_names = {p.name for p in written}
    for stale in sorted(PROTO_DIR.glob("*_pb2*.py*")):
        if stale.name not in fresh_names:
            problems.append(f"{stale.name}: committed but no longer generated")
    assert not problems, (
        "generated protobuf code is out of date; run `python proto/generate.py` and commit:\n"
        + "\n".join(problems)
    )


def test_generated_modules_import() -> None:
    from encoderfile.proto import manifest_pb2, metadata_pb2

    manifest = manifest_pb2.EncoderfileManifest(
        model_type=metadata_pb2.EMBEDDING, name="x", version="1"
    )
    assert manifest_pb2.EncoderfileManifest.FromString(manifest.SerializeToString()) == manifest
    assert metadata_pb2.ModelType.Value("IMAGE_CLASSIFICATION") == 21
