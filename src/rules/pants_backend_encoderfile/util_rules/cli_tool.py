"""The `encoderfile` command as a PEX the rules can run: built from the repository's sources.

The rules never import the builder: they run the same command users run, inside sandboxed
processes, so `pants package` and `encoderfile build` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.target_types import EntryPoint
from pants.backend.python.util_rules.pex import Pex
from pants.backend.python.util_rules.pex_from_targets import PexFromTargetsRequest
from pants.engine.addresses import Addresses, UnparsedAddressInputs
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_encoderfile.subsystems import EncoderfileCliSubsystem


@dataclass(frozen=True)
class EncoderfileCliTool:
    """A PEX whose entry point is the `encoderfile` command; run it with `PexProcess`."""

    pex: Pex


@rule(desc="Build the `encoderfile` command", level=LogLevel.DEBUG)
async def build_encoderfile_cli(cli: EncoderfileCliSubsystem) -> EncoderfileCliTool:
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
            main=EntryPoint.parse(cli.entry_point, provenance=f"[{cli.options_scope}]"),
            description="Build the `encoderfile` command",
        ),
    )
    return EncoderfileCliTool(pex)


def rules():
    return collect_rules()
