from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from encoderfile import __version__
from encoderfile.cli.main import main
from encoderfile.format.testing import GOLDEN

SRC = Path(__file__).resolve().parents[2]  # src/python


@pytest.fixture
def inputs(tmp_path: Path) -> dict:
    files = {"base": b"", "weights": b"weights", "config": b"config", "tokenizer": b"tokenizer"}
    paths = {}
    for name, data in files.items():
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def pack_golden(inputs: dict, out: Path) -> int:
    return main(
        [
            "pack",
            "--base",
            inputs["base"],
            "--weights",
            inputs["weights"],
            "--model-config",
            inputs["config"],
            "--tokenizer",
            inputs["tokenizer"],
            "--model-type",
            "embedding",
            "--name",
            "test-model",
            "-o",
            str(out),
        ]
    )


@pytest.fixture
def golden_file(inputs: dict, tmp_path: Path) -> Path:
    out = tmp_path / "golden.encoderfile"
    assert pack_golden(inputs, out) == 0
    return out


def test_pack_writes_golden_bytes(inputs: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.encoderfile"
    assert pack_golden(inputs, out) == 0
    assert out.read_bytes() == GOLDEN
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert capsys.readouterr().out.startswith(f"wrote {out} (240 bytes, 3 artifacts, appended,")


def test_pack_missing_artifact_is_one_line(inputs: dict, tmp_path: Path, capsys) -> None:
    code = main(
        ["pack", "--base", inputs["base"], "--weights", inputs["weights"], "--model-type",
         "embedding", "--name", "x", "-o", str(tmp_path / "o")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "encoderfile: error: a embedding encoderfile needs the artifact(s) model_config,"
        " tokenizer (required: weights, model_config, tokenizer)\n"
    )


def test_pack_missing_input_file(inputs: dict, tmp_path: Path, capsys) -> None:
    inputs = dict(inputs, weights=str(tmp_path / "nope.onnx"))
    assert pack_golden(inputs, tmp_path / "o") == 1
    assert capsys.readouterr().err == (
        f"encoderfile: error: No such file or directory: {tmp_path / 'nope.onnx'}\n"
    )


def test_usage_errors_exit_2(capsys) -> None:
    assert main(["pack", "--model-type", "llm"]) == 2
    assert "invalid choice: 'llm'" in capsys.readouterr().err
    assert main([]) == 2


def test_version_and_help(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"encoderfile {__version__}\n"
    for command in ("pack", "inspect", "verify", "extract"):
        assert main([command, "--help"]) == 0
        assert f"usage: encoderfile {command}" in capsys.readouterr().out


def test_inspect_json(golden_file: Path, capsys) -> None:
    assert main(["inspect", "--json", str(golden_file)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {k: d[k] for k in ("name", "version", "model_type", "format_version")} == {
        "name": "test-model",
        "version": "0.1.0",
        "model_type": "embedding",
        "format_version": 1,
    }
    assert (d["base_size"], d["manifest_length"]) == (0, 186)
    assert list(d["artifacts"]) == ["weights", "model_config", "tokenizer"]
    assert d["artifacts"]["tokenizer"] == {
        "offset": 199,
        "absolute_offset": 199,
        "length": 9,
        "sha256": "5f97e3774c51edd1d63706c2ec3826c564a067794770cdab0f8c4797971cacf9",
    }


def test_inspect_human(golden_file: Path, capsys) -> None:
    assert main(["inspect", str(golden_file)]) == 0
    out = capsys.readouterr().out
    assert "name            test-model\n" in out
    assert "model type      embedding\n" in out
    assert "manifest        186 bytes at byte 0\n" in out
    assert (
        "tokenizer        199         199       9  9 B   "
        "5f97e3774c51edd1d63706c2ec3826c564a067794770cdab0f8c4797971cacf9"
    ) in out


def test_inspect_truncated_file_is_one_line(golden_file: Path, capsys) -> None:
    data = golden_file.read_bytes()
    golden_file.write_bytes(data[:100] + data[-32:])  # lost its artifacts
    assert main(["inspect", str(golden_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "encoderfile: error: manifest ends at byte 186, but the footer starts at byte 100"
        " (file is 132 bytes); the file is truncated\n"
    )
    golden_file.write_bytes(data[:-5])
    assert main(["inspect", str(golden_file)]) == 1
    assert captured.err.count("\n") == 1


def test_verify_ok(golden_file: Path, capsys) -> None:
    assert main(["verify", str(golden_file)]) == 0
    assert capsys.readouterr().out == (
        f"OK: {golden_file}: 3 artifacts, 22 bytes, all SHA-256 digests match\n"
    )


def test_verify_tampered(golden_file: Path, capsys) -> None:
    golden_file.write_bytes(golden_file.read_bytes().replace(b"config", b"CONFIG", 1))
    assert main(["verify", str(golden_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"encoderfile: error: {golden_file}: model_config: SHA-256 mismatch")
    assert err.count("\n") == 1 and "weights" not in err


def test_debug_shows_traceback(tmp_path: Path) -> None:
    from encoderfile.format import NotAnEncoderfileError

    bad = tmp_path / "bad"
    bad.write_bytes(b"x" * 64)
    with pytest.raises(NotAnEncoderfileError):
        main(["--debug", "inspect", str(bad)])


def test_extract_and_force(golden_file: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "x"
    assert main(["extract", str(golden_file), "-o", str(out_dir)]) == 0
    assert sorted(os.listdir(out_dir)) == ["base", "config.json", "model.onnx", "tokenizer.json"]
    assert (out_dir / "model.onnx").read_bytes() == b"weights"
    assert (out_dir / "config.json").read_bytes() == b"config"
    assert (out_dir / "tokenizer.json").read_bytes() == b"tokenizer"
    assert (out_dir / "base").read_bytes() == b""
    assert stat.S_IMODE((out_dir / "base").stat().st_mode) == 0o755
    capsys.readouterr()

    (out_dir / "tokenizer.json").write_bytes(b"mine")
    assert main(["extract", str(golden_file), "-o", str(out_dir)]) == 1
    assert capsys.readouterr().err == (
        f"encoderfile: error: {out_dir / 'base'} already exists; use --force to overwrite it\n"
    )
    assert (out_dir / "tokenizer.json").read_bytes() == b"mine"
    assert main(["extract", "--force", str(golden_file), "-o", str(out_dir)]) == 0
    assert (out_dir / "tokenizer.json").read_bytes() == b"tokenizer"


def test_python_m_entry_point(golden_file: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    run = subprocess.run(
        [sys.executable, "-m", "encoderfile.cli", "verify", str(golden_file)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("OK: ")
