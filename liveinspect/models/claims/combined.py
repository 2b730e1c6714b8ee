"""The combined claim classifier: the n-gram model and the encoder head, probabilities averaged.

Each model is calibrated on its own (temperature from its validation split);
the combination is a fixed weighted mean of their probabilities, not fitted
to any test data. The n-gram model is sharp on the words it has seen, the
encoder generalises to paraphrases and euphemisms it has not; averaging lets
a confident one carry a sentence the other is unsure of. `sources` says,
per sentence, what each model thought, so the analyzer can record which
one decided a finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Lock

import numpy as np

from liveinspect.errors import LiveInspectError


class CombinedClaimClassifier:
    """A `ClaimClassifier` averaging an n-gram and an encoder classifier over the same labels."""

    def __init__(self, ngram, encoder, *, ngram_weight: float = 0.5) -> None:
        if list(ngram.labels) != list(encoder.labels):
            raise LiveInspectError(f"the n-gram model's labels {ngram.labels} differ from the encoder "
                                   f"head's {encoder.labels}; train both on the same data")
        if not 0.0 <= ngram_weight <= 1.0:
            raise LiveInspectError(f"ngram_weight must be in [0, 1], got {ngram_weight}")
        self.ngram = ngram
        self.encoder = encoder
        self.ngram_weight = float(ngram_weight)
        self.labels = list(ngram.labels)
        self.name = "claims-combined"
        self.version = f"{ngram.version}+{encoder.version}"

    def sources(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per-model probabilities: {"ngram": (n, labels), "encoder": (n, labels)}."""
        texts = list(texts)
        return {"ngram": np.asarray(self.ngram.predict_proba(texts), dtype=np.float64),
                "encoder": np.asarray(self.encoder.predict_proba(texts), dtype=np.float64)}

    def combine(self, sources: dict[str, np.ndarray]) -> np.ndarray:
        return self.ngram_weight * sources["ngram"] + (1.0 - self.ngram_weight) * sources["encoder"]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.combine(self.sources(texts))

    def evidence_span(self, text: str, label: str) -> tuple[int, int] | None:
        return self.encoder.evidence_span(text, label)

    def evidence_spans(self, requests: Sequence[tuple[str, str]]) -> list[tuple[int, int] | None]:
        return self.encoder.evidence_spans(requests)


def load_combined_claim_classifier(ngram_dir=None, head_dir=None, *, backend=None,
                                   ngram_weight: float = 0.5) -> CombinedClaimClassifier:
    """The shipped (or named) n-gram model and encoder head, combined."""
    from liveinspect.models.claims import DEFAULT_CLAIM_MODEL_DIR, NgramClaimClassifier
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier

    ngram = NgramClaimClassifier.load(ngram_dir or DEFAULT_CLAIM_MODEL_DIR, backend)
    return CombinedClaimClassifier(ngram, EncoderClaimClassifier.load(head_dir),
                                   ngram_weight=ngram_weight)


_shared: dict[str, CombinedClaimClassifier] = {}
_shared_lock = Lock()


def shared_combined_claim_classifier(backend: str = "onnx") -> CombinedClaimClassifier:
    """The shipped combined classifier, loaded once per process and n-gram backend: the encoder takes
    seconds to load and is stateless apart from its caches, so every text analyzer may share it."""
    with _shared_lock:
        if backend not in _shared:
            _shared[backend] = load_combined_claim_classifier(backend=backend)
        return _shared[backend]
