"""Issue 9: honest exit codes (6, 15), the HTML report past 24 h (7), atomic writes (15),
crafted Whisper checkpoints (13), mismatched transformers weights (12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hostile_factory import serve
from media_factory import make_video, truncate

from liveinspect.cli import main
from liveinspect.cli.exit import EXIT_CLEAN, EXIT_ERROR, EXIT_INCOMPLETE, exit_code
from liveinspect.errors import CheckpointError
from liveinspect.pipelines.evidence import EvidenceStore
from liveinspect.report.html import _ticks, write_atomically, write_report
from liveinspect.schema import AnalyzerStatus, Broadcast, MediaStatus, Report

REPO = Path(__file__).resolve().parents[1]


def _report(state="complete", analyzers=()) -> Report:
    return Report(broadcast=Broadcast(source="x.mp4"), media=MediaStatus(state=state, duration_s=5.0),
                  analyzers=list(analyzers))


# -- rows 2 and 6: exit codes from the report -------------------------------------------------------

def test_exit_code_rule():
    assert exit_code(_report()) == EXIT_CLEAN
    assert exit_code(_report("partial")) == EXIT_INCOMPLETE
    assert exit_code(_report("stopped")) == EXIT_INCOMPLETE
    assert exit_code(_report("failed")) == EXIT_ERROR
    assert exit_code(_report("none")) == EXIT_CLEAN
    dropped = AnalyzerStatus(name="frames", state="failed", reason="RuntimeError: boom")
    assert exit_code(_report(analyzers=[dropped])) == EXIT_INCOMPLETE
    cover = AnalyzerStatus(name="cover", state="failed", reason="image is corrupt")
    assert exit_code(_report(analyzers=[cover])) == EXIT_INCOMPLETE
    skipped = AnalyzerStatus(name="exposure", state="skipped", reason="not configured")
    assert exit_code(_report(analyzers=[skipped])) == EXIT_CLEAN


def _scan(tmp_path, *args: str) -> int:
    return main(["scan", *args, "--out", str(tmp_path / "out"), "--analyzers", "none", "--no-progress"])


def test_truncated_faststart_mp4_exits_incomplete(tmp_path, capsys):
    whole = make_video(tmp_path / "v.mp4", seconds=6.0, fps=5, size=(64, 48))
    subprocess.run([sys.executable, "-c", "import av,sys\n"
                    "i=av.open(sys.argv[1]);o=av.open(sys.argv[2],'w',options={'movflags':'faststart'})\n"
                    "m={s.index:o.add_stream_from_template(s) for s in i.streams}\n"
                    "[o.mux(p) or None for p in i.demux() if p.dts is not None and setattr(p,'stream',"
                    "m[p.stream.index]) is None]\no.close()", str(whole), str(tmp_path / "fs.mp4")],
                   check=True)
    cut = truncate(tmp_path / "fs.mp4", 0.5, out=tmp_path / "cut.mp4")
    assert _scan(tmp_path, str(cut)) == EXIT_INCOMPLETE
    assert "incomplete: media partial" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.json").is_file()


def test_unreadable_cover_exits_incomplete_and_missing_cover_is_an_error(tmp_path, capsys):
    clip = make_video(tmp_path / "v.mp4", seconds=1.0, fps=5, size=(32, 32))
    svg = tmp_path / "cover.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert _scan(tmp_path, str(clip), "--cover", str(svg)) == EXIT_INCOMPLETE
    assert "cover failed" in capsys.readouterr().err
    assert _scan(tmp_path, str(clip), "--cover", str(tmp_path / "nope.png")) == EXIT_ERROR


def test_a_bomb_picture_fails_the_cover_and_nothing_else(tmp_path, capsys):
    # The AI-label metadata reader opened the picture with PIL too; its DecompressionBombError
    # failed the whole disclosure assessor ("analyzer disclosure failed"), a second, false reason.
    from media_factory import make_png_header

    clip = make_video(tmp_path / "v.mp4", seconds=1.0, fps=5, size=(32, 32))
    bomb = make_png_header(tmp_path / "bomb.png", 30000, 30000)
    assert _scan(tmp_path, str(clip), "--cover", str(bomb)) == EXIT_INCOMPLETE
    err = capsys.readouterr().err
    assert "cover failed" in err and "too large" in err and "disclosure" not in err


def test_out_is_checked_before_the_scan(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["scan", str(tmp_path / "never-opened.mp4"), "--out", str(blocker), "--analyzers", "none"])
    assert code == EXIT_ERROR and "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_fps_and_window_must_be_finite_and_positive(value, capsys):
    for option in ("--fps", "--window", "--max-duration"):
        with pytest.raises(SystemExit) as caught:
            main(["scan", "x.mp4", option, value])
        assert caught.value.code == 2
    assert "finite number > 0" in capsys.readouterr().err


def test_loopback_urls_need_the_flag(tmp_path, capsys):
    root = tmp_path / "www"
    root.mkdir()
    make_video(root / "a.mp4", seconds=1.0, fps=5, size=(32, 32))
    with serve(root) as base:
        assert _scan(tmp_path, f"{base}/a.mp4") == EXIT_ERROR
        assert "loopback" in capsys.readouterr().err
        assert _scan(tmp_path, f"{base}/a.mp4", "--allow-private-urls") == EXIT_CLEAN


# -- row 9: signals write the partial report --------------------------------------------------------

@pytest.mark.slow
def test_sigterm_writes_the_partial_report(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    make_video(root / "trickle.ts", seconds=120.0, fps=5, size=(64, 48))
    from hostile_factory import _Handler

    _Handler.trickle_pause_s = 0.02
    out = tmp_path / "out"
    with serve(root) as base:
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        child = subprocess.Popen([sys.executable, "-c", "import sys\nfrom liveinspect.cli import main\n"
                                  "sys.exit(main())", "scan", f"{base}/trickle",
                                  "--title", "全网第一", "--allow-private-urls", "--analyzers", "none",
                                  "--window", "1", "--out", str(out), "--no-progress", "--fail-on",
                                  "critical"], env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(6)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    _Handler.trickle_pause_s = 2.0
    assert child.returncode == EXIT_INCOMPLETE, err
    import json

    report = json.loads((out / "report.json").read_text())
    assert report["media"]["state"] == "stopped" and report["findings"]   # the title's finding kept
    assert "Traceback" not in err


# -- row 7 and row 15: the HTML report ---------------------------------------------------------------

@pytest.mark.parametrize("duration", [5.0, 86_400.0, 16_016.0, 3 * 86_400.0, 1e9, float("nan")])
def test_ticks_for_any_duration(duration):
    ticks = _ticks(duration)
    assert 1 <= len(ticks) <= 13 and ticks[0] == 0.0


def test_day_long_report_renders(tmp_path):
    report = _report()
    report.media.duration_s = 200_000.0
    files = write_report(report, EvidenceStore(), tmp_path)
    assert "report" in files.html.read_text(encoding="utf-8").lower()


def test_report_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(*args):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    monkeypatch.undo()
    write_atomically(target, "new")
    assert target.read_text() == "new"


# -- row 13: crafted Whisper checkpoints -------------------------------------------------------------

_TINY = {"n_mels": 80, "n_audio_ctx": 8, "n_audio_state": 8, "n_audio_head": 2, "n_audio_layer": 1,
         "n_vocab": 51865, "n_text_ctx": 8, "n_text_state": 8, "n_text_head": 2, "n_text_layer": 1}


@pytest.mark.parametrize("dims,message", [
    ({**_TINY, "n_audio_state": 1 << 20}, "not an integer in"),        # chose gigabytes before
    ({**_TINY, "n_text_layer": "x"}, "not an integer in"),             # was: TypeError
    ({**_TINY, "n_text_head": 3}, "not a multiple"),
    ({"n_mels": 80}, "exactly the fields"),
])
def test_whisper_dims_are_validated_before_the_model_is_built(tmp_path, dims, message):
    from liveinspect.models.whisper.loading import _load_openai_checkpoint

    path = tmp_path / "crafted.pt"
    torch.save({"dims": dims, "model_state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=message):
        _load_openai_checkpoint(path)


def test_whisper_tensors_must_match_dims(tmp_path):
    from liveinspect.models.whisper.loading import _load_openai_checkpoint

    path = tmp_path / "short.pt"
    torch.save({"dims": _TINY, "model_state_dict": {"encoder.conv1.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="do not match"):
        _load_openai_checkpoint(path)


# -- row 12: transformers weights that do not belong to the config ----------------------------------

@pytest.mark.parametrize("hostile", ["renamed", "wider"])
def test_transformers_claim_model_with_foreign_weights_is_refused(tmp_path, hostile):
    # "renamed": no tensor has a name the config expects; transformers would initialise them all at
    # random and the scan would go on (the defect; before the fix this loaded). "wider": every
    # shape is wrong; transformers refuses that itself, and so do we, with our message.
    from hostile_factory import make_claim_model

    from liveinspect.models.claims.transformer import TransformerClaimClassifier

    good = make_claim_model(tmp_path / "good")
    assert TransformerClaimClassifier.from_pretrained(good).labels == ["compliant", "absolute_term"]
    bad = make_claim_model(tmp_path / "bad", hostile=hostile)
    with pytest.raises(CheckpointError, match="do not match config.json|cannot load"):
        TransformerClaimClassifier.from_pretrained(bad)


def test_training_settings_that_would_save_an_untrained_model_are_refused(tmp_path):
    from liveinspect.cli import main
    from liveinspect.errors import DataError
    from liveinspect.training.config import TrainConfig

    for bad in ({"epochs": 0}, {"batch_size": 0}, {"learning_rate": float("nan")}, {"patience": -1}):
        with pytest.raises(DataError):
            TrainConfig(**bad)
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "全网第一", "label": "absolute_term"}\n', encoding="utf-8")
    assert main(["train", "claims", "--data", str(data), "--out", str(tmp_path / "m"), "--epochs", "0"]) == 2
    assert not (tmp_path / "m").exists()


def test_a_model_card_cannot_point_outside_its_folder(tmp_path):
    import json

    from liveinspect.errors import CheckpointError
    from liveinspect.models.checkpoint import CARD_FORMAT, REQUIRED_CARD_KEYS, read_card

    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"x")
    for name in ("../secret.bin", "/etc/passwd", "sub/w.safetensors", ".."):
        card = {key: {} for key in REQUIRED_CARD_KEYS}
        card.update({"format": CARD_FORMAT, "task": "claims", "labels": ["a"],
                     "weights": {"file": name, "sha256": "0" * 64}})
        (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
        with pytest.raises(CheckpointError, match="plain file name|must give"):
            read_card(folder)
