"""Guards against Whisper's known failure modes: repetition loops, stock phrases, script.

Whisper, fed silence, music or noise, writes text it saw in its training
subtitles ("Thanks for watching!", Chinese subtitle credits) and can loop on
one phrase until the token limit. VAD keeps most silence away; these filters
catch what gets through. Mandarin comes out in Traditional or Simplified
characters at random, so it is normalised to Simplified.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from collections.abc import Sequence

import torch
from whisper.decoding import LogitFilter

# Phrases Whisper produces on non-speech, taken from user reports. A sentence
# made only of these is dropped; the match ignores case, spaces and punctuation.
HALLUCINATED_PHRASES: tuple[str, ...] = (
    "字幕由Amara.org社群提供",
    "由Amara.org社群提供的字幕",
    "Subtitles by the Amara.org community",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "请不吝点赞订阅转发打赏支持",
    "明镜与点点栏目",
    "明镜需要您的支持",
    "欢迎订阅明镜",
    "字幕by索兰娅",
    "字幕志愿者",
    "中文字幕志愿者",
    "优优独播剧场YoYoTelevisionSeriesExclusive",
    "Thanks for watching",
    "Thank you for watching",
    "Thanks for watching and see you next time",
    "Please subscribe to my channel",
    "Don't forget to like and subscribe",
    "Like and subscribe",
    "Subtitles by",
    "Transcribed by",
    "ご視聴ありがとうございました",
)


def normalize_for_matching(text: str) -> str:
    """Lower-case, Simplified, without spaces and punctuation: what a phrase match compares."""
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


class PhraseBlocklist:
    def __init__(self, phrases: Sequence[str] = HALLUCINATED_PHRASES) -> None:
        keys = {normalize_for_matching(p) for p in phrases}
        # Longest first, so a long credit line is removed whole before its parts are tried.
        self._keys = sorted((k for k in keys if k), key=len, reverse=True)

    def is_hallucination(self, text: str) -> bool:
        """True when the text, once every blocked phrase is removed, has no words left."""
        rest = normalize_for_matching(text)
        if not rest:
            return False
        for key in self._keys:
            rest = rest.replace(key, "")
        return len(rest) < 2


def _loop_at_end(tokens: Sequence[int], max_period: int, min_repeats: int, min_tokens: int) -> int | None:
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
    period = _loop_at_end(tokens, max_period, min_repeats, min_tokens)
    if period is None:
        return tokens
    end = len(tokens)
    start = end - period
    # Walk back while the unit keeps repeating, to find where the loop began.
    while start - period >= 0 and tokens[start - period:start] == tokens[end - period:end]:
        start -= period
    return tokens[:start + keep * period]


class RepetitionCutoff(LogitFilter):
    """Ends a sequence (forces end-of-text) once its tail has become a repetition loop.

    Without it one looping chunk keeps the whole batch decoding to the token
    limit; the loop itself is trimmed afterwards by `cut_repetition`.
    """

    def __init__(self, eot: int, sample_begin: int, *, max_period: int = 16, min_repeats: int = 4,
                 min_tokens: int = 16) -> None:
        self.eot = eot
        self.sample_begin = sample_begin
        self.params = (max_period, min_repeats, min_tokens)

    def apply(self, logits: torch.Tensor, tokens: torch.Tensor) -> None:
        if tokens.shape[1] - self.sample_begin < self.params[2]:
            return
        rows = tokens[:, self.sample_begin:].tolist()
        for row, sampled in enumerate(rows):
            if sampled and sampled[-1] != self.eot and _loop_at_end(sampled, *self.params) is not None:
                logits[row, :] = -float("inf")
                logits[row, self.eot] = 0.0


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


_HAN = re.compile(r"[\u3400-\u9fff]")


def to_simplified(text: str) -> str:
    """Traditional Chinese characters to Simplified; text without Han characters is unchanged."""
    if not _HAN.search(text):
        return text
    return _t2s().convert(text)
