"""Dynamic batching: gather texts from concurrent requests into length-sorted batches.

Each text of a request becomes one work item with a future. A single worker thread takes what
is queued (waiting at most `max_wait_ms` for more once the first item arrived, never past
`max_batch_size` items), sorts the pool by token length so padding stays small, cuts it into
batches bounded by `max_batch_size`, the padded-token budget `max_batch_tokens` and a padding
limit (see `plan_batches`), runs each batch and resolves the items' futures. A failing batch
fails only its own items. The event loop never blocks: callers await the futures.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, Protocol, Sequence, TypeVar

_LOG = logging.getLogger(__name__)

# Measured with all-MiniLM-L6-v2 int8 on 2 CPU cores (bench/bench_runtime.py): a batch costs its
# padded tokens, and batching saves little per text on CPU, so padding must stay small. A pool of
# random mixed-length texts run as one padded batch cost ~3x the CPU of running them one by one;
# cut where padding would exceed 25% of the real tokens (or 16 tokens, for short texts). Peak
# memory follows the padded tokens of the largest batch. Server runs of the benchmark (HTTP batch
# 32 vs bare onnxruntime with batches of 32; peak RSS): budget 4096 -> 0.86x, 442 MiB; 2048 ->
# 0.91x, 325 MiB; 1024 -> 0.97x, 230 MiB. Smaller batches are no slower per text on CPU.
MAX_PADDING_RATIO = 0.25
PADDING_SLACK_TOKENS = 16


@dataclass(frozen=True)
class BatchingConfig:
    """Limits of the dynamic batcher; `enabled=False` runs every request as its own batch."""

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_batch_tokens: int = 1024
    enabled: bool = True
    # Cut a batch where padding would exceed this share of its real tokens (None: never).
    max_padding_ratio: float | None = MAX_PADDING_RATIO

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}")
        if self.max_padding_ratio is not None and not self.max_padding_ratio >= 0:
            raise ValueError(f"max_padding_ratio must be >= 0, got {self.max_padding_ratio}")


class Sized(Protocol):
    @property
    def length(self) -> int:
        ...


ItemT = TypeVar("ItemT", bound=Sized)
ResultT = TypeVar("ResultT")


def plan_batches(
    items: Sequence[ItemT],
    max_batch_size: int,
    max_batch_tokens: int,
    max_padding_ratio: float | None = MAX_PADDING_RATIO,
) -> Iterator[list[int]]:
    """Indices of `items` grouped into length-sorted batches within the limits.

    The cost of a batch is its padded size, longest length x count; a single item always fits.
    A batch is also cut where its padding would exceed `max_padding_ratio` of its real tokens
    (and PADDING_SLACK_TOKENS): padded tokens cost as much as real ones.
    """
    order = sorted(range(len(items)), key=lambda i: items[i].length)
    batch: list[int] = []
    longest = 0
    real = 0
    for i in order:
        length = max(1, items[i].length)
        new_longest = max(longest, length)
        padded = new_longest * (len(batch) + 1)
        waste = padded - (real + length)
        if batch and (
            len(batch) >= max_batch_size
            or padded > max_batch_tokens
            or (
                max_padding_ratio is not None
                and waste > max(PADDING_SLACK_TOKENS, max_padding_ratio * (real + length))
            )
        ):
            yield batch
            batch, new_longest, real = [], length, 0
        batch.append(i)
        longest = new_longest
        real += length
    if batch:
        yield batch


_STOP = object()


class DynamicBatcher(Generic[ItemT, ResultT]):
    """Runs `run_batch(items) -> results` (same order) on one worker thread for all callers."""

    def __init__(
        self,
        run_batch: Callable[[list[ItemT]], list[ResultT]],
        config: BatchingConfig = BatchingConfig(),
        *,
        name: str = "encoderfile-batcher",
    ) -> None:
        self._run_batch = run_batch
        self.config = config
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self.batches_run = 0  # for tests and metrics

    def submit(self, items: Iterable[ItemT]) -> list[concurrent.futures.Future]:
        """Queue items; returns one future per item, in order."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        work = [(item, concurrent.futures.Future()) for item in items]
        if work:
            self._queue.put(work)
        return [future for _, future in work]

    async def run(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Submit from an asyncio loop and await all results, in input order."""
        futures = [asyncio.wrap_future(f) for f in self.submit(items)]
        return list(await asyncio.gather(*futures))

    def close(self, timeout: float | None = 10.0) -> None:
        """Finish queued work, then stop the worker."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- worker --------------------------------------------------------------------------------
    def _gather(self, first: list) -> tuple[list, bool]:
        pool = list(first)
        stop = False
        limit = self.config.max_batch_size
        deadline = time.monotonic() + self.config.max_wait_ms / 1000.0
        while len(pool) < limit:
            timeout = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                stop = True
                break
            pool.extend(nxt)
        return pool, stop

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            pool, stop = self._gather(first)
            live = [(item, fut) for item, fut in pool if fut.set_running_or_notify_cancel()]
            items = [item for item, _ in live]
            for batch in plan_batches(
                items,
                self.config.max_batch_size,
                self.config.max_batch_tokens,
                self.config.max_padding_ratio,
            ):
                self._execute([live[i] for i in batch])
        # Fail anything submitted after close() raced with the stop marker.
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is not _STOP:
                for _, fut in leftover:
                    if fut.set_running_or_notify_cancel():
                        fut.set_exception(RuntimeError("the batcher is closed"))

    def _execute(self, work: list) -> None:
        try:
            results = self._run_batch([item for item, _ in work])
            if len(results) != len(work):
                raise RuntimeError(f"batch returned {len(results)} results for {len(work)} items")
        except BaseException as exc:  # noqa: BLE001 - delivered to the callers of this batch
            for _, fut in work:
                fut.set_exception(exc)
            return
        finally:
            self.batches_run += 1
        for (_, fut), result in zip(work, results):
            fut.set_result(result)
