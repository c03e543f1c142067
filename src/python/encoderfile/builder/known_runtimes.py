"""Pinned SHA-256 digests of the runtime base binaries (PEXes) this package trusts.

A runtime is only ever downloaded when its digest is pinned, either here or by the user
(encoderfile.yml `runtime_sha256: {<target>: <hex>}`, `--runtime-sha256`, or
`encoderfile runtime add <target> --sha256 <hex>`). The runtime PEXes are built reproducibly, so
the lead fills this table at release time:

    KNOWN_RUNTIME_SHA256 = {
        ("0.1.0", "x86_64-unknown-linux-gnu"): "<64 hex digits>",
        ...
    }

Keys are (runtime version without a leading "v", target triple); values are lowercase hex.
"""

from __future__ import annotations

from typing import Dict, Tuple

KNOWN_RUNTIME_SHA256: Dict[Tuple[str, str], str] = {}
