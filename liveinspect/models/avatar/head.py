"""A linear head on frozen CLIP image embeddings (the UniversalFakeDetect recipe), in numpy.

Linear on purpose: with a few hundred training images a linear probe on a
frozen embedding generalises to unseen generators better than anything with
more capacity. `temperature` is fitted on held-out images. Two heads ship:
`avatar-head` reads whole frames, `avatar-head-faces` reads aligned face
crops (`models.avatar.faces`); the card's `architecture.input` says which,
and a head is refused where the other kind is expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError

TASK = "synthetic-avatar-head"
INPUTS = ("whole_frames", "face_crops")


@dataclass(frozen=True)
class EmbeddingHead:
    weights: np.ndarray  # (512,)
    bias: float
    temperature: float = 1.0
    version: str = "untrained"
    input: str = "whole_frames"  # or "face_crops"

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        return ((np.asarray(embeddings, np.float32) @ self.weights + self.bias) / self.temperature).astype(
            np.float32)

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-self.logits(embeddings)))).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights.astype(np.float32), "bias": np.array([self.bias], np.float32),
                "temperature": np.array([self.temperature], np.float32)}


def shipped_avatar_head_dir(input: str = "whole_frames") -> Path:
    name = "avatar-head" if input == "whole_frames" else "avatar-head-faces"
    return Path(__file__).resolve().parents[1] / "weights" / name


def load_avatar_head(directory: str | Path, *, input: str | None = None) -> EmbeddingHead:
    """The head in `directory`; with `input`, refuse a head trained on the other kind of image
    (a card without `architecture.input` predates crop heads: whole frames)."""
    from liveinspect.models.checkpoint import load_checkpoint

    tensors, card = load_checkpoint(directory, task=TASK)
    if tensors.get("weights") is None or tensors["weights"].shape != (512,):
        raise CheckpointError(f"{directory}: an avatar head has 512 weights over CLIP image embeddings")
    reads = card.get("architecture", {}).get("input", "whole_frames")
    if reads not in INPUTS:
        raise CheckpointError(f"{directory}: architecture.input is {reads!r}; expected one of {INPUTS}")
    if input is not None and reads != input:
        raise CheckpointError(f"{directory} holds a head trained on {reads.replace('_', ' ')}, where one "
                              f"for {input.replace('_', ' ')} is needed; pass the other head folder")
    return EmbeddingHead(weights=tensors["weights"], bias=float(tensors["bias"][0]),
                         temperature=float(tensors["temperature"][0]), version=card["weights"]["sha256"][:12],
                         input=reads)
