"""Match the policy's claim lexicons and negative list against normalized text.

All literal terms (claims, negative-list keywords, synonyms, evasions) are
normalized like the text and compiled into one Aho-Corasick automaton;
regex patterns run separately. A hit is dropped when a near miss listed in
`exclude` surrounds it (第一 in 第一次) or, for a term with a Latin end, when
it is not at a word boundary there (best in bestow). Spans are reported in
the original text through the normalizer's offset map.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from liveinspect.errors import PolicyError
from liveinspect.policy import Policy, load_policy
from liveinspect.schema import FindingKind
from liveinspect.text.aho_corasick import AhoCorasick
from liveinspect.text.normalize import NormalizedText, Normalizer, policy_normalizer
from liveinspect.policy.regex import BoundedPattern, compile_bounded


@dataclass(frozen=True)
class LexiconEntry:
    """One term or pattern, ready to match."""

    kind: FindingKind
    source: str  # lexicon id, or the negative-list category id
    term: str  # as written in the policy; "<lexicon id>/<pattern name>" for patterns
    role: str  # term | keyword | synonym | evasion | pattern
    score: float
    category: str | None = None
    normalized: str = ""
    # Near misses as (normalized text, offset of the term inside it).
    exclusions: tuple[tuple[str, int], ...] = ()
    regex: BoundedPattern | None = None


@dataclass(frozen=True)
class LexiconMatch:
    kind: FindingKind
    category: str | None
    term: str
    source: str
    role: str
    score: float
    start: int  # span in the ORIGINAL text
    end: int
    norm_start: int  # span in the normalized text
    norm_end: int


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _at_word_boundary(text: str, start: int, end: int) -> bool:
    """Latin/digit ends of a hit must not continue into more letters/digits."""
    first, last = text[start], text[end - 1]
    if start > 0:
        before = text[start - 1]
        if (_latin(first) and _latin(before)) or (first.isdigit() and before.isdigit()):
            return False
    if end < len(text):
        after = text[end]
        if (_latin(last) and _latin(after)) or (last.isdigit() and after.isdigit()):
            return False
    return True


def _excluded(text: str, start: int, end: int, exclusions: Iterable[tuple[str, int]]) -> bool:
    for near_miss, offset in exclusions:
        if offset >= 0:
            if start - offset >= 0 and text.startswith(near_miss, start - offset):
                return True
        else:  # patterns: drop a hit lying inside any occurrence of the near miss
            for found in re.finditer(re.escape(near_miss), text):
                if found.start() <= start and end <= found.end():
                    return True
    return False


class LexiconMatcher:
    """All lexicon and negative-list matches in a text; build once, match many lines."""

    def __init__(self, entries: Iterable[LexiconEntry], normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self.entries = list(entries)
        self._by_normalized: dict[str, list[LexiconEntry]] = {}
        self._patterns: list[LexiconEntry] = []
        for entry in self.entries:
            if entry.regex is not None:
                self._patterns.append(entry)
            else:
                self._by_normalized.setdefault(entry.normalized, []).append(entry)
        self._automaton = AhoCorasick(self._by_normalized)

    @classmethod
    def from_policy(cls, policy: Policy | None = None) -> "LexiconMatcher":
        policy = policy or load_policy()
        normalizer = policy_normalizer(policy)
        return cls(_policy_entries(policy, normalizer), normalizer)

    def match(self, text: str | NormalizedText) -> list[LexiconMatch]:
        """Every hit in `text`, ordered by position (overlaps kept; see `collapse_overlaps`)."""
        normalized = text if isinstance(text, NormalizedText) else self.normalizer(text)
        hits = list(self._literal_hits(normalized.text))
        hits += self._pattern_hits(normalized.text)
        matches = []
        for entry, start, end in hits:
            if _excluded(normalized.text, start, end, entry.exclusions):
                continue
            original_start, original_end = normalized.original_span(start, end)
            matches.append(LexiconMatch(kind=entry.kind, category=entry.category, term=entry.term,
                                        source=entry.source, role=entry.role, score=entry.score,
                                        start=original_start, end=original_end,
                                        norm_start=start, norm_end=end))
        matches.sort(key=lambda m: (m.start, -m.end, m.kind.value))
        return matches

    def _literal_hits(self, text: str) -> Iterator[tuple[LexiconEntry, int, int]]:
        for start, end, key in self._automaton.find_all(text):
            if not _at_word_boundary(text, start, end):
                continue
            for entry in self._by_normalized[key]:
                yield entry, start, end

    def _pattern_hits(self, text: str) -> list[tuple[LexiconEntry, int, int]]:
        # Each search is timed (policy.regex): PatternBudgetError names the pattern.
        return [(entry, found.start(), found.end())
                for entry in self._patterns
                for found in entry.regex.finditer(text) if found.end() > found.start()]


def collapse_overlaps(matches: Iterable[LexiconMatch]) -> list[LexiconMatch]:
    """One match per overlapping span and (kind, category): the union span, the strongest term."""
    groups: dict[tuple, list[LexiconMatch]] = {}
    for match in sorted(matches, key=lambda m: (m.start, m.end)):
        groups.setdefault((match.kind, match.category), []).append(match)
    collapsed: list[LexiconMatch] = []
    for group in groups.values():
        cluster = [group[0]]
        for match in group[1:]:
            if match.start < max(m.end for m in cluster):
                cluster.append(match)
            else:
                collapsed.append(_merge(cluster))
                cluster = [match]
        collapsed.append(_merge(cluster))
    collapsed.sort(key=lambda m: (m.start, m.end, m.kind.value))
    return collapsed


def _merge(cluster: list[LexiconMatch]) -> LexiconMatch:
    best = max(cluster, key=lambda m: (m.score, m.norm_end - m.norm_start))
    return replace(best, start=min(m.start for m in cluster), end=max(m.end for m in cluster),
                   norm_start=min(m.norm_start for m in cluster),
                   norm_end=max(m.norm_end for m in cluster))


# --- compiling the policy -------------------------------------------------

def _entry(normalizer: Normalizer, *, kind: FindingKind, source: str, term: str, role: str,
           score: float, exclude: Iterable[str], category: str | None = None) -> LexiconEntry:
    normalized = normalizer(term).text
    if not normalized:
        raise PolicyError(f"lexicon {source}: term {term!r} is empty after normalization")
    exclusions = []
    for near_miss in exclude:
        near = normalizer(near_miss).text
        offset = near.find(normalized)
        while offset >= 0:
            exclusions.append((near, offset))
            offset = near.find(normalized, offset + 1)
    return LexiconEntry(kind=kind, source=source, term=term, role=role, score=score,
                        category=category, normalized=normalized, exclusions=tuple(exclusions))


def _policy_entries(policy: Policy, normalizer: Normalizer) -> Iterator[LexiconEntry]:
    for lexicon in policy.lexicons:
        for term in lexicon.terms:
            yield _entry(normalizer, kind=lexicon.kind, source=lexicon.id, term=term.term,
                         role="term", score=term.score if term.score is not None else lexicon.score,
                         exclude=term.exclude)
        for pattern in lexicon.patterns:
            exclusions = tuple((normalizer(x).text, -1) for x in pattern.exclude)
            yield LexiconEntry(kind=lexicon.kind, source=lexicon.id,
                               term=f"{lexicon.id}/{pattern.name or pattern.pattern}",
                               role="pattern", exclusions=exclusions,
                               score=pattern.score if pattern.score is not None else lexicon.score,
                               # validated (probed) when the policy loaded
                               regex=compile_bounded(pattern.pattern, name=pattern.name, probe=False))
    scores = policy.term_scores
    kind = FindingKind.negative_list_product
    for category in policy.categories:
        groups = (("keyword", [*category.keywords.zh, *category.keywords.en], scores.keyword_score),
                  ("synonym", category.synonyms, scores.synonym_score),
                  ("evasion", category.evasions, scores.evasion_score))
        for role, terms, default_score in groups:
            for term in terms:
                exclude = [*term.exclude,
                           *(x for x in category.exclude if term.term.casefold() in x.casefold())]
                yield _entry(normalizer, kind=kind, source=category.id, term=term.term, role=role,
                             score=term.score if term.score is not None else default_score,
                             exclude=exclude, category=category.id)
