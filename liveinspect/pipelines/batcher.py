"""One batching mechanism for the offline scan, live streams and the HTTP service.

Callers from any thread `submit` single items and get a `Future`; a worker
thread groups pending items into batches bounded by `max_batch_size` and
`max_wait_s` (the latency bound), runs `fn` once per batch, and routes each
output back to its future. Items from many segments and many concurrent
streams therefore share model calls, which is where GPUs earn their keep.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any
from collections.abc import Callable, Iterable, Sequence

BatchFn = Callable[[Sequence[Any]], Sequence[Any]]
BatchObserver = Callable[[int, float], None]

_STOP = object()


class TimedFuture(Future):
    """A future that also says how many seconds of its batch's model call were its share."""

    compute_s: float = 0.0


class Batcher:
    def __init__(self, fn: BatchFn, *, max_batch_size: int = 8, max_wait_s: float = 0.01,
                 name: str = "batcher", on_batch: BatchObserver | None = None) -> None:
        """`on_batch(size, seconds)` is told of every batch that ran (metrics: batch sizes, latency)."""
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self._fn = fn
        self._on_batch = on_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self.batches_run = 0
        self.items_run = 0
        self._thread.start()

    def submit(self, item: Any) -> TimedFuture:
        if self._closed:
            raise RuntimeError("batcher is closed")
        future = TimedFuture()
        self._queue.put((item, future))
        return future

    @property
    def pending(self) -> int:
        """Items waiting for a batch (a queue-depth gauge)."""
        return self._queue.qsize()

    def map(self, items: Iterable[Any]) -> list[Any]:
        """Submit all items, wait for all outputs, return them in order."""
        futures = [self.submit(item) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> "Batcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _collect(self, first: tuple) -> tuple[list[tuple], bool]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=max(remaining, 0)) if remaining > 0 \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is _STOP:
                return batch, True
            batch.append(entry)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stop = self._collect(first)
            try:
                self._run_batch(batch)
            except BaseException as error:  # noqa: BLE001 - a batch of many callers' items failed
                if len(batch) == 1:
                    batch[0][1].set_exception(error)
                    continue
                # One bad item must not fail the items of other segments and streams that shared
                # its batch: run each alone, so only the bad one gets the error.
                for entry in batch:
                    try:
                        self._run_batch([entry])
                    except BaseException as single_error:  # noqa: BLE001 - routed to its caller
                        entry[1].set_exception(single_error)
        self._fail_queued()

    def _run_batch(self, batch: list[tuple[Any, TimedFuture]]) -> None:
        items = [item for item, _ in batch]
        started = time.perf_counter()
        outputs = list(self._fn(items))
        if len(outputs) != len(items):
            raise RuntimeError(f"batch function returned {len(outputs)} outputs for {len(items)} items")
        self.batches_run += 1
        self.items_run += len(items)
        seconds = time.perf_counter() - started
        if self._on_batch is not None:
            self._on_batch(len(items), seconds)
        share = seconds / len(items)
        for (_, future), output in zip(batch, outputs, strict=True):
            future.compute_s = share
            future.set_result(output)

    def _fail_queued(self) -> None:
        # Fail whatever is still queued after close, rather than leave callers hanging.
        while True:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return
            if entry is not _STOP:
                entry[1].set_exception(RuntimeError("batcher closed before the item ran"))
