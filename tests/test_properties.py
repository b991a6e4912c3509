"""Property tests: merge equals union, order does not matter, bounds, intervals, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.measure.measurement import measure
from auditor.measure.metrics import METRICS, Levels, compute, metric_value
from auditor.reduce.stats import ScoreTable, reduce_frame

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scores_st = st.floats(0.0, 1.0, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def rows(draw, min_size=1, max_size=120):
    n = draw(st.integers(min_size, max_size))
    s = draw(st.lists(scores_st, min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    g = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    h = draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n))
    return np.array(s), np.array(y), pd.DataFrame({"g": g, "h": h})


@SETTINGS
@given(rows(), st.integers(0, 120))
def test_merge_equals_union(data, cut):
    s, y, frame = data
    cut = min(cut, s.size)
    a = ScoreTable.from_arrays(s[:cut], y[:cut])
    b = ScoreTable.from_arrays(s[cut:], y[cut:])
    assert ScoreTable.merge(a, b) == ScoreTable.from_arrays(s, y)
    if 0 < cut < s.size:
        sa = reduce_frame(frame.iloc[:cut], y[:cut], s[:cut])
        sb = reduce_frame(frame.iloc[cut:], y[cut:], s[cut:])
        whole = reduce_frame(frame, y, s)
        merged = sa.merge(sb)
        assert merged.table() == whole.table()
        assert merged.groups(("g",)) == whole.groups(("g",))
        assert merged.groups(("h", "g")) == whole.groups(("h", "g"))


@SETTINGS
@given(rows(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(data, rnd):
    s, y, frame = data
    perm = np.array(rnd.sample(range(s.size), s.size))
    a = reduce_frame(frame, y, s)
    b = reduce_frame(frame.iloc[perm].reset_index(drop=True), y[perm], s[perm])
    assert a.cells.keys() == b.cells.keys()
    for k in a.cells:
        assert a.cells[k] == b.cells[k]


BOUNDED = {
    "prevalence",
    "selection_rate",
    "sensitivity",
    "specificity",
    "fpr",
    "fnr",
    "ppv",
    "npv",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "auroc",
    "auprc",
    "brier",
    "ece",
}


@SETTINGS
@given(rows(), scores_st)
def test_metric_bounds_and_reasons(data, t):
    s, y, _ = data
    table = ScoreTable.from_arrays(s, y)
    for mid in METRICS:
        v = metric_value(mid, table, t)
        assert (v.value is None) != (v.reason is None)
        if v.value is None:
            assert v.reason.startswith(f"{mid} is undefined: ")
            continue
        assert np.isfinite(v.value)
        if mid in BOUNDED:
            assert -1e-12 <= v.value <= 1 + 1e-12, mid
        if mid in ("log_loss", "oe_ratio", "n", "n_positive", "n_negative"):
            assert v.value >= 0
        if mid == "net_benefit":
            assert v.value <= 1
    sens = metric_value("sensitivity", table, t).value
    fnr = metric_value("fnr", table, t).value
    if sens is not None:
        assert abs(sens + fnr - 1) < 1e-12


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=2, max_size=30),
    st.integers(1, 6),
    scores_st,
)
def test_stacked_evaluation_equals_row_by_row(counts, reps, t):
    """One definition per metric: (replicates, levels) arrays give each row's value."""
    k = len(counts)
    rng = np.random.default_rng(k * 7 + reps)
    scores = np.sort(rng.choice(np.linspace(0, 1, 101), size=k, replace=False))
    base = np.array(counts, dtype=np.int64)
    pos = rng.binomial(base[:, 0], 0.8, size=(reps, k))
    neg = rng.binomial(base[:, 1], 0.8, size=(reps, k))
    template = Levels.exact(ScoreTable(scores, base[:, 0] + 1, base[:, 1] + 1))
    stacked = Levels(
        template.key, pos, neg, template.pos_terms, template.neg_terms, template.ece_bin
    )
    for m in METRICS.values():
        together = compute(m, stacked, t).value
        for r in range(reps):
            one = Levels(
                template.key,
                pos[r],
                neg[r],
                template.pos_terms,
                template.neg_terms,
                template.ece_bin,
            )
            alone = float(compute(m, one, t).value)
            tol = 1e-6 if m.id.startswith("calibration_") else 1e-12
            if np.isnan(alone):
                assert np.isnan(together[r]), m.id
            else:
                assert abs(together[r] - alone) <= tol * (1 + abs(alone)), m.id


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(min_size=40, max_size=200), st.integers(0, 2**31 - 1))
def test_intervals_contain_estimates_and_depend_only_on_the_seed(data, seed):
    s, y, frame = data
    stats = reduce_frame(frame, y, s)
    kw = dict(views=[("g",)], thresholds=[0.5], bootstrap=25, bins=50, min_cell_size=1)
    a = measure(stats, seed=seed, **kw)
    b = measure(reduce_frame(frame, y, s), seed=seed, **kw)
    assert [g.model_dump() for g in a.groups] == [g.model_dump() for g in b.groups]
    assert [d.model_dump() for d in a.disparities] == [d.model_dump() for d in b.disparities]
    for g in [a.overall, *a.groups]:
        for est in g.metrics.values():
            if est.estimate is not None and est.ci_low is not None:
                assert est.ci_low <= est.estimate <= est.ci_high
    for d in a.disparities:
        if d.estimate is not None and d.ci_low is not None:
            assert d.ci_low <= d.estimate <= d.ci_high
