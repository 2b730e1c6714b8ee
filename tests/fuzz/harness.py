"""Run the CLI on one hostile input in a child process under a memory cap and a wall-time cap.

The child's address space is capped with RLIMIT_AS (torch and ONNX Runtime
reserve far more virtual memory than they touch, so the cap is AS_LIMIT and
the bound asserted is on the *resident* peak, from wait4's rusage). Every
run must end inside its wall time with a documented exit code and without a
Python traceback on stderr.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXIT_CODES = {0, 1, 2, 3}           # README "Exit codes"
PEAK_RSS_LIMIT_MB = 3 * 1024        # issue 9: a full scan of any hostile input stays under 3 GB
AS_LIMIT = 12 << 30                 # virtual: torch maps big arenas it never touches
DEFAULT_WALL_S = 90.0


@dataclass
class Outcome:
    args: list[str]
    code: int
    stderr: str
    peak_rss_mb: float
    seconds: float

    def check(self, wall_s: float = DEFAULT_WALL_S) -> None:
        shown = " ".join(self.args)
        assert self.code in EXIT_CODES, f"{shown}: exit {self.code}\n{self.stderr[-2000:]}"
        assert "Traceback (most recent call last)" not in self.stderr, f"{shown}:\n{self.stderr[-3000:]}"
        assert self.peak_rss_mb < PEAK_RSS_LIMIT_MB, f"{shown}: peak RSS {self.peak_rss_mb:.0f} MB"
        assert self.seconds < wall_s, f"{shown}: {self.seconds:.1f} s"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    os.nice(10)


def run_cli(args: list[str], *, wall_s: float = DEFAULT_WALL_S, stdin: bytes | None = None) -> Outcome:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = time.monotonic()
    # The child reports its own resident peak (and its children's) when it exits.
    script = ("import atexit, resource, sys\n"
              "def _peak():\n"
              "    kb = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, "
              "resource.RUSAGE_CHILDREN))\n"
              "    sys.stderr.write(f'\\nFUZZ_PEAK_KB={kb}\\n')\n"
              "atexit.register(_peak)\n"
              "from liveinspect.cli import main\nsys.exit(main())")
    child = subprocess.Popen([sys.executable, "-c", script, *args], env=env, preexec_fn=_limits,
                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = child.communicate(stdin, timeout=wall_s + 30)
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
    seconds = time.monotonic() - started
    text = err.decode("utf-8", "replace")
    marker = text.rfind("FUZZ_PEAK_KB=")
    peak = float(text[marker + 13:].split()[0]) / 1024 if marker >= 0 else float("inf")
    return Outcome(args, child.returncode, text[:marker] if marker >= 0 else text, peak, seconds)
