"""Claim classifiers behind the `ClaimClassifier` protocol of liveinspect.pipelines.text.

- `NgramClaimClassifier`: hashed character 1-3 grams, linear; on the torch backend
  (`ngram_torch.NgramLinear`) or on ONNX Runtime (`OnnxNgramClaimClassifier`, no torch).
- `TransformerClaimClassifier`: a local transformers sequence classifier (torch).

`load_default_claim_classifier()` loads the model shipped in
`liveinspect/models/weights/claims-ngram`, trained from `liveinspect/data/claims/train.jsonl`;
its `model.onnx` is the export of those weights, for `backend="onnx"`.
Importing this package loads neither torch nor transformers.
"""

from __future__ import annotations

from pathlib import Path

from liveinspect.backends.base import BackendOptions, backend_options
from liveinspect.errors import LiveInspectError, WeightsNotFoundError
from liveinspect.models.claims.features import NgramFeaturizer, normalize_for_classifier
from liveinspect.models.claims.labels import CLASSIFIER_LABELS, COMPLIANT
from liveinspect.models.claims.ngram import NgramClaimClassifier, OnnxNgramClaimClassifier

DEFAULT_CLAIM_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "claims-ngram"


def load_claim_classifier(path: str | Path, backend: BackendOptions | str | None = None):
    """The claim classifier saved in `path`: a liveinspect n-gram checkpoint (model_card.json),
    on torch (default) or `backend="onnx"` (reads its model.onnx), or a transformers folder
    (config.json; torch only)."""
    path = Path(path)
    options = backend_options(backend)
    if (path / "model_card.json").is_file():
        return NgramClaimClassifier.load(path, options)
    if (path / "config.json").is_file():
        if options.kind != "torch":
            raise LiveInspectError(f"{path} holds a transformers classifier, which runs on torch only; "
                                   "use backend='torch' or an n-gram model for ONNX")
        from liveinspect.models.claims.transformer import TransformerClaimClassifier

        return TransformerClaimClassifier.from_pretrained(path, device=options.device)
    raise WeightsNotFoundError(f"{path} holds no claim model: expected model_card.json (n-gram, from "
                               "`liveinspect train claims`) or config.json (a transformers classifier)")


def load_default_claim_classifier(backend: BackendOptions | str | None = None) -> NgramClaimClassifier:
    """The shipped n-gram claim classifier, on torch (default) or `backend="onnx"`."""
    if not (DEFAULT_CLAIM_MODEL_DIR / "model_card.json").is_file():
        raise WeightsNotFoundError(
            f"the default claim model is missing from {DEFAULT_CLAIM_MODEL_DIR}; rebuild it with "
            "`liveinspect train claims --data liveinspect/data/claims/train.jsonl "
            f"--out {DEFAULT_CLAIM_MODEL_DIR} --seed 0 --onnx`")
    return NgramClaimClassifier.load(DEFAULT_CLAIM_MODEL_DIR, backend)


__all__ = ["CLASSIFIER_LABELS", "COMPLIANT", "DEFAULT_CLAIM_MODEL_DIR", "NgramClaimClassifier",
           "NgramFeaturizer", "OnnxNgramClaimClassifier", "load_claim_classifier",
           "load_default_claim_classifier", "normalize_for_classifier"]
