"""Long form: real and synthetic speech between long silences and music-like tones.

The CI version is ~2.5 minutes of audio; `bench/asr.py --minutes 10` runs the
same check on 10 minutes and prints the figures.
"""

from __future__ import annotations

import pytest

from liveinspect.pipelines.asr import Transcriber
from asr_corpus import long_recording
from asr_longform import score_longform

pytestmark = pytest.mark.slow


def test_no_invented_text_in_silence_or_music_and_times_within_half_a_second():
    recording = long_recording(minutes=2.5, seed=1)
    assert any(kind == "music" for *_, kind in recording.non_speech)
    assert sum(e - s for s, e, kind in recording.non_speech if kind == "silence") > 30
    transcript = Transcriber(device="cpu").transcribe_audio(recording.audio)
    score = score_longform(recording, transcript)
    assert score.words_in_non_speech == [], score.words_in_non_speech
    assert score.missed_utterances == []
    assert score.max_start_error_s <= 0.5 and score.max_end_error_s <= 0.5, score
    assert score.wer <= 0.15, score
