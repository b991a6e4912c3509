"""The one metric registry: every metric defined once, as a function of the statistics.

Every other part of the tool (policies, reports, dashboard, ``auditor metrics``) reads
:data:`METRICS`. A metric's function takes :class:`Levels` (patient counts at ordered
score levels) and the decision threshold, and works on arrays with any leading axes:
the exact distinct-score table gives shape ``(k,)`` (the point estimate) and the
bootstrap passes resampled binned counts of shape ``(replicates, k)`` to the *same*
function. Undefined values are NaN inside and surface as ``None`` with a reason.

Conventions (documented once, here):

* ``score >= threshold`` predicts positive.
* ``auroc`` equals ``sklearn.metrics.roc_auc_score`` (ties count one half),
  ``auprc`` equals ``sklearn.metrics.average_precision_score``.
* ``log_loss`` clips probabilities to ``[eps, 1 - eps]`` with ``eps`` the float64
  machine epsilon, as ``sklearn.metrics.log_loss`` does (1 - p is clipped for
  negatives).
* ``calibration_intercept`` is calibration-in-the-large: the intercept of a
  logistic regression of the outcome with ``logit(p)`` as an offset;
  ``calibration_slope`` is the slope of a logistic regression of the outcome on
  ``logit(p)``. Both are fitted by weighted Newton iterations on the score table;
  ``p`` is clipped to ``[eps, 1 - eps]`` (float64 machine epsilon) before the logit.
* ``ece`` uses 10 equal-width bins on [0, 1], right-closed like
  ``sklearn.calibration.calibration_curve(strategy="uniform")`` (first bin [0, 0.1],
  then (0.1, 0.2], ..., (0.9, 1]): ``sum_b n_b / n * |mean(y)_b - mean(p)_b|``.
* ``net_benefit`` is the decision-curve quantity ``TP/n - FP/n * t / (1 - t)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from auditor.errors import AuditInputError
from auditor.reduce.stats import ECE_EDGES, BinnedTable, ScoreTable, score_terms

Direction = Literal["higher", "lower", "target_1", "target_0", "none"]

UNKNOWN_METRIC = "Unknown metric {metric!r}; known metrics: {known}."

NEWTON_MAX_ITER = 100
NEWTON_TOL = 1e-7
"""Newton stops once a step is this small (relative); the error left is about its
square, far below the 1e-6 agreement with statsmodels."""
COARSE_LEVELS = 2048
BLOCK_ELEMENTS = 1 << 18
"""Newton sums run over blocks of about this many counts, so temporaries stay in cache."""
STEP_CHECK = 0.5
"""Newton steps larger than this are checked against the likelihood (step halving)."""
SEPARATION_LIMIT = 1e6
"""A fitted coefficient beyond this means the scores separate the outcomes."""


# --------------------------------------------------------------------------- levels


class Levels:
    """Patient counts at ordered score levels: the one input of every metric.

    ``key`` (shape (k,), increasing) decides ``score >= threshold``: the score itself
    for an exact table, the bin's lower edge for a binned one. ``pos``/``neg`` have
    shape ``(..., k)``. ``pos_terms``/``neg_terms`` index the per-level means of
    :data:`auditor.reduce.stats.BIN_TERMS` for positives and negatives (4 rows of shape
    (k,)); the logit row is the same for both labels.
    ``ece_bin`` (shape (k,)) is each level's calibration bin (non-decreasing).
    """

    def __init__(
        self,
        key: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        pos_terms: Sequence[np.ndarray],
        neg_terms: Sequence[np.ndarray],
        ece_bin: np.ndarray,
    ) -> None:
        self.key = key
        self.pos = pos
        self.neg = neg
        self.pos_terms = pos_terms
        self.neg_terms = neg_terms
        self.ece_bin = ece_bin
        self._confusion: dict[float, tuple[np.ndarray, ...]] = {}
        self._calibration_bins: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.memo: dict[str, Computed] = {}
        """Threshold-free metric results, computed once per Levels (the slider path)."""

    @classmethod
    def exact(cls, table: ScoreTable) -> Levels:
        """Levels of the exact distinct-score table (cached on the table)."""
        cached = table._cache.get("levels")
        if cached is None:
            pos_terms, neg_terms = score_terms(table.scores)
            cached = cls(
                table.scores,
                table.pos,
                table.neg,
                pos_terms,
                neg_terms,
                ece_bins(table.scores),
            )
            table._cache["levels"] = cached
        return cached  # type: ignore[no-any-return]

    @classmethod
    def binned(
        cls,
        table: BinnedTable,
        edges: np.ndarray,
        pos: np.ndarray | None = None,
        neg: np.ndarray | None = None,
    ) -> Levels:
        """Levels of a binned table, optionally with resampled counts ``(..., k)``.

        Each level's loss terms are the means over the bin's patients of that label
        in the original data (the logit is the bin's mean over both labels, so the
        recalibration fits see one covariate value per level, as with exact
        tables); resampling changes the counts only.
        """
        n = table.pos + table.neg
        with np.errstate(invalid="ignore", divide="ignore"):
            pos_terms = np.where(table.pos > 0, table.pos_sums / table.pos, 0.0)
            neg_terms = np.where(table.neg > 0, table.neg_sums / table.neg, 0.0)
            logit = np.where(n > 0, (table.pos_sums[3] + table.neg_sums[3]) / n, 0.0)
        pos_terms[3] = logit
        neg_terms[3] = logit
        return cls(
            edges,
            table.pos if pos is None else pos,
            table.neg if neg is None else neg,
            list(pos_terms),
            list(neg_terms),
            ece_bins(edges),
        )

    @cached_property
    def n_pos(self) -> np.ndarray:
        return np.asarray(self.pos.sum(-1))

    @cached_property
    def n_neg(self) -> np.ndarray:
        return np.asarray(self.neg.sum(-1))

    @cached_property
    def n(self) -> np.ndarray:
        return self.n_pos + self.n_neg

    @cached_property
    def x2(self) -> np.ndarray:
        """Square of the recalibration covariate x = logit(p)."""
        x = self.pos_terms[3]
        return np.asarray(x * x)

    def confusion(self, threshold: float) -> tuple[np.ndarray, ...]:
        """(tp, fp, fn, tn) at ``score >= threshold``."""
        t = float(threshold)
        out = self._confusion.get(t)
        if out is None:
            i = int(np.searchsorted(self.key, t, side="left"))
            tp = np.asarray(self.pos[..., i:].sum(-1))
            fp = np.asarray(self.neg[..., i:].sum(-1))
            out = (tp, fp, self.n_pos - tp, self.n_neg - fp)
            self._confusion[t] = out
        return out


def ece_bins(scores: np.ndarray) -> np.ndarray:
    """Calibration bin (0..9) of each score: right-closed, as scikit-learn's curve."""
    return np.searchsorted(ECE_EDGES[1:-1], np.asarray(scores, dtype=np.float64), side="left")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Computed:
    """A metric's values (NaN where undefined) and why, as (mask, reason) pairs."""

    value: np.ndarray
    why: tuple[tuple[np.ndarray, str], ...] = ()

    def reason_at(self, index: tuple[int, ...] = ()) -> str | None:
        for mask, reason in self.why:
            if bool(np.broadcast_to(mask, np.shape(self.value))[index]):
                return reason
        return None


@dataclass(frozen=True)
class MetricValue:
    """One metric of one group: the value, or None and the reason it is undefined."""

    value: float | None
    reason: str | None = None


def _f(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _divide(num: np.ndarray, den: np.ndarray, reason: str) -> Computed:
    den = np.asarray(den)
    bad = den <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(bad, np.nan, _f(num) / np.where(bad, 1, den))
    return Computed(value, ((bad, reason),))


EMPTY = "the group has no patients"
NO_POSITIVES = "the group has no positive patients"
NO_NEGATIVES = "the group has no negative patients"
NO_PREDICTED_POSITIVE = "no patient in the group is predicted positive at threshold {threshold}"
NO_PREDICTED_NEGATIVE = "no patient in the group is predicted negative at threshold {threshold}"
NO_F1 = "the group has no positive patients and none is predicted positive at threshold {threshold}"
NO_EXPECTED = "the predicted probabilities of the group sum to 0"
ONE_SCORE = "every patient in the group has the same score, so no slope can be fitted"
SEPARATED = "the scores separate the outcomes, so the logistic recalibration has no finite slope"
NOT_CONVERGED = "the logistic recalibration did not converge"
THRESHOLD_ONE = "net benefit is undefined at threshold 1"


# --------------------------------------------------------------------------- fractions
# Proportion metrics are defined by (successes, trials): the value is their ratio and
# the Wilson interval uses the same counts.

Fraction = Callable[[Levels, float], tuple[np.ndarray, np.ndarray]]


def _prevalence(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    return lv.n_pos, lv.n


def _selection_rate(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    tp, fp, _, _ = lv.confusion(t)
    return tp + fp, lv.n


def _sensitivity(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    tp, _, _, _ = lv.confusion(t)
    return tp, lv.n_pos


def _specificity(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    _, _, _, tn = lv.confusion(t)
    return tn, lv.n_neg


def _fpr(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    _, fp, _, _ = lv.confusion(t)
    return fp, lv.n_neg


def _fnr(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    _, _, fn, _ = lv.confusion(t)
    return fn, lv.n_pos


def _ppv(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    tp, fp, _, _ = lv.confusion(t)
    return tp, tp + fp


def _npv(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    _, _, fn, tn = lv.confusion(t)
    return tn, tn + fn


def _accuracy(lv: Levels, t: float) -> tuple[np.ndarray, np.ndarray]:
    tp, _, _, tn = lv.confusion(t)
    return tp + tn, lv.n


def _from_fraction(fraction: Fraction, reason: str) -> Callable[[Levels, float], Computed]:
    def fn(lv: Levels, t: float) -> Computed:
        num, den = fraction(lv, t)
        return _divide(num, den, reason)

    return fn


# --------------------------------------------------------------------------- metrics


def _count(attr: str) -> Callable[[Levels, float], Computed]:
    def fn(lv: Levels, t: float) -> Computed:
        return Computed(_f(getattr(lv, attr)))

    return fn


def _balanced_accuracy(lv: Levels, t: float) -> Computed:
    tp, _, _, tn = lv.confusion(t)
    sens = _divide(tp, lv.n_pos, NO_POSITIVES)
    spec = _divide(tn, lv.n_neg, NO_NEGATIVES)
    return Computed((sens.value + spec.value) / 2.0, sens.why + spec.why)


def _f1(lv: Levels, t: float) -> Computed:
    tp, fp, fn, _ = lv.confusion(t)
    return _divide(2 * tp, 2 * tp + fp + fn, NO_F1)


def _both_classes(lv: Levels) -> tuple[tuple[np.ndarray, str], ...]:
    return ((lv.n_pos <= 0, NO_POSITIVES), (lv.n_neg <= 0, NO_NEGATIVES))


def _auroc(lv: Levels, t: float) -> Computed:
    # Mann-Whitney with ties counted one half == trapezoidal ROC area (sklearn).
    pos, neg = lv.pos, lv.neg
    above = lv.n_pos[..., None] - np.cumsum(pos, axis=-1)  # positives scored higher
    twice = (neg * (2 * above + pos)).sum(-1)
    why = _both_classes(lv)
    bad = (lv.n_pos <= 0) | (lv.n_neg <= 0)
    den = 2.0 * _f(lv.n_pos) * _f(lv.n_neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(bad, np.nan, _f(twice) / np.where(bad, 1.0, den))
    return Computed(value, why)


def _auprc(lv: Levels, t: float) -> Computed:
    # Sum over score levels (high to low) of the recall increment (pos / P) times the
    # precision at that level's threshold: patients scored at or above it.
    tp = lv.n_pos[..., None] - np.cumsum(lv.pos, axis=-1)
    tp += lv.pos
    called = lv.n[..., None] - np.cumsum(lv.pos + lv.neg, axis=-1)
    called += lv.pos + lv.neg
    # a level with positives has called >= pos > 0; others contribute nothing
    share = np.divide(lv.pos * tp, called, out=np.zeros(called.shape), where=lv.pos > 0)
    return _divide(share.sum(-1), lv.n_pos, NO_POSITIVES)


def _expected_term(lv: Levels, row: int) -> np.ndarray:
    """Sum over patients of a per-level term (BIN_TERMS row), positives and negatives."""
    dot = "...k,k->..."
    return np.asarray(
        np.einsum(dot, lv.pos, lv.pos_terms[row]) + np.einsum(dot, lv.neg, lv.neg_terms[row])
    )


def _brier(lv: Levels, t: float) -> Computed:
    return _divide(_expected_term(lv, 1), lv.n, EMPTY)


def _log_loss(lv: Levels, t: float) -> Computed:
    return _divide(_expected_term(lv, 2), lv.n, EMPTY)


def _oe_ratio(lv: Levels, t: float) -> Computed:
    expected = _expected_term(lv, 0)
    c = _divide(lv.n_pos, expected, NO_EXPECTED)
    empty = lv.n <= 0
    return Computed(c.value, ((empty, EMPTY), *c.why))


def calibration_bins(lv: Levels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per calibration bin (last axis, 10): patients, events and summed predictions."""
    cuts = np.searchsorted(lv.ece_bin, np.arange(11), side="left")

    def seg(x: np.ndarray) -> np.ndarray:
        cs = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1)], axis=-1)
        return np.asarray(cs[..., cuts[1:]] - cs[..., cuts[:-1]])

    if lv.key.size == 0:
        z = np.zeros((*lv.pos.shape[:-1], 10))
        return z, z, z
    if lv.pos.ndim == 1:  # one table: bincount sums, memoized for the curves
        if lv._calibration_bins is None:
            b = lv.ece_bin
            predicted = lv.pos * lv.pos_terms[0] + lv.neg * lv.neg_terms[0]
            lv._calibration_bins = (
                np.bincount(b, weights=lv.pos + lv.neg, minlength=10),
                np.bincount(b, weights=lv.pos, minlength=10),
                np.bincount(b, weights=predicted, minlength=10),
            )
        return lv._calibration_bins
    return (
        seg(_f(lv.pos + lv.neg)),
        seg(_f(lv.pos)),
        seg(lv.pos * lv.pos_terms[0] + lv.neg * lv.neg_terms[0]),
    )


def _ece(lv: Levels, t: float) -> Computed:
    _, events, predicted = calibration_bins(lv)
    gap = np.abs(events - predicted).sum(-1)
    return _divide(gap, lv.n, EMPTY)


def _newton(lv: Levels, *, slope: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted logistic regression of y on x = logit(p): (intercept, slope, converged).

    With ``slope=False`` the slope is fixed at 1 (logit(p) is an offset) and only the
    intercept is fitted. Works over any leading axes of the counts: all rows start
    from the fit to their average counts, so resampled tables converge in a few steps.
    """
    x = lv.pos_terms[3]  # equal to lv.neg_terms[3] (see Levels)
    pos = _f(lv.pos)
    w = pos + _f(lv.neg)
    shape = w.shape[:-1]
    if shape:
        k = x.size
        a0, b0 = _warm_start(x, pos.reshape(-1, k).mean(0), w.reshape(-1, k).mean(0), slope)
    elif x.size > COARSE_LEVELS:
        a0, b0 = _warm_start(x, pos, w, slope)
    else:  # a short table: the full fit from the usual start is cheap
        a0, b0 = 0.0, 1.0
    a, b, ok = _newton_rows(
        x, pos, w, np.full(shape, a0), np.full(shape, b0), slope=slope, x2=lv.x2
    )
    if not bool(np.all(ok)):  # retry from the null model, where step halving always ascends
        a, b, ok = (np.array(v, dtype=v.dtype) for v in (a, b, ok))
        k = x.size
        miss = np.flatnonzero(~ok.reshape(-1))
        p_m, w_m = pos.reshape(-1, k)[miss], w.reshape(-1, k)[miss]
        with np.errstate(invalid="ignore", divide="ignore"):
            total, events = w_m.sum(-1), p_m.sum(-1)
            null = np.log(events / (total - events)) - (0.0 if slope else (w_m * x).sum(-1) / total)
        null = np.where(np.isfinite(null), null, 0.0)
        a2, b2, ok2 = _newton_rows(
            x,
            p_m,
            w_m,
            null,
            np.zeros(miss.size) if slope else np.ones(miss.size),
            slope=slope,
            x2=lv.x2,
        )
        a.reshape(-1)[miss], b.reshape(-1)[miss], ok.reshape(-1)[miss] = a2, b2, ok2
    return a, b, ok


def _warm_start(x: np.ndarray, pos: np.ndarray, w: np.ndarray, slope: bool) -> tuple[float, float]:
    """Starting point: the fit on at most COARSE_LEVELS pooled levels (a few steps
    from the answer, so the full-resolution Newton needs about two iterations)."""
    if x.size > COARSE_LEVELS:
        cuts = np.linspace(0, x.size, COARSE_LEVELS + 1).astype(np.int64)[:-1]
        pos_c = np.add.reduceat(pos, cuts)
        w_c = np.add.reduceat(w, cuts)
        xw = np.add.reduceat(w * x, cuts)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(w_c > 0, xw / np.where(w_c > 0, w_c, 1.0), x[cuts])
        pos, w = pos_c, w_c
    a, b, ok = _newton_rows(x, pos, w, np.zeros(()), np.ones(()), slope=slope)
    return (float(a), float(b)) if bool(ok) else (0.0, 1.0)


def _newton_rows(
    x: np.ndarray,
    pos: np.ndarray,
    w: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    slope: bool,
    x2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton iterations for every row of ``(..., k)`` counts at once.

    Rows that converged (or failed) drop out of the working set, so a few slow
    bootstrap replicates do not keep the whole chunk iterating.
    """
    shape = w.shape[:-1]
    k = x.size
    if slope and x2 is None:
        x2 = x * x
    pos_all = pos.reshape(-1, k)
    w_all = w.reshape(-1, k)
    a_all = np.array(np.broadcast_to(a, shape), dtype=np.float64).reshape(-1)
    b_all = np.array(np.broadcast_to(b, shape), dtype=np.float64).reshape(-1)
    done = np.zeros(a_all.size, dtype=bool)
    failed = np.zeros(a_all.size, dtype=bool)
    rows = np.arange(a_all.size)
    p_act, w_act = pos_all, w_all
    for _ in range(NEWTON_MAX_ITER):
        ra, rb = a_all[rows], b_all[rows]
        # Gradient and Hessian sums, over cache-sized blocks of levels.
        sums = np.zeros((5, rows.size))
        for lo in range(0, k, max(1, BLOCK_ELEMENTS // rows.size)):
            hi = min(k, lo + max(1, BLOCK_ELEMENTS // rows.size))
            sums += _grad_hess(
                x[lo:hi],
                None if x2 is None else x2[lo:hi],
                p_act[:, lo:hi],
                w_act[:, lo:hi],
                ra,
                rb,
                slope,
            )
        g0, g1, h0, h1, h2 = sums
        with np.errstate(invalid="ignore", divide="ignore"):
            if slope:
                det = h0 * h2 - h1 * h1
                da = (h2 * g0 - h1 * g1) / det
                db = (h0 * g1 - h1 * g0) / det
            else:
                da = g0 / h0
                db = np.zeros(rows.size)
        bad = ~(np.isfinite(da) & np.isfinite(db))
        da = np.where(bad, 0.0, da)
        db = np.where(bad, 0.0, db)
        big = np.flatnonzero((np.abs(da) + np.abs(db)) > STEP_CHECK)
        if big.size:  # far from the optimum: halve steps that lower the likelihood
            pb, wb, ab, bb = p_act[big], w_act[big], ra[big], rb[big]
            ll_old = _loglik(x, pb, wb, ab, bb, slope)
            slack = 1e-9 * (1.0 + np.abs(ll_old))  # numerically flat is not worse
            dab, dbb = da[big], db[big]
            for _ in range(50):
                worse = _loglik(x, pb, wb, ab + dab, bb + dbb, slope) < ll_old - slack
                if not bool(np.any(worse)):
                    break
                dab = np.where(worse, dab / 2.0, dab)
                dbb = np.where(worse, dbb / 2.0, dbb)
            da[big], db[big] = dab, dbb
        ra, rb = ra + da, rb + db
        a_all[rows], b_all[rows] = ra, rb
        small = (np.abs(da) <= NEWTON_TOL * (1.0 + np.abs(ra))) & (
            np.abs(db) <= NEWTON_TOL * (1.0 + np.abs(rb))
        )
        failed[rows[bad]] = True
        done[rows[small & ~bad]] = True
        keep = ~(small | bad)
        if not keep.any():
            break
        if not keep.all():
            rows = rows[keep]
            p_act, w_act = pos_all[rows], w_all[rows]
    converged = (
        done & ~failed & (np.abs(a_all) < SEPARATION_LIMIT) & (np.abs(b_all) < SEPARATION_LIMIT)
    )
    return a_all.reshape(shape), b_all.reshape(shape), converged.reshape(shape)


def _grad_hess(
    x: np.ndarray,
    x2: np.ndarray | None,
    pos: np.ndarray,
    w: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    slope: bool,
) -> np.ndarray:
    """Per row: sum of residuals (times 1, x) and of weights (times 1, x, x^2), (5, r)."""
    mu = np.multiply(b[:, None], x) if slope else np.broadcast_to(x, w.shape).copy()
    mu += a[:, None]
    mu *= 0.5
    np.tanh(mu, out=mu)
    mu += 1.0
    mu *= 0.5  # expit(eta)
    wmu = w * mu
    var = wmu * mu
    np.subtract(wmu, var, out=var)  # w * mu * (1 - mu)
    np.subtract(pos, wmu, out=wmu)  # residual y - mu, summed per level
    out = np.zeros((5, w.shape[0]))
    out[0], out[2] = wmu.sum(-1), var.sum(-1)
    if slope:
        assert x2 is not None
        # einsum, not BLAS: threaded BLAS spins on a busy 2-core machine
        out[1] = np.einsum("rk,k->r", wmu, x)
        out[3] = np.einsum("rk,k->r", var, x)
        out[4] = np.einsum("rk,k->r", var, x2)
    return out


def _loglik(
    x: np.ndarray, pos: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, slope: bool
) -> np.ndarray:
    """Binomial log-likelihood sum(y * eta - log(1 + e^eta)), stable for any eta."""
    eta = a[..., None] + (b[..., None] * x if slope else x)
    return np.asarray((pos * eta - w * np.logaddexp(0.0, eta)).sum(-1))


def _first_last(x: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x at the first and last level where ``present`` (x is non-decreasing in level
    order, so these are the min and max of x over those levels)."""
    k = present.shape[-1]
    first = np.argmax(present, axis=-1)
    last = k - 1 - np.argmax(present[..., ::-1], axis=-1)
    return x[first], x[last]


def _calibration(lv: Levels, *, slope: bool) -> Computed:
    why = list(_both_classes(lv))
    bad = (lv.n_pos <= 0) | (lv.n_neg <= 0)
    if slope:
        x = lv.pos_terms[3]  # the same covariate for both labels, non-decreasing
        pos_lo, pos_hi = _first_last(x, lv.pos > 0)
        neg_lo, neg_hi = _first_last(x, lv.neg > 0)
        one = ~bad & (np.maximum(pos_hi, neg_hi) <= np.minimum(pos_lo, neg_lo))
        # (quasi-)complete separation: no finite slope maximizes the likelihood
        separated = ~bad & ~one & ((neg_hi <= pos_lo) | (pos_hi <= neg_lo))
        why += [(one, ONE_SCORE), (separated, SEPARATED)]
        bad = bad | one | separated
    a, b, ok = _newton(lv, slope=slope)
    why.append((~ok, NOT_CONVERGED))
    value = np.where(bad | ~ok, np.nan, b if slope else a)
    return Computed(value, tuple(why))


def _calibration_intercept(lv: Levels, t: float) -> Computed:
    return _calibration(lv, slope=False)


def _calibration_slope(lv: Levels, t: float) -> Computed:
    return _calibration(lv, slope=True)


def _net_benefit(lv: Levels, t: float) -> Computed:
    tp, fp, _, _ = lv.confusion(t)
    empty = lv.n <= 0
    if t >= 1.0:
        return Computed(
            np.full(np.shape(lv.n), np.nan), ((np.ones(np.shape(lv.n), bool), THRESHOLD_ONE),)
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.where(empty, 1, lv.n)
        value = np.where(empty, np.nan, tp / n - fp / n * (t / (1.0 - t)))
    return Computed(value, ((empty, EMPTY),))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class MetricDef:
    """One metric: identity, meaning, reference implementation and its one function.

    ``direction``: ``higher``/``lower`` is better, ``target_1``/``target_0`` is best at
    1 or 0, ``none`` for descriptive numbers. ``proportion`` metrics have a
    ``fraction`` (successes, trials) and get a Wilson interval; the others get a
    bootstrap interval. ``label_dependent`` metrics need the outcome (withheld for a
    group with too few positive or negative patients).
    """

    id: str
    name: str
    direction: Direction
    reference: str
    meaning: str
    needs_threshold: bool
    proportion: bool
    label_dependent: bool
    fn: Callable[[Levels, float], Computed]
    fraction: Fraction | None = None

    @property
    def count(self) -> bool:
        """A count, shown as a whole number without an interval."""
        return self.id in COUNT_METRICS

    @property
    def events(self) -> bool:
        """The event count follows from it (with the published size), so it is withheld
        whenever the event count is: the event counts, prevalence, O/E, and every
        outcome figure at a threshold (its confusion cells)."""
        return self.id in EVENT_METRICS or (self.needs_threshold and self.label_dependent)


def _prop(
    id: str,
    name: str,
    direction: Direction,
    reference: str,
    meaning: str,
    fraction: Fraction,
    reason: str,
    *,
    needs_threshold: bool = True,
    label_dependent: bool = True,
) -> MetricDef:
    return MetricDef(
        id,
        name,
        direction,
        reference,
        meaning,
        needs_threshold,
        True,
        label_dependent,
        _from_fraction(fraction, reason),
        fraction,
    )


def _other(
    id: str,
    name: str,
    direction: Direction,
    reference: str,
    meaning: str,
    fn: Callable[[Levels, float], Computed],
    *,
    needs_threshold: bool = False,
    label_dependent: bool = True,
) -> MetricDef:
    return MetricDef(
        id, name, direction, reference, meaning, needs_threshold, False, label_dependent, fn
    )


_ALL: tuple[MetricDef, ...] = (
    _other(
        "n",
        "Patients",
        "none",
        "len(y_true)",
        "Number of patients in the group.",
        _count("n"),
        label_dependent=False,
    ),
    _other(
        "n_positive",
        "Patients with the outcome",
        "none",
        "numpy.sum(y_true == 1)",
        "Number of patients who had the outcome.",
        _count("n_pos"),
    ),
    _other(
        "n_negative",
        "Patients without the outcome",
        "none",
        "numpy.sum(y_true == 0)",
        "Number of patients who did not have the outcome.",
        _count("n_neg"),
    ),
    _prop(
        "prevalence",
        "Prevalence",
        "none",
        "numpy.mean(y_true)",
        "Share of patients who had the outcome.",
        _prevalence,
        EMPTY,
        needs_threshold=False,
    ),
    _prop(
        "selection_rate",
        "Selection rate",
        "none",
        "fairlearn.metrics.selection_rate",
        "Share of patients the model flags (score >= threshold).",
        _selection_rate,
        EMPTY,
        label_dependent=False,
    ),
    _prop(
        "sensitivity",
        "Sensitivity (TPR)",
        "higher",
        "sklearn.metrics.recall_score",
        "Share of patients with the outcome whom the model flags.",
        _sensitivity,
        NO_POSITIVES,
    ),
    _prop(
        "specificity",
        "Specificity (TNR)",
        "higher",
        "fairlearn.metrics.true_negative_rate",
        "Share of patients without the outcome whom the model does not flag.",
        _specificity,
        NO_NEGATIVES,
    ),
    _prop(
        "fpr",
        "False positive rate",
        "lower",
        "fairlearn.metrics.false_positive_rate",
        "Share of patients without the outcome who are flagged anyway (false alarms).",
        _fpr,
        NO_NEGATIVES,
    ),
    _prop(
        "fnr",
        "False negative rate",
        "lower",
        "fairlearn.metrics.false_negative_rate",
        "Share of patients with the outcome whom the model misses.",
        _fnr,
        NO_POSITIVES,
    ),
    _prop(
        "ppv",
        "Positive predictive value",
        "higher",
        "sklearn.metrics.precision_score",
        "Share of flagged patients who have the outcome.",
        _ppv,
        NO_PREDICTED_POSITIVE,
    ),
    _prop(
        "npv",
        "Negative predictive value",
        "higher",
        "sklearn.metrics.precision_score(pos_label=0)",
        "Share of unflagged patients who do not have the outcome.",
        _npv,
        NO_PREDICTED_NEGATIVE,
    ),
    _prop(
        "accuracy",
        "Accuracy",
        "higher",
        "sklearn.metrics.accuracy_score",
        "Share of patients classified correctly.",
        _accuracy,
        EMPTY,
    ),
    _other(
        "balanced_accuracy",
        "Balanced accuracy",
        "higher",
        "sklearn.metrics.balanced_accuracy_score",
        "Average of sensitivity and specificity.",
        _balanced_accuracy,
        needs_threshold=True,
    ),
    _other(
        "f1",
        "F1 score",
        "higher",
        "sklearn.metrics.f1_score",
        "Harmonic mean of PPV and sensitivity.",
        _f1,
        needs_threshold=True,
    ),
    _other(
        "auroc",
        "AUROC",
        "higher",
        "sklearn.metrics.roc_auc_score",
        "Chance that a patient with the outcome is scored above one without it.",
        _auroc,
    ),
    _other(
        "auprc",
        "AUPRC (average precision)",
        "higher",
        "sklearn.metrics.average_precision_score",
        "Precision averaged over the patients with the outcome, ranked by score.",
        _auprc,
    ),
    _other(
        "brier",
        "Brier score",
        "lower",
        "sklearn.metrics.brier_score_loss",
        "Mean squared error of the predicted risk.",
        _brier,
    ),
    _other(
        "log_loss",
        "Log loss",
        "lower",
        "sklearn.metrics.log_loss",
        "Mean negative log-likelihood of the outcomes under the predicted risk.",
        _log_loss,
    ),
    _other(
        "calibration_intercept",
        "Calibration intercept",
        "target_0",
        "statsmodels GLM(Binomial), intercept only, offset=logit(p)",
        "Calibration-in-the-large: below 0 the model over-predicts risk on average.",
        _calibration_intercept,
    ),
    _other(
        "calibration_slope",
        "Calibration slope",
        "target_1",
        "statsmodels GLM(Binomial) of y on logit(p), slope",
        "Below 1 the predicted risks are too extreme; above 1 too modest.",
        _calibration_slope,
    ),
    _other(
        "oe_ratio",
        "Observed/expected ratio",
        "target_1",
        "sum(y_true) / sum(y_prob)",
        "Observed events over the events the model predicts (1 is perfect).",
        _oe_ratio,
    ),
    _other(
        "ece",
        "Expected calibration error",
        "lower",
        "sklearn.calibration.calibration_curve(n_bins=10, strategy='uniform')",
        "Average gap between predicted and observed risk over 10 risk bins.",
        _ece,
    ),
    _other(
        "net_benefit",
        "Net benefit",
        "higher",
        "decision curve analysis (Vickers & Elkin 2006)",
        "True positives per patient minus false positives weighted by the threshold odds.",
        _net_benefit,
        needs_threshold=True,
    ),
)

METRICS: dict[str, MetricDef] = {m.id: m for m in _ALL}
"""Every metric, in the public order used by specs, policies and reports."""

COUNT_METRICS = ("n", "n_positive", "n_negative")
EVENT_METRICS = ("n_positive", "n_negative", "prevalence", "oe_ratio")
"""Figures from which the event count follows (with the published size)."""


def get_metric(metric_id: str) -> MetricDef:
    try:
        return METRICS[metric_id]
    except KeyError:
        raise AuditInputError(
            UNKNOWN_METRIC.format(metric=metric_id, known=", ".join(METRICS))
        ) from None


def compute(metric: MetricDef, lv: Levels, threshold: float) -> Computed:
    """Evaluate one metric; threshold-free results are memoized on ``lv``."""
    if metric.needs_threshold:
        return metric.fn(lv, threshold)
    out = lv.memo.get(metric.id)
    if out is None:
        out = metric.fn(lv, threshold)
        lv.memo[metric.id] = out
    return out


def as_levels(table: ScoreTable | Levels) -> Levels:
    return table if isinstance(table, Levels) else Levels.exact(table)


def format_threshold(threshold: float) -> str:
    """The threshold as written in reasons and ``by_threshold`` keys."""
    return repr(float(threshold))


def metric_value(metric_id: str, table: ScoreTable | Levels, threshold: float = 0.5) -> MetricValue:
    """One metric of one group from its exact table, or None and why it is undefined.

    >>> from auditor.reduce.stats import ScoreTable
    >>> t = ScoreTable.from_arrays([0.2, 0.7, 0.9], [0, 1, 1])
    >>> metric_value("sensitivity", t, 0.5)
    MetricValue(value=1.0, reason=None)
    """
    metric = get_metric(metric_id)
    out = compute(metric, as_levels(table), threshold)
    value = float(out.value)
    if np.isnan(value):
        reason = out.reason_at() or "undefined"
        return MetricValue(
            None,
            f"{metric_id} is undefined: {reason.format(threshold=format_threshold(threshold))}",
        )
    return MetricValue(value, None)
