"""The fuzz corpus imports the shared builders in tests/ (media_factory, hostile_factory)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
