"""`pants package` for `encoderfile` (one file per platform) and `encoderfile_runtime` (one
runtime PEX per platform)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.engine.fs import AddPrefix, Digest, DigestEntries, FileEntry, MergeDigests
from pants.engine.platform import Platform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_encoderfile.platforms import HOST, resolve_platforms
from pants_backend_encoderfile.subsystems import EncoderfileSubsystem
from pants_backend_encoderfile.target_types import (
    EncoderfileModelTypeField,
    EncoderfileOutputPathField,
    EncoderfilePlatformsField,
    EncoderfileRuntimeCompletePlatformsField,
    EncoderfileRuntimeEntryPointField,
    EncoderfileRuntimeOutputPathField,
    EncoderfileRuntimePlatformsField,
)
from pants_backend_encoderfile.util_rules.base_binary import RuntimePex, RuntimePexRequest
from pants_backend_encoderfile.util_rules.build import BuildEncoderfileRequest, BuiltEncoderfile


@dataclass(frozen=True)
class EncoderfileFieldSet(PackageFieldSet):
    required_fields = (EncoderfileModelTypeField,)

    model_type: EncoderfileModelTypeField
    platforms: EncoderfilePlatformsField
    output_path: EncoderfileOutputPathField

    def triples(self, encoderfile: EncoderfileSubsystem, host: Platform) -> Tuple[str, ...]:
        values = self.platforms.value or encoderfile.validate_platforms()
        return resolve_platforms(values, host)

    def outputs(self, encoderfile: EncoderfileSubsystem, host: Platform) -> dict:
        """triple -> output path, in build order."""
        return dict(self.output_path.for_platforms(self.triples(encoderfile, host)))


@dataclass(frozen=True)
class EncoderfileRuntimeFieldSet(PackageFieldSet):
    required_fields = (EncoderfileRuntimeEntryPointField,)

    complete_platforms: EncoderfileRuntimeCompletePlatformsField
    platforms: EncoderfileRuntimePlatformsField
    output_path: EncoderfileRuntimeOutputPathField


def _log_lines(
    triple: str, size: int, sha256: str, runtime: Optional[str] = None
) -> Tuple[str, ...]:
    lines = (f"    platform: {triple}", f"    size:     {size:,} bytes", f"    sha256:   {sha256}")
    return lines + ((f"    runtime:  {runtime}",) if runtime else ())


@rule(desc="Package an encoderfile", level=LogLevel.DEBUG)
async def package_encoderfile(
    field_set: EncoderfileFieldSet, encoderfile: EncoderfileSubsystem, platform: Platform
) -> BuiltPackage:
    outputs = field_set.outputs(encoderfile, platform)
    built = await MultiGet(
        Get(BuiltEncoderfile, BuildEncoderfileRequest(field_set.address, triple, path))
        for triple, path in outputs.items()
    )
    digest = await Get(Digest, MergeDigests(b.digest for b in built))
    return BuiltPackage(
        digest,
        tuple(
            BuiltPackageArtifact(
                b.path, extra_log_lines=_log_lines(b.triple, b.size, b.sha256, b.base_origin)
            )
            for b in built
        ),
    )


@rule(desc="Package an encoderfile runtime", level=LogLevel.DEBUG)
async def package_encoderfile_runtime(
    field_set: EncoderfileRuntimeFieldSet, platform: Platform
) -> BuiltPackage:
    values = field_set.platforms.value or (HOST, *(field_set.complete_platforms.value or {}))
    triples = resolve_platforms(values, platform)
    runtimes = await MultiGet(
        Get(RuntimePex, RuntimePexRequest(field_set.address, triple)) for triple in triples
    )
    directory = field_set.output_path.directory()
    digest = await Get(Digest, MergeDigests(r.digest for r in runtimes))
    if directory:
        digest = await Get(Digest, AddPrefix(digest, directory))
    entries = await Get(DigestEntries, Digest, digest)
    by_path = {e.path: e for e in entries if isinstance(e, FileEntry)}
    artifacts = []
    for r in runtimes:
        path = f"{directory}/{r.filename}" if directory else r.filename
        fd = by_path[path].file_digest
        artifacts.append(
            BuiltPackageArtifact(
                path,
                extra_log_lines=_log_lines(r.triple, fd.serialized_bytes_length, fd.fingerprint),
            )
        )
    return BuiltPackage(digest, tuple(artifacts))


def rules():
    return [
        *collect_rules(),
        UnionRule(PackageFieldSet, EncoderfileFieldSet),
        UnionRule(PackageFieldSet, EncoderfileRuntimeFieldSet),
    ]
