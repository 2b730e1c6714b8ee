"""PNG plots for evaluation reports (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def plot_roc(curves: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """ROC curves (TPR against FPR), one line per system; `curves[name]` has 'fpr' and 'tpr'."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for name, curve in curves.items():
        axes.plot(curve["fpr"], curve["tpr"], drawstyle="steps-post", label=name)
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC: violation vs compliant",
             xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="lower right")
    return _save(figure, Path(path))


def plot_det(curves: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """DET curves: miss rate against false-alarm rate on normal-deviate axes."""
    plt = _pyplot()
    deviate = NormalDist().inv_cdf
    clip = 1e-3  # rates of exactly 0 or 1 sit at +-infinity on these axes
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99]
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for name, curve in curves.items():
        fpr = np.clip(np.asarray(curve["fpr"], dtype=float), clip, 1 - clip)
        fnr = np.clip(1.0 - np.asarray(curve["tpr"], dtype=float), clip, 1 - clip)
        axes.plot([deviate(v) for v in fpr], [deviate(v) for v in fnr], marker=".", label=name)
    positions = [deviate(t) for t in ticks]
    axes.set_xticks(positions, [f"{t:g}" for t in ticks])
    axes.set_yticks(positions, [f"{t:g}" for t in ticks])
    axes.set(xlabel="false-positive rate", ylabel="miss rate (false-negative rate)", title="DET")
    axes.plot(positions, positions, color="grey", linestyle=":", linewidth=1)
    axes.legend(loc="upper right")
    return _save(figure, Path(path))


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str,
                   path: str | Path) -> Path:
    plt = _pyplot()
    counts = np.asarray(matrix)
    figure, axes = plt.subplots(figsize=(6, 5.2))
    axes.imshow(counts, cmap="Blues")
    for (row, column), value in np.ndenumerate(counts):
        axes.text(column, row, str(value), ha="center", va="center",
                  color="white" if value > counts.max() / 2 else "black", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    return _save(figure, Path(path))


def plot_reliability(reliability: Mapping[str, Sequence[float | None]], title: str,
                     path: str | Path) -> Path:
    """Accuracy against mean confidence per bin (bars), with the diagonal of perfect calibration."""
    plt = _pyplot()
    edges = np.asarray(reliability["edges"], dtype=float)
    centers = (edges[:-1] + edges[1:]) / 2
    accuracy = np.array([np.nan if v is None else v for v in reliability["accuracy"]], dtype=float)
    counts = np.asarray(reliability["counts"], dtype=float)
    figure, axes = plt.subplots(figsize=(5, 4.5))
    axes.bar(centers, np.nan_to_num(accuracy), width=np.diff(edges), edgecolor="black", alpha=0.7,
             label="accuracy")
    axes.plot([0, 1], [0, 1], color="red", linestyle="--", label="perfect calibration")
    for x, count in zip(centers, counts, strict=True):
        if count:
            axes.text(x, 0.02, str(int(count)), ha="center", fontsize=7)
    axes.set(xlabel="confidence (top label)", ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="upper left")
    return _save(figure, Path(path))
