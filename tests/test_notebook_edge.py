"""notebooks/edge.ipynb runs top to bottom: export (the shared one), manifest, a refused bundle, the
demo on the edge runtime and the torch path with the same findings, the edge text check."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runner import run_notebook

from edge_support import edge_export  # noqa: F401 - fixture

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "edge.ipynb"


@pytest.mark.slow
def test_edge_notebook_runs(edge_export, tmp_path, monkeypatch, capsys):  # noqa: F811
    folder, _ = edge_export
    monkeypatch.chdir(tmp_path)  # it writes out/edge-notebook/ relative to where it runs
    monkeypatch.setenv("LIVEINSPECT_EDGE_EXPORT", str(folder))
    namespace = run_notebook(NOTEBOOK)
    printed = capsys.readouterr().out
    assert "whisper" in printed and "int8" in printed
    assert "ladder.yaml" in namespace["refused"]
    assert namespace["missing"] == [] and namespace["unmatched"] == []
    assert namespace["reports"]["edge"].findings and namespace["seconds"]["edge"] > 0
    assert "三天祛斑 无效退款 -> ['false_efficacy'" in printed
    assert "这款面霜很滋润 -> []" in printed
