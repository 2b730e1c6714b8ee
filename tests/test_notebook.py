"""notebooks/quickstart.ipynb runs top to bottom: its code cells are executed in order, in one namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runner import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it writes out/notebook/ relative to where it runs
    namespace = run_notebook(NOTEBOOK)
    printed = capsys.readouterr().out
    assert "全网第一的面霜 -> [('absolute_term'" in printed
    assert "第一次下单的朋友有小礼物 -> []" in printed
    report = namespace["report"]
    assert report.media.state == "complete" and report.media.duration_s <= 21
    assert {f.modality.value for f in report.findings} >= {"title", "cover", "speech", "onscreen_text"}
    assert namespace["arrived"] and len(namespace["arrived"]) >= len(report.findings)
    assert (tmp_path / "out" / "notebook" / "report.html").is_file()
