"""The character n-gram claim classifier: a linear model over hashed n-grams.

It needs no pretrained weights, reads Chinese and English alike, trains in
seconds on CPU and exports to ONNX (two gathers and a sum). The classifier
is numpy featurizing -> backend -> numpy softmax; the backend is the
PyTorch module (`ngram_torch.NgramLinear`, imported only when torch is
chosen) or ONNX Runtime over the `model.onnx` exported beside the
checkpoint, so edge nodes run it with onnxruntime and numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.backends.base import Backend, BackendOptions, backend_options, precision_variant
from liveinspect.errors import CheckpointError, LiveInspectError
from liveinspect.models.checkpoint import load_checkpoint, read_card, save_checkpoint
from liveinspect.models.claims.features import NgramFeaturizer

TASK = "claims"
ARCHITECTURE = "ngram-linear"
ONNX_FILE = "model.onnx"
_EXPORT_HINT = ("export it with `liveinspect train claims ... --onnx` or "
                "`load_claim_classifier(path).export_onnx(path / 'model.onnx')` where torch is installed")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _cpu_unless_named(options: BackendOptions) -> BackendOptions:
    # Two gathers and a sum: a GPU gains nothing and costs a transfer per call.
    if options.kind == "torch" and options.device is None:
        return BackendOptions(kind="torch", device="cpu", threads=options.threads,
                              precision=options.precision)
    return options


class NgramClaimClassifier:
    """A `ClaimClassifier` (see liveinspect.pipelines.text) over any backend of `NgramLinear`."""

    def __init__(self, backend: Backend, featurizer: NgramFeaturizer, labels: Sequence[str], *,
                 temperature: float = 1.0, name: str = "claims-ngram", version: str = "untrained",
                 weights_sha256: str | None = None) -> None:
        if tuple(backend.input_names) != ("ids", "weights") or tuple(backend.output_names) != ("logits",):
            raise CheckpointError(f"an n-gram claim model takes (ids, weights) and gives logits; this "
                                  f"one takes {backend.input_names} and gives {backend.output_names}")
        self.backend = backend
        self.featurizer = featurizer
        self.labels = list(labels)
        self.temperature = float(temperature)
        self.name = name
        self.version = version
        self.weights_sha256 = weights_sha256
        module = getattr(backend, "module", None)
        if module is not None and tuple(module.table.weight.shape) != (featurizer.buckets, len(self.labels)):
            raise CheckpointError(f"model table {tuple(module.table.weight.shape)} does not fit "
                                  f"{featurizer.buckets} buckets x {len(self.labels)} labels")

    @classmethod
    def new(cls, labels: Sequence[str], featurizer: NgramFeaturizer | None = None, *,
            options: BackendOptions | None = None) -> NgramClaimClassifier:
        """An untrained (all-zero) model on the torch backend, for training."""
        from liveinspect.models.claims.ngram_torch import NgramLinear, torch_backend

        featurizer = featurizer or NgramFeaturizer()
        backend = torch_backend(NgramLinear(featurizer.buckets, len(labels)),
                                _cpu_unless_named(options or BackendOptions()))
        return cls(backend, featurizer, labels)

    @property
    def model(self):
        """The `NgramLinear` module (torch backend only): for training, saving and export."""
        module = getattr(self.backend, "module", None)
        if module is None:
            raise LiveInspectError(f"this claim classifier runs on {self.backend.kind}; its weights are "
                                   "only reachable on the torch backend")
        return module

    def architecture(self) -> dict[str, Any]:
        return {"name": ARCHITECTURE, "featurizer": self.featurizer.to_dict()}

    def inputs(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        ids, weights = self.featurizer.transform(texts)
        return {"ids": ids, "weights": weights}

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.backend.run(self.inputs(texts))["logits"]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.predict_logits(texts) / self.temperature)

    # --- files ----------------------------------------------------------

    def save(self, directory: str | Path, *, data: dict[str, Any], metrics: dict[str, Any],
             training: dict[str, Any] | None = None) -> Path:
        card = {"task": TASK, "name": self.name, "labels": self.labels,
                "architecture": self.architecture(), "temperature": self.temperature,
                "data": data, "metrics": metrics, "training": training or {}}
        return save_checkpoint(directory, self.model.state_dict(), card)

    @classmethod
    def load(cls, directory: str | Path,
             backend: BackendOptions | str | None = None) -> NgramClaimClassifier:
        """The checkpoint in `directory` on the torch backend (default) or on ONNX Runtime
        (`backend="onnx"`), which reads `model.onnx` beside the model card and never imports torch."""
        options = backend_options(backend)
        if options.kind == "onnx":
            return OnnxNgramClaimClassifier(directory, options=options)
        from liveinspect.models.claims.ngram_torch import module_from_state, torch_backend

        tensors, card = load_checkpoint(directory, task=TASK)
        featurizer = _featurizer(card, directory)
        module = module_from_state(tensors, featurizer.buckets, len(card["labels"]), directory)
        sha = card["weights"]["sha256"]
        return cls(torch_backend(module, _cpu_unless_named(options)), featurizer, card["labels"],
                   temperature=card.get("temperature", 1.0), name=card.get("name", "claims-ngram"),
                   version=sha[:12], weights_sha256=sha)

    def export_onnx(self, path: str | Path) -> Path:
        """Write the model as ONNX (see `ngram_torch.export_onnx`); needs the torch backend."""
        from liveinspect.models.claims.ngram_torch import export_onnx

        return export_onnx(self.model, path, task=TASK, labels=self.labels,
                           weights_sha256=self.weights_sha256)


class OnnxNgramClaimClassifier(NgramClaimClassifier):
    """The classifier run by ONNX Runtime from `model.onnx` beside the model card (no torch).

    The export must come from this checkpoint's weights: it records their
    SHA-256, which has to equal the card's.
    """

    def __init__(self, directory: str | Path, onnx_path: str | Path | None = None, *,
                 options: BackendOptions | None = None) -> None:
        from liveinspect.backends.onnx import OnnxBackend

        options = options or BackendOptions(kind="onnx")
        card = read_card(directory)
        if card["task"] != TASK:
            raise CheckpointError(f"{directory} holds a {card['task']!r} model, not {TASK!r}")
        onnx_path = Path(onnx_path) if onnx_path else precision_variant(Path(directory) / ONNX_FILE,
                                                                          options.precision)
        if not onnx_path.is_file():
            raise CheckpointError(f"{onnx_path} is missing; {_EXPORT_HINT}")
        backend = OnnxBackend(onnx_path, options)
        sha = card["weights"]["sha256"]
        exported_from = backend.metadata.get("liveinspect.weights_sha256")
        if exported_from != sha:
            raise CheckpointError(
                f"{onnx_path} was exported from other weights ({exported_from or 'unrecorded'}) than "
                f"{directory}'s model card names ({sha}); {_EXPORT_HINT}")
        labels = json.loads(backend.metadata.get("liveinspect.labels", "null"))
        if labels != card["labels"]:
            raise CheckpointError(f"{onnx_path} has labels {labels}, the model card {card['labels']}")
        super().__init__(backend, _featurizer(card, directory), card["labels"],
                         temperature=card.get("temperature", 1.0),
                         name=card.get("name", "claims-ngram") + "-onnx", version=sha[:12],
                         weights_sha256=sha)


def _featurizer(card: dict[str, Any], directory: str | Path) -> NgramFeaturizer:
    architecture = card["architecture"]
    if architecture.get("name") != ARCHITECTURE:
        raise CheckpointError(f"{directory} holds a {architecture.get('name')!r} model, not {ARCHITECTURE!r}")
    return NgramFeaturizer(**architecture["featurizer"])
