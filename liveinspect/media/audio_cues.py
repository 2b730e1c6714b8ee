"""The rhythm cue that labels synthetic audio: a tone keyed in Morse short-long-short-short (· − · ·).

GB 45438-2025 lets audio carry its explicit label as a sound instead of a
spoken prompt. The cue is a pure tone, so it is found without a model: frames
(10 ms hop) where one narrow spectral peak holds most of the energy are "tone
on"; runs of tone-on frames at one pitch are marks; four marks whose lengths go
1:3:1:1 with gaps of about one unit, and quiet on both sides, are the cue.
Speech has its energy spread over many harmonics, so its frames are not tonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
_WINDOW = 512  # 32 ms: fine enough in frequency to tell one sinusoid from a harmonic stack
_HOP = 160  # 10 ms


@dataclass(frozen=True)
class MorseCueOptions:
    tonality: float = 0.6  # share of a frame's energy within +-1 bin of its peak (a pure tone ~0.9)
    min_level_db: float = -50.0  # frames quieter than this (dBFS) are never tone
    pitch_tolerance_hz: float = 60.0  # the marks of one cue share a pitch
    min_unit_s: float = 0.04  # a dot shorter than this is a click, not keying
    max_unit_s: float = 0.5
    dash_ratio: tuple[float, float] = (2.0, 4.5)  # dash / dot (3 in International Morse)
    dot_spread: float = 1.8  # the three dots differ by at most this factor
    max_gap_units: float = 2.5  # gaps inside the cue (1 unit nominally)
    quiet_units: float = 2.0  # no mark at this pitch this close before or after (else it is a longer code)


@dataclass(frozen=True)
class MorseCue:
    t_start: float
    t_end: float
    frequency_hz: float
    unit_s: float
    score: float  # 1 for exact 1:3:1:1 timing, falling with the timing error

    @property
    def pattern(self) -> str:
        return "·−··"


@dataclass(frozen=True)
class _Mark:
    start: int  # frames
    end: int
    pitch: float


def tone_frames(audio: np.ndarray, options: MorseCueOptions = MorseCueOptions(),
                sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Per 10 ms frame: whether it is a pure tone, and the tone's frequency (Hz)."""
    audio = np.asarray(audio, dtype=np.float32).ravel()
    hop = round(_HOP * sample_rate / SAMPLE_RATE)
    window = round(_WINDOW * sample_rate / SAMPLE_RATE)
    if len(audio) < window:
        return np.zeros(0, bool), np.zeros(0, np.float32)
    n = 1 + (len(audio) - window) // hop
    frames = np.lib.stride_tricks.as_strided(
        audio, shape=(n, window), strides=(audio.strides[0] * hop, audio.strides[0]), writeable=False)
    power = np.abs(np.fft.rfft(frames * np.hanning(window).astype(np.float32), axis=1)) ** 2
    total = power.sum(axis=1) + 1e-12
    peak = np.argmax(power[:, 1:], axis=1) + 1  # ignore DC
    rows = np.arange(n)
    near = power[rows, peak] + power[rows, np.maximum(peak - 1, 0)] + \
        power[rows, np.minimum(peak + 1, power.shape[1] - 1)]
    level_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    tonal = (near / total >= options.tonality) & (level_db >= options.min_level_db)
    return tonal, (peak * sample_rate / window).astype(np.float32)


def _marks(tonal: np.ndarray, pitch: np.ndarray, tolerance: float) -> list[_Mark]:
    marks: list[_Mark] = []
    start = None
    for i in range(len(tonal) + 1):
        on = i < len(tonal) and bool(tonal[i])
        if on and start is not None and abs(pitch[i] - pitch[start]) > tolerance:
            marks.append(_Mark(start, i, float(np.median(pitch[start:i]))))
            start = i
        elif on and start is None:
            start = i
        elif not on and start is not None:
            marks.append(_Mark(start, i, float(np.median(pitch[start:i]))))
            start = None
    return marks


def find_morse_cues(audio: np.ndarray, *, offset_s: float = 0.0,
                    options: MorseCueOptions = MorseCueOptions(),
                    sample_rate: int = SAMPLE_RATE) -> list[MorseCue]:
    """Every · − · · cue in `audio` (mono float32), with broadcast times from `offset_s`."""
    tonal, pitch = tone_frames(audio, options, sample_rate)
    frame_s = _HOP / SAMPLE_RATE
    # One or two frames of dropout inside a mark (noise, a codec) do not split it.
    filled = tonal.copy()
    for i in range(1, len(tonal) - 2):
        if not tonal[i] and tonal[i - 1] and (tonal[i + 1] or tonal[i + 2]):
            filled[i] = True
    marks = [m for m in _marks(filled, pitch, options.pitch_tolerance_hz)
             if (m.end - m.start) * frame_s >= options.min_unit_s * 0.6]
    cues: list[MorseCue] = []
    i = 0
    while i + 4 <= len(marks):
        cue = _match(marks, i, frame_s, options)
        if cue is None:
            i += 1
            continue
        cues.append(MorseCue(t_start=round(offset_s + cue[0], 3), t_end=round(offset_s + cue[1], 3),
                             frequency_hz=round(cue[2], 1), unit_s=round(cue[3], 3), score=cue[4]))
        i += 4
    return cues


def _match(marks: list[_Mark], i: int, frame_s: float,
           options: MorseCueOptions) -> tuple[float, float, float, float, float] | None:
    group = marks[i:i + 4]
    pitches = [m.pitch for m in group]
    if max(pitches) - min(pitches) > options.pitch_tolerance_hz:
        return None
    # A frame is tonal while any of its 32 ms window holds the tone, so marks run one frame long.
    lengths = np.array([(m.end - m.start - 1) * frame_s for m in group])
    dots = lengths[[0, 2, 3]]
    unit = float(np.mean(dots))
    if not (options.min_unit_s <= unit <= options.max_unit_s):
        return None
    if dots.max() / max(dots.min(), 1e-6) > options.dot_spread:
        return None
    ratio = lengths[1] / unit
    if not (options.dash_ratio[0] <= ratio <= options.dash_ratio[1]):
        return None
    gaps = np.array([(group[k + 1].start - group[k].end + 1) * frame_s for k in range(3)])
    if gaps.max() > options.max_gap_units * unit:
        return None
    quiet = options.quiet_units * unit
    pitch = float(np.median(pitches))

    def same_pitch_near(mark: _Mark | None, gap: float) -> bool:
        return mark is not None and abs(mark.pitch - pitch) <= options.pitch_tolerance_hz and gap < quiet

    before = marks[i - 1] if i > 0 else None
    after = marks[i + 4] if i + 4 < len(marks) else None
    if same_pitch_near(before, (group[0].start - before.end) * frame_s if before else 0.0) or \
            same_pitch_near(after, (after.start - group[3].end) * frame_s if after else 0.0):
        return None
    # Timing error against 1:3:1:1 with unit gaps, as a share of the unit.
    error = (abs(ratio - 3.0) / 3.0 + float(np.mean(np.abs(gaps - unit))) / unit) / 2
    score = float(np.clip(1.0 - error, 0.0, 1.0))
    start = group[0].start * frame_s + (_WINDOW - _HOP) / SAMPLE_RATE
    end = group[3].end * frame_s
    return start, end, pitch, unit, round(score, 3)


def morse_tone(pattern: str = ".-..", *, unit_s: float = 0.1, frequency_hz: float = 1000.0,
               amplitude: float = 0.3, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A keyed tone for `pattern` ('.' one unit, '-' three, one unit gaps), with 5 ms ramps against
    clicks: the cue a generator appends, and what the detector's tests play."""
    unit = round(unit_s * sample_rate)
    ramp = min(round(0.005 * sample_rate), unit // 4)
    pieces = []
    for k, symbol in enumerate(pattern):
        n = unit * (3 if symbol == "-" else 1)
        t = np.arange(n) / sample_rate
        tone = amplitude * np.sin(2 * np.pi * frequency_hz * t)
        envelope = np.ones(n)
        if ramp:
            envelope[:ramp] = np.linspace(0, 1, ramp)
            envelope[-ramp:] = np.linspace(1, 0, ramp)
        pieces.append(tone * envelope)
        if k < len(pattern) - 1:
            pieces.append(np.zeros(unit))
    return np.concatenate(pieces).astype(np.float32)
