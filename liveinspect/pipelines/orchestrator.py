"""Runs the analyzers over a broadcast and assembles the report.

One `Inspector` owns one `Batcher` per analyzer. Every scan — a file, a live
stream, many streams at once from `scan_many`, or HTTP requests — submits its
items to those batchers, so model calls are shared across segments and
streams. The analyzers are shared and hold no scan's state: each scan names
its stream itself and keeps every analyzer's per-stream state, timings and
summaries in its own `BroadcastScan`, so concurrent scans on one inspector
give the same reports as sequential ones. Findings are graded in one place
(the policy, called from `BroadcastScan._add_findings`). A failing item is
skipped and recorded; an analyzer whose items keep failing is dropped for
the rest of the scan; a source that stops decoding keeps everything decoded
before.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from liveinspect import __version__
from liveinspect.errors import LiveInspectError, MediaError
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StillImage, StreamState
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

MAX_RECORDED_ERRORS = 5  # per analyzer and scan; the count says how many there were in all


@dataclass
class ScanOptions:
    """How a scan reads its source: window length, frame rate, duration bound, batching latency."""

    window_s: float = 30.0  # seconds of media per segment; bounds memory on long streams
    fps: float = 1.0  # sampled frames per second (scene changes add more)
    max_duration: float | None = None  # stop a live stream after this many seconds
    max_wait_s: float = 0.02  # how long a batch waits for more items (latency bound)
    progress: bool = True
    # An analyzer whose items fail this many times in a row is dropped for the rest of the scan;
    # fewer failures only skip the items that failed (each recorded in the report).
    max_consecutive_failures: int = 3
    allow_private_urls: bool = False  # let URLs reach loopback/private addresses (own network, tests)


@dataclass(frozen=True)
class BroadcastView:
    """What a broadcast-level assessor (`registry.register_assessor`) sees of a finished scan."""

    broadcast: Broadcast
    texts: Sequence[TextItem]
    findings: Sequence[Finding]
    frame_size: tuple[int, int] | None  # (width, height) of the decoded video, None without video
    fps: float
    policy: Any


@dataclass
class ScanResult:
    """A scan's report and the thumbnails its findings point at (for `write_report`)."""

    report: Report
    evidence: EvidenceStore = field(default_factory=EvidenceStore)


class Inspector:
    """Scans broadcasts with a fixed set of analyzers, a text analyzer and a policy.

    Thread-safe: any number of `scan` calls may run at once; their items share the batches.
    """

    def __init__(self, analyzers: Sequence[Analyzer], *, text_analyzer: Any, policy: Any,
                 skipped: Sequence[AnalyzerStatus] = (), options: ScanOptions | None = None,
                 product_options: Mapping[str, Any] | None = None,
                 on_batch: Callable[[str, int, float], None] | None = None,
                 max_batch_size: int | None = None):
        """`on_batch(analyzer, size, seconds)` is told of every model batch, whoever's items it held;
        `max_batch_size` caps every analyzer's batches (1: no batching, for comparisons)."""
        if max_batch_size is not None and max_batch_size < 1:
            raise LiveInspectError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.options = options or ScanOptions()
        self.policy = policy
        self.text_analyzer = text_analyzer
        self.product_options = dict(product_options or {})
        self.analyzers: list[Analyzer] = []
        self.skipped = list(skipped)
        batch_sizes: dict[str, int] = {}
        for analyzer in analyzers:
            try:
                reason = analyzer.unavailable_reason()
                if reason is None:  # an analyzer may load its model to know its batch size (Whisper)
                    batch_sizes[analyzer.name] = analyzer.batch_size
            except (LiveInspectError, ImportError, OSError) as error:
                reason = _reason(error)
            if reason:
                self.skipped.append(AnalyzerStatus(name=analyzer.name, state="skipped",
                                                   reason=reason, model=analyzer.model_name))
            else:
                self.analyzers.append(analyzer)
        self._batchers = {
            a.name: Batcher(a.forward, max_batch_size=min(batch_sizes[a.name],
                                                          max_batch_size or batch_sizes[a.name]),
                            max_wait_s=self.options.max_wait_s,
                            name=f"batch-{a.name}",
                            on_batch=None if on_batch is None else
                            (lambda size, seconds, name=a.name: on_batch(name, size, seconds)))
            for a in self.analyzers
        }
        self._scan_numbers = itertools.count(1)
        self._numbers_lock = threading.Lock()

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()

    def __enter__(self) -> "Inspector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public entry points -------------------------------------------------

    def scan(self, broadcast: Broadcast, *, on_findings: FindingsCallback | None = None,
             on_progress: ProgressCallback | None = None, stop: threading.Event | None = None,
             options: ScanOptions | None = None) -> ScanResult:
        """Scan one broadcast. `on_findings` gets findings as they are made, `on_progress` the media
        seconds inspected after each segment; setting `stop` ends the scan after the segment in
        hand, and the report keeps everything found so far (media state "stopped"). `options`
        replaces the inspector's for this scan (window, frame rate, duration bound); the batching
        latency (`max_wait_s`) is the inspector's, since its batchers are shared."""
        return BroadcastScan(self, broadcast, self._new_stream_id(), on_findings, on_progress, stop,
                             options=options).run()

    def inspect_still(self, image: Any, *, modality: Modality = Modality.cover,
                      broadcast: Broadcast | None = None) -> ScanResult:
        """Inspect one decoded RGB image (an uploaded cover or frame) as a scan of its own; its items
        share batches with every running scan's."""
        name = "cover" if modality is Modality.cover else "frame"
        return BroadcastScan(self, broadcast or Broadcast(source=""), self._new_stream_id(), None, None,
                             None, still=StillImage(image=image, modality=modality, name=name)).run()

    def inspect_segments(self, segments: Iterable[Segment], *, broadcast: Broadcast | None = None,
                         on_findings: FindingsCallback | None = None) -> ScanResult:
        """Scan media the caller decoded already (an uploaded audio clip) as one stream."""
        return BroadcastScan(self, broadcast or Broadcast(source=""), self._new_stream_id(), on_findings,
                             None, None, segments=segments).run()

    def _new_stream_id(self) -> str:
        with self._numbers_lock:
            return f"scan-{next(self._scan_numbers)}"

    def queue_depths(self) -> dict[str, int]:
        """Items waiting for each analyzer's next batch, from every scan and request."""
        return {name: batcher.pending for name, batcher in self._batchers.items()}

    def scan_many(self, broadcasts: Iterable[Broadcast], *, max_streams: int = 4) -> list[ScanResult]:
        """Scan several broadcasts concurrently; their items share the analyzers' batches."""
        broadcasts = list(broadcasts)
        with ThreadPoolExecutor(max_workers=max_streams) as pool:
            return list(pool.map(self.scan, broadcasts))

    def check_texts(self, items: Sequence[TextItem]) -> list[Finding]:
        """Graded findings in texts (titles, comments, captions), outside any scan."""
        return [finding for per_item in self.check_texts_each(items) for finding in per_item]

    def check_texts_each(self, items: Sequence[TextItem]) -> list[list[Finding]]:
        """`check_texts`, one list per item (one classifier batch over all of them)."""
        return [[self.policy.grade(f) for f in per_item]
                for per_item in self.text_analyzer.observe_each(items)]

    def text_status(self) -> AnalyzerStatus:
        return AnalyzerStatus(name="text", state="ran", model=self.text_analyzer.model_name,
                              model_version=self.text_analyzer.model_version)

    def model_statuses(self) -> list[AnalyzerStatus]:
        """What this inspector runs: the text check, each loaded analyzer and its parts, then what
        was skipped."""
        statuses = [self.text_status()]
        for analyzer in self.analyzers:
            statuses.append(AnalyzerStatus(name=analyzer.name, state="ran", model=analyzer.model_name,
                                           model_version=analyzer.model_version))
            statuses.extend(analyzer.component_statuses())
        return statuses + list(self.skipped)

    def grade(self, findings: list[Finding]) -> list[Finding]:
        """Articles, severity and action from the policy, for findings made outside a scan."""
        return [self.policy.grade(finding) for finding in findings]


class BroadcastScan:
    """The state of one scan of one broadcast: every analyzer's stream state, statuses, findings.

    `Inspector.scan` makes one per call. A scan whose inputs come from elsewhere (the Ray engine
    assembles reports from rows that workers decoded and ran through the models) subclasses it
    and overrides the two hooks, nothing else:

    - `submit(analyzer, item)`: where an item's model output comes from (here: the inspector's
      batcher for that analyzer);
    - `load_cover()`: how the broadcast's cover becomes a `StillImage` (or a recorded problem).

    Given `still` and `segments` stand in for the cover and the source. A subclass may read
    `active` (the analyzers still running) and add to `timings` and `problems`.
    """

    def __init__(self, inspector: Inspector, broadcast: Broadcast, stream_id: str,
                 on_findings: FindingsCallback | None, on_progress: ProgressCallback | None,
                 stop: threading.Event | None, *, options: ScanOptions | None = None,
                 still: StillImage | None = None, segments: Iterable[Segment] | None = None) -> None:
        """`still` and `segments` stand in for what the broadcast's cover and source would give."""
        self.inspector = inspector
        self.policy = inspector.policy
        self.options = options or inspector.options
        self.still = still
        self.given_segments = segments
        self.broadcast = broadcast
        self.stream_id = stream_id
        self.on_findings = on_findings
        self.on_progress = on_progress
        self.stop = stop
        self.evidence = EvidenceStore()
        self.findings: list[Finding] = []
        self.texts: list[TextItem] = []
        self.active = list(inspector.analyzers)
        self.streams: dict[str, StreamState] = {a.name: a.open_stream(stream_id) for a in self.active}
        self.status = {
            a.name: AnalyzerStatus(name=a.name, state="ran", model=a.model_name,
                                   model_version=a.model_version)
            for a in inspector.analyzers
        }
        self.text_status = inspector.text_status()
        # The text check's per-scan state: the products on sale (their categories decide which
        # efficacy claims are lawful) and which of them a sentence is nearest to in time.
        self.text_context = inspector.text_analyzer.open_context(broadcast.products)
        self.problems: list[AnalyzerStatus] = []  # stages of this scan that failed (e.g. the cover)
        self.timings: dict[str, float] = {}
        self.frame_size: tuple[int, int] | None = None
        self._consecutive_failures = {a.name: 0 for a in self.active} | {"text": 0}

    def run(self) -> ScanResult:
        started = time.perf_counter()
        self._check_metadata_texts()
        self._inspect_cover()
        media = self._inspect_media()
        for analyzer in list(self.active):
            self._absorb(analyzer, lambda a=analyzer: a.finish(self.streams[a.name]), frames={})
        self._assess()
        # Merging keeps the highest score of the repeats, so the merged findings are graded again.
        self.findings = [self.policy.grade(f) for f in
                         merge_repeated_findings(self.findings, gap_s=max(2.0, 2.0 / self.options.fps))]
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
            analyzers=[self.text_status, *self.status.values(), *self._component_statuses(),
                       *self.problems, *self.inspector.skipped],
            verdict=self.policy.verdict(self.findings),
            timings=self.timings,
        )
        return ScanResult(report, self.evidence)

    def _assess(self) -> None:
        """Broadcast-level assessors, each inside the error fence (a failure is reported, not fatal)."""
        from liveinspect.pipelines.registry import assessors

        view = BroadcastView(self.broadcast, tuple(self.texts), tuple(self.findings), self.frame_size,
                             self.options.fps, self.policy)
        for name, assess in assessors().items():
            try:
                self._add_findings(assess(view))
            except Exception as error:  # noqa: BLE001 - the rest of the report stands
                log.warning("assessor %s failed: %s", name, _reason(error))
                log.debug("assessor %s failed", name, exc_info=error)
                self.problems.append(AnalyzerStatus(name=name, state="failed", reason=_reason(error)))

    def _component_statuses(self) -> list[AnalyzerStatus]:
        """Analyzers made of parts (the frame analyzer's OCR, codes, faces, CLIP) report each part,
        with this scan's figures."""
        return [part for analyzer in self.inspector.analyzers if self.status[analyzer.name].state == "ran"
                for part in analyzer.component_statuses(self.streams[analyzer.name])]

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
        started = time.perf_counter()
        still = self.still or self.load_cover()
        if still is None:
            return
        self.evidence.keep_still(still.name, still.image)
        for analyzer in list(self.active):
            stream = self.streams[analyzer.name]
            self._absorb(analyzer, lambda a=analyzer, st=stream: self._run_items(
                a, a.preprocess_image(still, st)), frames={})
        self.timings["cover_s"] = round(time.perf_counter() - started, 3)

    def load_cover(self) -> StillImage | None:
        if not self.broadcast.cover:
            return None
        from liveinspect.media import load_image

        try:
            image = load_image(self.broadcast.cover)
        except MediaError as error:
            self.problems.append(AnalyzerStatus(name="cover", state="failed", reason=str(error)))
            return None
        return StillImage(image=image, modality=Modality.cover, name="cover")

    def _inspect_media(self) -> MediaStatus:
        if self.given_segments is None and not self.broadcast.source:
            return MediaStatus(state="none")
        started = time.perf_counter()
        status = MediaStatus(state="complete")
        try:
            if self.given_segments is not None:
                self._read(self.given_segments, status, total=None)
            else:
                from liveinspect.media import iter_segments, probe

                private = self.options.allow_private_urls
                info = probe(self.broadcast.source, allow_private_urls=private)
                total = info.duration if info.duration else None
                if self.options.max_duration and total:
                    total = min(total, self.options.max_duration)
                segments = iter_segments(self.broadcast.source, window_s=self.options.window_s,
                                         fps=self.options.fps, stream_id=self.stream_id,
                                         max_duration=self.options.max_duration,
                                         allow_private_urls=private)
                # closing(): a stopped scan releases the decoder (and its network connection) at once.
                with closing(segments):
                    self._read(segments, status, total)
        except MediaError as error:
            status.state = "partial" if status.segments else "failed"
            status.message = str(error)
            status.stopped_at = error.stopped_at if error.stopped_at is not None else status.duration_s
        self.timings["media_s"] = round(time.perf_counter() - started, 3)
        return status

    def _read(self, segments: Iterable[Segment], status: MediaStatus, total: float | None) -> None:
        """Inspect segments in order until they end or the caller sets `stop`."""
        with tqdm(total=round(total, 1) if total else None, unit="s", desc="scan",
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
                    return

    def _inspect_segment(self, segment: Segment) -> None:
        frames = {frame.index: frame.image for frame in segment.frames}
        if self.frame_size is None and segment.frames:
            height, width = segment.frames[0].image.shape[:2]
            self.frame_size = (width, height)
        self._compute_products(segment)
        # Submit every analyzer's items before waiting, so the analyzers' batches run side by side.
        pending = {}
        for analyzer in list(self.active):
            try:
                items = analyzer.preprocess(segment, self.streams[analyzer.name])
            except Exception as error:  # noqa: BLE001 - an analyzer's bug must not end the scan
                self._item_failed(analyzer, error, where=f"segment {segment.index}")
                continue
            pending[analyzer] = (items, [self.submit(analyzer, item) for item in items])
        for analyzer, (items, futures) in pending.items():
            self._absorb(analyzer, lambda a=analyzer, i=items, f=futures: self._collect(a, i, f),
                         frames=frames)

    def _compute_products(self, segment: Segment) -> None:
        """Each product an active analyzer needs, once for all of them (VAD for speech and voice)."""
        from liveinspect.pipelines.registry import products

        registered = products()
        for name in sorted({need for analyzer in self.active for need in analyzer.needs}):
            if name in segment.products:
                continue
            product = registered.get(name)
            if product is None:
                raise LiveInspectError(f"no product {name!r} is registered (needed by "
                                       f"{[a.name for a in self.active if name in a.needs]})")
            options = self.inspector.product_options.get(name) or product.Options()
            try:
                segment.products[name] = product.compute(segment, options)
            except Exception as error:  # noqa: BLE001 - those who need it fail their segment instead
                for analyzer in [a for a in self.active if name in a.needs]:
                    self._item_failed(analyzer, error, where=f"segment {segment.index} ({name})")

    # -- plumbing ------------------------------------------------------------------

    def submit(self, analyzer: Analyzer, item: Any) -> TimedFuture:
        return self.inspector._batchers[analyzer.name].submit(item)

    def _collect(self, analyzer: Analyzer, items: list, futures: list[TimedFuture]) -> AnalyzerOutput:
        """Postprocess each item's output. The analyzer's seconds are its model time for this scan's
        items (their share of each shared batch) plus postprocessing, not time spent waiting.
        An item that fails is skipped and recorded; the rest of the segment goes on."""
        output = AnalyzerOutput()
        status = self.status[analyzer.name]
        stream = self.streams[analyzer.name]
        for item, future in zip(items, futures, strict=True):
            try:
                result = future.result()
                started = time.perf_counter()
                produced = analyzer.postprocess(item, result, stream)
            except Exception as error:  # noqa: BLE001 - one bad item must not silence the analyzer
                self._item_failed(analyzer, error, where=_describe(item))
                if analyzer not in self.active:
                    break
                continue
            status.seconds += future.compute_s + time.perf_counter() - started
            self._consecutive_failures[analyzer.name] = 0
            output.extend(produced)
        return output

    def _run_items(self, analyzer: Analyzer, items: list) -> AnalyzerOutput:
        return self._collect(analyzer, items, [self.submit(analyzer, item) for item in items])

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
        self._add_findings(output.findings)
        self._add_texts(output.texts)

    def _add_texts(self, items: list[TextItem]) -> None:
        if not items:
            return
        self.texts.extend(items)
        if self.text_status.state != "ran":
            return
        try:
            findings = self.inspector.text_analyzer.observe(items, context=self.text_context)
        except Exception:  # noqa: BLE001 - retried text by text below, so only the bad ones are lost
            findings = self._check_texts_one_by_one(items)
        self._add_findings(findings)

    def _check_texts_one_by_one(self, items: list[TextItem]) -> list[Finding]:
        """After a failed check of many texts: each alone, recording those that fail (a policy pattern
        past its time budget, a classifier bug); the check is dropped after repeated failures."""
        findings: list[Finding] = []
        for item in items:
            if self.text_status.state != "ran":
                break
            try:
                findings.extend(self.inspector.text_analyzer.observe([item], context=self.text_context))
                self._consecutive_failures["text"] = 0
            except Exception as error:  # noqa: BLE001 - recorded in the report, the scan goes on
                self._record_failure(self.text_status, "text", error, where=_describe(item))
        return findings

    def _add_findings(self, findings: list[Finding]) -> None:
        """The one place a scan's findings are graded (articles, severity, action) and told."""
        if not findings:
            return
        for finding in findings:
            self.policy.grade(finding)
            finding.evidence.thumbnail = self._thumbnail_of(finding)
        self.findings.extend(findings)
        if self.on_findings:
            self.on_findings(findings)

    def _thumbnail_of(self, finding: Finding) -> str | None:
        """The report-relative path of the thumbnail `write_report` will write for this finding."""
        if finding.modality is Modality.cover and "cover" in self.evidence.stills:
            return self.evidence.still_path("cover")
        index = finding.evidence.frame_index
        if index is not None and index in self.evidence.frames:
            return self.evidence.frame_path(index)
        return finding.evidence.thumbnail

    def _item_failed(self, analyzer: Analyzer, error: Exception, *, where: str) -> None:
        """Skip one item (or segment) of `analyzer`, record why; drop the analyzer once its items
        fail `max_consecutive_failures` times in a row."""
        if self._record_failure(self.status[analyzer.name], analyzer.name, error, where=where) \
                and analyzer in self.active:
            self.active.remove(analyzer)

    def _record_failure(self, status: AnalyzerStatus, name: str, error: Exception, *, where: str) -> bool:
        """Count and record one failed item on `status`; True when that failure drops the component."""
        # One line on stderr; the traceback only in debug logs (-v), the error itself in the report.
        log.warning("%s: %s not inspected: %s", name, where, _reason(error))
        log.debug("%s failed", name, exc_info=error)
        status.failed_items += 1
        if len(status.errors) < MAX_RECORDED_ERRORS:
            status.errors.append(f"{where}: {_reason(error)}")
        self._consecutive_failures[name] += 1
        limit = self.options.max_consecutive_failures
        if self._consecutive_failures[name] < limit:
            return False
        status.state = "failed"
        status.reason = f"dropped after {limit} failures in a row; last: {_reason(error)}"
        return True

    def _fail(self, analyzer: Analyzer, error: Exception) -> None:
        log.warning("analyzer %s failed: %s", analyzer.name, _reason(error))
        log.debug("analyzer %s failed", analyzer.name, exc_info=error)
        self.active.remove(analyzer)
        status = self.status[analyzer.name]
        status.state = "failed"
        status.reason = _reason(error)


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, LiveInspectError) else f"{type(error).__name__}: {error}"


def _describe(item: Any) -> str:
    """Where an item came from, for error records: its frame, time or name."""
    for attribute in ("frame_index", "name"):
        value = getattr(item, attribute, None)
        if value not in (None, ""):
            return f"{attribute.replace('_', ' ')} {value}"
    t_start = getattr(item, "t_start", None)
    return f"item at {t_start:.1f} s" if isinstance(t_start, (int, float)) else "item"
