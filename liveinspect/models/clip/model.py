"""`ClipModel`: an open_clip model loaded offline, as numpy preprocessing -> backend -> unit embeddings.

open_clip builds the architecture and the tokenizer (both torch), so the
model itself runs on the torch backend; image preprocessing is numpy and PIL
(`preprocess.ImagePreprocess`, matching open_clip's transform), and each
tower is a tensor-only module (`encoders.py`) behind `TorchBackend`, which
is the shape the ONNX export of the towers needs.
"""

from __future__ import annotations

import copy
import hashlib
from functools import cached_property
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from liveinspect.backends.base import Backend, BackendOptions

from liveinspect.errors import CheckpointError, LiveInspectError, WeightsNotFoundError
from liveinspect.models.clip.preprocess import ImagePreprocess, embed_images
from liveinspect.models.clip.loader import (
    _offline,
    read_state_dict,
    register_model_config,
    resolve_clip_source,
)


def _fingerprint(path: Path) -> str:
    """A short id of the checkpoint: size plus the hash of its first and last MiB (cheap on GBs)."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, path.stat().st_size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:12]


def _point_text_tower_at(config: dict[str, Any], text_model_dir: Path | None) -> dict[str, Any]:
    text_cfg = config.get("text_cfg", {})
    if "hf_model_name" not in text_cfg:
        return config
    if text_model_dir is None:
        if Path(str(text_cfg["hf_model_name"])).is_dir():
            return config
        raise WeightsNotFoundError(
            f"the text tower is the Hugging Face model {text_cfg['hf_model_name']!r}; pass "
            "text_model_dir= a local folder with its config.json and tokenizer files")
    if not (text_model_dir / "config.json").is_file():
        raise WeightsNotFoundError(f"{text_model_dir} has no config.json for the HF text tower")
    config = copy.deepcopy(config)
    config["text_cfg"]["hf_model_name"] = str(text_model_dir)
    config["text_cfg"]["hf_tokenizer_name"] = str(text_model_dir)
    return config


def _load_weights(model: Any, state: dict) -> None:
    """Load a CLIP state dict with open_clip's own format conversions, strictly."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed, resize_text_pos_embed

    state = convert_state_dict(model, state)
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):
        target = getattr(model, key, None)
        if key in state and target is not None and state[key].ndim != target.ndim:
            state[key] = state[key].reshape(target.shape)
    state.pop("text.transformer.embeddings.position_ids", None)
    resize_pos_embed(state, model)
    resize_text_pos_embed(state, model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint does not fit the architecture: {error}") from error


class ClipModel:
    """Image and text embeddings (L2-normalised numpy arrays) from one open_clip model.

    `image_backend` takes `pixels` (N, 3, H, W) float32 and `text_backend` takes
    `tokens` (N, context) int64; both give `embeddings`. `image_preprocess` turns
    an RGB uint8 image into those pixels; `tokenize` turns texts into token ids.
    `preprocess` keeps open_clip's own (torchvision) transform, the reference the
    numpy one is tested against.
    """

    def __init__(self, image_backend: Backend, text_backend: Backend,
                 image_preprocess: Callable[[np.ndarray], np.ndarray],
                 tokenize: Callable[[list[str]], np.ndarray], *, name: str, version: str,
                 logit_scale: float, preprocess: Any = None, hf_text_tower: str | None = None) -> None:
        self.image_backend = image_backend
        self.text_backend = text_backend
        self.image_preprocess = image_preprocess
        self.tokenize = tokenize
        self.name = name
        self.version = version
        self.logit_scale = float(logit_scale)
        self.preprocess = preprocess
        # The Hugging Face text model, when the text tower is one (multilingual CLIPs use xlm-roberta).
        self.hf_text_tower = hf_text_tower

    @classmethod
    def load(cls, model_name: str | None = None, checkpoint: str | Path | None = None, *,
             pretrained: str | None = None, cache_dir: str | Path | None = None,
             text_model_dir: str | Path | None = None, device: str = "cpu",
             backend: BackendOptions | None = None) -> "ClipModel":
        """Build the architecture with open_clip's factory and load local weights into it.

        Raises WeightsNotFoundError (the caller reports "skipped: no weights") when
        nothing local is found; never downloads. `backend` (torch only: open_clip
        models are torch models) sets device, threads and precision; else `device`.
        A folder written by `liveinspect export --models clip` (as `model_name` or
        `checkpoint`) loads as an `ExportedClip` on ONNX Runtime, without torch.
        """
        from liveinspect.models.clip.exported import ExportedClip, is_exported_clip_dir

        for given in (model_name, checkpoint):
            if is_exported_clip_dir(given):
                onnx = backend if backend is not None and backend.kind == "onnx" else None
                return ExportedClip(given, onnx)
        _offline()
        import open_clip

        from liveinspect.models.clip.encoders import tokens_of, torch_backends

        options = backend or BackendOptions(device=device)
        if options.kind != "torch":
            raise LiveInspectError("open_clip models run on the torch backend; export the towers to "
                                   "ONNX for an ONNX-only node")
        source = resolve_clip_source(model_name, checkpoint, pretrained=pretrained, cache_dir=cache_dir)
        config = _point_text_tower_at(source.config,
                                      Path(text_model_dir) if text_model_dir else None)
        private_name = register_model_config(f"liveinspect--{source.model_name}", config)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                private_name, pretrained=None, pretrained_image=False, pretrained_text=False)
        except OSError as error:  # HF configs or tokenizers that are not on disk
            raise WeightsNotFoundError(f"cannot build {source.model_name!r} offline: {error}") from error
        _load_weights(model, read_state_dict(source.checkpoint))
        tokenizer = open_clip.get_tokenizer(private_name)
        version = f"{source.model_name}@{_fingerprint(source.checkpoint)}"
        preprocess_cfg = getattr(model.visual, "preprocess_cfg", {})
        # open_clip settings the numpy path does not reproduce fall back to open_clip's transform.
        if ImagePreprocess.supports(preprocess_cfg):
            image_preprocess = ImagePreprocess.from_config(preprocess_cfg)
        else:
            image_preprocess = _torchvision_preprocess(preprocess)
        logit_scale = float(model.logit_scale.exp().item())
        image_backend, text_backend = torch_backends(model.eval(), options)
        return cls(image_backend, text_backend, image_preprocess, lambda texts: tokens_of(tokenizer, texts),
                   name=source.model_name, version=version, logit_scale=logit_scale, preprocess=preprocess,
                   hf_text_tower=config.get("text_cfg", {}).get("hf_model_name"))

    @cached_property
    def embed_dim(self) -> int:
        return int(self.embed_texts(["a"]).shape[1])

    def embed_images(self, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """(N, D) unit vectors for RGB uint8 images."""
        return embed_images(images, self.image_preprocess, self.image_backend, self.embed_dim, batch_size)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, D) unit vectors for texts (prompts)."""
        if not texts:
            raise LiveInspectError("no texts to embed")
        chunks = [self.text_backend.run({"tokens": self.tokenize(list(texts[start:start + batch_size]))})
                  ["embeddings"] for start in range(0, len(texts), batch_size)]
        return np.concatenate(chunks)


def _torchvision_preprocess(transform: Any) -> Callable[[np.ndarray], np.ndarray]:
    def preprocess(image: np.ndarray) -> np.ndarray:
        from PIL import Image

        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise LiveInspectError("CLIP expects RGB uint8 images (H, W, 3)")
        return transform(Image.fromarray(image)).numpy()

    return preprocess
