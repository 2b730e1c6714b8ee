"""Explicit AI-content labels in what a broadcast shows and says, and what its uploader declares.

The labeling rules distinguish content that carries a label (a notice on
screen, a spoken prompt, the Morse audio cue, the implicit metadata label)
from content whose uploader declares it (title, profile, product list). Both
are disclosures; `LabelEvidence.tier` says which. On-screen labels are
checked against the standard's prominence rule (text height relative to the
picture's shorter side, time on screen) and reported either way: a label too
small to read is still a label, but the evidence says it falls short.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from liveinspect.policy.labels import LabelPolicy, Medium, load_label_policy
from liveinspect.schema import Box, Modality, TextItem, TextSpan

Tier = Literal["labelled", "declared"]

# Characters that decorate a label without changing it: "A I - 生 成", "AI·生成".
_IGNORED = set(" \t\r\n-_·•‧.、|/\\:：'\"“”‘’()（）[]【】")


@dataclass(frozen=True)
class LabelEvidence:
    """One disclosure of synthetic media, and where it was seen or heard."""

    tier: Tier
    how: str  # onscreen | spoken | audio_cue | metadata | title | profile | product_list | cover
    discloses: frozenset[Medium]
    matched: str  # the phrase, "·−··", or the AIGC object
    group: str  # the phrase group id, "morse_cue" or "implicit"
    modality: Modality
    text: TextSpan | None = None
    t_start: float | None = None
    t_end: float | None = None
    frame_index: int | None = None
    box: Box | None = None
    prominent: bool | None = None  # on-screen labels: meets the height and duration rule
    notes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        where = f" at {self.t_start:.1f}-{self.t_end:.1f} s" if self.t_start is not None and \
            self.t_end is not None else ""
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return f"{self.how} label {self.matched!r}{where}{notes}"


@dataclass(frozen=True)
class _Phrase:
    key: str  # normalized
    text: str  # as written in the policy
    group: str
    discloses: frozenset[Medium]
    latin: bool


def _normalize(text: str) -> tuple[str, list[int]]:
    """Case-, width- and spacing-free text, and the index in `text` of each character kept."""
    out: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        for piece in unicodedata.normalize("NFKC", ch).casefold():
            if piece in _IGNORED:
                continue
            out.append(piece)
            where.append(index)
    return "".join(out), where


_compiled: dict[int, tuple[LabelPolicy, tuple]] = {}


def _phrases(policy: LabelPolicy) -> tuple[list[_Phrase], list[str], list[str]]:
    # Keyed by identity (the model holds lists, so it has no hash); the policy is kept alive with it.
    cached = _compiled.get(id(policy))
    if cached is not None and cached[0] is policy:
        return cached[1]
    if len(_compiled) > 16:
        _compiled.clear()
    phrases = []
    for group in policy.groups:
        for text in [*group.zh, *group.en]:
            key, _ = _normalize(text)
            phrases.append(_Phrase(key, text, group.id, frozenset(group.discloses), key.isascii()))
    phrases.sort(key=lambda p: -len(p.key))  # longest first, so "AI数字人" wins over "数字人"
    negations_zh = [_normalize(n)[0] for n in policy.negations.zh]
    negations_en = [n.casefold() for n in policy.negations.en]
    _compiled[id(policy)] = (policy, (phrases, negations_zh, negations_en))
    return phrases, negations_zh, negations_en


def _negated(text: str, norm: str, start: int, original_start: int, phrase: _Phrase,
             zh: Sequence[str], en: Sequence[str]) -> bool:
    if any(norm[max(0, start - 4):start].endswith(n) for n in zh):
        return True
    # English denials are whole words just before the phrase ("not AI-generated", "non-AI voice").
    words = re.findall(r"[A-Za-z]+", text[:original_start])
    return phrase.latin and bool(words) and words[-1].casefold() in en


def _is_whole_word(text: str, start: int, end: int) -> bool:
    """Latin phrases must not sit inside a longer word ("AI host" in "FAI hostel")."""
    left = text[start - 1] if start > 0 else ""
    right = text[end] if end < len(text) else ""
    return not (left.isascii() and left.isalpha()) and not (right.isascii() and right.isalpha())


def match_label_phrases(text: str, policy: LabelPolicy | None = None) -> list[tuple[_Phrase, TextSpan]]:
    """Label phrases in `text` (not negated), each with its span in the original text."""
    policy = policy or load_label_policy()
    phrases, neg_zh, neg_en = _phrases(policy)
    norm, where = _normalize(text)
    taken = [False] * len(norm)
    found: list[tuple[_Phrase, TextSpan]] = []
    for phrase in phrases:
        start = norm.find(phrase.key)
        while start >= 0:
            end = start + len(phrase.key)
            first, last = where[start], where[end - 1] + 1
            free = not any(taken[start:end])
            if free and (not phrase.latin or _is_whole_word(text, first, last)) \
                    and not _negated(text, norm, start, first, phrase, neg_zh, neg_en):
                for i in range(start, end):
                    taken[i] = True
                found.append((phrase, TextSpan(text=text, start=first, end=last)))
            start = norm.find(phrase.key, start + 1)
    return sorted(found, key=lambda pair: pair[1].start)


_HOW_BY_MODALITY = {Modality.onscreen_text: ("labelled", "onscreen"), Modality.speech: ("labelled", "spoken"),
                    Modality.title: ("declared", "title"), Modality.profile: ("declared", "profile"),
                    Modality.cover: ("declared", "cover")}


def find_explicit_labels(items: Iterable[TextItem], policy: LabelPolicy | None = None, *,
                         frame_size: tuple[int, int] | None = None,
                         frame_interval_s: float = 1.0) -> list[LabelEvidence]:
    """Label phrases in OCR lines, the transcript, title, profile and product list.

    `frame_size` (width, height) of the stream's frames lets on-screen labels be
    checked against the height rule; `frame_interval_s` is the sampling interval,
    added to an OCR line's span because a line seen on one sampled frame was on
    screen for about that long.
    """
    policy = policy or load_label_policy()
    evidence: list[LabelEvidence] = []
    for item in items:
        if item.modality not in _HOW_BY_MODALITY:
            continue
        tier, how = _HOW_BY_MODALITY[item.modality]
        if item.source == "product_list":
            how = "product_list"
        for phrase, span in match_label_phrases(item.text, policy):
            prominent, notes = None, []
            if how == "onscreen":
                prominent, notes = _prominence(item, policy, frame_size, frame_interval_s)
            if how == "spoken" and item.t_start is not None and item.t_start > policy.spoken.start_window_s:
                notes.append(f"spoken at {item.t_start:.1f} s, not in the first "
                             f"{policy.spoken.start_window_s:g} s")
            evidence.append(LabelEvidence(
                tier=tier, how=how, discloses=phrase.discloses, matched=phrase.text, group=phrase.group,
                modality=item.modality, text=span, t_start=item.t_start, t_end=item.t_end,
                frame_index=item.frame_index, box=item.box, prominent=prominent, notes=tuple(notes)))
    return evidence


def _prominence(item: TextItem, policy: LabelPolicy, frame_size: tuple[int, int] | None,
                frame_interval_s: float) -> tuple[bool | None, list[str]]:
    notes: list[str] = []
    verdicts: list[bool] = []
    if item.box is not None and frame_size is not None:
        ratio = (item.box.y1 - item.box.y0) / max(1, min(frame_size))
        ok = ratio >= policy.onscreen.min_height_ratio
        verdicts.append(ok)
        if not ok:
            notes.append(f"text height {ratio:.1%} of the picture's shorter side, below "
                         f"{policy.onscreen.min_height_ratio:.0%}")
    if item.t_start is not None and item.t_end is not None:
        shown = item.t_end - item.t_start + frame_interval_s
        ok = shown >= policy.onscreen.min_duration_s
        verdicts.append(ok)
        if not ok:
            notes.append(f"on screen about {shown:.1f} s, below {policy.onscreen.min_duration_s:g} s")
    return (all(verdicts) if verdicts else None), notes
