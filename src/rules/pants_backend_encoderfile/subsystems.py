"""Options: `[encoderfile-build]`, `[encoderfile-runtime-release]`, `[encoderfile-cli]` and
`[encoderfile-tests]`.

Pants refuses an options scope equal to a target alias (`encoderfile`, `encoderfile_runtime`,
`encoderfile_test` are targets; `-` and `_` count as the same), hence the suffixed scopes.
"""

from __future__ import annotations

from pants.core.util_rules.external_tool import (
    ExternalToolError,
    ExternalToolRequest,
    TemplatedExternalTool,
)
from pants.engine.platform import Platform
from pants.option.option_types import BoolOption, SkipOption, StrListOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import help_text, softwrap

from pants_backend_encoderfile.platforms import (
    HOST,
    PLATFORM_CHOICES,
    PLATFORM_TO_TRIPLE,
    TRIPLE_TO_PLATFORM,
)

DEFAULT_RUNTIME_VERSION = "0.1.0"

# PLACEHOLDER digests: the release PEXes are reproducible, so the lead fills the real
# sha256/size of each `encoderfile-runtime-<triple>.pex` at release time. Until then
# `get_request_for_triple` refuses them with a message saying how to pin or build a runtime.
PLACEHOLDER_SHA256 = "0" * 64
_PLACEHOLDER_PINS = [
    f"{DEFAULT_RUNTIME_VERSION}|{platform}|{PLACEHOLDER_SHA256}|0"
    for platform in ("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64")
]


class EncoderfileSubsystem(Subsystem):
    options_scope = "encoderfile-build"
    help = help_text(
        """
        Options for building encoderfiles: single-file executables serving encoder models.
        """
    )

    default_platforms = StrListOption(
        default=[HOST],
        help=softwrap(
            f"""
            The platforms an `encoderfile` target builds for when it does not set `platforms`:
            target triples ({', '.join(PLATFORM_CHOICES[1:])}) or `{HOST}` for the machine
            running Pants.
            """
        ),
    )
    default_version = StrOption(
        default="0.1.0",
        help="The model version embedded when an `encoderfile` target does not set `version`.",
    )
    verify = BoolOption(
        default=True,
        help=softwrap(
            """
            Run `encoderfile verify` on each built file (checks every embedded SHA-256) in the
            same sandboxed process that built it.
            """
        ),
    )

    def validate_platforms(self) -> tuple[str, ...]:
        bad = [p for p in self.default_platforms if p not in PLATFORM_CHOICES]
        if bad:
            raise ValueError(
                f"[{self.options_scope}].default_platforms has unknown platform(s) "
                f"{', '.join(repr(b) for b in bad)}; valid: {', '.join(PLATFORM_CHOICES)}."
            )
        return tuple(self.default_platforms)


class EncoderfileRuntimeSubsystem(TemplatedExternalTool):
    options_scope = "encoderfile-runtime-release"
    name = "encoderfile-runtime"
    help = help_text(
        """
        The prebuilt runtime base binaries (one PEX per platform) that an `encoderfile` target
        without `runtime=` is built on, downloaded and pinned by sha256 and size.

        To use a mirror or a local copy, set `url_template` (a `file:///abs/path/...` URL works
        offline). To build the runtime from source instead, point the target's `runtime=` at an
        `encoderfile_runtime` target.
        """
    )

    default_version = DEFAULT_RUNTIME_VERSION
    default_known_versions = _PLACEHOLDER_PINS
    # The release asset names; `encoderfile_runtime`'s `pants package` writes the same names.
    default_url_template = (
        "https://github.com/encoderfile-py/encoderfile-py/releases/download/"
        "v{version}/encoderfile-runtime-{platform}.pex"
    )
    default_url_platform_mapping = {p.value: t for p, t in PLATFORM_TO_TRIPLE.items()}

    def generate_exe(self, plat: Platform) -> str:
        return f"./encoderfile-runtime-{self.url_platform_mapping.get(plat.value, plat.value)}.pex"

    def get_request_for_triple(self, triple: str) -> ExternalToolRequest:
        """The download of the runtime for `triple` (any platform, not only the host's)."""
        request = self.get_request(TRIPLE_TO_PLATFORM[triple])
        expected = request.download_file_request.expected_digest
        if expected.fingerprint == PLACEHOLDER_SHA256:
            raise ExternalToolError(
                softwrap(
                    f"""
                    No sha256 is pinned for [{self.options_scope}] version {self.version} on
                    {triple} (the default `known_versions` are placeholders until the first
                    release). Either add
                    `"{self.version}|{TRIPLE_TO_PLATFORM[triple].value}|<sha256>|<size>"` to
                    `[{self.options_scope}].known_versions`, or set `runtime=` on the
                    `encoderfile` target to an `encoderfile_runtime` target to build the runtime
                    from source.
                    """
                )
            )
        return request


class EncoderfileCliSubsystem(Subsystem):
    options_scope = "encoderfile-cli"
    help = help_text(
        """
        The `encoderfile` command the rules run (in sandboxed processes) to build and verify
        encoderfiles.

        By default it is built from the copy of the `encoderfile` package shipped inside the
        `pants-backend-encoderfile` plugin, with third-party requirements pinned by the lockfile
        shipped with it. A repository holding the `encoderfile` sources builds it from them
        instead by setting `tool`.
        """
    )

    tool = StrOption(
        default="",
        help=softwrap(
            """
            The address of a `pex_binary` (or `python_sources`) target whose transitive closure
            is the `encoderfile` command (packages `encoderfile.cli`, `encoderfile.builder`,
            `encoderfile.format`), built from its resolve's lockfile.

            Empty (the default): use the sources and lockfile shipped with the plugin.

            Example: `tool = "//src/python/encoderfile:cli"`.
            """
        ),
    )
    entry_point = StrOption(
        default="encoderfile.cli.main:main",
        help="The entry point of the `encoderfile` command, `module:function`.",
    )
    interpreter_constraints = StrListOption(
        default=["CPython==3.11.*"],
        advanced=True,
        help=softwrap(
            """
            The interpreter constraints of the `encoderfile` command when `tool` is empty (the
            shipped lockfile holds wheels for CPython 3.11). Ignored when `tool` is set: the
            target's own constraints apply.
            """
        ),
    )


class EncoderfileTestSubsystem(Subsystem):
    options_scope = "encoderfile-tests"
    name = "encoderfile test"
    help = "Options for `encoderfile_test` targets (`pants test`)."

    skip = SkipOption("test")
