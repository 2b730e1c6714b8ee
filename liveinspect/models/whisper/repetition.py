"""Repetition loops at the end of a token sequence: Whisper's way of failing on noise or music.

Fed silence or a jingle, Whisper can repeat one phrase until the token
limit. `loop_period` finds such a loop; the runner stops a sequence once it
loops (so one looping chunk does not keep the whole batch decoding), and
`cut_repetition` trims what was decoded to one copy of the repeated unit.
"""

from __future__ import annotations

from collections.abc import Sequence


def loop_period(tokens: Sequence[int], max_period: int, min_repeats: int, min_tokens: int) -> int | None:
    """The period p when the tail of `tokens` is one p-token pattern repeated enough times."""
    n = len(tokens)
    for period in range(1, max_period + 1):
        repeats = max(min_repeats, -(-min_tokens // period))
        span = period * repeats
        if span > n:
            continue
        tail = tokens[n - span:]
        pattern = tail[-period:]
        if all(tail[i] == pattern[i % period] for i in range(span)):
            return period
    return None


def cut_repetition(tokens: Sequence[int], *, max_period: int = 16, min_repeats: int = 4,
                   min_tokens: int = 16, keep: int = 1) -> list[int]:
    """Collapse a repetition loop at the end of `tokens` to `keep` copies of the repeated unit."""
    tokens = list(tokens)
    period = loop_period(tokens, max_period, min_repeats, min_tokens)
    if period is None:
        return tokens
    end = len(tokens)
    start = end - period
    # Walk back while the unit keeps repeating, to find where the loop began.
    while start - period >= 0 and tokens[start - period:start] == tokens[end - period:end]:
        start -= period
    return tokens[:start + keep * period]
