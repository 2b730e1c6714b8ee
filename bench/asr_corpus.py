"""Long test recordings with a known transcript: real and synthetic speech, silences, music-like tones.

Used by `bench/asr.py` and the speech tests (which put `bench/` on their path). Real speech comes from files
(`jfk.flac` in the shared data); synthetic speech from the `espeak-ng`
command with known text. Between utterances go long silences (with faint
noise, as a real room has) and tone sequences that sound like simple music,
the two places where Whisper is known to invent text.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveinspect.errors import DataError

SAMPLE_RATE = 16_000

# Sentences a live-stream host might say; synthetic, so the text is known exactly.
SYNTHETIC_SENTENCES: tuple[str, ...] = (
    "Welcome back to the live room, everyone, today we have a special offer on the new blender.",
    "This cream is the best product in the whole country, and it removes wrinkles in three days.",
    "The original price was nine hundred and ninety nine, but in my live room it is only ninety nine.",
    "Only fifty sets are left, so please place your order before the timer runs out.",
    "Our factory has been making kitchen knives for thirty years, and every knife is tested by hand.",
    "If you are not satisfied, you can return the product within seven days without giving a reason.",
    "Please follow the account and share the live room with your friends and family.",
    "The battery lasts for two full days, and it charges completely in forty minutes.",
    "This tea comes from the mountains in the south, and the leaves are picked in early spring.",
    "Remember that the coupon expires at midnight, so use it while you still can.",
)


@dataclass
class Utterance:
    text: str
    start: float  # seconds in the recording where speech begins (energy onset)
    end: float
    source: str  # "real:<file>" or "espeak"


@dataclass
class Recording:
    audio: np.ndarray
    utterances: list[Utterance] = field(default_factory=list)
    # (start, end, "silence" or "music")
    non_speech: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.utterances)


def espeak(text: str, *, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """Synthesize `text` with espeak-ng, decoded to 16 kHz mono float32."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise DataError("espeak-ng is not installed (Debian package `espeak-ng`)")
    from liveinspect.media import load_audio

    with tempfile.TemporaryDirectory() as folder:
        wav = os.path.join(folder, "speech.wav")
        subprocess.run([binary, "-v", voice, "-s", str(speed), "-w", wav, text], check=True,
                       capture_output=True)
        return load_audio(wav)


def music_like(seconds: float, *, seed: int = 0) -> np.ndarray:
    """A melody of harmonic tones with note changes and a soft beat: non-speech that is not silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = np.zeros_like(t)
    note_s = 0.3
    for k in range(int(np.ceil(seconds / note_s))):
        freq = 220.0 * 2 ** (rng.integers(0, 24) / 12)
        span = (t >= k * note_s) & (t < (k + 1) * note_s)
        local = t[span] - k * note_s
        envelope = np.exp(-3.0 * local / note_s)
        out[span] = envelope * sum(np.sin(2 * np.pi * freq * h * local) / h for h in (1, 2, 3))
    beat = np.sin(2 * np.pi * 60 * t) * (np.mod(t, 0.6) < 0.05)
    return (0.15 * out / np.abs(out).max() + 0.05 * beat).astype(np.float32)


def room_noise(seconds: float, *, seed: int = 0, level: float = 0.002) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)) * level
    return noise.astype(np.float32)


def speech_bounds(audio: np.ndarray, *, frame_s: float = 0.02, floor: float = 0.02) -> tuple[float, float]:
    """First and last moment the clip's frame energy exceeds `floor` of its peak (the true onset/offset)."""
    frame = int(frame_s * SAMPLE_RATE)
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(rms > floor * rms.max())[0]
    return float(loud[0] * frame_s), float((loud[-1] + 1) * frame_s)


class RecordingBuilder:
    """Appends clips and gaps while keeping the ground truth in step."""

    def __init__(self, seed: int = 0) -> None:
        self.parts: list[np.ndarray] = []
        self.recording = Recording(np.zeros(0, np.float32))
        self.position = 0
        self.seed = seed

    def _append(self, audio: np.ndarray) -> float:
        start = self.position / SAMPLE_RATE
        self.parts.append(audio.astype(np.float32))
        self.position += len(audio)
        return start

    def speech(self, audio: np.ndarray, text: str, source: str,
               bounds: tuple[float, float] | None = None) -> None:
        onset, offset = bounds or speech_bounds(audio)
        start = self._append(audio + room_noise(len(audio) / SAMPLE_RATE, seed=self.position))
        self.recording.utterances.append(Utterance(text, start + onset, start + offset, source))

    def silence(self, seconds: float) -> None:
        start = self._append(room_noise(seconds, seed=self.position))
        self.recording.non_speech.append((start, start + seconds, "silence"))

    def music(self, seconds: float) -> None:
        tones = music_like(seconds, seed=self.position)
        start = self._append(tones + room_noise(seconds, seed=self.position))
        self.recording.non_speech.append((start, start + seconds, "music"))

    def build(self) -> Recording:
        self.recording.audio = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        return self.recording


JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
# Speech in jfk.flac spans 0.32-10.4 s by its energy envelope; the clip then ends in crowd
# noise loud enough to fool an energy threshold, so these bounds are measured once and kept.
JFK_BOUNDS = (0.32, 10.4)


def jfk_path() -> Path:
    """The real speech sample (from openai/whisper's tests): `$LIVEINSPECT_SHARED/data/speech/jfk.flac`,
    else `../shared/data/speech/jfk.flac` beside the repository, else the copy in `tests/data/`."""
    repo = Path(__file__).resolve().parents[1]
    root = os.environ.get("LIVEINSPECT_SHARED")
    candidates = [Path(root) / "data" / "speech"] if root else [repo.parent / "shared" / "data" / "speech"]
    candidates.append(repo / "tests" / "data")
    for folder in candidates:
        if (folder / "jfk.flac").is_file():
            return folder / "jfk.flac"
    raise DataError(f"real speech sample jfk.flac is in none of {', '.join(map(str, candidates))}; "
                    "set LIVEINSPECT_SHARED to the shared folder")


def long_recording(minutes: float = 10.0, *, jfk: str | Path | None = None, seed: int = 0) -> Recording:
    """About `minutes` of: real speech (jfk.flac), espeak sentences, 10-40 s silences and 5-20 s music."""
    from liveinspect.media import load_audio

    jfk = Path(jfk) if jfk else jfk_path()
    if not jfk.is_file():
        raise DataError(f"real speech sample missing: {jfk}")
    jfk_audio = load_audio(jfk)
    rng = np.random.default_rng(seed)
    builder = RecordingBuilder(seed)
    target = minutes * 60
    builder.silence(3.0)
    i = 0
    while builder.position / SAMPLE_RATE < target:
        if i % 4 == 0:
            builder.speech(jfk_audio, JFK_TEXT, f"real:{jfk.name}", JFK_BOUNDS)
        else:
            text = SYNTHETIC_SENTENCES[i % len(SYNTHETIC_SENTENCES)]
            builder.speech(espeak(text), text, "espeak")
        i += 1
        gap = rng.uniform(0.6, 2.0) if i % 3 else 0.0
        if gap:
            builder.silence(gap)  # short pauses, as between sentences
        if i % 3 == 0:
            builder.silence(float(rng.uniform(10, 40)))
        if i % 5 == 0:
            builder.music(float(rng.uniform(5, 20)))
            builder.silence(1.0)
    return builder.build()
