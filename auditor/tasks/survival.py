"""Survival task: censored time-to-event outcomes, judged at a horizon.

The statistic of a cell is a :class:`RowTable` of distinct ``(time, event, risk)``
rows with patient counts; ``risk`` is the predicted probability of the event by the
horizon (1 − S(horizon) of a survival model). Every metric is a function of that
table and a :class:`SurvivalContext` and equals its scikit-survival reference to
1e-9 on the same rows (``tests/test_tasks_survival.py``).

Estimators (documented once, here and in docs/tasks.md):

* **Censoring distribution.** Every inverse-probability-of-censoring weight (IPCW)
  uses one Kaplan–Meier estimate of the censoring survival G, fitted on the whole
  audited cohort (scikit-survival's ``survival_train`` = all audited rows), so every
  group is weighted alike. G is a right-continuous step function; a censoring and an
  event at the same time count the event first (as scikit-survival). Bootstrap
  replicates resample a group's rows and keep G fixed.
* **Status at the horizon t.** A *case* had the event at or before t (weight 1/G(T)),
  a *control* was followed beyond t (weight 1/G(t)); a patient censored at or before
  t has an unknown status and is never counted as event-free: they carry no weight
  (their share is redistributed by the weights).
* **Threshold metrics at t** (``sensitivity_t``, ``specificity_t``, ``ppv_t``): the
  IPCW-weighted proportions among cases and controls, predicted positive when
  ``risk >= threshold``. They equal ``sklearn.metrics.recall_score`` /
  ``precision_score`` with those weights as ``sample_weight`` on the rows whose status
  at t is known (Uno et al. 2007; Blanche et al. 2013).
* **Calibration at t.** Per group, patients are grouped in up to 10 risk-quantile
  bins of at least ``min_cell_size`` patients; the observed risk of a bin is 1 − KM at
  t. ``calibration_error_t`` is the patient-weighted mean absolute difference between
  observed and mean predicted risk over the bins: a grouped integrated calibration
  index (Austin, Harrell & van Klaveren 2020, with bins instead of a smoother, so it
  needs no tuning and is exact on the statistic).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.tasks.base import RendererHints, RowTable, TaskDef, TaskMetric, Value

COLUMNS = ("time", "event", "risk")
TIED_TOL = 1e-8
"""Risks closer than this are tied (scikit-survival's ``tied_tol``)."""
BLOCK = 512
SORTED_FROM = 500
"""From this many distinct rows on, the concordance sums use the O(n log² n) path."""
MAX_CALIBRATION_BINS = 10

NO_EVENTS = "the group has no event at or before the horizon"
NO_CONTROLS = "no patient of the group is followed beyond the horizon"
NO_PAIRS = "the group has no comparable pair (an event followed by a longer follow-up)"
NO_PAIRS_BEFORE = "the group has no comparable pair with an event before the horizon"
FOLLOW_UP_ENDS = "follow-up in the group ends before the horizon"
ZERO_PREDICTED = "the mean predicted risk of the group is 0"
NO_PREDICTED_POSITIVE = "no patient whose status at the horizon is known is predicted positive"
CENSORING_ZERO = "the censoring survival reaches 0 before an event time of the group"
BRIER_NO_FOLLOW_UP = (
    "no patient of the group is followed beyond the horizon (every follow-up ends at or "
    "before it), so no patient is known to be event-free at the horizon and the score "
    "would weigh the cases only"
)
TOO_FEW_FOR_BINS = "the group is too small for a calibration bin of at least {m} patients"


@dataclass(frozen=True)
class Censoring:
    """Kaplan–Meier estimate of the censoring survival G of the audited cohort."""

    times: np.ndarray
    prob: np.ndarray

    @classmethod
    def fit(cls, table: RowTable) -> Censoring:
        time, event, count = table.columns["time"], table.columns["event"], table.count
        if not np.any((event == 0) & (count > 0)):
            return cls(np.array([-np.inf]), np.array([1.0]))
        times = np.unique(time)
        idx = np.searchsorted(times, time)
        events = np.bincount(idx, weights=count * (event == 1), minlength=times.size)
        censored = np.bincount(idx, weights=count * (event == 0), minlength=times.size)
        total = np.bincount(idx, weights=count, minlength=times.size)
        at_risk = total[::-1].cumsum()[::-1] - events
        ratio = np.divide(censored, at_risk, out=np.zeros(times.size), where=censored != 0)
        return cls(np.r_[-np.inf, times], np.r_[1.0, np.cumprod(1.0 - ratio)])

    def at(self, t: np.ndarray | float) -> np.ndarray:
        """G(t): the step value at the last time <= t."""
        idx = np.searchsorted(self.times, np.asarray(t, dtype=np.float64), side="right") - 1
        return self.prob[np.clip(idx, 0, None)]


@dataclass(frozen=True)
class SurvivalContext:
    horizon: float
    censoring: Censoring
    threshold: float = 0.5
    min_cell_size: int = 11


def context_for(
    overall: RowTable, horizon: float, threshold: float = 0.5, min_cell_size: int = 11
) -> SurvivalContext:
    """The context every group is measured in: G from the whole audited cohort."""
    return SurvivalContext(float(horizon), Censoring.fit(overall), threshold, min_cell_size)


def _cols(table: RowTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    c = table.columns
    return c["time"], c["event"] == 1, c["risk"], table.count


def _concordance(table: RowTable, weights: np.ndarray) -> tuple[float, float]:
    """(numerator, denominator) of scikit-survival's weighted concordance index."""
    num, den, _, _ = concordance_parts(table, weights)
    return num, den


def concordance_parts(
    table: RowTable, weights: np.ndarray, per_row: bool = False, method: str = "auto"
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The weighted concordance sums and, with ``per_row``, each row's share.

    ``num_row[r]`` and ``den_row[r]`` are the weighted concordant and comparable
    pairs one patient of row ``r`` takes part in (as the earlier event or as the
    longer follow-up), so removing that patient leaves ``num - num_row[r]`` and
    ``den - den_row[r]``: the delete-one jackknife of the index in the same pass
    (two patients of one distinct row are never a comparable pair).

    ``method`` is ``"blocks"`` (every event against every row, O(n²), fastest on
    small tables), ``"sorted"`` (O(n log² n), vectorised, for large tables) or
    ``"auto"`` (``"sorted"`` from :data:`SORTED_FROM` distinct rows on). Both give
    the same sums up to floating-point summation order.
    """
    if method == "auto":
        method = "sorted" if table.count.size >= SORTED_FROM else "blocks"
    if method == "sorted":
        return _concordance_sorted(table, weights, per_row)
    if method != "blocks":
        raise ValueError(f"unknown concordance method {method!r}")
    return _concordance_blocks(table, weights, per_row)


def _concordance_blocks(
    table: RowTable, weights: np.ndarray, per_row: bool
) -> tuple[float, float, np.ndarray, np.ndarray]:
    time, event, risk, count = _cols(table)
    rows = np.flatnonzero(event & (weights > 0))
    num = den = 0.0
    num_row = np.zeros(time.size) if per_row else np.zeros(0)
    den_row = np.zeros(time.size) if per_row else np.zeros(0)
    for start in range(0, rows.size, BLOCK):
        i = rows[start : start + BLOCK]
        ti, ri = time[i][:, None], risk[i][:, None]
        comparable = (time[None, :] > ti) | ((time[None, :] == ti) & ~event[None, :])
        tie = np.abs(risk[None, :] - ri) <= TIED_TOL
        concordant = (risk[None, :] < ri) & ~tie
        score = (concordant + 0.5 * tie) * comparable
        wi = weights[i] * count[i]
        as_first_num = score @ count
        as_first_den = comparable @ count
        num += float(wi @ as_first_num)
        den += float(wi @ as_first_den)
        if per_row:
            num_row[i] += weights[i] * as_first_num
            den_row[i] += weights[i] * as_first_den
            num_row += wi @ score
            den_row += wi @ comparable
    return num, den, num_row, den_row


def _boundary(values: np.ndarray, guess: np.ndarray, below: Any) -> np.ndarray:
    """How many of the sorted ``values`` satisfy the monotone predicate ``below``.

    ``below(v, k)`` is true on a prefix of ``values`` for each query ``k``; ``guess``
    (from a searchsorted on a shifted value) is off by at most a rounding step, so a
    few vectorised moves land on the exact count the quadratic comparison uses.
    """
    k = guess.copy()
    m = values.size
    while True:
        down = (k > 0) & ~below(values[np.maximum(k - 1, 0)], np.arange(k.size))
        up = (k < m) & below(values[np.minimum(k, m - 1)], np.arange(k.size))
        if not (down.any() or up.any()):
            return k
        k = k - down + up


def _earlier_sums(
    c_grp: np.ndarray,
    c_rank: np.ndarray,
    c_weight: np.ndarray,
    q_grp: np.ndarray,
    bounds: list[np.ndarray],
    ranks: int,
) -> list[np.ndarray]:
    """For each query q and bound b: the weight of contributors with a lower group
    than q's and a rank below b[q].

    A two-dimensional dominance count, vectorised level by level on the bits of the
    group (each pair with c_grp < q_grp differs first at exactly one bit, where the
    contributor has 0 and the query 1): per level one sort of the contributors by
    (block, rank) and a searchsorted per bound, so O(n log² n) in all.
    """
    out = [np.zeros(q_grp.size) for _ in bounds]
    if c_grp.size == 0 or q_grp.size == 0:
        return out
    levels = int(max(int(c_grp.max()), int(q_grp.max()))).bit_length()
    stride = np.int64(ranks + 1)
    for level in range(levels):
        c_sel = ((c_grp >> level) & 1) == 0
        q_sel = np.flatnonzero(((q_grp >> level) & 1) == 1)
        if not c_sel.any() or q_sel.size == 0:
            continue
        key = (c_grp[c_sel] >> (level + 1)) * stride + c_rank[c_sel]
        order = np.argsort(key, kind="stable")
        key = key[order]
        cum = np.concatenate(([0.0], np.cumsum(c_weight[c_sel][order])))
        base = (q_grp[q_sel] >> (level + 1)) * stride
        start = cum[np.searchsorted(key, base, "left")]
        for o, b in zip(out, bounds, strict=True):
            o[q_sel] += cum[np.searchsorted(key, base + b[q_sel], "left")] - start
    return out


def _concordance_sorted(
    table: RowTable, weights: np.ndarray, per_row: bool
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """The same sums as :func:`_concordance_blocks` without forming the pairs.

    Rows are ordered by time descending, censored before events at one time; the
    rows comparable to an event are exactly those of an earlier (time, status)
    group, so each sum is a dominance count over (group, risk rank). Tie bounds are
    found with the very comparisons of the quadratic path (``|risk_j − risk_i| <=
    TIED_TOL`` in floating point), so ties near the tolerance are decided alike.
    """
    time, event, risk, count = _cols(table)
    n = time.size
    num_row = np.zeros(n) if per_row else np.zeros(0)
    den_row = np.zeros(n) if per_row else np.zeros(0)
    if n == 0 or not event.any():
        return 0.0, 0.0, num_row, den_row
    count = count.astype(float)
    times, t_rank = np.unique(time, return_inverse=True)
    grp = (2 * (times.size - 1 - t_rank.ravel()) + event).astype(np.int64)
    values, r_rank = np.unique(risk, return_inverse=True)
    r_rank = r_rank.ravel().astype(np.int64)
    ev = np.flatnonzero(event)
    ev_w = weights[ev] * count[ev]

    # As the event: rows j of an earlier group, concordant when fl(r_j - r_i) < -tol
    # (a prefix of the sorted risks), tied up to fl(r_j - r_i) <= tol.
    ri = risk[ev]
    lo = _boundary(
        values,
        np.searchsorted(values, ri - TIED_TOL, "left"),
        lambda v, q: (v - ri[q]) < -TIED_TOL,
    )
    hi = _boundary(
        values,
        np.searchsorted(values, ri + TIED_TOL, "right"),
        lambda v, q: (v - ri[q]) <= TIED_TOL,
    )
    below, upto = _earlier_sums(grp, r_rank, count, grp[ev], [lo, hi], values.size)
    per_group = np.bincount(grp, weights=count, minlength=int(grp.max()) + 2)
    earlier = np.concatenate(([0.0], np.cumsum(per_group)))[grp[ev]]
    first_num = below + 0.5 * (upto - below)
    num = float(ev_w @ first_num)
    den = float(ev_w @ earlier)
    if not per_row:
        return num, den, num_row, den_row

    num_row[ev] += weights[ev] * first_num
    den_row[ev] += weights[ev] * earlier
    # As the longer follow-up: events of a later group; concordant when
    # fl(r_j - r_i) < -tol, i.e. r_i at or above the first risk where
    # fl(r_j - v) >= -tol fails (a suffix), tied from fl(r_j - v) <= tol on.
    top = int(grp.max())
    flipped = top - grp
    tied_from = _boundary(
        values,
        np.searchsorted(values, risk - TIED_TOL, "left"),
        lambda v, q: (risk[q] - v) > TIED_TOL,
    )
    concordant_from = _boundary(
        values,
        np.searchsorted(values, risk + TIED_TOL, "right"),
        lambda v, q: (risk[q] - v) >= -TIED_TOL,
    )
    a, b, total = _earlier_sums(
        flipped[ev],
        r_rank[ev],
        ev_w,
        flipped,
        [tied_from, concordant_from, np.full(n, values.size, dtype=np.int64)],
        values.size,
    )
    num_row += (total - b) + 0.5 * (b - a)
    den_row += total
    return num, den, num_row, den_row


def c_index(table: RowTable, ctx: SurvivalContext) -> Value:
    _, event, _, _ = _cols(table)
    num, den = _concordance(table, np.ones(event.size))
    if den == 0:
        return np.nan, NO_PAIRS
    return num / den, None


def uno_c(table: RowTable, ctx: SurvivalContext) -> Value:
    time, event, _, _ = _cols(table)
    g = ctx.censoring.at(time)
    before = event & (time < ctx.horizon)
    if np.any(before & (g == 0)):
        return np.nan, CENSORING_ZERO
    w = np.where(before, 1.0 / np.where(g > 0, g, 1.0) ** 2, 0.0)
    num, den = _concordance(table, w)
    if den == 0:
        return np.nan, NO_PAIRS_BEFORE
    return num / den, None


def _status(table: RowTable, ctx: SurvivalContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(case mask, control mask, IPC weight per row) at the horizon."""
    time, event, _, _ = _cols(table)
    cases = event & (time <= ctx.horizon)
    controls = time > ctx.horizon
    g_case = ctx.censoring.at(time)
    g_t = float(ctx.censoring.at(ctx.horizon))
    w = np.zeros(time.size)
    ok = cases & (g_case > 0)
    w[ok] = 1.0 / g_case[ok]
    if g_t > 0:
        w[controls] = 1.0 / g_t
    return cases, controls, w


def _censoring_zero(table: RowTable, ctx: SurvivalContext) -> bool:
    """Whether a case's censoring survival is 0 (its weight would be infinite)."""
    time, event, _, _ = _cols(table)
    cases = event & (time <= ctx.horizon)
    return bool(np.any(cases & (ctx.censoring.at(time) == 0)))


def auc_t(table: RowTable, ctx: SurvivalContext) -> Value:
    _time, _event, risk, count = _cols(table)
    if _censoring_zero(table, ctx):
        return np.nan, CENSORING_ZERO
    cases, controls, w = _status(table, ctx)
    case_w = (w * count)[cases]
    if case_w.sum() == 0:
        return np.nan, NO_EVENTS
    ctrl_r, ctrl_c = risk[controls], count[controls]
    if ctrl_c.sum() == 0:
        return np.nan, NO_CONTROLS
    order = np.argsort(ctrl_r, kind="mergesort")
    ctrl_r, ctrl_c = ctrl_r[order], ctrl_c[order]
    cum = np.r_[0.0, np.cumsum(ctrl_c)]
    below = cum[np.searchsorted(ctrl_r, risk[cases], side="left")]
    upto = cum[np.searchsorted(ctrl_r, risk[cases], side="right")]
    wins = below + 0.5 * (upto - below)
    return float(case_w @ wins) / (float(case_w.sum()) * float(ctrl_c.sum())), None


def brier_t(table: RowTable, ctx: SurvivalContext) -> Value:
    _time, _event, risk, count = _cols(table)
    if count.sum() == 0:
        return np.nan, "the group has no patients"
    cases, controls, w = _status(table, ctx)
    if not controls.any():  # scikit-survival's brier_score refuses such a group too
        return np.nan, BRIER_NO_FOLLOW_UP
    surv = 1.0 - risk
    loss = np.where(cases, surv**2, 0.0) + np.where(controls, (1.0 - surv) ** 2, 0.0)
    return float((loss * w) @ count) / float(count.sum()), None


def km_at(table: RowTable, t: float) -> tuple[float, str | None]:
    """Kaplan–Meier event-free survival of the table at ``t`` (undefined past follow-up)."""
    time, event, _, count = _cols(table)
    if count.sum() == 0:
        return np.nan, "the group has no patients"
    times = np.unique(time)
    idx = np.searchsorted(times, time)
    d = np.bincount(idx, weights=count * event, minlength=times.size)
    total = np.bincount(idx, weights=count, minlength=times.size)
    r = total[::-1].cumsum()[::-1]
    s = np.cumprod(1.0 - np.divide(d, r, out=np.zeros(times.size), where=d != 0))
    if t > times[-1] and s[-1] > 0:
        return np.nan, FOLLOW_UP_ENDS
    k = np.searchsorted(times, t, side="right") - 1
    return (1.0 if k < 0 else float(s[k])), None


def km_curve(table: RowTable, horizon: float, min_events: int) -> tuple[list[float], list[float]]:
    """KM steps coarsened so that at least ``min_events`` events separate two points.

    Each published step then aggregates enough events that no single small count can
    be read off the curve (the ROC curves are coarsened the same way).
    """
    time, event, _, count = _cols(table)
    if count.sum() == 0:
        return [], []
    times = np.unique(time)
    idx = np.searchsorted(times, time)
    d = np.bincount(idx, weights=count * event, minlength=times.size)
    total = np.bincount(idx, weights=count, minlength=times.size)
    r = total[::-1].cumsum()[::-1]
    s = np.cumprod(1.0 - np.divide(d, r, out=np.zeros(times.size), where=d != 0))
    xs, ys = [0.0], [1.0]
    pending = 0.0
    for k in range(times.size):
        if times[k] > horizon:
            break
        pending += d[k]
        if pending >= min_events:
            xs.append(float(times[k]))
            ys.append(float(s[k]))
            pending = 0.0
    if 0 < pending < min_events and len(xs) > 1:
        # The curve ends at the horizon, whose value (observed risk) is published: the
        # last segment must hold 0 or at least min_events events too.
        xs.pop()
        ys.pop()
    at_horizon, why = km_at(table, horizon)
    if why is None and horizon > xs[-1]:
        xs.append(float(horizon))
        ys.append(at_horizon)
    return xs, ys


def observed_risk_t(table: RowTable, ctx: SurvivalContext) -> Value:
    s, why = km_at(table, ctx.horizon)
    return (1.0 - s, None) if why is None else (np.nan, why)


def predicted_risk_t(table: RowTable, ctx: SurvivalContext) -> Value:
    _, _, risk, count = _cols(table)
    if count.sum() == 0:
        return np.nan, "the group has no patients"
    return float(risk @ count) / float(count.sum()), None


def oe_ratio_t(table: RowTable, ctx: SurvivalContext) -> Value:
    observed, why = observed_risk_t(table, ctx)
    if why is not None:
        return np.nan, why
    predicted, _ = predicted_risk_t(table, ctx)
    if not predicted > 0:
        return np.nan, ZERO_PREDICTED
    return observed / predicted, None


def _threshold_sums(table: RowTable, ctx: SurvivalContext) -> dict[str, float]:
    _, _, risk, count = _cols(table)
    cases, controls, w = _status(table, ctx)
    pos = risk >= ctx.threshold
    wc = w * count
    return {
        "tp": float(wc[cases & pos].sum()),
        "cases": float(wc[cases].sum()),
        "tn": float(count[controls & ~pos].sum()),
        "controls": float(count[controls].sum()),
        "fp": float(wc[controls & pos].sum()),
    }


def threshold_counts(table: RowTable, ctx: SurvivalContext) -> dict[str, tuple[float, float]]:
    """The patients behind each threshold figure, unweighted: (count, of how many).

    With no censoring before the horizon the IPCW weights are equal and each figure is
    exactly count / total; the privacy plan withholds a figure whose count or complement
    is from 1 to m − 1, whatever the weights (a reader may know them)."""
    _, _, risk, count = _cols(table)
    cases, controls, _ = _status(table, ctx)
    pos = risk >= ctx.threshold
    tp = float(count[cases & pos].sum())
    fp = float(count[controls & pos].sum())
    return {
        "sensitivity_t": (tp, float(count[cases].sum())),
        "specificity_t": (float(count[controls & ~pos].sum()), float(count[controls].sum())),
        "ppv_t": (tp, tp + fp),
    }


def sensitivity_t(table: RowTable, ctx: SurvivalContext) -> Value:
    if _censoring_zero(table, ctx):
        return np.nan, CENSORING_ZERO
    s = _threshold_sums(table, ctx)
    return (s["tp"] / s["cases"], None) if s["cases"] > 0 else (np.nan, NO_EVENTS)


def specificity_t(table: RowTable, ctx: SurvivalContext) -> Value:
    s = _threshold_sums(table, ctx)
    return (s["tn"] / s["controls"], None) if s["controls"] > 0 else (np.nan, NO_CONTROLS)


def ppv_t(table: RowTable, ctx: SurvivalContext) -> Value:
    if _censoring_zero(table, ctx):
        return np.nan, CENSORING_ZERO
    s = _threshold_sums(table, ctx)
    flagged = s["tp"] + s["fp"]
    return (s["tp"] / flagged, None) if flagged > 0 else (np.nan, NO_PREDICTED_POSITIVE)


def calibration_bins(table: RowTable, ctx: SurvivalContext) -> list[tuple[float, float, float]]:
    """(mean predicted, observed 1 − KM at t, patients) per risk-quantile bin.

    Up to 10 bins of at least ``min_cell_size`` patients (ties in risk never split).
    A bin whose follow-up ends before the horizon is left out.
    """
    _, _, risk, count = _cols(table)
    n = float(count.sum())
    m = ctx.min_cell_size
    if n < m:
        return []
    bins = max(1, min(MAX_CALIBRATION_BINS, int(n // m)))
    order = np.argsort(risk, kind="mergesort")
    cum = np.cumsum(count[order])
    cuts = [0]
    for b in range(1, bins):
        target = n * b / bins
        k = int(np.searchsorted(cum, target, side="left")) + 1
        previous = cum[cuts[-1] - 1] if cuts[-1] else 0.0
        if k > cuts[-1] and cum[k - 1] - previous >= m and n - cum[k - 1] >= m:
            cuts.append(k)
    cuts.append(order.size)
    out = []
    for a, b in itertools.pairwise(cuts):
        rows = order[a:b]
        part = RowTable({c: v[rows] for c, v in table.columns.items()}, count[rows])
        s, why = km_at(part, ctx.horizon)
        if why is not None:
            continue
        predicted = float(risk[rows] @ count[rows]) / float(count[rows].sum())
        out.append((predicted, 1.0 - s, float(count[rows].sum())))
    return out


def calibration_error_t(table: RowTable, ctx: SurvivalContext) -> Value:
    bins = calibration_bins(table, ctx)
    if not bins:
        return np.nan, TOO_FEW_FOR_BINS.format(m=ctx.min_cell_size)
    arr = np.array(bins)
    return float(np.abs(arr[:, 1] - arr[:, 0]) @ arr[:, 2] / arr[:, 2].sum()), None


def n_patients(table: RowTable, ctx: SurvivalContext) -> Value:
    return table.n, None


def n_events_t(table: RowTable, ctx: SurvivalContext) -> Value:
    time, event, _, count = _cols(table)
    return float(count[event & (time <= ctx.horizon)].sum()), None


def event_counts(table: RowTable, horizon: float) -> tuple[int, int]:
    """(events at or before the horizon, other patients): the counts privacy protects."""
    time, event, _, count = _cols(table)
    events = round(count[event & (time <= horizon)].sum())
    return events, round(count.sum()) - events


METRICS: Mapping[str, TaskMetric] = {
    m.id: m
    for m in (
        TaskMetric(
            "n",
            "Patients",
            "none",
            "len(time)",
            "Number of patients in the group.",
            n_patients,
            label_dependent=False,
            count=True,
        ),
        TaskMetric(
            "n_events",
            "Events by the horizon",
            "none",
            "numpy.sum(event & (time <= horizon))",
            "Patients who had the event at or before the horizon.",
            n_events_t,
            events=True,
            count=True,
        ),
        TaskMetric(
            "c_index",
            "Harrell's C",
            "higher",
            "sksurv.metrics.concordance_index_censored",
            "Share of comparable pairs (an event before the other patient's follow-up "
            "ends) in which the patient with the event had the higher predicted risk.",
            c_index,
        ),
        TaskMetric(
            "uno_c",
            "Uno's C (to the horizon)",
            "higher",
            "sksurv.metrics.concordance_index_ipcw(tau=horizon)",
            "Concordance among pairs whose earlier event is before the horizon, weighted "
            "by the inverse probability of censoring: less dependent on censoring than "
            "Harrell's C.",
            uno_c,
        ),
        TaskMetric(
            "auc_t",
            "Time-dependent AUROC at the horizon",
            "higher",
            "sksurv.metrics.cumulative_dynamic_auc(times=[horizon])",
            "Probability that a patient with the event by the horizon has a higher "
            "predicted risk than one still event-free after it (cumulative/dynamic, IPCW).",
            auc_t,
        ),
        TaskMetric(
            "brier_t",
            "Brier score at the horizon",
            "lower",
            "sksurv.metrics.brier_score(times=[horizon]) on 1 − risk",
            "Mean squared error of the predicted survival at the horizon, IPCW (Graf 1999).",
            brier_t,
        ),
        TaskMetric(
            "observed_risk_t",
            "Observed risk by the horizon (1 − KM)",
            "none",
            "1 − sksurv.nonparametric.kaplan_meier_estimator at the horizon",
            "Kaplan–Meier estimate of the share of the group with the event by the horizon.",
            observed_risk_t,
            events=True,
        ),
        TaskMetric(
            "predicted_risk_t",
            "Mean predicted risk by the horizon",
            "none",
            "numpy.mean(risk)",
            "Mean predicted probability of the event by the horizon.",
            predicted_risk_t,
            label_dependent=False,
        ),
        TaskMetric(
            "oe_ratio_t",
            "Observed / expected at the horizon",
            "target_1",
            "observed_risk_t / predicted_risk_t",
            "Above 1 the model under-predicts the group's risk; below 1 it over-predicts.",
            oe_ratio_t,
            events=True,
        ),
        TaskMetric(
            "calibration_error_t",
            "Calibration error at the horizon (grouped ICI)",
            "lower",
            "mean |1 − KM − mean risk| over risk-quantile bins, weighted by patients",
            "How far observed risk (Kaplan–Meier) is from predicted risk across the "
            "group's risk range.",
            calibration_error_t,
        ),
        TaskMetric(
            "sensitivity_t",
            "Sensitivity at the horizon (IPCW)",
            "higher",
            "sklearn.metrics.recall_score(sample_weight=IPCW) on known status at t",
            "Share of patients with the event by the horizon who are flagged "
            "(risk >= threshold), inverse-probability-of-censoring weighted.",
            sensitivity_t,
            needs_threshold=True,
        ),
        TaskMetric(
            "specificity_t",
            "Specificity at the horizon (IPCW)",
            "higher",
            "sklearn.metrics.recall_score(pos_label=0, sample_weight=IPCW) on known status",
            "Share of patients event-free beyond the horizon who are not flagged.",
            specificity_t,
            needs_threshold=True,
        ),
        TaskMetric(
            "ppv_t",
            "PPV at the horizon (IPCW)",
            "higher",
            "sklearn.metrics.precision_score(sample_weight=IPCW) on known status at t",
            "Share of flagged patients (status at the horizon known) who had the event by "
            "the horizon, IPCW.",
            ppv_t,
            needs_threshold=True,
        ),
    )
}

HINTS = RendererHints(
    summary_metrics=("observed_risk_t", "c_index", "auc_t", "oe_ratio_t"),
    chart_metrics=("c_index", "auc_t", "oe_ratio_t"),
    disparity_metrics=("c_index", "auc_t", "sensitivity_t", "oe_ratio_t", "brier_t"),
    outcome_words="patients with, or without, the event by the horizon",
    threshold_subject="risk by the horizon",
    calibration_summary=("calibration_error_t", "calibration error", "calibration error"),
    calibration_axes=("Predicted risk by the horizon", "Observed risk (1 − Kaplan–Meier)"),
    outcome_text=lambda label, number: (
        f"{label.get('event', '')} = {label.get('event_value', 1)} by time "
        f"{number(float(label.get('horizon', 0)))} (follow-up {label.get('time', '')}; "
        "survival task)"
    ),
)


NOTE_SURVIVAL = (
    "Survival at the horizon {h}: the censoring distribution of every IPCW figure (Uno's C, "
    "AUC(t), Brier(t), sensitivity/specificity/PPV at t) is the Kaplan–Meier estimate on the "
    "whole audited cohort, so every group is weighted alike; patients censored before the "
    "horizon are never counted as event-free."
)


def _notes(settings: Mapping[str, Any]) -> list[str]:
    from auditor.measure.metrics import format_threshold

    return [NOTE_SURVIVAL.format(h=format_threshold(float(settings["horizon"])))]


def _curves(
    curves: Any,
    attribute: Any,
    group: Any,
    table: RowTable,
    ctx: SurvivalContext,
    m: int,
    privacy: Any,
) -> None:
    """Kaplan–Meier and calibration at the horizon, only for a group whose events are
    shown (a curve's steps reveal them)."""
    if not privacy.curves_shown:
        return
    from reports.model import CalibrationBin, CalibrationCurve, KaplanMeierCurve

    xs, ys = km_curve(table, ctx.horizon, m)
    curves.kaplan_meier.append(
        KaplanMeierCurve(attribute=attribute, group=group, time=xs, survival=ys)
    )
    curves.calibration.append(
        CalibrationCurve(
            attribute=attribute,
            group=group,
            bins=[
                CalibrationBin(mean_predicted=a, observed=b)
                for a, b, _ in calibration_bins(table, ctx)
            ],
        )
    )


def _context(overall: RowTable, settings: Mapping[str, Any]) -> SurvivalContext:
    return context_for(
        overall,
        float(settings["horizon"]),
        float(settings.get("threshold", 0.5)),
        int(settings.get("min_cell_size", 11)),
    )


def _outcome_counts(table: RowTable, ctx: SurvivalContext) -> tuple[int, int]:
    return event_counts(table, ctx.horizon)


def _threshold_bands(
    table: RowTable, ctx: SurvivalContext, grid: Sequence[float]
) -> tuple[tuple[int, int], ...]:
    """Events by the horizon and the other patients per band of the ascending ``grid``
    (band ``j``: risks in ``[t_j, t_{j+1})``), so that the plan's programme sees the
    flagged and unflagged cases behind sensitivity, specificity and PPV at t."""
    _, _, risk, count = _cols(table)
    cases = _status(table, ctx)[0]
    band = np.searchsorted(np.asarray(grid, dtype=np.float64), risk, side="right")
    size = len(grid) + 1
    pos = np.bincount(band[cases], weights=count[cases], minlength=size)
    neg = np.bincount(band[~cases], weights=count[~cases], minlength=size)
    return tuple((round(float(a)), round(float(b))) for a, b in zip(pos, neg, strict=True))


TASK = TaskDef(
    id="survival",
    title="Survival (censored time to event, at a horizon)",
    columns=COLUMNS,
    metrics=METRICS,
    hints=HINTS,
    context=_context,
    outcome_counts=_outcome_counts,
    threshold_bands=_threshold_bands,
    binary_outcome=True,
    notes=_notes,
    curves=_curves,
    description="A censored time to event and a predicted risk of the event by a horizon.",
)
