"""Voice activity: silero-vad's ONNX model through onnxruntime, and speech chunks for Whisper.

Speech regions are found with silero-vad, padded, and packed into chunks of
at most 30 s (Whisper's window), as WhisperX does. Long silences between
regions are left out of the chunk — Whisper invents text on silence and
music — and each chunk keeps a piecewise map from its own time axis back to
broadcast time, so word timestamps land where the words were spoken.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from liveinspect.models.silero import silero_model_path
from liveinspect.pipelines.registry import register_product

SAMPLE_RATE = 16_000
FRAME = 512  # silero-vad's window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the v5+ model expects in front of each window
MAX_CHUNK_S = 30.0


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # speech starts at this probability
    neg_threshold: float = 0.35  # ...and ends below this one (hysteresis, as silero does)
    min_speech_s: float = 0.25  # shorter blips are dropped
    min_silence_s: float = 0.1  # shorter dips do not end a region
    pad_s: float = 0.2  # context kept on both sides so word edges are not clipped
    merge_gap_s: float = 1.0  # regions closer than this become one contiguous piece
    max_chunk_s: float = MAX_CHUNK_S
    lane_s: float = 30.0  # long audio runs as parallel lanes of this length (batched ONNX calls)
    warmup_s: float = 1.0  # each lane starts this early and discards it, so state is warm


@lru_cache(maxsize=1)
def _session():
    import onnxruntime

    from liveinspect.backends.base import BackendOptions
    from liveinspect.backends.onnx import session_options

    # The backends' settings (threads that sleep when idle, one inter-op thread), on at most 4 cores.
    options = session_options(BackendOptions(kind="onnx", threads=max(1, min(4, os.cpu_count() or 1))))
    return onnxruntime.InferenceSession(str(silero_model_path()), sess_options=options,
                                        providers=["CPUExecutionProvider"])


def speech_probabilities(audio: np.ndarray, options: VadOptions = VadOptions()) -> np.ndarray:
    """Speech probability per 32 ms window of 16 kHz mono audio."""
    audio = np.asarray(audio, dtype=np.float32).ravel()
    n_frames = -(-len(audio) // FRAME)
    if n_frames == 0:
        return np.zeros(0, np.float32)
    lane_frames = max(1, int(options.lane_s * SAMPLE_RATE) // FRAME)
    warm = int(options.warmup_s * SAMPLE_RATE) // FRAME
    n_lanes = -(-n_frames // lane_frames)
    padded = np.zeros((n_lanes * lane_frames + warm) * FRAME, np.float32)
    padded[warm * FRAME: warm * FRAME + len(audio)] = audio
    # Lane i covers frames [i*L - warm, (i+1)*L) of the audio; the first lane's warm-up is silence.
    steps = lane_frames + warm
    lanes = np.stack([padded[i * lane_frames * FRAME: (i * lane_frames + steps) * FRAME]
                      for i in range(n_lanes)]).reshape(n_lanes, steps, FRAME)
    session = _session()
    state = np.zeros((2, n_lanes, 128), np.float32)
    context = np.zeros((n_lanes, CONTEXT), np.float32)
    sr = np.array(SAMPLE_RATE, dtype=np.int64)
    probs = np.empty((n_lanes, steps), np.float32)
    for step in range(steps):
        window = np.concatenate([context, lanes[:, step]], axis=1)
        out, state = session.run(None, {"input": window, "state": state, "sr": sr})
        probs[:, step] = out[:, 0]
        context = window[:, -CONTEXT:]
    return probs[:, warm:].reshape(-1)[:n_frames]


def speech_regions(audio: np.ndarray, options: VadOptions = VadOptions(),
                   probs: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Padded, merged speech regions as (start, end) sample indices."""
    probs = speech_probabilities(audio, options) if probs is None else probs
    min_silence = int(options.min_silence_s * SAMPLE_RATE / FRAME + 0.5)
    raw: list[list[int]] = []
    start, silent_since = None, None
    for i, p in enumerate(probs):
        if start is None:
            if p >= options.threshold:
                start, silent_since = i, None
        elif p < options.neg_threshold:
            silent_since = i if silent_since is None else silent_since
            if i - silent_since + 1 >= min_silence:
                raw.append([start, silent_since])
                start, silent_since = None, None
        else:
            silent_since = None
    if start is not None:
        raw.append([start, len(probs)])
    pad = int(options.pad_s * SAMPLE_RATE)
    min_len = int(options.min_speech_s * SAMPLE_RATE)
    merge_gap = int(options.merge_gap_s * SAMPLE_RATE)
    regions: list[tuple[int, int]] = []
    for a, b in raw:
        s, e = a * FRAME, b * FRAME
        if e - s < min_len:
            continue
        s, e = max(0, s - pad), min(len(audio), e + pad)
        if regions and s - regions[-1][1] < merge_gap:
            regions[-1] = (regions[-1][0], max(e, regions[-1][1]))
        else:
            regions.append((s, e))
    return regions


def _split_long(region: tuple[int, int], probs: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """Cut a region longer than a chunk at its quietest frame in the second half of the window."""
    pieces = []
    start, end = region
    while end - start > max_len:
        lo, hi = (start + max_len // 2) // FRAME, (start + max_len) // FRAME
        window = probs[lo:hi]
        cut = (lo + int(np.argmin(window))) * FRAME if len(window) else start + max_len
        cut = min(max(cut, start + FRAME), start + max_len)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


@dataclass(frozen=True)
class Piece:
    """`length` samples at `chunk_start` in the chunk came from `source_start` in the source audio."""

    chunk_start: int
    source_start: int
    length: int


@dataclass
class SpeechChunk:
    """At most 30 s of speech for one Whisper window, with its map back to broadcast time."""

    audio: np.ndarray
    pieces: list[Piece]
    offset_s: float = 0.0  # broadcast time of sample 0 of the source audio
    stream_id: str = "0"
    segment_index: int = 0
    # Speech probability per 32 ms frame of the chunk's own audio (empty when unknown).
    voice_probs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def t_start(self) -> float:
        return self.offset_s + self.pieces[0].source_start / SAMPLE_RATE

    @property
    def t_end(self) -> float:
        last = self.pieces[-1]
        return self.offset_s + (last.source_start + last.length) / SAMPLE_RATE

    def voice(self, t0: float, t1: float) -> float | None:
        """Mean speech probability between chunk times t0 and t1, or None when unknown."""
        lo, hi = int(t0 * SAMPLE_RATE) // FRAME, -(-int(t1 * SAMPLE_RATE) // FRAME)
        window = self.voice_probs[lo:max(hi, lo + 1)]
        return float(window.mean()) if len(window) else None

    def trim_to_voice(self, t0: float, t1: float, threshold: float = 0.5) -> tuple[float, float]:
        """Shrink [t0, t1] (chunk time) to the frames voice activity calls speech.

        Cross-attention alignment hands the pause before a sentence to its first word;
        the VAD knows where the voice starts. Spans without a voiced frame stay as they are.
        """
        lo, hi = int(t0 * SAMPLE_RATE) // FRAME, -(-int(t1 * SAMPLE_RATE) // FRAME)
        voiced = np.nonzero(self.voice_probs[lo:hi] >= threshold)[0]
        if len(voiced) == 0:
            return t0, t1
        start = max(t0, float(lo + voiced[0]) * FRAME / SAMPLE_RATE)
        end = min(t1, float(lo + voiced[-1] + 1) * FRAME / SAMPLE_RATE)
        return (start, end) if end > start else (t0, t1)

    def piece_index(self, t: float) -> int:
        sample = t * SAMPLE_RATE
        index = 0
        for i, piece in enumerate(self.pieces):
            if sample >= piece.chunk_start:
                index = i
        return index

    def to_broadcast(self, t: float, piece: int | None = None) -> float:
        """Broadcast time of chunk time `t`, clamped into its piece (the leftout silences do not exist)."""
        p = self.pieces[self.piece_index(t) if piece is None else piece]
        inside = min(max(t * SAMPLE_RATE - p.chunk_start, 0), p.length)
        return self.offset_s + (p.source_start + inside) / SAMPLE_RATE


@dataclass(frozen=True)
class VoiceActivity:
    """A segment's voice activity: speech probability per 32 ms window and the padded, merged
    speech regions as (start, end) samples. Computed once per segment (the `speech_regions`
    product) and read by every analyzer that listens: speech, synthetic voice."""

    probabilities: np.ndarray
    regions: list[tuple[int, int]]

    @classmethod
    def of(cls, audio: np.ndarray, options: VadOptions = VadOptions()) -> "VoiceActivity":
        audio = np.asarray(audio, dtype=np.float32).ravel()
        probs = speech_probabilities(audio, options)
        return cls(probs, speech_regions(audio, options, probs))


@register_product("speech_regions", options=VadOptions)
def segment_voice_activity(segment, options: VadOptions) -> VoiceActivity:
    return VoiceActivity.of(segment.audio, options)


def speech_chunks(audio: np.ndarray, *, offset_s: float = 0.0, stream_id: str = "0",
                  segment_index: int = 0, options: VadOptions = VadOptions(),
                  activity: VoiceActivity | None = None) -> list[SpeechChunk]:
    """Cut speech out of `audio` and pack it, in order, into chunks of at most `max_chunk_s`.

    `activity` is the audio's voice activity when it was already computed (the shared product)."""
    audio = np.asarray(audio, dtype=np.float32).ravel()
    activity = activity or VoiceActivity.of(audio, options)
    probs = activity.probabilities
    max_len = int(options.max_chunk_s * SAMPLE_RATE)
    regions = [part for region in activity.regions for part in _split_long(region, probs, max_len)]
    chunks: list[SpeechChunk] = []
    current: list[tuple[int, int]] = []

    def flush() -> None:
        if not current:
            return
        pieces, parts, position = [], [], 0
        for s, e in current:
            pieces.append(Piece(position, s, e - s))
            parts.append(audio[s:e])
            position += e - s
        # Source frame under each frame of the chunk, to look up voice activity in chunk time.
        frame_starts = np.arange(0, position, FRAME)
        owner = np.searchsorted([p.chunk_start for p in pieces], frame_starts, side="right") - 1
        source = np.array([pieces[i].source_start for i in owner]) + frame_starts - \
            np.array([pieces[i].chunk_start for i in owner])
        voice = probs[np.minimum(source // FRAME, len(probs) - 1)]
        chunks.append(SpeechChunk(np.concatenate(parts), pieces, offset_s, stream_id, segment_index,
                                  voice.astype(np.float32)))
        current.clear()

    for s, e in regions:
        if current and sum(b - a for a, b in current) + (e - s) > max_len:
            flush()
        current.append((s, e))
    flush()
    return chunks
