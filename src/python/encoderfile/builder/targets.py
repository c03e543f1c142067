"""Target triples a runtime base binary exists for, and detection of the host's."""

from __future__ import annotations

import platform

from encoderfile.builder.errors import TargetError

TARGETS: tuple[str, ...] = (
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
)

_ARCH_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_OS_SUFFIX = {"linux": "unknown-linux-gnu", "darwin": "apple-darwin"}


def parse_target(triple: str) -> str:
    """Return `triple` if it is a known target, else raise TargetError listing the valid ones."""
    if triple in TARGETS:
        return triple
    raise TargetError(f"unknown target {triple!r}; valid targets: {', '.join(TARGETS)}")


def detect_host(system: str | None = None, machine: str | None = None) -> str:
    """Map platform.system()/platform.machine() to a target triple.

    >>> detect_host("Linux", "x86_64")
    'x86_64-unknown-linux-gnu'
    """
    system = (system if system is not None else platform.system()).lower()
    machine = (machine if machine is not None else platform.machine()).lower()
    arch = _ARCH_ALIASES.get(machine)
    suffix = _OS_SUFFIX.get(system)
    if arch is None or suffix is None:
        raise TargetError(
            f"no runtime for this host (system {system!r}, machine {machine!r}); pass --target "
            f"with one of: {', '.join(TARGETS)}"
        )
    return f"{arch}-{suffix}"
