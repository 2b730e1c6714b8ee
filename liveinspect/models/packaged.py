"""Files that installed packages ship: where registry packages put model weights."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path, PurePath


def _installed(distribution: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed_files(distribution: str, match: Callable[[PurePath], bool]) -> Iterator[Path]:
    """Paths of the files of an installed distribution that `match` accepts (none if not installed)."""
    dist = _installed(distribution)
    for entry in (dist.files or ()) if dist else ():
        if match(entry):
            yield Path(str(dist.locate_file(entry)))


def installed_file(distribution: str, relative: str) -> Path | None:
    """One file of an installed distribution by its path inside site-packages, if it is there."""
    dist = _installed(distribution)
    if dist is None:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.exists() else None
