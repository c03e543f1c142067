"""Find the encoderfile this runtime is running from.

PEX sets `$PEX` to the real path of the executed file in every layout (`__file__` and
`sys.argv[0]` point into the pex cache for --venv builds); a plain zipapp has its own path in
`sys.argv[0]`. For development and tests, `--file PATH` or `$ENCODERFILE_PATH` override both.
The result is absolute, resolved before anything changes directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Mapping, Sequence

from encoderfile.runtime.errors import ModelLoadError

ENV_OVERRIDE = "ENCODERFILE_PATH"


def _existing(candidate: str) -> Path | None:
    if not candidate:
        return None
    path = Path(candidate)
    if not path.is_file() and os.sep not in candidate:
        found = shutil.which(candidate)  # invoked by name through $PATH
        path = Path(found) if found else path
    return path.resolve() if path.is_file() else None


def locate_self(
    override: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
) -> Path:
    """Absolute path of the running encoderfile.

    Raises:
        ModelLoadError: an explicit override does not exist, or nothing usable was found.
    """
    env = os.environ if environ is None else environ
    explicit = os.fspath(override) if override is not None else env.get(ENV_OVERRIDE)
    if explicit:
        found = _existing(explicit)
        if found is None:
            raise ModelLoadError(f"encoderfile not found: {explicit}")
        return found
    pex = env.get("PEX")
    if pex:
        found = _existing(pex)
        if found is not None:
            return found
    args = sys.argv if argv is None else argv
    if args and args[0] and not args[0].endswith(".py"):
        found = _existing(args[0])
        if found is not None:
            return found
    raise ModelLoadError(
        "cannot find the encoderfile this runtime belongs to ($PEX is not set);"
        f" pass --file PATH or set {ENV_OVERRIDE}"
    )
