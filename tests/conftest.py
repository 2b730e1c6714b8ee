"""Test-wide setup: `bench/` on the import path, for the speech corpus and scoring it shares with the tests.

Those modules (`asr_corpus`, `asr_wer`, `asr_longform`) are benchmark and
test code, so they live outside the wheel; both `bench/asr.py` and the
speech tests import them by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
