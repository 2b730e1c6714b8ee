"""The voice analyzer on a segment: window scores line up with broadcast time; the three tiers."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from liveinspect.media.audio import load_audio
from liveinspect.media.audio_cues import morse_tone
from liveinspect.media.segment import Segment
from liveinspect.pipelines.disclosure import assess_broadcast
from liveinspect.pipelines.vad import VoiceActivity
from liveinspect.schema import Broadcast, FindingKind

SR = 16_000


@pytest.fixture(scope="module")
def voice():
    from liveinspect.pipelines import voice as module

    return module


def _run(analyzer, segment: Segment):
    stream = analyzer.open_stream("0")
    items = analyzer.preprocess(segment, stream)
    for start in range(0, len(items), analyzer.batch_size):
        batch = items[start:start + analyzer.batch_size]
        for item, output in zip(batch, analyzer.forward(batch), strict=True):
            analyzer.postprocess(item, output, stream)
    return items, analyzer.finish(stream)


@pytest.fixture(scope="module")
def espeak_segment(tmp_path_factory):
    wav = tmp_path_factory.mktemp("voice") / "tts.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav),
                    "Welcome to the live room. This cream is the best on the whole internet, buy it now."],
                   check=True)
    speech = load_audio(wav)
    audio = np.concatenate([np.zeros(2 * SR, np.float32), speech, np.zeros(SR, np.float32),
                            morse_tone(unit_s=0.08), np.zeros(SR, np.float32)])
    segment = Segment(index=1, t0=30.0, t1=30.0 + len(audio) / SR, audio=audio)
    segment.products["speech_regions"] = VoiceActivity.of(audio)
    return segment, len(speech) / SR


@pytest.mark.slow
def test_baseline_flags_espeak_with_broadcast_times(voice, espeak_segment, tmp_path):
    segment, speech_s = espeak_segment
    analyzer = voice.VoiceAnalyzer(voice.VoiceOptions(head="none"))
    assert analyzer.unavailable_reason() is None
    items, out = _run(analyzer, segment)
    windows = [i for i in items if i.samples is not None]
    assert windows and all(i.t_start >= 31.5 and i.t_end <= 32.5 + speech_s for i in windows)
    voice = [f for f in out.findings if f.kind is FindingKind.synthetic_voice]
    assert len(voice) == 1 and voice[0].score > 0.9
    assert voice[0].t_start == pytest.approx(32.0, abs=0.5)
    assert voice[0].t_end == pytest.approx(32 + speech_s, abs=0.6)
    [cue] = [f for f in out.findings if f.kind is FindingKind.aigc_label]
    assert cue.t_start == pytest.approx(33.0 + speech_s, abs=0.1)
    assert out.details["stretches"][0]["windows"] == len(windows)

    # The three tiers over the analyzer's findings (the cue discloses the voice only when present).
    no_cue = [f for f in out.findings if f.kind is FindingKind.synthetic_voice]
    plain = Broadcast(source="", title="护肤专场")
    assert [f.kind for f in assess_broadcast(plain, [], no_cue)] == [FindingKind.undisclosed_synthetic_media]
    declared = Broadcast(source="", title="虚拟主播 护肤专场")
    assert [f.kind for f in assess_broadcast(declared, [], no_cue)] == [FindingKind.aigc_declared]
    assert assess_broadcast(plain, [], out.findings) == []  # the Morse cue labels the audio
    tagged = tmp_path / "tagged.mkv"
    _tagged_file(tagged)
    labelled = assess_broadcast(Broadcast(source=str(tagged)), [], no_cue)
    assert [f.kind for f in labelled] == [FindingKind.aigc_label]
    assert labelled[0].evidence.category == "metadata:implicit"


@pytest.mark.slow
def test_a_whole_recording_is_cut_into_segments_and_scored_in_broadcast_time(voice, espeak_segment):
    """recording_segments + run_stream (the path bench/voice.py and check_real_recordings.py use): speech
    that crosses the 30 s segment border at 29 s is one stretch, found where it is."""
    segment, speech_s = espeak_segment
    speech = segment.audio[2 * SR:2 * SR + int(speech_s * SR)]
    audio = np.concatenate([np.zeros(29 * SR, np.float32), speech, np.zeros(20 * SR, np.float32)])
    segments = voice.recording_segments(audio)
    assert [s.t0 for s in segments] == [0.0, 30.0] and segments[1].t1 == pytest.approx(len(audio) / SR)
    assert all("speech_regions" in s.products for s in segments)
    out = voice.run_stream(voice.VoiceAnalyzer(voice.VoiceOptions(head="none")), segments)
    [found] = [f for f in out.findings if f.kind is FindingKind.synthetic_voice]
    assert found.t_start == pytest.approx(29.0, abs=0.5)
    assert found.t_end == pytest.approx(29 + speech_s, abs=0.6)
    assert len(out.details["stretches"]) == 1


def _tagged_file(path):
    import av

    with av.open(str(path), "w", format="matroska") as out:
        out.metadata["AIGC"] = json.dumps({"Label": "1", "ContentProducer": "demo-tts"})
        stream = out.add_stream("flac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_stretches_group_across_segments_and_average_logits(voice):
    windows = [(0.0, 4.0, (0.0, 9.0), 0.9, -3.0), (5.0, 9.0, (0.0, 9.0), 0.6, -1.0),
               (10.0, 14.0, (10.0, 14.5), 0.99, -6.0),  # next segment, 1 s later: same stretch
               (40.0, 44.0, (40.0, 44.0), 0.1, 4.0)]
    stretches = voice.group_stretches(windows, gap_s=1.5)
    spans = [(s["t_start"], s["t_end"], len(s["windows"])) for s in stretches]
    assert spans == [(0.0, 14.5, 3), (40.0, 44.0, 1)]
    logits = np.log(np.array([0.9, 0.6, 0.99]) / (1 - np.array([0.9, 0.6, 0.99])))
    assert stretches[0]["score"] == pytest.approx(1 / (1 + np.exp(-logits.mean())), rel=1e-5)


def test_silence_gives_no_items(voice):
    analyzer = voice.VoiceAnalyzer(voice.VoiceOptions(head="none"))
    segment = Segment(index=0, t0=0.0, t1=5.0, audio=np.zeros(5 * SR, np.float32))
    segment.products["speech_regions"] = VoiceActivity.of(segment.audio)
    items, out = _run(analyzer, segment)
    assert items == [] and out.findings == []
