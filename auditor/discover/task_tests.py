"""One-sided tests of a cohort against the rest for the survival, multiclass and
regression tasks.

A cohort and its rest are disjoint sets of patients of one half, each held as the
task's :class:`~auditor.tasks.base.RowTable`. Every estimate shown (the cohort's and
the rest's) is the task registry's own metric function on that table, so a cohort's
C-index is the number the audit's tables would show for a group with those rows.
Only the variances are computed here, each justified in docs/discovery.md:

* ``c_index`` (lower is worse): the delete-one jackknife variance of Harrell's C,
  exact and in the same pass as the index (O(n log² n) on large tables)
  (:func:`auditor.tasks.survival.concordance_parts`); z on the difference of two
  independent samples.
* ``oe_ratio_t`` (away from the rest, direction chosen on the search half): the
  difference of log(O/E) at the horizon, with Greenwood's variance of the
  Kaplan–Meier estimate carried to log(1 − S) by the delta method; the predicted
  risk is conditioned on (as the binary O/E test does).
* ``sensitivity_t`` (lower is worse): the IPCW-weighted proportion's linearised
  (sandwich) variance, the censoring weights held fixed (as the audit's bootstrap
  keeps G fixed); Wilson interval at Kish's effective sample size.
* ``under_triage_rate``, ``over_triage_rate`` (higher is worse) and ``accuracy``
  (lower is worse): pooled two-proportion z; Wilson interval.
* ``mae`` (higher is worse) and ``mean_error`` (away from the rest, direction chosen
  on the search half): Welch's t on the patients' absolute or signed errors, with
  Welch–Satterthwaite degrees of freedom; t interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from auditor.discover.cohort_tests import Z95, CohortTest
from auditor.measure.intervals import wilson_interval
from auditor.tasks import task_metrics
from auditor.tasks.base import RowTable, TaskMetric

TWO_SIDED = ("oe_ratio", "oe_ratio_t", "mean_error")
"""Metrics tested away from the rest, in the direction the search half shows."""


def worse_sign(task: str, metric: str) -> int:
    """+1 when a higher value is worse, -1 when lower is worse, 0 for two-sided."""
    if metric in TWO_SIDED:
        return 0
    direction = task_metrics(task)[metric].direction
    return 1 if direction == "lower" else -1


def _definition(task: str, metric: str) -> TaskMetric:
    """A survival, multiclass or regression registry entry (a :class:`TaskMetric`)."""
    return cast(TaskMetric, task_metrics(task)[metric])


def _registry(task: str, metric: str, table: RowTable, ctx: Any) -> float:
    value, _why = _definition(task, metric).fn(table, ctx)
    return float(value)


def _result(
    estimate: float, low: float, high: float, rest: float, z: float, p: float | None = None
) -> CohortTest | None:
    if not all(math.isfinite(v) for v in (estimate, rest, z)):
        return None
    return CohortTest(estimate, low, high, rest, z, float(norm.sf(z)) if p is None else p)


# ------------------------------------------------------------------------ survival


def jackknife_c_index(table: RowTable) -> tuple[float, float]:
    """Harrell's C and its delete-one jackknife variance (NaN when undefined)."""
    from auditor.tasks.survival import concordance_parts

    count = table.count
    num, den, a, b = concordance_parts(table, np.ones(count.size), per_row=True)
    n = float(count.sum())
    rest = den - b
    if den <= 0 or n < 3 or np.any(rest <= 0):
        return math.nan, math.nan
    loo = (num - a) / rest
    mean = float(count @ loo) / n
    return num / den, (n - 1) / n * float(count @ (loo - mean) ** 2)


def km_greenwood(table: RowTable, t: float) -> tuple[float, float]:
    """Kaplan–Meier survival at ``t`` and Greenwood's variance (NaN past follow-up)."""
    time, event, count = table.columns["time"], table.columns["event"] == 1, table.count
    if count.sum() == 0:
        return math.nan, math.nan
    times = np.unique(time)
    idx = np.searchsorted(times, time)
    d = np.bincount(idx, weights=count * event, minlength=times.size)
    total = np.bincount(idx, weights=count, minlength=times.size)
    r = total[::-1].cumsum()[::-1]
    s = np.cumprod(1.0 - np.divide(d, r, out=np.zeros(times.size), where=d != 0))
    if t > times[-1] and s[-1] > 0:
        return math.nan, math.nan
    k = int(np.searchsorted(times, t, side="right")) - 1
    if k < 0:
        return 1.0, 0.0
    alive = r - d
    terms = np.divide(d, r * alive, out=np.zeros(times.size), where=(d != 0) & (alive > 0))
    return float(s[k]), float(s[k] ** 2 * np.cumsum(terms)[k])


def _log_oe_variance(table: RowTable, horizon: float) -> float:
    s, var = km_greenwood(table, horizon)
    if not math.isfinite(s) or s >= 1.0:
        return math.nan
    return var / (1.0 - s) ** 2


def _weighted_sensitivity(table: RowTable, ctx: Any) -> tuple[float, float, float]:
    """(variance of the IPCW sensitivity, weight sum, Kish effective cases)."""
    from auditor.tasks.survival import _status

    cases, _controls, w = _status(table, ctx)
    flagged = (table.columns["risk"] >= ctx.threshold).astype(np.float64)
    wc = (w * table.count)[cases]
    total = float(wc.sum())
    if total <= 0:
        return math.nan, 0.0, 0.0
    p = float(wc @ flagged[cases]) / total
    w_case = w[cases]
    var = float((table.count[cases] * w_case**2) @ (flagged[cases] - p) ** 2) / total**2
    effective = total**2 / float(table.count[cases] @ w_case**2)
    return var, total, effective


def _survival_test(
    metric: str, cohort: RowTable, rest: RowTable, ctx: Any, direction: int
) -> CohortTest | None:
    if metric == "c_index":
        # the registry's c_index is num/den of the same concordance_parts pass
        est, v_c = jackknife_c_index(cohort)
        other, v_r = jackknife_c_index(rest)
        if not (v_c + v_r > 0):
            return None
        half = Z95 * math.sqrt(v_c)
        z = (other - est) / math.sqrt(v_c + v_r)
        return _result(est, max(0.0, est - half), min(1.0, est + half), other, z)
    est = _registry("survival", metric, cohort, ctx)
    other = _registry("survival", metric, rest, ctx)
    if not (math.isfinite(est) and math.isfinite(other)):
        return None
    if metric == "oe_ratio_t":
        v_c = _log_oe_variance(cohort, ctx.horizon)
        v_r = _log_oe_variance(rest, ctx.horizon)
        if not (v_c + v_r > 0) or est <= 0 or other <= 0:
            return None
        z = direction * (math.log(est) - math.log(other)) / math.sqrt(v_c + v_r)
        half = Z95 * math.sqrt(v_c)
        return _result(est, est * math.exp(-half), est * math.exp(half), other, z)
    if metric == "sensitivity_t":
        v_c, _wc, eff = _weighted_sensitivity(cohort, ctx)
        v_r, _wr, _er = _weighted_sensitivity(rest, ctx)
        if not (v_c + v_r > 0):
            return None
        low, high = wilson_interval(est * eff, eff)
        z = (other - est) / math.sqrt(v_c + v_r)
        return _result(est, float(low), float(high), other, z)
    raise ValueError(f"no cohort test for survival metric {metric!r}")


# ---------------------------------------------------------------------- multiclass


def _proportion_test(
    task: str, metric: str, cohort: RowTable, rest: RowTable, ctx: Any
) -> CohortTest | None:
    definition = _definition(task, metric)
    assert definition.fraction is not None
    k_c, n_c = definition.fraction(cohort, ctx)
    k_r, n_r = definition.fraction(rest, ctx)
    est = _registry(task, metric, cohort, ctx)
    other = _registry(task, metric, rest, ctx)
    if n_c <= 0 or n_r <= 0 or not (math.isfinite(est) and math.isfinite(other)):
        return None
    pooled = (k_c + k_r) / (n_c + n_r)
    var = pooled * (1 - pooled) * (1 / n_c + 1 / n_r)
    sign = worse_sign(task, metric)
    z = sign * (est - other) / math.sqrt(var) if var > 0 else 0.0
    low, high = wilson_interval(k_c, n_c)
    return _result(est, float(low), float(high), other, z)


# ---------------------------------------------------------------------- regression


def _errors(table: RowTable, metric: str) -> np.ndarray:
    error = table.columns["prediction"] - table.columns["label"]
    return np.abs(error) if metric == "mae" else error


def _mean_var(values: np.ndarray, count: np.ndarray) -> tuple[float, float, float]:
    n = float(count.sum())
    mean = float(values @ count) / n
    var = float(count @ (values - mean) ** 2) / (n - 1) if n > 1 else math.nan
    return mean, var, n


def _welch_test(metric: str, cohort: RowTable, rest: RowTable, direction: int) -> CohortTest | None:
    est = _registry("regression", metric, cohort, None)
    other = _registry("regression", metric, rest, None)
    if cohort.n < 2 or rest.n < 2 or not (math.isfinite(est) and math.isfinite(other)):
        return None
    _m, v_c, n_c = _mean_var(_errors(cohort, metric), cohort.count)
    _o, v_r, n_r = _mean_var(_errors(rest, metric), rest.count)
    a, b = v_c / n_c, v_r / n_r
    if not (a + b > 0):
        return None
    df = (a + b) ** 2 / (a**2 / (n_c - 1) + b**2 / (n_r - 1))
    sign = 1 if metric == "mae" else direction
    t_stat = sign * (est - other) / math.sqrt(a + b)
    half = float(student_t.isf(0.025, n_c - 1)) * math.sqrt(a)
    return _result(est, est - half, est + half, other, t_stat, float(student_t.sf(t_stat, df)))


def compare_task(
    task: str,
    metric: str,
    cohort: RowTable,
    rest: RowTable,
    ctx: Any,
    *,
    direction: int = 1,
) -> CohortTest | None:
    """One-sided test that ``cohort`` is worse than ``rest``; None when undefined.

    ``direction`` matters for the two-sided metrics only (O/E at the horizon, mean
    error): +1 tests a value above the rest's, -1 below.
    """
    if task == "survival":
        return _survival_test(metric, cohort, rest, ctx, direction)
    if task == "multiclass":
        return _proportion_test(task, metric, cohort, rest, ctx)
    if task == "regression":
        return _welch_test(metric, cohort, rest, direction)
    raise ValueError(f"no cohort tests for task {task!r}")


@dataclass(frozen=True)
class TaskRows:
    """What the search needs of a survival, multiclass or regression audit, per row.

    ``columns`` are the task statistic's columns (outcome and model outputs);
    ``events`` the 0/1 "with the outcome" count a cohort must have ``min_events`` of
    (None: the task has none, only ``min_size`` applies); ``strata`` what the split
    is stratified by; ``context`` what every table is measured in (fitted on every
    audited row, as the audit's groups are).
    """

    task: str
    columns: Mapping[str, np.ndarray]
    events: np.ndarray | None
    strata: np.ndarray
    context: Any


class TaskHalf:
    """One half's rows of a task: a cohort's statistic is the task's RowTable of its rows."""

    def __init__(self, rows: np.ndarray, data: TaskRows) -> None:
        self.rows = rows
        self.task = data.task
        self.context = data.context
        self.columns = {k: np.asarray(v, dtype=np.float64)[rows] for k, v in data.columns.items()}
        self.y = None if data.events is None else np.asarray(data.events, np.int64)[rows]

    def events(self, mask: np.ndarray) -> int | None:
        return None if self.y is None else int(self.y[mask].sum())

    def table(self, mask: np.ndarray) -> RowTable:
        return RowTable.from_arrays({k: v[mask] for k, v in self.columns.items()})

    def tables(self, mask: np.ndarray) -> tuple[RowTable, RowTable]:
        return self.table(mask), self.table(~mask)

    def compare(self, metric: str, inside: Any, rest: Any, direction: int) -> CohortTest | None:
        return compare_task(self.task, metric, inside, rest, self.context, direction=direction)
