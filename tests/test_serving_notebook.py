"""notebooks/service.ipynb runs top to bottom: it starts a server, submits the demo, verifies callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "service.ipynb"


@pytest.mark.slow
def test_service_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cells = [c for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    namespace: dict = {}
    try:
        for number, cell in enumerate(cells, start=1):
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}[code cell {number}]", "exec"), namespace)
    finally:
        if "server" in namespace and namespace["server"].poll() is None:
            namespace["server"].kill()
    printed = capsys.readouterr().out
    final = namespace["final"]
    assert final["state"] == "succeeded"
    assert {f["modality"] for f in final["findings"]} >= {"title", "profile", "cover", "onscreen_text"}
    assert namespace["report"]["media"]["duration_s"] <= 21
    kinds = set(namespace["events"])
    assert {"job.state:running", "job.state:succeeded", "job.finding"} <= kinds
    assert not namespace["rejected"] and "does not match" in namespace["tampered"]
    assert "state: succeeded" in printed
