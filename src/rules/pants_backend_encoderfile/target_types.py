"""The `encoderfile`, `encoderfile_runtime` and `encoderfile_test` targets and their fields.

Fields validate themselves when a BUILD file is parsed (`compute_value`); problems that involve
two fields are caught by `Target.validate()`. Problems that need the files themselves (a `model`
target that owns no file, a directory missing `tokenizer.json`) are raised by the rules, which
name the field and the target the same way.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Iterable, Optional, Tuple, Union

from pants.core.goals.package import OutputPathField
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    AsyncFieldMixin,
    Dependencies,
    Field,
    FloatField,
    IntField,
    InvalidFieldException,
    InvalidFieldTypeException,
    InvalidTargetException,
    SpecialCasedDependencies,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.frozendict import FrozenDict
from pants.util.strutil import help_text, softwrap

from pants_backend_encoderfile.platforms import HOST, PLATFORM_CHOICES, TRIPLES

# Pants 2.17's `help` evaluates `compute_value` type hints under Python 3.9, where `X | None`
# raises: keep `Optional[...]` here.
# ruff: noqa: UP007, UP045

# The model types `encoderfile build` supports (the text types of format v1).
MODEL_TYPES: Tuple[str, ...] = (
    "embedding",
    "sentence_embedding",
    "sequence_classification",
    "token_classification",
)
CLASSIFIER_TYPES: Tuple[str, ...] = ("sequence_classification", "token_classification")
# The Lua libraries a transform may open (as the reference runtime).
LUA_LIBS: Tuple[str, ...] = (
    "coroutine",
    "table",
    "io",
    "os",
    "string",
    "utf8",
    "math",
    "package",
    "debug",
)
TRUNCATION_SIDES: Tuple[str, ...] = ("left", "right")
TRUNCATION_STRATEGIES: Tuple[str, ...] = ("longest_first", "only_first", "only_second")
BATCH_LONGEST = "batch_longest"
DEFAULT_RUNTIME_ENTRY_POINT = "encoderfile.runtime.main:main"

# File names recognised in `model_files` (the layout `encoderfile build` uses for a directory).
MODEL_ONNX = "model.onnx"
TOKENIZER_JSON = "tokenizer.json"
CONFIG_JSON = "config.json"
TOKENIZER_CONFIG_JSON = "tokenizer_config.json"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _fail(cls: type[Field], address: Address, message: str) -> InvalidFieldException:
    alias = getattr(cls, "alias", cls.__name__)
    return InvalidFieldException(f"The {alias!r} field in target {address} {softwrap(message)}")


# -----------------------------------------------------------------------------------------------
# Address-valued fields
# -----------------------------------------------------------------------------------------------


class _SingleAddressField(SpecialCasedDependencies):
    """One address, written as a string; it shows up in `pants dependencies` like `archive`'s
    `files=` (a SpecialCasedDependencies), but is not a normal dependency of the target."""

    expected_type_description = "a target address, as a string (e.g. `':model'`)"

    @classmethod
    def compute_value(  # type: ignore[override]
        cls, raw_value: Optional[Union[str, Iterable[str]]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        if raw_value is None:
            return super().compute_value(None, address)
        if not isinstance(raw_value, str):
            raise InvalidFieldTypeException(
                address, cls.alias, raw_value, expected_type=cls.expected_type_description
            )
        if not raw_value.strip():
            raise _fail(cls, address, "is an empty string; give a target address such as ':model'.")
        return (raw_value.strip(),)

    @property
    def spec(self) -> Optional[str]:
        return self.value[0] if self.value else None


class EncoderfileModelFilesField(SpecialCasedDependencies):
    alias = "model_files"
    help = help_text(
        f"""
        `file`/`files`/`resource`/`resources` targets holding a model directory.

        Files are recognised by name: `{MODEL_ONNX}` (the ONNX weights), `{TOKENIZER_JSON}`,
        `{CONFIG_JSON}` and, when present, `{TOKENIZER_CONFIG_JSON}` -- the layout
        `encoderfile build` uses for a model directory. A field such as `model=` or `tokenizer=`
        overrides the file of that role. Either this field or all three of `model`, `tokenizer`
        and `model_config` must be set.

        Example:

            files(name="model-files", sources=["model.onnx", "*.json"])
            encoderfile(name="m", model_type="sentence_embedding", model_files=[":model-files"])
        """
    )


class EncoderfileModelField(_SingleAddressField):
    alias = "model"
    help = help_text(
        f"""
        The address of a `file` or `resource` target holding the ONNX weights.

        The target must own exactly one file. It may be a file in the repository or an
        `http_source` (downloaded by Pants and pinned by its sha256). Overrides `{MODEL_ONNX}`
        from `model_files`.

        Example:

            file(name="weights", source=http_source(url="https://example.com/m.onnx", len=123,
                 sha256="..."))
            encoderfile(name="m", model_type="embedding", model=":weights", ...)
        """
    )


class EncoderfileTokenizerField(_SingleAddressField):
    alias = "tokenizer"
    help = help_text(
        f"""
        The address of a `file`/`resource` target holding the HF `tokenizer.json`.

        Overrides `{TOKENIZER_JSON}` from `model_files`.

        Example:

            encoderfile(..., tokenizer=":tokenizer")
        """
    )


class EncoderfileModelConfigField(_SingleAddressField):
    alias = "model_config"
    help = help_text(
        f"""
        The address of a `file`/`resource` target holding the HF model `config.json`.

        Classifiers take their labels (`id2label`) from it. Overrides `{CONFIG_JSON}` from
        `model_files`.

        Example:

            encoderfile(..., model_config=":config")
        """
    )


class EncoderfileTokenizerConfigField(_SingleAddressField):
    alias = "tokenizer_config"
    help = help_text(
        f"""
        The address of a `file`/`resource` target holding `tokenizer_config.json` (optional).

        When given, padding and truncation start from it (see `encoderfile build`); the
        tokenizer fields of this target (`pad_strategy`, `max_length`, ...) still override.
        Overrides `{TOKENIZER_CONFIG_JSON}` from `model_files`.

        Example:

            encoderfile(..., tokenizer_config=":tokenizer-config")
        """
    )


class EncoderfileTransformField(_SingleAddressField):
    alias = "transform"
    help = help_text(
        """
        The address of a `file`/`resource` target holding a Lua transform (optional).

        The script defines `Postprocess(arr[, mask])`; `encoderfile build` checks it with a dry
        run and embeds it.

        Example:

            file(name="normalize", source="normalize.lua")
            encoderfile(..., transform=":normalize", lua_libs=["table", "math"])
        """
    )


class EncoderfileRuntimeField(_SingleAddressField):
    alias = "runtime"
    help = help_text(
        """
        The `encoderfile_runtime` target that builds the base binary (optional).

        Unset: the base binary is downloaded, pinned by sha256, as configured by
        `[encoderfile-runtime-release]` (`version`, `known_versions`, `url_template`). Set: the
        runtime is built from the repository's sources for each platform of this target.

        Example:

            encoderfile(..., runtime="//src/python/encoderfile/runtime:runtime")
        """
    )


# -----------------------------------------------------------------------------------------------
# Value fields of `encoderfile`
# -----------------------------------------------------------------------------------------------


class EncoderfileModelTypeField(StringField):
    alias = "model_type"
    required = True
    value: str
    help = help_text(
        f"""
        What the model computes; selects the inference pipeline and the response shape.

        One of: {', '.join(MODEL_TYPES)}.

        Example:

            encoderfile(..., model_type="sentence_embedding")
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        if value not in MODEL_TYPES:
            raise _fail(
                cls,
                address,
                f"must be one of {', '.join(MODEL_TYPES)}, but was {value!r}. Set "
                f"`model_type=` to the kind of model the ONNX file holds.",
            )
        return value


class EncoderfileModelNameField(StringField, AsyncFieldMixin):
    alias = "model_name"
    help = help_text(
        """
        The model name embedded in the file and reported as `model_id` (default: the target's
        name).

        Letters, digits, `.`, `_`, `+` and `-`; no path separators.

        Example:

            encoderfile(name="minilm", model_name="all-MiniLM-L6-v2", ...)
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and not _NAME_RE.match(value):
            raise _fail(
                cls,
                address,
                f"must be letters, digits, '.', '_', '+' or '-' (starting with a letter or "
                f"digit), but was {value!r}. Choose a name without spaces or '/'.",
            )
        return value

    def value_or_default(self) -> str:
        return self.value or self.address.target_name


class EncoderfileVersionField(StringField):
    alias = "version"
    help = help_text(
        """
        The model version embedded in the file (default: `[encoderfile-build].default_version`).

        Example:

            encoderfile(..., version="1.2.0")
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise _fail(cls, address, f"must be a version without spaces, but was {value!r}.")
        return value


class EncoderfilePlatformsField(StringSequenceField):
    alias = "platforms"
    help = help_text(
        f"""
        The target triples to build for; one file per platform
        (default: `[encoderfile-build].default_platforms`).

        Each is one of {', '.join(TRIPLES)}, or `{HOST}` for the machine running Pants. With
        one platform the output is `<name>.encoderfile`; with several,
        `<name>.<triple>.encoderfile`.

        Example:

            encoderfile(..., platforms=["x86_64-unknown-linux-gnu", "aarch64-apple-darwin"])
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        if value is None:
            return None
        if not value:
            raise _fail(cls, address, "is empty; list at least one platform, or leave it unset.")
        bad = [v for v in value if v not in PLATFORM_CHOICES]
        if bad:
            raise _fail(
                cls,
                address,
                f"has unknown platform(s) {', '.join(repr(b) for b in bad)}; valid platforms: "
                f"{', '.join(PLATFORM_CHOICES)}.",
            )
        return value


class EncoderfileLuaLibsField(StringSequenceField):
    alias = "lua_libs"
    help = help_text(
        f"""
        The Lua libraries the transform may open (default: table, string, math).

        Allowed: {', '.join(LUA_LIBS)}.

        Example:

            encoderfile(..., transform=":t", lua_libs=["table", "math"])
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        bad = [v for v in value or () if v not in LUA_LIBS]
        if bad:
            raise _fail(
                cls,
                address,
                f"has unknown librar(y/ies) {', '.join(repr(b) for b in bad)}; allowed: "
                f"{', '.join(LUA_LIBS)}.",
            )
        return value


class EncoderfilePadStrategyField(Field):
    alias = "pad_strategy"
    default = None
    value: Optional[Union[str, int]]
    help = help_text(
        f"""
        Tokenizer padding: `"{BATCH_LONGEST}"` (pad to the longest input of a batch) or an
        integer N (pad every input to exactly N tokens).

        Overrides the padding in `tokenizer.json` / `tokenizer_config.json`.

        Example:

            encoderfile(..., pad_strategy=128)
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Union[str, int]], address: Address
    ) -> Optional[Union[str, int]]:
        value = super().compute_value(raw_value, address)
        if value is None or value == BATCH_LONGEST:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise _fail(
            cls,
            address,
            f"must be {BATCH_LONGEST!r} or a positive integer (a fixed length), but was "
            f"{value!r}.",
        )


class _ChoiceField(StringField):
    choices: ClassVar[Tuple[str, ...]]

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and value not in cls.choices:
            raise _fail(
                cls, address, f"must be one of {', '.join(cls.choices)}, but was {value!r}."
            )
        return value


class EncoderfileTruncationSideField(_ChoiceField):
    alias = "truncation_side"
    choices = TRUNCATION_SIDES
    help = help_text(
        """
        Which end of a too-long input the tokenizer cuts: `left` or `right`.

        Example:

            encoderfile(..., truncation_side="left")
        """
    )


class EncoderfileTruncationStrategyField(_ChoiceField):
    alias = "truncation_strategy"
    choices = TRUNCATION_STRATEGIES
    help = help_text(
        f"""
        How the tokenizer truncates pairs: {', '.join(TRUNCATION_STRATEGIES)}.

        Example:

            encoderfile(..., truncation_strategy="longest_first")
        """
    )


class _PositiveIntField(IntField):
    minimum: ClassVar[int] = 1

    @classmethod
    def compute_value(cls, raw_value: Optional[int], address: Address) -> Optional[int]:
        value = super().compute_value(raw_value, address)
        if value is not None and value < cls.minimum:
            raise _fail(cls, address, f"must be an integer >= {cls.minimum}, but was {value!r}.")
        return value


class EncoderfileMaxLengthField(_PositiveIntField):
    alias = "max_length"
    help = help_text(
        """
        The tokenizer's truncation length, in tokens.

        Example:

            encoderfile(..., max_length=256)
        """
    )


class EncoderfileStrideField(_PositiveIntField):
    alias = "stride"
    minimum = 0
    help = help_text(
        """
        The tokenizer's truncation stride (overlap of overflowing windows), in tokens.

        Must be smaller than `max_length` when both are set.

        Example:

            encoderfile(..., max_length=256, stride=32)
        """
    )


class EncoderfileOutputPathField(OutputPathField):
    help = help_text(
        """
        Where the built file goes, relative to `--distdir` (e.g. `dist/`).

        Default: `<path.to.BUILD.dir>/<target name>.encoderfile`. With several platforms the
        triple is inserted before the extension: `minilm.x86_64-unknown-linux-gnu.encoderfile`.

        Example:

            encoderfile(..., output_path="models/minilm.encoderfile")
        """
    )

    def stem(self) -> str:
        """The output path without its `.encoderfile` extension."""
        path = self.value_or_default(file_ending="encoderfile")
        return path[: -len(".encoderfile")] if path.endswith(".encoderfile") else path

    def for_platforms(self, triples: Tuple[str, ...]) -> FrozenDict[str, str]:
        """One output path per triple: the plain path for a single platform."""
        if len(triples) == 1:
            return FrozenDict({triples[0]: f"{self.stem()}.encoderfile"})
        return FrozenDict({t: f"{self.stem()}.{t}.encoderfile" for t in triples})


class EncoderfileTarget(Target):
    alias = "encoderfile"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        EncoderfileModelFilesField,
        EncoderfileModelField,
        EncoderfileTokenizerField,
        EncoderfileModelConfigField,
        EncoderfileTokenizerConfigField,
        EncoderfileTransformField,
        EncoderfileLuaLibsField,
        EncoderfileModelTypeField,
        EncoderfileModelNameField,
        EncoderfileVersionField,
        EncoderfilePlatformsField,
        EncoderfileRuntimeField,
        EncoderfilePadStrategyField,
        EncoderfileTruncationSideField,
        EncoderfileTruncationStrategyField,
        EncoderfileMaxLengthField,
        EncoderfileStrideField,
        EncoderfileOutputPathField,
    )
    help = help_text(
        """
        A single-file executable serving an ONNX encoder model (`pants package`, `pants run`).

        The target has no sources of its own: it points at `file`/`resource` targets holding the
        model (`model_files=`, or `model=`, `tokenizer=`, `model_config=` one by one) and
        appends them to a runtime base binary, one file per platform. `pants run` builds the
        host's file and runs it: `pants run //models/minilm:minilm -- infer "some text"`.

        Example:

            files(name="model-files", sources=["model.onnx", "*.json"])
            encoderfile(
                name="minilm",
                model_type="sentence_embedding",
                model_files=[":model-files"],
                platforms=["host", "aarch64-apple-darwin"],
            )
        """
    )

    def validate(self) -> None:
        if not self[EncoderfileModelFilesField].value:
            missing = [
                f.alias
                for f in (
                    EncoderfileModelField,
                    EncoderfileTokenizerField,
                    EncoderfileModelConfigField,
                )
                if not self[f].value
            ]
            if missing:
                raise InvalidTargetException(
                    f"The `{self.alias}` target {self.address} needs its model files: set "
                    f"`model_files=[...]` (a model directory's `files` target) or "
                    f"{', '.join(f'`{m}`' for m in missing)}."
                )
        if self[EncoderfileLuaLibsField].value and not self[EncoderfileTransformField].value:
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} sets `lua_libs` without a "
                f'`transform`; add `transform=":my-transform"` or remove `lua_libs`.'
            )
        max_length = self[EncoderfileMaxLengthField].value
        stride = self[EncoderfileStrideField].value
        if max_length is not None and stride is not None and stride >= max_length:
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} has `stride={stride}` >= "
                f"`max_length={max_length}`; the stride must be smaller than the max length."
            )
        pad = self[EncoderfilePadStrategyField].value
        if isinstance(pad, int) and max_length is not None and pad > max_length:
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} pads to {pad} tokens "
                f"(`pad_strategy={pad}`) but truncates at `max_length={max_length}`; use a "
                f"fixed length <= max_length."
            )


# -----------------------------------------------------------------------------------------------
# `encoderfile_runtime`
# -----------------------------------------------------------------------------------------------


class EncoderfileRuntimeDependenciesField(Dependencies):
    help = help_text(
        """
        The Python sources (and requirements) of the runtime.

        Example:

            encoderfile_runtime(name="runtime", dependencies=["src/python/encoderfile/runtime"])
        """
    )


class EncoderfileRuntimeEntryPointField(StringField):
    alias = "entry_point"
    default = DEFAULT_RUNTIME_ENTRY_POINT
    value: str
    help = help_text(
        f"""
        The runtime's entry point, `module:function` (default `{DEFAULT_RUNTIME_ENTRY_POINT}`).

        Example:

            encoderfile_runtime(..., entry_point="my.runtime:main")
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        module, _, func = value.partition(":")
        if not module or not func or not all(p.isidentifier() for p in module.split(".")):
            raise _fail(
                cls, address, f"must look like 'package.module:function', but was {value!r}."
            )
        return value


class EncoderfileRuntimeCompletePlatformsField(SpecialCasedDependencies):
    """A mapping shown as dependencies: its values are addresses."""

    alias = "complete_platforms"
    expected_type_description = "a dict of target triple -> `file` target address"
    value: Optional[FrozenDict[str, str]]  # type: ignore[assignment]
    help = help_text(
        f"""
        Maps a target triple to a `file` target holding its Pex complete-platform JSON.

        Needed for every platform other than the host's (for the host, Pants' local CPython is
        used when no entry is given). Triples: {', '.join(TRIPLES)}.

        Example:

            encoderfile_runtime(
                ...,
                complete_platforms={{
                    "aarch64-apple-darwin": "./platforms:aarch64-apple-darwin",
                }},
            )
        """
    )

    @classmethod
    def compute_value(  # type: ignore[override]
        cls, raw_value: Optional[Any], address: Address
    ) -> Optional[FrozenDict[str, str]]:
        if raw_value is None:
            return None
        if not isinstance(raw_value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw_value.items()
        ):
            raise InvalidFieldTypeException(
                address, cls.alias, raw_value, expected_type=cls.expected_type_description
            )
        bad = sorted(k for k in raw_value if k not in TRIPLES)
        if bad:
            raise _fail(
                cls,
                address,
                f"has unknown target triple(s) {', '.join(repr(b) for b in bad)}; valid: "
                f"{', '.join(TRIPLES)}.",
            )
        return FrozenDict(sorted(raw_value.items()))

    def to_unparsed_address_inputs(self) -> UnparsedAddressInputs:
        return UnparsedAddressInputs(
            tuple((self.value or {}).values()),
            owning_address=self.address,
            description_of_origin=f"the `{self.alias}` from the target {self.address}",
        )

    def for_triple(self, triple: str) -> Optional[UnparsedAddressInputs]:
        spec = (self.value or {}).get(triple)
        if spec is None:
            return None
        return UnparsedAddressInputs(
            (spec,),
            owning_address=self.address,
            description_of_origin=f"`{self.alias}[{triple!r}]` of the target {self.address}",
        )


class EncoderfileRuntimeExcludesField(StringSequenceField):
    alias = "excludes"
    default = ("huggingface_hub",)
    help = help_text(
        """
        Distributions left out of the runtime PEX although the lock pulls them in (pex
        `--exclude`; their own dependencies stay unless listed too).

        The default drops `huggingface_hub`: tokenizers depends on it but does not need it to
        load a tokenizer from a string (saves ~7 MB).

        Example:

            encoderfile_runtime(..., excludes=["huggingface_hub", "cryptography"])
        """
    )


class EncoderfileRuntimePlatformsField(EncoderfilePlatformsField):
    help = help_text(
        """
        The platforms `pants package` builds this runtime for, one PEX each (default: the keys
        of `complete_platforms` and the host).

        An `encoderfile` that uses this runtime builds only the platforms it needs.

        Example:

            encoderfile_runtime(..., platforms=["host", "aarch64-apple-darwin"])
        """
    )


class EncoderfileRuntimeOutputPathField(OutputPathField):
    help = help_text(
        """
        The directory, relative to `--distdir`, for the runtime PEXes
        `encoderfile-runtime-<triple>.pex` (default: the BUILD directory with `.` for `/`).

        The file names are those of the release assets `[encoderfile-runtime-release].url_template`
        downloads.

        Example:

            encoderfile_runtime(..., output_path="runtimes")
        """
    )

    def directory(self) -> str:
        if self.value:
            return self.value
        return self.address.spec_path.replace("/", ".")


class EncoderfileRuntimeTarget(Target):
    alias = "encoderfile_runtime"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        EncoderfileRuntimeDependenciesField,
        EncoderfileRuntimeEntryPointField,
        EncoderfileRuntimeCompletePlatformsField,
        EncoderfileRuntimePlatformsField,
        EncoderfileRuntimeExcludesField,
        EncoderfileRuntimeOutputPathField,
    )
    help = help_text(
        """
        The runtime base binary of encoderfiles, built from this repository's Python sources.

        One `--venv --sh-boot` PEX per platform, from the resolve of its dependencies, minus
        `excludes` (default: `huggingface_hub`). `pants package` writes
        `encoderfile-runtime-<triple>.pex`; an `encoderfile` with `runtime=` uses it as its base.

        Example:

            encoderfile_runtime(
                name="runtime",
                dependencies=["src/python/encoderfile/runtime"],
                complete_platforms={
                    "x86_64-unknown-linux-gnu": "./platforms:x86_64-unknown-linux-gnu",
                },
            )
        """
    )


# -----------------------------------------------------------------------------------------------
# `encoderfile_test`
# -----------------------------------------------------------------------------------------------


class EncoderfileTestEncoderfileField(_SingleAddressField):
    alias = "encoderfile"
    required = True
    help = help_text(
        """
        The `encoderfile` target to test; its host platform is built and run.

        Example:

            encoderfile_test(name="test", encoderfile=":minilm", inputs=["hello"], ...)
        """
    )


class EncoderfileTestInputsField(StringSequenceField):
    alias = "inputs"
    required = True
    help = help_text(
        """
        The texts passed to `<encoderfile> infer`.

        Example:

            encoderfile_test(..., inputs=["I love it", "I hate it"])
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Iterable[str]], address: Address
    ) -> Optional[Tuple[str, ...]]:
        value = super().compute_value(raw_value, address)
        if not value or any(not v for v in value):
            raise _fail(cls, address, "must list at least one non-empty text.")
        return value


class EncoderfileTestExpectedLabelsField(Field):
    alias = "expected_labels"
    default = None
    value: Optional[Tuple[Union[str, Tuple[str, ...]], ...]]
    help = help_text(
        """
        The labels a classifier must predict, one per input.

        A sequence classifier: one label per input. A token classifier: one list of labels per
        input (one per non-special token).

        Example:

            encoderfile_test(..., inputs=["good", "bad"], expected_labels=["POSITIVE", "NEGATIVE"])
        """
    )

    @classmethod
    def compute_value(
        cls, raw_value: Optional[Any], address: Address
    ) -> Optional[Tuple[Union[str, Tuple[str, ...]], ...]]:
        value = super().compute_value(raw_value, address)
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise InvalidFieldTypeException(
                address, cls.alias, value, expected_type="a list of labels or of label lists"
            )
        out: list = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, (list, tuple)) and all(isinstance(x, str) for x in item):
                out.append(tuple(item))
            else:
                raise InvalidFieldTypeException(
                    address, cls.alias, value, expected_type="a list of labels or of label lists"
                )
        return tuple(out)


class EncoderfileTestExpectedField(_SingleAddressField):
    alias = "expected"
    help = help_text(
        """
        A `file`/`resource` target holding the expected `infer` output: a JSON document with
        `results` (as `/predict` returns), compared number by number within `tolerance`.

        Example:

            file(name="expected", source="expected.json")
            encoderfile_test(..., inputs=["hello"], expected=":expected", tolerance=1e-4)
        """
    )


class EncoderfileTestToleranceField(FloatField):
    alias = "tolerance"
    default = 1e-4
    value: float
    help = help_text(
        """
        The largest absolute difference allowed between a number and its expected value.

        Example:

            encoderfile_test(..., tolerance=1e-3)
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[float], address: Address) -> float:
        if isinstance(raw_value, int) and not isinstance(raw_value, bool):
            raw_value = float(raw_value)
        value = super().compute_value(raw_value, address)
        if value < 0:
            raise _fail(cls, address, f"must be >= 0, but was {value!r}.")
        return value


class EncoderfileTestTimeoutField(IntField):
    alias = "timeout"
    default = 300
    value: int
    help = help_text(
        """
        Seconds the test may run (building the host encoderfile is not counted).

        Example:

            encoderfile_test(..., timeout=60)
        """
    )


class EncoderfileTestTarget(Target):
    alias = "encoderfile_test"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        EncoderfileTestEncoderfileField,
        EncoderfileTestInputsField,
        EncoderfileTestExpectedLabelsField,
        EncoderfileTestExpectedField,
        EncoderfileTestToleranceField,
        EncoderfileTestTimeoutField,
    )
    help = help_text(
        """
        Builds the host platform of an `encoderfile`, runs `infer` on `inputs`, and checks the
        output (`pants test`).

        Without `expected_labels` or `expected` the test checks that `infer` succeeds and returns
        one result per input. Each run uses a fresh PEX_ROOT, as a clean machine would.

        Example:

            encoderfile_test(
                name="sentiment-test",
                encoderfile=":sentiment",
                inputs=["great movie", "awful movie"],
                expected_labels=["POSITIVE", "NEGATIVE"],
            )
        """
    )

    def validate(self) -> None:
        if (
            self[EncoderfileTestExpectedLabelsField].value is not None
            and self[EncoderfileTestExpectedField].value
        ):
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} sets both `expected_labels` and "
                f"`expected`; use one of them."
            )
        labels = self[EncoderfileTestExpectedLabelsField].value
        inputs = self[EncoderfileTestInputsField].value or ()
        if labels is not None and len(labels) != len(inputs):
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} has {len(inputs)} input(s) but "
                f"{len(labels)} expected label(s); give one label (or label list) per input."
            )


def target_types() -> list[type[Target]]:
    return [EncoderfileTarget, EncoderfileRuntimeTarget, EncoderfileTestTarget]
