"""`scan_manifest`: plan a run (skip done rows), hand the rest to an engine, write what comes back.

Both engines use one inspector built here, in this process, from the same
analyzers, settings and policy: the local engine scans with it, the Ray
engine assembles its reports with it from the workers' model outputs. So the
run key (models and versions, policy, scan options) is the same for both, and
a manifest begun on one engine can be finished on the other.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from liveinspect.errors import LiveInspectError
from liveinspect.fleet.manifest import ManifestRow, read_manifest
from liveinspect.fleet.options import FleetOptions
from liveinspect.fleet.runs import (
    RowRun,
    inspector_fingerprint,
    is_done,
    outcome,
    row_dir,
    run_key,
    write_run,
)
from liveinspect.fleet.tables import write_tables
from liveinspect.pipelines.orchestrator import Inspector, ScanResult

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass
class PendingRow:
    row: ManifestRow
    key: str


@dataclass
class RowDone:
    """What an engine hands back for one row: its result, or the error that stopped it."""

    pending: PendingRow
    result: ScanResult | None
    error: str = ""
    seconds: float = 0.0


OnRow = Callable[[RowDone], None]


@dataclass
class FleetSummary:
    rows: int
    done: int
    failed: int
    skipped: int
    media_seconds: float  # broadcast seconds inspected in this run (skipped rows not counted)
    wall_seconds: float
    failures: dict[str, str] = field(default_factory=dict)  # row id -> error
    tables: dict[str, Path] = field(default_factory=dict)
    stages: dict[str, dict] = field(default_factory=dict)  # per-stage busy seconds (the Ray engine)

    @property
    def minutes_per_second(self) -> float:
        """Broadcast minutes inspected per wall second."""
        return self.media_seconds / 60.0 / self.wall_seconds if self.wall_seconds else 0.0


def scan_manifest(manifest: str | Path | Sequence[ManifestRow], out_dir: str | Path, *,
                  engine: str = "local", options: FleetOptions | None = None,
                  inspector: Inspector | None = None) -> FleetSummary:
    """Scan every row of `manifest` not already done into `out_dir` (reports/<id>/, findings.parquet,
    findings.jsonl, rows.jsonl). `inspector` reuses one already built (it must match `options`)."""
    if engine not in ENGINES:
        raise LiveInspectError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    options = options or FleetOptions()
    rows = read_manifest(manifest) if isinstance(manifest, (str, Path)) else list(manifest)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    owned = inspector is None
    if owned:
        inspector = build_fleet_inspector(options)
    try:
        fingerprint = inspector_fingerprint(inspector)
        pending, skipped = [], set()
        for row in rows:
            if row.broadcast is None:
                write_run(out, RowRun(id=row.id, key="", status="failed", error=row.error, engine=engine))
                continue
            key = run_key(row.broadcast, fingerprint)
            if is_done(out, row.id, key):
                skipped.add(row.id)
            else:
                pending.append(PendingRow(row, key))
        summary = FleetSummary(rows=len(rows), done=0, failed=0, skipped=len(skipped), media_seconds=0.0,
                               wall_seconds=0.0)

        def record(finished: RowDone) -> None:
            _record(out, engine, inspector, finished, summary)

        if pending:
            if engine == "local":
                from liveinspect.fleet.local import run_local

                run_local(inspector, pending, record, options)
            else:
                from liveinspect.fleet.ray_engine import run_ray

                summary.stages = run_ray(inspector, pending, record, options)
    finally:
        if owned:
            inspector.close()
    summary.failed += sum(1 for row in rows if row.broadcast is None)
    summary.failures.update({row.id: row.error for row in rows if row.broadcast is None})
    summary.tables = write_tables(out, rows, skipped=skipped)
    summary.wall_seconds = time.perf_counter() - started
    return summary


def build_fleet_inspector(options: FleetOptions) -> Inspector:
    from liveinspect.pipelines.registry import build_inspector
    from liveinspect.policy import load_policy_dir

    return build_inspector(options.analyzers, options=options.scan,
                           policy=load_policy_dir(options.policy_dir), settings=dict(options.settings))


def _record(out: Path, engine: str, inspector: Inspector, finished: RowDone, summary: FleetSummary) -> None:
    """Write one row's report and then its run.json (so a crash between the two reruns the row)."""
    from liveinspect.report.html import write_report

    row = finished.pending.row
    status, error = "failed", finished.error
    media_seconds, findings = 0.0, 0
    if finished.result is not None:
        report = finished.result.report
        try:
            # A row scanned again starts from an empty folder: no thumbnails left from the last try.
            shutil.rmtree(row_dir(out, row.id), ignore_errors=True)
            write_report(report, finished.result.evidence, row_dir(out, row.id), policy=inspector.policy)
            status, error = outcome(report)
        except (OSError, LiveInspectError) as failure:
            status, error = "failed", f"writing the report failed: {failure}"
        media_seconds, findings = report.media.duration_s, len(report.findings)
    write_run(out, RowRun(id=row.id, key=finished.pending.key, status=status, error=error, engine=engine,
                          media_seconds=media_seconds, findings=findings,
                          seconds=round(finished.seconds, 3)))
    summary.media_seconds += media_seconds
    if status == "done":
        summary.done += 1
    else:
        summary.failed += 1
        summary.failures[row.id] = error
        log.warning("row %s failed: %s", row.id, error)
