"""Trainable linear heads on CLIP image embeddings, saved as safetensors.

A linear probe is the cheapest way to teach a frozen CLIP a platform's own
classes (a banned product seen in its own streams, a set dressing): embed
labelled frames once, fit the head in seconds, ship a file of a few KB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from liveinspect.errors import CheckpointError, DataError
from liveinspect.models.clip.zero_shot import softmax


@dataclass
class LinearHead:
    """probabilities = softmax(embeddings @ weight.T + bias) over `labels`."""

    weight: np.ndarray  # (C, D)
    bias: np.ndarray  # (C,)
    labels: list[str]
    embedding_model: str = ""  # the CLIP version the head was trained on

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.weight.shape[1]:
            raise DataError(f"embeddings of shape {embeddings.shape} do not fit a head of width "
                            f"{self.weight.shape[1]}")
        return softmax(embeddings @ self.weight.T + self.bias)

    def predict(self, embeddings: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.probabilities(embeddings).argmax(axis=1)]

    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        path = Path(path)
        metadata = {"labels": json.dumps(self.labels, ensure_ascii=False),
                    "embedding_model": self.embedding_model, "format": "liveinspect-linear-head-1"}
        save_file({"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)},
                  str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LinearHead":
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata() or {}
                weight, bias = handle.get_tensor("weight"), handle.get_tensor("bias")
            labels = json.loads(metadata["labels"])
        except Exception as error:  # noqa: BLE001 - any failure means an unusable head file
            raise CheckpointError(f"{path}: not a linear-head checkpoint: {error}") from error
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or len(labels) != weight.shape[0]:
            raise CheckpointError(f"{path}: weight {weight.shape}, bias {bias.shape} and "
                                  f"{len(labels)} labels do not agree")
        return cls(weight, bias, labels, metadata.get("embedding_model", ""))


def train_linear_head(embeddings: np.ndarray, labels: Sequence[str], *, epochs: int = 300,
                      learning_rate: float = 0.05, weight_decay: float = 1e-4,
                      embedding_model: str = "", seed: int = 0) -> LinearHead:
    """Fit a multinomial logistic regression (full-batch AdamW) on (N, D) embeddings."""
    import torch

    if len(embeddings) != len(labels) or len(labels) == 0:
        raise DataError(f"{len(embeddings)} embeddings for {len(labels)} labels")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(f"a head needs at least two classes, got {classes}")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.as_tensor(np.asarray(embeddings, np.float32))
    targets = torch.as_tensor([classes.index(label) for label in labels])
    layer = torch.nn.Linear(inputs.shape[1], len(classes))
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.01, generator=generator)
        layer.bias.zero_()
    optimiser = torch.optim.AdamW(layer.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(inputs), targets)
        loss.backward()
        optimiser.step()
    return LinearHead(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy(),
                      classes, embedding_model)
