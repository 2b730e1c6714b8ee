"""One inspector per process, shared by synchronous requests and jobs alike.

Jobs call `Inspector.scan`; `/v1/image` calls `Inspector.inspect_still` and
`/v1/audio` `Inspector.inspect_segments`, whose items go through the same
per-analyzer batchers the scans use, so an uploaded image rides in the same
model batch as the frames of live streams. `/v1/text` items share one text
batcher over `Inspector.check_texts_each`, so concurrent text requests become
one classifier call. Every model batch is measured through the inspector's
`on_batch` hook. Synchronous work is admitted only while fewer than
`max_pending_items` items wait (else `Overloaded`, answered 429), and nobody
waits longer than `sync_timeout_s` for a model (`ModelTimeout`, 503); work
that times out still holds its place in the admission count until it ends,
so timed-out requests cannot pile up unbounded work behind the models.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.batcher import Batcher
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions, ScanResult
from liveinspect.schema import Action, Finding, Modality, TextItem, Verdict
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.metrics import ServiceMetrics

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# The vendors' three-way suggestion, from the Measures' graded actions (Articles 10 and 14).
SUGGESTION = {
    Action.none: "pass",
    Action.popup_prompt: "review",
    Action.violation_warning: "review",
    Action.traffic_restriction: "block",
    Action.suspension: "block",
}

TEXT_BATCH = 64  # text items per classifier call across concurrent requests
AUDIO_CHUNK_S = 30.0  # Whisper's window: an upload of n such chunks counts as n items waiting


class Overloaded(LiveInspectError):
    """Too much work is waiting; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelTimeout(LiveInspectError):
    """A synchronous request waited longer than the service allows for its model."""


class NotServed(LiveInspectError):
    """This service was started without the analyzer a request needs."""


class InspectionFailed(LiveInspectError):
    """An analyzer failed on a synchronous request's input; answering "pass" would be a lie."""


@dataclass
class Inspection:
    findings: list[Finding]
    texts: list[TextItem] = field(default_factory=list)
    verdict: Verdict | None = None

    @property
    def action(self) -> Action:
        return self.verdict.action if self.verdict else Action.none


def build_service_inspector(config: ServiceConfig, metrics: ServiceMetrics) -> Inspector:
    """The process's inspector: `build_inspector` with every model batch (from scans and requests
    alike) measured per model and capped at `max_batch_size`."""
    from liveinspect.pipelines.registry import build_inspector

    # Shorter windows than the offline default: a live finding can only be reported once its
    # segment is complete, so the window bounds the latency (Article 9: real-time inspection).
    options = ScanOptions(
        window_s=config.window_s,
        fps=config.fps,
        max_wait_s=config.max_wait_s,
        progress=False,
        allow_private_urls=config.allow_private_urls,
    )
    names = list(config.analyzers) if config.analyzers is not None else None
    return build_inspector(names, options=options, settings=dict(config.settings),
                           on_batch=metrics.observe_batch, max_batch_size=config.max_batch_size)


class SharedInference:
    """Synchronous inspection of texts, images and short audio on the shared inspector."""

    def __init__(self, inspector: Inspector, config: ServiceConfig, metrics: ServiceMetrics) -> None:
        self.inspector = inspector
        self.config = config
        self.metrics = metrics
        self._pending = 0
        self._lock = threading.Lock()
        self.text_batcher = Batcher(
            inspector.check_texts_each,
            max_batch_size=TEXT_BATCH,
            max_wait_s=config.max_wait_s,
            name="batch-text",
            on_batch=lambda size, seconds: metrics.observe_batch("text", size, seconds),
        )
        # Images and audio run as scans of their own (`inspect_still`, `inspect_segments`), whose
        # items wait in the inspector's batchers; these threads only carry them so a request can
        # stop waiting at its timeout. Admission bounds how many are busy at once.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(64, config.max_pending_items)), thread_name_prefix="sync-inspect"
        )

    def close(self) -> None:
        self.text_batcher.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- what is loaded, what waits ------------------------------------------------------

    def serves(self, analyzer: str) -> bool:
        return any(a.name == analyzer for a in self.inspector.analyzers)

    def queue_depth(self) -> dict[str, int]:
        """Items waiting for each model's next batch (scans' and requests'), the text batcher's,
        and the synchronous items admitted and not yet answered."""
        depth = dict(self.inspector.queue_depths())
        depth["text"] = self.text_batcher.pending
        depth["sync_pending"] = self._pending
        return depth

    def _admit(self, items: int) -> None:
        with self._lock:
            if self._pending + items > self.config.max_pending_items:
                self.metrics.rejected.labels("queue_full").inc()
                raise Overloaded(
                    f"{self._pending} items are waiting for the models (limit "
                    f"{self.config.max_pending_items}); retry shortly",
                    retry_after=1.0,
                )
            self._pending += items

    def _release(self, items: int) -> None:
        with self._lock:
            self._pending -= items

    def _timeout(self, model: str) -> ModelTimeout:
        return ModelTimeout(
            f"the {model} model did not answer within {self.config.sync_timeout_s:.0f} s; retry later"
        )

    # -- text ----------------------------------------------------------------------------

    def check_texts(self, items: Sequence[TextItem]) -> list[Inspection]:
        self._admit(len(items))
        try:
            started = time.monotonic()
            futures = [self.text_batcher.submit(item) for item in items]
            per_item = self._wait(futures, started)
        finally:
            self._release(len(items))
        self.metrics.item_seconds.labels("text").observe(time.monotonic() - started)
        return [
            Inspection(findings, verdict=self.inspector.policy.verdict(findings)) for findings in per_item
        ]

    def _wait(self, futures: Sequence[Future], started: float) -> list[Any]:
        deadline = started + self.config.sync_timeout_s
        results = []
        for future in futures:
            try:
                results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except FutureTimeout as error:
                raise self._timeout("text") from error
        return results

    # -- images and audio ------------------------------------------------------------------

    def _bounded(self, model: str, items: int, work: Callable[[], _T]) -> _T:
        """`work()` on a pool thread, admitted as `items` waiting items, waited for at most
        `sync_timeout_s`; its admission is released when it ends, not when the caller gives up."""
        self._admit(items)
        started = time.monotonic()
        try:
            future = self._pool.submit(work)
        except BaseException:
            self._release(items)
            raise
        future.add_done_callback(lambda _: self._release(items))
        try:
            result = future.result(timeout=self.config.sync_timeout_s)
        except FutureTimeout as error:
            raise self._timeout(model) from error
        self.metrics.item_seconds.labels(model).observe(time.monotonic() - started)
        return result

    def inspect_image(self, image: np.ndarray, modality: Modality = Modality.frame) -> Inspection:
        if not self.serves("frames"):
            raise NotServed(
                "this service runs without the frame analyzer (start it with frames in --analyzers)"
            )
        result = self._bounded("frames", 1, lambda: self.inspector.inspect_still(image, modality=modality))
        return _inspection(result, "frames")

    def inspect_audio(self, samples: np.ndarray) -> Inspection:
        from liveinspect.media.segment import SAMPLE_RATE, Segment

        if not self.serves("speech"):
            raise NotServed(
                "this service runs without the speech analyzer (start it with speech in --analyzers)"
            )
        seconds = len(samples) / SAMPLE_RATE
        # One segment for the whole clip (at most a minute): voice activity finds the speech in it
        # and cuts it into Whisper chunks, so no sentence is cut at an arbitrary window boundary.
        segment = Segment(index=0, t0=0.0, t1=seconds, audio=samples)
        chunks = max(1, math.ceil(seconds / AUDIO_CHUNK_S))
        result = self._bounded("speech", chunks, lambda: self.inspector.inspect_segments([segment]))
        return _inspection(result, "speech")


def _inspection(result: ScanResult, analyzer: str) -> Inspection:
    """A request's answer from its one-off scan; refused when the analyzer or the text check
    failed on it, since no findings would then read as "pass"."""
    report = result.report
    problems = [
        f"{status.name}: " + "; ".join(status.errors or [status.reason or "failed"])
        for status in report.analyzers
        if status.name in (analyzer, "text") and (status.state == "failed" or status.failed_items)
    ]
    if problems:
        raise InspectionFailed("the input could not be inspected: " + " | ".join(problems))
    return Inspection(list(report.findings), list(report.texts), report.verdict)
