"""The character n-gram claim classifier: a linear model over hashed n-grams.

It needs no pretrained weights, reads Chinese and English alike, trains in
seconds on CPU and exports to ONNX (two gathers and a sum), so edge nodes
run it with onnxruntime and numpy only (`OnnxNgramClaimClassifier`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from liveinspect.errors import CheckpointError
from liveinspect.models.claims.features import NgramFeaturizer

TASK = "claims"
ARCHITECTURE = "ngram-linear"
ONNX_FILE = "model.onnx"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class NgramLinear(nn.Module):
    """logits[b] = sum_l weights[b, l] * table[ids[b, l]] + bias."""

    def __init__(self, buckets: int, num_labels: int) -> None:
        super().__init__()
        self.table = nn.Embedding(buckets, num_labels, padding_idx=0)
        nn.init.zeros_(self.table.weight)  # a convex model: start from "no opinion"
        self.bias = nn.Parameter(torch.zeros(num_labels))

    def forward(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (self.table(ids) * weights.unsqueeze(-1)).sum(dim=1) + self.bias


class NgramClaimClassifier:
    """A `ClaimClassifier` (see liveinspect.pipelines.text) backed by `NgramLinear` in PyTorch."""

    def __init__(self, model: NgramLinear, featurizer: NgramFeaturizer, labels: Sequence[str], *,
                 temperature: float = 1.0, name: str = "claims-ngram", version: str = "untrained") -> None:
        if model.table.weight.shape != (featurizer.buckets, len(labels)):
            raise CheckpointError(f"model table {tuple(model.table.weight.shape)} does not fit "
                                  f"{featurizer.buckets} buckets x {len(labels)} labels")
        self.model = model.eval()
        self.featurizer = featurizer
        self.labels = list(labels)
        self.temperature = float(temperature)
        self.name = name
        self.version = version

    @classmethod
    def new(cls, labels: Sequence[str], featurizer: NgramFeaturizer | None = None) -> NgramClaimClassifier:
        featurizer = featurizer or NgramFeaturizer()
        return cls(NgramLinear(featurizer.buckets, len(labels)), featurizer, labels)

    def architecture(self) -> dict[str, Any]:
        return {"name": ARCHITECTURE, "featurizer": self.featurizer.to_dict()}

    def inputs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        ids, weights = self.featurizer.transform(texts)
        return {"ids": torch.from_numpy(ids), "weights": torch.from_numpy(weights)}

    @torch.inference_mode()
    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.model(**self.inputs(texts)).numpy()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.predict_logits(texts) / self.temperature)

    # --- files ----------------------------------------------------------

    def save(self, directory: str | Path, *, data: dict[str, Any], metrics: dict[str, Any],
             training: dict[str, Any] | None = None) -> Path:
        from liveinspect.training.checkpoint import save_checkpoint

        card = {"task": TASK, "name": self.name, "labels": self.labels,
                "architecture": self.architecture(), "temperature": self.temperature,
                "data": data, "metrics": metrics, "training": training or {}}
        return save_checkpoint(directory, self.model.state_dict(), card)

    @classmethod
    def load(cls, directory: str | Path) -> NgramClaimClassifier:
        from liveinspect.training.checkpoint import load_checkpoint

        tensors, card = load_checkpoint(directory, task=TASK)
        architecture = card["architecture"]
        if architecture.get("name") != ARCHITECTURE:
            raise CheckpointError(f"{directory} holds a {architecture.get('name')!r} model, "
                                  f"not {ARCHITECTURE!r}")
        featurizer = NgramFeaturizer(**architecture["featurizer"])
        model = NgramLinear(featurizer.buckets, len(card["labels"]))
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            raise CheckpointError(f"{directory}: weights do not fit the model card: {error}") from error
        return cls(model, featurizer, card["labels"], temperature=card.get("temperature", 1.0),
                   name=card.get("name", "claims-ngram"), version=card["weights"]["sha256"][:12])

    def export_onnx(self, path: str | Path) -> Path:
        """Write the model as ONNX: inputs ids (int64) and weights (float32), both (batch, n);
        output logits (batch, labels), before temperature."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        example = self.inputs(["示例 example"])
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated, but the dynamo one needs onnxscript and
            # gains nothing for two gathers and a sum.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(self.model, (example["ids"], example["weights"]), str(path), dynamo=False,
                              input_names=["ids", "weights"], output_names=["logits"], opset_version=17,
                              dynamic_axes={"ids": {0: "batch", 1: "ngrams"},
                                            "weights": {0: "batch", 1: "ngrams"},
                                            "logits": {0: "batch"}})
        return path


class OnnxNgramClaimClassifier:
    """The same classifier run by onnxruntime from `model.onnx` beside the model card (no torch)."""

    def __init__(self, directory: str | Path, onnx_path: str | Path | None = None) -> None:
        import onnxruntime as ort

        from liveinspect.training.checkpoint import read_card

        card = read_card(directory)
        onnx_path = Path(onnx_path) if onnx_path else Path(directory) / ONNX_FILE
        if not onnx_path.is_file():
            raise CheckpointError(f"{onnx_path} is missing; export it with NgramClaimClassifier.export_onnx")
        self.featurizer = NgramFeaturizer(**card["architecture"]["featurizer"])
        self.labels = list(card["labels"])
        self.temperature = float(card.get("temperature", 1.0))
        self.name = card.get("name", "claims-ngram") + "-onnx"
        self.version = card["weights"]["sha256"][:12]
        self.session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, weights = self.featurizer.transform(texts)
        return self.session.run(["logits"], {"ids": ids, "weights": weights})[0]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.predict_logits(texts) / self.temperature)
