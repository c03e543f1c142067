"""Writes the committed complete-platform files for the four runtime targets (CPython 3.11).

Pex needs a *complete* platform (markers + every compatible wheel tag) to pick the right wheels
when it builds the runtime for a machine other than the host; the short `--platform` form picks
wrong or old wheels. Run by hand when the target list or interpreter changes:

    python3.11 -m pip install packaging && python3.11 generate.py

Linux tags are capped at manylinux 2_28 (onnxruntime and numpy need glibc >= 2.28, and a lower
cap would refuse them); macOS tags start at 13.0 (x86_64) and 14.0 (arm64), the oldest releases
onnxruntime 1.23 ships wheels for.
"""

from __future__ import annotations

import json
from pathlib import Path

from packaging import tags

PYTHON = (3, 11)
GLIBC_MAX_MINOR = 28


def _linux_platforms(arch: str) -> list[str]:
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MAX_MINOR, 16, -1)]
    platforms += [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        platforms += [f"manylinux_2_{minor}_{arch}" for minor in range(16, 4, -1)]
        platforms += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    platforms.append(f"linux_{arch}")
    return platforms


def _tags(platforms: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags.cpython_tags(PYTHON, platforms=platforms):
        out.append(str(tag))
    for tag in tags.compatible_tags(PYTHON, "cp311", platforms=platforms):
        out.append(str(tag))
    seen: set[str] = set()
    return [t for t in out if not (t in seen or seen.add(t))]


def _markers(system: str, machine: str) -> dict[str, str]:
    return {
        "implementation_name": "cpython",
        "implementation_version": "3.11.7",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": "3.11.7",
        "python_version": "3.11",
        "sys_platform": "linux" if system == "Linux" else "darwin",
    }


TARGETS = {
    "x86_64-unknown-linux-gnu": (_markers("Linux", "x86_64"), _linux_platforms("x86_64")),
    "aarch64-unknown-linux-gnu": (_markers("Linux", "aarch64"), _linux_platforms("aarch64")),
    "x86_64-apple-darwin": (
        _markers("Darwin", "x86_64"),
        list(tags.mac_platforms((13, 0), "x86_64")),
    ),
    "aarch64-apple-darwin": (
        _markers("Darwin", "arm64"),
        list(tags.mac_platforms((14, 0), "arm64")),
    ),
}


def main() -> None:
    here = Path(__file__).parent
    for triple, (markers, platforms) in TARGETS.items():
        doc = {"marker_environment": markers, "compatible_tags": _tags(platforms)}
        (here / f"{triple}.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
