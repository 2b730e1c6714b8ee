"""`pip install ".[edge]"` in a fresh virtual environment: no torch, torchvision, transformers or
openai-whisper, and `liveinspect edge scan` / `edge text` there find what the torch path finds.

The environment lives in `.cache/edge-venv` (git-ignored) and is rebuilt only when the dependencies
declared in pyproject.toml change (pip's downloads are kept in `.cache/pip`); this checkout's
package is reinstalled into it (without dependencies) when its files change. The export it runs is
the shared one of tests/edge_support.py, made in the full environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from edge_support import DEMO, ROOT, edge_export, torch_demo_report, unmatched_findings  # noqa: F401

VENV = ROOT / ".cache" / "edge-venv"
PIP_CACHE = ROOT / ".cache" / "pip"
NOT_ON_THE_EDGE = ("torch", "torchvision", "transformers", "openai-whisper", "open-clip-torch")


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _dependency_stamp() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return _digest([project["dependencies"], project["optional-dependencies"]["edge"], sys.version])


def _package_stamp() -> str:
    entries = []
    for folder, _, files in sorted(os.walk(ROOT / "liveinspect")):
        if "__pycache__" in folder:
            continue
        for name in sorted(files):
            path = os.path.join(folder, name)
            stat = os.stat(path)
            entries.append([os.path.relpath(path, ROOT), stat.st_size, stat.st_mtime_ns])
    return _digest(entries + [(ROOT / "pyproject.toml").read_text(encoding="utf-8")])


def _pip(*args: str, timeout: int) -> None:
    run = subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--cache-dir",
                          str(PIP_CACHE), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert run.returncode == 0, f"pip install {' '.join(args)} failed:\n{run.stderr[-4000:]}"


@pytest.fixture(scope="module")
def edge_venv():
    dependencies, package = _dependency_stamp(), _package_stamp()
    stamps = VENV / "liveinspect-stamps.json"
    current = json.loads(stamps.read_text()) if stamps.is_file() else {}
    if current.get("dependencies") != dependencies or not (VENV / "bin" / "python").is_file():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        _pip(f"{ROOT}[edge]", timeout=1500)
        current = {"dependencies": dependencies, "package": package}
    elif current.get("package") != package:
        _pip("--no-deps", "--force-reinstall", str(ROOT), timeout=600)
        current["package"] = package
    stamps.write_text(json.dumps(current), encoding="utf-8")
    return VENV


def _run(venv, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    # Run from outside the checkout, so nothing of it can be imported but what was installed.
    return subprocess.run([str(venv / "bin" / "liveinspect"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(venv))


@pytest.mark.slow
def test_the_edge_extra_installs_no_torch(edge_venv):
    listed = subprocess.run([str(edge_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True, timeout=120)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "liveinspect" in installed and "onnxruntime" in installed
    assert not installed & set(NOT_ON_THE_EDGE), installed & set(NOT_ON_THE_EDGE)
    where = subprocess.run([str(edge_venv / "bin" / "python"), "-c",
                            "import liveinspect, sys; print(liveinspect.__file__)"],
                           capture_output=True, text=True, check=True, timeout=120, cwd=str(edge_venv))
    assert str(edge_venv) in where.stdout  # the installed package, not the checkout


@pytest.mark.slow
def test_edge_scan_and_text_in_the_torch_free_venv(edge_venv, edge_export, torch_demo_report,  # noqa: F811
                                                   tmp_path):
    folder, manifest = edge_export
    scan = _run(edge_venv, "edge", "scan", "--broadcast", str(DEMO / "broadcast.yaml"),
                "--models", str(folder), "--out", str(tmp_path / "scan"), "--threads", "2", "--no-progress",
                "--json")
    assert scan.returncode == 1, scan.stderr[-4000:]  # the demo has findings: exit 1 (--fail-on low)
    report = json.loads(scan.stdout)
    assert (tmp_path / "scan" / "report.json").is_file() and (tmp_path / "scan" / "report.html").is_file()
    assert f"export {manifest.digest}" in scan.stderr
    missing, extra = unmatched_findings(torch_demo_report, report)
    assert not missing and not extra, f"torch only: {missing}\nedge only: {extra}"

    lines = tmp_path / "lines.txt"
    lines.write_text("全网第一好用的面霜\n加我微信私聊下单\n这款面霜很滋润\n", encoding="utf-8")
    text = _run(edge_venv, "edge", "text", str(lines), "--models", str(folder))
    assert text.returncode == 1, text.stderr[-3000:]
    results = [json.loads(line) for line in text.stdout.splitlines()]
    kinds = [{f["kind"] for f in r["findings"]} for r in results]
    assert "absolute_term" in kinds[0] and "offplatform_lure" in kinds[1] and not kinds[2]
