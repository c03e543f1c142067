"""Base binaries (runtime PEXes): the cache, pinned digests, verified downloads, resolution.

Cache layout: `<cache_dir>/base-binaries/<runtime-version>/<target>/encoderfile-runtime`.
A file enters the cache only through a temporary file in the same directory that is renamed into
place after its SHA-256 matched the pinned digest, so the cache never holds a partial or
unverified download.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, List, Mapping, Optional, Tuple

from encoderfile.builder.errors import (
    BaseBinaryError,
    BaseBinaryNotCachedError,
    DigestMismatchError,
    DownloadError,
    NoPinnedDigestError,
)
from encoderfile.builder.known_runtimes import KNOWN_RUNTIME_SHA256
from encoderfile.builder.targets import TARGETS, parse_target

DEFAULT_URL_TEMPLATE = (
    "https://github.com/encoderfile-py/encoderfile-py/releases/download/"
    "v{version}/encoderfile-runtime-{target}.pex"
)
ENV_CACHE_DIR = "ENCODERFILE_CACHE_DIR"
ENV_URL_TEMPLATE = "ENCODERFILE_RUNTIME_URL_TEMPLATE"
RUNTIME_FILENAME = "encoderfile-runtime"
CHUNK = 1 << 20

Progress = Callable[[int, Optional[int]], None]  # (bytes done, total bytes or None if unknown)


def default_cache_dir() -> Path:
    """$ENCODERFILE_CACHE_DIR, else ~/.cache/encoderfile."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(os.path.expanduser(env))
    return Path.home() / ".cache" / "encoderfile"


def default_runtime_version() -> str:
    """The runtime version matching this package (as the reference uses the CLI's own)."""
    from encoderfile import __version__

    return __version__


def normalize_version(version: str) -> str:
    return version[1:] if version.startswith("v") else version


def url_template_from_env(configured: str | None = None) -> str:
    """An explicit template, else $ENCODERFILE_RUNTIME_URL_TEMPLATE, else the default."""
    return configured or os.environ.get(ENV_URL_TEMPLATE) or DEFAULT_URL_TEMPLATE


def pinned_sha256(
    version: str, target: str, overrides: Mapping[str, str] | None = None
) -> str | None:
    """The pinned digest for (version, target): a user override first, then the shipped table."""
    if overrides and target in overrides:
        return overrides[target].lower()
    return KNOWN_RUNTIME_SHA256.get((normalize_version(version), target))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class CachedRuntime:
    """One runtime in the cache."""

    target: str
    version: str
    path: Path
    size: int
    sha256: str


def _pin_help(version: str, target: str) -> str:
    return (
        f"pin it with `runtime_sha256: {{{target}: <sha256>}}` in encoderfile.yml, "
        f"--runtime-sha256 <sha256>, or `encoderfile runtime add {target} --runtime-version "
        f"{version} --sha256 <sha256>`"
    )


class RuntimeCache:
    """The base-binary cache under `<cache_dir>/base-binaries`."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)
        self.root = self.cache_dir / "base-binaries"

    def path_for(self, version: str, target: str) -> Path:
        return self.root / normalize_version(version) / target / RUNTIME_FILENAME

    def list(self, with_sha256: bool = True) -> List[CachedRuntime]:
        """Every cached runtime, sorted by version then target."""
        out = []
        if not self.root.is_dir():
            return out
        for vdir in sorted(self.root.iterdir()):
            if not vdir.is_dir():
                continue
            for target in TARGETS:
                p = vdir / target / RUNTIME_FILENAME
                if p.is_file():
                    out.append(
                        CachedRuntime(
                            target=target,
                            version=vdir.name,
                            path=p,
                            size=p.stat().st_size,
                            sha256=sha256_file(p) if with_sha256 else "",
                        )
                    )
        return out

    def remove(self, target: str, version: str) -> Path:
        """Remove one cached runtime; raise BaseBinaryNotCachedError if it is not there."""
        target = parse_target(target)
        p = self.path_for(version, target)
        if not p.is_file():
            cached = ", ".join(f"{r.version}/{r.target}" for r in self.list(with_sha256=False))
            raise BaseBinaryNotCachedError(
                f"no runtime {normalize_version(version)} for {target} in {self.root} "
                f"(cached: {cached or 'none'})"
            )
        p.unlink()
        self._prune(p.parent)
        return p

    def _prune(self, d: Path) -> None:
        """Remove now-empty directories up to (not including) the cache root."""
        for parent in (d, d.parent):
            try:
                if parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()
            except OSError:
                pass

    def add_file(
        self,
        target: str,
        version: str,
        source: Path,
        expected_sha256: str | None = None,
        progress: Progress | None = None,
    ) -> CachedRuntime:
        """Copy a local file into the cache; if a digest is pinned it must match.

        A local file is the user's own choice, so it is accepted without a pin; a pin (given or
        shipped) is still enforced.
        """
        target = parse_target(target)
        try:
            src = open(source, "rb")
        except OSError as e:
            raise BaseBinaryError(f"cannot read runtime file {source}: {e.strerror}") from None
        with src:
            total = os.fstat(src.fileno()).st_size
            return self._install(
                target,
                version,
                lambda out: _copy(src, out, total, progress),
                expected_sha256,
                str(source),
            )

    def download(
        self,
        target: str,
        version: str,
        url: str,
        expected_sha256: str | None,
        progress: Progress | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> CachedRuntime:
        """Download `url` (http(s) or file://) into the cache; it must match `expected_sha256`.

        Raises:
            NoPinnedDigestError: expected_sha256 is None (downloads are never unverified).
            DownloadError: HTTP/connection failure after `retries` retries.
            DigestMismatchError: the bytes do not have the pinned digest (nothing is cached).
        """
        target = parse_target(target)
        if expected_sha256 is None:
            raise NoPinnedDigestError(
                f"refusing to download the {normalize_version(version)} runtime for {target} "
                f"from {url}: no SHA-256 is pinned for it; {_pin_help(version, target)}"
            )
        return self._install(
            target,
            version,
            lambda out: _fetch(url, out, progress, timeout, retries, backoff),
            expected_sha256,
            url,
        )

    def _install(
        self,
        target: str,
        version: str,
        fill: Callable[[BinaryIO], None],
        expected_sha256: str | None,
        origin: str,
    ) -> CachedRuntime:
        dest = self.path_for(version, target)
        created = not dest.parent.exists()
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{RUNTIME_FILENAME}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "w+b") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            digest = sha256_file(Path(tmp))
            if expected_sha256 is not None and digest != expected_sha256.lower():
                raise DigestMismatchError(
                    f"SHA-256 mismatch for the {normalize_version(version)} runtime for {target} "
                    f"from {origin}: expected {expected_sha256.lower()}, got {digest}; "
                    f"nothing was cached"
                )
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if created:
                self._prune(dest.parent)
            raise
        return CachedRuntime(target, normalize_version(version), dest, dest.stat().st_size, digest)


def _copy(src: BinaryIO, out: BinaryIO, total: int | None, progress: Progress | None) -> None:
    done = 0
    for chunk in iter(lambda: src.read(CHUNK), b""):
        out.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def _fetch(
    url: str,
    out: BinaryIO,
    progress: Progress | None,
    timeout: float,
    retries: int,
    backoff: float,
) -> None:
    """Stream `url` into `out`, retrying connection errors and 5xx with exponential backoff."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = urllib.request.url2pathname(parsed.path)
        try:
            src = open(path, "rb")
        except OSError as e:
            raise DownloadError(f"cannot read {url}: {e.strerror}") from None
        with src:
            _copy(src, out, os.fstat(src.fileno()).st_size, progress)
        return
    if parsed.scheme not in ("http", "https"):
        raise DownloadError(f"unsupported URL scheme in {url!r}; use https://, http:// or file://")

    import requests  # deferred: only downloads need it

    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * (2 ** (attempt - 1)))
            out.seek(0)
            out.truncate()
        try:
            with requests.get(url, stream=True, timeout=timeout, allow_redirects=True) as resp:
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    continue
                if resp.status_code != 200:
                    raise DownloadError(
                        f"downloading {url} failed: HTTP {resp.status_code}; check the runtime "
                        f"version and target, or the URL template"
                    )
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                for chunk in resp.iter_content(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                if total is not None and done != total:
                    last = f"connection closed after {done} of {total} bytes"
                    continue
                return
        except (requests.ConnectionError, requests.Timeout) as e:
            last = type(e).__name__
            continue
        except requests.RequestException as e:
            raise DownloadError(f"downloading {url} failed: {e}") from None
    raise DownloadError(f"downloading {url} failed after {retries + 1} attempts ({last})")


@dataclass(frozen=True)
class ResolvedBase:
    """The base binary to use and how it was found ("explicit", "cache", "download")."""

    path: Path
    how: str
    target: str | None
    version: str | None


def resolve_base_binary(
    *,
    base_binary_path: Path | None,
    cache_dir: Path,
    version: str,
    target: str | None,
    no_download: bool,
    url_template: str | None = None,
    sha256_overrides: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
    retries: int = 3,
) -> ResolvedBase:
    """--base-binary-path; else the cache; else a verified download unless no_download.

    `target` must already be a valid triple when base_binary_path is None.
    """
    if base_binary_path is not None:
        if not base_binary_path.is_file():
            raise BaseBinaryError(f"base binary {base_binary_path} does not exist or is not a file")
        return ResolvedBase(base_binary_path, "explicit", target, None)
    assert target is not None
    cache = RuntimeCache(cache_dir)
    cached = cache.path_for(version, target)
    if cached.is_file():
        return ResolvedBase(cached, "cache", target, normalize_version(version))
    if no_download:
        raise BaseBinaryNotCachedError(
            f"no runtime {normalize_version(version)} for {target} at {cached} and --no-download "
            f"was given; run `encoderfile runtime add {target} --runtime-version "
            f"{normalize_version(version)} [--from FILE]` or pass --base-binary-path"
        )
    url = url_template_from_env(url_template).format(
        version=normalize_version(version), target=target
    )
    r = cache.download(
        target,
        version,
        url,
        pinned_sha256(version, target, sha256_overrides),
        progress=progress,
        timeout=timeout,
        retries=retries,
    )
    return ResolvedBase(r.path, "download", target, r.version)


__all__: Tuple[str, ...] = (
    "DEFAULT_URL_TEMPLATE",
    "CachedRuntime",
    "ResolvedBase",
    "RuntimeCache",
    "default_cache_dir",
    "default_runtime_version",
    "pinned_sha256",
    "resolve_base_binary",
    "url_template_from_env",
)
