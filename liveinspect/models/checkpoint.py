"""Checkpoints: weights in safetensors beside a JSON model card; loading never unpickles.

A checkpoint is a folder holding `model.safetensors` and `model_card.json`.
The card says what the model is for (task, labels, architecture), what it
learnt from (data path, SHA-256, row counts), how well it did (metrics),
with which libraries and when, and the SHA-256 of the weights file, which
`load_checkpoint` verifies before reading a byte of it.

This module needs no torch: weights are written and read with
`safetensors.numpy` (torch tensors given to `save_checkpoint` are converted
first, which writes the same bytes as `safetensors.torch` would), so an edge
node can read a model card and its weights with numpy alone.
`load_checkpoint(..., framework="pt")` hands back torch tensors for callers
that load a state dict into a module.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from liveinspect.errors import CheckpointError

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model_card.json"
CARD_FORMAT = "liveinspect-checkpoint/1"
REQUIRED_CARD_KEYS = ("format", "task", "labels", "architecture", "data", "metrics", "versions",
                      "created", "weights")
_LIBRARIES = ("liveinspect", "torch", "numpy", "safetensors", "datasets", "transformers", "onnxruntime")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries a checkpoint depends on."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: duck-typed so this module never imports torch
        value = value.detach().to("cpu").contiguous().numpy()
    return np.ascontiguousarray(value)


def save_checkpoint(directory: str | Path, tensors: Mapping[str, Any],
                    card: Mapping[str, Any]) -> Path:
    """Write `tensors` (numpy arrays or torch tensors) and the completed model card into
    `directory`; returns the card's path.

    `card` must hold task, labels, architecture, data and metrics; format,
    versions, date and the weights' checksum are filled in here.
    """
    from safetensors.numpy import save_file

    missing = [key for key in ("task", "labels", "architecture", "data", "metrics") if key not in card]
    if missing:
        raise CheckpointError(f"model card lacks {missing}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / WEIGHTS_FILE
    # One metadata key only: safetensors writes a map's keys in hash order, and a
    # byte-identical file for identical weights keeps the checksum (the version) reproducible.
    save_file({name: _as_array(tensor) for name, tensor in tensors.items()},
              str(weights_path), metadata={"format": "pt"})
    full_card = {"format": CARD_FORMAT, **card, "versions": library_versions(),
                 "created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(weights_path),
                             "bytes": weights_path.stat().st_size}}
    card_path = directory / CARD_FILE
    card_path.write_text(json.dumps(full_card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card_path


def read_card(directory: str | Path) -> dict[str, Any]:
    card_path = Path(directory) / CARD_FILE
    if not card_path.is_file():
        raise CheckpointError(f"{directory} is not a liveinspect checkpoint: {CARD_FILE} is missing")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read {card_path}: {error}") from error
    missing = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if card.get("format") != CARD_FORMAT or missing:
        raise CheckpointError(f"{card_path} is not a {CARD_FORMAT} model card (missing {missing})")
    _check_weights_entry(card, card_path)
    return card


def _check_weights_entry(card: dict[str, Any], card_path: Path) -> None:
    """The card names a weights file inside its own folder: a card from elsewhere must not make the
    loader open (or reveal the existence of) any other file on the machine."""
    weights = card.get("weights")
    name = weights.get("file") if isinstance(weights, dict) else None
    if not isinstance(name, str) or not isinstance(weights.get("sha256"), str):
        raise CheckpointError(f"{card_path}: 'weights' must give a 'file' name and its 'sha256'")
    folder = card_path.parent.resolve()
    if Path(name).name != name or name in ("", ".", "..") or (folder / name).resolve().parent != folder:
        raise CheckpointError(f"{card_path}: weights file {name!r} must be a plain file name in the "
                              "checkpoint's own folder")


def load_checkpoint(directory: str | Path, *, task: str | None = None,
                    framework: Literal["numpy", "pt"] = "numpy") -> tuple[dict[str, Any], dict[str, Any]]:
    """The tensors (numpy arrays, or torch tensors with framework="pt") and card of a
    checkpoint, after checking the card and the weights' SHA-256."""
    if framework == "pt":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file

    card = read_card(directory)
    if task is not None and card["task"] != task:
        raise CheckpointError(f"{directory} holds a {card['task']!r} model, not {task!r}")
    weights_path = Path(directory) / card["weights"]["file"]
    if not weights_path.is_file():
        raise CheckpointError(f"weights file {weights_path} is missing")
    actual = file_sha256(weights_path)
    if actual != card["weights"]["sha256"]:
        raise CheckpointError(f"{weights_path} has SHA-256 {actual}, but the model card says "
                              f"{card['weights']['sha256']}: the file is corrupt or was replaced")
    try:
        tensors = load_file(str(weights_path))
    except Exception as error:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"cannot read {weights_path}: {error}") from error
    return tensors, card
