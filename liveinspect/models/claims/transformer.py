"""A transformers sequence classifier (e.g. a Chinese BERT the user has) as a claim classifier.

Loaded only from a local folder (`local_files_only=True`): nothing is fetched
from a hub. Weights must be safetensors (`use_safetensors=True`), so a
`pytorch_model.bin` pickle is refused rather than unpickled. The model's
`id2label` must name the claim labels; the protocol's `labels` follow it.

A transformers model is a torch model, so this classifier runs on torch
only; the module still imports torch (and transformers) only when a
classifier is built, so importing `liveinspect.models.claims` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.claims.features import normalize_for_classifier
from liveinspect.text.normalize import cached_normalizer


class TransformerClaimClassifier:
    """`ClaimClassifier` over AutoModelForSequenceClassification + AutoTokenizer from a local path."""

    def __init__(self, model, tokenizer, *, name: str = "claims-transformer", version: str = "local",
                 max_length: int = 128, temperature: float = 1.0, device: str | None = None) -> None:
        from liveinspect.backends.torch import torch_device

        id2label = model.config.id2label
        self.labels = [str(id2label[i]) for i in range(len(id2label))]
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.version = version
        self.max_length = max_length
        self.temperature = float(temperature)
        self.device = torch_device(device)
        self.model.to(self.device)

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> TransformerClaimClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise WeightsNotFoundError(
                f"no transformers model in {path}: expected config.json, model.safetensors and tokenizer "
                "files (save them with model.save_pretrained(path) and tokenizer.save_pretrained(path))")
        if not any(path.glob("*.safetensors")):
            raise CheckpointError(f"{path} has no .safetensors weights; pickled weights are not loaded")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True, use_safetensors=True, output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"cannot load the transformers model in {path}: {error}") from error
        # transformers fills weights the file lacks with random values and only logs it; a
        # classifier with random weights would flag (or clear) texts at random.
        missing = list(info.get("missing_keys") or []) + [str(k[0] if isinstance(k, tuple) else k)
                                                           for k in info.get("mismatched_keys") or []]
        if missing:
            raise CheckpointError(
                f"{path}: the weights do not match config.json: {len(missing)} tensors missing or of "
                f"the wrong shape (first: {', '.join(missing[:3])}); save the model and its config "
                "together with model.save_pretrained(path)")
        kwargs.setdefault("version", _weights_version(path))
        return cls(model, tokenizer, **kwargs)

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        normalizer = cached_normalizer()
        encoded = self.tokenizer([normalize_for_classifier(t, normalizer) for t in texts], padding=True,
                                 truncation=True, max_length=self.max_length, return_tensors="pt")
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.inference_mode():
            return self.model(**encoded).logits.float().cpu().numpy()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        logits = self.predict_logits(texts) / self.temperature
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


def _weights_version(path: Path) -> str:
    from liveinspect.models.checkpoint import file_sha256

    files = sorted(path.glob("*.safetensors"))
    return file_sha256(files[0])[:12] if files else "local"
