"""iter_segments and probe: one decoding pass, rolling windows, sampled frames, errors."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from media_factory import SCENE_COLOURS, make_audio, make_video, truncate

from liveinspect.errors import MediaError
from liveinspect.media import SAMPLE_RATE, iter_segments, load_audio, probe


def _segments(source, **kwargs):
    return list(iter_segments(source, **kwargs))


def _all_frames(segments):
    return [frame for segment in segments for frame in segment.frames]


def _assert_consecutive(segments, window_s):
    assert [s.index for s in segments] == list(range(len(segments)))
    for previous, current in zip(segments, segments[1:], strict=False):
        assert current.t0 == pytest.approx(previous.t1)
    for segment in segments[:-1]:
        assert segment.duration == pytest.approx(window_s)
    for segment in segments:
        if segment.audio.size:
            assert segment.audio.dtype == np.float32
            assert segment.audio.size == round(segment.t1 * SAMPLE_RATE) - round(segment.t0 * SAMPLE_RATE)
        for frame in segment.frames:
            assert segment.t0 <= frame.t < segment.t1


@pytest.mark.parametrize("name,codec,audio_codec", [
    ("clip.mp4", None, None),               # h264 + aac
    ("clip.mkv", None, None),               # h264 + aac in matroska
    ("vp8.webm", "libvpx", "libopus"),
    ("vp9.webm", "libvpx-vp9", "vorbis"),
])
def test_containers_decode_to_timed_windows(tmp_path, name, codec, audio_codec):
    path = make_video(tmp_path / name, seconds=5.0, fps=10, size=(96, 64), codec=codec,
                      audio_codec=audio_codec, channels=2)
    info = probe(path)
    assert info.has_audio and info.has_video
    assert (info.width, info.height) == (96, 64)
    assert info.fps == pytest.approx(10.0)
    assert info.duration == pytest.approx(5.0, abs=0.15)
    assert info.to_dict()["has_video"] is True and info.to_dict()["is_live"] is False

    segments = _segments(path, window_s=2.0, fps=2.0, scene_threshold=None)
    _assert_consecutive(segments, 2.0)
    assert [s.t0 for s in segments] == [0.0, 2.0, 4.0]
    assert segments[-1].t1 == pytest.approx(5.0, abs=0.15)
    frames = _all_frames(segments)
    # 10 fps sampled at 2 fps: one frame every 0.5 s, exactly on the ticks.
    assert [round(f.t, 3) for f in frames] == [k * 0.5 for k in range(10)]
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (64, 96, 3) and f.image.dtype == np.uint8 for f in frames)
    # The picture is the first scene's colour (lossy codecs: within a margin).
    corner = frames[0].image[:8, :8].reshape(-1, 3).mean(axis=0)
    assert np.abs(corner - SCENE_COLOURS[0]).max() < 25
    # Audio matches a plain load_audio of the same file, sample for sample.
    joined = np.concatenate([s.audio for s in segments])
    whole = load_audio(path)
    n = min(joined.size, whole.size)
    assert n >= 4.9 * SAMPLE_RATE
    np.testing.assert_allclose(joined[:n], whole[:n], atol=1e-4)
    assert 0.3 < np.abs(joined[8000:-8000]).max() < 0.7   # the 0.5 sine, averaged from stereo


def test_hard_cut_adds_an_extra_frame_marked_scene_change(tmp_path):
    path = make_video(tmp_path / "cut.mp4", seconds=4.0, fps=10, size=(96, 64), cuts=[2.25],
                      with_audio=False)
    frames = _all_frames(_segments(path, window_s=10.0, fps=1.0))
    times = [round(f.t, 3) for f in frames]
    # Ticks at 0, 1, 2, 3 plus the first frame after the cut (2.3 s at 10 fps).
    assert times == [0.0, 1.0, 2.0, 2.3, 3.0]
    assert [f.scene_change for f in frames] == [False, False, False, True, False]
    before, after = frames[2].image[:8, :8].mean((0, 1)), frames[3].image[:8, :8].mean((0, 1))
    assert np.abs(before - SCENE_COLOURS[0]).max() < 25
    assert np.abs(after - SCENE_COLOURS[1]).max() < 25
    # The moving square alone never counts as a cut.
    uncut = make_video(tmp_path / "uncut.mp4", seconds=4.0, fps=10, size=(96, 64),
                       with_audio=False)
    assert not any(f.scene_change for f in _all_frames(_segments(uncut, fps=1.0)))
    # Disabling detection drops the extra frame.
    assert len(_all_frames(_segments(path, fps=1.0, scene_threshold=None))) == 4


def test_frames_are_downscaled_to_max_side(tmp_path):
    path = make_video(tmp_path / "big.mkv", seconds=1.0, fps=5, size=(320, 240), with_audio=False)
    frames = _all_frames(_segments(path, max_side=100))
    assert frames and all(f.image.shape == (75, 100, 3) for f in frames)
    assert _all_frames(_segments(path, max_side=None))[0].image.shape == (240, 320, 3)


def test_mpegts_start_offset_is_broadcast_time_zero(tmp_path):
    # MPEG-TS starts its clock at 1.4 s (plus AAC priming); times must not.
    path = make_video(tmp_path / "live.ts", seconds=3.0, fps=10, size=(64, 48), cuts=[1.55])
    segments = _segments(path, window_s=1.0, fps=1.0)
    _assert_consecutive(segments, 1.0)
    frames = _all_frames(segments)
    assert 0.0 <= frames[0].t < 0.1
    cut = [f for f in frames if f.scene_change]
    assert len(cut) == 1 and cut[0].t == pytest.approx(1.6 + frames[0].t, abs=1e-3)
    assert segments[-1].t1 == pytest.approx(3.0, abs=0.15)


def test_audio_only_and_max_duration(tmp_path):
    path = make_audio(tmp_path / "talk.flac", seconds=5.0, sample_rate=22050)
    info = probe(path)
    assert (info.has_audio, info.has_video, info.width, info.fps) == (True, False, None, None)
    segments = _segments(path, window_s=2.0)
    assert [(s.t0, s.t1) for s in segments] == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]
    assert all(not s.frames for s in segments)
    limited = _segments(path, window_s=2.0, max_duration=3.0)
    assert [(s.t0, s.t1) for s in limited] == [(0.0, 2.0), (2.0, 3.0)]
    assert limited[-1].audio.size == SAMPLE_RATE


def test_video_only_segments_have_empty_audio(tmp_path):
    path = make_video(tmp_path / "mute.webm", seconds=2.0, fps=5, size=(64, 48), with_audio=False)
    segments = _segments(path, window_s=1.0)
    assert len(segments) == 2 and all(s.audio.size == 0 for s in segments)
    assert segments[0].stream_id == "0"
    assert _segments(path, stream_id="cam-7")[0].stream_id == "cam-7"


@pytest.mark.parametrize("name", [
    "-leading dash.mp4", "with space & quote'.mp4", "直播 回放 🎥.mp4", "http:looks-like-url.mp4",
    "concat:a|b.mp4", "file:x.mp4",
])
def test_hostile_file_names_open_as_plain_files(tmp_path, monkeypatch, name):
    path = make_video(tmp_path / name, seconds=1.0, fps=5, size=(64, 48))
    assert len(_all_frames(_segments(path))) == 1          # as a Path
    monkeypatch.chdir(tmp_path)
    assert probe(name).has_video                            # as a bare relative string


def test_truncated_stream_yields_what_decoded_then_reports_where_it_stopped(tmp_path):
    path = make_video(tmp_path / "full.mkv", seconds=12.0, fps=5, size=(64, 48), gop=5)
    cut = truncate(path, 0.5, out=tmp_path / "half.mkv")
    received = []
    with pytest.raises(MediaError, match="truncated") as caught:
        for segment in iter_segments(cut, window_s=2.0):
            received.append(segment)
    stopped_at = caught.value.stopped_at
    assert stopped_at is not None and 3.0 < stopped_at < 9.0
    assert len(received) >= 2
    _assert_consecutive(received, 2.0)
    assert received[-1].t1 == pytest.approx(stopped_at, abs=1e-6)
    assert received[-1].frames  # the partial last window is handed out too


def test_corrupt_bytes_mid_file_are_skipped_not_fatal(tmp_path):
    path = make_video(tmp_path / "damaged.mp4", seconds=10.0, fps=10, size=(64, 48), gop=10)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    middle = len(data) // 3
    data[middle:middle + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    segments = _segments(path, window_s=2.0)
    _assert_consecutive(segments, 2.0)
    assert segments[-1].t1 == pytest.approx(10.0, abs=0.15)
    assert sum(len(s.frames) for s in segments) >= 9


def test_timestamp_reset_in_concatenated_ts_keeps_the_clock_running(tmp_path):
    first = make_video(tmp_path / "part1.ts", seconds=4.0, fps=5, size=(64, 48))
    second = make_video(tmp_path / "part2.ts", seconds=4.0, fps=5, size=(64, 48), cuts=[0.0])
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())   # both start at 1.4 s
    segments = _segments(joined, window_s=2.0, fps=1.0)
    _assert_consecutive(segments, 2.0)
    frames = _all_frames(segments)
    assert len(frames) == 8
    offset = frames[0].t
    assert [round(f.t - offset, 3) for f in frames] == [float(k) for k in range(8)]
    # The splice is a cut from the first colour to the second.
    assert [f.scene_change for f in frames] == [False] * 4 + [True] + [False] * 3
    audio = np.concatenate([s.audio for s in segments])
    assert audio.size >= 7.9 * SAMPLE_RATE
    assert np.abs(audio[int(4.5 * SAMPLE_RATE):int(7.5 * SAMPLE_RATE)]).max() > 0.3


def test_mp4_cut_before_its_index_cannot_be_opened(tmp_path):
    path = truncate(make_video(tmp_path / "a.mp4", seconds=2.0, fps=5, size=(64, 48)), 0.5)
    with pytest.raises(MediaError, match="MP4/MOV file but is damaged or truncated") as caught:
        _segments(path)
    assert caught.value.stopped_at is None


@pytest.mark.parametrize("content,problem", [
    (b"", "empty"),
    (b"This is a plain text file, not a video.\n" * 20, "text file, not audio or video"),
    (bytes(range(256)) * 64, "not a recognised audio/video format"),
])
def test_bad_files_name_the_problem(tmp_path, content, problem):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    for call in (_segments, probe, load_audio):
        with pytest.raises(MediaError, match=problem):
            call(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        _segments(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="directory"):
        probe(tmp_path)


def test_file_without_audio_or_video_streams(tmp_path):
    # FFmpeg opens a subtitle file as a container holding one subtitle stream.
    path = tmp_path / "captions.srt"
    path.write_text("1\n00:00:00,000 --> 00:00:02,000\n全网最低价\n\n", encoding="utf-8")
    with pytest.raises(MediaError, match="no audio and no video"):
        probe(path)
    with pytest.raises(MediaError, match="no audio and no video"):
        _segments(path)


def test_bad_arguments():
    with pytest.raises(MediaError, match="window_s"):
        next(iter_segments("x.mp4", window_s=0))
    with pytest.raises(MediaError, match="fps"):
        next(iter_segments("x.mp4", fps=-1))


@pytest.fixture(scope="module")
def media_long_stream(tmp_path_factory) -> Path:
    """20 minutes of 64x48 video at 1 fps with an 8 kHz tone: a long broadcast, cheap to make
    (FLAC audio encodes ~10x faster than AAC; the windowing does not care)."""
    path = tmp_path_factory.mktemp("media_long") / "long.mkv"
    return make_video(path, seconds=1200.0, fps=1.0, size=(64, 48), sample_rate=8000,
                      audio_codec="flac", cuts=[600.5])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_long_stream_is_read_window_by_window_in_bounded_memory(media_long_stream):
    list(iter_segments(media_long_stream, max_duration=5.0))   # warm up codecs and allocators
    rss_before = rss_peak = _rss_bytes()
    tracemalloc.start()
    try:
        count = frames = samples = 0
        cuts = []
        for segment in iter_segments(media_long_stream, window_s=30.0, fps=1.0):
            rss_peak = max(rss_peak, _rss_bytes())
            count += 1
            frames += len(segment.frames)
            samples += segment.audio.size
            cuts += [f.t for f in segment.frames if f.scene_change]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40
    assert frames == 1200
    assert abs(samples / SAMPLE_RATE - 1200.0) < 0.2
    assert cuts == [601.0]       # 1 fps video: the first frame after the 600.5 s cut
    whole_stream = samples * 4 + frames * 64 * 48 * 3   # decoded audio + kept frames, bytes
    assert whole_stream > 75_000_000
    # Only about one window is alive at a time (~2 MB of audio per 30 s).
    assert peak < whole_stream / 8, f"peak {peak / 1e6:.1f} MB"
    # The same seen from outside Python (FFmpeg's buffers included).
    assert rss_peak - rss_before < whole_stream / 4, f"RSS grew {(rss_peak - rss_before) / 1e6:.1f} MB"


def test_progress_bar_reports_on_stderr(tmp_path, capsys):
    path = make_audio(tmp_path / "tone.wav", seconds=3.0)
    assert len(_segments(path, window_s=1.0, progress=True)) == 3
    assert "decoding" in capsys.readouterr().err


@pytest.mark.parametrize("rotation,strip_side", [(-90, "left"), (90, "right"), (180, "top")])
def test_display_rotation_is_applied_to_kept_frames(tmp_path, rotation, strip_side):
    # The factory draws a black strip along the bottom of each coded picture.
    path = make_video(tmp_path / f"phone{rotation}.mp4", seconds=1.0, fps=5, size=(96, 64),
                      rotation=rotation, with_audio=False)
    image = _all_frames(_segments(path, max_side=48))[0].image
    expected_shape = (32, 48, 3) if rotation == 180 else (48, 32, 3)
    assert image.shape == expected_shape
    edges = {"left": image[:, :2], "right": image[:, -2:], "top": image[:2], "bottom": image[-2:]}
    assert edges[strip_side].mean() < 20
    assert all(edge.mean() > 40 for side, edge in edges.items() if side != strip_side)
