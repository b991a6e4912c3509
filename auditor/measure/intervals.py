"""Confidence intervals: Wilson for proportions, percentile for bootstrap replicates.

The Wilson score interval equals
``statsmodels.stats.proportion.proportion_confint(method="wilson")``. Percentile
intervals summarize replicates from :mod:`auditor.measure.bootstrap`; point estimates always
come from the exact table, so the interval is widened to include the estimate in
the rare case the percentile interval misses it (skewed replicates, or the small
discretization of the binned table).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CONFIDENCE = 0.95
MAX_UNDEFINED_SHARE = 0.05
"""Above this share of undefined replicates no bootstrap interval is given."""

NO_INTERVAL_BOOTSTRAP_OFF = "no interval: bootstrap replicates were not requested"
NO_INTERVAL_UNDEFINED = (
    "no interval: the value was undefined in {bad} of {total} bootstrap replicates"
)


def wilson_interval(
    successes: np.ndarray | float, trials: np.ndarray | float, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``successes / trials`` (NaN where ``trials`` is 0)."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = _z(confidence)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        q = k / n
        denom = 1.0 + z2 / n
        center = (q + z2 / (2.0 * n)) / denom
        dist = z * np.sqrt(q * (1.0 - q) / n + z2 / (4.0 * n**2)) / denom
    # clip to [0, 1] as statsmodels does; min/max remove rounding at k = 0 or k = n
    low = np.where(n > 0, np.minimum(np.clip(center - dist, 0.0, 1.0), q), np.nan)
    high = np.where(n > 0, np.maximum(np.clip(center + dist, 0.0, 1.0), q), np.nan)
    return low, high


@lru_cache(maxsize=8)
def _z(confidence: float) -> float:
    from scipy.stats import norm  # imported on first use: scipy.stats costs ~0.5 s to import

    return float(norm.isf((1.0 - confidence) / 2.0))


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    reason: str | None = None


def percentile_interval(
    replicates: np.ndarray, estimate: float | None, confidence: float = CONFIDENCE
) -> Interval:
    """Percentile interval of bootstrap replicates (NaN = undefined replicate)."""
    reps = np.asarray(replicates, dtype=np.float64).ravel()
    if reps.size == 0:
        return Interval(None, None, NO_INTERVAL_BOOTSTRAP_OFF)
    ok = np.isfinite(reps)
    bad = int(reps.size - ok.sum())
    if bad > MAX_UNDEFINED_SHARE * reps.size or not ok.any():
        return Interval(None, None, NO_INTERVAL_UNDEFINED.format(bad=bad, total=reps.size))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(reps[ok], [alpha, 1.0 - alpha])
    if estimate is not None and np.isfinite(estimate):
        low, high = min(low, estimate), max(high, estimate)
    return Interval(float(low), float(high))
