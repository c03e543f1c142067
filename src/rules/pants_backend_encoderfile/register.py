"""Registers the encoderfile backend: `backend_packages = ["pants_backend_encoderfile"]`."""

from __future__ import annotations

from pants_backend_encoderfile import target_types as target_types_module
from pants_backend_encoderfile.goals import package, run, tailor, test
from pants_backend_encoderfile.util_rules import base_binary, build, cli_tool, model_files


def rules():
    return [
        *cli_tool.rules(),
        *base_binary.rules(),
        *model_files.rules(),
        *build.rules(),
        *package.rules(),
        *run.rules(),
        *test.rules(),
        *tailor.rules(),
    ]


def target_types():
    return target_types_module.target_types()
