"""Policy regexes with bounded running time: checked when the policy loads, timed on every call.

Policy patterns are data a user can replace (`--policy`), and Python's `re`
backtracks: `\\s*(?:元)?\\s*[, ]*` took 20 s on 2,000 spaces and minutes on
4,000. A linear-time engine (RE2) would end that, but the shipped patterns
need look-behind and look-ahead (`(?<![a-z])top\\s?1(?![0-9])`), which RE2
does not have. So patterns run on the `regex` module (the same syntax as
`re`, already installed by transformers) in two layers:

1. At load time each pattern is compiled and run against hostile probes:
   long runs of spaces, digits, letters and separators after each literal
   the pattern contains (`原价` + 3,000 spaces). A pattern that needs more
   than PROBE_TIMEOUT_S of CPU time for a probe (or more than PROBE_WALL_S
   of wall time) is refused with a PolicyError naming it, so a backtracking
   pattern never reaches a scan. CPU time, not wall time, is the budget: a
   node busy with other work must not refuse a linear pattern (the shipped
   quadratic `n-day` pattern needs ~0.02 s of a probe's 0.2 s when idle).
2. Every call has a time budget that grows with the text
   (`call_budget_s`); past it `PatternBudgetError` is raised, naming the
   pattern, so the caller skips that one text with a recorded error
   instead of hanging.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import regex

from liveinspect.errors import LiveInspectError, PolicyError

PROBE_LENGTH = 1_000
PROBE_TIMEOUT_S = 0.2  # CPU seconds one probe may take
PROBE_WALL_S = 5.0  # wall-clock bound of one probe: starved 25x, a probe is refused, never waited on
# A linear pattern scans millions of characters a second; these allow 20x
# that, up to CALL_MAX_S, so one text costs at most patterns x CALL_MAX_S.
# A backtracking engine is still quadratic in the worst case (`[0-9]+天` over
# 64,000 digits: two minutes); the budget turns that into a recorded error.
CALL_BASE_S = 0.5
CALL_PER_CHAR_S = 2e-6
CALL_MAX_S = 2.0
# Runs of what survives normalization (NFKC folds full-width forms into these).
_PROBE_RUNS = (" ", "0", "a", ".", ",", "、", "中", "_")
_LITERAL = re.compile(r"(?<!\\)[^\\\[\](){}?*+|^$.]{1,8}")


class PatternBudgetError(LiveInspectError):
    """A policy pattern ran past its time budget on one text; that text was not fully checked."""


def call_budget_s(length: int) -> float:
    return min(CALL_MAX_S, CALL_BASE_S + CALL_PER_CHAR_S * length)


def _probes(pattern: str) -> Iterator[str]:
    # Backtracking needs the engine to get into the pattern first: start after
    # its first literal (原价), with a number or a word after it (原价123 ...).
    first = next((m.group() for m in _LITERAL.finditer(pattern) if m.group().strip()), "")
    runs = tuple(dict.fromkeys(_PROBE_RUNS + tuple(first)))   # and runs of the literal's own characters
    for lead in dict.fromkeys(("", first)):
        for after in ("", "1", "a"):
            for run in runs:
                yield lead + after + run * PROBE_LENGTH + "\x00"


@dataclass(frozen=True)
class BoundedPattern:
    """A compiled pattern whose every search is timed (see the module docstring)."""

    source: str
    compiled: regex.Pattern
    name: str = ""

    def finditer(self, text: str) -> list[regex.Match]:
        """All matches, or PatternBudgetError when the search runs past its budget."""
        budget = call_budget_s(len(text))
        try:
            return list(self.compiled.finditer(text, timeout=budget))
        except TimeoutError as error:
            raise PatternBudgetError(
                f"policy pattern {self.name or self.source!r} ran past its {budget:.1f} s budget on a "
                f"text of {len(text):,} characters; that text was not fully checked") from error

    def search(self, text: str) -> regex.Match | None:
        """The first match, or PatternBudgetError when the search runs past its budget."""
        budget = call_budget_s(len(text))
        try:
            return self.compiled.search(text, timeout=budget)
        except TimeoutError as error:
            raise PatternBudgetError(
                f"policy pattern {self.name or self.source!r} ran past its {budget:.1f} s budget on a "
                f"text of {len(text):,} characters; that text was not fully checked") from error

    def sub(self, replacement, text: str) -> str:
        try:
            return self.compiled.sub(replacement, text, timeout=call_budget_s(len(text)))
        except TimeoutError as error:
            raise PatternBudgetError(f"policy pattern {self.name or self.source!r} ran past its budget "
                                     f"on a text of {len(text):,} characters") from error


def compile_bounded(pattern: str, *, name: str = "", flags: int = 0, probe: bool = True) -> BoundedPattern:
    """Compile `pattern` (re syntax) and refuse it when a hostile probe makes it backtrack.

    Raises PolicyError naming the pattern: invalid syntax, or too slow on a probe.
    """
    what = name or pattern
    try:
        compiled = regex.compile(pattern, flags | regex.VERSION0)
        re.compile(pattern, flags)   # the documented syntax is `re`'s; refuse regex-only extensions
    except (regex.error, re.error) as error:
        raise PolicyError(f"invalid regular expression {what!r}: {error}") from error
    if probe:
        _probe(pattern, flags, what)
    return BoundedPattern(source=pattern, compiled=compiled, name=name)


@functools.lru_cache(maxsize=1024)
def _probe_once(pattern: str, flags: int) -> str | None:
    """The first probe `pattern` cannot get through in time, or None (cached per process)."""
    compiled = regex.compile(pattern, flags | regex.VERSION0)
    return next((text for text in _probes(pattern) if _too_slow(compiled, text)), None)


def _too_slow(compiled: regex.Pattern, text: str) -> bool:
    """Whether matching `text` takes more than PROBE_TIMEOUT_S of this thread's CPU time. It runs
    first with that as its wall-clock timeout (a fast refusal on an idle machine); a timeout that
    used less CPU than that was starved by other work and runs again under PROBE_WALL_S."""
    for timeout in (PROBE_TIMEOUT_S, PROBE_WALL_S):
        started = time.thread_time()
        try:
            for _ in compiled.finditer(text, timeout=timeout):
                pass
        except TimeoutError:
            if time.thread_time() - started >= 0.9 * PROBE_TIMEOUT_S:
                return True   # it spent the CPU: slow, not starved
            continue
        return time.thread_time() - started > PROBE_TIMEOUT_S
    return True   # starved past the wall bound too: refused rather than waited on


def _probe(pattern: str, flags: int, what: str) -> None:
    text = _probe_once(pattern, flags)
    if text is not None:
        shown = text[:12].replace("\n", "\\n") + "..."
        raise PolicyError(
            f"regular expression {what!r} backtracks catastrophically (more than "
            f"{PROBE_TIMEOUT_S} s of CPU time on {len(text):,} characters starting {shown!r}); rewrite it so "
            "that adjacent repeats cannot match the same characters, e.g. "
            r"'\s*[, ]*' -> '[\s,]*'")

