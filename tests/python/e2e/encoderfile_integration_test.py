"""End-to-end: real encoderfiles built on the real runtime PEX, run as executables.

`./file infer`, `python3.11 file info`, the zip still being a zip, `encoderfile verify`,
corrupted copies refusing to start, and (when models/minilm is exported) MiniLM semantics.
The one-shot commands run concurrently in one session fixture, each with a fresh PEX_ROOT;
the tests then check their results.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from encoderfile.format import ArtifactKind, EncoderfileReader

MODEL_TYPES = ("embedding", "sentence_embedding", "sequence_classification", "token_classification")
TEXTS = ["The quick brown fox jumps over the lazy dog.", "hello world"]


def _corrupt_manifest(good: Path, bad: Path) -> None:
    """Point the weights artifact far outside the file: the zip stays intact, the manifest not."""
    shutil.copy2(good, bad)
    with EncoderfileReader.open(bad) as reader:
        start = reader.footer.metadata_offset
    with bad.open("r+b") as f:
        f.seek(start)
        head = f.read(64)
        # Fields ascend: the weights Artifact (tag a2 06, length) opens with `09` + its fixed64
        # offset, whose most significant byte is 0 in any real file. Flip its top bit.
        weights = head.index(b"\xa2\x06")
        assert head[weights + 3] == 0x09, head.hex()
        msb = weights + 3 + 1 + 7
        f.seek(start + msb)
        f.write(bytes([head[msb] ^ 0x80]))


def _truncate(good: Path, bad: Path, cut: int = 1000) -> None:
    with good.open("rb") as src, bad.open("wb") as dst:
        dst.write(src.read(good.stat().st_size - cut))


def _flip_weights_byte(good: Path, bad: Path) -> None:
    shutil.copy2(good, bad)
    with EncoderfileReader.open(bad) as reader:
        info = reader.info(ArtifactKind.WEIGHTS)
        where = info.absolute_offset(reader.footer.metadata_offset) + info.length // 2
    with bad.open("r+b") as f:
        f.seek(where)
        byte = f.read(1)[0]
        f.seek(where)
        f.write(bytes([byte ^ 0x01]))


@pytest.fixture(scope="session")
def oneshots(
    tools: Any, encoderfiles: dict[str, Path], run_many: Callable
) -> dict[str, subprocess.CompletedProcess]:
    """Every one-shot command of this module, run concurrently, each with a fresh PEX_ROOT."""
    work = tools.fresh_dir("oneshots")
    bad_manifest = work / "bad-manifest.encoderfile"
    _corrupt_manifest(encoderfiles["sentence_embedding"], bad_manifest)
    truncated = work / "truncated.encoderfile"
    _truncate(encoderfiles["embedding"], truncated)
    flipped = work / "flipped.encoderfile"
    _flip_weights_byte(encoderfiles["sequence_classification"], flipped)
    out_json = work / "out.json"
    py = tools.python
    jobs: dict[str, list[str]] = {
        f"infer:{t}": [str(encoderfiles[t]), "infer", *TEXTS] for t in MODEL_TYPES
    }
    jobs.update(
        {
            "infer-o": [
                py,
                str(encoderfiles["sequence_classification"]),
                "infer",
                "-o",
                str(out_json),
                "hello there",
            ],
            "info": [py, str(encoderfiles["token_classification"]), "info"],
            "bad-manifest": [str(bad_manifest), "infer", "hello"],
            "truncated": [str(encoderfiles["embedding"]), "infer", "--file", str(truncated), "hi"],
            "flipped": [str(flipped), "infer", "--verify", "hello"],
        }
    )
    results = run_many({key: (argv, tools.env()) for key, argv in jobs.items()})
    out_text = out_json.read_text() if out_json.exists() else ""
    results["out.json"] = subprocess.CompletedProcess([], 0, out_text, "")
    results["bad-manifest-zip"] = subprocess.CompletedProcess([], 0, str(bad_manifest), "")
    return results


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_infer_json_shapes(model_type: str, oneshots: dict[str, Any], check: Callable) -> None:
    result = oneshots[f"infer:{model_type}"]
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    check(model_type, body, TEXTS)
    assert body["model_id"] == f"tiny-{model_type.replace('_', '-')}"


def test_infer_output_file_via_python(oneshots: dict[str, Any], check: Callable) -> None:
    """`python3.11 file infer -o OUT`: works without the shebang; stdout stays empty."""
    result = oneshots["infer-o"]
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    check("sequence_classification", json.loads(oneshots["out.json"].stdout), ["hello there"])


def test_info_via_python(oneshots: dict[str, Any], encoderfiles: dict[str, Path]) -> None:
    result = oneshots["info"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "tiny-token-classification 1.0.0 (token_classification)"
    size = encoderfiles["token_classification"].stat().st_size
    assert f"({size:,} bytes" in lines[1]
    kinds = [line.split()[0] for line in lines if "sha256" in line]
    assert kinds == ["weights", "model_config", "tokenizer"]
    assert any("B-PER" in line for line in lines if line.strip().startswith("labels:"))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_still_a_valid_zip(model_type: str, encoderfiles: dict[str, Path]) -> None:
    path = encoderfiles[model_type]
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert "__main__.py" in zf.namelist()
    with EncoderfileReader.open(path) as reader:
        assert reader.model_type.snake == model_type
        assert reader.verify_all() == []


def test_cli_verify_passes(
    tools: Any, cli_pex: Path, encoderfiles: dict[str, Path], run_many: Callable
) -> None:
    jobs = {
        t: ([tools.python, str(cli_pex), "verify", str(encoderfiles[t])], tools.cli_env())
        for t in MODEL_TYPES
    }
    for model_type, result in run_many(jobs).items():
        assert result.returncode == 0, f"{model_type}: {result.stdout}\n{result.stderr}"


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def test_corrupted_manifest_refuses_to_start(oneshots: dict[str, Any]) -> None:
    with zipfile.ZipFile(oneshots["bad-manifest-zip"].stdout) as zf:
        assert zf.testzip() is None  # still runs as a PEX: the runtime itself must refuse
    line = _one_error_line(oneshots["bad-manifest"])
    assert "weights" in line.lower(), line


def test_truncated_file_refuses_to_load(oneshots: dict[str, Any]) -> None:
    """A truncated copy (footer gone) given with --file."""
    _one_error_line(oneshots["truncated"])


def test_flipped_weight_byte_fails_verify(oneshots: dict[str, Any]) -> None:
    """A flipped byte inside the ONNX weights: `--verify` reports the SHA-256 mismatch."""
    line = _one_error_line(oneshots["flipped"]).lower()
    assert "weights" in line and ("sha" in line or "checksum" in line), line


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_minilm_semantics(minilm_encoderfile: Path, run_encoderfile: Any) -> None:
    texts = [
        "A cat is sitting on the mat.",
        "A kitten rests on a rug.",
        "Stock markets fell sharply today.",
    ]
    result = run_encoderfile(minilm_encoderfile, "infer", *texts)
    assert result.returncode == 0, result.stderr
    cat, kitten, stocks = (r["embedding"] for r in json.loads(result.stdout)["results"])
    assert len(cat) == 384
    near, far = _cosine(cat, kitten), _cosine(cat, stocks)
    assert near > far + 0.2, (near, far)
