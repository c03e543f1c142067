"""Model files are found by role; a missing or ambiguous file fails naming field and fix."""

from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from pants_backend_encoderfile.testutil import encoderfile_rule_runner
from pants_backend_encoderfile.util_rules.model_files import ModelFiles, ModelFilesRequest

FILES = {
    "m/model.onnx": "w",
    "m/config.json": "{}",
    "m/tokenizer.json": "{}",
    "m/tokenizer_config.json": "{}",
    "m/vocab.txt": "a",
    "other/alt.onnx": "w2",
    "other/t.lua": "function Postprocess(x) return x end",
}
OTHER_BUILD = """
files(name="o", sources=["*"])
file(name="alt", source="alt.onnx")
file(name="lua", source="t.lua")
"""


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    return encoderfile_rule_runner([QueryRule(ModelFiles, [ModelFilesRequest])])


def collect(rule_runner: RuleRunner, build: str) -> ModelFiles:
    rule_runner.write_files(
        {
            **FILES,
            "m/BUILD": build,
            "other/BUILD": OTHER_BUILD,
        }
    )
    return rule_runner.request(ModelFiles, [ModelFilesRequest(Address("m", target_name="e"))])


def test_model_directory(rule_runner: RuleRunner) -> None:
    mf = collect(
        rule_runner,
        'files(name="f", sources=["*"])\n'
        'encoderfile(name="e", model_type="embedding", model_files=[":f"])',
    )
    assert dict(mf.paths) == {
        "model_config": "m/config.json",
        "tokenizer": "m/tokenizer.json",
        "tokenizer_config": "m/tokenizer_config.json",
        "weights": "m/model.onnx",
    }


def test_single_fields_override(rule_runner: RuleRunner) -> None:
    mf = collect(
        rule_runner,
        'files(name="f", sources=["*"])\n'
        'encoderfile(name="e", model_type="embedding", model_files=[":f"], '
        'model="//other:alt", transform="//other:lua")',
    )
    assert mf.paths["weights"] == "other/alt.onnx"
    assert mf.paths["transform"] == "other/t.lua"


def test_missing_model_file(rule_runner: RuleRunner) -> None:
    with pytest.raises(ExecutionError) as e:
        collect(
            rule_runner,
            'files(name="f", sources=["*.json"])\n'
            'encoderfile(name="e", model_type="embedding", model_files=[":f"])',
        )
    assert (
        "The 'model_files' field in target m:e lacks model.onnx (files found: m/config.json, "
        "m/tokenizer.json, m/tokenizer_config.json). Add the file(s) to the `files` target, or "
        "set `model=`."
    ) in str(e.value)


def test_single_field_needs_one_file(rule_runner: RuleRunner) -> None:
    with pytest.raises(ExecutionError) as e:
        collect(
            rule_runner,
            'files(name="f", sources=["*"])\n'
            'encoderfile(name="e", model_type="embedding", model_files=[":f"], model="//other:o")',
        )
    assert (
        "The 'model' field in target m:e must point at a `file` or `resource` target owning "
        "exactly one file, but //other:o has 3 files"
    ) in str(e.value)
