"""Decoding uploaded audio for /v1/audio, and WAV clips for evidence."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from liveinspect.errors import MediaError
from liveinspect.media.segment import SAMPLE_RATE


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def load_short_audio(path: Path, max_seconds: float) -> np.ndarray:
    """Mono 16 kHz samples of a file that must not be longer than `max_seconds`.

    The header's duration is checked first, and decoding stops just past the
    limit whatever the header says, so a file that lies about its length
    (or expands enormously) cannot make the request run long.
    """
    from liveinspect.media import load_audio, probe

    info = probe(path)
    if info.duration and info.duration > max_seconds + 0.5:
        raise MediaError(
            f"audio is {info.duration:.1f} s long; this endpoint takes at most "
            f"{max_seconds:.0f} s (submit longer recordings as a job)",
            source=path.name,
        )
    samples = load_audio(path, duration=max_seconds + 1.0)
    if len(samples) > (max_seconds + 0.5) * SAMPLE_RATE:
        raise MediaError(
            f"audio is longer than {max_seconds:.0f} s; submit longer recordings as a job", source=path.name
        )
    if len(samples) == 0:
        raise MediaError("no audio samples could be decoded", source=path.name)
    return samples
