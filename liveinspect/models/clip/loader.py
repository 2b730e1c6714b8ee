"""Load any open_clip architecture from local weights; never download.

open_clip's factory (`create_model_and_transforms`) builds the architecture
from its JSON config; weights come from a file the user names, a
`local-dir`-style folder (`open_clip_config.json` + weights), or files that
open_clip already put in its own caches (the Hugging Face hub cache or
`~/.cache/clip`). The model is always created with `pretrained=None` and no
tower weights, then the state dict is read here with safetensors or
`torch.load(weights_only=True)`, so nothing is fetched and nothing unpickled.

Text towers built on Hugging Face models (e.g. xlm-roberta in the
multilingual CLIPs) need the HF model config and tokenizer files; pass
`text_model_dir`, a folder holding them, and the config is pointed at it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveinspect.errors import CheckpointError, LiveInspectError, WeightsNotFoundError

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_PREFERRED_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                    "model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin",
                    "open_clip_pytorch_model.pth", "model.pth")


def _offline() -> None:
    # Belt and braces: even a code path we did not foresee must not reach the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


@dataclass(frozen=True)
class ClipSource:
    """Where a CLIP model's architecture and weights were found."""

    model_name: str
    checkpoint: Path
    config: dict[str, Any]


def register_model_config(name: str, config: dict[str, Any] | str | Path) -> str:
    """Make a custom architecture (a dict or a JSON file) known to open_clip under `name`."""
    import open_clip

    if not isinstance(config, dict):
        path = Path(config)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise LiveInspectError(f"{path}: not a readable open_clip model config: {error}") from error
    config = config.get("model_cfg", config)
    if "vision_cfg" not in config or "text_cfg" not in config or "embed_dim" not in config:
        raise LiveInspectError(f"model config for {name!r} needs embed_dim, vision_cfg and text_cfg")
    folder = Path(tempfile.mkdtemp(prefix="liveinspect-clip-config-"))
    (folder / f"{name}.json").write_text(json.dumps(config), encoding="utf-8")
    open_clip.add_model_config(folder / f"{name}.json")
    return name


def _checkpoint_in(folder: Path) -> Path | None:
    for name in _PREFERRED_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file())
    return found[0] if found else None


def _cached_checkpoint(model_name: str, tag: str, cache_dir: str | Path | None) -> Path | None:
    """The weights for (model, tag) if open_clip's own downloads left them in a cache."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model_name, tag)
    if not cfg:
        return None
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") \
            else (hub.rstrip("/"), "")
        names = [filename] if filename else []
        names += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            hit = try_to_load_from_cache(repo, name, cache_dir=str(cache_dir) if cache_dir else None)
            if isinstance(hit, str) and Path(hit).is_file():
                return Path(hit)
    url = cfg.get("url", "")
    if url:
        candidate = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
        if candidate.is_file():
            return candidate
    return None


def resolve_clip_source(model_name: str | None = None, checkpoint: str | Path | None = None, *,
                        pretrained: str | None = None, cache_dir: str | Path | None = None,
                        ) -> ClipSource:
    """Find architecture and weights locally, or raise WeightsNotFoundError saying what to pass.

    - `checkpoint` a file: weights for `model_name` (a built-in or registered config).
    - `checkpoint` a folder: with `open_clip_config.json` it also gives the architecture
      (open_clip's `local-dir` layout); otherwise its weights file is used with `model_name`.
    - no `checkpoint`: `pretrained` (a tag such as 'laion2b_s34b_b79k') is looked up in
      open_clip's caches.
    """
    from open_clip.factory import get_model_config

    config: dict[str, Any] | None = None
    path = Path(checkpoint).expanduser() if checkpoint is not None else None
    if path is not None and path.is_dir():
        local_config = path / "open_clip_config.json"
        if local_config.is_file():
            data = json.loads(local_config.read_text(encoding="utf-8"))
            model_name = model_name or f"local-{path.name}"
            register_model_config(model_name, data)
        path = _checkpoint_in(path)
        if path is None:
            raise WeightsNotFoundError(f"no weights file ({', '.join(CHECKPOINT_SUFFIXES)}) in "
                                       f"{checkpoint}")
    if not model_name:
        raise WeightsNotFoundError("no CLIP model configured; pass an open_clip architecture name "
                                   "and a checkpoint path")
    config = get_model_config(model_name)
    if config is None:
        raise LiveInspectError(f"unknown open_clip architecture {model_name!r}; register its JSON "
                               "config with register_model_config() or put open_clip_config.json "
                               "next to the weights")
    if path is None and pretrained:
        path = _cached_checkpoint(model_name, pretrained, cache_dir)
    if path is None:
        where = f" (tag {pretrained!r} is not in open_clip's cache)" if pretrained else ""
        raise WeightsNotFoundError(f"no weights for CLIP model {model_name!r}{where}; pass a local "
                                   "checkpoint (.safetensors, or .pt/.bin saved as a state dict)")
    if not path.is_file():
        raise WeightsNotFoundError(f"CLIP checkpoint {path} does not exist")
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"{path}: unsupported checkpoint type {path.suffix!r}; "
                              f"expected one of {', '.join(CHECKPOINT_SUFFIXES)}")
    return ClipSource(model_name, path, config)


def read_state_dict(path: Path) -> dict:
    """Tensors of a checkpoint without unpickling code (safetensors or weights_only)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure here means an unusable file
        raise CheckpointError(f"{path}: cannot read checkpoint: {error}") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: not a state dict of tensors")
    if next(iter(state)).startswith("module."):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state
