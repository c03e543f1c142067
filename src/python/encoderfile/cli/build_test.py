"""`encoderfile build` through argparse: success output, warnings, and one-line errors."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from encoderfile.builder.testing import write_config, write_model_dir
from encoderfile.cli import build as build_cli
from encoderfile.cli.cli_testing import one_error, run
from encoderfile.format import EncoderfileReader


def yml(env: Path, extra: str = "", model_type: str = "sequence_classification") -> str:
    return str(
        write_config(
            env / "encoderfile.yml",
            f"encoderfile:\n  name: tiny\n  path: model\n  model_type: {model_type}\n{extra}",
        )
    )


def test_build_ok(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out" / "m.encoderfile"
    code = run(
        [
            "build",
            "-f",
            yml(env, "  colour: red\n"),
            "-o",
            str(out),
            "--base-binary-path",
            str(env / "base.sh"),
        ]
    )
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "encoderfile: warning:" in cap.err and "unknown key(s) ignored: colour" in cap.err
    assert "note:" not in cap.err  # a complete tokenizer_config.json: nothing assumed
    assert cap.out.startswith(f"wrote {out} (")
    with EncoderfileReader.open(out) as r:
        assert r.verify_all() == []


def test_build_directory_flag(
    env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = write_config(
        tmp_path / "elsewhere.yml",
        "encoderfile:\n  name: d\n  path: model\n  model_type: sequence_classification\n"
        "  base_binary_path: base.sh\n",
    )
    code = run(["build", "-f", str(cfg), "--directory", str(env)])
    assert code == 0, capsys.readouterr().err
    assert (env / "d.encoderfile").is_file()


def _model(env: Path, **kw: object) -> None:
    write_model_dir(env / "model", "sequence_classification", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "setup, extra, model_type, message",
    [
        (lambda e: (e / "model" / "model.onnx").unlink(), "", None, "missing model file(s) in"),
        (None, "", "fill_mask", "unknown model_type 'fill_mask'; valid: embedding"),
        (None, "", "embedding", "has no output 'last_hidden_state', which model_type embedding"),
        (None, "", "token_classification", "has rank 2, model_type token_classification needs"),
        (
            lambda e: _model(e, tokenizer_config={"pad_token": "<pad>"}),
            "",
            None,
            "pad token '<pad>' is not in the vocabulary",
        ),
        (lambda e: _model(e, config={"model_type": "bert"}), "", None, "needs id2label"),
        (None, "  target: riscv64gc-unknown-linux-gnu\n", None, "unknown target 'riscv64gc"),
        (None, "  transform: 'x = 1'\n", None, "does not define a global function Postprocess"),
        (
            lambda e: _model(e, onnx_kwargs={"inputs": ("input_ids", "attention_mask", "pixel")}),
            "",
            None,
            "inputs the runtime cannot feed: pixel",
        ),
    ],
)
def test_bad_inputs(
    env: Path,
    capsys: pytest.CaptureFixture[str],
    setup: Callable[[Path], None] | None,
    extra: str,
    model_type: str | None,
    message: str,
) -> None:
    if setup is not None:
        setup(env)
    cfg = yml(env, extra + "  base_binary_path: base.sh\n", model_type or "sequence_classification")
    line = one_error(capsys, run(["build", "-f", cfg]))
    assert message in line
    assert not (env / "tiny.encoderfile").exists()


def test_notes_say_what_was_assumed(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "model" / "tokenizer_config.json").unlink()
    assert run(["build", "-f", yml(env, "  base_binary_path: base.sh\n")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert len(notes) == 3 and all(ln.startswith("encoderfile: note: ") for ln in notes)
    assert "has no tokenizer_config.json" in notes[0]


def test_bad_yaml(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(env / "bad.yml", "encoderfile:\n  name: [unclosed\n")
    line = one_error(capsys, run(["build", "-f", str(cfg)]))
    assert "is not valid YAML at line" in line


def test_missing_config(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error(capsys, run(["build", "-f", str(env / "nope.yml")]))
    assert "not found; pass -f" in line


def test_unknown_target_flag(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error(capsys, run(["build", "-f", yml(env), "--platform", "sparc-sun-solaris"]))
    assert "unknown target 'sparc-sun-solaris'; valid targets: x86_64-unknown-linux-gnu" in line


def test_no_download_empty_cache(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "build",
            "-f",
            yml(env),
            "--no-download",
            "--target",
            "x86_64-apple-darwin",
            "--runtime-version",
            "3.2.1",
            "--cache-dir",
            str(env / "c2"),
        ]
    )
    line = one_error(capsys, code)
    assert str(env / "c2/base-binaries/3.2.1/x86_64-apple-darwin/encoderfile-runtime") in line
    assert "encoderfile runtime add x86_64-apple-darwin --runtime-version 3.2.1" in line


def test_download_without_pin_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "build",
            "-f",
            yml(env),
            "--target",
            "x86_64-apple-darwin",
            "--runtime-url-template",
            "http://127.0.0.1:9/{version}/{target}",
        ]
    )
    assert "no SHA-256 is pinned" in one_error(capsys, code)


class _Serve(http.server.BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/r/"):
            self.send_response(301)
            self.send_header("Location", "/f/" + self.path[3:])
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def server(env: Path) -> Iterator[str]:
    _Serve.body = (env / "base.sh").read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_mismatch_and_success(
    env: Path, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "build",
        "-f",
        yml(env),
        "--target",
        "aarch64-unknown-linux-gnu",
        "--runtime-version",
        "0.9.0",
        "--runtime-url-template",
        server + "/r/{version}/{target}",
    ]
    line = one_error(capsys, run(base + ["--runtime-sha256", "ab" * 32]))
    good = hashlib.sha256(_Serve.body).hexdigest()
    assert f"expected {'ab' * 32}, got {good}" in line
    assert not any(p.is_file() for p in (env / "cache").rglob("*"))
    assert run(base + ["--runtime-sha256", good]) == 0
    assert "runtime 0.9.0/aarch64-unknown-linux-gnu (download)" in capsys.readouterr().out
    # Pinned in the YAML instead, now from the cache.
    cfg = yml(env, f"  runtime_sha256: {{aarch64-unknown-linux-gnu: {good}}}\n")
    assert (
        run(
            [
                "build",
                "-f",
                cfg,
                "--target",
                "aarch64-unknown-linux-gnu",
                "--runtime-version",
                "0.9.0",
                "--no-download",
            ]
        )
        == 0
    )
    assert "(cache)" in capsys.readouterr().out


def test_debug_reraises(env: Path) -> None:
    from encoderfile.builder.errors import ConfigError

    with pytest.raises(ConfigError):
        run(["--debug", "build", "-f", str(env / "nope.yml")])


def test_same_inputs_same_bytes_via_cli(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = yml(env, "  base_binary_path: base.sh\n  tokenizer: {pad_strategy: {fixed: 8}}\n")
    assert run(["build", "-f", cfg, "-o", str(env / "a.ef")]) == 0
    assert run(["build", "-f", cfg, "-o", str(env / "b.ef")]) == 0
    assert (env / "a.ef").read_bytes() == (env / "b.ef").read_bytes()
    with EncoderfileReader.open(env / "a.ef") as r:
        from encoderfile.format import ArtifactKind

        cfgj = json.loads(r.read_bytes(ArtifactKind.TOKENIZER))["config"]
        assert cfgj["padding"]["strategy"] == {"Fixed": 8}


def test_progress_bar_only_on_a_tty_for_large_files(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    bar = build_cli.ProgressBar("w")
    bar(1 << 30, 1 << 30)
    assert bar.bar is None  # not a terminal
    monkeypatch.setattr("sys.stderr", Tty())
    small = build_cli.ProgressBar("w")
    small(10, 100)
    assert small.bar is None and not small.enabled
    big = build_cli.ProgressBar("w")
    big(1 << 20, 64 << 20)
    big(64 << 20, 64 << 20)
    assert big.bar is not None and big.bar.n == 64 << 20
    big.close()
    assert "67.1M" in __import__("sys").stderr.getvalue()
