"""Word timestamps from an alignment matrix: dynamic time warping, then words from the path.

The method is openai-whisper's (`whisper/timing.py`): the cross-attention of
the model's alignment heads over the decoded tokens, normalised, median
filtered (the runner's `alignment_matrices`, one decoder pass for a whole
batch of chunks), then aligned to audio frames by dynamic time warping, per
chunk, here. The DTW and the punctuation merge are openai-whisper's own
functions when openai-whisper is installed; without it (an edge node: its
package imports torch) the numpy twins in `dtw.py` give the same results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_RATE, HOP_LENGTH = 16_000, 160  # Whisper's audio front end
TOKENS_PER_SECOND = SAMPLE_RATE / HOP_LENGTH / 2  # audio positions per second after the conv stride
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass
class WordTiming:
    """One word (with its leading space, as the tokenizer splits it) and its time in the chunk."""

    word: str
    tokens: list[int] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    probability: float = 1.0


def words_from_alignment(matrix: np.ndarray, tokenizer: Any, text_tokens: list[int]) -> list[WordTiming]:
    """Word timings (seconds from the chunk start) for `text_tokens`, from the runner's matrix."""
    text_indices, time_indices = _dtw()(np.ascontiguousarray(-np.asarray(matrix, np.float64)))
    return _words_from_path(tokenizer, list(text_tokens), text_indices, time_indices)


def _words_from_path(tokenizer: Any, text_tokens: list[int], text_indices: np.ndarray,
                     time_indices: np.ndarray) -> list[WordTiming]:
    words, word_tokens = tokenizer.split_to_word_tokens(text_tokens + [tokenizer.eot])
    if len(word_tokens) <= 1:
        return []
    # Row 0 of the DTW path is the no_timestamps token: as in openai-whisper, a word starts
    # where the path reaches the token that predicts the word's first token.
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / TOKENS_PER_SECOND
    starts = jump_times[boundaries[:-1]]
    ends = jump_times[boundaries[1:]]
    timings = [WordTiming(word, tokens, float(start), float(end), 1.0)
               for word, tokens, start, end in zip(words[:-1], word_tokens[:-1], starts, ends, strict=True)]
    _merge_punctuations()(timings, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
    timings = [t for t in timings if t.word]
    _shorten_words_at_pauses(timings)
    return timings


def _dtw():
    try:
        from whisper.timing import dtw_cpu  # numba-compiled, faster

        return dtw_cpu
    except ImportError:
        from liveinspect.models.whisper.dtw import dtw

        return dtw


def _merge_punctuations():
    try:
        from whisper.timing import merge_punctuations

        return merge_punctuations
    except ImportError:
        from liveinspect.models.whisper.dtw import merge_punctuations

        return merge_punctuations


SENTENCE_END = tuple(".。!！?？")


def _shorten_words_at_pauses(timings: list[WordTiming]) -> None:
    """DTW gives the silence before a sentence to its first word and the silence after to its
    last; cap such words at twice the median word length, as openai-whisper does."""
    durations = np.array([t.end - t.start for t in timings])
    durations = durations[durations > 0]
    if len(durations) == 0:
        return
    max_duration = 2 * min(0.7, float(np.median(durations)))
    for i, timing in enumerate(timings):
        if timing.end - timing.start <= max_duration:
            continue
        after_pause = i == 0 or timings[i - 1].word.strip().endswith(SENTENCE_END)
        if after_pause:
            timing.start = timing.end - max_duration
        elif timing.word.strip().endswith(SENTENCE_END):
            timing.end = timing.start + max_duration
