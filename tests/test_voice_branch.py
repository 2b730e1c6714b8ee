"""The vocoder-trace branch (a second head on the spectral views, generator-balanced, its L2 chosen on an
inner split of the training clips, fused by the max) and the codec-alone augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveinspect.media.audio import load_audio
from liveinspect.media.transcode import reencode
from liveinspect.models.voice.features import WINDOW_SAMPLES
from liveinspect.models.voice.head import feature_size
from liveinspect.training.audio_augment import random_chain
from liveinspect.training.voice import (
    BRANCH_FEATURES,
    FeatureSet,
    _generator_weights,
    leave_one_generator_out,
    train_vocoder_branch,
    train_voice_head,
)

DATA = Path(__file__).parent / "data"
MAIN = ("aasist_hidden", *BRANCH_FEATURES)


def _rows(generators: dict[str, int], n_real: int, seed: int, names=MAIN, condition="clean") -> FeatureSet:
    """Real rows near 0; each synthetic generator shifted along its own two spectral columns, so what
    one generator teaches says nothing about another (as with espeak and a vocoder)."""
    rng = np.random.default_rng(seed)
    width = feature_size(names)
    offset = feature_size(names[:1]) if names[0] == "aasist_hidden" else 0
    labels, gens, xs = [], [], []
    for k, (name, count) in enumerate(generators.items()):
        x = rng.normal(0, 1, (count, width)).astype(np.float32)
        x[:, offset + 2 * k:offset + 2 * k + 2] += 3.0
        xs.append(x)
        labels += [1] * count
        gens += [name] * count
    xs.append(rng.normal(0, 1, (n_real, width)).astype(np.float32))
    labels += [0] * n_real
    gens += ["bona-fide"] * n_real
    n = len(labels)
    sources = [f"{seed}-{condition}-c{i}" for i in range(n)]
    return FeatureSet(x=np.concatenate(xs), margin=np.zeros(n, np.float32), label=np.array(labels),
                      generator=gens, condition=[condition] * n, group=sources, source=sources,
                      features=tuple(names))


def test_generator_balance_gives_each_generator_an_equal_share():
    label = np.array([0] * 6 + [1] * 8 + [1] * 2)
    generator = ["bona-fide"] * 6 + ["common"] * 8 + ["rare"] * 2
    w = _generator_weights(label, generator)
    assert w.mean() == pytest.approx(1.0)
    assert w[:6].sum() == pytest.approx(w[6:].sum())  # real half, synthetic half
    assert w[6:14].sum() == pytest.approx(w[14:].sum())  # 8 rows and 2 rows weigh alike
    data = _rows({"g": 40}, 40, 0)
    with pytest.raises(ValueError, match="balance"):
        train_voice_head(data, balance="speaker", epochs=10)


def test_vocoder_branch_trains_on_vocoded_generators_only_and_learns_them():
    train = _rows({"espeak_en": 60, "griffinlim": 60, "piper": 60}, 120, 1).select(BRANCH_FEATURES)
    head, info = train_vocoder_branch(train, vocoded=("griffinlim", "piper"), l2s=(0.3, 0.003))
    assert info["generators"] == ["griffinlim", "piper"] and info["l2"] in (0.3, 0.003)
    assert set(info["inner_eer"]) == {0.3, 0.003}
    test = _rows({"espeak_en": 40, "griffinlim": 40, "piper": 40}, 80, 2).select(BRANCH_FEATURES)
    p = head.probability(test.x)
    gen = np.asarray(test.generator)
    real = p[gen == "bona-fide"]
    for name in ("griffinlim", "piper"):  # the trained ones are separated from real rows
        assert np.mean(p[gen == name] > np.median(real)) > 0.9
    # espeak's own columns were never shown to the branch: it does not learn them
    assert np.mean(p[gen == "espeak_en"] > np.median(real)) < 0.8
    with pytest.raises(ValueError, match="no vocoded generator"):
        train_vocoder_branch(train, vocoded=("melgan_resynth",))


def test_leave_one_out_with_a_branch_reports_head_branch_and_their_max():
    train = _rows({"espeak_en": 50, "griffinlim": 50, "piper": 50}, 100, 3)
    test = _rows({"espeak_en": 20, "griffinlim": 20, "piper": 20}, 40, 4)
    branch = {"rows": train, "features": BRANCH_FEATURES, "vocoded": ("griffinlim", "piper"),
              "threshold_rows": None, "l2s": (0.3,)}
    logo = leave_one_generator_out(train, test, n_resamples=20, l2=0.3, branch=branch)
    assert set(logo) == {"espeak_en", "griffinlim", "piper"}
    for cell in logo.values():
        m = cell["clean"]
        assert {"head", "branch", "fused", "baseline"} <= set(m)
        # the max catches whatever either branch catches at 0.5
        assert m["fused"]["caught"] >= max(m["head"]["caught"], m["branch"]["caught"])
        assert m["branch"]["l2"] == 0.3
    # the branch held out of piper trained on griffinlim alone: piper's columns are new to it
    assert logo["piper"]["clean"]["branch"]["eer"] > logo["griffinlim"]["clean"]["head"]["eer"]


def test_codec_alone_is_one_low_bitrate_codec_on_the_clean_clip_and_off_by_default():
    audio = load_audio(DATA / "jfk.flac")[:WINDOW_SAMPLES // 2]
    every = random_chain(codec_alone=1.0)
    out = every(audio, np.random.default_rng(0))
    options = [reencode(audio, codec, kbps) for codec in ("mp3", "aac", "opus") for kbps in (16, 24, 32)]
    assert any(o.shape == out.shape and np.array_equal(o, out) for o in options)
    # off: the draws are exactly the chain's without the option (earlier heads' rows are unchanged)
    plain, off = random_chain(), random_chain(codec_alone=0.0)
    for k in range(3):
        assert np.array_equal(plain(audio, np.random.default_rng(k)), off(audio, np.random.default_rng(k)))
    with pytest.raises(ValueError, match="share"):
        random_chain(codec_alone=1.5)


def test_comb_stats_find_evenly_spaced_spectral_peaks_and_ignore_level():
    from liveinspect.models.voice.features import _COMB_SPACINGS, COMB_STATS_SIZE, comb_stats

    rng = np.random.default_rng(5)
    t = np.arange(WINDOW_SAMPLES) / 16_000
    noise = rng.standard_normal(WINDOW_SAMPLES).astype(np.float32)
    # fixed partials every 250 Hz (as an upsampling artefact leaves), under broadband noise
    tones = sum(np.sin(2 * np.pi * 250 * k * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 31))
    combed = (noise + 0.3 * tones).astype(np.float32)
    band = int(np.searchsorted(_COMB_SPACINGS, 250.0, side="right") - 1)  # the spacing band holding 250 Hz
    near = slice(band - 1, band + 1)  # 250 Hz sits on a band edge
    plain, peaky = comb_stats(noise), comb_stats(combed)
    assert plain.shape == peaky.shape == (COMB_STATS_SIZE,)
    assert peaky[near].max() > 2 * plain[near].max()
    # no spacing wider than the comb's (bands above 300 Hz) stands out, and the residual is far peakier
    assert peaky[band + 2:-2].max() < plain[band + 2:-2].max() and peaky[-2] > 3 * plain[-2]
    assert np.allclose(comb_stats(combed * 0.01), peaky, atol=1e-3)  # level-free
