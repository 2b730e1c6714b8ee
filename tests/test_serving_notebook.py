"""notebooks/service.ipynb runs top to bottom: it starts a server, submits the demo, verifies callbacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runner import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "service.ipynb"


@pytest.mark.slow
def test_service_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    try:
        run_notebook(NOTEBOOK, namespace)
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
