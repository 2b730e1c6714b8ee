"""Turning one decoded chunk into segments: Simplified output, sentence splits, broadcast times."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.pipelines.asr import TranscribeOptions, Transcriber
from liveinspect.models.whisper.engine import ChunkDecode
from liveinspect.models.whisper.timing import WordTiming
from liveinspect.pipelines.asr.filters import PhraseBlocklist
from liveinspect.pipelines.vad import Piece, SpeechChunk

SR = 16_000


def _transcriber() -> Transcriber:
    # Only the text-side steps are exercised here, so no model is loaded.
    transcriber = object.__new__(Transcriber)
    transcriber.options = TranscribeOptions()
    transcriber.blocklist = PhraseBlocklist()
    return transcriber


def _chunk() -> SpeechChunk:
    # 2 s from broadcast 15 s, then (after a left-out silence) 2 s from broadcast 45 s.
    pieces = [Piece(0, 10 * SR, 2 * SR), Piece(2 * SR, 40 * SR, 2 * SR)]
    return SpeechChunk(np.zeros(4 * SR, np.float32), pieces, offset_s=5.0, stream_id="s")


def test_mandarin_is_simplified_and_times_map_through_the_pieces():
    decode = ChunkDecode("zh", [1, 2, 3], "這款產品是國家級的。加我微信", -0.2, 0.01, 1.0, 0.0, False)
    timings = [WordTiming("這款", [1], 0.1, 0.5, 1.0), WordTiming("產品是國家級的。", [2], 0.5, 1.8, 1.0),
               WordTiming("加我微信", [3], 2.3, 3.0, 1.0)]
    out = _transcriber()._chunk_transcript(_chunk(), decode, timings)
    assert [s.text for s in out.segments] == ["这款产品是国家级的。", "加我微信"]
    first, second = out.segments
    assert first.start == pytest.approx(15.1) and first.end == pytest.approx(16.8)
    assert second.start == pytest.approx(45.3) and second.end == pytest.approx(46.0)
    assert [w.text for w in first.words] == ["这款", "产品是国家级的。"]
    assert second.stream_id == "s" and second.language == "zh"


def test_credits_are_dropped_and_recorded():
    decode = ChunkDecode("zh", [1], "字幕由Amara.org社群提供", -0.9, 0.5, 1.0, 0.0, False)
    out = _transcriber()._chunk_transcript(_chunk(), decode, [WordTiming("字幕由Amara.org社群提供", [1],
                                                                         0.2, 1.5, 1.0)])
    assert out.segments == [] and out.dropped == ["字幕由Amara.org社群提供"]
