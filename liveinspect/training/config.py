"""Training settings, torch-free so the CLI can show their defaults without loading torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from liveinspect.errors import DataError


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_accum_steps: int = 1
    patience: int = 5  # epochs without a validation-loss improvement before stopping
    min_delta: float = 1e-4
    seed: int = 0
    mixed_precision: bool = True  # used on CUDA only
    device: str | None = None  # default: cuda when available
    progress: bool = True

    def __post_init__(self) -> None:
        # An untrained model saved as if trained is worse than an error: say which setting is wrong.
        for name, low in (("epochs", 1), ("batch_size", 1), ("grad_accum_steps", 1), ("patience", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise DataError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise DataError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict:
        return asdict(self)


# Defaults per task; `liveinspect train TASK` shows them as the flags' defaults.
CLAIMS_DEFAULTS = TrainConfig(epochs=40, batch_size=16, learning_rate=0.02, weight_decay=0.01, patience=6,
                              min_delta=1e-3)
MEDIA_DEFAULTS = TrainConfig(epochs=30, batch_size=16, learning_rate=3e-3, patience=6)
