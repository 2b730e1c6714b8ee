"""Train the character n-gram claim classifier from a labelled text dataset.

    liveinspect train claims --data liveinspect/data/claims/train.jsonl \
        --out liveinspect/models/weights/claims-ngram --seed 0

The data needs a `text` and a
`label` column with labels from `CLASSIFIER_LABELS`. A stratified share is
held out for early stopping and for fitting the softmax temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from liveinspect.datasets import data_sha256, dataset_kind, label_ids, load_local_dataset, stratified_split
from liveinspect.errors import LiveInspectError
from liveinspect.eval.calibration import expected_calibration_error, fit_temperature, softmax
from liveinspect.eval.metrics import precision_recall_f1
from liveinspect.models.claims.features import NgramFeaturizer
from liveinspect.models.claims.labels import CLASSIFIER_LABELS
from liveinspect.models.claims.ngram import NgramClaimClassifier
from liveinspect.training.config import CLAIMS_DEFAULTS, TrainConfig
from liveinspect.training.trainer import TensorExamples, Trainer

DEFAULT_CONFIG = CLAIMS_DEFAULTS


@dataclass
class ClaimsTrainingResult:
    classifier: NgramClaimClassifier
    card_path: Path
    metrics: dict


def train_claims(data: str | Path, out: str | Path, config: TrainConfig = DEFAULT_CONFIG, *,
                 val_fraction: float = 0.15, buckets: int = 1 << 16, text_column: str = "text",
                 label_column: str = "label", onnx: bool = False) -> ClaimsTrainingResult:
    """Train, calibrate and save the n-gram classifier; returns it with its validation metrics.

    `onnx` also writes `model.onnx` beside the weights (what `backend="onnx"` loads)."""
    dataset = load_local_dataset(data)
    if text_column not in dataset.column_names:
        raise LiveInspectError(f"{data} has no {text_column!r} column (columns: {dataset.column_names})")
    texts = [str(t) for t in dataset[text_column]]
    labels, names = label_ids(dataset, label_column, CLASSIFIER_LABELS)
    train_rows, val_rows = stratified_split(labels, val_fraction, config.seed)

    classifier = NgramClaimClassifier.new(names, NgramFeaturizer(buckets=buckets))
    torch.manual_seed(config.seed)
    inputs = {name: torch.from_numpy(array) for name, array in classifier.inputs(texts).items()}
    examples = TensorExamples(inputs, torch.tensor(labels, dtype=torch.long))
    trainer = Trainer(classifier.model, config)
    result = trainer.fit(examples.subset(train_rows), examples.subset(val_rows) if val_rows else None)
    trainer.model.to("cpu").eval()  # the classifier's backend holds this module, on the CPU

    metrics: dict = {"best_epoch": result.best_epoch, "stopped_early": result.stopped_early}
    if val_rows:
        val = examples.subset(val_rows)
        logits = trainer.predict_logits(val).numpy()
        y_val = val.labels.numpy()
        classifier.temperature = fit_temperature(logits, y_val)
        report = precision_recall_f1(y_val, logits.argmax(axis=1), names)
        metrics["validation"] = {
            "rows": len(val_rows), "accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
            "ece_before_temperature": expected_calibration_error(softmax(logits), y_val),
            "ece_after_temperature": expected_calibration_error(
                softmax(logits / classifier.temperature), y_val),
            "temperature": classifier.temperature}
    card_path = classifier.save(
        out,
        data={"path": str(data), "kind": dataset_kind(data), "sha256": data_sha256(data),
              "rows": len(texts), "train_rows": len(train_rows), "val_rows": len(val_rows),
              "val_fraction": val_fraction, "columns": {"text": text_column, "label": label_column},
              "label_counts": {n: int(np.sum(np.asarray(labels) == i)) for i, n in enumerate(names)}},
        metrics=metrics,
        training={"config": config.to_dict(), "history": [vars(h) for h in result.history]})
    # Reload so the returned classifier carries the version (weights checksum) a user would see.
    trained = NgramClaimClassifier.load(out)
    if onnx:
        trained.export_onnx(Path(out) / "model.onnx")
    return ClaimsTrainingResult(trained, card_path, metrics)
