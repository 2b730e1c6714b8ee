"""Whisper's log-mel front end in numpy, for runtimes without torch.

The same computation as openai-whisper's `log_mel_spectrogram` on a chunk
padded (or cut) to 30 s: a 400-point periodic Hann window every 160
samples, frames centred on their sample (the signal reflected by 200
samples at both ends), the power spectrum of every frame but the last,
the mel filter bank (the model's own, exported beside it), log10 clamped
at 1e-10, a floor 8 decades below the chunk's peak, then `(x + 4) / 4`.
The FFT runs in float64 and the result is float32; the encoder's output
matches the torch front end's to ~1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError

SAMPLE_RATE = 16_000
N_FFT = 400
HOP_LENGTH = 160
N_SAMPLES = 30 * SAMPLE_RATE  # one chunk: 30 s
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames per chunk

_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT))  # periodic Hann, float64


def load_mel_filters(path: str | Path) -> np.ndarray:
    """The (n_mels, 201) filter bank saved by the exporter (a plain .npy: nothing is unpickled)."""
    path = Path(path)
    try:
        filters = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable mel filter bank ({error})") from error
    if filters.ndim != 2 or filters.shape[1] != N_FFT // 2 + 1:
        raise CheckpointError(f"{path}: mel filters must have shape (n_mels, {N_FFT // 2 + 1}), "
                              f"got {filters.shape}")
    return filters.astype(np.float32)


def pad_or_trim(audio: np.ndarray, length: int = N_SAMPLES) -> np.ndarray:
    audio = np.asarray(audio, np.float32).reshape(-1)
    if len(audio) >= length:
        return audio[:length]
    return np.pad(audio, (0, length - len(audio)))


def log_mel_spectrogram(audio: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """(n_mels, 3000) float32 log-mel of one chunk, padded or cut to 30 s first."""
    samples = pad_or_trim(audio).astype(np.float64)
    padded = np.pad(samples, (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:N_FRAMES]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=-1)  # (3000, 201)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    mel = filters.astype(np.float64) @ power.T  # (n_mels, 3000)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def log_mel_batch(audios: Sequence[np.ndarray], filters: np.ndarray) -> np.ndarray:
    """(chunks, n_mels, 3000) float32 for chunks of at most 30 s."""
    return np.stack([log_mel_spectrogram(audio, filters) for audio in audios])
