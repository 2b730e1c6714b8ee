"""How long one decoding pass may wait on its source, counted only while it waits.

`--max-duration 5` must bound a scan's wall time even when the peer trickles
a few bytes every few seconds (each read well inside the network timeout).
The budget counts the seconds spent inside the demuxer and the reads under
it, not the time the caller spends analysing what it was given, so a slow
model on a local file never trips it.
"""

from __future__ import annotations

import time

from liveinspect.errors import MediaError


class ReadBudget:
    """Seconds of waiting allowed (`limit_s`; None: unbounded) and seconds used so far."""

    def __init__(self, limit_s: float | None) -> None:
        self.limit_s = limit_s
        self.spent = 0.0
        self._since: float | None = None

    def begin(self) -> None:
        self._since = time.monotonic()

    def end(self) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def used(self) -> float:
        running = time.monotonic() - self._since if self._since is not None else 0.0
        return self.spent + running

    def exceeded(self) -> bool:
        return self.limit_s is not None and self.used() > self.limit_s

    def check(self, name: str | None = None) -> None:
        """Raise MediaError once the budget is spent."""
        if self.exceeded():
            raise MediaError(f"the source took more than {self.limit_s:.0f} s to deliver its media "
                             "(a peer sending too slowly); stopped", source=name)
