"""notebooks/synthetic_media.ipynb runs top to bottom (train a head, evaluate per generator, scan a clip)."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runner import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "synthetic_media.ipynb"


@pytest.mark.slow
def test_synthetic_media_notebook_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_notebook(NOTEBOOK)
    printed = capsys.readouterr().out
    assert "held-out" in printed and "piper" in printed and "opus_24k" in printed
    results = namespace["results"]
    assert set(results) == {"espeak_en", "espeak_zh", "piper", "ttskit", "griffinlim", "melgan_resynth",
                            "smallvoc_resynth", "melgan:ttskit", "melgan:melgan_resynth"}
    assert all(0.0 <= cell["head"]["eer"] <= 1.0 for by in results.values() for cell in by.values())
    kinds = [f.kind.value for f in namespace["found"].findings]
    assert kinds == ["synthetic_voice"]
    assert "护肤专场 限时秒杀 -> [('undisclosed_synthetic_media'" in printed
    assert "虚拟主播 护肤专场 -> [('aigc_declared'" in printed
