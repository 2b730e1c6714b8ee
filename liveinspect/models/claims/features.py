"""Hashed character n-gram features for the claim classifier (numpy only, no torch).

Chinese has no spaces, and a few characters carry a claim (`祛斑`, `第一`), so
character 1-3 grams of the normalized text are the features; Latin words are
added whole so English claims do not depend on letter trigrams alone. Every
feature is hashed (CRC-32, stable across processes, unlike `hash()`) into a
fixed number of buckets; bucket 0 is padding. A text becomes a row of bucket
ids and weights (its L2-normalised feature counts), padded to the batch's
longest row, which is what both the PyTorch model and its ONNX export read.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from liveinspect.errors import DataError

if TYPE_CHECKING:
    from liveinspect.text.normalize import Normalizer

_LATIN_WORD = re.compile(r"[a-z][a-z'\-]*|\d+")
_WHITESPACE = re.compile(r"\s+")


def normalize_for_classifier(text: str, normalizer: Normalizer | None = None) -> str:
    """The text analyzer's normalization (NFKC, case fold, Traditional -> Simplified,
    evasive separators and homophones undone), with runs of whitespace collapsed. `normalizer`
    is the default policy's unless given; pass `cached_normalizer()` when normalizing many texts."""
    from liveinspect.text.normalize import cached_normalizer

    return _WHITESPACE.sub(" ", (normalizer or cached_normalizer()).normalize(text).text).strip()


@dataclass(frozen=True)
class NgramFeaturizer:
    """Turns texts into hashed (ids, weights) rows; see the module docstring."""

    buckets: int = 1 << 16
    min_n: int = 1
    max_n: int = 3
    latin_words: bool = True

    def __post_init__(self) -> None:
        if self.buckets < 2:
            raise DataError(f"buckets must be at least 2, got {self.buckets}")
        if not 1 <= self.min_n <= self.max_n:
            raise DataError(f"need 1 <= min_n <= max_n, got {self.min_n}, {self.max_n}")

    def to_dict(self) -> dict:
        return asdict(self)

    def _bucket(self, feature: str) -> int:
        return 1 + zlib.crc32(feature.encode("utf-8")) % (self.buckets - 1)

    def features(self, text: str) -> Counter[str]:
        """The un-hashed features of one (already normalized) text, with counts."""
        counts: Counter[str] = Counter()
        for n in range(self.min_n, self.max_n + 1):
            for i in range(len(text) - n + 1):
                gram = text[i:i + n]
                if not gram.isspace():
                    counts[f"c{n}:{gram}"] += 1
        if self.latin_words:
            counts.update(f"w:{word}" for word in _LATIN_WORD.findall(text))
        return counts

    def row(self, text: str, normalizer: Normalizer | None = None) -> tuple[list[int], list[float]]:
        buckets: Counter[int] = Counter()
        for feature, count in self.features(normalize_for_classifier(text, normalizer)).items():
            buckets[self._bucket(feature)] += count
        ids = sorted(buckets)
        norm = float(np.sqrt(sum(c * c for c in buckets.values()))) or 1.0
        return ids, [buckets[i] / norm for i in ids]

    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, weights float32), both (len(texts), longest row); padding is id 0, weight 0."""
        if isinstance(texts, str):
            raise DataError("transform takes a sequence of texts, not one string")
        from liveinspect.text.normalize import cached_normalizer

        normalizer = cached_normalizer()
        rows = [self.row(text, normalizer) for text in texts]
        width = max((len(ids) for ids, _ in rows), default=0) or 1
        ids = np.zeros((len(rows), width), dtype=np.int64)
        weights = np.zeros((len(rows), width), dtype=np.float32)
        for r, (row_ids, row_weights) in enumerate(rows):
            ids[r, :len(row_ids)] = row_ids
            weights[r, :len(row_weights)] = row_weights
        return ids, weights
