"""The corpus recipe's small HiFi-GAN-style vocoder (recipes/synthetic/small_vocoder.py): shapes, a short
training run that learns, safetensors round trip, and copy-synthesis that keeps length and timing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recipe_support import synthetic_recipe

SR = 16_000


@pytest.fixture(scope="module")
def vocoder_module():
    with synthetic_recipe("small_vocoder") as module:
        yield module


def _voiced(seconds: float, f0: float, rng) -> np.ndarray:
    """A buzzy vowel-like tone: harmonics of f0 under a falling envelope, plus a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    return (0.3 * wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_generator_upsamples_each_mel_frame_to_one_hop(vocoder_module):
    generator = vocoder_module.build_generator(channels=16)
    with torch.no_grad():
        out = generator(torch.zeros(2, 80, 10))
    assert out.shape == (2, 1, 10 * vocoder_module.MEL16["hop"])
    assert float(out.abs().max()) <= 1.0
    mel = vocoder_module.LogMel()(torch.zeros(1, SR))
    assert mel.shape == (1, 80, SR // 256 + 1)


def test_a_short_training_run_learns_and_round_trips_through_safetensors(vocoder_module, tmp_path):
    rng = np.random.default_rng(0)
    clips = [_voiced(1.0, f0, rng) for f0 in (110, 150, 200, 240)]
    mel = vocoder_module.LogMel()
    segment = 4096

    def loss_of(generator):
        real = np.stack([c[:segment] / np.abs(c).max() * 0.9 for c in clips]).astype(np.float32)
        real = torch.from_numpy(real)
        with torch.no_grad():
            fake = generator(mel(real)[:, :, :segment // 256])[:, 0]
            return float(vocoder_module.stft_loss(fake, real))

    torch.manual_seed(0)
    untrained = loss_of(vocoder_module.build_generator(channels=16))
    trained = vocoder_module.train_vocoder(clips, steps=60, adversarial_steps=3, batch=4, segment=segment,
                                           channels=16, progress=False)
    assert loss_of(trained) < 0.8 * untrained

    path = vocoder_module.save_vocoder(trained, tmp_path / "v.safetensors", info={"steps": 60})
    assert path.read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not a pickle: a safetensors header
    loaded = vocoder_module.load_vocoder(path)
    audio = clips[1]
    a = vocoder_module.resynthesize_small(audio, trained)
    b = vocoder_module.resynthesize_small(audio, loaded)
    assert np.array_equal(a, b)
    assert a.shape == audio.shape and a.dtype == np.float32

    wide = vocoder_module.build_generator(channels=32)
    vocoder_module.save_vocoder(wide, tmp_path / "w.safetensors")
    (tmp_path / "w.json").write_text((tmp_path / "v.json").read_text())  # a card that does not fit
    with pytest.raises(RuntimeError, match="size mismatch"):
        vocoder_module.load_vocoder(tmp_path / "w.safetensors")


def test_copy_synthesis_keeps_the_inputs_timing(vocoder_module):
    """Silence then a tone: the resynthesis is loud where the input was (no frame offset)."""
    rng = np.random.default_rng(1)
    # training clips with pauses, as speech has: a vocoder learns that silence maps to silence
    clips = [np.concatenate([np.zeros(SR // 2, np.float32), _voiced(1.0, f0, rng)]) for f0 in (120, 180)]
    generator = vocoder_module.train_vocoder(clips, steps=200, batch=4, segment=4096, channels=16,
                                             progress=False)
    audio = np.concatenate([np.zeros(SR), _voiced(1.0, 150, rng)]).astype(np.float32)
    out = vocoder_module.resynthesize_small(audio, generator)
    envelope = np.abs(out).reshape(-1, 800).mean(1)  # 50 ms blocks
    onset = int(np.argmax(envelope > 0.5 * envelope.max()))
    assert abs(onset * 800 - SR) <= 1600
    assert envelope[:18].max() < 0.2 * envelope[22:].mean()


def test_no_clip_long_enough_is_a_clear_error(vocoder_module):
    with pytest.raises(ValueError, match="longer than one training segment"):
        vocoder_module.train_vocoder([np.zeros(100, np.float32)], steps=40, progress=False)
    with pytest.raises(ValueError, match="more than 20 spectral steps"):
        vocoder_module.train_vocoder([np.zeros(100_000, np.float32)], steps=1, progress=False)
