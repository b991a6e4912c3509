"""The O(n log² n) concordance sums equal the quadratic ones (and scikit-survival).

Large tables take the sorted path (``SORTED_FROM``); here it is forced on small tables
with ``method="sorted"`` or by lowering ``SORTED_FROM``, so the tests stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

from auditor.discover.task_tests import jackknife_c_index
from auditor.tasks import survival as S
from auditor.tasks.base import RowTable

TOL = 1e-9
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Risks on both sides of the tie tolerance: 0.4 and 0.4 + 1e-8 sit at the boundary,
# 0.4 + 5e-9 and 0.4 - 3e-9 are tied with 0.4, 0.4 + 2e-8 is not.
NEAR = [0.4, 0.4 + 1e-8, 0.4 - 1e-8, 0.4 + 5e-9, 0.4 - 3e-9, 0.4 + 2e-8, 0.4 + 1.5e-8]
risk_st = st.one_of(st.sampled_from(NEAR), st.sampled_from([0.0, 0.1, 0.7, 1.0]), st.floats(0, 1))

rows_st = st.lists(
    st.tuples(
        st.integers(0, 6),  # time: many ties, censored and events at one time
        st.booleans(),  # event
        risk_st,
        st.integers(0, 4),  # count (0: a bootstrap replicate that drew none)
        st.sampled_from([0.0, 1.0, 0.5, 3.25]),  # IPCW-like weight
    ),
    min_size=0,
    max_size=50,
)


def build(data) -> tuple[RowTable, np.ndarray]:
    if not data:
        empty = np.zeros(0)
        return RowTable({"time": empty, "event": empty, "risk": empty}, empty), empty
    time, event, risk, count, weight = (np.array(c, dtype=float) for c in zip(*data, strict=True))
    return RowTable({"time": time, "event": event, "risk": risk}, count), weight


def assert_same(table: RowTable, weights: np.ndarray, per_row: bool) -> None:
    slow = S.concordance_parts(table, weights, per_row, method="blocks")
    fast = S.concordance_parts(table, weights, per_row, method="sorted")
    assert fast[0] == pytest.approx(slow[0], abs=TOL, rel=TOL)
    assert fast[1] == pytest.approx(slow[1], abs=TOL, rel=TOL)
    np.testing.assert_allclose(fast[2], slow[2], atol=TOL, rtol=TOL)
    np.testing.assert_allclose(fast[3], slow[3], atol=TOL, rtol=TOL)


@SETTINGS
@given(rows_st, st.booleans())
def test_sorted_sums_equal_the_quadratic_sums(data, per_row):
    table, weights = build(data)
    assert_same(table, weights, per_row)


@SETTINGS
@given(rows_st)
def test_sorted_sums_with_unit_weights_equal_the_quadratic_sums(data):
    table, _ = build(data)
    assert_same(table, np.ones(table.count.size), per_row=True)


def ulp_steps(x: float, steps: int) -> float:
    for _ in range(abs(steps)):
        x = float(np.nextafter(x, 2.0 if steps > 0 else -2.0))
    return x


@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_risks_a_few_ulps_from_the_tolerance_are_tied_exactly_as_the_quadratic_path(per_row, seed):
    # r and r ± TIED_TOL moved by up to 3 ulps: where ``|r_j - r_i| <= tol`` in floating
    # point and ``r_j <= r_i + tol`` disagree (common), the sorted path must follow the
    # former, as the quadratic path and scikit-survival do.
    rng = np.random.default_rng(seed)
    risk = []
    for r in rng.random(4):
        risk.append(float(r))
        for k in range(-3, 4):
            risk += [ulp_steps(r - S.TIED_TOL, k), ulp_steps(r + S.TIED_TOL, k)]
    risk_a = np.array(risk)
    n = risk_a.size
    # each risk once as an early event and once as a later censored follow-up
    time = np.concatenate([np.full(n, 1.0), np.full(n, 2.0)])
    event = np.concatenate([np.ones(n), np.zeros(n)])
    table = RowTable({"time": time, "event": event, "risk": np.tile(risk_a, 2)}, np.ones(2 * n))
    assert_same(table, np.ones(2 * n), per_row)
    diff = risk_a[:, None] - risk_a[None, :]
    shifted = risk_a[:, None] <= risk_a[None, :] + S.TIED_TOL
    assert np.any((diff <= S.TIED_TOL) != shifted)  # the data hold such a disagreement


@pytest.mark.parametrize("per_row", [False, True])
def test_all_censored_and_no_comparable_pair_give_zero_sums(per_row):
    all_censored = RowTable(
        {
            "time": np.array([1.0, 2.0, 3.0]),
            "event": np.zeros(3),
            "risk": np.array([0.1, 0.5, 0.2]),
        },
        np.array([2.0, 1.0, 3.0]),
    )
    # the only event is the longest follow-up: nobody is comparable to it
    no_pair = RowTable(
        {
            "time": np.array([1.0, 1.0, 4.0]),
            "event": np.array([0.0, 0.0, 1.0]),
            "risk": np.array([0.1, 0.5, 0.2]),
        },
        np.ones(3),
    )
    for table in (all_censored, no_pair):
        fast = S.concordance_parts(table, np.ones(3), per_row, method="sorted")
        assert fast[:2] == (0.0, 0.0)
        assert_same(table, np.ones(3), per_row)


def test_unknown_method_is_refused():
    table, weights = build([(1, True, 0.2, 1, 1.0)])
    with pytest.raises(ValueError, match="unknown concordance method"):
        S.concordance_parts(table, weights, method="fenwick")


def cohort(seed: int, n: int):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 60, n).astype(float)
    event = rng.random(n) > 0.4
    risk = np.round(rng.random(n), 3)
    time[np.argmax(time)] += 5  # the longest follow-up is censored: G > 0 at every event
    event[np.argmax(time)] = False
    return time, event, risk


@pytest.mark.parametrize("seed", [0, 1])
def test_sorted_path_equals_scikit_survival(monkeypatch, seed):
    monkeypatch.setattr(S, "SORTED_FROM", 0)
    time, event, risk = cohort(seed, 400)
    tab = RowTable.from_arrays({"time": time, "event": event, "risk": risk})
    ctx = S.context_for(tab, 30.0, threshold=0.5)
    expected = concordance_index_censored(event, time, risk)[0]
    assert S.c_index(tab, ctx)[0] == pytest.approx(expected, abs=TOL)
    surv = Surv.from_arrays(event, time)
    expected = concordance_index_ipcw(surv, surv, risk, tau=30.0)[0]
    assert S.uno_c(tab, ctx)[0] == pytest.approx(expected, abs=TOL)


def test_large_table_takes_the_sorted_path_and_equals_scikit_survival():
    time, event, risk = cohort(2, 3 * S.SORTED_FROM)
    tab = RowTable.from_arrays({"time": time, "event": event, "risk": risk})
    assert tab.count.size >= S.SORTED_FROM
    ctx = S.context_for(tab, 30.0, threshold=0.5)
    expected = concordance_index_censored(event, time, risk)[0]
    assert S.c_index(tab, ctx)[0] == pytest.approx(expected, abs=TOL)


def test_jackknife_is_the_same_on_both_paths(monkeypatch):
    time, event, risk = cohort(3, 150)
    tab = RowTable.from_arrays({"time": time, "event": event, "risk": risk})
    slow = jackknife_c_index(tab)
    monkeypatch.setattr(S, "SORTED_FROM", 0)
    fast = jackknife_c_index(tab)
    assert fast == pytest.approx(slow, abs=TOL, rel=1e-9)
    assert np.isfinite(slow[1]) and slow[1] > 0
