"""The Morse-rhythm audio label (· − · ·): found in keyed tones, not in speech or other codes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from liveinspect.media.audio import load_audio
from liveinspect.media.audio_cues import find_morse_cues, morse_tone

DATA = Path(__file__).parent / "data"
SR = 16_000


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


@pytest.mark.parametrize("unit_s,frequency", [(0.05, 600.0), (0.1, 1000.0), (0.2, 1800.0)])
def test_generated_cue_found_at_its_time(unit_s, frequency):
    audio = np.concatenate([silence(1.5), morse_tone(unit_s=unit_s, frequency_hz=frequency), silence(1.0)])
    cues = find_morse_cues(audio, offset_s=60.0)
    assert len(cues) == 1
    cue = cues[0]
    assert cue.t_start == pytest.approx(61.5, abs=0.02)
    assert cue.t_end == pytest.approx(61.5 + 9 * unit_s, abs=0.03)  # 1+1+3+1+1+1+1 units
    assert cue.unit_s == pytest.approx(unit_s, rel=0.15)
    assert abs(cue.frequency_hz - frequency) < 40 and cue.score > 0.8


def test_cue_in_noise_next_to_speech():
    speech = load_audio(DATA / "jfk.flac")
    rng = np.random.default_rng(0)
    audio = np.concatenate([speech[:3 * SR], morse_tone(unit_s=0.08, frequency_hz=800.0), speech[3 * SR:]])
    audio = audio + rng.normal(0, 0.02, len(audio)).astype(np.float32)
    cues = find_morse_cues(audio)
    assert len(cues) == 1 and cues[0].t_start == pytest.approx(3.0, abs=0.05)


def test_speech_has_no_cue():
    assert find_morse_cues(load_audio(DATA / "jfk.flac")) == []


def test_synthetic_speech_has_no_cue(tmp_path):
    wav = tmp_path / "tts.wav"  # espeak-ng is a Debian package the Makefile installs
    subprocess.run(["espeak-ng", "-w", str(wav), "Buy now, lowest price, only today. Dot dash dot dot."],
                   check=True)
    assert find_morse_cues(load_audio(wav)) == []


@pytest.mark.parametrize("pattern", ["..-.", ".-", "...", ".-..-", "-.--"])
def test_other_codes_are_not_the_cue(pattern):
    audio = np.concatenate([silence(0.5), morse_tone(pattern, unit_s=0.1), silence(0.5)])
    assert find_morse_cues(audio) == []


def test_steady_tone_and_beeps_are_not_the_cue():
    steady = morse_tone("-", unit_s=1.0)
    beeps = np.concatenate([np.concatenate([morse_tone(".", unit_s=0.1), silence(0.1)]) for _ in range(8)])
    assert find_morse_cues(np.concatenate([silence(0.3), steady, silence(0.5), beeps])) == []
