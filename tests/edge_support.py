"""What the export and edge tests share: one full export (int8 where the budgets allow), built once
and kept in `.cache/test-export/<key>` across runs; the key hashes the exporter's code, the package
version, the Whisper weights and the shipped weights the export copies, so any change to what an
export writes builds it again."""

from __future__ import annotations

import fcntl
import functools
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
    # What writes an export (bundle.py only packs one).
    sources = sorted(p for p in (ROOT / "liveinspect" / "export").glob("*.py") if p.name != "bundle.py")
    sources += [ROOT / "liveinspect" / "models" / "claims" / "e5_onnx.py",
                ROOT / "liveinspect" / "models" / "faces" / "nets.py"]
    # The shipped weights an export copies or converts (voice and avatar heads, claim models, AASIST):
    # an export holding an older head than the checkout's torch path reads would make the edge
    # comparisons fail for a reason that is not the edge's.
    weights = ROOT / "liveinspect" / "models" / "weights"
    sources += sorted(p for p in weights.rglob("*") if p.is_file())
    for path in sources:
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    digest.update((resolve_whisper_weights().sha256 or "").encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def build_export() -> Path:
    """The shared export folder, built under a lock if this key has none yet (once per process: the
    fixtures below are imported into several test modules, each its own fixture to pytest)."""
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


def _identity(finding: dict) -> tuple:
    evidence = finding.get("evidence") or {}
    text = evidence.get("text") or {}
    return (finding["kind"], finding["modality"], finding["severity"],
            text.get("matched") or text.get("text") or evidence.get("payload") or "", finding.get("message"))


# The e5 claim encoder runs int8 by default, and its activations are quantized per batch, so a sentence's
# probability moves with the sentences it is batched with (the demo's "See you next time." scored 0.45 to
# 0.54 as false_price), and which texts share a batch depends on when each analyzer's texts arrive, in a
# scan on either runtime. A classifier finding this close to the 0.5 threshold may be in one report and
# not the other; everything else must match.
BORDERLINE = 0.06


def _borderline(finding: dict) -> bool:
    return "classifier rates this sentence" in (finding.get("message") or "") and \
        abs(float(finding.get("score") or 0.0) - 0.5) < BORDERLINE


def unmatched_findings(expected: dict, got: dict, *, seconds: float = 0.1) -> tuple[list, list]:
    """Findings of each report with no twin in the other: the same kind, modality, severity, evidence
    and message, and times within `seconds` (int8 Whisper may move a word edge by a frame or two);
    classifier findings at the threshold's edge (see BORDERLINE) are not counted."""
    left = list(expected["findings"])
    right = list(got["findings"])

    def close(a, b) -> bool:
        return all(abs((a.get(k) or 0.0) - (b.get(k) or 0.0)) <= seconds for k in ("t_start", "t_end"))

    missing = []
    for finding in left:
        twins = [other for other in right if _identity(other) == _identity(finding) and close(finding, other)]
        twin = twins[0] if twins else None
        if twin is None:
            if not _borderline(finding):
                missing.append(_identity(finding) + (finding.get("t_start"),))
        else:
            right.remove(twin)
    return missing, [_identity(f) + (f.get("t_start"),) for f in right if not _borderline(f)]


@pytest.fixture(scope="session")
def torch_demo_report() -> dict:
    """The torch path's report of the demo broadcast (the default scan: every analyzer)."""
    return json.loads(_torch_demo_report())


@functools.lru_cache(maxsize=1)
def _torch_demo_report() -> str:
    from liveinspect.broadcast_file import load_broadcast
    from liveinspect.pipelines.orchestrator import ScanOptions
    from liveinspect.pipelines.registry import build_inspector

    with build_inspector(options=ScanOptions(progress=False)) as inspector:
        result = inspector.scan(load_broadcast(DEMO / "broadcast.yaml"))
    return result.report.to_json()
