"""Calibration: expected calibration error, reliability diagram bins, temperature scaling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liveinspect.errors import DataError


def _top_label(probabilities: np.ndarray, y_true: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true)
    if probabilities.ndim != 2 or probabilities.shape[0] != y.shape[0]:
        raise DataError(f"probabilities {probabilities.shape} do not fit {y.shape[0]} labels")
    return probabilities.max(axis=1), (probabilities.argmax(axis=1) == y).astype(np.float64)


def reliability_bins(probabilities: np.ndarray, y_true: Sequence[int], n_bins: int = 10) -> dict:
    """Equal-width confidence bins of the top label: rows, mean confidence, accuracy per bin.

    A confidence of exactly 1.0 falls in the last bin; empty bins have count 0
    and NaN confidence/accuracy.
    """
    confidence, correct = _top_label(probabilities, y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, n_bins) / counts
        bin_accuracy = np.bincount(which, correct, n_bins) / counts
    return {"edges": edges, "counts": counts, "confidence": mean_confidence, "accuracy": bin_accuracy}


def expected_calibration_error(probabilities: np.ndarray, y_true: Sequence[int], n_bins: int = 10) -> float:
    """sum over bins of (rows in bin / rows) * |accuracy - mean confidence| (top label)."""
    bins = reliability_bins(probabilities, y_true, n_bins)
    filled = bins["counts"] > 0
    weights = bins["counts"][filled] / bins["counts"].sum()
    return float(np.sum(weights * np.abs(bins["accuracy"][filled] - bins["confidence"][filled])))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, y_true: Sequence[int], temperature: float = 1.0) -> float:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    log_probabilities = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
    return float(-log_probabilities[np.arange(len(scaled)), np.asarray(y_true)].mean())


def fit_temperature(logits: np.ndarray, y_true: Sequence[int], *, low: float = 0.05,
                    high: float = 20.0, iterations: int = 80) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al., 2017).

    The NLL is convex in 1/T, so a golden-section search over 1/T finds the optimum.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or len(logits) != len(y_true) or len(logits) == 0:
        raise DataError(f"logits {logits.shape} do not fit {len(y_true)} labels")
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = 1.0 / high, 1.0 / low  # search over inverse temperature

    def loss(inverse: float) -> float:
        return negative_log_likelihood(logits, y_true, 1.0 / inverse)

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    loss_c, loss_d = loss(c), loss(d)
    for _ in range(iterations):
        if loss_c < loss_d:
            b, d, loss_d = d, c, loss_c
            c = b - ratio * (b - a)
            loss_c = loss(c)
        else:
            a, c, loss_c = c, d, loss_d
            d = a + ratio * (b - a)
            loss_d = loss(d)
    return float(1.0 / ((a + b) / 2.0))
