"""Read an encoderfile from a path or a seekable binary file, checking every offset first."""

from __future__ import annotations

import hashlib
import io
import mmap
import os
from typing import IO, BinaryIO, Dict, List, Union

from encoderfile.format.constants import (
    COPY_CHUNK_SIZE,
    DEFAULT_MAX_MANIFEST_SIZE,
    FOOTER_SIZE,
    ArtifactKind,
    ModelType,
)
from encoderfile.format.errors import (
    ArtifactOutOfBoundsError,
    ChecksumMismatchError,
    ManifestTooLargeError,
    MissingArtifactError,
    NotAnEncoderfileError,
    TruncatedFileError,
)
from encoderfile.format.footer import Footer
from encoderfile.format.manifest import (
    ArtifactInfo,
    artifacts_from_manifest,
    check_artifact_set,
    decode_manifest,
)
from encoderfile.proto import manifest_pb2


class _SectionReader(io.RawIOBase):
    """A read-only, seekable view of bytes [start, start + length) of a shared file.

    Seeks the shared file before every read, so several sections can be read alternately.
    """

    def __init__(self, f: BinaryIO, start: int, length: int, name: str):
        super().__init__()
        self._f = f
        self._start = start
        self._length = length
        self._pos = 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("I/O operation on closed artifact stream")
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._length - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(view[:n])
        if not got:
            raise TruncatedFileError(
                f"{self.name}: the file ended at byte {self._start + self._pos}, inside the"
                f" artifact (bytes {self._start}..{self._start + self._length}); it shrank"
                " after it was opened"
            )
        self._pos += got
        return got


class EncoderfileReader:
    """Reads the footer, manifest and artifacts of an encoderfile.

    Every offset and length is checked when the file is opened, so later reads only fail if the
    file changes underneath. Use as a context manager:

        >>> with EncoderfileReader.open("model.encoderfile") as r:  # doctest: +SKIP
        ...     tokenizer_json = r.read_bytes(ArtifactKind.TOKENIZER)
    """

    def __init__(
        self,
        f: BinaryIO,
        *,
        owns_file: bool,
        max_manifest_size: int = DEFAULT_MAX_MANIFEST_SIZE,
        name: str = "<file>",
    ):
        self._f = f
        self._owns_file = owns_file
        self._mmap: mmap.mmap | None = None
        self._views: List[memoryview] = []
        self._closed = False
        self.source_name = name
        try:
            self._load(max_manifest_size)
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls,
        source: Union[str, os.PathLike[str], BinaryIO, IO[bytes]],
        max_manifest_size: int = DEFAULT_MAX_MANIFEST_SIZE,
    ) -> EncoderfileReader:
        """Open a path (closed with the reader) or a seekable binary file (left open).

        Raises NotAnEncoderfileError, UnsupportedVersionError, UnsupportedFlagsError,
        TruncatedFileError, ManifestTooLargeError, ManifestDecodeError,
        ArtifactOutOfBoundsError, OSError.
        """
        if isinstance(source, (str, bytes, os.PathLike)):
            path = os.fsdecode(source)
            f = open(path, "rb", buffering=0)  # unbuffered: large reads go straight through
            return cls(f, owns_file=True, max_manifest_size=max_manifest_size, name=path)
        if not (hasattr(source, "read") and hasattr(source, "seek")):
            raise TypeError(f"expected a path or a seekable binary file, got {type(source)!r}")
        name = str(getattr(source, "name", "<file>"))
        return cls(source, owns_file=False, max_manifest_size=max_manifest_size, name=name)

    # -- loading -------------------------------------------------------------------------------

    def _read_exact(self, offset: int, n: int, what: str) -> bytes:
        self._f.seek(offset)
        data = self._f.read(n)
        if len(data) != n:
            raise TruncatedFileError(
                f"{what}: expected {n} bytes at byte {offset}, got {len(data)}; the file is"
                " truncated or changed while being read"
            )
        return data

    def _load(self, max_manifest_size: int) -> None:
        self.file_size = self._f.seek(0, io.SEEK_END)
        if self.file_size < FOOTER_SIZE:
            raise NotAnEncoderfileError(
                f"not an encoderfile: the file is {self.file_size} bytes, smaller than the"
                f" {FOOTER_SIZE}-byte footer"
            )
        footer_start = self.file_size - FOOTER_SIZE
        self.footer = Footer.unpack(self._read_exact(footer_start, FOOTER_SIZE, "footer"))
        self.footer.check_supported()
        # Python ints do not overflow, but a u64 offset near 2**64 must still fail cleanly:
        # compare each value on its own before comparing their sum.
        offset, length = self.footer.metadata_offset, self.footer.metadata_length
        if offset > footer_start:
            raise TruncatedFileError(
                f"the manifest starts at byte {offset}, but the footer starts at byte"
                f" {footer_start} (file is {self.file_size} bytes); the file is truncated"
            )
        if length > footer_start - offset:
            raise TruncatedFileError(
                f"manifest ends at byte {offset + length}, but the footer starts at byte"
                f" {footer_start} (file is {self.file_size} bytes); the file is truncated"
            )
        if length > max_manifest_size:
            raise ManifestTooLargeError(
                f"the manifest is {length} bytes, larger than the limit of {max_manifest_size}"
                " bytes; the file is damaged (raise max_manifest_size if it is not)"
            )
        self.manifest: manifest_pb2.EncoderfileManifest = decode_manifest(
            self._read_exact(offset, length, "manifest")
        )
        self.artifacts: Dict[ArtifactKind, ArtifactInfo] = artifacts_from_manifest(self.manifest)
        for info in self.artifacts.values():
            self._check_bounds(info, footer_start)

    def _check_bounds(self, info: ArtifactInfo, footer_start: int) -> None:
        meta_offset, meta_length = self.footer.metadata_offset, self.footer.metadata_length
        name = info.kind.field_name
        if info.offset < meta_length:
            raise ArtifactOutOfBoundsError(
                f"{name}: starts at relative offset {info.offset}, inside the {meta_length}-byte"
                " manifest; the file is damaged"
            )
        payload = footer_start - meta_offset  # bytes available after the manifest start
        if info.offset > payload or info.length > payload - info.offset:
            start = meta_offset + info.offset
            raise ArtifactOutOfBoundsError(
                f"{name}: bytes {start}..{start + info.length} (relative offset {info.offset},"
                f" length {info.length}) run past the footer at byte {footer_start} (file is"
                f" {self.file_size} bytes); the file is truncated or damaged"
            )

    # -- metadata ------------------------------------------------------------------------------

    @property
    def base_size(self) -> int:
        """Bytes before the manifest (the base executable); == footer.metadata_offset."""
        return self.footer.metadata_offset

    @property
    def manifest_length(self) -> int:
        return self.footer.metadata_length

    @property
    def format_version(self) -> int:
        return self.footer.format_version

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def model_type(self) -> ModelType:
        """Raises InvalidModelTypeError for a model type this library does not know."""
        return ModelType.from_proto(self.manifest.model_type)

    def has(self, kind: ArtifactKind) -> bool:
        return ArtifactKind.parse(kind) in self.artifacts

    def info(self, kind: ArtifactKind) -> ArtifactInfo:
        """Raises MissingArtifactError if the artifact is absent."""
        kind = ArtifactKind.parse(kind)
        try:
            return self.artifacts[kind]
        except KeyError:
            present = ", ".join(k.field_name for k in self.artifacts) or "none"
            raise MissingArtifactError(
                f"{self.source_name} has no {kind.field_name} artifact (present: {present})"
            ) from None

    def absolute_offset(self, kind: ArtifactKind) -> int:
        return self.info(kind).absolute_offset(self.footer.metadata_offset)

    def require_artifacts(self) -> None:
        """Raise MissingArtifactError (or UnexpectedArtifactError) per the model type's rules."""
        check_artifact_set(self.model_type, self.artifacts)

    # -- data ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the EncoderfileReader is closed")

    def view(self, kind: ArtifactKind) -> memoryview:
        """Zero-copy memoryview over an mmap of the artifact, released when the reader closes.

        Falls back to a copy in memory when the file cannot be memory-mapped (e.g. BytesIO).
        """
        self._check_open()
        info = self.info(kind)
        if info.length == 0:
            return memoryview(b"")
        start = info.absolute_offset(self.footer.metadata_offset)
        if self._mmap is None:
            try:
                self._mmap = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                return memoryview(self.read_bytes(kind))
            if len(self._mmap) < start + info.length:
                raise TruncatedFileError(
                    f"{info.kind.field_name}: the file is now {len(self._mmap)} bytes, but the"
                    f" artifact ends at byte {start + info.length}; it shrank after it was opened"
                )
        whole = memoryview(self._mmap)
        view = whole[start : start + info.length]
        self._views.extend((whole, view))
        return view

    def read_bytes(self, kind: ArtifactKind) -> bytes:
        """The artifact's bytes (meant for small artifacts such as the tokenizer or config)."""
        self._check_open()
        info = self.info(kind)
        start = info.absolute_offset(self.footer.metadata_offset)
        return self._read_exact(start, info.length, info.kind.field_name)

    def open_stream(self, kind: ArtifactKind) -> io.BufferedReader:
        """A readable, seekable binary stream of just the artifact."""
        self._check_open()
        info = self.info(kind)
        start = info.absolute_offset(self.footer.metadata_offset)
        raw = _SectionReader(self._f, start, info.length, info.kind.field_name)
        return io.BufferedReader(raw, buffer_size=COPY_CHUNK_SIZE)

    def copy_base_to(self, fileobj: IO[bytes]) -> int:
        """Stream bytes [0, base_size) into fileobj; returns the number of bytes copied."""
        self._check_open()
        raw = _SectionReader(self._f, 0, self.base_size, "base")
        copied = 0
        buffer = bytearray(COPY_CHUNK_SIZE)
        while True:
            n = raw.readinto(buffer)
            if not n:
                return copied
            fileobj.write(memoryview(buffer)[:n])
            copied += n

    def verify(self, kind: ArtifactKind) -> None:
        """Hash the artifact (streaming); raises ChecksumMismatchError if it differs."""
        self._check_open()
        info = self.info(kind)
        digest = hashlib.sha256()
        start = info.absolute_offset(self.footer.metadata_offset)
        raw = _SectionReader(self._f, start, info.length, info.kind.field_name)
        buffer = bytearray(COPY_CHUNK_SIZE)
        while True:
            n = raw.readinto(buffer)
            if not n:
                break
            digest.update(memoryview(buffer)[:n])
        if digest.digest() != info.sha256:
            raise ChecksumMismatchError(info.kind, info.sha256_hex, digest.hexdigest())

    def verify_all(self) -> List[ChecksumMismatchError]:
        """Verify every artifact; returns the mismatches (an empty list means all good)."""
        problems = []
        for kind in self.artifacts:
            try:
                self.verify(kind)
            except ChecksumMismatchError as exc:
                problems.append(exc)
        return problems

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release memoryviews handed out by view(), unmap, and close an owned file."""
        if self._closed:
            return
        self._closed = True
        still_exported = False
        for view in reversed(self._views):
            try:
                view.release()
            except BufferError:  # someone holds a buffer derived from it (e.g. numpy)
                still_exported = True
        self._views.clear()
        if self._mmap is not None and not still_exported:
            try:
                self._mmap.close()
            except BufferError:  # a buffer derived from a view (e.g. numpy) still uses it
                pass
        self._mmap = None  # if still exported, the mapping lives until its last user is gone
        if self._owns_file:
            self._f.close()

    def __enter__(self) -> EncoderfileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"EncoderfileReader({self.source_name!r}, size={self.file_size},"
            f" base_size={self.base_size}, artifacts={[k.field_name for k in self.artifacts]})"
        )
