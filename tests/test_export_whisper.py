"""Whisper on ONNX Runtime: the exported graphs, the numpy front end, tokenizer and DTW against
openai-whisper's own, on a small random model (fast) and on the real base weights (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from whisper.audio import N_SAMPLES, log_mel_spectrogram, mel_filters, pad_or_trim
from whisper.model import ModelDimensions, Whisper
from whisper.timing import dtw_cpu
from whisper.timing import median_filter as torch_median_filter
from whisper.tokenizer import get_tokenizer

from liveinspect.backends.base import BackendOptions
from liveinspect.export.whisper import export_whisper
from liveinspect.models.whisper import load_whisper_model, resolve_whisper_weights
from liveinspect.models.whisper.dtw import dtw, median_filter
from liveinspect.models.whisper.mel import log_mel_spectrogram as numpy_log_mel
from liveinspect.models.whisper.onnx_runner import OnnxWhisperRunner, _Cache
from liveinspect.models.whisper.runner import AlignmentRequest, DecodeRequest
from liveinspect.models.whisper.vocab import WhisperVocabulary

from edge_support import edge_export, jfk_audio  # noqa: F401 - fixtures

TINY = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                       n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2)


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    tone = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = Whisper(TINY).eval()
    with torch.no_grad():
        # openai-whisper leaves the text positions uninitialised (torch.empty: a checkpoint fills them).
        model.decoder.positional_embedding.normal_(0.0, 0.02)
        # Sharper logits than the default init: greedy decoding then has clear winners to agree on.
        model.decoder.token_embedding.weight.mul_(8.0)
    folder = tmp_path_factory.mktemp("tiny-whisper")
    export_whisper(model, folder, name="tiny-random", source_sha256="0" * 64)
    return model, OnnxWhisperRunner(folder, BackendOptions(kind="onnx", threads=1))


def test_numpy_log_mel_matches_openai_whisper():
    audio = _speechlike(7.5)
    reference = log_mel_spectrogram(pad_or_trim(torch.from_numpy(audio), N_SAMPLES), 80).numpy()
    ours = numpy_log_mel(audio, mel_filters("cpu", 80).numpy())
    assert ours.shape == (80, 3000)
    assert np.abs(ours - reference).max() < 1e-4


def test_encoder_keys_values_and_decoder_logits_match_torch(tiny):
    model, runner = tiny
    audio = _speechlike(10.0)
    features = runner.encode([audio, audio[:16000]])
    assert len(features) == 2 and features.keys[0].shape == (2, 2, 32, 1500)
    with torch.no_grad():
        mel = log_mel_spectrogram(pad_or_trim(torch.from_numpy(audio), N_SAMPLES), 80)[None]
        encoded = model.encoder(mel)
        block = model.decoder.blocks[1]
        scale = 32 ** -0.25
        key = (block.cross_attn.key(encoded) * scale).view(1, 1500, 2, 32).permute(0, 2, 3, 1).numpy()
        value = block.cross_attn.value(encoded).view(1, 1500, 2, 32).permute(0, 2, 1, 3).numpy()
        tokens = [50258, 50259, 50359, 50363, 400, 370, 452, 7177]
        logits = model.decoder(torch.tensor([tokens]), encoded).numpy()
    assert np.abs(features.keys[1][:1] - key).max() < 1e-4 * np.abs(key).max()
    assert np.abs(features.values[1][:1] - value).max() < 1e-4 * np.abs(value).max()
    first = features.take([0])
    all_at_once, _ = runner.step(np.array([tokens]), _Cache.empty(1, 2, 2, 32), first)
    assert np.abs(all_at_once - logits).max() < 1e-4 * np.abs(logits).max()
    # The same logits token by token through the cache: positions and the causal mask follow it.
    cache = _Cache.empty(1, 2, 2, 32)
    stepped = []
    for token in tokens:
        out, cache = runner.step(np.array([[token]]), cache, first)
        stepped.append(out[:, 0])
    assert cache.keys[0].shape == (1, 2, 32, len(tokens))
    assert np.abs(np.stack(stepped, axis=1) - logits).max() < 1e-4 * np.abs(logits).max()
    # ... and in two calls, the second with several tokens after a non-empty cache.
    head, _ = runner.step(np.array([tokens[:3]]), _Cache.empty(1, 2, 2, 32), first)
    _, cache = runner.step(np.array([tokens[:3]]), _Cache.empty(1, 2, 2, 32), first)
    tail, _ = runner.step(np.array([tokens[3:]]), cache, first)
    assert np.abs(np.concatenate([head, tail], axis=1) - logits).max() < 1e-4 * np.abs(logits).max()


def test_greedy_decoding_and_alignment_match_the_torch_runner(tiny):
    from liveinspect.models.whisper import TorchWhisperRunner

    model, runner = tiny
    audios = [_speechlike(10.0, seed=1), _speechlike(4.0, seed=2)]
    torch_runner = TorchWhisperRunner(model, device="cpu")
    request = DecodeRequest(task="transcribe", language=None, temperature=0.0)
    expected = torch_runner.decode(torch_runner.encode(audios), [0, 1], request)
    features = runner.encode(audios)
    got = runner.decode(features, [0, 1], request)
    for a, b in zip(expected, got, strict=True):
        assert (a.language, a.tokens[:40]) == (b.language, b.tokens[:40])
        assert a.no_speech_prob == pytest.approx(b.no_speech_prob, abs=1e-4)
        if a.tokens == b.tokens:
            assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-3)
    requests = [AlignmentRequest("en", "transcribe", [400, 370, 452, 7177, 6280], 1000),
                AlignmentRequest("en", "transcribe", [], 300),
                AlignmentRequest("en", "transcribe", [1029, 406], 400)]
    reference = torch_runner.alignment_matrices(torch_runner.encode(audios + audios[:1]), requests)
    ours = runner.alignment_matrices(runner.encode(audios + audios[:1]), requests)
    assert ours[1] is None and reference[1] is None
    for a, b in ((reference[0], ours[0]), (reference[2], ours[2])):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-3


def test_beam_search_and_sampling_run_and_agree_with_greedy_shape(tiny):
    _, runner = tiny
    features = runner.encode([_speechlike(6.0, seed=3)])
    beam = runner.decode(features, [0], DecodeRequest("transcribe", "en", 0.0, beam_size=3))[0]
    sampled = runner.decode(features, [0], DecodeRequest("transcribe", "en", 0.7, best_of=2))[0]
    for result in (beam, sampled):
        assert result.language == "en" and np.isfinite(result.avg_logprob)
        assert 50257 not in result.tokens  # end-of-text is never part of the text


def test_tokenizer_from_the_exported_table_matches_openai_whisper(tiny):
    _, runner = tiny
    vocabulary = WhisperVocabulary.load(runner.folder)
    for language in ("en", "zh"):
        ours = vocabulary.tokenizer(language, "transcribe")
        theirs = get_tokenizer(True, num_languages=99, language=language, task="transcribe")
        assert ours.sot_sequence_including_notimestamps == theirs.sot_sequence_including_notimestamps
        assert ours.non_speech_tokens == theirs.non_speech_tokens
        assert set(ours.all_language_tokens) == set(theirs.all_language_tokens)
        assert (ours.eot, ours.no_speech, ours.timestamp_begin) == \
            (theirs.eot, theirs.no_speech, theirs.timestamp_begin)
        assert list(ours.blank_tokens) == theirs.encode(" ")
        texts = ("And so my fellow Americans, ask not.", "全网最低价，加我微信！三天见效", "Ça va? 😀 ok")
        for text in texts:
            tokens = theirs.encode(text) + [theirs.eot]
            assert ours.decode(tokens) == theirs.decode(tokens)
            assert ours.split_to_word_tokens(tokens) == theirs.split_to_word_tokens(tokens)
        broken = theirs.encode("全网")[:1] + theirs.encode(" ok")
        assert ours.split_to_word_tokens(broken) == theirs.split_to_word_tokens(broken)


def test_numpy_dtw_and_median_filter_match_openai_whisper():
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (3, 9), (30, 400), (90, 1200)]:
        x = rng.normal(size=shape)
        a, b = dtw_cpu(x.copy()), dtw(x)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    x = rng.normal(size=(4, 20, 300)).astype(np.float32)
    assert np.array_equal(torch_median_filter(torch.from_numpy(x), 7).numpy(), median_filter(x, 7))


def test_exported_folder_resolves_as_whisper_weights(tiny):
    _, runner = tiny
    weights = resolve_whisper_weights(runner.folder)
    assert weights.kind == "onnx" and weights.sha256 == "0" * 64 and weights.name == "tiny-random"
    loaded = load_whisper_model(weights)
    assert isinstance(loaded, OnnxWhisperRunner) and loaded.precision == "fp32"


@pytest.mark.slow
def test_real_base_model_transcribes_jfk_identically_on_both_runtimes(edge_export, jfk_audio):  # noqa: F811
    from liveinspect.pipelines.asr import Transcriber

    folder, manifest = edge_export
    record = manifest.models["whisper"]
    assert record.parity["greedy_transcripts_identical"] == {"jfk": True, "demo": True}
    assert record.parity["decoder_logits"]["max_rel"] < 1e-4
    torch_transcript = Transcriber(load_whisper_model()).transcribe_audio(jfk_audio)
    fp32 = Transcriber(OnnxWhisperRunner(folder / "whisper", BackendOptions(kind="onnx", precision="fp32")))
    onnx_transcript = fp32.transcribe_audio(jfk_audio)
    assert onnx_transcript.text == torch_transcript.text
    assert "ask not what your country can do for you" in onnx_transcript.text
    for a, b in zip(torch_transcript.words, onnx_transcript.words, strict=True):
        assert (a.text, a.start, a.end) == pytest.approx((b.text, b.start, b.end), abs=0.021)
    # The precision the export chose (int8 within the WER budget, else fp32), which the edge runs by
    # default, gives the torch path's greedy jfk transcript word for word too (issue 12's target).
    chosen = Transcriber(load_whisper_model(folder / "whisper")).transcribe_audio(jfk_audio)
    assert record.int8["status"] in ("accepted", "rejected")
    assert chosen.text == torch_transcript.text
