"""Local datasets through Hugging Face `datasets`: csv, jsonl/json, parquet, imagefolder,
audiofolder and `save_to_disk` folders. Never a hub: only paths on this machine.

Audio stays a file path here (`datasets`' own Audio decoding needs torchcodec);
the audio task decodes it with PyAV through `liveinspect.media.audio`.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from liveinspect.errors import DataError

FILE_BUILDERS = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".aac"})


def _folder_kind(folder: Path) -> str:
    if (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file() \
            or (folder / "state.json").is_file():
        return "disk"
    suffixes = {p.suffix.lower() for p in folder.rglob("*") if p.is_file()}
    if suffixes & AUDIO_SUFFIXES:
        return "audiofolder"
    if suffixes & IMAGE_SUFFIXES:
        return "imagefolder"
    raise DataError(f"{folder} holds neither a saved dataset, images nor audio files")


def dataset_kind(path: str | Path) -> str:
    """'csv', 'json', 'parquet', 'imagefolder', 'audiofolder' or 'disk' (load_from_disk)."""
    path = Path(path)
    if path.is_dir():
        return _folder_kind(path)
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DataError(f"{path}: unsupported data file type {path.suffix!r}; "
                            f"use one of {sorted(FILE_BUILDERS)} or a folder")
        return builder
    raise DataError(f"data path {path} does not exist")


def load_local_dataset(path: str | Path, *, split: str = "train"):
    """A `datasets.Dataset` read from a local file or folder (see the module docstring)."""
    import datasets

    path = Path(path)
    kind = dataset_kind(path)
    try:
        if kind == "disk":
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise DataError(f"{path} has splits {list(loaded)}, not {split!r}")
                loaded = loaded[split]
        elif kind == "audiofolder":
            labels = sorted({p.parent.name for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES})
            features = datasets.Features({"audio": datasets.Value("string"),
                                          "label": datasets.ClassLabel(names=labels)})
            loaded = datasets.load_dataset("audiofolder", data_dir=str(path), split=split, features=features)
        elif kind == "imagefolder":
            loaded = datasets.load_dataset("imagefolder", data_dir=str(path), split=split)
        else:
            loaded = datasets.load_dataset(kind, data_files=str(path), split=split)
    except DataError:
        raise
    except Exception as error:  # datasets raises many types for unreadable files
        raise DataError(f"cannot load {kind} data from {path}: {error}") from error
    if len(loaded) == 0:
        raise DataError(f"{path} holds no rows")
    return loaded


def data_sha256(path: str | Path) -> str:
    """SHA-256 over a file, or over every file of a folder (relative names and contents, in order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as stream:
            for block in iter(lambda s=stream: s.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def label_ids(dataset, column: str = "label",
              labels: Sequence[str] | None = None) -> tuple[list[int], list[str]]:
    """Integer label per row and the label names, from a ClassLabel or a string column.

    With `labels` given, their order is kept and an unknown label is an error.
    """
    import datasets

    if column not in dataset.column_names:
        raise DataError(f"the data has no {column!r} column (columns: {dataset.column_names})")
    feature = dataset.features[column]
    values = dataset[column]
    if isinstance(feature, datasets.ClassLabel):
        values = [feature.int2str(v) for v in values]
    values = [str(v) for v in values]
    names = list(labels) if labels is not None else sorted(set(values))
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise DataError(f"labels {unknown} are not among {names}")
    return [index[v] for v in values], names


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices (train, validation): each label contributes `val_fraction` of its rows
    (at least one when it has two or more), chosen by `seed`."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    by_label: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        by_label[label].append(row)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_label):
        rows = by_label[label][:]
        rng.shuffle(rows)
        n_val = round(len(rows) * val_fraction)
        if val_fraction > 0 and n_val == 0 and len(rows) >= 2:
            n_val = 1
        val.extend(rows[:n_val])
        train.extend(rows[n_val:])
    return sorted(train), sorted(val)
