"""Metrics for every task kind: classification (P/R/F1), scores (ROC-AUC, EER, threshold
at a false-positive rate) and speech (WER/CER). numpy only; each takes plain arrays,
so `liveinspect.eval.bootstrap` can resample any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liveinspect.errors import DataError

# --- classification ------------------------------------------------------


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> np.ndarray:
    """counts[t, p]: rows with true label t predicted as p."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= num_labels):
        raise DataError(f"labels must be in [0, {num_labels})")
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0/0 counts as 0: a class never predicted has precision 0, as scikit-learn's default.
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=np.float64),
                     where=denominator > 0)


def precision_recall_f1(y_true: Sequence[int], y_pred: Sequence[int],
                        labels: Sequence[str]) -> dict:
    """Per-class precision, recall, F1 and support; their unweighted (macro) means; accuracy."""
    counts = confusion_matrix(y_true, y_pred, len(labels))
    true_positive = np.diag(counts).astype(np.float64)
    precision = _safe_divide(true_positive, counts.sum(axis=0).astype(np.float64))
    recall = _safe_divide(true_positive, counts.sum(axis=1).astype(np.float64))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    total = counts.sum()
    return {
        "per_class": {label: {"precision": float(precision[i]), "recall": float(recall[i]),
                              "f1": float(f1[i]), "support": int(counts[i].sum())}
                      for i, label in enumerate(labels)},
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                  "f1": float(f1.mean())},
        "accuracy": float(true_positive.sum() / total) if total else 0.0,
    }


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> float:
    return precision_recall_f1(y_true, y_pred, [str(i) for i in range(num_labels)])["macro"]["f1"]


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


# --- scores: ROC, AUC, EER ----------------------------------------------------


@dataclass
class RocCurve:
    """Points from the strictest threshold (inf: nothing positive) to the loosest."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    @property
    def fnr(self) -> np.ndarray:
        return 1.0 - self.tpr


def _binary(y_true: Sequence[int | bool], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise DataError(f"y_true {y.shape} and scores {s.shape} must be equal-length vectors")
    if y.all() or not y.any():
        raise DataError("ROC needs both positive and negative rows")
    return y, s


def roc_curve(y_true: Sequence[int | bool], scores: Sequence[float]) -> RocCurve:
    """A row is predicted positive when its score >= threshold; one point per distinct score."""
    y, s = _binary(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last_of_run]
    fp = np.cumsum(~y)[last_of_run]
    return RocCurve(fpr=np.r_[0.0, fp / (~y).sum()], tpr=np.r_[0.0, tp / y.sum()],
                    thresholds=np.r_[np.inf, s[last_of_run]])


def roc_auc(y_true: Sequence[int | bool], scores: Sequence[float]) -> float:
    """P(score of a random positive > that of a random negative), ties counting one half."""
    y, s = _binary(y_true, scores)
    ranks = _average_ranks(s)
    n_pos, n_neg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    start = 0
    for end in np.r_[np.nonzero(np.diff(sorted_values))[0] + 1, len(values)]:
        ranks[order[start:end]] = (start + 1 + end) / 2  # mean of ranks start+1 .. end
        start = end
    return ranks


def equal_error_rate(y_true: Sequence[int | bool], scores: Sequence[float]) -> tuple[float, float]:
    """(EER, threshold): where the false-positive and false-negative rates meet, linearly
    interpolated between the two ROC points around the crossing; the threshold is the
    score at the first point where FNR <= FPR."""
    curve = roc_curve(y_true, scores)
    gap = curve.fpr - curve.fnr  # rises from -1 to +1
    i = int(np.argmax(gap >= -1e-12))  # tolerance: 1 - 2/3 is not exactly 1/3 in floats
    if i == 0:
        return float(curve.fpr[0]), float(curve.thresholds[0])
    share = gap[i - 1] / (gap[i - 1] - gap[i])
    eer = curve.fpr[i - 1] + share * (curve.fpr[i] - curve.fpr[i - 1])
    return float(eer), float(curve.thresholds[i])


def threshold_at_fpr(y_true: Sequence[int | bool], scores: Sequence[float],
                     target_fpr: float) -> dict[str, float]:
    """The loosest threshold whose false-positive rate stays <= target, with its TPR and FPR."""
    if not 0.0 <= target_fpr <= 1.0:
        raise DataError(f"target_fpr must be in [0, 1], got {target_fpr}")
    curve = roc_curve(y_true, scores)
    i = int(np.nonzero(curve.fpr <= target_fpr)[0].max())
    return {"threshold": float(curve.thresholds[i]), "fpr": float(curve.fpr[i]),
            "tpr": float(curve.tpr[i]), "target_fpr": float(target_fpr)}


def one_vs_rest_auc(y_true: Sequence[int], probabilities: np.ndarray,
                    labels: Sequence[str]) -> dict[str, float | None]:
    """ROC-AUC of each label's probability against the rest (None when a label has no
    positive or no negative row) and their macro mean over defined labels."""
    y = np.asarray(y_true)
    out: dict[str, float | None] = {}
    for i, label in enumerate(labels):
        positive = y == i
        out[label] = roc_auc(positive, probabilities[:, i]) if 0 < positive.sum() < len(y) else None
    defined = [v for v in out.values() if v is not None]
    out["macro"] = float(np.mean(defined)) if defined else None
    return out


# --- speech ---------------------------------------------------------------


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def _rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    if not reference:
        return 0.0 if not hypothesis else float("inf")
    return edit_distance(reference, hypothesis) / len(reference)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word edits per reference word (words split on whitespace)."""
    return _rate(reference.split(), hypothesis.split())


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: character edits per reference character, whitespace ignored
    (Chinese is written without spaces, so spacing is not an error)."""
    return _rate([c for c in reference if not c.isspace()], [c for c in hypothesis if not c.isspace()])


def corpus_error_rate(references: Sequence[str], hypotheses: Sequence[str], *, unit: str = "word") -> float:
    """Total edits over total reference units across a corpus (not a mean of per-line rates)."""
    if len(references) != len(hypotheses):
        raise DataError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    split = str.split if unit == "word" else (lambda t: [c for c in t if not c.isspace()])
    edits = sum(edit_distance(split(r), split(h)) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(split(r)) for r in references)
    return edits / total if total else 0.0
