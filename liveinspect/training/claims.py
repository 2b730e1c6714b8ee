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
    # Two gathers and a sum per step: on the CPU extra threads only add synchronisation (a shared
    # 2-core machine trained 10x slower with two), and one thread gives the same bytes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = trainer.fit(examples.subset(train_rows), examples.subset(val_rows) if val_rows else None)
    finally:
        torch.set_num_threads(threads)
    trainer.model.to("cpu").eval()  # the classifier's backend holds this module, on the CPU

    metrics: dict = {"best_epoch": result.best_epoch, "stopped_early": result.stopped_early}
    if val_rows:
        val = examples.subset(val_rows)
        logits = trainer.predict_logits(val).numpy()
        y_val = val.labels.numpy()
        metrics["validation"] = _calibrate(classifier, logits, y_val, names)
    card_path = classifier.save(
        out,
        data=_data_record(data, len(texts), labels, names, train_rows, val_rows, val_fraction,
                          {"text": text_column, "label": label_column}),
        metrics=metrics,
        training={"config": config.to_dict(), "history": [vars(h) for h in result.history]})
    # Reload so the returned classifier carries the version (weights checksum) a user would see.
    trained = NgramClaimClassifier.load(out)
    if onnx:
        trained.export_onnx(Path(out) / "model.onnx")
    return ClaimsTrainingResult(trained, card_path, metrics)


# --- the encoder head ------------------------------------------------------------------


def fit_linear_head(vectors: np.ndarray, labels: np.ndarray, num_labels: int, *, l2: float = 1e-3,
                    steps: int = 600, learning_rate: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on fixed vectors: full-batch gradient descent with Nesterov
    momentum in float64, a fixed number of steps. Deterministic (no sampling, no threads' order),
    so the same vectors give the same head."""
    x = np.asarray(vectors, dtype=np.float64)
    y = np.eye(num_labels)[np.asarray(labels)]
    weight = np.zeros((x.shape[1], num_labels))
    bias = np.zeros(num_labels)
    velocity_w, velocity_b = np.zeros_like(weight), np.zeros_like(bias)
    momentum = 0.9
    for _ in range(steps):
        look_w, look_b = weight + momentum * velocity_w, bias + momentum * velocity_b
        probabilities = softmax(x @ look_w + look_b)
        error = (probabilities - y) / len(x)
        grad_w = x.T @ error + l2 * look_w
        grad_b = error.sum(axis=0)
        velocity_w = momentum * velocity_w - learning_rate * grad_w
        velocity_b = momentum * velocity_b - learning_rate * grad_b
        weight, bias = weight + velocity_w, bias + velocity_b
    return weight.astype(np.float32), bias.astype(np.float32)


def train_claims_encoder(data: str | Path, out: str | Path, *, seed: int = 0, val_fraction: float = 0.15,
                         l2: float = 1e-3, steps: int = 600, text_column: str = "text",
                         label_column: str = "label", encoder=None):
    """Train the linear head over frozen multilingual-e5 vectors (`models.claims.e5_head`), calibrate
    its temperature on a stratified validation share, save it; returns (classifier, metrics).

    The vectors are rounded to 1e-4 before fitting, so the head does not depend on the last bits
    ONNX Runtime's thread scheduling can change."""
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier
    from liveinspect.models.claims.encoder import E5Encoder

    dataset = load_local_dataset(data)
    if text_column not in dataset.column_names:
        raise LiveInspectError(f"{data} has no {text_column!r} column (columns: {dataset.column_names})")
    texts = [str(t) for t in dataset[text_column]]
    labels, names = label_ids(dataset, label_column, CLASSIFIER_LABELS)
    labels = np.asarray(labels)
    encoder = encoder or E5Encoder()
    vectors = np.round(np.concatenate([encoder.encode(texts[i:i + 256]).vectors
                                       for i in range(0, len(texts), 256)]), 4)
    train_rows, val_rows = stratified_split(labels.tolist(), val_fraction, seed)
    # e5 vectors crowd into a narrow cone (unrelated sentences still have cosine ~0.8), so the head
    # is fitted on standardized vectors; the scaling is folded into the saved weight and bias, which
    # keeps the head one linear map of the raw vector.
    mean = vectors[train_rows].mean(axis=0)
    scale = vectors[train_rows].std(axis=0) + 1e-6
    weight, bias = fit_linear_head((vectors[train_rows] - mean) / scale, labels[train_rows], len(names),
                                   l2=l2, steps=steps)
    folded = (weight / scale[:, None]).astype(np.float32)
    bias = (bias - (mean / scale) @ weight).astype(np.float32)
    classifier = EncoderClaimClassifier(encoder, folded, bias, names)
    metrics: dict = {}
    if val_rows:
        logits = classifier.logits_of_vectors(vectors[val_rows]).astype(np.float64)
        y_val = labels[val_rows]
        metrics["validation"] = _calibrate(classifier, logits, y_val, names)
    card_path = classifier.save(
        out,
        data=_data_record(data, len(texts), labels, names, train_rows, val_rows, val_fraction,
                          {"text": text_column, "label": label_column}),
        metrics=metrics,
        training={"seed": seed, "l2": l2, "steps": steps, "optimizer": "full-batch Nesterov GD",
                  "encoder_precision": encoder.options.precision, "vector_rounding": 1e-4,
                  "standardized": True})
    return EncoderClaimClassifier.load(out, encoder=encoder), metrics, card_path


# --- shared by both -----------------------------------------------------------------------

def _calibrate(classifier, logits: np.ndarray, y_val: np.ndarray, names: list[str]) -> dict:
    """Fit the classifier's temperature on the validation logits; the validation metrics."""
    classifier.temperature = fit_temperature(logits, y_val)
    report = precision_recall_f1(y_val, logits.argmax(axis=1), names)
    return {"rows": len(y_val), "accuracy": report["accuracy"], "macro_f1": report["macro"]["f1"],
            "ece_before_temperature": expected_calibration_error(softmax(logits), y_val),
            "ece_after_temperature": expected_calibration_error(softmax(logits / classifier.temperature),
                                                                y_val),
            "temperature": classifier.temperature}


def _data_record(data: str | Path, rows: int, labels, names: list[str], train_rows: list[int],
                 val_rows: list[int], val_fraction: float, columns: dict[str, str]) -> dict:
    """What the model card says of the training data."""
    labels = np.asarray(labels)
    return {"path": str(data), "kind": dataset_kind(data), "sha256": data_sha256(data),
            "rows": rows, "train_rows": len(train_rows), "val_rows": len(val_rows),
            "val_fraction": val_fraction, "columns": columns,
            "label_counts": {n: int(np.sum(labels == i)) for i, n in enumerate(names)}}
