"""Guards against Whisper's known failure modes in its text: stock phrases and script.

Whisper, fed silence, music or noise, writes text it saw in its training
subtitles ("Thanks for watching!", Chinese subtitle credits). VAD keeps
most silence away; these filters catch what gets through (repetition loops
are cut while decoding: `liveinspect.models.whisper.repetition`). Mandarin
comes out in Traditional or Simplified characters at random, so it is
normalised to Simplified.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from collections.abc import Sequence

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
