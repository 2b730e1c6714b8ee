"""Model inputs of the small media classifiers, in numpy: 64x64 RGB images and 40-band log-mels.

Training and inference read the same arrays, so a model sees at run time
exactly what it learnt from.
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 64
SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40


def image_array(image) -> np.ndarray:
    """A PIL image (or path) -> (3, 64, 64) float32 in [0, 1]."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.open(image)
    array = np.asarray(image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
    return array.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters on the HTK mel scale, (n_mels, n_fft // 2 + 1) float32."""
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(to_mel(np.array(0.0)), to_mel(np.array(sample_rate / 2)), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (center - lower)
    falling = (upper - bins) / (upper - center)
    return np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)


def power_spectrogram(samples: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT|^2, (n_fft // 2 + 1, 1 + len // hop): a periodic Hann window over frames centred on
    every hop (the signal reflected at both ends), as `torch.stft(center=True)` computes it."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(np.asarray(samples, np.float64), n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return (np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2).T


def log_mel(samples: np.ndarray, seconds: float) -> np.ndarray:
    """16 kHz mono samples -> (1, 40, frames) float32 log-mel, cropped or zero-padded to `seconds`."""
    length = int(seconds * SAMPLE_RATE)
    clip = np.zeros(length, dtype=np.float32)
    clip[:min(length, len(samples))] = samples[:length]
    mel = mel_filterbank().astype(np.float64) @ power_spectrogram(clip)
    return np.log(mel + 1e-6).astype(np.float32)[None]
