"""Word-timing helpers in plain numpy: DTW, the median filter and the punctuation merge.

openai-whisper's versions live in `whisper.timing`, whose package imports
torch (and numba for the DTW); an edge node has neither. These compute the
same results: `dtw` gives the same path as `whisper.timing.dtw_cpu` (same
float32 cost table, same tie-breaking), checked on random matrices by the
tests. The cost table is filled one anti-diagonal at a time: every cell of
a diagonal depends only on the two diagonals before it, so each diagonal is
one vectorised step and a 100 x 1500 table takes ~1,600 small numpy steps
instead of 150,000 Python ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through the cost matrix `x` (N, M): (row indices, column indices)."""
    x = np.asarray(x, np.float64)
    n, m = x.shape
    width = m + 1
    cost = np.full((n + 1) * width, np.inf, np.float32)
    trace = np.full((n + 1) * width, -1, np.int8)
    cost[0] = 0.0
    flat_x = x.reshape(-1)
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        here = i * width + j
        c0 = cost[here - width - 1]  # (i-1, j-1)
        c1 = cost[here - width]  # (i-1, j)
        c2 = cost[here - 1]  # (i, j-1)
        take0 = (c0 < c1) & (c0 < c2)
        take1 = ~take0 & (c1 < c0) & (c1 < c2)
        best = np.where(take0, c0, np.where(take1, c1, c2))
        cost[here] = (flat_x[(i - 1) * m + (j - 1)] + best.astype(np.float64)).astype(np.float32)
        trace[here] = np.where(take0, 0, np.where(take1, 1, 2))
    return _backtrace(trace.reshape(n + 1, width))


def _backtrace(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    trace = trace.copy()
    trace[0, :] = 2
    trace[:, 0] = 1
    i, j = trace.shape[0] - 1, trace.shape[1] - 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        elif step == 2:
            j -= 1
        else:
            raise ValueError(f"DTW trace has no step at ({i}, {j})")
    result = np.array(path[::-1], dtype=np.int64).reshape(-1, 2)
    return result[:, 0], result[:, 1]


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a sliding window of odd `width` along the last axis, edges reflected."""
    if width <= 0 or width % 2 == 0:
        raise ValueError(f"median filter width must be odd and positive, got {width}")
    pad = width // 2
    if x.shape[-1] <= pad:
        return x  # too short to reflect; openai-whisper returns it unchanged too
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.sort(windows, axis=-1)[..., pad]


def merge_punctuations(timings: Sequence[Any], prepended: str, appended: str) -> None:
    """Fold opening punctuation into the next word and closing punctuation into the previous one,
    in place (words emptied by the merge keep their place with an empty text)."""
    i, j = len(timings) - 2, len(timings) - 1
    while i >= 0:
        previous, following = timings[i], timings[j]
        if previous.word.startswith(" ") and previous.word.strip() in prepended:
            following.word = previous.word + following.word
            following.tokens = previous.tokens + following.tokens
            previous.word, previous.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(timings):
        previous, following = timings[i], timings[j]
        if not previous.word.endswith(" ") and following.word in appended:
            previous.word = previous.word + following.word
            previous.tokens = previous.tokens + following.tokens
            following.word, following.tokens = "", []
        else:
            i = j
        j += 1
