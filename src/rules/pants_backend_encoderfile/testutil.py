"""A RuleRunner with the whole backend installed, on top of Pants core and the Python backend."""

from __future__ import annotations

from typing import Iterable

from pants.backend.python import register as python_register
from pants.backend.python import target_types_rules
from pants.backend.python.util_rules import pex_from_targets
from pants.core import register as core_register
from pants.testutil.rule_runner import RuleRunner

from pants_backend_encoderfile import register


def encoderfile_rule_runner(query_rules: Iterable = ()) -> RuleRunner:
    return RuleRunner(
        rules=[
            *core_register.rules(),
            *pex_from_targets.rules(),
            *target_types_rules.rules(),
            *register.rules(),
            *query_rules,
        ],
        target_types=[
            *core_register.target_types(),
            *python_register.target_types(),
            *register.target_types(),
        ],
    )
