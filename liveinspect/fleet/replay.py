"""Assemble a broadcast's report from rows that workers decoded and ran through the models.

This is the orchestrator's own scan (`pipelines.orchestrator.BroadcastScan`)
fed from the rows: the cover comes decoded (the scan's `still`), the segments
come decoded with their shared products (its `segments`), and each item's
model output comes from the model stage instead of a local batcher (the
`submit` hook). Everything else — preprocess (run again here, so per-stream
state counts as in a local scan), postprocess with the scan's stream states,
the text check, failure fences, merging, `Policy.grade`, the report — is the
orchestrator's code, so the Ray engine's reports are the local engine's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from liveinspect.errors import LiveInspectError, MediaError
from liveinspect.media.segment import Segment
from liveinspect.fleet.work import ItemResult, WorkRow
from liveinspect.pipelines.base import Analyzer, StillImage
from liveinspect.pipelines.batcher import TimedFuture
from liveinspect.pipelines.orchestrator import BroadcastScan, Inspector, ScanResult
from liveinspect.schema import AnalyzerStatus, Broadcast, Modality

MISMATCH = ("the model stage made a different number of items than preprocess makes here; an analyzer's "
            "preprocess must depend on the segment alone for the Ray engine")


class FatalDecodeError(LiveInspectError):
    """Decoding raised an error the local scan does not catch either: the row fails without a report."""


class ShippedMediaError(MediaError):
    """A worker's MediaError, re-raised here with its exact words, so the media status reads the same."""

    def __init__(self, text: str, stopped_at: float | None) -> None:
        super().__init__(text, stopped_at=stopped_at)
        self._text = text

    def __str__(self) -> str:
        return self._text


class ReplayScan(BroadcastScan):
    """One broadcast's scan whose cover, segments and model outputs come from its rows, in order.

    The cover row becomes the scan's `still`, the segment rows its given `segments` (the end row
    ends them, raising the worker's MediaError if decoding failed); `submit` hands each item the
    output the model stage computed for it."""

    def __init__(self, inspector: Inspector, broadcast: Broadcast, stream_id: str,
                 rows: Iterator[WorkRow]) -> None:
        self._rows = rows
        self._outputs: dict[str, deque[ItemResult]] = {}
        self._cover_error = ""
        self.decode_s = 0.0
        self.mismatched_items = 0
        still = None
        if broadcast.cover:
            cover = self._next_row("cover")
            if cover.image is None:
                self._cover_error = cover.error
            else:
                self._use_outputs(cover)
                still = StillImage(image=cover.image, modality=Modality.cover, name="cover")
        segments = self._segments() if broadcast.source else None
        super().__init__(inspector, broadcast, stream_id, None, None, None, still=still, segments=segments)

    def _next_row(self, kind: str) -> WorkRow:
        row = next(self._rows, None)
        if row is None or row.kind != kind:
            raise LiveInspectError(f"Ray engine: expected a {kind} row, got "
                                   f"{row.kind if row else 'the end of the rows'}")
        return row

    def _segments(self) -> Iterator[Segment]:
        for row in self._rows:
            if row.kind == "end":
                self._check_used()
                self._outputs = {}
                self.decode_s = row.decode_s
                self.timings["decode_s"] = round(row.decode_s, 3)
                if row.fatal:
                    raise FatalDecodeError(row.error)
                if row.error:
                    raise ShippedMediaError(row.error, row.stopped_at)
                return
            self._use_outputs(row)
            yield row.segment

    def _use_outputs(self, row: WorkRow) -> None:
        self._check_used()
        self._outputs = {name: deque(results) for name, results in row.outputs.items()}

    def _check_used(self) -> None:
        active = {analyzer.name for analyzer in getattr(self, "active", ())}
        self.mismatched_items += sum(len(queue) for name, queue in self._outputs.items() if name in active)

    def load_cover(self) -> StillImage | None:
        if self._cover_error:  # the worker could not load it; say so as the local scan does
            self.problems.append(AnalyzerStatus(name="cover", state="failed", reason=self._cover_error))
            return None
        return super().load_cover()

    def submit(self, analyzer: Analyzer, item: object) -> TimedFuture:
        future = TimedFuture()
        queue = self._outputs.get(analyzer.name)
        if not queue:
            self.mismatched_items += 1
            future.set_exception(LiveInspectError(MISMATCH))
            return future
        result = queue.popleft()
        future.compute_s = result.compute_s
        if result.error is not None:
            future.set_exception(result.error.rebuild())
        else:
            future.set_result(result.value)
        return future


def assemble(inspector: Inspector, broadcast: Broadcast, stream_id: str,
             rows: Iterator[WorkRow]) -> tuple[ScanResult, ReplayScan]:
    """The report of one broadcast from its rows (all of them are consumed, whatever happens)."""
    try:
        scan = ReplayScan(inspector, broadcast, stream_id, rows)
        return scan.run(), scan
    finally:
        for _ in rows:  # a scan with no source leaves the end row; a failed one maybe more
            pass
