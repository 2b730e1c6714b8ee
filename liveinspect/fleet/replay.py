"""Assemble a broadcast's report from rows that workers decoded and ran through the models.

This is the orchestrator's own scan (`pipelines.orchestrator._Scan`) with
three of its steps fed from the rows instead of done here: the cover comes
as a decoded image, the segments come decoded (with their shared products),
and each item's model output comes from the model stage rather than from a
local batcher. Everything else — preprocess (run again here, so per-stream
state counts as in a local scan), postprocess with the scan's stream states,
the text check, failure fences, merging, `Policy.grade`, the report — is the
orchestrator's code, so the Ray engine's reports are the local engine's.

`_Scan` is private to the orchestrator; the lead has been asked for a public
hook (a scan fed with segments and outputs). Until then this subclass is the
one place that depends on its internals.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

from liveinspect.errors import LiveInspectError
from liveinspect.fleet.work import ItemResult, WorkRow
from liveinspect.pipelines.base import Analyzer, StillImage
from liveinspect.pipelines.batcher import TimedFuture
from liveinspect.pipelines.orchestrator import Inspector, ScanResult, _Scan
from liveinspect.schema import AnalyzerStatus, Broadcast, MediaStatus, Modality

MISMATCH = ("the model stage made a different number of items than preprocess makes here; an analyzer's "
            "preprocess must depend on the segment alone for the Ray engine")


class FatalDecodeError(LiveInspectError):
    """Decoding raised an error the local scan does not catch either: the row fails without a report."""


class ReplayScan(_Scan):
    """One broadcast's scan whose media, cover and model outputs come from `rows`, in order."""

    def __init__(self, inspector: Inspector, broadcast: Broadcast, stream_id: str,
                 rows: Iterator[WorkRow]) -> None:
        super().__init__(inspector, broadcast, stream_id, None, None, None)
        self._rows = rows
        self._outputs: dict[str, deque[ItemResult]] = {}
        self.decode_s = 0.0
        self.mismatched_items = 0

    def _next_row(self, kind: str) -> WorkRow:
        row = next(self._rows, None)
        if row is None or row.kind != kind:
            raise LiveInspectError(f"Ray engine: expected a {kind} row, got "
                                   f"{row.kind if row else 'the end of the rows'}")
        return row

    def _use_outputs(self, row: WorkRow) -> None:
        self._check_used()
        self._outputs = {name: deque(results) for name, results in row.outputs.items()}

    def _check_used(self) -> None:
        left = sum(len(queue) for name, queue in self._outputs.items()
                   if any(a.name == name for a in self.active))
        self.mismatched_items += left

    # -- the steps fed from the rows ------------------------------------------------------

    def _inspect_cover(self) -> None:
        if not self.broadcast.cover:
            return
        row = self._next_row("cover")
        started = time.perf_counter()
        if row.image is None:
            self.problems.append(AnalyzerStatus(name="cover", state="failed", reason=row.error))
            return
        self._use_outputs(row)
        self.evidence.keep_still("cover", row.image)
        still = StillImage(image=row.image, modality=Modality.cover, name="cover")
        for analyzer in list(self.active):
            stream = self.streams[analyzer.name]
            self._absorb(analyzer, lambda a=analyzer, st=stream: self._run_items(
                a, a.preprocess_image(still, st)), frames={})
        self.timings["cover_s"] = round(time.perf_counter() - started, 3)

    def _inspect_media(self) -> MediaStatus:
        """The local scan's media loop over decoded rows; the end row says how decoding ended."""
        if not self.broadcast.source:
            return MediaStatus(state="none")
        started = time.perf_counter()
        status = MediaStatus(state="complete")
        for row in self._rows:
            if row.kind == "end":
                self.decode_s = row.decode_s
                if row.fatal:
                    raise FatalDecodeError(row.error)
                if row.error:
                    status.state = "partial" if status.segments else "failed"
                    status.message = row.error
                    status.stopped_at = row.stopped_at if row.stopped_at is not None else status.duration_s
                break
            segment = row.segment
            self._use_outputs(row)
            self._inspect_segment(segment)
            status.segments += 1
            status.frames += len(segment.frames)
            status.duration_s = segment.t1
        self._check_used()
        self._outputs = {}
        self.timings["media_s"] = round(time.perf_counter() - started, 3)
        self.timings["decode_s"] = round(self.decode_s, 3)
        return status

    def _submit(self, analyzer: Analyzer, item: object) -> TimedFuture:
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
    scan = ReplayScan(inspector, broadcast, stream_id, rows)
    try:
        return scan.run(), scan
    finally:
        for _ in rows:  # a scan with no source leaves the end row; a failed one maybe more
            pass
