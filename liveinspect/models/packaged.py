"""Files that installed packages ship: where registry packages put model weights."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path, PurePath


def installed_files(distribution: str, match: Callable[[PurePath], bool]) -> Iterator[Path]:
    """Paths of the files of an installed distribution that `match` accepts (none if not installed)."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return
    for entry in dist.files or ():
        if match(entry):
            yield Path(str(dist.locate_file(entry)))


def installed_file(distribution: str, relative: str) -> Path | None:
    """One file of an installed distribution by its path inside site-packages, if it is there."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.exists() else None
