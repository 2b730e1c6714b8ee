"""A small fixed corpus of hostile inputs, one family per test, run through the real CLI.

Each case runs in a child process under harness.run_cli's caps and must end
with a documented exit code, no traceback, a resident peak under 3 GB and
within its wall time; a scan that read a title writes its report whatever
happened to the media. `make fuzz` explores further (test_explore.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from harness import run_cli
from hostile_factory import hostile_playlists, make_secret, make_thin_image, make_thin_video, \
    make_wav_header, serve
from media_factory import make_png_header, make_video, truncate

TITLE = "全网第一"   # read before any media: its finding must be in every report


def _scan(tmp_path: Path, source: str, *extra: str, wall_s: float = 60.0, analyzers: str = "none"):
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    # --fail-on critical: the title's medium finding must not hide an incomplete inspection (exit 3).
    outcome = run_cli(["scan", source, "--title", TITLE, "--analyzers", analyzers, "--out", str(out),
                       "--no-progress", "--window", "5", "--lexicon-only", "--fail-on", "critical", *extra],
                      wall_s=wall_s)
    outcome.check(wall_s)
    if outcome.code != 2 or (out / "report.json").exists():
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert report["findings"], "the title's finding is missing"
    return outcome


def test_images_thin_huge_and_lying(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0, fps=5, size=(64, 48))
    covers = [make_thin_image(tmp_path / "thin.png", (1280, 2)),
              make_png_header(tmp_path / "bomb.png", 30000, 30000)]
    for cover in covers:
        assert _scan(tmp_path, str(clip), "--cover", str(cover)).code == 3
    # Image SOURCEs go through the same guard.
    assert _scan(tmp_path, str(covers[1])).code == 2


def test_lying_headers(tmp_path):
    for rate in (1,):
        wav = make_wav_header(tmp_path / f"r{rate}.wav", rate=rate, samples=16_000)
        assert _scan(tmp_path, str(wav)).code == 2


# Cuts inside the last second of a file are within the media layer's truncation tolerance
# (TRUNCATION_TOLERANCE_S: last-frame durations and audio padding differ from container durations
# by that much in intact files), so they read as complete; docs/security.md says so.
@pytest.mark.parametrize("suffix,fractions", [
    ("mp4", (0.3,)), ("ts", (0.55,)),
    pytest.param("mkv", (0.02, 0.3, 0.55), marks=pytest.mark.slow)])
def test_truncations_at_many_offsets(tmp_path, suffix, fractions):
    whole = make_video(tmp_path / f"w.{suffix}", seconds=6.0, fps=5, size=(64, 48))
    for fraction in fractions:
        cut = truncate(whole, fraction, out=tmp_path / f"c{fraction}.{suffix}")
        assert _scan(tmp_path, str(cut)).code in (2, 3)


def test_hostile_playlists_local_and_served(tmp_path):
    make_secret(tmp_path / "secret")
    playlists = hostile_playlists(tmp_path / "show")
    for name, path in playlists.items():
        if name not in ("ok.m3u8", "nul.m3u8", "sub_named_ts.m3u8", "map_unquoted.m3u8"):
            continue   # the rest: tests/test_hostile_media.py, in-process
        code = _scan(tmp_path, str(path)).code
        assert code == (0 if name == "ok.m3u8" else 2), name
    www = tmp_path / "www"
    shutil.copytree(tmp_path / "show", www)
    with serve(www) as base:
        port = base.rsplit(":", 1)[1]
        (www / "ssrf.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nok0.ts\n"
                                       f"#EXTINF:2.0,\nhttp://169.254.169.254/latest/{port}.ts\n#EXT-X-ENDLIST\n")
        assert _scan(tmp_path, f"{base}/ok.m3u8").code == 2                  # loopback: flag needed
        assert _scan(tmp_path, f"{base}/ok.m3u8", "--allow-private-urls").code == 0
        assert _scan(tmp_path, f"{base}/ssrf.m3u8", "--allow-private-urls").code in (2, 3)


@pytest.mark.slow
def test_trickling_peer_is_bounded_by_max_duration(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    make_video(www / "trickle.ts", seconds=60.0, fps=5, size=(64, 48))
    with serve(www) as base:
        # 2 KB every 2 s; --max-duration 2 allows 1.5 x 2 + 30 = 33 s of waiting. Either the 2 s of
        # media arrive in time (a complete scan of what was asked, 0) or the wait budget ends the
        # scan (3); what must never happen is a scan that outlives its bound (wall_s, checked by _scan).
        slow = _scan(tmp_path, f"{base}/trickle", "--allow-private-urls", "--max-duration", "2", wall_s=75)
        assert slow.code in (0, 3)


def test_pathological_texts(tmp_path):
    lines = ["原价123" + " " * 4000 + "abc", '{"modality":"speech","text":"x","t_start":1e999}',
             "a" * 250_000, "加\u3164微信", "1" * 60_000 + "天"]
    data = "\n".join(lines).encode() + b"\n\xff\xfe\n"
    outcome = run_cli(["text", "-", "--lexicon-only"], stdin=data, wall_s=30)
    outcome.check(30)
    assert outcome.code == 1   # the filler line is a finding; the bad lines are per-line errors


@pytest.mark.slow
def test_hostile_policy_and_model_files(tmp_path):
    policy = tmp_path / "policy"
    source = Path(__import__("liveinspect.policy", fromlist=["x"]).__file__).parent
    policy.mkdir()
    for yaml_file in source.glob("*.yaml"):
        shutil.copy(yaml_file, policy / yaml_file.name)
    claims = (policy / "claims.yaml").read_text(encoding="utf-8")
    hostile = claims.replace("pattern: '(?:最后|仅剩", "pattern: '(a|aa)+$|(?:最后|仅剩", 1)
    assert hostile != claims
    (policy / "claims.yaml").write_text(hostile, encoding="utf-8")
    outcome = run_cli(["text", "-", "--lexicon-only", "--policy", str(policy)], stdin=b"x\n", wall_s=30)
    outcome.check(30)
    assert outcome.code == 2 and "backtracks" in outcome.stderr
    crafted = tmp_path / "crafted.pt"
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 1 << 22, "n_audio_head": 1,
                         "n_audio_layer": 1, "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 8,
                         "n_text_head": 1, "n_text_layer": 1}, "model_state_dict": {}}, crafted)
    clip = make_wav_header(tmp_path / "a.wav", rate=16000, samples=16000)
    outcome = _scan(tmp_path, str(clip), "--whisper", str(crafted), analyzers="speech")
    assert outcome.code == 2 and "dims" in outcome.stderr


@pytest.mark.slow
def test_thin_pictures_reach_no_model(tmp_path):
    # The family that needs a model: the frame analyzer's OCR on a thin video and a thin cover.
    thin = make_thin_video(tmp_path / "thin.ts")
    cover = make_thin_image(tmp_path / "thin.png", (1280, 2))
    outcome = _scan(tmp_path, str(thin), "--cover", str(cover), analyzers="frames", wall_s=120)
    assert outcome.code == 3 and outcome.peak_rss_mb < 3 * 1024
