"""The run's tables for analysis: every finding of every row, and every row's outcome.

`findings.parquet` (and the same rows in `findings.jsonl`) has one row per
finding, with the manifest row it came from; `rows.jsonl` has one line per
manifest row: done or failed, the error, where its report is. Both are
rebuilt from the reports on disk at the end of each run, so a rerun that
only retried the failed rows still writes the whole manifest's tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from liveinspect.fleet.manifest import ManifestRow
from liveinspect.fleet.runs import read_run, row_dir
from liveinspect.schema import Finding, Report

FINDING_COLUMNS = {  # name -> pyarrow type name; fixed so that an empty run still has its columns
    "row_id": "string", "row_status": "string", "source": "string", "title": "string",
    "kind": "string", "modality": "string", "t_start": "float64", "t_end": "float64",
    "score": "float64", "severity": "string", "action": "string", "articles": "list<string>",
    "message": "string", "matched": "string", "category": "string", "frame_index": "int64",
    "thumbnail": "string", "model": "string", "model_version": "string", "report": "string",
}


def finding_record(row_id: str, status: str, report: Report, finding: Finding, report_path: str) -> dict:
    evidence = finding.evidence
    matched = evidence.text.matched if evidence.text else (evidence.matched_term or evidence.payload)
    folder = str(Path(report_path).parent)
    return {
        "row_id": row_id, "row_status": status, "source": report.broadcast.source,
        "title": report.broadcast.title, "kind": finding.kind.value, "modality": finding.modality.value,
        "t_start": finding.t_start, "t_end": finding.t_end, "score": finding.score,
        "severity": finding.severity.value, "action": finding.action.value,
        "articles": list(finding.articles), "message": finding.message, "matched": matched,
        "category": evidence.category, "frame_index": evidence.frame_index,
        "thumbnail": f"{folder}/{evidence.thumbnail}" if evidence.thumbnail else None,
        "model": finding.model, "model_version": finding.model_version, "report": report_path,
    }


def write_tables(out_dir: str | Path, rows: Sequence[ManifestRow], *,
                 skipped: set[str] = frozenset()) -> dict[str, Path]:
    """findings.parquet, findings.jsonl and rows.jsonl for `rows`, from what is on disk."""
    out = Path(out_dir)
    findings: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for row in rows:
        run = read_run(out, row.id)
        report_file = row_dir(out, row.id) / "report.json"
        relative = str(report_file.relative_to(out)) if report_file.is_file() else None
        entry = asdict(run) if run else {"id": row.id, "status": "failed", "error": row.error or "not run"}
        entry.update(line=row.line, source=row.broadcast.source if row.broadcast else None,
                     report=relative, skipped=row.id in skipped)
        lines.append(entry)
        if relative is None or run is None:
            continue
        report = Report.from_json(report_file.read_bytes())
        findings.extend(finding_record(row.id, run.status, report, finding, relative)
                        for finding in report.findings)
    paths = {"findings_jsonl": out / "findings.jsonl", "rows": out / "rows.jsonl",
             "findings_parquet": out / "findings.parquet"}
    paths["findings_jsonl"].write_text(
        "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in findings), encoding="utf-8")
    paths["rows"].write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines),
                             encoding="utf-8")
    _write_parquet(findings, paths["findings_parquet"])
    return paths


def _write_parquet(records: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(),
             "list<string>": pa.list_(pa.string())}
    schema = pa.schema([(name, types[kind]) for name, kind in FINDING_COLUMNS.items()])
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)
