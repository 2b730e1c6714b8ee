"""Word and character error rates (from `liveinspect.eval.metrics`) after the text normalisation
Whisper evaluations use."""

from __future__ import annotations

import re
from functools import lru_cache

from liveinspect.eval.metrics import cer, edit_distance, wer
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


def word_error_rate(reference: str, hypothesis: str, *, normalize: bool = True) -> float:
    """Edits per reference word; Chinese text is scored per character (CER)."""
    if normalize:
        reference, hypothesis = normalize_transcript(reference), normalize_transcript(hypothesis)
    return cer(reference, hypothesis) if _HAN.search(reference) else wer(reference, hypothesis)


__all__ = ["edit_distance", "normalize_transcript", "word_error_rate"]
