"""Between-group comparisons of any registry metric, and the named fairness metrics.

* ``difference``: group - reference; ``ratio``: group / reference.
* ``worst_case``: max - min and min / max over the groups whose value is shown
  (suppressed groups, and groups whose value is withheld or undefined, are left
  out and listed in ``excluded_groups``). Its interval is not the percentile interval
  of the replicates of max - min (the maximum of noisy differences is biased away
  from zero, so that interval misses zero even when no two groups differ): it comes
  from simultaneous intervals of every pairwise difference (or ratio) at the level
  at which they cover jointly (:func:`worst_band`), so it covers at 95% or more.
* Named fairness metrics equal fairlearn 0.15's functions with their defaults
  (``method="between_groups"``, ``agg="worst_case"``) on the same groups:
  ``demographic_parity_difference/ratio`` (selection rate), ``equal_opportunity_
  difference/ratio`` (true positive rate), ``equalized_odds_difference`` (the larger
  of the TPR and FPR differences) and ``equalized_odds_ratio`` (the smaller of the
  TPR and FPR ratios). fairlearn counts an undefined rate as 0; here such a group is
  left out, as are suppressed groups.

Every comparison is computed from the same bootstrap replicates as the groups'
metrics (groups are resampled jointly, stratified by group), giving its interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.measure.intervals import Interval, percentile_interval
from auditor.measure.simultaneous import joint_level, stretched_interval
from reports.model import DisparityResult, FairnessMetric, GroupName

RATIO_ZERO_REFERENCE = "ratio undefined: the reference group's {metric} is 0"
WORST_RATIO_ZERO = "ratio undefined: the largest {metric} among the groups is 0"
WORST_RATIO_NEGATIVE = "ratio undefined: {metric} is negative for some group"
REFERENCE_MISSING = "the reference group's {metric} is not available ({why})"
GROUP_MISSING = "the group's {metric} is not available ({why})"
TOO_FEW_GROUPS = "fewer than two groups have a {metric} to compare"

Key = tuple[str, ...]


@dataclass(frozen=True)
class GroupValue:
    """A group's point estimate (None if not shown) and its bootstrap replicates."""

    value: float | None
    replicates: np.ndarray | None = None
    why: str | None = None
    fraction: tuple[float, float] | None = None
    """(successes, trials) when the metric is a proportion: its worst case then uses score
    intervals, which stay honest where the bootstrap collapses (a rate of 0 or 1)."""


def _interval(estimate: float | None, reps: np.ndarray | None) -> tuple[float | None, float | None]:
    if estimate is None or reps is None or reps.size == 0:
        return None, None
    iv = percentile_interval(reps, estimate)
    return iv.low, iv.high


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a - b)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b == 0, np.nan, a / np.where(b == 0, 1.0, b))


def comparison_replicates(kind: str, group: GroupValue, reference: GroupValue) -> np.ndarray | None:
    """Replicates of group - reference (``difference``) or group / reference (``ratio``)."""
    if group.replicates is None or reference.replicates is None:
        return None
    return (_diff if kind == "difference" else _ratio)(group.replicates, reference.replicates)


def _scalar(kind: str, a: float, b: float) -> float | None:
    if kind == "difference":
        return a - b
    return None if b == 0 else a / b


def _worst(kind: str, values: np.ndarray) -> np.ndarray:
    """values has groups on axis 0; NaN anywhere makes that replicate undefined."""
    hi = values.max(axis=0)
    lo = values.min(axis=0)
    if kind == "difference":
        return np.asarray(hi - lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((hi <= 0) | (lo < 0), np.nan, lo / np.where(hi == 0, 1.0, hi))


def compare_metric(
    metric: str,
    attribute: GroupName,
    groups: Mapping[Key, GroupValue],
    reference: Key | None,
    suppressed: Sequence[Key],
    name: Callable[[Key], GroupName],
    *,
    worst_excluded: Sequence[Key] = (),
) -> list[DisparityResult]:
    """Difference and ratio vs the reference, then worst case, for one metric.

    ``worst_excluded`` groups are compared with the reference but left out of the
    worst case (the statistical floor: too few patients to estimate reliably).
    """
    shown = {k: g for k, g in groups.items() if g.value is not None and k not in worst_excluded}
    unavailable = [k for k, g in groups.items() if g.value is None or k in worst_excluded]
    excluded = [name(k) for k in [*suppressed, *unavailable]]
    out: list[DisparityResult] = []
    ref = groups.get(reference) if reference is not None else None
    for kind, op in (("difference", _diff), ("ratio", _ratio)):
        if reference is not None and ref is not None:
            for key, g in groups.items():
                if key == reference:
                    continue
                res = DisparityResult(
                    attribute=attribute,
                    metric=metric,
                    kind=kind,  # type: ignore[arg-type]
                    reference=name(reference),
                    group=name(key),
                )
                if ref.value is None:
                    res.reason = REFERENCE_MISSING.format(metric=metric, why=ref.why)
                elif g.value is None:
                    res.reason = GROUP_MISSING.format(metric=metric, why=g.why)
                else:
                    est = _scalar(kind, g.value, ref.value)
                    if est is None:
                        res.reason = RATIO_ZERO_REFERENCE.format(metric=metric)
                    else:
                        res.estimate = est
                        if g.replicates is not None and ref.replicates is not None:
                            reps = op(g.replicates, ref.replicates)
                            res.ci_low, res.ci_high = _interval(est, reps)
                            if res.ci_low is not None:
                                res.ci_method = "bootstrap"
                out.append(res)
        worst = DisparityResult(
            attribute=attribute,
            metric=metric,
            kind=kind,  # type: ignore[arg-type]
            reference=None,
            group="worst_case",
            excluded_groups=excluded,
        )
        est_w, lo, hi, why = worst_case(metric, kind, shown)
        worst.estimate, worst.ci_low, worst.ci_high, worst.reason = est_w, lo, hi, why
        if lo is not None:
            worst.ci_method = WORST_CASE_METHOD
        out.append(worst)
    return out


def worst_case(
    metric: str, kind: str, shown: Mapping[Key, GroupValue]
) -> tuple[float | None, float | None, float | None, str | None]:
    """(estimate, ci_low, ci_high, reason) of max - min or min / max over ``shown``."""
    if len(shown) < 2:
        return None, None, None, TOO_FEW_GROUPS.format(metric=metric)
    vals = np.array([g.value for g in shown.values()], dtype=np.float64)
    est = float(_worst(kind, vals))
    if np.isnan(est):
        why = WORST_RATIO_NEGATIVE if vals.min() < 0 else WORST_RATIO_ZERO
        return None, None, None, why.format(metric=metric)
    lo, hi = worst_band(kind, [list(shown.values())])
    return est, lo, hi, None


WORST_CASE_METHOD = "simultaneous pairwise band"


def worst_band(
    kind: str, per_metric: Sequence[Sequence[GroupValue]]
) -> tuple[float | None, float | None]:
    """Interval of the worst case (largest difference, smallest ratio) over one or more
    metrics, from simultaneous intervals of all pairwise comparisons.

    Every pair's difference (or both ratios of a pair) gets its percentile interval
    stretched to the level at which all of them, over all metrics, cover jointly at 95%
    (:func:`auditor.measure.simultaneous.joint_level`, ``stretched_interval``). When they
    all cover, the largest absolute difference lies between the largest distance of a
    pair's interval from zero and the largest absolute end; the smallest ratio between
    the smallest lower end and the smallest upper end (at most 1). So the interval covers
    at 95% or more, and its lower end is 0 when every pair's interval contains 0.
    """
    pairs: list[tuple[int, float, np.ndarray]] = []
    if kind == "difference" and all(g.fraction is not None for gs in per_metric for g in gs):
        return _newcombe_band(per_metric)
    for m, groups in enumerate(per_metric):
        items = list(groups)
        if any(g.replicates is None or g.value is None for g in items):
            return None, None
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j or (kind == "difference" and j < i):
                    continue
                a, b = items[i], items[j]
                assert a.value is not None and b.value is not None
                est = _scalar(kind, a.value, b.value)
                rep = comparison_replicates(kind, a, b)
                if est is None or rep is None:
                    return None, None
                pairs.append((m, est, rep))
    if not pairs:
        return None, None
    level = joint_level([r for _, _, r in pairs])
    lows: dict[int, float] = {}
    highs: dict[int, float] = {}
    for m, est, rep in pairs:
        iv = percentile_interval(rep, est)
        if iv.low is None or iv.high is None:
            return None, None
        iv = Interval(*stretched_interval(est, iv.low, iv.high, level))
        assert iv.low is not None and iv.high is not None
        if kind == "difference":
            near = 0.0 if iv.low <= 0.0 <= iv.high else min(abs(iv.low), abs(iv.high))
            far = max(abs(iv.low), abs(iv.high))
            lows[m], highs[m] = max(lows.get(m, 0.0), near), max(highs.get(m, 0.0), far)
        else:
            lows[m] = min(lows.get(m, np.inf), iv.low)
            highs[m] = min(highs.get(m, np.inf), iv.high, 1.0)
    if kind == "difference":
        return max(lows.values()), max(highs.values())
    return min(lows.values()), min(highs.values())


def _newcombe_band(per_metric: Sequence[Sequence[GroupValue]]) -> tuple[float | None, float | None]:
    """Worst-case difference of proportions from Newcombe's hybrid score intervals of every
    pairwise difference (Wilson limits; Newcombe, Stat Med 1998;17:873-90, method 10), at
    Bonferroni's level over all pairs of all metrics, so they cover jointly at 95% or more."""
    from auditor.measure.intervals import wilson_interval
    from auditor.measure.simultaneous import bonferroni_level

    count = sum(len(gs) * (len(gs) - 1) // 2 for gs in per_metric)
    level = bonferroni_level(max(count, 1))
    near_all: list[float] = []
    far_all: list[float] = []
    for groups in per_metric:
        limits = []
        for g in groups:
            assert g.fraction is not None
            k, n = g.fraction
            if n <= 0:
                return None, None
            lo, hi = wilson_interval(k, n, level)
            limits.append((k / n, float(lo), float(hi)))
        near, far = 0.0, 0.0
        for i in range(len(limits)):
            for j in range(i + 1, len(limits)):
                (p1, l1, u1), (p2, l2, u2) = limits[i], limits[j]
                d = p1 - p2
                low = d - float(np.hypot(p1 - l1, u2 - p2))
                high = d + float(np.hypot(u1 - p1, p2 - l2))
                near = max(near, 0.0 if low <= 0.0 <= high else min(abs(low), abs(high)))
                far = max(far, abs(low), abs(high))
        near_all.append(near)
        far_all.append(far)
    return max(near_all), max(far_all)


@dataclass(frozen=True)
class FairnessDef:
    """A named fairness metric as an aggregate of registry metrics' worst cases."""

    name: str
    metrics: tuple[str, ...]
    kind: str  # "difference" | "ratio"
    reference_implementation: str


FAIRNESS: tuple[FairnessDef, ...] = (
    FairnessDef(
        "demographic_parity_difference",
        ("selection_rate",),
        "difference",
        "fairlearn.metrics.demographic_parity_difference",
    ),
    FairnessDef(
        "demographic_parity_ratio",
        ("selection_rate",),
        "ratio",
        "fairlearn.metrics.demographic_parity_ratio",
    ),
    FairnessDef(
        "equalized_odds_difference",
        ("sensitivity", "fpr"),
        "difference",
        "fairlearn.metrics.equalized_odds_difference",
    ),
    FairnessDef(
        "equalized_odds_ratio",
        ("sensitivity", "fpr"),
        "ratio",
        "fairlearn.metrics.equalized_odds_ratio",
    ),
    FairnessDef(
        "equal_opportunity_difference",
        ("sensitivity",),
        "difference",
        "fairlearn.metrics.equal_opportunity_difference",
    ),
    FairnessDef(
        "equal_opportunity_ratio",
        ("sensitivity",),
        "ratio",
        "fairlearn.metrics.equal_opportunity_ratio",
    ),
)
"""fairlearn's worst_case aggregation: the larger difference, the smaller ratio."""


def fairness_metrics(
    attribute: GroupName,
    per_metric: Mapping[str, Mapping[Key, GroupValue]],
    suppressed: Sequence[Key] = (),
    name: Callable[[Key], GroupName] | None = None,
) -> list[FairnessMetric]:
    """The named fairness metrics of one view at the primary threshold.

    Suppressed groups and groups whose rate is undefined are left out (fairlearn would
    count an undefined rate as 0); each result lists them in ``excluded_groups``.
    """
    out: list[FairnessMetric] = []
    label = name or (lambda k: k[0] if len(k) == 1 else list(k))
    for fd in FAIRNESS:
        undefined = sorted(
            {k for m in fd.metrics for k, g in per_metric[m].items() if g.value is None}
            - set(suppressed)
        )
        res = FairnessMetric(
            name=fd.name,
            attribute=attribute,
            reference_implementation=fd.reference_implementation,
            excluded_groups=[label(k) for k in [*suppressed, *undefined]],
        )
        estimates: list[float] = []
        members: list[list[GroupValue]] = []
        for metric in fd.metrics:
            shown = {k: g for k, g in per_metric[metric].items() if g.value is not None}
            if len(shown) < 2:
                res.reason = TOO_FEW_GROUPS.format(metric=metric)
                break
            vals = np.array([g.value for g in shown.values()], dtype=np.float64)
            est = float(_worst(fd.kind, vals))
            if np.isnan(est):
                res.reason = WORST_RATIO_ZERO.format(metric=metric)
                break
            estimates.append(est)
            members.append(list(shown.values()))
        if res.reason is None:
            # fairlearn's agg="worst_case": the larger difference, the smaller ratio
            res.estimate = max(estimates) if fd.kind == "difference" else min(estimates)
            res.ci_low, res.ci_high = worst_band(fd.kind, members)
        out.append(res)
    return out
