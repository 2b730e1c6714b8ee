"""Run a notebook's code cells in order, in one namespace, as the notebook tests do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run_notebook(path: Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute every code cell of `path`; a failing cell's traceback names it (`name[code cell N]`).
    Pass `namespace` to keep hold of what the cells made even when one fails (to clean up)."""
    namespace = {} if namespace is None else namespace
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    for number, cell in enumerate(cells, start=1):
        exec(compile("".join(cell["source"]), f"{path.name}[code cell {number}]", "exec"), namespace)
    return namespace
