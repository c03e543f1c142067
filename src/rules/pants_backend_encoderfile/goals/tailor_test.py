"""`pants tailor` suggests a `files` + `encoderfile` pair for an unowned model directory."""

from __future__ import annotations

from pants.core.goals.tailor import PutativeTarget, PutativeTargets
from pants.core.target_types import FilesGeneratorTarget
from pants.engine.rules import QueryRule

from pants_backend_encoderfile.goals.tailor import (
    PutativeEncoderfileTargetsRequest,
    guess_model_type,
)
from pants_backend_encoderfile.target_types import EncoderfileTarget
from pants_backend_encoderfile.testutil import encoderfile_rule_runner


def test_guess_model_type() -> None:
    assert guess_model_type(b'{"architectures": ["BertForTokenClassification"]}') == (
        "token_classification"
    )
    assert guess_model_type(b'{"architectures": ["BertModel"]}') == "embedding"
    assert guess_model_type(b"not json") == "embedding"


def test_tailor() -> None:
    rule_runner = encoderfile_rule_runner(
        [QueryRule(PutativeTargets, [PutativeEncoderfileTargetsRequest])]
    )
    rule_runner.write_files(
        {
            "models/sst/model.onnx": "w",
            "models/sst/tokenizer.json": "{}",
            "models/sst/config.json": '{"architectures": ["BertForSequenceClassification"]}',
            "models/incomplete/model.onnx": "w",
            "models/owned/model.onnx": "w",
            "models/owned/tokenizer.json": "{}",
            "models/owned/config.json": "{}",
            "models/owned/BUILD": 'file(name="w", source="model.onnx")',
        }
    )
    result = rule_runner.request(
        PutativeTargets,
        [
            PutativeEncoderfileTargetsRequest(("models/sst", "models/incomplete", "models/owned")),
        ],
    )
    assert result == PutativeTargets(
        [
            PutativeTarget.for_target_type(
                FilesGeneratorTarget,
                path="models/sst",
                name="model-files",
                triggering_sources=[
                    "models/sst/model.onnx",
                    "models/sst/tokenizer.json",
                    "models/sst/config.json",
                ],
                kwargs={"sources": ("model.onnx", "tokenizer.json", "config.json")},
            ),
            PutativeTarget.for_target_type(
                EncoderfileTarget,
                path="models/sst",
                name="sst",
                triggering_sources=(),
                kwargs={
                    "model_type": "sequence_classification",
                    "model_files": (":model-files",),
                },
            ),
        ]
    )
