"""The `encoderfile` command as a PEX the rules can run.

Two sources, chosen by `[encoderfile-cli].tool`:

- set (this repository): a target of the repository's own sources, built from its resolve;
- empty (the default, any other repository): the `encoderfile` package shipped inside the
  `pants-backend-encoderfile` wheel, with third-party requirements from the lockfile shipped next
  to this module (`encoderfile_cli.lock`, pinned to the same versions as the project's resolve).

The rules never import the builder: they run the same command users run, inside sandboxed
processes, so `pants package` and `encoderfile build` cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import List, Tuple

from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import Pex, PexRequest
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.backend.python.util_rules.pex_requirements import EntireLockfile, Lockfile
from pants.engine.addresses import Addresses, UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_encoderfile.subsystems import EncoderfileCliSubsystem

# The lockfile shipped with the plugin (a pex lock, CPython 3.11, linux + macOS). Regenerate it
# with the command in its header when the project's pins change.
LOCKFILE_PACKAGE = "pants_backend_encoderfile.util_rules"
LOCKFILE_NAME = "encoderfile_cli.lock"
# What the command imports beyond the standard library (the lock's top-level requirements).
CLI_REQUIREMENTS: Tuple[str, ...] = (
    "lupa==2.8",
    "protobuf==6.33.6",
    "pyyaml==6.0.3",
    "requests==2.34.2",
    "tokenizers==0.23.3",
    "tqdm==4.70.1",
)
# The subpackages of `encoderfile` the command needs (not the runtime: it runs inside every
# built encoderfile, not here).
CLI_SUBPACKAGES: Tuple[str, ...] = ("builder", "cli", "format", "proto")
# Test helpers and gRPC stubs are not part of the command (the stubs would need grpcio).
_EXCLUDED_NAMES = ("conftest.py", "testing.py", "cli_testing.py")
_EXCLUDED_SUFFIXES = ("_test.py", "_pb2_grpc.py")


class EncoderfileSourcesNotFound(Exception):
    """The `encoderfile` package is neither installed with the plugin nor on Pants' path."""


@dataclass(frozen=True)
class EncoderfileCliTool:
    """A PEX whose entry point is the `encoderfile` command; run it with `PexProcess`."""

    pex: Pex


def is_cli_source(relpath: str) -> bool:
    """Whether a path relative to the `encoderfile` package directory belongs to the command.

    >>> [is_cli_source(p) for p in ("__init__.py", "format/reader.py", "runtime/main.py")]
    [True, True, False]
    >>> [is_cli_source(p) for p in ("format/reader_test.py", "proto/embedding_pb2_grpc.py")]
    [False, False]
    """
    parts = relpath.split("/")
    name = parts[-1]
    if not name.endswith(".py") or name in _EXCLUDED_NAMES or name.endswith(_EXCLUDED_SUFFIXES):
        return False
    if len(parts) == 1:
        return name == "__init__.py"
    return len(parts) == 2 and parts[0] in CLI_SUBPACKAGES


def find_encoderfile_package() -> str:
    """The directory of the `encoderfile` package Pants can import (located, not imported:
    importing it would need protobuf inside Pants).

    That is the copy installed with the plugin wheel or, in the project's own repository, its
    sources on `[GLOBAL].pythonpath`.
    """
    spec = importlib.util.find_spec("encoderfile")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    root = next((d for d in locations if os.path.isfile(os.path.join(d, "__init__.py"))), None)
    if root is None:
        raise EncoderfileSourcesNotFound(
            "The `encoderfile` package that `[encoderfile-cli]` builds the command from is not "
            "importable by Pants (it ships inside the `pants-backend-encoderfile` wheel). Install "
            'the plugin with `[GLOBAL].plugins = ["pants-backend-encoderfile==<version>"]`, or '
            "set `[encoderfile-cli].tool` to a target of the `encoderfile` sources."
        )
    return root


def cli_sources(package_dir: str) -> List[FileContent]:
    """The command's source files under `package_dir`, as `encoderfile/...` paths, sorted."""
    files = []
    for directory, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(directory, name)
            relpath = os.path.relpath(path, package_dir).replace(os.sep, "/")
            if is_cli_source(relpath):
                with open(path, "rb") as f:
                    files.append(FileContent(f"encoderfile/{relpath}", f.read()))
    return files


def shipped_lockfile() -> Lockfile:
    return Lockfile(
        url=f"resource://{LOCKFILE_PACKAGE}/{LOCKFILE_NAME}",
        url_description_of_origin="the lockfile shipped with pants-backend-encoderfile",
        resolve_name="encoderfile-cli",
    )


@rule(desc="Build the `encoderfile` command", level=LogLevel.DEBUG)
async def build_encoderfile_cli(cli: EncoderfileCliSubsystem) -> EncoderfileCliTool:
    main = EntryPoint.parse(cli.entry_point, provenance=f"[{cli.options_scope}]")
    if not cli.tool:
        sources = await Get(Digest, CreateDigest(cli_sources(find_encoderfile_package())))
        pex = await Get(
            Pex,
            PexRequest(
                output_filename="encoderfile-cli.pex",
                internal_only=True,
                requirements=EntireLockfile(shipped_lockfile(), CLI_REQUIREMENTS),
                interpreter_constraints=InterpreterConstraints(cli.interpreter_constraints),
                sources=sources,
                main=main,
                description="Build the `encoderfile` command (shipped with the plugin)",
            ),
        )
        return EncoderfileCliTool(pex)
    addresses = await Get(
        Addresses,
        UnparsedAddressInputs(
            (cli.tool,),
            owning_address=None,
            description_of_origin=f"the option `[{cli.options_scope}].tool`",
        ),
    )
    pex = await Get(
        Pex,
        PexFromTargetsRequest(
            addresses,
            output_filename="encoderfile-cli.pex",
            # Run only inside sandboxes: the faster packed internal layout is fine.
            internal_only=True,
            main=main,
            description="Build the `encoderfile` command",
        ),
    )
    return EncoderfileCliTool(pex)


def rules():
    return collect_rules()
