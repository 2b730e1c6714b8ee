"""load_audio: any container/codec to 16 kHz mono float32 on the source's clock."""

from __future__ import annotations

import av
import numpy as np
import pytest

from liveinspect.errors import MediaError
from liveinspect.media import SAMPLE_RATE, load_audio
from liveinspect.media.audio import AudioTimeline
from media_factory import make_audio, make_video, sine, truncate


def _tone_error(audio: np.ndarray, freq: float = 440.0, amplitude: float = 0.5) -> float:
    """Relative distance of `audio` from the best-fitting sine of `freq` (phase free)."""
    t = np.arange(audio.size) / SAMPLE_RATE
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, audio, rcond=None)
    fitted = basis @ coef
    assert abs(np.hypot(*coef) - amplitude) < 0.05 * amplitude + 0.02
    return float(np.sqrt(np.mean((audio - fitted) ** 2)) / amplitude)


@pytest.mark.parametrize("name,channels", [
    ("tone.wav", 1), ("tone.mp3", 2), ("tone.flac", 2), ("tone.ogg", 1), ("tone.m4a", 2),
])
def test_audio_files_decode_to_16k_mono_float(tmp_path, name, channels):
    path = make_audio(tmp_path / name, seconds=2.0, sample_rate=44100, channels=channels)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / SAMPLE_RATE - 2.0) < 0.06
    # Skip codec start-up and tail; the middle must be the same tone at the
    # same level (stereo is averaged, not summed at -3 dB).
    assert _tone_error(audio[4000:-4000]) < 0.1


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv", "clip.webm"])
def test_audio_track_of_video_containers(tmp_path, name):
    path = make_video(tmp_path / name, seconds=2.0, fps=5, size=(64, 48))
    audio = load_audio(path)
    assert abs(audio.size / SAMPLE_RATE - 2.0) < 0.06
    assert _tone_error(audio[4000:-4000]) < 0.1


def test_start_and_duration_cut_the_same_samples_as_a_full_decode(tmp_path):
    path = make_audio(tmp_path / "tone.flac", seconds=3.0, sample_rate=16000)
    full = load_audio(path)
    part = load_audio(path, start=1.25, duration=0.5)
    assert part.size == 8000
    np.testing.assert_allclose(part, full[20000:28000], atol=1e-3)
    np.testing.assert_allclose(part, sine(3.0, SAMPLE_RATE)[20000:28000], atol=1e-3)


def test_start_past_the_end_is_an_error(tmp_path):
    path = make_audio(tmp_path / "tone.wav", seconds=1.0)
    with pytest.raises(MediaError, match="no samples at or after"):
        load_audio(path, start=5.0)


def test_video_without_audio_is_an_error(tmp_path):
    path = make_video(tmp_path / "silent.mp4", seconds=1.0, fps=5, size=(64, 48),
                      with_audio=False)
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(path)


def _frame(value: float, seconds: float, rate: int = SAMPLE_RATE):
    samples = np.full((1, round(seconds * rate)), value, np.float32)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = rate
    return frame


def test_timeline_fills_gaps_drops_overlaps_and_late_audio():
    timeline = AudioTimeline()
    timeline.push(_frame(0.1, 1.0), 0.0)
    timeline.push(_frame(0.2, 1.0), 2.0)     # 1 s gap: silence
    timeline.push(_frame(0.3, 1.0), 2.5)     # overlaps the last 0.5 s: its first half is dropped
    timeline.push(_frame(0.35, 0.5), None)   # no timestamp: right after the previous one
    timeline.flush()
    audio = timeline.take(0, 4 * SAMPLE_RATE)
    expected = [(0.0, 1.0, 0.1), (1.0, 2.0, 0.0), (2.0, 3.0, 0.2), (3.0, 3.5, 0.3), (3.5, 4.0, 0.35)]
    for start, end, value in expected:
        part = audio[int(start * SAMPLE_RATE) + 50:int(end * SAMPLE_RATE) - 50]
        np.testing.assert_allclose(part, value, atol=1e-3, err_msg=f"{start}-{end} s")
    # A window already handed out cannot take late audio: the late part is
    # dropped and what follows still lands at its own time.
    assert timeline.take(4 * SAMPLE_RATE, 5 * SAMPLE_RATE).max() == 0.0
    timeline.push(_frame(0.4, 1.0), 4.5)     # 4.5..5.5, of which 5.0..5.5 is still open
    timeline.flush()
    late = timeline.take(5 * SAMPLE_RATE, round(5.5 * SAMPLE_RATE))
    np.testing.assert_allclose(late[50:-50], 0.4, atol=1e-3)


def test_timeline_resamples_any_rate_to_16k():
    timeline = AudioTimeline()
    tone = sine(1.0, 44100)
    frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
    frame.sample_rate = 44100
    timeline.push(frame, 0.0)
    timeline.flush()
    audio = timeline.take(0, timeline.end_sample)
    assert abs(audio.size - SAMPLE_RATE) <= 32
    np.testing.assert_allclose(audio[100:15000], sine(1.0, SAMPLE_RATE)[100:15000], atol=2e-2)


def test_truncated_audio_file_is_an_error_naming_where_it_stopped(tmp_path):
    path = make_audio(tmp_path / "speech.mka", seconds=8.0, sample_rate=16000)
    truncate(path, 0.5)
    with pytest.raises(MediaError, match="truncated") as caught:
        load_audio(path)
    assert 2.0 < caught.value.stopped_at < 6.0
    # Asking only for the part that is still there works.
    assert load_audio(path, duration=1.0).size == SAMPLE_RATE


def test_soundtrack_shorter_than_the_video_is_not_truncation(tmp_path):
    path = tmp_path / "short_sound.mkv"
    make_video(path, seconds=4.0, fps=5, size=(32, 32), with_audio=False)
    # Re-mux with a 1 s soundtrack next to the 4 s of video.
    sound = make_audio(tmp_path / "one_second.mka", seconds=1.0, sample_rate=16000)
    out_path = tmp_path / "muxed.mkv"
    with av.open(str(path)) as video_in, av.open(str(sound)) as audio_in, \
            av.open(str(out_path), "w", format="matroska") as out:
        streams = {video_in.streams.video[0]: out.add_stream_from_template(video_in.streams.video[0]),
                   audio_in.streams.audio[0]: out.add_stream_from_template(audio_in.streams.audio[0])}
        for container in (video_in, audio_in):
            for packet in container.demux():
                if packet.dts is None:
                    continue
                packet.stream = streams[packet.stream]
                out.mux(packet)
    audio = load_audio(out_path)
    assert abs(audio.size / SAMPLE_RATE - 1.0) < 0.1
