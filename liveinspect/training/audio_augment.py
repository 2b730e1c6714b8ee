"""Augmentations a live stream inflicts on a voice, for training detectors that survive them.

Each is a function (audio, rng) -> audio at 16 kHz: lossy codecs at 16-64
kbps, band-limiting (8-12 kHz links), the telephone band (300-3400 Hz, G.711
mu-law), background music, crowd babble and noise, room reverberation
(synthetic, or measured impulse responses when given), loudness. None of them
makes real speech sound generated, and all are applied to both classes alike.
`trim_silence` cuts pauses by voice activity, so a model cannot key on how a
generator pauses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from liveinspect.media.transcode import bandlimit, reencode

SR = 16_000
Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def trim_silence(audio: np.ndarray) -> np.ndarray:
    """Only the voiced regions, joined (all of `audio` when voice activity finds none)."""
    from liveinspect.pipelines.vad import VadOptions, speech_regions

    regions = speech_regions(audio, VadOptions(pad_s=0.05, merge_gap_s=0.0))
    if not regions:
        return audio
    return np.concatenate([audio[a:b] for a, b in regions]).astype(np.float32)


def _mix(audio: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
    other = np.resize(other, len(audio)).astype(np.float32)
    power = float(np.mean(audio ** 2)) + 1e-10
    noise_power = float(np.mean(other ** 2)) + 1e-10
    return (audio + other * np.sqrt(power / (noise_power * 10 ** (snr_db / 10)))).astype(np.float32)


def codec(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    name = rng.choice(["mp3", "aac", "opus"])
    return reencode(audio, str(name), int(rng.choice([16, 24, 32, 48, 64])))


def narrow_band(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return bandlimit(audio, int(rng.choice([8000, 11025, 12000])))


def music(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Chords of harmonic tones that change every half second or so, 5-20 dB under the voice."""
    t = np.arange(len(audio)) / SR
    bed = np.zeros(len(audio), np.float32)
    step = int(SR * rng.uniform(0.3, 0.8))
    for start in range(0, len(audio), step):
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        seg = slice(start, start + step)
        for ratio in (1.0, 1.26, 1.5):
            for harmonic in (1, 2, 3):
                bed[seg] += np.sin(2 * np.pi * root * ratio * harmonic * t[seg]) / harmonic
    return _mix(audio, bed, rng.uniform(5, 20))


def noise(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(len(audio)).astype(np.float32)
    pink = np.cumsum(white) * 0.02
    pink -= np.convolve(pink, np.ones(801) / 801, mode="same")  # remove the random-walk drift
    return _mix(audio, pink if rng.random() < 0.5 else white, rng.uniform(10, 30))


def babble(pool: Sequence[np.ndarray]) -> Augment:
    """Crowd noise: several clips from `pool` summed, 10-20 dB under the voice."""
    def apply(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not pool:
            return audio
        picks = [pool[int(i)] for i in rng.integers(0, len(pool), size=3)]
        crowd = sum(np.resize(np.roll(p, int(rng.integers(0, len(p)))), len(audio)) for p in picks)
        return _mix(audio, crowd, rng.uniform(10, 20))
    return apply


def reverb(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: exponentially decaying noise, RT60 0.2-0.8 s, convolved by FFT."""
    rt60 = rng.uniform(0.2, 0.8)
    n = int(rt60 * SR)
    impulse = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    impulse[0] = 1.0
    size = 1 << int(np.ceil(np.log2(len(audio) + n)))
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(impulse, size), size)[: len(audio)]
    wet *= (np.std(audio) + 1e-8) / (np.std(wet) + 1e-8)
    return wet.astype(np.float32)


def phone_band(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A telephone link: 300-3400 Hz (edges drawn a little apart), 8 kHz, 8-bit mu-law, back to 16 kHz."""
    low, high = rng.uniform(200, 400), rng.uniform(3000, 3600)
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    # Raised-cosine edges 100 Hz wide rather than a brick wall, which would ring.
    gain = np.clip((freqs - low + 50) / 100, 0, 1) * np.clip((high + 50 - freqs) / 100, 0, 1)
    narrow = np.fft.irfft(spectrum * np.sin(gain * np.pi / 2) ** 2, len(audio))
    peak = float(np.max(np.abs(narrow))) + 1e-8
    x = narrow / peak
    mu = 255.0
    companded = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127) / 127
    expanded = np.sign(companded) * np.expm1(np.abs(companded) * np.log1p(mu)) / mu
    return bandlimit((expanded * peak).astype(np.float32), 8000)


def room(impulses: Sequence[np.ndarray]) -> Augment:
    """Reverberation by a measured room impulse response from `impulses` (16 kHz), wet/dry mixed."""
    def apply(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not impulses:
            return reverb(audio, rng)
        impulse = np.asarray(impulses[int(rng.integers(0, len(impulses)))], np.float64)
        impulse = impulse[: int(1.0 * SR)]  # a second of tail is plenty for a 4 s window
        size = 1 << int(np.ceil(np.log2(len(audio) + len(impulse))))
        onset = int(np.argmax(np.abs(impulse)))  # keep the direct sound where the dry voice is
        wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(impulse, size), size)
        wet = wet[onset:onset + len(audio)]
        wet *= (np.std(audio) + 1e-8) / (np.std(wet) + 1e-8)
        dry = rng.uniform(0.0, 0.5)
        return (dry * audio + (1 - dry) * wet).astype(np.float32)
    return apply


def loudness(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(audio * 10 ** (rng.uniform(-20, 6) / 20), -1, 1).astype(np.float32)


def low_bitrate_codec(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One codec at 16-32 kbps and nothing else: a clean voice as a low-bitrate stream carries it."""
    name = rng.choice(["mp3", "aac", "opus"])
    return reencode(audio, str(name), int(rng.choice([16, 24, 32])))


def random_chain(pool: Sequence[np.ndarray] = (), rooms: Sequence[np.ndarray] = (),
                 codec_alone: float = 0.0) -> Augment:
    """One or two augmentations in random order, a codec in half the draws (streams re-encode).
    `pool`: real speech for babble; `rooms`: measured impulse responses (else synthetic rooms only);
    `codec_alone`: the share of draws that are `low_bitrate_codec` on the clean clip instead (stacked on
    other augmentations only, a given codec at 32 kbps on an otherwise clean voice is never seen, and
    that is what a real presenter streamed at low bitrate sounds like)."""
    if not 0.0 <= codec_alone <= 1.0:
        raise ValueError(f"codec_alone is a share in [0, 1], not {codec_alone}")
    others: list[Augment] = [narrow_band, phone_band, music, noise, babble(pool), reverb, loudness]
    if rooms:
        others.append(room(rooms))

    def apply(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Drawn only when enabled, so the chain's draws without it stay those of earlier heads.
        if codec_alone > 0 and rng.random() < codec_alone:
            return low_bitrate_codec(audio, rng)
        picks = rng.choice(len(others), size=int(rng.integers(1, 3)), replace=False)
        chosen = [others[int(i)] for i in picks]
        for step in chosen:
            audio = step(audio, rng)
        if rng.random() < 0.5:
            audio = codec(audio, rng)
        return audio

    return apply
