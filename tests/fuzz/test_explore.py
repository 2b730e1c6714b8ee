"""Property-based exploration of hostile inputs (hypothesis). A few examples per family run in
the normal suite; `make fuzz` sets LIVEINSPECT_FUZZ_EXAMPLES (default there: 200)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness import run_cli
from hostile_factory import PLAYLIST_HEAD, make_thin_image
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_factory import make_video

EXAMPLES = int(os.environ.get("LIVEINSPECT_FUZZ_EXAMPLES", "2"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 2,
                    suppress_health_check=list(HealthCheck))


@SETTINGS
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
                | st.binary(max_size=400).map(lambda b: b.decode("latin-1")), min_size=1, max_size=20))
def test_text_command_on_arbitrary_lines(lines):
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    outcome = run_cli(["text", "-", "--lexicon-only"], stdin=data, wall_s=30)
    outcome.check(30)


@SETTINGS
@given(st.integers(1, 6000), st.integers(1, 6000))
def test_cover_of_any_shape(width, height):
    with tempfile.TemporaryDirectory() as folder:
        if width * height > 4_000_000:
            width, height = max(1, 4_000_000 // height), height
        cover = make_thin_image(Path(folder) / "c.png", (width, height))
        outcome = run_cli(["scan", "--title", "x", "--cover", str(cover), "--analyzers", "none",
                           "--out", str(Path(folder) / "out"), "--no-progress",
                           str(make_video(Path(folder) / "v.mp4", seconds=1.0, fps=2, size=(32, 32)))])
        outcome.check()
        assert (Path(folder) / "out" / "report.json").is_file()


@SETTINGS
@given(st.lists(st.sampled_from(["ok0.ts", "../x.ts", "/etc/passwd", "file:/etc/hosts", "data:,x",
                                 "sub.m3u8", "http://127.0.0.1:1/a.ts", "#EXT-X-MAP:URI=../i.mp4",
                                 "#EXT-X-KEY:METHOD=AES-128,URI=k", "#EXTINF:2.0,", "\0../y.ts"]),
                min_size=1, max_size=12), st.booleans())
def test_local_playlist_of_any_shape(entries, ended):
    with tempfile.TemporaryDirectory() as folder:
        show = Path(folder) / "show"
        show.mkdir()
        make_video(show / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
        body = PLAYLIST_HEAD.replace("TARGETDURATION:2", "TARGETDURATION:1") + "\n".join(entries) + "\n"
        (show / "p.m3u8").write_bytes((body + ("#EXT-X-ENDLIST\n" if ended else "")).encode())
        outcome = run_cli(["scan", str(show / "p.m3u8"), "--title", "x", "--analyzers", "none",
                           "--out", str(Path(folder) / "out"), "--no-progress"], wall_s=60)
        outcome.check(60)
