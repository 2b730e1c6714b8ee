"""Claim classifiers behind the `ClaimClassifier` protocol of liveinspect.pipelines.text.

- `NgramClaimClassifier`: hashed character 1-3 grams, linear, PyTorch; exports to ONNX.
- `OnnxNgramClaimClassifier`: the same model under onnxruntime (no torch at inference).
- `TransformerClaimClassifier`: a local transformers sequence classifier.

`load_default_claim_classifier()` loads the model shipped in
`liveinspect/models/weights/claims-ngram`, trained from `liveinspect/data/claims/train.jsonl`.
"""

from __future__ import annotations

from pathlib import Path

from liveinspect.errors import WeightsNotFoundError
from liveinspect.models.claims.features import NgramFeaturizer, normalize_for_classifier
from liveinspect.models.claims.ngram import NgramClaimClassifier, NgramLinear, OnnxNgramClaimClassifier

DEFAULT_CLAIM_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "claims-ngram"


def load_claim_classifier(path: str | Path):
    """The claim classifier saved in `path`: a liveinspect n-gram checkpoint (model_card.json)
    or a transformers folder (config.json)."""
    path = Path(path)
    if (path / "model_card.json").is_file():
        return NgramClaimClassifier.load(path)
    if (path / "config.json").is_file():
        from liveinspect.models.claims.transformer import TransformerClaimClassifier

        return TransformerClaimClassifier.from_pretrained(path)
    raise WeightsNotFoundError(f"{path} holds no claim model: expected model_card.json (n-gram, from "
                               "`liveinspect train claims`) or config.json (a transformers classifier)")


def load_default_claim_classifier() -> NgramClaimClassifier:
    """The shipped n-gram claim classifier."""
    if not (DEFAULT_CLAIM_MODEL_DIR / "model_card.json").is_file():
        raise WeightsNotFoundError(
            f"the default claim model is missing from {DEFAULT_CLAIM_MODEL_DIR}; rebuild it with "
            "`liveinspect train claims --data liveinspect/data/claims/train.jsonl "
            f"--out {DEFAULT_CLAIM_MODEL_DIR} --seed 0`")
    return NgramClaimClassifier.load(DEFAULT_CLAIM_MODEL_DIR)


__all__ = ["DEFAULT_CLAIM_MODEL_DIR", "NgramClaimClassifier", "NgramFeaturizer", "NgramLinear",
           "OnnxNgramClaimClassifier", "load_claim_classifier", "load_default_claim_classifier",
           "normalize_for_classifier"]
