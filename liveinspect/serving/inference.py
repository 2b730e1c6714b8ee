"""One inspector per process, shared by synchronous requests and jobs alike.

Jobs call `Inspector.scan`; `/v1/image` and `/v1/audio` hand their items to
the same per-analyzer batchers the scans use, so an uploaded image rides in
the same model batch as the frames of live streams. `/v1/text` items share
one text batcher, so concurrent text requests become one classifier call.
Synchronous work is admitted only while fewer than `max_pending_items` items
wait (else `Overloaded`, answered 429), and nobody waits longer than
`sync_timeout_s` for a model.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage
from liveinspect.pipelines.batcher import Batcher
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.schema import Action, Finding, Modality, TextItem, Verdict
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.metrics import ServiceMetrics

log = logging.getLogger(__name__)

# The vendors' three-way suggestion, from the Measures' graded actions (Articles 10 and 14).
SUGGESTION = {
    Action.none: "pass",
    Action.popup_prompt: "review",
    Action.violation_warning: "review",
    Action.traffic_restriction: "block",
    Action.suspension: "block",
}


class Overloaded(LiveInspectError):
    """Too much work is waiting; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelTimeout(LiveInspectError):
    """A synchronous request waited longer than the service allows for its model."""


class NotServed(LiveInspectError):
    """This service was started without the analyzer a request needs."""


@dataclass
class Inspection:
    findings: list[Finding]
    texts: list[TextItem] = field(default_factory=list)
    verdict: Verdict | None = None

    @property
    def action(self) -> Action:
        return self.verdict.action if self.verdict else Action.none


def build_service_inspector(config: ServiceConfig, metrics: ServiceMetrics) -> Inspector:
    """The process's inspector, every model call instrumented (batch size and seconds per model)."""
    from liveinspect.pipelines.registry import build_analyzers, build_text_analyzer
    from liveinspect.policy import load_policy

    policy = load_policy()
    text_analyzer = build_text_analyzer(policy, config.claim_model, lexicon_only=config.lexicon_only)
    names = list(config.analyzers) if config.analyzers is not None else None
    analyzers, skipped = build_analyzers(names, config.analyzer_settings, policy)
    for analyzer in analyzers:
        if config.max_batch_size is not None:
            try:
                analyzer.batch_size = min(analyzer.batch_size, config.max_batch_size)
            except AttributeError:  # a batch size its model decides (Whisper's) cannot be capped here
                log.warning("analyzer %s keeps its own batch size", analyzer.name)
        _instrument(analyzer, metrics)
    # Shorter windows than the offline default: a live finding can only be reported once its
    # segment is complete, so the window bounds the latency (Article 9: real-time inspection).
    options = ScanOptions(
        window_s=config.window_s, fps=config.fps, max_wait_s=config.max_wait_s, progress=False
    )
    if "allow_private_urls" in ScanOptions.__dataclass_fields__:
        options = ScanOptions(**{**vars(options), "allow_private_urls": config.allow_private_urls})
    return Inspector(analyzers, text_analyzer=text_analyzer, policy=policy, skipped=skipped, options=options)


def _instrument(analyzer: Analyzer, metrics: ServiceMetrics) -> None:
    # The Inspector builds its batchers from `analyzer.forward`; an instance attribute set before
    # that is what they call, so every batch (from scans and requests alike) is measured once.
    forward = analyzer.forward
    name = analyzer.name

    def measured_forward(batch: Sequence[Any]) -> list[Any]:
        started = time.perf_counter()
        try:
            return forward(batch)
        finally:
            metrics.batch_size.labels(name).observe(len(batch))
            metrics.batch_seconds.labels(name).observe(time.perf_counter() - started)

    analyzer.forward = measured_forward  # type: ignore[method-assign]


class SharedInference:
    """Synchronous inspection of texts, images and short audio on the shared inspector."""

    def __init__(self, inspector: Inspector, config: ServiceConfig, metrics: ServiceMetrics) -> None:
        self.inspector = inspector
        self.config = config
        self.metrics = metrics
        self._pending = 0
        self._lock = threading.Lock()
        self._own_batchers: dict[str, Batcher] = {}
        self.text_batcher = Batcher(
            self._check_text_batch, max_batch_size=64, max_wait_s=config.max_wait_s, name="batch-text"
        )

    def close(self) -> None:
        self.text_batcher.close()
        for batcher in self._own_batchers.values():
            batcher.close()

    # -- what is loaded, what waits ------------------------------------------------------

    def analyzer(self, name: str) -> Analyzer | None:
        return next((a for a in self.inspector.analyzers if a.name == name), None)

    def _batcher(self, analyzer: Analyzer) -> Batcher:
        # The inspector's own batcher, so requests share batches with running scans. It is not
        # public API yet (see the service notes); a private batcher keeps requests working if it moves.
        shared = getattr(self.inspector, "_batchers", {}).get(analyzer.name)
        if shared is not None:
            return shared
        with self._lock:
            if analyzer.name not in self._own_batchers:
                self._own_batchers[analyzer.name] = Batcher(
                    analyzer.forward,
                    max_batch_size=analyzer.batch_size,
                    max_wait_s=self.config.max_wait_s,
                    name=f"serve-{analyzer.name}",
                )
            return self._own_batchers[analyzer.name]

    def queue_depth(self) -> dict[str, int]:
        """Items waiting in each model's batcher (scans' and requests') plus the text batcher."""
        depth = {}
        for analyzer in self.inspector.analyzers:
            batcher = self._batcher(analyzer)
            depth[analyzer.name] = batcher._queue.qsize()  # noqa: SLF001 - read-only gauge
        depth["text"] = self.text_batcher._queue.qsize()  # noqa: SLF001
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

    def _wait(self, futures: Sequence[Future], model: str, started: float) -> list[Any]:
        deadline = started + self.config.sync_timeout_s
        results = []
        for future in futures:
            try:
                results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except FutureTimeout as error:
                raise ModelTimeout(
                    f"the {model} model did not answer within {self.config.sync_timeout_s:.0f} s; retry later"
                ) from error
        self.metrics.item_seconds.labels(model).observe(time.monotonic() - started)
        return results

    # -- text ----------------------------------------------------------------------------

    def _check_text_batch(self, items: Sequence[TextItem]) -> list[list[Finding]]:
        return check_texts_per_item(self.inspector.check_texts, items)

    def check_texts(self, items: Sequence[TextItem]) -> list[Inspection]:
        self._admit(len(items))
        try:
            started = time.monotonic()
            futures = [self.text_batcher.submit(item) for item in items]
            per_item = self._wait(futures, "text", started)
        finally:
            self._release(len(items))
        return [
            Inspection(findings, verdict=self.inspector.policy.verdict(findings)) for findings in per_item
        ]

    # -- images and audio ------------------------------------------------------------------

    def _run(self, analyzer: Analyzer, items: list[Any]) -> AnalyzerOutput:
        self._admit(max(1, len(items)))
        try:
            started = time.monotonic()
            futures = [self._batcher(analyzer).submit(item) for item in items]
            results = self._wait(futures, analyzer.name, started)
        finally:
            self._release(max(1, len(items)))
        output = AnalyzerOutput()
        for item, result in zip(items, results, strict=True):
            output.extend(analyzer.postprocess(item, result))
        return output

    def _conclude(self, output: AnalyzerOutput) -> Inspection:
        findings = self.inspector.grade(list(output.findings))
        if output.texts:
            findings.extend(self.inspector.check_texts(output.texts))
        return Inspection(findings, output.texts, self.inspector.policy.verdict(findings))

    def inspect_image(self, image: np.ndarray, modality: Modality = Modality.frame) -> Inspection:
        analyzer = self.analyzer("frames")
        if analyzer is None:
            raise NotServed(
                "this service runs without the frame analyzer (start it with frames in --analyzers)"
            )
        stream = f"image-{uuid.uuid4().hex[:12]}"
        items = analyzer.preprocess_image(StillImage(image=image, modality=modality, name="upload"))
        for item in items:
            # A stream of its own: per-stream state (presenter presence) must not mix with a scan's.
            if hasattr(item, "stream_id"):
                item.stream_id = stream
        try:
            return self._conclude(self._run(analyzer, items))
        finally:
            analyzer.finish(stream)

    def inspect_audio(self, samples: np.ndarray) -> Inspection:
        from liveinspect.media.segment import SAMPLE_RATE, Segment

        analyzer = self.analyzer("speech")
        if analyzer is None:
            raise NotServed(
                "this service runs without the speech analyzer (start it with speech in --analyzers)"
            )
        stream = f"audio-{uuid.uuid4().hex[:12]}"
        segment = Segment(index=0, t0=0.0, t1=len(samples) / SAMPLE_RATE, audio=samples, stream_id=stream)
        try:
            output = self._run(analyzer, analyzer.preprocess(segment))
            output.texts.sort(key=lambda t: t.t_start or 0.0)
            return self._conclude(output)
        finally:
            analyzer.finish(stream)


def check_texts_per_item(check, items: Sequence[TextItem]) -> list[list[Finding]]:
    """Each item's findings from one `check(items)` call over all of them (one classifier batch).

    The text analyzer returns findings grouped by item, in item order, and
    every finding quotes its item's text, modality and time. Items are
    deduplicated first, so no two distinct items look alike and the list can
    be cut where the quoted item changes; duplicates get the same findings.
    """
    unique: dict[tuple, int] = {}
    for item in items:
        unique.setdefault(_identity(item), len(unique))
    distinct = [next(i for i in items if _identity(i) == key) for key in unique]
    findings = check(distinct) if distinct else []
    per_distinct: list[list[Finding]] = [[] for _ in distinct]
    position = 0
    for index, item in enumerate(distinct):
        while position < len(findings) and _belongs(findings[position], item):
            per_distinct[index].append(findings[position])
            position += 1
    if position != len(findings):
        raise LiveInspectError(f"could not attribute {len(findings) - position} text findings to their items")
    return [list(per_distinct[unique[_identity(item)]]) for item in items]


def _identity(item: TextItem) -> tuple:
    return (item.text, item.modality, item.t_start, item.t_end)


def _belongs(finding: Finding, item: TextItem) -> bool:
    text = finding.evidence.text
    if text is None or text.text != item.text or finding.modality != item.modality:
        return False
    # Word timings narrow a spoken finding's time inside its item; otherwise it is the item's time.
    if item.words:
        return True
    return (finding.t_start, finding.t_end) == (item.t_start, item.t_end)
