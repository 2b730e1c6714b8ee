"""What makes a row's result reusable, and where each row's outcome is kept.

A row is done when its folder holds a `report.json` and a `run.json` whose
key matches the key the row would get now. The key hashes what decides the
result: the broadcast's fields, the size and modification time of its local
files, every model's name and version, the policy's version, the scan
options that change what is read (window, frame rate, duration bound,
private URLs allowed) and the tool's version. So a rerun skips finished rows, retries failed ones, and
rescans a row whose file, model or policy changed. A URL is its own input:
a live room at the same URL counts as the same row.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liveinspect import __version__
from liveinspect.schema import Broadcast, Report

RUN_FILE = "run.json"
REPORTS_DIR = "reports"


def inspector_fingerprint(inspector: Any) -> dict[str, Any]:
    """What about the inspector decides a result: models, policy, how media is read, tool version."""
    options = inspector.options
    return {
        "tool": __version__,
        "policy": inspector.policy.version,
        "models": [[s.name, s.state, s.model, s.model_version] for s in inspector.model_statuses()],
        "scan": {"window_s": options.window_s, "fps": options.fps, "max_duration": options.max_duration,
                 "allow_private_urls": options.allow_private_urls},
    }


def _file_identity(value: str | None) -> Any:
    if not value or "://" in value:
        return None
    try:
        stat = os.stat(value)
    except OSError:
        return "missing"
    return [stat.st_size, stat.st_mtime_ns]


def run_key(broadcast: Broadcast, fingerprint: dict[str, Any]) -> str:
    """The hash a finished row's run.json must carry for the row to be skipped."""
    inputs = {
        "broadcast": broadcast.model_dump(mode="json"),
        "files": {"source": _file_identity(broadcast.source), "cover": _file_identity(broadcast.cover)},
        "inspector": fingerprint,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class RowRun:
    """One row's outcome, as run.json keeps it."""

    id: str
    key: str
    status: str  # done | failed
    error: str = ""
    engine: str = ""
    finished_at: str = ""
    media_seconds: float = 0.0
    findings: int = 0
    seconds: float = 0.0  # wall seconds the row took in its engine (0 when unknown)

    @property
    def done(self) -> bool:
        return self.status == "done"


def row_dir(out_dir: str | Path, row_id: str) -> Path:
    return Path(out_dir) / REPORTS_DIR / row_id


def read_run(out_dir: str | Path, row_id: str) -> RowRun | None:
    path = row_dir(out_dir, row_id) / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RowRun(**data)
    except (OSError, ValueError, TypeError):
        return None  # no run yet, or one cut short: the row runs again


def is_done(out_dir: str | Path, row_id: str, key: str) -> bool:
    run = read_run(out_dir, row_id)
    return bool(run and run.done and run.key == key
                and (row_dir(out_dir, row_id) / "report.json").is_file())


def write_run(out_dir: str | Path, run: RowRun) -> Path:
    """Written last, after the report, so a row cut short midway is never taken for done."""
    folder = row_dir(out_dir, run.id)
    folder.mkdir(parents=True, exist_ok=True)
    run.finished_at = run.finished_at or datetime.now(UTC).isoformat(timespec="seconds")
    path = folder / RUN_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(asdict(run), ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(path)
    return path


def outcome(report: Report) -> tuple[str, str]:
    """(status, error) of a scanned row: media that failed or broke off makes the row failed (a rerun
    retries it); analyzers that skipped items are in the report and leave the row done."""
    media = report.media
    if media.state in ("failed", "partial"):
        return "failed", media.message or f"media {media.state}"
    return "done", ""
