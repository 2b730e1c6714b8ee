"""Word and character error rates, with the text normalisation Whisper evaluations use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from liveinspect.pipelines.asr.filters import to_simplified

_HAN = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _english_normalizer():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize_transcript(text: str) -> str:
    """English: openai-whisper's normaliser. Chinese: Simplified characters without punctuation."""
    if _HAN.search(text):
        return "".join(ch for ch in to_simplified(text) if ch.isalnum())
    return _english_normalizer()(text)


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str, *, normalize: bool = True) -> float:
    """Edits per reference word; Chinese text is scored per character (CER)."""
    if normalize:
        reference, hypothesis = normalize_transcript(reference), normalize_transcript(hypothesis)
    chinese = bool(_HAN.search(reference))
    ref = list(reference) if chinese else reference.split()
    hyp = list(hypothesis) if chinese else hypothesis.split()
    if not ref:
        return 0.0 if not hyp else float("inf")
    return edit_distance(ref, hyp) / len(ref)
