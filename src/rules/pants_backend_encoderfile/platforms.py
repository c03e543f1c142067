"""Target triples an encoderfile can be built for, and their mapping to Pants' `Platform`."""

from __future__ import annotations

from typing import Iterable

from pants.engine.platform import Platform

HOST = "host"

# The triples the runtime base binaries are published for (the same names as
# `encoderfile.builder.targets.TARGETS`, which the plugin does not import: it needs pyyaml).
TRIPLES: tuple[str, ...] = (
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
)

PLATFORM_TO_TRIPLE: dict[Platform, str] = {
    Platform.linux_x86_64: "x86_64-unknown-linux-gnu",
    Platform.linux_arm64: "aarch64-unknown-linux-gnu",
    Platform.macos_x86_64: "x86_64-apple-darwin",
    Platform.macos_arm64: "aarch64-apple-darwin",
}
TRIPLE_TO_PLATFORM: dict[str, Platform] = {t: p for p, t in PLATFORM_TO_TRIPLE.items()}

# What BUILD files and options may name: a triple or "host".
PLATFORM_CHOICES: tuple[str, ...] = (HOST, *TRIPLES)


def resolve_platforms(values: Iterable[str], host: Platform) -> tuple[str, ...]:
    """Replace "host" by the host's triple; drop duplicates, keep the order given.

    >>> resolve_platforms(["host", "aarch64-apple-darwin"], Platform.linux_x86_64)
    ('x86_64-unknown-linux-gnu', 'aarch64-apple-darwin')
    """
    host_triple = PLATFORM_TO_TRIPLE[host]
    return tuple(dict.fromkeys(host_triple if v == HOST else v for v in values))
