"""Where a text span lies: its sentence, and the time its words were spoken."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Sentence or clause ends in Chinese and English; English '.' only before a
# space or the end, so 9.9 and No.1 stay whole.
_SENTENCE_END = re.compile(r"[。！？!?；;…\n]+|\.(?=\s|$)")
# ... except after an abbreviation: "No. 1 in sales" is one claim, not "No." and "1 in sales".
_ABBREVIATION = re.compile(r"(?:^|[^\w.])(?:no|nr|mr|mrs|ms|dr|st|vs|approx|fig|e\.g|i\.e)$", re.IGNORECASE)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence or clause of `text`, trimmed of spaces."""
    spans = []
    start = 0
    for found in _SENTENCE_END.finditer(text):
        if found.group() == "." and _ABBREVIATION.search(text, 0, found.start()):
            continue
        spans.append((start, found.end()))
        start = found.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.append((s, e))
    return trimmed


def word_char_spans(text: str, words: Sequence[tuple[str, float, float]]
                    ) -> list[tuple[int, int, float, float]]:
    """Locate each timed word in `text`, in order: (start, end, t_start, t_end).

    ASR word lists (Whisper) carry leading spaces and may differ slightly
    from the joined text; words that cannot be found after the previous one
    are skipped rather than guessed.
    """
    located = []
    cursor = 0
    for word, t0, t1 in words:
        token = word.strip()
        if not token:
            continue
        position = text.find(token, cursor)
        if position < 0:
            continue
        located.append((position, position + len(token), float(t0), float(t1)))
        cursor = position + len(token)
    return located


def time_of_span(start: int, end: int, located: Sequence[tuple[int, int, float, float]]
                 ) -> tuple[float, float] | None:
    """The time covered by the words overlapping [start, end), or None if none do."""
    times = [(t0, t1) for s, e, t0, t1 in located if s < end and e > start]
    if not times:
        return None
    return min(t for t, _ in times), max(t for _, t in times)
