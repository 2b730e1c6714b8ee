"""Normalize marketing text for matching, keeping a map back to the original.

Sellers dodge keyword filters with full-width letters, Traditional
characters, spacing and emoji between characters (`加 V 信`, `加.微.信`,
`薇❤`) and homophones (`薇信`, `vx`, `扣扣`). `Normalizer` undoes these so
one lexicon catches them all, and records for every normalized character the
span of the original text it came from, so findings can point at what was
actually said or shown.

Steps, in order: emoji that stand for words (🚬 -> 烟); drop invisible
characters; NFKC (full width -> half width) and case folding; Traditional ->
Simplified (OpenCC 't2s'); remove separators between characters where they
can only be an evasion; rewrite homophones and look-alikes (regex variants).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from liveinspect.policy import Policy, load_policy
from liveinspect.policy.regex import BoundedPattern, compile_bounded

# A run of gap characters is kept when one of these sits on its side: they
# carry meaning (100%, +v, ¥99) rather than decorate.
_MEANINGFUL_SYMBOLS = frozenset("%+¥$€£#@&_")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc", "Cs"})
_GAP_CATEGORY_PREFIXES = ("P", "S", "Z", "Co", "Cn")
_NUMBER_JOINERS = frozenset(".,:")
# Characters that render as nothing but are not in an invisible category:
# Hangul fillers are letters (Lo) and survive NFKC (加\u3164微信); the rest of
# Unicode's Default_Ignorable_Code_Point set that is not Cf/Mn either.
_INVISIBLE_CHARACTERS = frozenset(
    "\u115f\u1160\u3164\uffa0"          # Hangul choseong/jungseong/compatibility/halfwidth fillers
    "\u17b4\u17b5"                      # Khmer inherent vowels
    "\u2800"                             # Braille blank
    "\u034f\u180b\u180c\u180d\u180e\u180f"  # grapheme joiner, Mongolian variation selectors
)


def _invisible(ch: str) -> bool:
    if ch in _INVISIBLE_CHARACTERS:
        return True
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES and not ch.isspace()


def is_han(ch: str) -> bool:
    code = ord(ch)
    return (0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x323AF)


def _is_gap(ch: str) -> bool:
    if ch in _MEANINGFUL_SYMBOLS:
        return False
    if ch.isspace():
        return True
    return unicodedata.category(ch).startswith(_GAP_CATEGORY_PREFIXES)


@dataclass(frozen=True)
class NormalizedText:
    """`text` normalized from `original`; character i of `text` came from
    `original[starts[i]:ends[i]]`."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `original` that normalized `text[start:end]` came from."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) outside normalized text of length {len(self.text)}")
        if start == end:
            position = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return position, position
        return self.starts[start], max(self.ends[start:end])


# One normalized character and the original span it came from.
_Piece = tuple[str, int, int]


def _rewrite(pieces: list[_Piece], pattern: re.Pattern[str] | BoundedPattern,
             replacement: Callable[[re.Match[str]], str]) -> list[_Piece]:
    """Replace every match of `pattern`; new characters inherit the span of what they replace."""
    text = "".join(p[0] for p in pieces)
    out: list[_Piece] = []
    cursor = 0
    for match in pattern.finditer(text):
        if match.start() == match.end():
            continue
        out.extend(pieces[cursor:match.start()])
        start, end = pieces[match.start()][1], max(p[2] for p in pieces[match.start():match.end()])
        out.extend((ch, start, end) for ch in replacement(match))
        cursor = match.end()
    out.extend(pieces[cursor:])
    return out


@lru_cache(maxsize=1)
def _t2s_converter():
    import opencc

    return opencc.OpenCC("t2s")


def _to_simplified(pieces: list[_Piece]) -> list[_Piece]:
    text = "".join(p[0] for p in pieces)
    converter = _t2s_converter()
    converted = converter.convert(text)
    if len(converted) == len(text):
        return [(ch, s, e) for ch, (_, s, e) in zip(converted, pieces, strict=True)]
    # A phrase changed length: convert character by character to keep the map exact.
    out: list[_Piece] = []
    for ch, s, e in pieces:
        out.extend((c, s, e) for c in converter.convert(ch))
    return out


def _token_lengths(chars: str) -> list[int]:
    """For each character, the length of the Latin/digit run it belongs to (0 if none)."""
    lengths = [0] * len(chars)
    i = 0
    while i < len(chars):
        if chars[i].isalnum() and not is_han(chars[i]):
            j = i
            while j < len(chars) and chars[j].isalnum() and not is_han(chars[j]):
                j += 1
            lengths[i:j] = [j - i] * (j - i)
            i = j
        else:
            i += 1
    return lengths


def _remove_evasive_gaps(pieces: list[_Piece]) -> list[_Piece]:
    """Drop runs of spaces/punctuation/emoji that split what should be one word.

    A run goes when a Han character is on either side (`加 V 信`, `加.微.信`),
    or when single letters or digits stand on both sides (`v-x`, `1 3 8`).
    Between real words (`add me`, `No. 1`) and inside numbers (`9.9`) it stays.
    """
    chars = "".join(p[0] for p in pieces)
    token_length = _token_lengths(chars)
    out: list[_Piece] = []
    i = 0
    while i < len(pieces):
        if not _is_gap(chars[i]):
            out.append(pieces[i])
            i += 1
            continue
        j = i
        while j < len(pieces) and _is_gap(chars[j]):
            j += 1
        if i == 0 or j == len(pieces):
            # Decoration at the edge (`薇❤`) joins nothing; keep it only next to Latin text.
            if j - i == len(pieces) or is_han(chars[j] if i == 0 else chars[i - 1]):
                i = j
                continue
        elif _is_evasive_gap(chars, token_length, i - 1, j, j - i):
            i = j
            continue
        out.extend(pieces[i:j])
        i = j
    return out


def _is_evasive_gap(chars: str, token_length: list[int], left: int, right: int,
                    run_length: int) -> bool:
    a, b = chars[left], chars[right]
    if run_length == 1 and chars[left + 1] in _NUMBER_JOINERS and a.isdigit() and b.isdigit():
        return False
    if is_han(a) or is_han(b):
        return True
    return token_length[left] == 1 and token_length[right] == 1


class Normalizer:
    """Normalizes text with a fixed set of emoji words and variants (see module doc)."""

    def __init__(self, emoji: Mapping[str, str] | None = None,
                 variants: Iterable[tuple[str, str]] = (), *, simplify: bool = True) -> None:
        emoji = dict(emoji or {})
        keys = sorted(emoji, key=len, reverse=True)
        self._emoji = emoji
        self._emoji_pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        # Variants are policy data: timed like the lexicon's patterns (validated when the policy loads).
        self._variants = [(compile_bounded(pattern, probe=False), replace) for pattern, replace in variants]
        self._simplify = simplify

    def __call__(self, text: str) -> NormalizedText:
        return self.normalize(text)

    def normalize(self, text: str) -> NormalizedText:
        pieces: list[_Piece] = [(ch, i, i + 1) for i, ch in enumerate(text)]
        if self._emoji_pattern is not None:
            pieces = _rewrite(pieces, self._emoji_pattern, lambda m: self._emoji[m.group()])
        pieces = self._fold(pieces)
        if self._simplify and pieces:
            pieces = _to_simplified(pieces)
        pieces = _remove_evasive_gaps(pieces)
        for pattern, replace in self._variants:
            pieces = _rewrite(pieces, pattern, lambda _m, r=replace: r)
        return NormalizedText(original=text, text="".join(p[0] for p in pieces),
                              starts=tuple(p[1] for p in pieces),
                              ends=tuple(p[2] for p in pieces))

    @staticmethod
    def _fold(pieces: Sequence[_Piece]) -> list[_Piece]:
        out: list[_Piece] = []
        for ch, s, e in pieces:
            if _invisible(ch):
                continue
            for folded in unicodedata.normalize("NFKC", ch).casefold():
                if _invisible(folded):
                    continue
                out.append((folded, s, e))
        return out


def policy_normalizer(policy: Policy | None = None) -> Normalizer:
    """The normalizer configured by a policy's claims file (emoji words and variants)."""
    policy = policy or load_policy()
    return Normalizer(policy.emoji, [(v.pattern, v.replace) for v in policy.variants])


def normalize(text: str, policy: Policy | None = None) -> NormalizedText:
    """Normalize `text` with the (default) policy's emoji words and variants."""
    return cached_normalizer(policy).normalize(text)


_normalizers: dict[str, Normalizer] = {}


def cached_normalizer(policy: Policy | None = None) -> Normalizer:
    """The (default) policy's normalizer, built once per policy version. Finding the default
    policy checks its eight files on disk (so an edited file is read again); callers that
    normalize many texts fetch the normalizer once rather than per text."""
    policy = policy or load_policy()
    normalizer = _normalizers.get(policy.version)
    if normalizer is None:
        normalizer = _normalizers[policy.version] = policy_normalizer(policy)
    return normalizer
