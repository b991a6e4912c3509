"""What would decide it: the precision a judged interval achieved, and how many more
patients (and patients with the outcome) would make it narrow enough to decide.

A result judged on an interval is decided when the whole interval lies on one side of
the bound. If the estimate stayed where it is, the interval decides once its half-width
on the bound's side is below ``d = |estimate - bound|``. The sample size for that
half-width comes from the standard formulas for validating a clinical prediction model:

* proportions (sensitivity, specificity, PPV, NPV, FPR, FNR, selection rate, accuracy,
  prevalence): the normal approximation, ``m = z^2 p (1 - p) / d^2`` patients in the
  proportion's denominator (patients with the outcome for sensitivity, ...);
* AUROC: Riley et al., Stat Med 2021;40:4230-51 (criterion for the C statistic), with
  Newcombe's standard error ``SE(C)^2 = C(1-C)[1 + (n/2-1)(1-C)/(2-C) + (n/2-1)C/(1+C)]
  / (n^2 phi (1-phi))`` solved for ``n``;
* calibration slope: Riley et al. 2021, ``var(slope) = I_a / (n (I_a I_b - I_ab^2))``
  with ``I_a = E[p(1-p)]``, ``I_ab = E[LP p(1-p)]``, ``I_b = E[LP^2 p(1-p)]`` over the
  group's linear predictor (the logit of its scores, assumed calibrated);
* O/E ratio: Riley et al. 2021, ``SE(ln O/E) = sqrt((1 - phi) / (n phi))``;
* a difference or ratio with the reference group: the variances of both groups add
  (ratio: on the log scale, by the delta method); only the compared group grows, so a
  reference group too imprecise on its own cannot be outgrown and the result says so.

The formula gives how precision grows with patients; its multiplier is taken from the
interval the decision used (its half facing the bound divided by the formula's standard
error at the current size), so the estimate follows that interval: a simultaneous
interval needs more patients than a per-result one, a clustered bootstrap more than
independent rows.

Other binary metrics (Brier, calibration intercept, ECE, ...) and worst cases over groups
have no standard formula here; their precision (width) is still reported.

Survival, multiclass and regression groups carry no binary counts. Their estimate uses
the one law every interval here follows, half-width shrinking as ``1/sqrt(n)``, scaled
from the group's own interval (a ratio such as O/E on the log scale); a comparison with
the reference adds both groups' variances read off their own per-group intervals, and
only the compared group grows. Patients with the outcome are given for survival (events
by the horizon, at the group's current rate) and not for tasks without one. Estimates assume
the estimate and the outcome rate stay as they are; they are approximate (rounded to
two significant figures) and count patients at the group's current outcome rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy.stats import norm

from reports.model import GroupResult, Precision

Z = float(norm.isf(0.025))

FORMULA_PROPORTION = "normal approximation for a proportion"
FORMULA_AUROC = "Riley et al. 2021 (C statistic; Newcombe's standard error)"
FORMULA_SLOPE = "Riley et al. 2021 (calibration slope)"
FORMULA_OE = "Riley et al. 2021 (O/E ratio)"
FORMULA_DIFFERENCE = "normal approximation for a difference of proportions"
FORMULA_RATIO = "delta method for a ratio of proportions (log scale)"
FORMULA_ROOT_N = (
    "the interval's half-width shrinking as 1/sqrt(n), scaled from the group's own interval "
    "(no metric-specific formula)"
)
OWN_INTERVALS_MISSING = "the groups' own intervals are not available"

NO_FORMULA = "no standard sample-size formula for {what}; the interval's width is shown"
REFERENCE_LIMITS = (
    "the reference group's own imprecision alone exceeds the margin: more patients in this "
    "group alone cannot decide it"
)
AT_BOUND = "the estimate equals the bound: no sample size decides it"
COUNTS_MISSING = "the group's counts are not available"
NO_INTERVAL = "no interval was computed (bootstrap off): no sample size can be estimated"
MAX_PATIENTS = 10**9

# (count that is the proportion's denominator, share of patients in it)
_DENOMINATOR: dict[str, str] = {
    "sensitivity": "positives",
    "fnr": "positives",
    "specificity": "negatives",
    "fpr": "negatives",
    "ppv": "flagged",
    "npv": "unflagged",
    "selection_rate": "all",
    "accuracy": "all",
    "prevalence": "all",
}


def significant(x: float, digits: int = 2) -> int:
    """``x`` rounded to ``digits`` significant figures ("about 140")."""
    if x <= 0:
        return 0
    scale = 10 ** max(math.floor(math.log10(x)) - digits + 1, 0)
    return int(round(x / scale) * scale)


def _count(g: GroupResult, metric: str) -> float | None:
    est = g.metrics.get(metric)
    return est.estimate if est is not None else None


def group_counts(g: GroupResult) -> tuple[float, float, float] | None:
    """(rows, prevalence, selection rate) of a group, from its own measured figures."""
    pos, neg = _count(g, "n_positive"), _count(g, "n_negative")
    if pos is None or neg is None or pos + neg <= 0:
        return None
    sel = _count(g, "selection_rate")
    return pos + neg, pos / (pos + neg), sel if sel is not None else math.nan


def _share(kind: str, prevalence: float, selection: float) -> float:
    return {
        "positives": prevalence,
        "negatives": 1 - prevalence,
        "flagged": selection,
        "unflagged": 1 - selection,
        "all": 1.0,
    }[kind]


def proportion_variance_unit(metric: str, p: float, rows: float, prev: float, sel: float) -> float:
    """Variance of the proportion times the group's rows (so var = unit / rows)."""
    share = _share(_DENOMINATOR[metric], prev, sel)
    return p * (1 - p) / share if share > 0 else math.inf


def _solve(variance: Callable[[float], float], target: float, start: float) -> float:
    """Smallest n >= start (bisection on a decreasing variance) with variance(n) <= target."""
    if variance(start) <= target:
        return start
    hi = start * 2
    while variance(hi) > target:
        hi *= 2
        if hi > MAX_PATIENTS:
            return math.inf
    lo = start
    for _ in range(60):
        mid = (lo + hi) / 2
        if variance(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def auroc_variance(c: float, n: float, prevalence: float) -> float:
    """Newcombe's variance of the C statistic at n patients (Riley et al. 2021)."""
    h = n / 2 - 1
    return (
        c
        * (1 - c)
        * (1 + h * (1 - c) / (2 - c) + h * c / (1 + c))
        / (n * n * prevalence * (1 - prevalence))
    )


def slope_variance_unit(info: tuple[float, float, float]) -> float:
    """``var(slope) * n`` from the information terms (I_a, I_ab, I_b)."""
    i_a, i_ab, i_b = info
    det = i_a * i_b - i_ab * i_ab
    return i_a / det if det > 0 else math.inf


def oe_variance_unit(prevalence: float) -> float:
    """``var(ln O/E) * n`` (Riley et al. 2021)."""
    return (1 - prevalence) / prevalence if prevalence > 0 else math.inf


def variance_at(metric: str, value: float, g: GroupResult, n: float) -> tuple[float, str] | None:
    """Variance of ``metric`` for group ``g`` grown to ``n`` rows (log scale for O/E)."""
    counts = group_counts(g)
    if counts is None:
        return None
    rows, prev, sel = counts
    if metric in _DENOMINATOR:
        return proportion_variance_unit(metric, value, rows, prev, sel) / n, FORMULA_PROPORTION
    if metric == "auroc":
        return auroc_variance(value, n, prev), FORMULA_AUROC
    if metric == "calibration_slope":
        info = getattr(g, "_slope_information", None)
        if info is None:
            return None
        return slope_variance_unit(info) / n, FORMULA_SLOPE
    if metric == "oe_ratio":
        return oe_variance_unit(prev) / n, FORMULA_OE
    return None


def _result(
    width: float | None,
    d: float,
    needed: float,
    rows: float,
    prev: float,
    patients: int | None,
    formula: str,
) -> Precision:
    more = max(needed - rows, 0.0)
    ratio = (patients / rows) if patients else 1.0  # patients per row (clusters)
    return Precision(
        width=width,
        target_width=2 * d,
        n=patients if patients is not None else int(rows),
        n_events=round(rows * prev),
        more_patients=significant(more * ratio) if math.isfinite(more) else None,
        more_events=significant(more * ratio * prev) if math.isfinite(more) else None,
        formula=formula,
        reason=None if math.isfinite(more) else REFERENCE_LIMITS,
    )


def precision(
    metric: str,
    estimate: float,
    low: float | None,
    high: float | None,
    bound_min: float | None,
    bound_max: float | None,
    decided: bool,
    group: GroupResult | None,
    *,
    reference: GroupResult | None = None,
    reference_value: float | None = None,
    kind: str | None = None,
) -> Precision:
    """Precision of one judged interval and, when undecided, the sample size that decides it.

    ``kind`` is ``difference`` or ``ratio`` for a comparison with ``reference`` (whose
    metric value is ``reference_value``); None for a group's own metric.
    """
    width = (high - low) if low is not None and high is not None else None
    bounds = [b for b in (bound_min, bound_max) if b is not None]
    if not bounds:
        return Precision(width=width)
    bound = min(bounds, key=lambda b: abs(estimate - b))
    d = abs(estimate - bound)
    if decided:
        return Precision(width=width, target_width=2 * d)
    if d == 0:
        return Precision(width=width, reason=AT_BOUND)
    if low is None or high is None:
        return Precision(target_width=2 * d, reason=NO_INTERVAL)
    if group is None:
        return Precision(width=width, target_width=2 * d, reason=COUNTS_MISSING)
    if group_counts(group) is None:
        return _root_n(metric, estimate, low, high, bound, group, reference, kind)
    rows, prev, _ = group_counts(group)  # type: ignore[misc]
    patients = group.n
    # the half of the interval that faces the bound: the decision's own precision, so the
    # estimate follows the interval actually used (simultaneous or not, clustered or not)
    half = (high - estimate) if bound > estimate else (estimate - low)
    if kind is None:
        at = variance_at(metric, estimate, group, rows)
        if at is None:
            what = "the " + metric.replace("_", " ")
            return Precision(width=width, target_width=2 * d, reason=NO_FORMULA.format(what=what))
        formula = at[1]
        if metric == "oe_ratio":
            edge = high if bound > estimate else low
            if not (estimate > 0 and bound > 0 and edge is not None and edge > 0):
                return Precision(width=width, target_width=2 * d, reason=AT_BOUND)
            scale, half = abs(math.log(estimate / bound)), abs(math.log(edge / estimate))
        else:
            scale = d
        z = _z_of(half, at[0])
        target = (scale / z) ** 2
        needed = _solve(lambda n: variance_at(metric, estimate, group, n)[0], target, rows)  # type: ignore[index]
        return _result(width, d, needed, rows, prev, patients, formula)
    # a comparison with the reference group: only the compared group grows
    if reference is None or reference_value is None or metric not in _DENOMINATOR:
        what = f"a {kind} of {metric.replace('_', ' ')}"
        return Precision(width=width, target_width=2 * d, reason=NO_FORMULA.format(what=what))
    ref_counts = group_counts(reference)
    if ref_counts is None:
        return Precision(width=width, target_width=2 * d, reason=COUNTS_MISSING)
    value = estimate + reference_value if kind == "difference" else estimate * reference_value
    if kind == "difference":
        ref_var = variance_at(metric, reference_value, reference, ref_counts[0])
        grp_unit = proportion_variance_unit(metric, value, *group_counts(group))  # type: ignore[misc]
        scale = d
        formula = FORMULA_DIFFERENCE
    else:
        edge = high if bound > estimate else low
        if not (value > 0 and reference_value > 0 and estimate > 0 and bound > 0):
            return Precision(width=width, target_width=2 * d, reason=AT_BOUND)
        if edge is None or edge <= 0:
            return Precision(width=width, target_width=2 * d, reason=AT_BOUND)
        rv = variance_at(metric, reference_value, reference, ref_counts[0])
        ref_var = (rv[0] / reference_value**2, rv[1]) if rv is not None else None
        grp_unit = proportion_variance_unit(metric, value, *group_counts(group)) / value**2  # type: ignore[misc]
        scale, half = abs(math.log(estimate / bound)), abs(math.log(edge / estimate))
        formula = FORMULA_RATIO
    if ref_var is None:
        return Precision(width=width, target_width=2 * d, reason=COUNTS_MISSING)
    z = _z_of(half, grp_unit / rows + ref_var[0])
    room = (scale / z) ** 2 - ref_var[0]
    needed = grp_unit / room if room > 0 else math.inf
    return _result(width, d, max(needed, rows), rows, prev, patients, formula)


def _own_variance(g: GroupResult, metric: str, log: bool) -> float | None:
    """Variance of ``metric`` read off ``g``'s own (per-group, 95%) interval."""
    est = g.metrics.get(metric)
    if est is None or est.ci_low is None or est.ci_high is None or est.estimate is None:
        return None
    if log:
        if not (est.ci_low > 0 and est.estimate > 0):
            return None
        return ((math.log(est.ci_high) - math.log(est.ci_low)) / (2 * Z)) ** 2
    return ((est.ci_high - est.ci_low) / (2 * Z)) ** 2


def _root_n(
    metric: str,
    estimate: float,
    low: float,
    high: float,
    bound: float,
    group: GroupResult,
    reference: GroupResult | None,
    kind: str | None,
) -> Precision:
    """Patients that would decide a task metric's interval (1/sqrt(n) scaling)."""
    width, d = high - low, abs(estimate - bound)
    rows = float(group.n or 0)
    if rows <= 0:
        return Precision(width=width, target_width=2 * d, reason=COUNTS_MISSING)
    log = "ratio" in metric or kind == "ratio"
    edge = high if bound > estimate else low
    if log:
        if not (estimate > 0 and bound > 0 and edge > 0):
            return Precision(width=width, target_width=2 * d, reason=AT_BOUND)
        scale, half = abs(math.log(estimate / bound)), abs(math.log(edge / estimate))
    else:
        scale, half = d, abs(edge - estimate)
    if kind is None:
        needed = rows * (half / scale) ** 2
    else:
        own = _own_variance(group, metric, kind == "ratio")
        ref = _own_variance(reference, metric, kind == "ratio") if reference else None
        if own is None or ref is None:
            return Precision(width=width, target_width=2 * d, reason=OWN_INTERVALS_MISSING)
        z = _z_of(half, own + ref)
        room = (scale / z) ** 2 - ref
        needed = own * rows / room if room > 0 else math.inf
    needed = max(needed, rows)
    more = needed - rows
    events = _count(group, "n_events")
    share = events / rows if events is not None else None
    finite = math.isfinite(more)
    return Precision(
        width=width,
        target_width=2 * d,
        n=int(rows),
        n_events=int(events) if events is not None else None,
        more_patients=significant(more) if finite else None,
        more_events=significant(more * share) if finite and share is not None else None,
        formula=FORMULA_ROOT_N,
        reason=None if finite else REFERENCE_LIMITS,
    )


def _z_of(half: float | None, variance: float) -> float:
    """The multiplier the decision's interval used, relative to the formula's standard
    error at the current size (1.96 for a textbook 95% interval)."""
    if half is None or not (variance > 0) or not math.isfinite(variance) or half <= 0:
        return Z
    return max(half / math.sqrt(variance), 1e-9)
