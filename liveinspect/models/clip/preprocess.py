"""CLIP image preprocessing in numpy and PIL: resize, centre crop, scale and normalise.

It reproduces open_clip's evaluation transform for its common settings
(`resize_mode` "shortest" with a square size, and "squash"): the same PIL
resampling, the same crop offsets, so embeddings match open_clip's own
pipeline to float precision (tested), without torchvision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError

_RESAMPLING = {"bicubic": "BICUBIC", "bilinear": "BILINEAR", "nearest": "NEAREST", "lanczos": "LANCZOS"}


@dataclass(frozen=True)
class ImagePreprocess:
    """RGB uint8 (H, W, 3) -> float32 (3, height, width), as the CLIP tower expects."""

    size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @classmethod
    def supports(cls, config: dict[str, Any]) -> bool:
        size = config.get("size")
        square = isinstance(size, int) or (isinstance(size, (tuple, list)) and len(set(size)) == 1)
        return (config.get("interpolation", "bicubic") in _RESAMPLING
                and (config.get("resize_mode", "shortest") == "squash"
                     or (config.get("resize_mode", "shortest") == "shortest" and square)))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImagePreprocess:
        """From open_clip's `model.visual.preprocess_cfg`."""
        if not cls.supports(config):
            raise LiveInspectError(f"no numpy preprocessing for CLIP preprocess config {config}")
        size = config["size"]
        size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        return cls(size=size, mean=tuple(config["mean"]), std=tuple(config["std"]),
                   interpolation=config.get("interpolation", "bicubic"),
                   resize_mode=config.get("resize_mode", "shortest"))

    def _resized(self, image):
        from PIL import Image

        resample = getattr(Image.Resampling, _RESAMPLING[self.interpolation])
        height, width = self.size
        if self.resize_mode == "squash":
            return image.resize((width, height), resample)
        # Shorter side to the target, the longer one in proportion (truncated, as torchvision does).
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = height, int(height * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), resample)
        top = int(round((new_h - height) / 2.0))
        left = int(round((new_w - width) / 2.0))
        return image.crop((left, top, left + width, top + height))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise LiveInspectError("CLIP expects RGB uint8 images (H, W, 3)")
        pixels = np.asarray(self._resized(Image.fromarray(image).convert("RGB")), dtype=np.float32) / 255.0
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        return ((pixels - mean) / std).transpose(2, 0, 1)

    def batch(self, images) -> np.ndarray:
        return np.stack([self(image) for image in images]).astype(np.float32, copy=False)


def embed_images(images: Sequence[np.ndarray], preprocess: Callable[[np.ndarray], np.ndarray], backend,
                 embed_dim: int, batch_size: int = 32) -> np.ndarray:
    """(N, D) embeddings of RGB uint8 images: each preprocessed, then the image tower in batches."""
    if not len(images):
        return np.zeros((0, embed_dim), np.float32)
    chunks = []
    for start in range(0, len(images), batch_size):
        pixels = np.stack([preprocess(image) for image in images[start:start + batch_size]])
        chunks.append(backend.run({"pixels": pixels})["embeddings"])
    return np.concatenate(chunks)
