"""`MediaClassifier`: a trained small image or audio classifier, numpy features -> backend -> probabilities.

The checkpoint is what `liveinspect train image|audio` writes (safetensors +
model card). On the torch backend the `SmallConvNet` is rebuilt from the
card; on ONNX Runtime (`backend="onnx"`) `model.onnx` beside the card is
read, which `export_onnx` writes where torch is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from liveinspect.backends.base import Backend, BackendOptions, backend_options, precision_variant
from liveinspect.errors import CheckpointError, DataError
from liveinspect.models.checkpoint import load_checkpoint
from liveinspect.models.media.features import HOP, IMAGE_SIZE, N_MELS, SAMPLE_RATE, image_array, log_mel

ARCHITECTURE = "small-convnet"
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class MediaTask:
    name: str  # "image" or "audio"
    column: str
    in_channels: int

    def arrays(self, values: Sequence[Any], seconds: float) -> np.ndarray:
        """The model inputs (N, channels, height, width) for image files/PIL images or audio files."""
        values = tqdm(values, desc=self.name, unit="file", disable=len(values) < 200)
        if self.name == "image":
            return np.stack([image_array(v) for v in values])
        from liveinspect.media.audio import load_audio

        return np.stack([log_mel(load_audio(v), seconds) for v in values])


TASKS = {"image": MediaTask("image", "image", 3), "audio": MediaTask("audio", "audio", 1)}


def media_task(name: str) -> MediaTask:
    if name not in TASKS:
        raise DataError(f"unknown media task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class MediaClassifier:
    """A trained `SmallConvNet` with its card: probabilities for image or audio files."""

    def __init__(self, directory: str | Path, backend: BackendOptions | str | None = None) -> None:
        options = backend_options(backend)
        tensors, card = load_checkpoint(directory)
        self.task, self.card = media_task(card["task"]), card
        architecture = card["architecture"]
        if architecture.get("name") != ARCHITECTURE:
            raise CheckpointError(f"{directory} holds a {architecture.get('name')!r} model, "
                                  f"not {ARCHITECTURE}")
        self.labels = list(card["labels"])
        self.temperature = float(card.get("temperature", 1.0))
        self.seconds = float(architecture["input"].get("seconds", 2.0))
        self.directory = Path(directory)
        self.backend: Backend = (self._onnx(options) if options.kind == "onnx"
                                 else self._torch(tensors, architecture, options))

    def _torch(self, tensors: dict, architecture: dict, options: BackendOptions) -> Backend:
        import torch

        from liveinspect.backends.torch import TorchBackend
        from liveinspect.models.media.convnet import INPUT_NAMES, OUTPUT_NAMES, SmallConvNet

        model = SmallConvNet(architecture["in_channels"], len(self.labels), architecture["width"])
        try:
            model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        except RuntimeError as error:
            raise CheckpointError(f"{self.directory}: weights do not fit the model card: {error}") from error
        return TorchBackend(model, INPUT_NAMES, OUTPUT_NAMES, options)

    def _onnx(self, options: BackendOptions) -> Backend:
        from liveinspect.backends.onnx import OnnxBackend

        path = precision_variant(self.directory / ONNX_FILE, options.precision)
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; write it with MediaClassifier(path).export_onnx() "
                                  "where torch is installed")
        return OnnxBackend(path, options)

    @property
    def model(self):
        """The `SmallConvNet` (torch backend only)."""
        module = getattr(self.backend, "module", None)
        if module is None:
            raise CheckpointError("this classifier runs on ONNX Runtime; its module is not loaded")
        return module

    def predict_proba(self, values: Sequence[Any]) -> np.ndarray:
        pixels = self.task.arrays(list(values), self.seconds)
        logits = self.backend.run({"pixels": pixels})["logits"]
        return _softmax(logits / self.temperature)

    def export_onnx(self, path: str | Path | None = None) -> Path:
        """Write `model.onnx` beside the checkpoint (or at `path`); needs the torch backend."""
        from liveinspect.models.media.convnet import export_onnx

        shape = (1, 3, IMAGE_SIZE, IMAGE_SIZE) if self.task.name == "image" else \
            (1, 1, N_MELS, 1 + int(self.seconds * SAMPLE_RATE) // HOP)
        return export_onnx(self.model, path or self.directory / ONNX_FILE, shape)
