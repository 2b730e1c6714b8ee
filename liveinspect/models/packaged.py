"""Files that installed packages ship: where registry packages put model weights.

An edge node may hold such files without their package (whose other
dependencies it must not install, e.g. torch): an export copies them to
`<root>/<distribution>/<path inside site-packages>` (`PACKAGED_DIR` of the
export), and a root added with `add_packaged_root` (or listed in
`$LIVEINSPECT_PACKAGED_ROOT`, separated by the path separator) is looked in
before the installed distributions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path, PurePath

PACKAGED_DIR = "packaged"  # where an export keeps files copied from registry packages
ROOT_ENV = "LIVEINSPECT_PACKAGED_ROOT"
CACHE_ENV = "LIVEINSPECT_CACHE"
_roots: list[Path] = []


def cache_dir() -> Path:
    """Where files converted from packaged weights are kept (Whisper's safetensors, the e5 and MTCNN
    ONNX graphs): `$LIVEINSPECT_CACHE`, else `~/.cache/liveinspect`."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "liveinspect")


def add_packaged_root(root: str | Path) -> None:
    """Look for packages' files under `root/<distribution>/` first (an edge bundle's `packaged/`)."""
    path = Path(root)
    if path not in _roots:
        _roots.insert(0, path)


def _packaged_roots() -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(ROOT_ENV, "").split(os.pathsep) if p]
    return [*_roots, *from_env]


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
    """One file of an installed distribution by its path inside site-packages, if it is there
    (under an added packaged root first)."""
    for root in _packaged_roots():
        copied = root / distribution / relative
        if copied.is_file():
            return copied
    dist = _installed(distribution)
    if dist is None:
        return None
    path = Path(str(dist.locate_file(relative)))
    return path if path.exists() else None
