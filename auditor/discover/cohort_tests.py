"""One-sided tests of a cohort against the rest, and false discovery rate control.

Each test compares a cohort with the disjoint rest of the same half, both held as
:class:`~auditor.reduce.stats.ScoreTable` (the one sufficient statistic); point
estimates come from the metric registry, so a cohort's AUROC is the same number the
audit's tables would show. Variances:

* AUROC: DeLong's placement variance, computed from the table's counts (ties count
  one half), independent samples (cohort and rest share no patient).
* FNR at the threshold: the pooled two-proportion z test on patients with the outcome;
  interval Wilson.
* Calibration O/E: log(O/E) with variance (1 - O/N)/O (Debray et al., BMJ 2017;356:i6460),
  the difference of logs against the rest; the direction ("under-predicted" or
  "over-predicted") is chosen on the search half and tested one-sided on confirmation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from auditor.measure.intervals import wilson_interval
from auditor.measure.metrics import metric_value
from auditor.reduce.stats import ScoreTable

Z95 = float(norm.isf(0.025))


@dataclass(frozen=True)
class CohortTest:
    """One cohort against the rest on one metric (z > 0 means the cohort is worse)."""

    estimate: float
    ci_low: float
    ci_high: float
    rest: float
    z: float
    p_value: float

    @property
    def difference(self) -> float:
        return self.estimate - self.rest


def _fnr_counts(table: ScoreTable, threshold: float) -> tuple[int, int]:
    """(false negatives, patients with the outcome): score < threshold is a miss."""
    below = table.scores < threshold
    return int(table.pos[below].sum()), int(table.pos.sum())


def delong(table: ScoreTable) -> tuple[float, float]:
    """AUROC and DeLong's variance from a count table (NaN when a class is absent)."""
    pos = table.pos.astype(np.float64)
    neg = table.neg.astype(np.float64)
    n1, n0 = pos.sum(), neg.sum()
    if n1 < 2 or n0 < 2:
        return math.nan, math.nan
    neg_below = np.cumsum(neg) - neg
    pos_above = n1 - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / n0  # placement of each positive among negatives
    v01 = (pos_above + 0.5 * pos) / n1  # placement of each negative among positives
    auc = float((pos * v10).sum() / n1)
    s10 = float((pos * (v10 - auc) ** 2).sum() / (n1 - 1))
    s01 = float((neg * (v01 - auc) ** 2).sum() / (n0 - 1))
    return auc, s10 / n1 + s01 / n0


def _oe_parts(table: ScoreTable) -> tuple[float, float, float]:
    n = table.pos + table.neg
    return float(table.pos.sum()), float((table.scores * n).sum()), float(n.sum())


def compare_with_rest(
    metric: str,
    cohort: ScoreTable,
    rest: ScoreTable,
    *,
    threshold: float,
    direction: int = 1,
) -> CohortTest | None:
    """One-sided test that ``cohort`` is worse than ``rest``; None when undefined.

    ``direction`` matters for ``oe_ratio`` only: +1 tests under-prediction (O/E above
    the rest's), -1 over-prediction.
    """
    if metric == "auroc":
        a_c, v_c = delong(cohort)
        a_r, v_r = delong(rest)
        se = math.sqrt(v_c + v_r) if v_c + v_r > 0 else math.nan
        if not math.isfinite(se) or not math.isfinite(a_c) or not math.isfinite(a_r):
            return None
        estimate = _registry("auroc", cohort, threshold)
        half = Z95 * math.sqrt(v_c)
        z = (a_r - a_c) / se
        return CohortTest(
            estimate,
            max(0.0, estimate - half),
            min(1.0, estimate + half),
            _registry("auroc", rest, threshold),
            z,
            float(norm.sf(z)),
        )
    if metric == "fnr":
        fn_c, p_c = _fnr_counts(cohort, threshold)
        fn_r, p_r = _fnr_counts(rest, threshold)
        if p_c == 0 or p_r == 0:
            return None
        pooled = (fn_c + fn_r) / (p_c + p_r)
        var = pooled * (1 - pooled) * (1 / p_c + 1 / p_r)
        estimate = _registry("fnr", cohort, threshold)
        rest_value = _registry("fnr", rest, threshold)
        z = (estimate - rest_value) / math.sqrt(var) if var > 0 else 0.0
        low, high = wilson_interval(fn_c, p_c)
        return CohortTest(estimate, float(low), float(high), rest_value, z, float(norm.sf(z)))
    if metric == "oe_ratio":
        o_c, e_c, n_c = _oe_parts(cohort)
        o_r, e_r, n_r = _oe_parts(rest)
        if min(o_c, o_r, e_c, e_r) <= 0:
            return None
        var_c = (1 - o_c / n_c) / o_c
        var_r = (1 - o_r / n_r) / o_r
        diff = math.log(o_c / e_c) - math.log(o_r / e_r)
        se = math.sqrt(var_c + var_r)
        z = direction * diff / se if se > 0 else 0.0
        estimate = _registry("oe_ratio", cohort, threshold)
        half = Z95 * math.sqrt(var_c)
        return CohortTest(
            estimate,
            estimate * math.exp(-half),
            estimate * math.exp(half),
            _registry("oe_ratio", rest, threshold),
            z,
            float(norm.sf(z)),
        )
    raise ValueError(f"no cohort test for metric {metric!r}")


def _registry(metric: str, table: ScoreTable, threshold: float) -> float:
    value = metric_value(metric, table, threshold).value
    return math.nan if value is None else float(value)


def fdr_reject(p_values: Sequence[float], level: float, correction: str) -> np.ndarray:
    """Benjamini-Hochberg (``bh``) or Benjamini-Yekutieli (``by``) step-up rejections.

    BY divides the level by the harmonic sum 1 + 1/2 + ... + 1/m, which makes the
    procedure valid under any dependence between the tests.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    scale = float(np.sum(1.0 / np.arange(1, m + 1))) if correction == "by" else 1.0
    order = np.argsort(p, kind="stable")
    bounds = level * np.arange(1, m + 1) / (m * scale)
    below = p[order] <= bounds
    reject = np.zeros(m, dtype=bool)
    if below.any():
        k = int(np.flatnonzero(below).max())
        reject[order[: k + 1]] = True
    return reject


def adjusted_p(p_values: Sequence[float], correction: str) -> np.ndarray:
    """Step-up adjusted p-values (q-values) matching :func:`fdr_reject`."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    scale = float(np.sum(1.0 / np.arange(1, m + 1))) if correction == "by" else 1.0
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m * scale / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out
