"""Heads on frozen speech representations: a small MLP over [AASIST embedding, numpy window statistics].

Training builds `VoiceHeadNet` (torch); inference runs the same weights in
numpy (`VoiceHead`), two matrix products, so a scan needs no autograd and an
edge node no torch. The checkpoint is a safetensors file with a model card
(`models/checkpoint.py`); `temperature` is fitted on held-out data
(temperature scaling), so `probability` is calibrated on what it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError

TASK = "synthetic-voice-head"
FEATURES = ("aasist_hidden", "lfcc_stats")  # the first heads' inputs; a card may name more views
AASIST_HIDDEN_SIZE = 160


def feature_size(features: tuple[str, ...]) -> int:
    """Input width of a head reading `features` (AASIST's hidden vector and/or `WINDOW_FEATURES`)."""
    from liveinspect.models.voice.features import WINDOW_FEATURES

    return sum(AASIST_HIDDEN_SIZE if name == "aasist_hidden" else WINDOW_FEATURES[name][0]
               for name in features)


@dataclass(frozen=True)
class VoiceHead:
    """standardise -> Linear -> ReLU -> Linear -> / temperature: the logit that the voice is synthetic."""

    mean: np.ndarray
    std: np.ndarray
    w1: np.ndarray  # (hidden, features)
    b1: np.ndarray
    w2: np.ndarray  # (1, hidden)
    b2: np.ndarray
    temperature: float = 1.0
    features: tuple[str, ...] = FEATURES
    version: str = "untrained"

    def logits(self, x: np.ndarray) -> np.ndarray:
        x = (np.asarray(x, np.float32) - self.mean) / self.std
        hidden = np.maximum(x @ self.w1.T + self.b1, 0.0)
        return ((hidden @ self.w2.T + self.b2)[:, 0] / self.temperature).astype(np.float32)

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "std": self.std, "w1": self.w1, "b1": self.b1, "w2": self.w2,
                "b2": self.b2, "temperature": np.array([self.temperature], np.float32)}


def load_voice_head(directory: str | Path) -> VoiceHead:
    from liveinspect.models.checkpoint import load_checkpoint

    tensors, card = load_checkpoint(directory, task=TASK)
    needed = {"mean", "std", "w1", "b1", "w2", "b2", "temperature"}
    if not needed <= set(tensors):
        raise CheckpointError(f"{directory}: voice head lacks {sorted(needed - set(tensors))}")
    from liveinspect.models.voice.features import WINDOW_FEATURES

    features = tuple(card.get("architecture", {}).get("features", FEATURES))
    known = {"aasist_hidden", *WINDOW_FEATURES}
    if not features or not set(features) <= known or len(set(features)) != len(features):
        raise CheckpointError(f"{directory}: head reads features {features}, "
                              f"this version computes {sorted(known)}")
    w1 = tensors["w1"]
    if w1.shape[1] != feature_size(features):
        raise CheckpointError(f"{directory}: head takes {w1.shape[1]} inputs, but its features "
                              f"{features} are {feature_size(features)} wide")
    if tensors["mean"].shape != (w1.shape[1],) or tensors["w2"].shape != (1, w1.shape[0]):
        shapes = {k: v.shape for k, v in tensors.items()}
        raise CheckpointError(f"{directory}: inconsistent head shapes {shapes}")
    return VoiceHead(mean=tensors["mean"], std=tensors["std"], w1=w1, b1=tensors["b1"], w2=tensors["w2"],
                     b2=tensors["b2"], temperature=float(tensors["temperature"][0]), features=features,
                     version=card["weights"]["sha256"][:12])


def shipped_voice_head_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "weights" / "voice-head"


def build_head_net(n_features: int, hidden: int = 32):
    """The torch twin of `VoiceHead`, for training."""
    from torch import nn

    return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 1))


def head_from_net(net, mean: np.ndarray, std: np.ndarray, temperature: float,
                  features: tuple[str, ...] = FEATURES) -> VoiceHead:
    first, last = net[0], net[3]
    return VoiceHead(mean=mean.astype(np.float32), std=std.astype(np.float32),
                     w1=first.weight.detach().numpy().copy(), b1=first.bias.detach().numpy().copy(),
                     w2=last.weight.detach().numpy().copy(), b2=last.bias.detach().numpy().copy(),
                     temperature=float(temperature), features=tuple(features))
