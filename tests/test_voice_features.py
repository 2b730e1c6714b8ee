"""The voice head's numpy views (phase, band), feature sets that name their views, the per-clip feature
cache, the bona-fide-preserving augmentations, and the guarded loader for ttskit's shipped pickles."""

from __future__ import annotations

import hashlib
import pickle
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from recipe_support import synthetic_recipe

from liveinspect.datasets.spoof import SpoofItem
from liveinspect.errors import CheckpointError
from liveinspect.media.audio import load_audio
from liveinspect.models.voice.features import (
    BAND_STATS_SIZE,
    PHASE_STATS_SIZE,
    WINDOW_SAMPLES,
    band_stats,
    lfcc_stats,
    phase_stats,
    window_features,
)
from liveinspect.models.voice.head import feature_size, load_voice_head
from liveinspect.training.audio_augment import phone_band, random_chain, room
from liveinspect.training.voice import (
    ALL_FEATURES,
    FeatureSet,
    concat_features,
    extract_features,
    save_voice_head,
    train_voice_head,
)

DATA = Path(__file__).parent / "data"
SR = 16_000


def test_phase_stats_tell_a_steady_tone_from_noise():
    t = np.arange(WINDOW_SAMPLES) / SR
    tone = np.sin(2 * np.pi * 1500 * t).astype(np.float32)  # in band 1 (1-2 kHz)
    noise = np.random.default_rng(0).standard_normal(WINDOW_SAMPLES).astype(np.float32)
    steady, random_phase = phase_stats(tone), phase_stats(noise)
    assert steady.shape == (PHASE_STATS_SIZE,)
    coherence = slice(8, 16)
    assert steady[coherence][1] > 0.95 and random_phase[coherence].max() < 0.7
    speech = load_audio(DATA / "jfk.flac")[:WINDOW_SAMPLES]
    assert np.allclose(phase_stats(speech * 0.01), phase_stats(speech), atol=1e-3)  # level-free


def test_band_stats_follow_spectral_shape_and_ignore_level():
    noise = np.random.default_rng(1).standard_normal(WINDOW_SAMPLES).astype(np.float32)
    low = np.convolve(noise, np.ones(16) / 16, mode="same").astype(np.float32)  # a low-pass of the noise
    white, dull = band_stats(noise), band_stats(low)
    assert white.shape == (BAND_STATS_SIZE,)
    shape = slice(0, 8)
    assert abs(white[shape][7] - white[shape][0]) < 0.5  # white noise is flat across bands
    assert dull[shape][0] - dull[shape][7] > 3.0  # the low-passed noise falls off towards 8 kHz
    assert np.allclose(band_stats(noise * 30), white, atol=1e-3)


def test_window_features_concatenate_named_views_from_one_stft():
    audio = load_audio(DATA / "jfk.flac")[:WINDOW_SAMPLES]
    both = window_features(audio[None], ("lfcc_stats", "phase_stats"))
    assert both.shape == (1, 80 + PHASE_STATS_SIZE)
    assert np.allclose(both[0, :80], lfcc_stats(audio), atol=1e-5)
    assert np.allclose(both[0, 80:], phase_stats(audio), atol=1e-5)
    with pytest.raises(KeyError, match="unknown window features"):
        window_features(audio[None], ("mfcc",))


def _feature_set(n: int, seed: int, names=ALL_FEATURES) -> FeatureSet:
    rng = np.random.default_rng(seed)
    label = np.array([0, 1] * (n // 2))
    x = rng.normal(0, 1, (n, feature_size(names))).astype(np.float32)
    offset = feature_size(names[:1])  # the first view after AASIST: the informative one
    x[:, offset:offset + 4] += label[:, None] * 2.0
    return FeatureSet(x=x, margin=np.zeros(n, np.float32), label=label, generator=["g"] * n,
                      condition=["clean"] * n, group=[f"s{i % 40}" for i in range(n)],
                      source=[f"c{i}" for i in range(n)], features=tuple(names))


def test_select_picks_views_and_a_head_keeps_its_views_through_its_card(tmp_path):
    data = _feature_set(300, 0)
    picked = data.select(("lfcc_stats", "aasist_hidden"))
    assert picked.x.shape == (300, 240) and picked.features == ("lfcc_stats", "aasist_hidden")
    assert np.array_equal(picked.x[:, :80], data.x[:, 160:240])
    assert np.array_equal(picked.x[:, 80:], data.x[:, :160])
    with pytest.raises(KeyError):
        picked.select(("phase_stats",))
    head, _ = train_voice_head(data.select(("aasist_hidden", "lfcc_stats", "phase_stats")), epochs=100,
                               target_fpr=None)
    assert head.features == ("aasist_hidden", "lfcc_stats", "phase_stats") and head.w1.shape[1] == 264
    save_voice_head(head, tmp_path / "head", data={}, metrics={})
    loaded = load_voice_head(tmp_path / "head")
    assert loaded.features == head.features
    test = _feature_set(100, 1).select(head.features)
    assert np.allclose(loaded.probability(test.x), head.probability(test.x), atol=1e-6)
    # A card whose views do not add up to the weights' width is refused.
    import json

    card_path = tmp_path / "head" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["architecture"]["features"] = ["aasist_hidden", "lfcc_stats"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="inputs"):
        load_voice_head(tmp_path / "head")


def test_the_detector_builds_the_columns_a_head_reads():
    from liveinspect.models.voice import VoiceSpoofModel

    class FakeAasist(VoiceSpoofModel):
        def embed(self, windows):
            return np.tile(np.arange(160, dtype=np.float32), (len(windows), 1)), np.zeros(len(windows))

    audio = load_audio(DATA / "jfk.flac")[:WINDOW_SAMPLES][None]
    model = FakeAasist(head=None)
    x, _ = model.features(audio, ("band_stats", "aasist_hidden"))
    assert x.shape == (1, BAND_STATS_SIZE + 160)
    assert np.allclose(x[0, :BAND_STATS_SIZE], band_stats(audio[0]), atol=1e-5)
    assert np.array_equal(x[0, BAND_STATS_SIZE:], np.arange(160))


def _write_wav(path: Path, audio: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SR)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


class CountingModel:
    """AASIST's interface with a cheap deterministic embedding; counts the windows it is asked for."""

    def __init__(self):
        self.windows = 0

    def embed(self, windows):
        self.windows += len(windows)
        hidden = np.stack([np.full(160, float(np.abs(w).mean()), np.float32) for w in windows])
        return hidden, hidden[:, 0]


def test_feature_cache_runs_the_model_once_per_new_clip(tmp_path):
    jfk = load_audio(DATA / "jfk.flac")
    items = [SpoofItem(path=_write_wav(tmp_path / "clips" / f"c{i}.wav", jfk[i * SR:(i + 5) * SR]),
                       label=int(i > 0), generator="g" if i else "bona-fide", speaker=f"s{i}")
             for i in range(3)]
    model = CountingModel()
    first = extract_features(items[:2], model, conditions=("clean",), augment_copies=1, cache=tmp_path / "c",
                             progress=False, keep_windows=True)
    assert model.windows == 4 and first.features == ALL_FEATURES
    assert first.x.shape == (4, feature_size(ALL_FEATURES))
    again = extract_features(items[:2], model, conditions=("clean",), augment_copies=1, cache=tmp_path / "c",
                             progress=False, keep_windows=True)
    assert model.windows == 4 and np.array_equal(again.x, first.x)  # everything came from the cache
    # the windows each row came from travel with the rows (a waveform model trains on the same rows)
    assert first.windows.shape == (4, WINDOW_SAMPLES) and first.windows.dtype == np.float16
    assert np.array_equal(again.windows, first.windows)
    assert np.array_equal(first.subset(first.label == 1).windows, first.windows[first.label == 1])
    assert concat_features(first, again).windows.shape == (8, WINDOW_SAMPLES)
    grown = extract_features(items, model, conditions=("clean",), augment_copies=1, cache=tmp_path / "c",
                             progress=False)
    # The new clip is synthetic, so the babble pool (real clips) is unchanged: only its rows are computed,
    # and the old clips' rows are the same as before.
    assert model.windows == 6 and np.array_equal(grown.x[:4], first.x)
    assert grown.windows is None  # not kept unless asked for
    assert grown.condition == ["clean", "augmented_0"] * 3
    # Another real clip changes the babble pool: the augmented rows are rebuilt, so they are recomputed.
    real = SpoofItem(path=_write_wav(tmp_path / "clips" / "r.wav", jfk[5 * SR:9 * SR]), label=0,
                     generator="bona-fide", speaker="r")
    extract_features([*items, real], model, conditions=("clean",), augment_copies=1, cache=tmp_path / "c",
                     progress=False)
    assert model.windows == 6 + 8


def test_phone_band_and_room_keep_speech_and_its_length():
    audio = load_audio(DATA / "jfk.flac")[:WINDOW_SAMPLES]
    rng = np.random.default_rng(0)
    phone = phone_band(audio, rng)
    spectrum = np.abs(np.fft.rfft(phone))
    freqs = np.fft.rfftfreq(len(phone), 1 / SR)
    assert phone.shape == audio.shape and spectrum[freqs > 4000].sum() < 0.01 * spectrum.sum()
    impulse = np.zeros(SR // 2)
    impulse[200], impulse[1800] = 1.0, 0.4
    wet = room([impulse])(audio, rng)
    assert wet.shape == audio.shape and np.corrcoef(audio, wet)[0, 1] > 0.7  # direct sound stays aligned
    chain = random_chain(rooms=[impulse])
    assert all(chain(audio, np.random.default_rng(k)).shape == audio.shape for k in range(4))


@pytest.fixture()
def ttskit_voice():
    with synthetic_recipe("ttskit_voice") as module:
        yield module


class _Boom:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create a file: the loader must never get that far
        return (Path.touch, (self.marker,))


def test_ttskit_loader_unpickles_only_pinned_shipped_files(tmp_path, ttskit_voice):
    shipped = tmp_path / "model"
    shipped.mkdir()
    torch.save(torch.nn.Linear(3, 2), shipped / "tiny.pt")  # a whole pickled module, as ttskit ships
    digest = hashlib.sha256((shipped / "tiny.pt").read_bytes()).hexdigest()
    allowed = ("collections.OrderedDict", "torch.nn.modules.linear.Linear")
    pinned = {"tiny.pt": digest}
    load = ttskit_voice.load_shipped_model
    module = load(shipped / "tiny.pt", model_dir=shipped, pinned=pinned, allowed=allowed)
    assert isinstance(module, torch.nn.Linear) and module.weight.shape == (2, 3)

    marker = tmp_path / "never-created"
    (tmp_path / "user.pt").write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(ttskit_voice.UntrustedModelFile, match="only ttskit's own"):
        ttskit_voice.load_shipped_model(tmp_path / "user.pt", model_dir=shipped, pinned=pinned)
    (shipped / "tiny.pt").write_bytes(pickle.dumps(_Boom(marker)))  # the pinned name, changed content
    with pytest.raises(ttskit_voice.UntrustedModelFile, match="SHA-256"):
        load(shipped / "tiny.pt", model_dir=shipped, pinned=pinned, allowed=allowed)
    # Pinned, but naming a class outside the allowlist: weights_only refuses it.
    torch.save(torch.nn.Conv1d(1, 1, 3), shipped / "conv.pt")
    conv_digest = hashlib.sha256((shipped / "conv.pt").read_bytes()).hexdigest()
    with pytest.raises(Exception, match="Unsupported global|not an allowed global|weights_only"):
        ttskit_voice.load_shipped_model(shipped / "conv.pt", model_dir=shipped,
                                        pinned={"conv.pt": conv_digest}, allowed=allowed)
    assert not marker.exists()


def test_sampled_stretches_cost_one_window_per_hop_of_speech():
    from liveinspect.models.voice.features import stretch_windows

    hop = 10 * SR
    for seconds, expected in ((29.5, 3), (45.0, 5), (6.0, 2)):
        voiced = int(seconds * SR)
        windows = stretch_windows([(0, voiced)], gap=SR, hop=hop)
        assert len(windows) == expected  # the old rule (hop apart, plus one flush with the end): 4, 5, 2
        starts = [w.pieces[0][0] for w in windows]
        assert starts[0] == 0 and windows[-1].pieces[-1][1] == voiced  # both ends are sampled
        gaps = np.diff(starts)
        assert gaps.min() > 0 and gaps.max() - gaps.min() <= 1 and gaps.max() <= 1.5 * hop  # evenly spread
        assert all(sum(b - a for a, b in w.pieces) == WINDOW_SAMPLES for w in windows)


class _TinyMelgan(torch.nn.Module):
    """MelGAN's interface at toy size: 256 samples per mel frame at 22.05 kHz, int16 scale, and the
    same 10 padding frames appended and cut off again as ttskit's Generator.inference does. Each
    frame's output is 12 cycles of a tone (22050 / 256 * 12 = 1033.6 Hz, continuous across frames)
    whose loudness follows the frame's log-mel."""

    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose1d(80, 1, kernel_size=256, stride=256, bias=False)
        tone = torch.sin(2 * torch.pi * 12 * torch.arange(256) / 256)
        self.up.weight.data[:] = tone / 80

    def inference(self, mel):
        mel = torch.cat([mel, torch.full((1, 80, 10), -11.5129)], dim=2)
        audio = self.up(torch.exp(mel / 4))[0, 0][:-256 * 10]
        return (audio / audio.abs().max().clamp(min=1e-6) * 20000).short()


def test_mel_is_the_vocoders_config_and_resynthesis_keeps_length_rate_and_timing(ttskit_voice):
    sr = ttskit_voice.MEL["rate"]
    filters = ttskit_voice.mel_filters()
    assert filters.shape == (80, 513)
    freqs = np.linspace(0, sr / 2, 513)
    # Slaney-normalised triangles: unit area in Hz (to the 21.5 Hz bins' discretisation)
    area = (filters * (freqs[1] - freqs[0])).sum(1)
    assert np.allclose(area, 1.0, atol=0.07) and np.allclose(area[40:], 1.0, atol=0.015)
    assert freqs[filters[-1] > 0].max() <= 8000  # nothing above fmax
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr).astype(np.float32)
    mel = ttskit_voice.vocoder_mel(tone)
    assert mel.shape == (80, sr // 256 + 1)
    peak = int(np.argmax(mel[:, 40]))
    assert abs(freqs[np.argmax(filters[peak])] - 1000) < 60  # the tone lands in the band around 1 kHz
    assert np.isclose(mel.min(), np.log(1e-5), atol=1e-3) or mel.min() > np.log(1e-5)

    # 1.5 s silence then 1.5 s of speech-band noise at 16 kHz: the resynthesis has the input's length
    # and rate, and its loud part is where the input's was (no offset from padding or resampling).
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(24_000), 0.3 * rng.standard_normal(24_000)]).astype(np.float32)
    out = ttskit_voice.resynthesize(audio, _TinyMelgan(), rate=SR)
    assert out.shape == audio.shape and out.dtype == np.float32
    envelope = np.abs(out).reshape(-1, 800).mean(1)  # 50 ms blocks
    onset = int(np.argmax(envelope > 0.5 * envelope.max()))
    assert abs(onset * 800 - 24_000) <= 1600  # within two blocks of 1.5 s
    assert envelope[:25].max() < 0.1 * envelope[35:].mean()
    spectrum = np.abs(np.fft.rfft(out[24_000:]))
    # the vocoder's tone at its own rate is still 1033.6 Hz after 22.05 -> 16 kHz (a wrong rate moves it)
    assert abs(np.argmax(spectrum) * SR / len(out[24_000:]) - 22_050 / 256 * 12) < 5
    at_8k = ttskit_voice.resynthesize(audio[::2], _TinyMelgan(), rate=8000)
    assert at_8k.shape == (24_000,)


def test_threshold_rows_move_the_operating_point_only_for_held_out_real_clips():
    rng = np.random.default_rng(3)
    n = 400
    label = np.array([0, 1] * (n // 2))
    x = rng.normal(0, 1, (n, 24)).astype(np.float32)
    x[:, :6] += label[:, None] * 2.0
    sources = [f"c{i}" for i in range(n)]
    data = FeatureSet(x=x, margin=np.zeros(n, np.float32), label=label, generator=["g"] * n,
                      condition=["clean"] * n, group=sources, source=sources, features=("band_stats",))
    _, plain = train_voice_head(data, seed=0, epochs=100)
    # The same clips "re-encoded" so that they look more synthetic: the real ones among the held-out
    # clips must now stay under 0.5 too, so the bias moves further.
    real = label == 0
    shifted = x[real].copy()
    shifted[:, :6] += 1.5
    kept = [s for s, r in zip(sources, real, strict=True) if r]
    reencoded = FeatureSet(x=shifted, margin=np.zeros(len(kept), np.float32), label=label[real],
                           generator=["bona-fide"] * len(kept), condition=["mp3_32k"] * len(kept),
                           group=kept, source=kept, features=("band_stats",))
    head, moved = train_voice_head(data, seed=0, epochs=100, threshold_rows=reencoded)
    assert moved.threshold_shift > plain.threshold_shift + 0.5
    # Rows of clips the head was fitted on (or of unknown clips) never set the threshold.
    strangers = replace(reencoded, source=[f"other-{s}" for s in reencoded.source])
    _, ignored = train_voice_head(data, seed=0, epochs=100, threshold_rows=strangers)
    assert ignored.threshold_shift == plain.threshold_shift


def test_resynthesis_sources_stay_on_their_own_side_of_the_file_split():
    with synthetic_recipe("build_voice_corpus") as corpus:
        pass
    crops = [(f"file{k % 5}", "test" if k % 5 == 0 else "train", np.full(8, k, np.float32))
             for k in range(40)]
    arctic = np.full(8, -1.0, np.float32)
    picked = corpus.resynth_sources(crops, arctic, (6, 4))
    splits = [split for _, split, _ in picked]
    assert splits.count("train") == 6 and splits.count("test") == 4
    side = {speaker: split for speaker, split, _ in crops}
    for speaker, split, _ in picked:
        assert split == side.get(speaker, "train")  # a crop keeps its file's side (ARCTIC: train)
    assert picked[0][0] == "arctic-bdl" and picked[0][2] is arctic
    chosen = [int(audio[0]) for _, _, audio in picked[1:]]
    assert len(set(chosen)) == len(chosen)  # no crop twice
    assert len(corpus.resynth_sources(crops, None, (6, 4))) == 10
