"""Wilson intervals, percentile intervals and the count-table bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from auditor.measure.bootstrap import group_rng, resample_group, resample_view
from auditor.measure.intervals import (
    NO_INTERVAL_BOOTSTRAP_OFF,
    NO_INTERVAL_UNDEFINED,
    percentile_interval,
    wilson_interval,
)
from auditor.measure.metrics import METRICS
from auditor.reduce.stats import bin_stats, reduce_frame


@pytest.mark.parametrize("n", [1, 2, 11, 57, 1000, 123457])
def test_wilson_equals_statsmodels(n):
    ks = np.unique(np.linspace(0, n, 9).astype(int))
    lo, hi = wilson_interval(ks, np.full(ks.size, n))
    ref_lo, ref_hi = proportion_confint(ks, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12, rtol=0)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12, rtol=0)
    assert np.all((lo <= ks / n) & (ks / n <= hi))


def test_wilson_without_trials_is_nan():
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


def test_percentile_interval_rules():
    reps = np.linspace(0.0, 1.0, 1001)
    iv = percentile_interval(reps, 0.5)
    assert (iv.low, iv.high) == pytest.approx((0.025, 0.975))
    # widened to contain the estimate from the exact table
    assert percentile_interval(reps, 0.999).high == 0.999
    assert percentile_interval(np.array([]), 0.5).reason == NO_INTERVAL_BOOTSTRAP_OFF
    bad = reps.copy()
    bad[:60] = np.nan
    iv = percentile_interval(bad, 0.5)
    assert iv.low is None
    assert iv.reason == NO_INTERVAL_UNDEFINED.format(bad=60, total=1001)
    few = reps.copy()
    few[:10] = np.nan  # under 5%: dropped
    assert percentile_interval(few, 0.5).low == pytest.approx(np.quantile(reps[10:], 0.025))


def _group(n=4000, seed=0, decimals=3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), decimals)
    stats = reduce_frame(pd.DataFrame({"g": ["a"] * n}), y, s)
    return stats, y, s


def test_bootstrap_is_deterministic_by_seed():
    stats, _, _ = _group()
    binned = bin_stats(stats, bins=300, thresholds=[0.5])
    table = binned.groups(())[()]
    ms = [METRICS["auroc"], METRICS["sensitivity"], METRICS["calibration_slope"]]

    def run(seed):
        return resample_group(table, binned.edges, ms, [0.5], 200, group_rng(seed, (), ()))

    a, b, c = run(1), run(1), run(2)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])
    assert set(a) == {("auroc", 0.5), ("sensitivity", 0.5), ("calibration_slope", 0.5)}


def test_group_streams_do_not_depend_on_each_other():
    x = group_rng(0, ("race",), ("A",)).random(3)
    assert np.array_equal(x, group_rng(0, ("race",), ("A",)).random(3))
    assert not np.array_equal(x, group_rng(0, ("race",), ("B",)).random(3))
    assert not np.array_equal(x, group_rng(0, ("sex",), ("A",)).random(3))


def test_resample_view_threads_give_the_same_replicates():
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n)})
    s = np.round(rng.random(n), 3)
    y = (rng.random(n) < s).astype(int)
    binned = bin_stats(reduce_frame(frame, y, s), bins=200, thresholds=[0.5])
    tables = binned.groups(("g",))
    wanted = {k: [METRICS["auroc"]] for k in tables}
    one = resample_view(tables, binned.edges, wanted, [0.5], 100, seed=3, view=("g",), workers=1)
    two = resample_view(tables, binned.edges, wanted, [0.5], 100, seed=3, view=("g",), workers=2)
    for k in tables:
        np.testing.assert_array_equal(one[k][("auroc", 0.5)], two[k][("auroc", 0.5)])


def test_multinomial_bootstrap_matches_a_row_bootstrap():
    """Resampling count tables has the spread of resampling patients."""
    stats, y, s = _group(2000, 3, decimals=2)
    binned = bin_stats(stats, bins=2000, thresholds=[0.5])
    reps = resample_group(
        binned.groups(())[()],
        binned.edges,
        [METRICS["auroc"], METRICS["sensitivity"]],
        [0.5],
        400,
        group_rng(0, (), ()),
    )
    rng = np.random.default_rng(0)
    row_auc, row_sens = [], []
    for _ in range(400):
        i = rng.integers(0, y.size, y.size)
        row_auc.append(roc_auc_score(y[i], s[i]))
        row_sens.append(((s[i] >= 0.5) & (y[i] == 1)).sum() / y[i].sum())
    assert np.std(reps[("auroc", 0.5)]) == pytest.approx(np.std(row_auc), rel=0.2)
    assert np.std(reps[("sensitivity", 0.5)]) == pytest.approx(np.std(row_sens), rel=0.2)
    # scores with 2 decimals have fewer distinct values than bins: binned == exact
    assert np.mean(reps[("auroc", 0.5)]) == pytest.approx(roc_auc_score(y, s), abs=0.005)
