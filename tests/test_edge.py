"""The edge runtime on the full export: a scan of the demo and the text check where torch, torchvision,
transformers, openai-whisper and open_clip cannot be imported, against the torch path's findings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from edge_support import DEMO, ROOT, edge_export, torch_demo_report, unmatched_findings  # noqa: F401

BLOCKED = ("torch", "torchvision", "transformers", "whisper", "open_clip")

SCRIPT = """
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not installed on this node")
        return None

sys.meta_path.insert(0, NoTorch())

from liveinspect.broadcast_file import load_broadcast
from liveinspect.edge import build_edge_inspector, open_edge_models
from liveinspect.pipelines.orchestrator import ScanOptions

models = open_edge_models({export!r}, threads=2)
with build_edge_inspector(models, options=ScanOptions(progress=False)) as inspector:
    result = inspector.scan(load_broadcast({broadcast!r}))
print("REPORT " + json.dumps(json.loads(result.report.to_json())))
from liveinspect.cli import main
code = main(["edge", "text", {lines!r}, "--models", {export!r}])
print("TEXT_EXIT", code)
print("LOADED", json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] in {blocked!r})))
"""


@pytest.fixture(scope="module")
def edge_run(edge_export, tmp_path_factory):  # noqa: F811
    folder, _ = edge_export
    lines = tmp_path_factory.mktemp("edge-text") / "lines.txt"
    lines.write_text("全网第一好用的面霜 限时秒杀\n三天祛斑 无效退款\n这款面霜很滋润\n", encoding="utf-8")
    script = textwrap.dedent(SCRIPT).format(blocked=BLOCKED, export=str(folder),
                                            broadcast=str(DEMO / "broadcast.yaml"), lines=str(lines))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                         cwd=ROOT)
    assert run.returncode == 0, f"edge run failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    out = run.stdout.splitlines()
    report = json.loads(next(line for line in out if line.startswith("REPORT "))[len("REPORT "):])
    texts = [json.loads(line) for line in out if line.startswith("{")]
    exit_code = int(next(line for line in out if line.startswith("TEXT_EXIT")).split()[1])
    loaded = json.loads(next(line for line in out if line.startswith("LOADED"))[len("LOADED "):])
    return report, texts, exit_code, loaded


@pytest.mark.slow
def test_edge_scan_runs_without_torch_on_every_exported_model(edge_run):
    report, _, _, loaded = edge_run
    assert loaded == []
    statuses = {s["name"]: s for s in report["analyzers"]}
    for name in ("speech", "voice", "avatar", "frames", "frames.ocr", "frames.qr", "frames.faces", "text"):
        assert statuses[name]["state"] == "ran", (name, statuses[name])
    assert statuses["speech"]["model"].startswith("whisper-")
    assert report["media"]["state"] == "complete"


@pytest.mark.slow
def test_edge_scan_finds_what_the_torch_path_finds(edge_run, torch_demo_report):  # noqa: F811
    report, _, _, _ = edge_run
    missing, extra = unmatched_findings(torch_demo_report, report)
    assert not missing and not extra, f"torch only: {missing}\nedge only: {extra}"
    assert len(report["findings"]) >= 10
    for key in ("severity", "action"):
        assert report["verdict"][key] == torch_demo_report["verdict"][key]


@pytest.mark.slow
def test_edge_text_check(edge_run):
    _, texts, exit_code, _ = edge_run
    assert exit_code == 1  # findings reached --fail-on low
    kinds = [{f["kind"] for f in t["findings"]} for t in texts]
    assert "absolute_term" in kinds[0] and "false_efficacy" in kinds[1] and not kinds[2]
    # the claim classifier the export carries (n-gram + e5 head) took part, not the lexicon alone
    assert any(f["model"] == "lexicon+claims-combined" for t in texts for f in t["findings"])
