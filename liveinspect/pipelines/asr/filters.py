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

# Phrases Whisper produces on non-speech, taken from user reports; matching ignores case,
# spaces, punctuation and the Chinese script. Subtitle credits are never said in a live room,
# so a sentence made only of them is always dropped.
SUBTITLE_CREDITS: tuple[str, ...] = (
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
)
# These a host may really say, so they are dropped only when voice activity does not back them.
SIGN_OFFS: tuple[str, ...] = (
    "Thanks for watching",
    "Thank you for watching",
    "Thanks for watching and see you next time",
    "Please subscribe to my channel",
    "Don't forget to like and subscribe",
    "Like and subscribe",
    "感谢观看",
    "谢谢观看",
    "ご視聴ありがとうございました",
)


def normalize_for_matching(text: str) -> str:
    """Lower-case, Simplified, without spaces and punctuation: what a phrase match compares."""
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def _only_phrases(text: str, keys: Sequence[str]) -> bool:
    rest = normalize_for_matching(text)
    if not rest:
        return False
    for key in keys:
        rest = rest.replace(key, "")
    return len(rest) < 2


def _keys(phrases: Sequence[str]) -> list[str]:
    # Longest first, so a long credit line is removed whole before its parts are tried.
    return sorted({k for k in map(normalize_for_matching, phrases) if k}, key=len, reverse=True)


class PhraseBlocklist:
    """Finds sentences made only of known hallucinated phrases."""

    def __init__(self, credits: Sequence[str] = SUBTITLE_CREDITS, sign_offs: Sequence[str] = SIGN_OFFS,
                 min_voice: float = 0.5) -> None:
        self._credits = _keys(credits)
        self._all = _keys([*credits, *sign_offs])
        self.min_voice = min_voice

    def is_hallucination(self, text: str, voice: float | None = None) -> bool:
        """True for subtitle credits, and for sign-offs whose voice activity (mean speech
        probability over the sentence, None when unknown) is below `min_voice`."""
        if _only_phrases(text, self._credits):
            return True
        weak = voice is None or voice < self.min_voice
        return weak and _only_phrases(text, self._all)


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
