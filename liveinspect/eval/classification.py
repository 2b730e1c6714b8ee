"""Evaluate one classification system: labels, optional probabilities, optional detection scores.

Produces the JSON-ready metrics (with bootstrap intervals) that `metrics.json`
and the HTML report show, plus the arrays the plots need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from liveinspect.errors import DataError
from liveinspect.eval.bootstrap import bootstrap_interval
from liveinspect.eval.calibration import expected_calibration_error, reliability_bins
from liveinspect.eval.metrics import (
    accuracy,
    confusion_matrix,
    equal_error_rate,
    macro_f1,
    one_vs_rest_auc,
    precision_recall_f1,
    roc_auc,
    roc_curve,
    threshold_at_fpr,
)

TARGET_FPRS = (0.01, 0.05, 0.10)


@dataclass
class SystemOutputs:
    """What one system said about each row.

    `predictions`: label index per row. `probabilities` (rows, labels), when the
    system has them. `detection_scores`: one score per row for "is a violation"
    (rows whose true label is not `negative_label` are positives).
    """

    name: str
    predictions: np.ndarray
    probabilities: np.ndarray | None = None
    detection_scores: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def evaluate_system(outputs: SystemOutputs, y_true: Sequence[int], labels: Sequence[str], *,
                    negative_label: str | None = None, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Per-class and macro P/R/F1, accuracy, confusion matrix; AUCs, EER and thresholds at
    target false-positive rates for the detection score; ECE for probabilities; each
    headline number with a 95% bootstrap interval."""
    y = np.asarray(y_true, dtype=np.int64)
    predictions = np.asarray(outputs.predictions, dtype=np.int64)
    if predictions.shape != y.shape:
        raise DataError(f"{outputs.name}: {predictions.shape[0]} predictions for {y.shape[0]} rows")
    n = len(labels)
    result: dict = {"name": outputs.name, "rows": int(len(y)), "notes": list(outputs.notes)}
    result.update(precision_recall_f1(y, predictions, labels))
    result["confusion_matrix"] = confusion_matrix(y, predictions, n).tolist()
    result["intervals"] = {
        "macro_f1": bootstrap_interval(lambda t, p: macro_f1(t, p, n), y, predictions,
                                       n_resamples=n_resamples, seed=seed).to_dict(),
        "accuracy": bootstrap_interval(accuracy, y, predictions, n_resamples=n_resamples,
                                       seed=seed).to_dict()}
    if outputs.probabilities is not None:
        probabilities = np.asarray(outputs.probabilities, dtype=np.float64)
        result["roc_auc_per_class"] = one_vs_rest_auc(y, probabilities, labels)
        result["ece"] = expected_calibration_error(probabilities, y)
        result["intervals"]["ece"] = bootstrap_interval(
            expected_calibration_error, probabilities, y, n_resamples=n_resamples, seed=seed).to_dict()
        bins = reliability_bins(probabilities, y)
        result["reliability"] = {k: [None if np.isnan(v) else float(v) for v in bins[k]]
                                 for k in ("edges", "counts", "confidence", "accuracy")}
    if outputs.detection_scores is not None and negative_label is not None:
        result["detection"] = _detection(np.asarray(outputs.detection_scores, dtype=np.float64),
                                         y != list(labels).index(negative_label), n_resamples, seed)
    return result


def _detection(scores: np.ndarray, positive: np.ndarray, n_resamples: int, seed: int) -> dict:
    if positive.all() or not positive.any():
        return {"note": "needs both violating and compliant rows"}
    eer, eer_threshold = equal_error_rate(positive, scores)
    curve = roc_curve(positive, scores)
    return {
        "positives": int(positive.sum()), "negatives": int((~positive).sum()),
        "roc_auc": roc_auc(positive, scores), "eer": eer, "eer_threshold": eer_threshold,
        "at_fpr": [threshold_at_fpr(positive, scores, f) for f in TARGET_FPRS],
        "intervals": {
            "roc_auc": bootstrap_interval(roc_auc, positive, scores, n_resamples=n_resamples,
                                          seed=seed).to_dict(),
            "eer": bootstrap_interval(lambda p, s: equal_error_rate(p, s)[0], positive, scores,
                                      n_resamples=n_resamples, seed=seed).to_dict()},
        "curve": {"fpr": curve.fpr.tolist(), "tpr": curve.tpr.tolist(),
                  "thresholds": [None if np.isinf(t) else float(t) for t in curve.thresholds]},
    }


def worst_errors(texts: Sequence[str], y_true: Sequence[int], outputs: SystemOutputs,
                 labels: Sequence[str], limit: int = 20) -> list[dict]:
    """Misclassified rows, most confidently wrong first (by the predicted label's probability,
    else by the detection score)."""
    y = np.asarray(y_true)
    wrong = np.nonzero(np.asarray(outputs.predictions) != y)[0]
    if outputs.probabilities is not None:
        confidence = np.asarray(outputs.probabilities)[wrong, np.asarray(outputs.predictions)[wrong]]
    elif outputs.detection_scores is not None:
        confidence = np.asarray(outputs.detection_scores)[wrong]
    else:
        confidence = np.zeros(len(wrong))
    order = np.argsort(-confidence, kind="stable")[:limit]
    return [{"text": texts[wrong[i]], "true": labels[y[wrong[i]]],
             "predicted": labels[int(outputs.predictions[wrong[i]])], "confidence": float(confidence[i])}
            for i in order]
