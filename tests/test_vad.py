"""silero-vad through onnxruntime: speech found in real audio, none in silence or tones; chunk packing."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.media import load_audio
from asr_corpus import (
    JFK_BOUNDS,
    SAMPLE_RATE,
    music_like,
    room_noise,
    jfk_path,
)
from liveinspect.pipelines.vad import VadOptions, speech_chunks, speech_probabilities, speech_regions


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(jfk_path())


def test_speech_found_in_real_audio_and_not_in_silence_or_tones(jfk):
    audio = np.concatenate([room_noise(8), jfk, room_noise(20, seed=1), music_like(15),
                            room_noise(3, seed=2)])
    regions = [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in speech_regions(audio)]
    onset, offset = JFK_BOUNDS
    assert regions, "no speech found"
    assert abs(regions[0][0] - (8 + onset)) < 0.5
    assert abs(regions[-1][1] - (8 + offset)) < 0.5
    assert all(8 + onset - 0.5 <= s and e <= 8 + offset + 0.5 for s, e in regions), regions


def test_lanes_match_sequential_processing(jfk):
    # Long audio runs as parallel lanes; the warm-up overlap keeps them equal to one pass.
    audio = np.concatenate([jfk] * 4)
    lanes = speech_probabilities(audio, VadOptions(lane_s=10.0))
    single = speech_probabilities(audio, VadOptions(lane_s=1000.0))
    assert lanes.shape == single.shape
    assert np.mean(np.abs(lanes - single) < 0.1) > 0.97


def test_chunks_pack_speech_within_30_seconds_and_map_back_to_broadcast_time(jfk):
    gap = room_noise(12)
    audio = np.concatenate([gap, jfk, gap, jfk, gap, jfk, gap, jfk])
    chunks = speech_chunks(audio, offset_s=100.0, stream_id="s1", segment_index=3)
    assert all(c.duration <= 30.0 for c in chunks)
    assert sum(len(c.pieces) for c in chunks) >= 4  # each copy is at least one piece
    assert len(chunks) == 2  # two 11 s copies fit a chunk; long silences are left out
    starts = [100.0 + 12 + i * (12 + len(jfk) / SAMPLE_RATE) for i in range(4)]
    pieces = [(c, i) for c in chunks for i in range(len(c.pieces))]
    first_piece_starts = sorted(c.to_broadcast(c.pieces[i].chunk_start / SAMPLE_RATE, i) for c, i in pieces)
    for expected in starts:
        assert min(abs(t - expected) for t in first_piece_starts) < 0.5
    chunk = chunks[0]
    assert chunk.stream_id == "s1" and chunk.segment_index == 3
    # A time inside the second piece maps into the second copy, past the left-out silence.
    second = chunk.pieces[-1]
    t = second.chunk_start / SAMPLE_RATE + 1.0
    assert chunk.to_broadcast(t) == pytest.approx(100.0 + (second.source_start / SAMPLE_RATE) + 1.0)


def test_long_speech_is_split_into_chunks_of_at_most_30_seconds(jfk):
    audio = np.concatenate([jfk] * 7)  # ~77 s with only short pauses
    chunks = speech_chunks(audio)
    assert len(chunks) >= 3
    assert all(c.duration <= 30.0 + 1e-6 for c in chunks)
    covered = sum(c.duration for c in chunks)
    assert covered > 0.8 * len(audio) / SAMPLE_RATE
