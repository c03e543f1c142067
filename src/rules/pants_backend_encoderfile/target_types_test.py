"""Targets parse, defaults apply, and each bad value fails with the field, address and fix."""

from __future__ import annotations

import pytest
from pants.core.target_types import FilesGeneratorTarget, FileTarget
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from pants_backend_encoderfile.target_types import (
    EncoderfileModelNameField,
    EncoderfileOutputPathField,
    EncoderfilePadStrategyField,
    EncoderfilePlatformsField,
    EncoderfileRuntimeCompletePlatformsField,
    EncoderfileTestExpectedLabelsField,
    EncoderfileTestToleranceField,
    target_types,
)

GOOD = """
files(name="model-files", sources=["*.onnx", "*.json"])
encoderfile(name="m", model_type="embedding", model_files=[":model-files"])
"""


@pytest.fixture
def rule_runner() -> RuleRunner:
    return RuleRunner(target_types=[*target_types(), FileTarget, FilesGeneratorTarget])


def write(rule_runner: RuleRunner, build: str) -> None:
    rule_runner.write_files(
        {
            "models/x/BUILD": build,
            "models/x/model.onnx": "w",
            "models/x/config.json": "{}",
            "models/x/tokenizer.json": "{}",
        }
    )


def error_of(rule_runner: RuleRunner, build: str, name: str = "m") -> str:
    write(rule_runner, build)
    with pytest.raises(ExecutionError) as e:
        rule_runner.get_target(Address("models/x", target_name=name))
    return str(e.value)


def test_defaults(rule_runner: RuleRunner) -> None:
    write(rule_runner, GOOD)
    tgt = rule_runner.get_target(Address("models/x", target_name="m"))
    assert tgt[EncoderfileModelNameField].value_or_default() == "m"
    assert tgt[EncoderfilePlatformsField].value is None
    out = tgt[EncoderfileOutputPathField]
    assert dict(out.for_platforms(("x86_64-unknown-linux-gnu",))) == {
        "x86_64-unknown-linux-gnu": "models.x/m.encoderfile"
    }
    assert dict(out.for_platforms(("x86_64-unknown-linux-gnu", "aarch64-apple-darwin"))) == {
        "x86_64-unknown-linux-gnu": "models.x/m.x86_64-unknown-linux-gnu.encoderfile",
        "aarch64-apple-darwin": "models.x/m.aarch64-apple-darwin.encoderfile",
    }


def test_all_fields(rule_runner: RuleRunner) -> None:
    write(
        rule_runner,
        """
file(name="w", source="model.onnx")
file(name="t", source="tokenizer.json")
file(name="c", source="config.json")
encoderfile(
    name="m", model_type="sequence_classification", model=":w", tokenizer=":t", model_config=":c",
    platforms=["host", "aarch64-apple-darwin"], pad_strategy=64, max_length=128, stride=16,
    truncation_side="left", truncation_strategy="only_first", model_name="my-model.v2",
    output_path="out/x.encoderfile",
)
encoderfile_test(name="t1", encoderfile=":m", inputs=["a", "b"], expected_labels=["X", ["Y"]],
                 tolerance=1)
encoderfile_runtime(name="rt", dependencies=[":w"],
                    complete_platforms={"aarch64-apple-darwin": ":c"})
""",
    )
    tgt = rule_runner.get_target(Address("models/x", target_name="m"))
    assert tgt[EncoderfilePadStrategyField].value == 64
    assert tgt[EncoderfilePlatformsField].value == ("host", "aarch64-apple-darwin")
    assert tgt[EncoderfileOutputPathField].stem() == "out/x"
    t1 = rule_runner.get_target(Address("models/x", target_name="t1"))
    assert t1[EncoderfileTestExpectedLabelsField].value == ("X", ("Y",))
    assert t1[EncoderfileTestToleranceField].value == 1.0
    rt = rule_runner.get_target(Address("models/x", target_name="rt"))
    cp = rt[EncoderfileRuntimeCompletePlatformsField]
    assert dict(cp.value or {}) == {"aarch64-apple-darwin": ":c"}
    assert cp.for_triple("x86_64-unknown-linux-gnu") is None


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            'model_type="embeddings"',
            "The 'model_type' field in target models/x:m must be one of embedding, "
            "sentence_embedding, sequence_classification, token_classification, but was "
            "'embeddings'.",
        ),
        (
            'model_type="embedding", platforms=["x86_64-pc-windows-msvc"]',
            "The 'platforms' field in target models/x:m has unknown platform(s) "
            "'x86_64-pc-windows-msvc'; valid platforms: host, x86_64-unknown-linux-gnu",
        ),
        (
            'model_type="embedding", pad_strategy="longest"',
            "The 'pad_strategy' field in target models/x:m must be 'batch_longest' or a positive "
            "integer (a fixed length), but was 'longest'.",
        ),
        (
            'model_type="embedding", pad_strategy=0',
            "The 'pad_strategy' field in target models/x:m must be 'batch_longest'",
        ),
        (
            'model_type="embedding", truncation_side="middle"',
            "The 'truncation_side' field in target models/x:m must be one of left, right, but "
            "was 'middle'.",
        ),
        (
            'model_type="embedding", max_length=0',
            "The 'max_length' field in target models/x:m must be an integer >= 1, but was 0.",
        ),
        (
            'model_type="embedding", stride=-1',
            "The 'stride' field in target models/x:m must be an integer >= 0, but was -1.",
        ),
        (
            'model_type="embedding", model_name="a b"',
            "The 'model_name' field in target models/x:m must be letters, digits",
        ),
        (
            'model_type="embedding", model=":a", tokenizer=[":b"]',
            "The 'tokenizer' field in target models/x:m must be a target address, as a string",
        ),
        (
            'model_type="embedding", lua_libs=["net"]',
            "The 'lua_libs' field in target models/x:m has unknown librar(y/ies) 'net'",
        ),
    ],
)
def test_field_errors(rule_runner: RuleRunner, extra: str, expected: str) -> None:
    build = 'files(name="model-files", sources=["*"])\nencoderfile(name="m", ' + (
        f'model_files=[":model-files"], {extra})'
    )
    assert expected in error_of(rule_runner, build)


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            'encoderfile(name="m", model_type="embedding", model=":w")',
            "The `encoderfile` target models/x:m needs its model files: set `model_files=[...]` "
            "(a model directory's `files` target) or `tokenizer`, `model_config`.",
        ),
        (
            'encoderfile(name="m", model_type="embedding", model_files=[":f"], max_length=8, '
            "stride=8)",
            "has `stride=8` >= `max_length=8`",
        ),
        (
            'encoderfile(name="m", model_type="embedding", model_files=[":f"], max_length=8, '
            "pad_strategy=16)",
            "pads to 16 tokens (`pad_strategy=16`) but truncates at `max_length=8`",
        ),
        (
            'encoderfile(name="m", model_type="embedding", model_files=[":f"], lua_libs=["os"])',
            "sets `lua_libs` without a `transform`",
        ),
        (
            'encoderfile_test(name="m", encoderfile=":e", inputs=["a"], '
            'expected_labels=["A", "B"])',
            "has 1 input(s) but 2 expected label(s)",
        ),
        (
            'encoderfile_runtime(name="m", complete_platforms={"x86_64-linux": ":c"})',
            "The 'complete_platforms' field in target models/x:m has unknown target triple(s) "
            "'x86_64-linux'",
        ),
        (
            'encoderfile_runtime(name="m", entry_point="encoderfile.runtime.main")',
            "must look like 'package.module:function'",
        ),
    ],
)
def test_target_errors(rule_runner: RuleRunner, body: str, expected: str) -> None:
    assert expected in error_of(rule_runner, body)


def test_field_type_hints_evaluate_under_pants_python() -> None:
    """`pants help <target>` evaluates every `compute_value` hint (no `X | None` on 3.9)."""
    from typing import get_type_hints

    for target_type in target_types():
        for field in target_type.core_fields:
            get_type_hints(field.compute_value)
