"""What the export and edge tests share: one full export (int8 where the budgets allow), built once
and kept in `.cache/test-export/<key>` across runs; the key hashes the exporter's code, the package
version and the Whisper weights, so any change to what an export writes builds it again."""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "test-export"
DEMO = ROOT / "examples" / "demo"
JFK = ROOT / "tests" / "data" / "jfk.flac"


def export_key() -> str:
    from liveinspect import __version__
    from liveinspect.models.whisper import resolve_whisper_weights

    digest = hashlib.sha256(__version__.encode())
    sources = sorted((ROOT / "liveinspect" / "export").glob("*.py"))
    sources += [ROOT / "liveinspect" / "models" / "claims" / "e5_onnx.py",
                ROOT / "liveinspect" / "models" / "faces" / "nets.py"]
    for path in sources:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update((resolve_whisper_weights().sha256 or "").encode())
    return digest.hexdigest()[:16]


def build_export() -> Path:
    """The shared export folder, built under a lock if this key has none yet."""
    from liveinspect.export.manifest import verify_tree
    from liveinspect.export.runner import export_models

    CACHE.mkdir(parents=True, exist_ok=True)
    folder = CACHE / export_key()
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "manifest.json").is_file():
            try:
                verify_tree(folder)
                return folder
            except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
                pass
        import shutil

        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        export_models(["all"], partial, int8=True)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder


@pytest.fixture(scope="session")
def edge_export():
    from liveinspect.export.manifest import Manifest

    folder = build_export()
    return folder, Manifest.read(folder)


@pytest.fixture(scope="session")
def jfk_audio():
    from liveinspect.media import load_audio

    return load_audio(JFK)


def finding_keys(report: dict, *, time_tolerance: float = 0.1) -> list[tuple]:
    """What makes two reports' findings the same: kind, modality, severity, what was matched, and
    the time span rounded to `time_tolerance` (int8 Whisper may move a word edge by a frame or two)."""
    keys = []
    for finding in report["findings"]:
        evidence = finding.get("evidence") or {}
        text = evidence.get("text") or {}
        keys.append((finding["kind"], finding["modality"], finding["severity"],
                     text.get("matched") or text.get("text") or evidence.get("payload") or "",
                     round((finding.get("t_start") or 0.0) / time_tolerance),
                     ))
    return sorted(keys, key=json.dumps)
