"""Runs the analyzers over a broadcast and assembles the report.

One `Inspector` owns one `Batcher` per analyzer. Every scan — a file, a live
stream, many streams at once from `scan_many`, or HTTP requests — submits its
items to those batchers, so model calls are shared across segments and
streams. A failing analyzer is marked `failed` and dropped for the rest of
the scan; a source that stops decoding keeps everything decoded before.
"""

from __future__ import annotations

import logging
from contextlib import closing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from liveinspect import __version__
from liveinspect.errors import LiveInspectError, MediaError
from liveinspect.media import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage
from liveinspect.pipelines.batcher import Batcher, TimedFuture
from liveinspect.pipelines.evidence import EvidenceStore
from liveinspect.pipelines.merge import merge_repeated_findings
from liveinspect.schema import (
    AnalyzerStatus,
    Broadcast,
    Finding,
    MediaStatus,
    Modality,
    Report,
    TextItem,
)

log = logging.getLogger(__name__)

FindingsCallback = Callable[[list[Finding]], None]
ProgressCallback = Callable[[float], None]  # seconds of media inspected so far


@dataclass
class ScanOptions:
    window_s: float = 30.0  # seconds of media per segment; bounds memory on long streams
    fps: float = 1.0  # sampled frames per second (scene changes add more)
    max_duration: float | None = None  # stop a live stream after this many seconds
    max_wait_s: float = 0.02  # how long a batch waits for more items (latency bound)
    progress: bool = True
    allow_private_urls: bool = False  # let URLs reach loopback/private addresses (own network, tests)


@dataclass
class ScanResult:
    report: Report
    evidence: EvidenceStore = field(default_factory=EvidenceStore)


class Inspector:
    """Scans broadcasts with a fixed set of analyzers, a text analyzer and a policy."""

    def __init__(self, analyzers: Sequence[Analyzer], *, text_analyzer: Any, policy: Any,
                 skipped: Sequence[AnalyzerStatus] = (), options: ScanOptions | None = None):
        self.options = options or ScanOptions()
        self.policy = policy
        self.text_analyzer = text_analyzer
        self.analyzers: list[Analyzer] = []
        self.skipped = list(skipped)
        for analyzer in analyzers:
            reason = analyzer.unavailable_reason()
            if reason:
                self.skipped.append(AnalyzerStatus(name=analyzer.name, state="skipped",
                                                   reason=reason, model=analyzer.model_name))
            else:
                self.analyzers.append(analyzer)
        self._batchers = {
            a.name: Batcher(a.forward, max_batch_size=a.batch_size,
                            max_wait_s=self.options.max_wait_s, name=f"batch-{a.name}")
            for a in self.analyzers
        }

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()

    def __enter__(self) -> "Inspector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public entry points -------------------------------------------------

    def scan(self, broadcast: Broadcast, *, stream_id: str = "0",
             on_findings: FindingsCallback | None = None, on_progress: ProgressCallback | None = None,
             stop: threading.Event | None = None) -> ScanResult:
        """Scan one broadcast. `on_findings` gets findings as they are made, `on_progress` the media
        seconds inspected after each segment; setting `stop` ends the scan after the segment in
        hand, and the report keeps everything found so far (media state "stopped")."""
        return _Scan(self, broadcast, stream_id, on_findings, on_progress, stop).run()

    def scan_many(self, broadcasts: Iterable[Broadcast], *, max_streams: int = 4) -> list[ScanResult]:
        """Scan several broadcasts concurrently; their items share the analyzers' batches."""
        broadcasts = list(broadcasts)
        with ThreadPoolExecutor(max_workers=max_streams) as pool:
            futures = [pool.submit(self.scan, b, stream_id=str(i)) for i, b in enumerate(broadcasts)]
            return [f.result() for f in futures]

    def check_texts(self, items: Sequence[TextItem]) -> list[Finding]:
        return self.grade(self.text_analyzer.analyze(items))

    def model_statuses(self) -> list[AnalyzerStatus]:
        """What this inspector runs: each loaded analyzer and its parts, then what was skipped."""
        statuses = []
        for analyzer in self.analyzers:
            statuses.append(AnalyzerStatus(name=analyzer.name, state="ran", model=analyzer.model_name,
                                           model_version=analyzer.model_version))
            statuses.extend(analyzer.component_statuses())
        return statuses + list(self.skipped)

    def grade(self, findings: list[Finding]) -> list[Finding]:
        """Fill in articles, severity and action from the policy where the analyzer left them."""
        for finding in findings:
            category = finding.evidence.category  # a negative-list category cites its own articles
            if not finding.articles:
                finding.articles = self.policy.articles_for(finding.kind, category)
            if "severity" not in finding.model_fields_set:
                finding.severity = self.policy.severity_for(finding.kind, finding.score, category)
            finding.action = self.policy.action_for(finding.severity)
        return findings


class _Scan:
    """The state of one scan of one broadcast."""

    def __init__(self, inspector: Inspector, broadcast: Broadcast, stream_id: str,
                 on_findings: FindingsCallback | None, on_progress: ProgressCallback | None = None,
                 stop: threading.Event | None = None) -> None:
        self.inspector = inspector
        self.on_progress = on_progress
        self.stop = stop
        self.options = inspector.options
        self.broadcast = broadcast
        self.stream_id = stream_id
        self.on_findings = on_findings
        self.evidence = EvidenceStore()
        self.findings: list[Finding] = []
        self.texts: list[TextItem] = []
        self.active = list(inspector.analyzers)
        self.status = {
            a.name: AnalyzerStatus(name=a.name, state="ran", model=a.model_name,
                                   model_version=a.model_version)
            for a in inspector.analyzers
        }
        self.problems: list[AnalyzerStatus] = []  # stages of this scan that failed (e.g. the cover)
        self.timings: dict[str, float] = {}

    def run(self) -> ScanResult:
        started = time.perf_counter()
        self._check_metadata_texts()
        self._inspect_cover()
        media = self._inspect_media()
        for analyzer in list(self.active):
            self._absorb(analyzer, lambda a=analyzer: a.finish(self.stream_id), frames={})
        self.findings = merge_repeated_findings(self.findings, gap_s=max(2.0, 2.0 / self.options.fps))
        self.findings.sort(key=lambda f: (f.t_start is not None, f.t_start or 0.0, f.kind.value))
        # Analyzers finish segments out of order; the transcript reads in broadcast order.
        self.texts.sort(key=lambda t: (t.t_start is not None, t.t_start or 0.0, t.modality.value))
        self.timings["total_s"] = round(time.perf_counter() - started, 3)
        for status in self.status.values():
            status.seconds = round(status.seconds, 3)
        report = Report(
            tool_version=__version__,
            broadcast=self.broadcast,
            media=media,
            findings=self.findings,
            texts=self.texts,
            analyzers=[*self.status.values(), *self._component_statuses(), *self.problems,
                       *self.inspector.skipped],
            verdict=self.inspector.policy.verdict(self.findings),
            timings=self.timings,
        )
        return ScanResult(report, self.evidence)

    def _component_statuses(self) -> list[AnalyzerStatus]:
        """Analyzers made of parts (the frame analyzer's OCR, codes, faces, CLIP) report each part."""
        return [part for analyzer in self.inspector.analyzers if self.status[analyzer.name].state == "ran"
                for part in analyzer.component_statuses()]

    # -- stages ----------------------------------------------------------------

    def _check_metadata_texts(self) -> None:
        b = self.broadcast
        items = [TextItem(modality=Modality.title, text=b.title, source="title")] if b.title else []
        profile = "\n".join(part for part in (b.account_name, b.profile) if part)
        if profile:
            items.append(TextItem(modality=Modality.profile, text=profile, source="profile"))
        # The product list is shown as part of the live room's own listing (Art. 20 (3)).
        for product in b.products:
            parts = (product.name, product.category or "", product.description)
            text = " ".join(part for part in parts if part)
            items.append(TextItem(modality=Modality.title, text=text, source="product_list"))
        self._add_texts(items)

    def _inspect_cover(self) -> None:
        if not self.broadcast.cover:
            return
        from liveinspect.media import load_image

        started = time.perf_counter()
        try:
            image = load_image(self.broadcast.cover)
        except MediaError as error:
            self.problems.append(AnalyzerStatus(name="cover", state="failed", reason=str(error)))
            return
        self.evidence.keep_still("cover", image)
        still = StillImage(image=image, modality=Modality.cover, name="cover")
        for analyzer in list(self.active):
            self._absorb(analyzer, lambda a=analyzer: self._run_items(a, a.preprocess_image(still)),
                         frames={})
        self.timings["cover_s"] = round(time.perf_counter() - started, 3)

    def _inspect_media(self) -> MediaStatus:
        if not self.broadcast.source:
            return MediaStatus(state="none")
        from liveinspect.media import iter_segments, probe

        started = time.perf_counter()
        status = MediaStatus(state="complete")
        try:
            info = probe(self.broadcast.source, allow_private_urls=self.options.allow_private_urls)
            total = info.duration if info.duration else None
            if self.options.max_duration and total:
                total = min(total, self.options.max_duration)
            segments = iter_segments(self.broadcast.source, window_s=self.options.window_s,
                                     fps=self.options.fps, stream_id=self.stream_id,
                                     max_duration=self.options.max_duration,
                                     allow_private_urls=self.options.allow_private_urls)
            # closing(): a stopped scan releases the decoder (and its network connection) at once.
            with closing(segments), tqdm(total=round(total, 1) if total else None, unit="s", desc="scan",
                                         disable=not self.options.progress, leave=False) as bar:
                for segment in segments:
                    self._inspect_segment(segment)
                    status.segments += 1
                    status.frames += len(segment.frames)
                    status.duration_s = segment.t1
                    bar.update(round(segment.duration, 1))
                    if self.on_progress:
                        self.on_progress(segment.t1)
                    if self.stop is not None and self.stop.is_set():
                        status.state, status.stopped_at = "stopped", segment.t1
                        status.message = "stopped by the caller"
                        break
        except MediaError as error:
            status.state = "partial" if status.segments else "failed"
            status.message = str(error)
            status.stopped_at = error.stopped_at if error.stopped_at is not None else status.duration_s
        self.timings["media_s"] = round(time.perf_counter() - started, 3)
        return status

    def _inspect_segment(self, segment: Segment) -> None:
        frames = {frame.index: frame.image for frame in segment.frames}
        # Submit every analyzer's items before waiting, so the analyzers' batches run side by side.
        pending = {}
        for analyzer in list(self.active):
            try:
                items = analyzer.preprocess(segment)
                pending[analyzer] = (items, [self._submit(analyzer, item) for item in items])
            except Exception as error:  # noqa: BLE001 - an analyzer's bug must not end the scan
                self._fail(analyzer, error)
        for analyzer, (items, futures) in pending.items():
            self._absorb(analyzer, lambda a=analyzer, i=items, f=futures: self._collect(a, i, f),
                         frames=frames)

    # -- plumbing ------------------------------------------------------------------

    def _submit(self, analyzer: Analyzer, item: Any) -> TimedFuture:
        return self.inspector._batchers[analyzer.name].submit(item)

    def _collect(self, analyzer: Analyzer, items: list, futures: list[TimedFuture]) -> AnalyzerOutput:
        """Postprocess each item's output. The analyzer's seconds are its model time for this scan's
        items (their share of each shared batch) plus postprocessing, not time spent waiting."""
        output = AnalyzerOutput()
        status = self.status[analyzer.name]
        for item, future in zip(items, futures, strict=True):
            result = future.result()
            started = time.perf_counter()
            output.extend(analyzer.postprocess(item, result))
            status.seconds += future.compute_s + time.perf_counter() - started
        return output

    def _run_items(self, analyzer: Analyzer, items: list) -> AnalyzerOutput:
        return self._collect(analyzer, items, [self._submit(analyzer, item) for item in items])

    def _absorb(self, analyzer: Analyzer, produce: Callable[[], AnalyzerOutput],
                frames: dict) -> None:
        if analyzer not in self.active:
            return
        try:
            output = produce()
        except Exception as error:  # noqa: BLE001
            self._fail(analyzer, error)
            return
        status = self.status[analyzer.name]
        status.items += len(output.texts) + len(output.findings)
        status.details.update(output.details)
        for entry in (*output.findings, *output.texts):
            index = entry.evidence.frame_index if isinstance(entry, Finding) else entry.frame_index
            if index is not None and index in frames:
                self.evidence.keep_frame(index, frames[index])
        self._add_findings(self.inspector.grade(output.findings))
        self._add_texts(output.texts)

    def _add_texts(self, items: list[TextItem]) -> None:
        if not items:
            return
        self.texts.extend(items)
        self._add_findings(self.inspector.check_texts(items))

    def _add_findings(self, findings: list[Finding]) -> None:
        if findings:
            self.findings.extend(findings)
            if self.on_findings:
                self.on_findings(findings)

    def _fail(self, analyzer: Analyzer, error: Exception) -> None:
        log.exception("analyzer %s failed", analyzer.name)
        self.active.remove(analyzer)
        status = self.status[analyzer.name]
        status.state = "failed"
        kind = "" if isinstance(error, LiveInspectError) else f"{type(error).__name__}: "
        status.reason = f"{kind}{error}"
