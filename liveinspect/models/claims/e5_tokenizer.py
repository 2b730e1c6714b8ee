"""The XLM-RoBERTa SentencePiece (unigram) tokenizer of multilingual-e5, in plain Python.

It reads its vocabulary, scores and normalization map from the packed file
(`e5_format.PackedE5`), so the encoder needs no tokenizer library and no
download. The steps follow SentencePiece's unigram model as the packed
file's own engine runs it: per-code-point normalization, runs of spaces
collapsed, a leading metaspace (U+2581) and spaces turned into metaspaces,
then the highest-scoring segmentation (Viterbi) with an unknown-character
fallback scored 10 below the lowest piece. Every token keeps the span of
input characters it covers, so a finding can quote the words a token-level
score points at.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np

from liveinspect.models.claims.e5_format import PackedE5

METASPACE = "\u2581"


@dataclass(frozen=True)
class Encoding:
    """Token ids (with <s> and </s>) and, per token, the [start, end) characters of the input it
    covers (<s>/</s> and a bare metaspace cover nothing: start == end)."""

    ids: tuple[int, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]


class UnigramTokenizer:
    """`encode(text)` -> `Encoding`; results are cached (repeated OCR lines are common)."""

    def __init__(self, pieces: list[str], scores: np.ndarray, normalization: dict[int, str], *,
                 bos: int, eos: int, unk: int, max_tokens: int = 512, cache_size: int = 8192) -> None:
        self.vocab = {piece: i for i, piece in enumerate(pieces) if piece and i != unk}
        self.scores = [float(s) for s in scores]
        self.normalization = normalization
        self.bos, self.eos, self.unk = bos, eos, unk
        self.unk_score = min(self.scores) - 10.0
        self.max_piece_chars = max(len(p) for p in pieces)
        self.max_tokens = max_tokens
        self._cache: OrderedDict[str, Encoding] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    @classmethod
    def from_packed(cls, packed: PackedE5, **kwargs) -> UnigramTokenizer:
        return cls(packed.pieces, packed.scores, packed.normalization, bos=packed.bos, eos=packed.eos,
                   unk=packed.unk, max_tokens=packed.config.max_positions, **kwargs)

    def _normalized(self, text: str) -> tuple[str, list[int]]:
        """The metaspaced text and, per character, the input index it came from (-1: added)."""
        chars: list[str] = []
        origin: list[int] = []
        for index, ch in enumerate(text):
            replacement = self.normalization.get(ord(ch), ch)
            for out in replacement:
                if out == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse to one
                chars.append(out)
                origin.append(index)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            origin.insert(0, -1)
        return "".join(chars).replace(" ", METASPACE), origin

    def _segment(self, text: str) -> list[tuple[int, int, int]]:
        """Viterbi over the pieces: (piece id, start, end) in `text` characters."""
        n = len(text)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id or -1 for unknown, start)
        best[0] = 0.0
        vocab, scores, limit = self.vocab, self.scores, self.max_piece_chars
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            for end in range(i + 1, min(n, i + limit) + 1):
                piece = vocab.get(text[i:end])
                if piece is not None:
                    score = base + scores[piece]
                    if score > best[end]:
                        best[end] = score
                        back[end] = (piece, i)
            if base + self.unk_score > best[i + 1]:
                best[i + 1] = base + self.unk_score
                back[i + 1] = (-1, i)
        tokens = []
        end = n
        while end > 0:
            piece, start = back[end]
            tokens.append((self.unk if piece < 0 else piece, start, end))
            end = start
        return tokens[::-1]

    def encode(self, text: str) -> Encoding:
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        normalized, origin = self._normalized(text)
        ids, starts, ends = [self.bos], [0], [0]
        for piece, start, end in self._segment(normalized)[:self.max_tokens - 2]:
            # A word's leading metaspace stands for the space before it: not part of the word.
            covered = [origin[k] for k in range(start, end) if origin[k] >= 0 and normalized[k] != METASPACE]
            ids.append(piece)
            if covered:
                starts.append(min(covered))
                ends.append(max(covered) + 1)
            else:
                starts.append(starts[-1] if len(starts) > 1 else 0)
                ends.append(starts[-1])
        ids.append(self.eos)
        starts.append(len(text))
        ends.append(len(text))
        encoding = Encoding(tuple(ids), tuple(starts), tuple(ends))
        with self._lock:
            self._cache[text] = encoding
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return encoding
