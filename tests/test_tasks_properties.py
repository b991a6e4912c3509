"""Properties of the task statistic: merging partitions equals the union of their rows,
row order changes nothing, and metrics stay in their bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.tasks import regression as R
from auditor.tasks import survival as S
from auditor.tasks.base import RowTable, reduce_rows

rows = st.lists(
    st.tuples(
        st.integers(1, 8),  # time (ties)
        st.booleans(),  # event
        st.sampled_from([0.1, 0.3, 0.5, 0.9]),  # risk (ties)
        st.sampled_from(["a", "b", "c"]),  # group
    ),
    min_size=2,
    max_size=60,
)


def frame(data):
    time, event, risk, group = (np.array(c) for c in zip(*data, strict=True))
    return time.astype(float), event, risk, group


def stats(time, event, risk, group):
    sensitive = pd.DataFrame({"g": pd.Categorical(group)})
    return reduce_rows(sensitive, {"time": time, "event": event.astype(float), "risk": risk})


def same(a: RowTable, b: RowTable) -> bool:
    return all(np.array_equal(a.columns[c], b.columns[c]) for c in a.columns) and np.array_equal(
        a.count, b.count
    )


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(0, 60))
def test_merge_of_partitions_equals_the_union(data, cut):
    time, event, risk, group = frame(data)
    cut = min(cut, len(time))
    whole = stats(time, event, risk, group)
    left = stats(time[:cut], event[:cut], risk[:cut], group[:cut]) if cut else None
    right = stats(time[cut:], event[cut:], risk[cut:], group[cut:]) if cut < len(time) else None
    merged = left.merge(right) if left and right else (left or right)
    assert merged is not None
    for key, table in whole.groups(("g",)).items():
        assert same(merged.groups(("g",))[key], table)
    assert same(merged.groups(())[()], whole.groups(())[()])


@settings(max_examples=60, deadline=None)
@given(rows, st.randoms(use_true_random=False))
def test_row_order_changes_no_metric(data, rnd):
    time, event, risk, _ = frame(data)
    order = list(range(len(time)))
    rnd.shuffle(order)
    a = RowTable.from_arrays({"time": time, "event": event, "risk": risk})
    b = RowTable.from_arrays({"time": time[order], "event": event[order], "risk": risk[order]})
    assert same(a, b)
    ctx = S.context_for(a, 4.0)
    for metric in S.METRICS.values():
        x, y = metric.fn(a, ctx)[0], metric.fn(b, ctx)[0]
        assert (np.isnan(x) and np.isnan(y)) or x == y


@settings(max_examples=60, deadline=None)
@given(rows)
def test_survival_metrics_stay_in_their_bounds(data):
    time, event, risk, _ = frame(data)
    t = RowTable.from_arrays({"time": time, "event": event, "risk": risk})
    ctx = S.context_for(t, 4.0)
    for mid in (
        "c_index",
        "uno_c",
        "auc_t",
        "brier_t",
        "observed_risk_t",
        "predicted_risk_t",
        "sensitivity_t",
        "specificity_t",
        "ppv_t",
    ):
        value = S.METRICS[mid].fn(t, ctx)[0]
        assert np.isnan(value) or -1e-12 <= value <= 1 + 1e-12, mid


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=2, max_size=40),
    st.integers(0, 2**31 - 1),
)
def test_bootstrap_replicate_keeps_the_rows_and_the_size(data, seed):
    y, p = (np.array(c) for c in zip(*data, strict=True))
    t = RowTable.from_arrays({"label": y, "prediction": p})
    rep = t.resample(np.random.default_rng(seed))
    assert rep.n == t.n
    assert R.mae(rep, None)[0] >= 0
