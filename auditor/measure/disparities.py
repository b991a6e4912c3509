"""Between-group comparisons of any registry metric, and the named fairness metrics.

* ``difference``: group - reference; ``ratio``: group / reference.
* ``worst_case``: max - min and min / max over the groups whose value is shown
  (suppressed groups, and groups whose value is withheld or undefined, are left
  out and listed in ``excluded_groups``).
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

from auditor.measure.intervals import percentile_interval
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


def _scalar(kind: str, a: float, b: float) -> float | None:
    if kind == "difference":
        return a - b
    return None if b == 0 else a / b


def _agg(kind: str, a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """Element-wise larger difference / smaller ratio; NaN stays NaN (undefined)."""
    assert a is not None and b is not None
    return np.asarray(np.maximum(a, b) if kind == "difference" else np.minimum(a, b))


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
    reps_list = [g.replicates for g in shown.values()]
    if any(r is None for r in reps_list):
        return est, None, None, None
    reps = _worst(kind, np.stack(reps_list))  # type: ignore[arg-type]
    lo, hi = _interval(est, reps)
    return est, lo, hi, None


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
        replicates: list[np.ndarray | None] = []
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
            reps_list = [g.replicates for g in shown.values()]
            estimates.append(est)
            complete = [r for r in reps_list if r is not None]
            replicates.append(
                _worst(fd.kind, np.stack(complete)) if len(complete) == len(reps_list) else None
            )
        if res.reason is None:
            # fairlearn's agg="worst_case": the larger difference, the smaller ratio
            res.estimate = max(estimates) if fd.kind == "difference" else min(estimates)
            if all(r is not None for r in replicates):
                reps = replicates[0]
                for r in replicates[1:]:
                    reps = _agg(fd.kind, reps, r)
                res.ci_low, res.ci_high = _interval(res.estimate, reps)
        out.append(res)
    return out
