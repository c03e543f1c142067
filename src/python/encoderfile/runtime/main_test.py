"""The runtime CLI: infer/info through main() with a --file override, and its error lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoderfile.runtime.errors import ModelLoadError
from encoderfile.runtime.locate import locate_self
from encoderfile.runtime.main import main
from encoderfile.runtime.testing import build_test_encoderfile


@pytest.fixture(scope="module")
def seqcls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_encoderfile(tmp_path_factory.mktemp("ef"), "sequence_classification")


def test_infer_prints_predict_shape(seqcls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", "--file", str(seqcls), "hello world", "bye"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["model_id"] == "tiny-sequence-classification"
    assert len(body["results"]) == 2
    assert set(body["results"][0]) == {"logits", "scores", "predicted_index", "predicted_label"}


def test_infer_to_file_with_options(seqcls: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert main(["--file", str(seqcls), "infer", "-o", str(out), "--softmax", "x"]) == 0
    body = json.loads(out.read_text())
    assert abs(sum(body["results"][0]["scores"]) - 1) < 1e-5


def test_info_json(seqcls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", "--file", str(seqcls)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "sequence_classification"
    assert [a["kind"] for a in info["artifacts"]] == ["weights", "model_config", "tokenizer"]
    assert main(["info", "--file", str(seqcls)]) == 0
    assert "tiny-sequence-classification 0.1.0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["infer", ""], "error: Cannot tokenize empty string"),
        (["infer", "--normalize", "x"], "error: 'normalize' applies to embedding models"),
    ],
)
def test_errors_are_one_line(
    seqcls: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["--file", str(seqcls), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.encoderfile"
    bad.write_bytes(b"not an encoderfile" * 10)
    assert main(["infer", "--file", str(bad), "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not an encoderfile" in err and err.count("\n") == 1
    assert main(["info", "--file", str(tmp_path / "missing")]) == 1
    assert "encoderfile not found" in capsys.readouterr().err


def test_locate_self(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "model.encoderfile"
    f.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert locate_self("model.encoderfile") == f.resolve()
    assert locate_self(environ={"PEX": str(f)}, argv=["ignored"]) == f.resolve()
    assert locate_self(environ={"ENCODERFILE_PATH": str(f)}, argv=[]) == f.resolve()
    assert locate_self(environ={}, argv=["model.encoderfile"]) == f.resolve()
    with pytest.raises(ModelLoadError, match="--file"):
        locate_self(environ={}, argv=["/nonexistent/main.py"])
