from __future__ import annotations

import hashlib
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from encoderfile.builder import base_binaries, known_runtimes
from encoderfile.builder.base_binaries import (
    DEFAULT_URL_TEMPLATE,
    RuntimeCache,
    default_cache_dir,
    resolve_base_binary,
    url_template_from_env,
)
from encoderfile.builder.errors import (
    BaseBinaryError,
    BaseBinaryNotCachedError,
    DigestMismatchError,
    DownloadError,
    NoPinnedDigestError,
    TargetError,
)
from encoderfile.builder.targets import TARGETS, detect_host, parse_target

T = "x86_64-unknown-linux-gnu"
PAYLOAD = b"#!/bin/sh\nexit 0\n" + bytes(range(256)) * 64
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/ok/" + self.path.split("/", 2)[2])
            self.end_headers()
        elif self.path.startswith("/flaky/") and n == 1:
            self.send_response(503)
            self.end_headers()
        elif self.path.startswith(("/ok/", "/flaky/")):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path.startswith("/always500/"):
            self.send_response(500)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _files_under(p: Path) -> list[Path]:
    return [Path(r) / f for r, _, fs in os.walk(p) for f in fs]


def test_targets() -> None:
    assert detect_host("Linux", "x86_64") == "x86_64-unknown-linux-gnu"
    assert detect_host("Linux", "aarch64") == "aarch64-unknown-linux-gnu"
    assert detect_host("Darwin", "arm64") == "aarch64-apple-darwin"
    assert detect_host("Darwin", "x86_64") == "x86_64-apple-darwin"
    assert detect_host() in TARGETS
    with pytest.raises(TargetError, match="no runtime for this host .*'windows'"):
        detect_host("Windows", "AMD64")
    with pytest.raises(TargetError, match="valid targets: x86_64-unknown-linux-gnu, aarch64"):
        parse_target("x86_64-pc-windows-msvc")


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENCODERFILE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ENCODERFILE_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "encoderfile"
    assert url_template_from_env() == DEFAULT_URL_TEMPLATE
    monkeypatch.setenv("ENCODERFILE_RUNTIME_URL_TEMPLATE", "file:///x/{target}")
    assert url_template_from_env() == "file:///x/{target}"
    assert url_template_from_env("http://y/{version}") == "http://y/{version}"


def test_download_with_redirect(server: str, tmp_path: Path) -> None:
    cache = RuntimeCache(tmp_path)
    r = cache.download(T, "v1.0.0", f"{server}/redirect/rt", DIGEST)
    assert r.path == tmp_path / "base-binaries" / "1.0.0" / T / "encoderfile-runtime"
    assert r.path.read_bytes() == PAYLOAD and r.sha256 == DIGEST
    assert os.access(r.path, os.X_OK)
    assert _files_under(tmp_path) == [r.path]


def test_download_retries_5xx(server: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    r = RuntimeCache(tmp_path).download(
        T, "1", f"{server}/flaky/rt", DIGEST, progress=lambda d, t: seen.append((d, t)), backoff=0
    )
    assert r.size == len(PAYLOAD)
    assert _Handler.hits["/flaky/rt"] == 2
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_download_gives_up(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="failed after 3 attempts \\(HTTP 500\\)"):
        RuntimeCache(tmp_path).download(
            T, "1", f"{server}/always500/rt", DIGEST, retries=2, backoff=0
        )
    with pytest.raises(DownloadError, match="HTTP 404"):
        RuntimeCache(tmp_path).download(T, "1", f"{server}/missing", DIGEST)
    assert _files_under(tmp_path) == []


def test_connection_refused(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DownloadError, match="failed after 2 attempts \\(ConnectionError\\)"):
        RuntimeCache(tmp_path).download(
            T, "1", f"http://127.0.0.1:{port}/x", DIGEST, retries=1, backoff=0
        )


def test_mismatch_leaves_nothing(server: str, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(DigestMismatchError) as e:
        RuntimeCache(tmp_path).download(T, "1", f"{server}/ok/rt", wrong)
    assert f"expected {wrong}, got {DIGEST}" in str(e.value)
    assert _files_under(tmp_path) == []
    assert not (tmp_path / "base-binaries" / "1").exists()


def test_no_pin_refused(tmp_path: Path) -> None:
    with pytest.raises(NoPinnedDigestError, match="no SHA-256 is pinned.*runtime_sha256"):
        RuntimeCache(tmp_path).download(T, "1", "http://127.0.0.1:9/x", None)


def test_file_url_and_add_file(tmp_path: Path) -> None:
    src = tmp_path / "rt.pex"
    src.write_bytes(PAYLOAD)
    cache = RuntimeCache(tmp_path / "cache")
    r = cache.download(T, "2", src.as_uri(), DIGEST)
    assert r.path.read_bytes() == PAYLOAD
    with pytest.raises(DownloadError, match="cannot read file://"):
        cache.download(T, "2", (tmp_path / "nope").as_uri(), DIGEST)
    r2 = cache.add_file("aarch64-apple-darwin", "2", src)  # local file: no pin needed
    assert r2.sha256 == DIGEST
    with pytest.raises(DigestMismatchError):
        cache.add_file("aarch64-apple-darwin", "3", src, "1" * 64)
    with pytest.raises(BaseBinaryError, match="cannot read runtime file"):
        cache.add_file(T, "2", tmp_path / "nope")
    listed = cache.list()
    assert [(x.version, x.target, x.size, x.sha256) for x in listed] == [
        ("2", T, len(PAYLOAD), DIGEST),
        ("2", "aarch64-apple-darwin", len(PAYLOAD), DIGEST),
    ]
    assert cache.remove(T, "2") == r.path
    with pytest.raises(BaseBinaryNotCachedError, match="cached: 2/aarch64-apple-darwin"):
        cache.remove(T, "2")
    cache.remove("aarch64-apple-darwin", "v2")
    assert cache.list() == []
    assert _files_under(tmp_path / "cache") == []


def test_resolution_order(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "base"
    explicit.write_bytes(b"x")
    kw: dict[str, Any] = dict(cache_dir=tmp_path / "c", version="1.0.0", target=T)
    r = resolve_base_binary(base_binary_path=explicit, no_download=True, **kw)
    assert (r.path, r.how) == (explicit, "explicit")
    with pytest.raises(BaseBinaryError, match="does not exist"):
        resolve_base_binary(base_binary_path=tmp_path / "no", no_download=True, **kw)
    with pytest.raises(BaseBinaryNotCachedError) as e:
        resolve_base_binary(base_binary_path=None, no_download=True, **kw)
    assert str(tmp_path / "c" / "base-binaries" / "1.0.0" / T / "encoderfile-runtime") in str(
        e.value
    )
    assert f"encoderfile runtime add {T} --runtime-version 1.0.0" in str(e.value)
    template = server + "/ok/{version}/{target}"
    with pytest.raises(NoPinnedDigestError):
        resolve_base_binary(base_binary_path=None, no_download=False, url_template=template, **kw)
    # The shipped table pins it.
    monkeypatch.setitem(known_runtimes.KNOWN_RUNTIME_SHA256, ("1.0.0", T), DIGEST)
    r = resolve_base_binary(base_binary_path=None, no_download=False, url_template=template, **kw)
    assert r.how == "download" and _Handler.hits == {f"/ok/1.0.0/{T}": 1}
    r = resolve_base_binary(base_binary_path=None, no_download=True, **kw)
    assert r.how == "cache"
    # A user pin overrides the table.
    assert base_binaries.pinned_sha256("1.0.0", T, {T: "AA" * 32}) == "aa" * 32
