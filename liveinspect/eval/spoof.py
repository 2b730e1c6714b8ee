"""Synthetic-media detection: EER and AUC per held-out generator and re-encoding, with intervals.

`per_generator` scores each synthetic generator's test rows against all
real test rows, per condition (clean, each re-encoding); the
leave-one-generator-out loops that train heads live in `training.voice`
and `training.avatar`. EER intervals are percentile bootstraps over rows; with
tens of clips per cell they are wide, and the report prints them so nobody
reads more into a cell than it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liveinspect.eval.bootstrap import bootstrap_interval
from liveinspect.eval.metrics import equal_error_rate, roc_auc

REAL = "bona-fide"


def detection_metrics(y_true: np.ndarray, scores: np.ndarray, *, n_resamples: int = 500,
                      seed: int = 0) -> dict:
    """EER (with a 95% bootstrap interval) and ROC AUC; higher score = more likely synthetic."""
    y_true, scores = np.asarray(y_true), np.asarray(scores, np.float64)

    def eer(y, s):
        return equal_error_rate(y, s)[0]

    interval = bootstrap_interval(eer, y_true, scores, n_resamples=n_resamples, seed=seed)
    return {"eer": round(interval.value, 4), "eer_low": round(interval.low, 4),
            "eer_high": round(interval.high, 4),
            "auc": round(roc_auc(y_true, scores), 4), "real": int((y_true == 0).sum()),
            "synthetic": int((y_true == 1).sum())}


def per_generator(scores: np.ndarray, label: np.ndarray, generator: Sequence[str],
                  condition: Sequence[str], *,
                  generators: Sequence[str] | None = None, conditions: Sequence[str] | None = None,
                  n_resamples: int = 500) -> dict:
    """{generator: {condition: metrics}}: each generator's clips against every real clip of that condition."""
    generator, condition = np.asarray(generator), np.asarray(condition)
    generators = list(generators or [g for g in dict.fromkeys(generator) if g != REAL])
    conditions = list(conditions or dict.fromkeys(condition))
    results: dict = {}
    for name in generators:
        results[name] = {}
        for cond in conditions:
            mask = (condition == cond) & ((generator == name) | (label == 0))
            if len(set(label[mask])) < 2:
                continue
            results[name][cond] = detection_metrics(label[mask], scores[mask], n_resamples=n_resamples)
    return results


def false_positives(probability: np.ndarray, label: np.ndarray, sources: Sequence[str],
                    threshold: float) -> list:
    """Real rows scored at or above `threshold`: (source, score)."""
    return [(src, round(float(p), 3)) for p, y, src in zip(probability, label, sources, strict=True)
            if y == 0 and p >= threshold]


def format_table(results: dict, baseline: str = "AASIST") -> str:
    """A plain-text table of a leave-one-generator-out result."""
    lines = [f"{'held-out':<14} {'condition':<9} {'head EER [95% CI]':<24} "
             f"{baseline + ' EER [95% CI]':<24}"
             f" {'head AUC':>8} {baseline + ' AUC':>10}"]
    for name, by_condition in results.items():
        for cond, pair in by_condition.items():
            h, a = pair["head"], pair["baseline"]
            lines.append(f"{name:<14} {cond:<9} {_cell(h):<24} {_cell(a):<24} {h['auc']:>8.3f} "
                         f"{a['auc']:>10.3f}")
    return "\n".join(lines)


def _cell(metrics: dict) -> str:
    return f"{metrics['eer']:.1%} [{metrics['eer_low']:.1%}, {metrics['eer_high']:.1%}]"
