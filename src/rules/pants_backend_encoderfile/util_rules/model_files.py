"""Collect an `encoderfile` target's model files (weights, tokenizer, config, ...) by role."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Tuple

from pants.core.target_types import FileSourceField, ResourceSourceField
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.fs import Digest, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    HydratedSources,
    HydrateSourcesRequest,
    InvalidFieldException,
    SourcesField,
    Target,
    Targets,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_encoderfile.target_types import (
    CONFIG_JSON,
    MODEL_ONNX,
    TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON,
    EncoderfileModelConfigField,
    EncoderfileModelField,
    EncoderfileModelFilesField,
    EncoderfileTokenizerConfigField,
    EncoderfileTokenizerField,
    EncoderfileTransformField,
    _SingleAddressField,
)

# Roles, keyed by the file name that fills them in `model_files`.
WEIGHTS = "weights"
TOKENIZER = "tokenizer"
MODEL_CONFIG = "model_config"
TOKENIZER_CONFIG = "tokenizer_config"
TRANSFORM = "transform"
ROLE_BY_FILENAME = {
    MODEL_ONNX: WEIGHTS,
    TOKENIZER_JSON: TOKENIZER,
    CONFIG_JSON: MODEL_CONFIG,
    TOKENIZER_CONFIG_JSON: TOKENIZER_CONFIG,
}
REQUIRED_ROLES = (WEIGHTS, TOKENIZER, MODEL_CONFIG)
_FIELD_BY_ROLE = (
    (WEIGHTS, EncoderfileModelField),
    (TOKENIZER, EncoderfileTokenizerField),
    (MODEL_CONFIG, EncoderfileModelConfigField),
    (TOKENIZER_CONFIG, EncoderfileTokenizerConfigField),
    (TRANSFORM, EncoderfileTransformField),
)


@dataclass(frozen=True)
class ModelFilesRequest:
    address: Address  # of an `encoderfile` target


@dataclass(frozen=True)
class ModelFiles:
    digest: Digest
    paths: FrozenDict[str, str]  # role -> path in `digest`


def _hydrate_request(tgt: Target) -> HydrateSourcesRequest:
    return HydrateSourcesRequest(
        tgt.get(SourcesField),
        for_sources_types=(FileSourceField, ResourceSourceField),
        enable_codegen=True,  # e.g. `file(source=http_source(...))` downloads
    )


def _files(hydrated: Iterable[HydratedSources]) -> Tuple[str, ...]:
    return tuple(f for h in hydrated for f in h.snapshot.files)


@rule(desc="Collect encoderfile model files", level=LogLevel.DEBUG)
async def collect_model_files(request: ModelFilesRequest) -> ModelFiles:
    wrapped = await Get(
        WrappedTarget, WrappedTargetRequest(request.address, description_of_origin="<infallible>")
    )
    tgt = wrapped.target
    dir_field = tgt[EncoderfileModelFilesField]
    single_fields: Tuple[Tuple[str, _SingleAddressField], ...] = tuple(
        (role, tgt[cls]) for role, cls in _FIELD_BY_ROLE if tgt[cls].value
    )
    all_inputs = (dir_field, *(field for _, field in single_fields))
    targets_per_field = await MultiGet(
        Get(Targets, UnparsedAddressInputs, f.to_unparsed_address_inputs()) for f in all_inputs
    )
    flat = [tgt for targets in targets_per_field for tgt in targets]
    hydrated_flat = await MultiGet(
        Get(HydratedSources, HydrateSourcesRequest, _hydrate_request(t)) for t in flat
    )
    grouped = []
    i = 0
    for targets in targets_per_field:
        grouped.append(tuple(hydrated_flat[i : i + len(targets)]))
        i += len(targets)
    dir_sources, single_sources = grouped[0], grouped[1:]

    paths: dict = {}
    if dir_field.value:
        for path in _files(dir_sources):
            role = ROLE_BY_FILENAME.get(os.path.basename(path))
            if role is None:
                continue  # other files (vocab.txt, README, ...) may share the directory
            if role in paths:
                raise InvalidFieldException(
                    f"The {dir_field.alias!r} field in target {tgt.address} has two "
                    f"{os.path.basename(path)} files: {paths[role]} and {path}; keep one, or "
                    f"pick one with the `{dict(_FIELD_BY_ROLE)[role].alias}` field."
                )
            paths[role] = path
    for (role, field), hydrated in zip(single_fields, single_sources):
        files = _files(hydrated)
        if len(files) != 1:
            found = f"{len(files)} files ({', '.join(files)})" if files else "no file"
            raise InvalidFieldException(
                f"The {field.alias!r} field in target {tgt.address} must point at a `file` or "
                f"`resource` target owning exactly one file, but {field.spec} has {found}."
            )
        paths[role] = files[0]

    missing = [r for r in REQUIRED_ROLES if r not in paths]
    if missing:
        names = {v: k for k, v in ROLE_BY_FILENAME.items()}
        raise InvalidFieldException(
            f"The {dir_field.alias!r} field in target {tgt.address} lacks "
            f"{', '.join(names[r] for r in missing)} (files found: "
            f"{', '.join(_files(dir_sources)) or 'none'}). Add the file(s) to the `files` target, "
            f"or set {', '.join(f'`{dict(_FIELD_BY_ROLE)[r].alias}=`' for r in missing)}."
        )
    digest = await Get(Digest, MergeDigests(h.snapshot.digest for h in hydrated_flat))
    return ModelFiles(digest, FrozenDict(sorted(paths.items())))


def rules():
    return collect_rules()
