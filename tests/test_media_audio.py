"""load_audio: any container/codec to 16 kHz mono float32 on the source's clock."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.errors import MediaError
from liveinspect.media import SAMPLE_RATE, load_audio
from media_factory import make_audio, make_video, sine


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
