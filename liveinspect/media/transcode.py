"""Audio through a lossy codec and back, in memory: what a live stream's re-encoding does to a voice.

Used to evaluate detectors after MP3/AAC/Opus re-encoding and to augment
their training data; FFmpeg does the encoding (through PyAV), so the
artefacts are the real codecs'.
"""

from __future__ import annotations

import io

import av
import numpy as np

from liveinspect.errors import MediaError

SAMPLE_RATE = 16_000

# codec name -> (container, encoder, encoder sample rate): Opus only runs at 48 kHz here.
CODECS = {
    "mp3": ("mp3", "libmp3lame", 16_000),
    "aac": ("adts", "aac", 16_000),
    "opus": ("ogg", "libopus", 48_000),
}


def _resample(frames, rate: int, layout: str = "mono", fmt: str = "fltp"):
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
    out = []
    for frame in [*frames, None]:
        out.extend(resampler.resample(frame))
    return out


def reencode(audio: np.ndarray, codec: str, bitrate_kbps: int, *,
             sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """`audio` (mono float32) encoded with `codec` ('mp3', 'aac', 'opus') at `bitrate_kbps` and decoded
    back to mono float32 at `sample_rate`, the same length (codec delay trimmed, tail padded)."""
    if codec not in CODECS:
        raise MediaError(f"unknown codec {codec!r}; known: {', '.join(CODECS)}")
    container_format, encoder, rate = CODECS[codec]
    audio = np.asarray(audio, dtype=np.float32).ravel()
    source = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
    source.sample_rate = sample_rate
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as out:
        stream = out.add_stream(encoder, rate=rate, layout="mono")
        stream.bit_rate = bitrate_kbps * 1000
        frame_size = stream.codec_context.frame_size or 1152
        resampled = _resample([source], rate)
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in resampled]) if resampled else \
            np.zeros(0, np.float32)
        pts = 0
        for start in range(0, len(samples), frame_size):
            chunk = samples[start:start + frame_size]
            if len(chunk) < frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1).astype(np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = rate, pts
            pts += frame_size
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer, "r") as decoded:
        frames = list(decoded.decode(audio=0))
    back = _resample(frames, sample_rate, fmt="flt")
    result = np.concatenate([f.to_ndarray().reshape(-1) for f in back]) if back else np.zeros(0, np.float32)
    # Encoders add a priming delay; align by cross-correlation over the first 100 ms of lag.
    lag_max = min(len(result) - 1, sample_rate // 10)
    probe = audio[: sample_rate * 2]
    if lag_max > 0 and len(probe) and np.any(probe):
        scores = [float(np.dot(result[lag:lag + len(probe)][: len(probe)], probe[: len(result) - lag]))
                  for lag in range(0, lag_max, 8)]
        lag = int(np.argmax(scores)) * 8
        result = result[lag:]
    if len(result) < len(audio):
        result = np.pad(result, (0, len(audio) - len(result)))
    return result[: len(audio)].astype(np.float32)


def bandlimit(audio: np.ndarray, rate: int, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Down to `rate` and back up: the loss of a narrow-band (8 kHz) or resampled link."""
    frame = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32).reshape(1, -1), format="flt",
                                       layout="mono")
    frame.sample_rate = sample_rate
    down = _resample([frame], rate, fmt="flt")
    for f in down:
        f.sample_rate = rate
    up = _resample(down, sample_rate, fmt="flt")
    result = np.concatenate([f.to_ndarray().reshape(-1) for f in up]) if up else np.zeros(0, np.float32)
    if len(result) < len(audio):
        result = np.pad(result, (0, len(audio) - len(result)))
    return result[: len(audio)].astype(np.float32)
