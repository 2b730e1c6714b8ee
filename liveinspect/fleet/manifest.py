"""Reading a manifest: one broadcast per row, from JSON Lines or Parquet.

A row has the fields of `Broadcast` (source, title, cover, account_name,
profile, products) and optionally an `id` that names its report folder. A
row without an id gets one from its content, so the same row keeps its
folder (and its place in a resumed run) when the manifest is reordered.
Relative `source` and `cover` paths are relative to the manifest's folder,
as in broadcast files. A row that does not validate is not fatal: it comes
back with its error and the run records it as a failed row.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from liveinspect.errors import LiveInspectError
from liveinspect.schema import Broadcast

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
# Folder names must be safe on every file system and object store; other characters become "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_ID_LENGTH = 96


@dataclass(frozen=True)
class ManifestRow:
    """One row: its id, its line (1-based, for error messages), the broadcast or the reason it has none."""

    id: str
    line: int
    broadcast: Broadcast | None
    error: str = ""


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Every row of a `.jsonl` or `.parquet` manifest, bad rows included (with `error` set)."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LiveInspectError(f"{path}: a manifest is .jsonl or .parquet (one broadcast per row), "
                               f"not {path.suffix or 'a file without a suffix'}")
    if not path.is_file():
        raise LiveInspectError(f"manifest not found: {path}")
    records = _read_jsonl(path) if kind == "jsonl" else _read_parquet(path)
    return rows_from_records(records, base=path.parent)


def rows_from_records(records: Iterable[tuple[int, Any]], *, base: Path) -> list[ManifestRow]:
    """Validate (line, record) pairs into rows; ids are made unique-or-failed here."""
    rows: list[ManifestRow] = []
    seen: set[str] = set()
    for line, record in records:
        row = _row(line, record, base)
        if row.id in seen:
            row = ManifestRow(id=f"{row.id}-line{line}", line=line, broadcast=None,
                              error=f"line {line}: id {row.id!r} is used by an earlier row; ids must be "
                                    "unique (they name the report folders)")
        seen.add(row.id)
        rows.append(row)
    return rows


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise LiveInspectError(f"cannot read manifest {path}: {error}") from error
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as error:
            yield number, _Unreadable(f"not valid JSON: {error}")


def _read_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:  # pragma: no cover - pyarrow comes with the dev and ray extras
        raise LiveInspectError("reading a Parquet manifest needs pyarrow: pip install pyarrow") from error
    try:
        table = pq.read_table(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise LiveInspectError(f"cannot read Parquet manifest {path}: {error}") from error
    yield from enumerate(table.to_pylist(), start=1)


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def _row(line: int, record: Any, base: Path) -> ManifestRow:
    fallback_id = f"line{line}"
    if isinstance(record, _Unreadable):
        return ManifestRow(id=fallback_id, line=line, broadcast=None, error=f"line {line}: {record.reason}")
    if not isinstance(record, dict):
        return ManifestRow(id=fallback_id, line=line, broadcast=None,
                           error=f"line {line}: expected an object with source, title, ..., got "
                                 f"{type(record).__name__}")
    data = _without_missing(record)
    given_id = data.pop("id", None)
    for key in ("source", "cover"):
        value = data.get(key)
        if isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute():
            data[key] = str((base / value).resolve())
    data.setdefault("source", "")
    try:
        broadcast = Broadcast.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in error.errors())
        return ManifestRow(id=_safe_id(given_id) if given_id else fallback_id, line=line, broadcast=None,
                           error=f"line {line}: {problems}")
    row_id = _safe_id(given_id) if given_id not in (None, "") else content_id(broadcast)
    return ManifestRow(id=row_id, line=line, broadcast=broadcast)


def _missing(value: Any) -> bool:
    """Parquet fills absent columns with nulls (and pandas with NaN); those mean 'not given'."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _without_missing(value: Any) -> Any:
    """Drop null fields at every depth (a product struct without a description has one)."""
    if isinstance(value, dict):
        return {key: _without_missing(item) for key, item in value.items() if not _missing(item)}
    if isinstance(value, list):
        return [_without_missing(item) for item in value]
    return value


def _safe_id(value: Any) -> str:
    text = _UNSAFE.sub("_", str(value)).strip("._") or "row"
    return text[:MAX_ID_LENGTH]


def content_id(broadcast: Broadcast) -> str:
    """A stable id from what the row says: the source's name and a hash of the whole row."""
    digest = hashlib.sha256(broadcast.model_dump_json().encode("utf-8")).hexdigest()[:12]
    stem = Path(broadcast.source.split("?")[0]).stem if broadcast.source else "metadata"
    return f"{_safe_id(stem)[:40]}-{digest}"


def write_manifest(rows: Iterable[dict[str, Any] | Broadcast], path: str | Path) -> Path:
    """Write rows (dicts or Broadcasts) as a `.jsonl` or `.parquet` manifest."""
    path = Path(path)
    records = [row.model_dump(mode="json") if isinstance(row, Broadcast) else dict(row) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if SUFFIXES.get(path.suffix.lower()) == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    elif SUFFIXES.get(path.suffix.lower()) == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    else:
        raise LiveInspectError(f"{path}: write a manifest as .jsonl or .parquet")
    return path
