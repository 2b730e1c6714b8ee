"""One trainer for classification heads and small models.

A model is any `nn.Module` whose forward takes keyword tensors and returns
logits (batch, labels). Examples are in-memory tensors (`TensorExamples`):
the models trained here are small, so the data fits and batching stays a
seeded permutation, which keeps runs bit-for-bit repeatable on CPU. Early
stopping watches the validation loss and restores the best epoch's weights.
On CUDA the forward pass runs under autocast (bfloat16 where supported, else
float16 with a gradient scaler).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from liveinspect.errors import DataError
from liveinspect.training.config import TrainConfig


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


@dataclass
class TensorExamples:
    """Model inputs (name -> tensor, first dimension = rows) and integer labels."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor

    def __post_init__(self) -> None:
        rows = {name: t.shape[0] for name, t in self.inputs.items()}
        if any(n != self.labels.shape[0] for n in rows.values()):
            raise DataError(f"inputs {rows} and labels ({self.labels.shape[0]}) differ in rows")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, rows: list[int] | torch.Tensor) -> TensorExamples:
        index = torch.as_tensor(rows, dtype=torch.long)
        return TensorExamples({k: v[index] for k, v in self.inputs.items()}, self.labels[index])

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        order = (torch.randperm(len(self), generator=generator) if generator is not None
                 else torch.arange(len(self)))
        for start in range(0, len(self), batch_size):
            index = order[start:start + batch_size]
            yield {k: v[index] for k, v in self.inputs.items()}, self.labels[index]


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float | None
    stopped_early: bool
    history: list[EpochLog] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Trainer:
    """Fits `model` with AdamW and cross-entropy; see the module docstring."""

    def __init__(self, model: nn.Module, config: TrainConfig | None = None,
                 class_weights: torch.Tensor | None = None) -> None:
        self.config = config or TrainConfig()
        if self.config.grad_accum_steps < 1 or self.config.batch_size < 1:
            raise DataError("batch_size and grad_accum_steps must be at least 1")
        self.device = torch.device(self.config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device)
        self.loss_fn = nn.CrossEntropyLoss(
            weight=None if class_weights is None else class_weights.to(self.device))
        self._amp = self.config.mixed_precision and self.device.type == "cuda"
        self._amp_dtype = (torch.bfloat16 if self._amp and torch.cuda.is_bf16_supported()
                           else torch.float16)
        self._scaler = torch.amp.GradScaler("cuda", enabled=self._amp and self._amp_dtype == torch.float16)

    def _to_device(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in inputs.items()}

    def _forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self._amp_dtype, enabled=self._amp):
            return self.model(**self._to_device(inputs)).float()

    @torch.inference_mode()
    def predict_logits(self, examples: TensorExamples, batch_size: int | None = None) -> torch.Tensor:
        self.model.eval()
        parts = [self._forward(inputs).cpu()
                 for inputs, _ in examples.batches(batch_size or self.config.batch_size * 4)]
        return torch.cat(parts) if parts else torch.zeros(0)

    def _validate(self, val: TensorExamples) -> tuple[float, float]:
        logits = self.predict_logits(val)
        loss = nn.functional.cross_entropy(logits, val.labels).item()
        accuracy = (logits.argmax(dim=1) == val.labels).float().mean().item()
        return loss, accuracy

    def fit(self, train: TensorExamples, val: TensorExamples | None = None) -> TrainResult:
        config = self.config
        if len(train) == 0:
            raise DataError("no training rows")
        seed_everything(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate,
                                      weight_decay=config.weight_decay)
        result = TrainResult(best_epoch=0, best_val_loss=None, stopped_early=False)
        best_state = copy.deepcopy(self.model.state_dict())
        best_loss, stale = float("inf"), 0
        bar = tqdm(range(1, config.epochs + 1), desc="train", unit="epoch", disable=not config.progress)
        for epoch in bar:
            train_loss = self._train_epoch(train, optimizer, generator)
            val_loss = val_accuracy = None
            if val is not None and len(val):
                val_loss, val_accuracy = self._validate(val)
            result.history.append(EpochLog(epoch, train_loss, val_loss, val_accuracy))
            bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}" if val_loss is not None else "-")
            watched = val_loss if val_loss is not None else train_loss
            if watched < best_loss - config.min_delta:
                best_loss, stale = watched, 0
                best_state = copy.deepcopy(self.model.state_dict())
                result.best_epoch = epoch
            else:
                stale += 1
                if stale >= config.patience:
                    result.stopped_early = True
                    break
        self.model.load_state_dict(best_state)
        self.model.eval()
        result.best_val_loss = best_loss if val is not None and len(val) else None
        return result

    def _train_epoch(self, train: TensorExamples, optimizer: torch.optim.Optimizer,
                     generator: torch.Generator) -> float:
        self.model.train()
        accum = self.config.grad_accum_steps
        total, rows = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        batches = list(train.batches(self.config.batch_size, generator))
        for step, (inputs, labels) in enumerate(batches, start=1):
            labels = labels.to(self.device)
            loss = self.loss_fn(self._forward(inputs), labels)
            self._scaler.scale(loss / accum).backward()
            total += loss.item() * len(labels)
            rows += len(labels)
            if step % accum == 0 or step == len(batches):
                self._scaler.step(optimizer)
                self._scaler.update()
                optimizer.zero_grad(set_to_none=True)
        return total / rows
