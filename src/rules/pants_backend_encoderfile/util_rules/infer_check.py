"""Run `<encoderfile> infer` and check its output; shipped into `encoderfile_test` sandboxes.

Stdlib only and Python 3.9 compatible: it runs under the CPython that runs the encoderfile, and
the plugin's unit tests import it under Pants' own interpreter.

    python infer_check.py SPEC.json
    SPEC = {"encoderfile": path, "inputs": [...], "model_type": str,
            "expected_labels": [...] | null, "expected": path | null, "tolerance": float}
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any, List, Sequence


def compare(actual: Any, expected: Any, tolerance: float, where: str = "results") -> List[str]:
    """Differences between two JSON values; numbers may differ by at most `tolerance`.

    >>> compare([1.0, "a"], [1.00001, "a"], 1e-3)
    []
    >>> compare({"x": 1.0}, {"x": 2.0}, 0.1)
    ['results.x: 1.0 != 2.0 (|diff| 1 > tolerance 0.1)']
    """
    number = (int, float)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if actual == expected else [f"{where}: {actual!r} != {expected!r}"]
    if isinstance(expected, number) and isinstance(actual, number):
        diff = abs(float(actual) - float(expected))
        if math.isnan(diff) or diff > tolerance:
            return [
                f"{where}: {actual!r} != {expected!r} (|diff| {diff:.3g} > tolerance {tolerance})"
            ]
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        if sorted(actual) != sorted(expected):
            return [f"{where}: keys {sorted(actual)} != expected {sorted(expected)}"]
        out: List[str] = []
        for k in expected:
            out += compare(actual[k], expected[k], tolerance, f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{where}: {len(actual)} items != expected {len(expected)}"]
        out = []
        for i, (a, e) in enumerate(zip(actual, expected)):
            out += compare(a, e, tolerance, f"{where}[{i}]")
        return out
    return [] if actual == expected else [f"{where}: {actual!r} != {expected!r}"]


def labels_of(result: Any, model_type: str) -> Any:
    """The predicted label(s) of one result: a string, or a list for a token classifier."""
    if model_type == "token_classification":
        return [t["label"] for t in result["tokens"]]
    return result["predicted_label"]


def check(output: Any, spec: dict) -> List[str]:
    """All problems with the `infer` output `output` under `spec` (empty = pass)."""
    inputs = spec["inputs"]
    results = output.get("results") if isinstance(output, dict) else None
    if not isinstance(results, list):
        return ["the output has no `results` list"]
    if len(results) != len(inputs):
        return [f"{len(results)} results for {len(inputs)} inputs"]
    problems: List[str] = []
    labels = spec.get("expected_labels")
    if labels is not None:
        for i, (result, want) in enumerate(zip(results, labels)):
            got = labels_of(result, spec["model_type"])
            if isinstance(want, (list, tuple)):
                want = list(want)
            if got != want:
                problems.append(f"input {i} ({inputs[i]!r}): predicted {got!r}, expected {want!r}")
    if spec.get("expected"):
        with open(spec["expected"], encoding="utf-8") as f:
            expected = json.load(f)
        if isinstance(expected, dict):
            expected = expected.get("results")
        problems += compare(results, expected, float(spec.get("tolerance", 1e-4)))
    return problems


def main(argv: Sequence[str]) -> int:
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    # A fresh PEX_ROOT, as on a clean machine: a warm cache would hide a broken zip layout.
    pex_root = tempfile.mkdtemp(prefix="pex_root.", dir=os.getcwd())
    env = {**os.environ, "PEX_ROOT": pex_root}
    cmd = [sys.executable, os.path.abspath(spec["encoderfile"]), "infer", *spec["inputs"]]
    proc = subprocess.run(cmd, env=env, capture_output=True)
    sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        print(f"FAIL: `{spec['encoderfile']} infer` exited with {proc.returncode}")
        return 1
    try:
        output = json.loads(proc.stdout)
    except ValueError as e:
        print(f"FAIL: `infer` printed no JSON ({e}): {proc.stdout[:200]!r}")
        return 1
    problems = check(output, spec)
    if problems:
        print(f"FAIL: {len(problems)} difference(s):")
        for p in problems[:50]:
            print(f"  {p}")
        return 1
    print(f"PASS: {len(spec['inputs'])} input(s) checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
