"""The protobuf manifest: artifact records and the two-pass offset encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Sequence, Tuple

from google.protobuf.message import DecodeError

from encoderfile.format.constants import CANONICAL_ORDER, SHA256_SIZE, ArtifactKind, ModelType
from encoderfile.format.errors import (
    ManifestDecodeError,
    MissingArtifactError,
    UnexpectedArtifactError,
)
from encoderfile.proto import manifest_pb2

MAX_ENCODING_PASSES = 3


@dataclass(frozen=True)
class ArtifactInfo:
    """One artifact: offset is RELATIVE TO THE MANIFEST START; sha256 is the raw 32-byte digest."""

    kind: ArtifactKind
    offset: int
    length: int
    sha256: bytes

    def absolute_offset(self, metadata_offset: int) -> int:
        """File offset of the artifact's first byte."""
        return metadata_offset + self.offset

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


def build_manifest(
    model_type: ModelType,
    name: str,
    version: str,
    entries: Sequence[Tuple[ArtifactKind, int, bytes]],
) -> Tuple[bytes, Dict[ArtifactKind, ArtifactInfo]]:
    """Encode the manifest for artifacts (kind, length, sha256), already in canonical order.

    Offsets are relative to the manifest start, and the first artifact follows the manifest, so
    they depend on the manifest's own encoded length. proto3 omits zero fixed64 values, so the
    first encoding (all offsets 0) is shorter than the final one; we re-encode until the length
    is stable. Because offsets are fixed64, the second pass's length is already final, and the
    third pass only confirms it (as the reference implementation does).

    Returns (manifest bytes, {kind: ArtifactInfo}).
    """
    kinds = [kind for kind, _, _ in entries]
    if kinds != sorted(kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"artifacts must be unique and in canonical order, got {kinds}")
    for kind, _, digest in entries:
        if len(digest) != SHA256_SIZE:
            raise ValueError(f"{kind.field_name}: sha256 must be {SHA256_SIZE} raw bytes")

    def encode(first_offset: int) -> Tuple[bytes, Dict[ArtifactKind, ArtifactInfo]]:
        manifest = manifest_pb2.EncoderfileManifest(
            model_type=model_type.proto_value, name=name, version=version
        )
        infos: Dict[ArtifactKind, ArtifactInfo] = {}
        offset = first_offset
        for kind, length, digest in entries:
            getattr(manifest, kind.field_name).CopyFrom(
                manifest_pb2.Artifact(offset=offset, length=length, sha256=digest)
            )
            infos[kind] = ArtifactInfo(kind=kind, offset=offset, length=length, sha256=digest)
            offset += length
        return manifest.SerializeToString(deterministic=True), infos

    data, infos = encode(0)
    for _ in range(MAX_ENCODING_PASSES - 1):
        previous_length = len(data)
        data, infos = encode(previous_length)
        if len(data) == previous_length:
            return data, infos
    raise AssertionError(
        f"manifest offsets did not converge in {MAX_ENCODING_PASSES} passes"
    )  # pragma: no cover -- impossible with fixed64 offsets


def decode_manifest(data: bytes) -> manifest_pb2.EncoderfileManifest:
    """Parse manifest bytes; raises ManifestDecodeError on anything but a valid message."""
    try:
        return manifest_pb2.EncoderfileManifest.FromString(bytes(data))
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ManifestDecodeError(
            f"the manifest ({len(data)} bytes) is not a valid EncoderfileManifest protobuf: {exc}"
        ) from None


def artifacts_from_manifest(
    manifest: manifest_pb2.EncoderfileManifest,
) -> Dict[ArtifactKind, ArtifactInfo]:
    """ArtifactInfo for every artifact present, in canonical order (no bounds checks)."""
    infos: Dict[ArtifactKind, ArtifactInfo] = {}
    for kind in CANONICAL_ORDER:
        if not manifest.HasField(kind.field_name):
            continue
        art = getattr(manifest, kind.field_name)
        if len(art.sha256) != SHA256_SIZE:
            raise ManifestDecodeError(
                f"{kind.field_name}: sha256 is {len(art.sha256)} bytes, expected {SHA256_SIZE}"
            )
        infos[kind] = ArtifactInfo(
            kind=kind, offset=art.offset, length=art.length, sha256=bytes(art.sha256)
        )
    return infos


def check_artifact_set(model_type: ModelType, kinds: Iterable[ArtifactKind]) -> None:
    """Raise MissingArtifactError / UnexpectedArtifactError unless `kinds` fits model_type."""
    present = set(kinds)
    missing = [
        k.field_name for k in CANONICAL_ORDER if k in model_type.required_artifacts - present
    ]
    if missing:
        raise MissingArtifactError(
            f"a {model_type.snake} encoderfile needs the artifact(s) {', '.join(missing)}"
            f" (required: {_names(model_type.required_artifacts)})"
        )
    unexpected = [
        k.field_name for k in CANONICAL_ORDER if k in present - model_type.allowed_artifacts
    ]
    if unexpected:
        raise UnexpectedArtifactError(
            f"a {model_type.snake} encoderfile cannot contain the artifact(s)"
            f" {', '.join(unexpected)} (allowed: {_names(model_type.allowed_artifacts)})"
        )


def _names(kinds: Iterable[ArtifactKind]) -> str:
    return ", ".join(k.field_name for k in CANONICAL_ORDER if k in set(kinds))
