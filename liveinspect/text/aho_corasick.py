"""A small Aho-Corasick automaton: every occurrence of many literal strings in one pass.

One pass over the text finds all (also overlapping) occurrences of all
terms, so the cost per line does not grow with the size of the lexicon the
way a loop over terms or a big regex alternation (first match only) would.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator


class AhoCorasick:
    def __init__(self, keys: Iterable[str]) -> None:
        self.keys: list[str] = []
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._out: list[list[int]] = [[]]
        for key in dict.fromkeys(keys):
            if key:
                self._add(key)
        self._link()

    def _add(self, key: str) -> None:
        state = 0
        for ch in key:
            nxt = self._goto[state].get(ch)
            if nxt is None:
                nxt = len(self._goto)
                self._goto[state][ch] = nxt
                self._goto.append({})
                self._fail.append(0)
                self._out.append([])
            state = nxt
        self._out[state].append(len(self.keys))
        self.keys.append(key)

    def _link(self) -> None:
        queue = deque(self._goto[0].values())
        while queue:
            state = queue.popleft()
            for ch, nxt in self._goto[state].items():
                queue.append(nxt)
                fallback = self._fail[state]
                while fallback and ch not in self._goto[fallback]:
                    fallback = self._fail[fallback]
                target = self._goto[fallback].get(ch, 0)
                self._fail[nxt] = target if target != nxt else 0
                self._out[nxt] = self._out[nxt] + self._out[self._fail[nxt]]

    def find_all(self, text: str) -> Iterator[tuple[int, int, str]]:
        """Yield (start, end, key) for every occurrence, ordered by end position."""
        goto, fail, out, keys = self._goto, self._fail, self._out, self.keys
        state = 0
        for index, ch in enumerate(text):
            while state and ch not in goto[state]:
                state = fail[state]
            state = goto[state].get(ch, 0)
            for key_index in out[state]:
                key = keys[key_index]
                yield index + 1 - len(key), index + 1, key
