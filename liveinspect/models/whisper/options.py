"""Transcription options; the defaults are the anti-hallucination settings users converged on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # None: identify the language of every chunk on its own
    task: str = "transcribe"  # or "translate" (to English)
    beam_size: int | None = None  # None: greedy; beam search for the first (T=0) pass otherwise
    best_of: int = 5  # samples per chunk when a fallback temperature is used
    # Chunks whose output fails the thresholds below are decoded again at the next temperature;
    # only the failing chunks are re-run, and never beyond the last temperature.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float = 2.4  # gzip ratio above this means repeated text
    logprob_threshold: float = -1.0  # mean token log-probability below this means a poor decode
    no_speech_threshold: float = 0.6  # with a poor decode, this no-speech probability means silence
    word_timestamps: bool = True
    simplify_chinese: bool = True  # Mandarin output in Simplified characters
    drop_hallucinations: bool = True  # drop sentences made only of known hallucinated phrases
    batch_size: int | None = None  # None: chosen from free memory
    max_gap_s: float = 1.0  # a longer pause between words starts a new transcript segment
