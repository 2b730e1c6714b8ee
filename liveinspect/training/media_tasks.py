"""Small image and audio classifiers trained from imagefolder / audiofolder (or any local
dataset with an `image` or `audio` column and a `label` column).

For platform-specific classes where a pretrained backbone is unavailable or
overkill (a banned product's packaging, a set dressing, a jingle): a
three-block convolutional net over 64x64 RGB images or over 40-band
log-mel spectrograms of the first seconds of a clip. The same trainer,
checkpoint format and eval report as every other task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from liveinspect.datasets import data_sha256, dataset_kind, label_ids, load_local_dataset, stratified_split
from liveinspect.errors import DataError
from liveinspect.eval.calibration import fit_temperature
from liveinspect.eval.metrics import precision_recall_f1
from liveinspect.models.checkpoint import save_checkpoint
from liveinspect.models.media.classifier import ARCHITECTURE, media_task
from liveinspect.models.media.convnet import SmallConvNet
from liveinspect.models.media.features import (
    HOP,
    IMAGE_SIZE,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    image_array,
    log_mel,
)
from liveinspect.training.trainer import TensorExamples, TrainConfig, Trainer


def image_tensor(image) -> torch.Tensor:
    """A PIL image (or path) -> (3, 64, 64) float in [0, 1] (`image_array` as a tensor)."""
    return torch.from_numpy(image_array(image))


def audio_tensor(samples: np.ndarray, seconds: float) -> torch.Tensor:
    """16 kHz mono samples -> (1, 40, frames) log-mel (`log_mel` as a tensor)."""
    return torch.from_numpy(log_mel(samples, seconds))


def train_media_classifier(task_name: str, data: str | Path, out: str | Path, config: TrainConfig, *,
                           val_fraction: float = 0.2, width: int = 16, seconds: float = 2.0) -> dict:
    """Train a `SmallConvNet` on an image or audio dataset and save it; returns the model card."""
    task = media_task(task_name)
    dataset = load_local_dataset(data)
    if task.column not in dataset.column_names:
        raise DataError(f"{data} has no {task.column!r} column (columns: {dataset.column_names})")
    labels, names = label_ids(dataset)
    if len(names) < 2:
        raise DataError(f"{data} has one label ({names}); a classifier needs two or more")
    torch.manual_seed(config.seed)
    examples = TensorExamples({"pixels": torch.from_numpy(task.arrays(dataset[task.column], seconds))},
                              torch.tensor(labels, dtype=torch.long))
    train_rows, val_rows = stratified_split(labels, val_fraction, config.seed)
    model = SmallConvNet(task.in_channels, len(names), width)
    trainer = Trainer(model, config)
    result = trainer.fit(examples.subset(train_rows), examples.subset(val_rows) if val_rows else None)
    metrics: dict = {"best_epoch": result.best_epoch, "stopped_early": result.stopped_early}
    temperature = 1.0
    if val_rows:
        val = examples.subset(val_rows)
        logits = trainer.predict_logits(val).numpy()
        temperature = fit_temperature(logits, val.labels.numpy())
        report = precision_recall_f1(val.labels.numpy(), logits.argmax(axis=1), names)
        metrics["validation"] = {"rows": len(val_rows), "accuracy": report["accuracy"],
                                 "macro_f1": report["macro"]["f1"], "temperature": temperature}
    architecture = {"name": ARCHITECTURE, "in_channels": task.in_channels, "width": width,
                    "input": {"image_size": IMAGE_SIZE} if task.name == "image"
                    else {"sample_rate": SAMPLE_RATE, "seconds": seconds, "n_fft": N_FFT, "hop": HOP,
                          "n_mels": N_MELS}}
    card = {"task": task.name, "labels": names, "architecture": architecture, "temperature": temperature,
            "data": {"path": str(data), "kind": dataset_kind(data), "sha256": data_sha256(data),
                     "rows": len(labels), "train_rows": len(train_rows), "val_rows": len(val_rows)},
            "metrics": metrics,
            "training": {"config": config.to_dict(), "history": [vars(h) for h in result.history]}}
    save_checkpoint(out, trainer.model.state_dict(), card)
    return card
