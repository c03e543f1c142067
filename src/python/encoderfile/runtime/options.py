"""Options shared by every command: inference (session) options and per-request options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Mapping

from encoderfile.runtime.errors import RuntimeInputError

EXECUTION_PROVIDERS = ("cpu", "cuda", "tensorrt", "coreml")
GRAPH_OPTIMIZATION_LEVELS = ("disable", "1", "2", "3")
AGGREGATIONS = ("simple",)


@dataclass(frozen=True)
class InferenceOptions:
    """How the onnxruntime session is created (the reference's shared inference flags)."""

    execution_provider: str = "cpu"
    graph_optimization_level: str = "3"
    intra_op_threads: int | None = None
    with_arena_allocator: bool = False
    device_id: int = 0
    disable_cpu_fallback: bool = False
    verify: bool = False

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> InferenceOptions:
        """Build from a namespace parsed by a parser given `add_inference_arguments`."""
        return cls(
            execution_provider=getattr(ns, "execution_provider", "cpu"),
            graph_optimization_level=getattr(ns, "graph_optimization_level", "3"),
            intra_op_threads=getattr(ns, "intra_op_threads", None),
            with_arena_allocator=bool(getattr(ns, "with_arena_allocator", False)),
            device_id=int(getattr(ns, "device_id", 0)),
            disable_cpu_fallback=bool(getattr(ns, "disable_cpu_fallback", False)),
            verify=bool(getattr(ns, "verify", False)),
        )


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the shared inference flags (same names and defaults as the reference)."""
    group = parser.add_argument_group("inference")
    group.add_argument(
        "--execution-provider",
        choices=EXECUTION_PROVIDERS,
        default="cpu",
        help="onnxruntime execution provider (default: cpu)",
    )
    group.add_argument(
        "--disable-cpu-fallback",
        action="store_true",
        help="fail instead of falling back to the CPU when the provider is unavailable",
    )
    group.add_argument(
        "--graph-optimization-level",
        choices=GRAPH_OPTIMIZATION_LEVELS,
        default="3",
        help="onnxruntime graph optimization level (default: 3 = all)",
    )
    group.add_argument(
        "--intra-op-threads",
        type=_non_negative_int,
        default=None,
        help="threads per operator (default: onnxruntime's choice, one per core)",
    )
    group.add_argument(
        "--with-arena-allocator",
        action="store_true",
        help="enable onnxruntime's CPU memory arena (faster, keeps peak memory allocated)",
    )
    group.add_argument(
        "--device-id", type=_non_negative_int, default=0, help="GPU device id (default: 0)"
    )
    group.add_argument(
        "--verify",
        action="store_true",
        help="check the SHA-256 of every embedded artifact before loading",
    )


def _optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RuntimeInputError(f"'{key}' must be a boolean, got {type(value).__name__}")


@dataclass(frozen=True)
class PredictOptions:
    """Opt-in post-processing for one request; None keeps the reference behaviour."""

    normalize: bool | None = None  # L2-normalise embeddings (embedding types)
    softmax: bool | None = None  # scores = softmax(logits) (classifiers)
    aggregation: str | None = None  # "simple": group B-/I- tokens into entities

    @classmethod
    def from_request(cls, body: Mapping[str, Any]) -> PredictOptions:
        """Read `normalize`, `softmax`, `aggregation` from a request body; other keys ignored.

        Raises:
            RuntimeInputError: a value has the wrong type or is unknown.
        """
        if not isinstance(body, Mapping):
            raise RuntimeInputError("request body must be a JSON object")
        aggregation = body.get("aggregation")
        if aggregation is not None:
            if not isinstance(aggregation, str):
                raise RuntimeInputError(
                    f"'aggregation' must be a string, got {type(aggregation).__name__}"
                )
            if aggregation == "none":
                aggregation = None
            elif aggregation not in AGGREGATIONS:
                raise RuntimeInputError(
                    f"unknown aggregation {aggregation!r}; valid: none, {', '.join(AGGREGATIONS)}"
                )
        return cls(
            normalize=_optional_bool(body, "normalize"),
            softmax=_optional_bool(body, "softmax"),
            aggregation=aggregation,
        )
