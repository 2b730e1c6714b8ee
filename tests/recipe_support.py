"""Importing a module of recipes/synthetic (scripts, not part of the wheel) for the duration of a test."""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "synthetic"


@contextlib.contextmanager
def synthetic_recipe(name: str):
    """The recipe module `name`, with recipes/synthetic on the import path only inside the block (the
    recipes import each other by name)."""
    sys.path.insert(0, str(RECIPES))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(RECIPES))
