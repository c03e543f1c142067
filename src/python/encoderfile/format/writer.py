"""Write an encoderfile: base binary, manifest, artifacts, (zip trailer), footer.

Layout written (format-v1.md, base-binary.md)::

    [base, unmodified][padding, normally none][manifest][artifacts in canonical order]
    [zip base only: copy of the base's central directory + new EOCD, comment_length 32]
    [footer, 32 bytes]  (for a zip base, the footer is the new EOCD's comment)

Invariants: artifact offsets in the manifest are relative to the manifest start and depend on
the manifest's encoded length (see manifest.build_manifest); nothing is ever held in memory
whole -- artifacts are hashed in a first streaming pass (the manifest needs their digests before
they are written) and copied, hashing again, in a second pass; the output appears atomically.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from typing import (
    IO,
    BinaryIO,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Tuple,
    Union,
)

from encoderfile.format.constants import (
    COPY_CHUNK_SIZE,
    FLAG_PROTOBUF_MANIFEST,
    FOOTER_SIZE,
    FORMAT_VERSION,
    ArtifactKind,
    ModelType,
)
from encoderfile.format.errors import (
    DuplicateArtifactError,
    EncoderfileError,
    FileChangedError,
    PayloadTooLargeError,
)
from encoderfile.format.footer import Footer
from encoderfile.format.manifest import ArtifactInfo, build_manifest, check_artifact_set
from encoderfile.format.zip import (
    EOCD_SIGNATURE,
    EOCD_SIZE,
    ZIP_SIZE_LIMIT,
    ZipTrailer,
    find_zip_trailer,
)

PathOrBytes = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
ProgressCallback = Callable[[int, int], None]
# Padding needed to keep PK\x05\x06 out of the trailer changes one exact offset value; a few
# bytes always suffice, this bound only guards the loop.
_MAX_PADDING = 64


@dataclass(frozen=True)
class WriteResult:
    """What write_encoderfile wrote. sha256 is the hex digest of the whole output file.

    base_size is the size of the base as given; metadata_offset (the footer's, and a reader's
    base_size) exceeds it only in the rare case where padding was inserted.
    """

    path: str
    size: int
    sha256: str
    base_size: int
    manifest_length: int
    artifacts: Dict[ArtifactKind, ArtifactInfo]
    zip_relocated: bool
    metadata_offset: int = 0
    padding: int = 0


class _Source:
    """An input given as a path (streamed) or as in-memory bytes."""

    def __init__(self, value: PathOrBytes, what: str):
        self.what = what
        if isinstance(value, (bytes, bytearray, memoryview)):
            self.data: memoryview | None = memoryview(value).cast("B")
            self.path: str | None = None
            self.size = len(self.data)
        else:
            self.data = None
            self.path = os.fspath(value)
            self.size = os.stat(self.path).st_size

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        return open(self.path, "rb")  # type: ignore[arg-type]

    def read_at(self, offset: int, n: int) -> bytes:
        if self.data is not None:
            return bytes(self.data[offset : offset + n])
        with open(self.path, "rb") as f:  # type: ignore[arg-type]
            f.seek(offset)
            return f.read(n)

    def hash(self) -> Tuple[int, bytes]:
        """(length, raw sha256) by streaming."""
        digest = hashlib.sha256()
        length = 0
        with self.open() as f:
            for chunk in iter(lambda: f.read(COPY_CHUNK_SIZE), b""):
                digest.update(chunk)
                length += len(chunk)
        return length, digest.digest()


class _CountingWriter:
    """Writes to the output while hashing the whole file and reporting progress."""

    def __init__(self, out: IO[bytes], total: int, progress: ProgressCallback | None):
        self.out = out
        self.total = total
        self.progress = progress
        self.position = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.sha256.update(data)
        self.position += len(data)
        if self.progress is not None:
            self.progress(self.position, self.total)

    def copy_from(self, f: BinaryIO, length: int) -> Tuple[int, bytes]:
        """Copy exactly up to `length` bytes from f; returns (bytes copied, raw sha256)."""
        digest = hashlib.sha256()
        copied = 0
        while copied < length:
            chunk = f.read(min(COPY_CHUNK_SIZE, length - copied))
            if not chunk:
                break
            digest.update(chunk)
            self.write(chunk)
            copied += len(chunk)
        return copied, digest.digest()


def _normalize_artifacts(
    artifacts: Union[
        Mapping[Union[ArtifactKind, int, str], PathOrBytes],
        Iterable[Tuple[Union[ArtifactKind, int, str], PathOrBytes]],
    ],
) -> List[Tuple[ArtifactKind, PathOrBytes]]:
    items = artifacts.items() if isinstance(artifacts, Mapping) else artifacts
    seen: Dict[ArtifactKind, PathOrBytes] = {}
    for key, value in items:
        kind = ArtifactKind.parse(key)
        if kind in seen:
            raise DuplicateArtifactError(
                f"artifact {kind.field_name!r} (field {int(kind)}) was given more than once;"
                " pass each artifact kind exactly once"
            )
        seen[kind] = value
    return sorted(seen.items(), key=lambda item: int(item[0]))  # canonical order


def _trailer_is_safe(trailer: bytes) -> bool:
    """True if PK\\x05\\x06 occurs in the trailer (new EOCD + footer) only as the EOCD's own
    signature: zip readers take the LAST occurrence in the file for the EOCD."""
    return trailer.rfind(EOCD_SIGNATURE) <= 0


def _plan_padding(
    base_size: int,
    manifest_length: int,
    payload_length: int,
    zip_trailer: ZipTrailer | None,
) -> Tuple[int, bytes, bytes]:
    """Choose padding before the manifest; returns (padding, new EOCD or b"", footer bytes)."""
    for padding in range(_MAX_PADDING + 1):
        metadata_offset = base_size + padding
        footer = Footer(FORMAT_VERSION, metadata_offset, manifest_length, FLAG_PROTOBUF_MANIFEST)
        footer_bytes = footer.pack()
        if zip_trailer is None:
            return padding, b"", footer_bytes
        cd_copy_start = metadata_offset + manifest_length + payload_length
        total = cd_copy_start + zip_trailer.cd_size + EOCD_SIZE + FOOTER_SIZE
        if total >= ZIP_SIZE_LIMIT:
            raise PayloadTooLargeError(
                f"a zip (PEX) base of {base_size} bytes plus a payload of"
                f" {total - base_size} bytes makes a {total}-byte file, but a zip base must stay"
                f" under 4 GiB ({ZIP_SIZE_LIMIT} bytes) because CPython <= 3.12 cannot import"
                " from ZIP64; use a smaller (e.g. quantized) model or a native, non-zip base"
            )
        eocd = zip_trailer.relocated_eocd(cd_copy_start, FOOTER_SIZE)
        if _trailer_is_safe(eocd + footer_bytes):
            return padding, eocd, footer_bytes
    raise EncoderfileError(  # pragma: no cover -- one byte of padding always suffices
        f"could not keep the zip signature out of the footer within {_MAX_PADDING} bytes"
    )


def write_encoderfile(
    output: Union[str, os.PathLike[str]],
    *,
    base: PathOrBytes | None,
    model_type: Union[ModelType, str],
    name: str,
    version: str,
    artifacts: Union[
        Mapping[Union[ArtifactKind, int, str], PathOrBytes],
        Iterable[Tuple[Union[ArtifactKind, int, str], PathOrBytes]],
    ],
    progress: ProgressCallback | None = None,
    mode: int = 0o755,
    require_artifacts: bool = True,
) -> WriteResult:
    """Write an encoderfile atomically (temp file in the output's directory + os.replace).

    Args:
        output: destination path; replaced atomically, never left half-written.
        base: base executable (path or bytes); None or b"" for an empty base. A zip base (PEX,
            zipapp) gets its central directory relocated after the payload.
        model_type: ModelType or its snake_case name.
        name, version: informational manifest fields.
        artifacts: {ArtifactKind (or field name/number): path or bytes}; also accepts an
            iterable of pairs, where a repeated kind raises DuplicateArtifactError.
        progress: called with (bytes_written, total_bytes) while writing.
        mode: permission bits of the output (default executable).
        require_artifacts: check the artifact set against the model type's rules.

    Returns: WriteResult.

    Raises: InvalidModelTypeError, InvalidArtifactKindError, DuplicateArtifactError,
        MissingArtifactError, UnexpectedArtifactError, PayloadTooLargeError,
        UnsupportedBaseError, FileChangedError, OSError.

    Example:
        >>> import tempfile, os
        >>> out = os.path.join(tempfile.mkdtemp(), "m.encoderfile")
        >>> r = write_encoderfile(out, base=None, model_type="embedding", name="test-model",
        ...     version="0.1.0", artifacts={"weights": b"weights", "model_config": b"config",
        ...     "tokenizer": b"tokenizer"})
        >>> r.size, r.manifest_length
        (240, 186)
    """
    parsed_type = ModelType.parse(model_type)
    if not isinstance(name, str) or not isinstance(version, str):
        raise TypeError("name and version must be str")
    items = _normalize_artifacts(artifacts)
    if require_artifacts:
        check_artifact_set(parsed_type, [kind for kind, _ in items])

    sources = [(kind, _Source(value, kind.field_name)) for kind, value in items]
    base_source = _Source(b"" if base is None else base, "base")

    # Pass 1: lengths and digests, streamed (the manifest precedes the artifacts).
    entries = []
    for kind, source in sources:
        length, digest = source.hash()
        entries.append((kind, length, digest))
    manifest_bytes, infos = build_manifest(parsed_type, name, version, entries)
    payload_length = sum(length for _, length, _ in entries)

    zip_trailer = find_zip_trailer(base_source.read_at, base_source.size)
    padding, eocd, footer_bytes = _plan_padding(
        base_source.size, len(manifest_bytes), payload_length, zip_trailer
    )
    metadata_offset = base_source.size + padding
    total = metadata_offset + len(manifest_bytes) + payload_length + FOOTER_SIZE
    if zip_trailer is not None:
        total += zip_trailer.cd_size + EOCD_SIZE

    output_path = os.path.abspath(os.fspath(output))
    directory, basename = os.path.split(output_path)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{basename}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _CountingWriter(out, total, progress)
            with base_source.open() as f:
                copied, _ = writer.copy_from(f, base_source.size)
            if copied != base_source.size:
                raise FileChangedError(
                    f"base: expected {base_source.size} bytes, read {copied}; it changed while"
                    " the encoderfile was being written"
                )
            writer.write(b"\0" * padding)
            writer.write(manifest_bytes)
            # Pass 2: copy, hashing again, so a file changed between passes cannot slip through.
            for (kind, source), (_, length, digest) in zip(sources, entries):
                with source.open() as f:
                    copied, actual = writer.copy_from(f, length)
                    extra = f.read(1)
                if copied != length or actual != digest or extra:
                    raise FileChangedError(
                        f"{kind.field_name}: {source.path or 'input'} changed while the"
                        f" encoderfile was being written (hashed {length} bytes first, then"
                        f" {copied}{'+' if extra else ''} bytes with a different digest);"
                        " retry when it is stable"
                    )
            if zip_trailer is not None:
                with base_source.open() as f:
                    f.seek(zip_trailer.cd_start)
                    copied, _ = writer.copy_from(f, zip_trailer.cd_size)
                if copied != zip_trailer.cd_size:
                    raise FileChangedError("base: it changed while the encoderfile was written")
                writer.write(eocd)
            writer.write(footer_bytes)
            assert writer.position == total, (writer.position, total)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, output_path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise

    return WriteResult(
        path=output_path,
        size=total,
        sha256=writer.sha256.hexdigest(),
        base_size=base_source.size,
        manifest_length=len(manifest_bytes),
        artifacts=infos,
        zip_relocated=zip_trailer is not None,
        metadata_offset=metadata_offset,
        padding=padding,
    )
