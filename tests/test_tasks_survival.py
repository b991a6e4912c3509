"""Survival metrics equal scikit-survival (and scikit-learn for the IPCW threshold
metrics) to 1e-9 on the same rows: ties in time and risk, heavy censoring, groups
with no event before the horizon, constant predictions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
)
from sksurv.nonparametric import CensoringDistributionEstimator, SurvivalFunctionEstimator
from sksurv.util import Surv

from auditor.tasks import survival as S
from auditor.tasks.base import RowTable

TOL = 1e-9


def cohort(seed: int, n: int = 240, censoring: float = 0.5, constant: bool = False):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 30, n).astype(float)  # many tied times
    event = rng.random(n) > censoring
    risk = np.full(n, 0.3) if constant else np.round(rng.random(n), 1)  # tied risks
    group = rng.random(n) < 0.45
    time[np.argmax(time)] += 5  # one longest follow-up, censored: G stays > 0 at events
    event[np.argmax(time)] = False
    return time, event, risk, group


def table(time, event, risk) -> RowTable:
    return RowTable.from_arrays({"time": time, "event": event, "risk": risk})


CASES = [
    pytest.param(dict(seed=s, censoring=c, constant=k), id=f"seed{s}-cens{c}-const{k}")
    for s, c, k in [(0, 0.3, False), (1, 0.5, False), (2, 0.85, False), (3, 0.5, True)]
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("horizon", [8.0, 15.0, 22.0])
def test_every_metric_equals_scikit_survival_per_group(case, horizon):
    time, event, risk, group = cohort(**case)
    ctx = S.context_for(table(time, event, risk), horizon, threshold=0.5)
    train = Surv.from_arrays(event, time)
    for mask in (group, ~group):
        t, e, r = time[mask], event[mask], risk[mask]
        tab, test = table(t, e, r), Surv.from_arrays(e, t)
        assert S.c_index(tab, ctx)[0] == pytest.approx(
            concordance_index_censored(e, t, r)[0], abs=TOL
        )
        assert S.uno_c(tab, ctx)[0] == pytest.approx(
            concordance_index_ipcw(train, test, r, tau=horizon)[0], abs=TOL
        )
        assert S.auc_t(tab, ctx)[0] == pytest.approx(
            cumulative_dynamic_auc(train, test, r, [horizon])[0][0], abs=TOL
        )
        assert S.brier_t(tab, ctx)[0] == pytest.approx(
            brier_score(train, test, 1.0 - r, horizon)[1][0], abs=TOL
        )
        km = SurvivalFunctionEstimator().fit(test).predict_proba([horizon])[0]
        assert S.observed_risk_t(tab, ctx)[0] == pytest.approx(1.0 - km, abs=TOL)
        assert S.predicted_risk_t(tab, ctx)[0] == pytest.approx(r.mean(), abs=TOL)
        assert S.oe_ratio_t(tab, ctx)[0] == pytest.approx((1.0 - km) / r.mean(), abs=TOL)


@pytest.mark.parametrize("case", CASES[:3])
def test_ipcw_threshold_metrics_equal_weighted_sklearn(case):
    """Status known at t: cases weighted 1/G(T), controls 1/G(t); G from the whole cohort."""
    time, event, risk, group = cohort(**case)
    horizon, threshold = 15.0, 0.5
    ctx = S.context_for(table(time, event, risk), horizon, threshold=threshold)
    cens = CensoringDistributionEstimator().fit(Surv.from_arrays(event, time))
    for mask in (group, ~group):
        t, e, r = time[mask], event[mask], risk[mask]
        case_ = e & (t <= horizon)
        control = t > horizon
        known = case_ | control
        with np.errstate(divide="ignore"):
            g_case, g_t = cens.predict_proba(t), cens.predict_proba([horizon])[0]
            w = np.where(case_, 1.0 / g_case, 1.0 / g_t)
        y, pred = case_[known].astype(int), (r[known] >= threshold).astype(int)
        tab = table(t, e, r)
        assert S.sensitivity_t(tab, ctx)[0] == pytest.approx(
            recall_score(y, pred, sample_weight=w[known]), abs=TOL
        )
        assert S.specificity_t(tab, ctx)[0] == pytest.approx(
            recall_score(y, pred, pos_label=0, sample_weight=w[known]), abs=TOL
        )
        assert S.ppv_t(tab, ctx)[0] == pytest.approx(
            precision_score(y, pred, sample_weight=w[known]), abs=TOL
        )


def test_counts_on_distinct_rows_equal_the_rows_themselves():
    """The statistic is distinct rows with counts: duplicating rows changes nothing."""
    time, event, risk, _ = cohort(5)
    ctx = S.context_for(table(time, event, risk), 15.0)
    once = table(time, event, risk)
    twice = table(np.r_[time, time], np.r_[event, event], np.r_[risk, risk])
    assert once.n * 2 == twice.n
    assert np.array_equal(once.count * 2, twice.count)
    for metric in S.METRICS.values():
        if metric.count:
            continue
        a, b = metric.fn(once, ctx)[0], metric.fn(twice, ctx)[0]
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=TOL), metric.id


def test_group_with_no_event_before_the_horizon_is_undefined_with_reasons():
    time = np.array([20.0, 25.0, 30.0, 3.0, 12.0, 40.0])
    event = np.array([True, False, True, False, False, False])
    risk = np.array([0.2, 0.4, 0.6, 0.1, 0.3, 0.5])
    ctx = S.context_for(table(time, event, risk), 10.0)
    tab = table(time, event, risk)
    assert S.auc_t(tab, ctx) == (pytest.approx(np.nan, nan_ok=True), S.NO_EVENTS)
    assert np.isnan(S.uno_c(tab, ctx)[0]) and S.uno_c(tab, ctx)[1] == S.NO_PAIRS_BEFORE
    assert S.sensitivity_t(tab, ctx)[1] == S.NO_EVENTS
    assert S.observed_risk_t(tab, ctx)[0] == 0.0  # KM: nobody had the event by t
    assert S.oe_ratio_t(tab, ctx)[0] == 0.0


def test_censored_before_the_horizon_is_never_event_free():
    """A patient censored before t has no weight: not a control, not a case."""
    time = np.array([2.0, 12.0, 14.0, 30.0, 35.0])
    event = np.array([False, True, False, False, True])
    risk = np.array([0.0, 0.9, 0.1, 0.2, 0.8])
    tab = table(time, event, risk)
    ctx = S.context_for(tab, 20.0)
    cases, controls, w = S._status(tab, ctx)
    order = np.argsort(tab.columns["time"])
    assert not cases[order][0] and not controls[order][0] and w[order][0] == 0.0
    assert not controls[order][2] and w[order][2] == 0.0


def test_follow_up_ending_before_the_horizon_is_undefined():
    time = np.array([1.0, 2.0, 3.0])
    event = np.array([False, True, False])
    tab = table(time, event, np.array([0.1, 0.2, 0.3]))
    other = table(np.r_[time, 50.0], np.r_[event, False], np.array([0.1, 0.2, 0.3, 0.4]))
    ctx = S.context_for(other, 10.0)
    assert S.observed_risk_t(tab, ctx) == (pytest.approx(np.nan, nan_ok=True), S.FOLLOW_UP_ENDS)


def test_km_curve_steps_hold_at_least_the_floor_of_events():
    time, event, risk, _ = cohort(1, n=400, censoring=0.3)
    tab = table(time, event, risk)
    xs, ys = S.km_curve(tab, 25.0, 11)
    assert xs[0] == 0.0 and ys[0] == 1.0
    assert xs[-1] == 25.0 and ys[-1] == pytest.approx(S.km_at(tab, 25.0)[0])
    events = [int(event[(time > a) & (time <= b)].sum()) for a, b in itertools.pairwise(xs)]
    assert all(e == 0 or e >= 11 for e in events)
    assert sum(events) == int(event[time <= 25.0].sum())
    assert all(a >= b for a, b in itertools.pairwise(ys))


@pytest.mark.parametrize("last", ["censored", "event"])
def test_brier_undefined_when_nobody_is_followed_beyond_the_horizon(last):
    """Every follow-up of the group ends at or before the horizon: scikit-survival's
    brier_score refuses the group, and brier_t is undefined and says why."""
    time, event, risk, _ = cohort(seed=5, censoring=0.6)
    horizon = 20.0
    ctx = S.context_for(table(time, event, risk), horizon, threshold=0.5)
    early = time <= horizon
    t, e, r = time[early], event[early].copy(), risk[early]
    e[np.argmax(t)] = last == "event"
    train = Surv.from_arrays(event, time)
    with pytest.raises(ValueError, match="within follow-up time"):
        brier_score(train, Surv.from_arrays(e, t), 1.0 - r, horizon)
    value, why = S.brier_t(table(t, e, r), ctx)
    assert np.isnan(value)
    assert why == S.BRIER_NO_FOLLOW_UP
    assert "followed beyond the horizon" in why


def test_threshold_figures_that_would_give_a_small_count_are_withheld():
    """No censoring before the horizon: sensitivity × events gives the flagged cases back,
    so a group with 1 to m − 1 missed cases (or flagged controls) has the figure withheld,
    with its reason; a group whose counts are all 0 or at least m keeps it."""
    import pandas as pd

    from auditor.tasks import task_def
    from auditor.tasks.base import reduce_rows
    from auditor.tasks.measure import measure_task, published_groups

    rng = np.random.default_rng(0)
    n = 400
    group = np.where(np.arange(n) < 200, "a", "b")
    time = np.where(rng.random(n) < 0.4, rng.uniform(1, 10, n), rng.uniform(25, 40, n))
    event = time < 20  # every patient's status at the horizon 20 is known
    risk = np.where(event, 0.9, 0.1)
    missed = np.flatnonzero(event & (group == "a"))[:3]  # 3 missed cases in group a
    risk[missed] = 0.1
    missed_b = np.flatnonzero(event & (group == "b"))[:15]  # 15 in group b
    risk[missed_b] = 0.1
    stats = reduce_rows(
        pd.DataFrame({"g": pd.Categorical(group)}),
        {"time": time, "event": event.astype(float), "risk": risk},
    )
    measurement = measure_task(
        task_def("survival"),
        stats,
        settings={"horizon": 20.0},
        views=[("g",)],
        thresholds=[0.5],
        bootstrap=0,
        min_cell_size=11,
    )
    shown = {g.group: g for g in published_groups(measurement)}
    assert shown["a"].metrics["sensitivity_t"].estimate is None
    assert "fewer than 11 patients" in shown["a"].metrics["sensitivity_t"].reason
    assert shown["b"].metrics["sensitivity_t"].estimate == pytest.approx(
        1 - 15 / int((event & (group == "b")).sum()), abs=TOL
    )
