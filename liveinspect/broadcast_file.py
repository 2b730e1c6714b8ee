"""Reading a broadcast's description (title, cover, profile, products) from YAML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from liveinspect.errors import LiveInspectError
from liveinspect.schema import Broadcast, Product


def _read_structured(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LiveInspectError(f"cannot read {path}: {error}") from error
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise LiveInspectError(f"{path} is not valid JSON or YAML: {error}") from error


def load_products(path: str | Path) -> list[Product]:
    """A list of products, or a mapping with a `products` list, from YAML or JSON."""
    path = Path(path)
    data = _read_structured(path)
    if isinstance(data, dict):
        data = data.get("products", [])
    if not isinstance(data, list):
        raise LiveInspectError(f"{path}: expected a list of products")
    try:
        return [Product.model_validate(item) for item in data]
    except ValidationError as error:
        raise LiveInspectError(f"{path}: bad product entry: {error}") from error


def load_broadcast(path: str | Path) -> Broadcast:
    """A broadcast description; relative `source` and `cover` paths are relative to the file."""
    path = Path(path)
    data = _read_structured(path)
    if not isinstance(data, dict):
        raise LiveInspectError(f"{path}: expected a mapping with source, title, cover, ...")
    for key in ("source", "cover"):
        value = data.get(key)
        if isinstance(value, str) and value and "://" not in value and not Path(value).is_absolute():
            data[key] = str((path.parent / value).resolve())
    try:
        return Broadcast.model_validate(data)
    except ValidationError as error:
        raise LiveInspectError(f"{path}: {error}") from error
