"""Dynamic batching: limits, ordering under concurrency, failure isolation (no model)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest

from encoderfile.runtime.batching import BatchingConfig, DynamicBatcher, plan_batches


@dataclass(frozen=True)
class Item:
    value: int
    length: int


def test_plan_batches_sorted_and_bounded() -> None:
    items = [Item(i, length) for i, length in enumerate([50, 3, 7, 100, 3, 9, 60, 2])]
    batches = list(plan_batches(items, max_batch_size=3, max_batch_tokens=10_000))
    assert sorted(i for b in batches for i in b) == list(range(len(items)))
    assert all(len(b) <= 3 for b in batches)
    lengths = [items[i].length for b in batches for i in b]
    assert lengths == sorted(lengths)


def test_plan_batches_token_budget() -> None:
    items = [Item(i, 100) for i in range(10)] + [Item(10, 5000)]
    batches = list(plan_batches(items, max_batch_size=32, max_batch_tokens=400))
    assert all(max(items[i].length for i in b) * len(b) <= 400 or len(b) == 1 for b in batches)
    assert [len(b) for b in batches] == [4, 4, 2, 1]


def test_plan_batches_cuts_where_padding_would_dominate() -> None:
    items = [Item(i, length) for i, length in enumerate([10, 11, 12, 200, 210, 12, 400])]
    batches = list(plan_batches(items, max_batch_size=32, max_batch_tokens=100_000))
    assert [[items[i].length for i in b] for b in batches] == [[10, 11, 12, 12], [200, 210], [400]]
    unlimited = list(plan_batches(items, 32, 100_000, max_padding_ratio=None))
    assert len(unlimited) == 1


def test_concurrent_callers_get_their_own_results_in_order() -> None:
    seen_batches: list[list[int]] = []
    lock = threading.Lock()

    def run_batch(items: list[Item]) -> list[int]:
        with lock:
            seen_batches.append([it.length for it in items])
        return [it.value * 10 for it in items]

    # No padding limit: random lengths would otherwise (rightly) be cut into small batches.
    config = BatchingConfig(max_batch_size=8, max_wait_ms=2, max_padding_ratio=None)
    batcher = DynamicBatcher(run_batch, config)

    async def go() -> list[list[int]]:
        requests = [
            [Item(r * 100 + k, (r * 7 + k * 13) % 50 + 1) for k in range(1 + r % 5)]
            for r in range(50)
        ]
        results = await asyncio.gather(*(batcher.run(req) for req in requests))
        for req, res in zip(requests, results):
            assert res == [it.value * 10 for it in req]
        return results

    asyncio.run(go())
    batcher.close()
    assert all(len(b) <= 8 for b in seen_batches)
    assert all(b == sorted(b) for b in seen_batches)
    assert len(seen_batches) < 50  # requests were actually merged


def test_failure_fails_only_that_batch() -> None:
    def run_batch(items: list[Item]) -> list[int]:
        if any(it.value < 0 for it in items):
            raise RuntimeError("boom")
        return [it.value for it in items]

    batcher = DynamicBatcher(run_batch, BatchingConfig(max_batch_size=1, max_wait_ms=0))

    async def go() -> None:
        good, bad = await asyncio.gather(
            batcher.run([Item(1, 1)]), batcher.run([Item(-1, 1)]), return_exceptions=True
        )
        assert good == [1]
        assert isinstance(bad, RuntimeError)

    asyncio.run(go())
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit([Item(1, 1)])


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchingConfig(max_batch_size=0)
