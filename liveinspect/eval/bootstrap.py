"""Bootstrap confidence intervals for any metric computed from per-row arrays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from liveinspect.errors import DataError, LiveInspectError


@dataclass(frozen=True)
class Interval:
    """A metric's value on all rows and its percentile bootstrap interval."""

    value: float
    low: float
    high: float
    confidence: float
    resamples: int  # resamples on which the metric was defined

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_interval(metric: Callable[..., float], *arrays: np.ndarray, n_resamples: int = 1000,
                       confidence: float = 0.95, seed: int = 0) -> Interval:
    """Resample rows with replacement (the same rows from every array), recompute `metric`,
    take the (1-confidence)/2 and (1+confidence)/2 percentiles.

    A resample on which the metric is undefined (e.g. AUC with one class) is skipped.
    """
    if not arrays:
        raise DataError("bootstrap_interval needs at least one array")
    arrays = tuple(np.asarray(a) for a in arrays)
    rows = len(arrays[0])
    if rows == 0 or any(len(a) != rows for a in arrays):
        raise DataError(f"arrays must be non-empty and of equal length, got {[len(a) for a in arrays]}")
    if not 0.0 < confidence < 1.0:
        raise DataError(f"confidence must be in (0, 1), got {confidence}")
    value = float(metric(*arrays))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_resamples):
        index = rng.integers(0, rows, rows)
        try:
            samples.append(float(metric(*(a[index] for a in arrays))))
        except LiveInspectError:
            continue
    if not samples:
        raise DataError("the metric was undefined on every bootstrap resample")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return Interval(value=value, low=float(low), high=float(high), confidence=confidence,
                    resamples=len(samples))
