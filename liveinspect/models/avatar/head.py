"""A linear head on frozen CLIP image embeddings (the UniversalFakeDetect recipe), in numpy.

Linear on purpose: with a few hundred training images a linear probe on a
frozen embedding generalises to unseen generators better than anything with
more capacity. `temperature` is fitted on held-out images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError

TASK = "synthetic-avatar-head"


@dataclass(frozen=True)
class EmbeddingHead:
    weights: np.ndarray  # (512,)
    bias: float
    temperature: float = 1.0
    version: str = "untrained"

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        return ((np.asarray(embeddings, np.float32) @ self.weights + self.bias) / self.temperature).astype(
            np.float32)

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-self.logits(embeddings)))).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights.astype(np.float32), "bias": np.array([self.bias], np.float32),
                "temperature": np.array([self.temperature], np.float32)}


def shipped_avatar_head_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "weights" / "avatar-head"


def load_avatar_head(directory: str | Path) -> EmbeddingHead:
    from liveinspect.models.checkpoint import load_checkpoint

    tensors, card = load_checkpoint(directory, task=TASK)
    if tensors.get("weights") is None or tensors["weights"].shape != (512,):
        raise CheckpointError(f"{directory}: an avatar head has 512 weights over CLIP image embeddings")
    return EmbeddingHead(weights=tensors["weights"], bias=float(tensors["bias"][0]),
                         temperature=float(tensors["temperature"][0]), version=card["weights"]["sha256"][:12])
