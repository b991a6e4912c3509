"""Simultaneous intervals: one level per family so that all its intervals cover jointly.

A policy judges dozens of (rule x group) results; at 95% each, a model with no true
breach still fails some by chance. With ``intervals: simultaneous`` a rule is judged
on intervals that cover *all* groups of a family jointly at 95%.

Method (bootstrap max-statistic, as in Romano & Wolf's step-down tests and the
simultaneous bands of Efron & Tibshirani, ch. 6): for each result ``i`` of a family,
standardize its bootstrap replicates, ``T_ir = |theta*_ir - mean_i| / sd_i``; take the
maximum over the family in every replicate, ``M_r = max_i T_ir``; its 95th percentile
``c`` is the critical value at which all standardized deviations fall together in 95%
of replicates. ``c`` is turned into a per-interval level ``2 Phi(c) - 1``; proportions
get their Wilson interval at that level; a bootstrap metric gets its 95% percentile
interval with each side stretched by ``c / 1.96`` about the estimate
(:func:`stretched_interval`), which keeps skewed metrics skewed and uses the stable
2.5% and 97.5% quantiles rather than the far tails (with 1,000 replicates the 0.4%
quantile is the 4th most extreme replicate; with 200, the most extreme). ``c`` is bounded by
the per-result critical value (never narrower than a 95% interval) and by
Bonferroni's ``z(1 - 0.05 / 2G)`` (never wider than Bonferroni, which is always valid);
without replicates (no bootstrap) Bonferroni's level is used.

A family is one metric at one threshold over every group of every view (and
everyone), or one between-group comparison (metric and kind) over every group of
every view: a rule's groups are a subset, so they are covered jointly too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditor.measure.intervals import CONFIDENCE, MAX_UNDEFINED_SHARE

METHOD = "bootstrap max-statistic (studentized by the replicates' SD), bounded by Bonferroni"


def stretched_interval(
    estimate: float, low: float, high: float, level: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """A ``confidence`` interval about ``estimate`` with each side stretched to ``level``."""
    from scipy.stats import norm  # here, not at import: the policy loader imports this module

    factor = float(norm.isf((1 - level) / 2) / norm.isf((1 - confidence) / 2))
    return estimate - (estimate - low) * factor, estimate + (high - estimate) * factor


def bonferroni_level(count: int, confidence: float = CONFIDENCE) -> float:
    """Per-interval level at which ``count`` intervals cover jointly by Bonferroni."""
    return 1.0 - (1.0 - confidence) / max(int(count), 1)


def joint_level(replicates: Sequence[np.ndarray | None], confidence: float = CONFIDENCE) -> float:
    """Per-interval level at which the family's intervals cover jointly at ``confidence``.

    ``replicates`` holds each member's bootstrap replicates (None: the member has none;
    it counts for Bonferroni's bound but not in the max-statistic).
    """
    from scipy.stats import norm

    count = len(replicates)
    if count <= 1:
        return confidence
    upper = bonferroni_level(count, confidence)
    devs = []
    for reps in replicates:
        if reps is None or reps.size == 0:
            continue
        ok = np.isfinite(reps)
        if ok.sum() < (1 - MAX_UNDEFINED_SHARE) * reps.size:
            continue
        sd = float(np.std(reps[ok]))
        if sd <= 0:
            continue
        devs.append(np.abs(reps - float(np.mean(reps[ok]))) / sd)
    if not devs or len({d.size for d in devs}) != 1:
        return upper
    with np.errstate(invalid="ignore"):
        stacked = np.vstack(devs)
        worst = np.where(np.isfinite(stacked), stacked, -np.inf).max(axis=0)
    c = float(np.quantile(worst[np.isfinite(worst)], confidence)) if np.isfinite(worst).any() else 0
    low_c = float(norm.isf((1 - confidence) / 2))
    high_c = float(norm.isf((1 - upper) / 2))
    c = min(max(c, low_c), high_c)
    return float(1.0 - 2.0 * norm.sf(c))
