"""Small image and audio classifiers trained from imagefolder / audiofolder (or any local
dataset with an `image` or `audio` column and a `label` column).

For platform-specific classes where a pretrained backbone is unavailable or
overkill (a banned product's packaging, a set dressing, a jingle): a
three-block convolutional net over 64x64 RGB images or over 40-band
log-mel spectrograms of the first seconds of a clip. The same trainer,
checkpoint format and eval report as every other task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from liveinspect.errors import CheckpointError, DataError
from liveinspect.eval.calibration import fit_temperature, softmax
from liveinspect.eval.metrics import precision_recall_f1
from liveinspect.training.checkpoint import load_checkpoint, save_checkpoint
from liveinspect.training.data import (
    data_sha256,
    dataset_kind,
    label_ids,
    load_local_dataset,
    stratified_split,
)
from liveinspect.training.trainer import TensorExamples, TrainConfig, Trainer

IMAGE_SIZE = 64
SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40


class SmallConvNet(nn.Module):
    """Three conv-ReLU-pool blocks, global average pooling, a linear head."""

    def __init__(self, in_channels: int, num_labels: int, width: int = 16) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for scale in (1, 2, 4):
            blocks += [nn.Conv2d(channels, width * scale, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width * scale
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, num_labels)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixels).mean(dim=(2, 3)))


def image_tensor(image) -> torch.Tensor:
    """A PIL image (or path) -> (3, 64, 64) float in [0, 1]."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.open(image)
    array = np.asarray(image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, (n_mels, n_fft // 2 + 1)."""
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(to_mel(np.array(0.0)), to_mel(np.array(sample_rate / 2)), n_mels + 2))
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (center - lower)
    falling = (upper - bins) / (upper - center)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32))


def audio_tensor(samples: np.ndarray, seconds: float) -> torch.Tensor:
    """16 kHz mono samples -> (1, 40, frames) log-mel, cropped or zero-padded to `seconds`."""
    length = int(seconds * SAMPLE_RATE)
    clip = np.zeros(length, dtype=np.float32)
    clip[:min(length, len(samples))] = samples[:length]
    spectrum = torch.stft(torch.from_numpy(clip), N_FFT, HOP, window=torch.hann_window(N_FFT),
                          return_complex=True).abs() ** 2
    return torch.log(mel_filterbank() @ spectrum + 1e-6).unsqueeze(0)


@dataclass
class MediaTask:
    name: str  # "image" or "audio"
    column: str
    in_channels: int

    def tensors(self, values: Sequence[Any], seconds: float) -> torch.Tensor:
        values = tqdm(values, desc=self.name, unit="file", disable=len(values) < 200)
        if self.name == "image":
            return torch.stack([image_tensor(v) for v in values])
        from liveinspect.media.audio import load_audio

        return torch.stack([audio_tensor(load_audio(v), seconds) for v in values])


TASKS = {"image": MediaTask("image", "image", 3), "audio": MediaTask("audio", "audio", 1)}


def _task(name: str) -> MediaTask:
    if name not in TASKS:
        raise DataError(f"unknown media task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


def train_media_classifier(task_name: str, data: str | Path, out: str | Path, config: TrainConfig, *,
                           val_fraction: float = 0.2, width: int = 16, seconds: float = 2.0) -> dict:
    """Train a `SmallConvNet` on an image or audio dataset and save it; returns the model card."""
    task = _task(task_name)
    dataset = load_local_dataset(data)
    if task.column not in dataset.column_names:
        raise DataError(f"{data} has no {task.column!r} column (columns: {dataset.column_names})")
    labels, names = label_ids(dataset)
    if len(names) < 2:
        raise DataError(f"{data} has one label ({names}); a classifier needs two or more")
    torch.manual_seed(config.seed)
    examples = TensorExamples({"pixels": task.tensors(dataset[task.column], seconds)},
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
    architecture = {"name": "small-convnet", "in_channels": task.in_channels, "width": width,
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


class MediaClassifier:
    """A trained `SmallConvNet` with its card: probabilities for image or audio files."""

    def __init__(self, directory: str | Path) -> None:
        tensors, card = load_checkpoint(directory)
        task = _task(card["task"])
        architecture = card["architecture"]
        if architecture.get("name") != "small-convnet":
            raise CheckpointError(f"{directory} holds a {architecture.get('name')!r} model, "
                                  "not small-convnet")
        self.model = SmallConvNet(architecture["in_channels"], len(card["labels"]), architecture["width"])
        try:
            self.model.load_state_dict(tensors)
        except RuntimeError as error:
            raise CheckpointError(f"{directory}: weights do not fit the model card: {error}") from error
        self.model.eval()
        self.task, self.card = task, card
        self.labels = list(card["labels"])
        self.temperature = float(card.get("temperature", 1.0))

    @torch.inference_mode()
    def predict_proba(self, values: Sequence[Any]) -> np.ndarray:
        seconds = self.card["architecture"]["input"].get("seconds", 2.0)
        logits = self.model(self.task.tensors(list(values), seconds)).numpy()
        return softmax(logits / self.temperature)
