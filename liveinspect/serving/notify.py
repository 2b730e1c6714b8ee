"""In-process change counters, so event streams wake as soon as this process stores something.

Changes made by other processes (several services on one PostgreSQL) are
found by the streams' periodic database read; these counters only make the
common case, a stream served by the process that runs the job, immediate.
"""

from __future__ import annotations

import threading


class ChangeCounter:
    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.any = threading.Event()  # set on every change, for workers that sleep until there is work

    def touch(self, key: str) -> None:
        with self._lock:
            self._versions[key] = self._versions.get(key, 0) + 1
        self.any.set()

    def version(self, key: str) -> int:
        return self._versions.get(key, 0)

    def forget(self, key: str) -> None:
        with self._lock:
            self._versions.pop(key, None)
