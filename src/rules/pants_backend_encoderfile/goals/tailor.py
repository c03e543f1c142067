"""`pants tailor`: a directory holding model.onnx, tokenizer.json and config.json (none owned
by a target yet) gets a `files` target for them and an `encoderfile` target."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pants.core.goals.tailor import (
    AllOwnedSources,
    PutativeTarget,
    PutativeTargets,
    PutativeTargetsRequest,
)
from pants.core.target_types import FilesGeneratorTarget
from pants.engine.fs import DigestContents, PathGlobs, Paths
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from pants_backend_encoderfile.target_types import (
    CONFIG_JSON,
    MODEL_ONNX,
    TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON,
    EncoderfileTarget,
)

MODEL_FILES_TARGET = "model-files"


@dataclass(frozen=True)
class PutativeEncoderfileTargetsRequest(PutativeTargetsRequest):
    pass


def guess_model_type(config: bytes) -> str:
    """A guess from HF `architectures` (`BertForTokenClassification`, ...).

    >>> guess_model_type(b'{"architectures": ["BertForSequenceClassification"]}')
    'sequence_classification'
    """
    try:
        architectures = json.loads(config).get("architectures") or []
    except (ValueError, AttributeError):
        architectures = []
    joined = " ".join(str(a) for a in architectures)
    if "TokenClassification" in joined:
        return "token_classification"
    if "SequenceClassification" in joined:
        return "sequence_classification"
    return "embedding"


@rule(level=LogLevel.DEBUG, desc="Determine candidate encoderfile targets to create")
async def find_putative_encoderfile_targets(
    request: PutativeEncoderfileTargetsRequest, all_owned_sources: AllOwnedSources
) -> PutativeTargets:
    found = await Get(Paths, PathGlobs, request.path_globs(MODEL_ONNX))
    owned = set(all_owned_sources)
    candidates = []
    for onnx in found.files:
        if onnx in owned:
            continue
        d = os.path.dirname(onnx)
        needed = [os.path.join(d, n) for n in (TOKENIZER_JSON, CONFIG_JSON)]
        siblings = await Get(Paths, PathGlobs(needed))
        if len(siblings.files) == len(needed) and not owned.intersection(siblings.files):
            candidates.append(d)
    if not candidates:
        return PutativeTargets()
    configs = await Get(DigestContents, PathGlobs(os.path.join(d, CONFIG_JSON) for d in candidates))
    config_by_dir = {os.path.dirname(c.path): c.content for c in configs}
    pts = []
    for d in candidates:
        sources = [MODEL_ONNX, TOKENIZER_JSON, CONFIG_JSON]
        tc = await Get(Paths, PathGlobs([os.path.join(d, TOKENIZER_CONFIG_JSON)]))
        if tc.files:
            sources.append(TOKENIZER_CONFIG_JSON)
        triggering = [os.path.join(d, s) for s in sources]
        pts.append(
            PutativeTarget.for_target_type(
                FilesGeneratorTarget,
                path=d,
                name=MODEL_FILES_TARGET,
                triggering_sources=triggering,
                kwargs={"sources": tuple(sources)},
            )
        )
        pts.append(
            PutativeTarget.for_target_type(
                EncoderfileTarget,
                path=d,
                name=os.path.basename(d) or "model",
                triggering_sources=(),
                kwargs={
                    "model_type": guess_model_type(config_by_dir.get(d, b"{}")),
                    "model_files": (f":{MODEL_FILES_TARGET}",),
                },
            )
        )
    return PutativeTargets(pts)


def rules():
    return [
        *collect_rules(),
        UnionRule(PutativeTargetsRequest, PutativeEncoderfileTargetsRequest),
    ]
