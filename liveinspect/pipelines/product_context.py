"""What a sentence is about: the product it concerns, and what that product may lawfully claim.

`CategoryRules` matches product_rules.yaml's words (topics, never-wording,
lawful notices) against normalized text, with the lexicon's conventions:
terms normalized like the text, Latin terms only at word boundaries,
`exclude` phrases that contain a term cancel it.

`TextContext` is the per-broadcast (per-scan) state of the text check: the
products on sale and when each was last named. A sentence is about the
product it names; else, in a scan, the product named nearest to it in time
(or whose presentation window holds it); else the only product on sale.
It also records the efficacy findings the category rules withdrew, so a
report or an evaluation can count what the rules decided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from liveinspect.policy import Policy
from liveinspect.policy.models import Term
from liveinspect.schema import Product, ProductCategory, TextItem
from liveinspect.text.normalize import policy_normalizer

_SIZE_SUFFIX = re.compile(r"[\s\d.,]*(?:g|kg|ml|l|克|千克|毫升|升|片|粒|袋|盒|支|瓶|罐|包|件|套)?\s*$",
                          re.IGNORECASE)


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _occurrences(text: str, needle: str) -> Iterable[tuple[int, int]]:
    start = text.find(needle)
    while start >= 0:
        end = start + len(needle)
        left_ok = not (_latin(needle[0]) and start > 0 and _latin(text[start - 1]))
        right_ok = not (_latin(needle[-1]) and end < len(text) and _latin(text[end]))
        if left_ok and right_ok:
            yield start, end
        start = text.find(needle, start + 1)


@dataclass(frozen=True)
class _Words:
    """Normalized terms of one rule, with their normalized exclusions."""

    id: str
    terms: tuple[tuple[str, tuple[str, ...]], ...]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        hits = []
        for term, excludes in self.terms:
            covers = [(s, e) for phrase in excludes for s, e in _occurrences(text, phrase)]
            for start, end in _occurrences(text, term):
                if not any(s <= start and end <= e for s, e in covers):
                    hits.append((start, end, term))
        return hits


class CategoryRules:
    """product_rules.yaml, compiled for matching normalized sentences."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.file = policy.product_rules
        normalize = policy_normalizer(policy)

        def words(rule_id: str, terms: Sequence[Term]) -> _Words:
            compiled = []
            for term in terms:
                text = normalize(term.term).text.strip()
                if text:
                    compiled.append((text, tuple(normalize(x).text.strip() for x in term.exclude)))
            return _Words(rule_id, tuple(compiled))

        self._normalize = normalize
        self.topics = [words(t.id, t.terms) for t in self.file.topics]
        self.never = [words(n.id, n.terms) for n in self.file.never]
        self.notices = [t for t in (normalize(n).text.strip() for n in self.file.notices) if t]

    def normalized(self, text: str):
        return self._normalize(text)

    def topics_in(self, text: str, *, outside: Sequence[tuple[int, int]] = ()) -> dict[str, list[str]]:
        """Topic id -> the terms that name it in normalized `text`, ignoring hits inside `outside`."""
        found: dict[str, list[str]] = {}
        for topic in self.topics:
            for start, end, term in topic.find(text):
                if not any(s <= start and end <= e for s, e in outside):
                    found.setdefault(topic.id, []).append(term)
        return found

    def never_in(self, text: str) -> list[tuple[str, str]]:
        """(never-rule id, term) for wording in normalized `text` that no product may use."""
        return [(rule.id, term) for rule in self.never for _, _, term in rule.find(text)]

    def notice_spans(self, text: str) -> list[tuple[int, int]]:
        return [span for notice in self.notices for span in _occurrences(text, notice)]

    def approved_topics(self, product: Product) -> set[str]:
        """The topics a product's approved functions or indications name."""
        approved = " ".join([*product.functions, *product.indications])
        return set(self.topics_in(self._normalize(approved).text)) if approved else set()


@dataclass(frozen=True)
class ProductMatch:
    product: Product
    how: str  # "named", "nearest in time", "presented then", "only product", "declared"

    @property
    def category(self) -> ProductCategory | None:
        return self.product.category


@dataclass(frozen=True)
class Withdrawn:
    """An efficacy finding the category rules withdrew (the claim is lawful for that product)."""

    text: str
    kind: str
    decided_by: str | None
    rule: str
    product: str


@dataclass
class TextContext:
    """The products of one broadcast and what the text check learnt while reading it (see the
    module docstring). Make one per scan; it is not shared between scans."""

    products: list[Product] = field(default_factory=list)
    declared: Product | None = None  # every text is about this product (e.g. one evaluation row)
    mentions: dict[int, list[float]] = field(default_factory=dict)  # product index -> times named
    withdrawn: list[Withdrawn] = field(default_factory=list)

    @classmethod
    def for_product(cls, product: Product) -> TextContext:
        return cls(products=[product], declared=product)

    def _keys(self, rules: CategoryRules) -> list[list[str]]:
        keys = []
        for product in self.products:
            names = [product.name, _SIZE_SUFFIX.sub("", product.name), *product.aliases]
            normalized = {rules.normalized(n).text.strip() for n in names if n}
            keys.append(sorted((k for k in normalized if len(k) >= 2), key=len, reverse=True))
        return keys

    def named_in(self, text: str, rules: CategoryRules) -> list[int]:
        """Indices of the products whose name (or alias) normalized `text` contains."""
        return [i for i, keys in enumerate(self._keys(rules)) if any(k in text for k in keys)]

    def note(self, item: TextItem, normalized: str, rules: CategoryRules) -> None:
        """Remember when each product was named (speech and on-screen text with times)."""
        if item.t_start is None or item.source == "product_list":
            return
        for index in self.named_in(normalized, rules):
            self.mentions.setdefault(index, []).append(item.t_start)

    def product_for(self, item: TextItem, normalized: str, rules: CategoryRules) -> ProductMatch | None:
        if self.declared is not None:
            return ProductMatch(self.declared, "declared")
        if not self.products:
            return None
        named = self.named_in(normalized, rules)
        if len(named) == 1:
            return ProductMatch(self.products[named[0]], "named")
        if item.t_start is not None:
            t = item.t_start
            presented = [i for i, p in enumerate(self.products) if p.t_start is not None
                         and p.t_start <= t <= (p.t_end if p.t_end is not None else t)]
            if len(presented) == 1:
                return ProductMatch(self.products[presented[0]], "presented then")
            distances = {i: min(abs(t - m) for m in times) for i, times in self.mentions.items() if times}
            if distances:
                nearest = min(distances, key=lambda i: (distances[i], i))
                return ProductMatch(self.products[nearest], "nearest in time")
        if len(self.products) == 1:
            return ProductMatch(self.products[0], "only product")
        return None
