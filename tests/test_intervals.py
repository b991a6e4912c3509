"""Wilson intervals, percentile intervals and the count-table bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from auditor.measure.bootstrap import cell_rng, resample
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


def _one_group(stats, bins, metrics, replicates, seed, thresholds=(0.5,)):
    binned = bin_stats(stats, bins=bins, thresholds=list(thresholds))
    wanted = {(): {(): metrics}}
    return resample(binned, wanted, list(thresholds), replicates, seed=seed)[()][()]


def test_bootstrap_is_deterministic_by_seed():
    stats, _, _ = _group()
    ms = [METRICS["auroc"], METRICS["sensitivity"], METRICS["calibration_slope"]]
    a, b, c = (_one_group(stats, 300, ms, 200, seed) for seed in (1, 1, 2))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])
    assert set(a) == {("auroc", 0.5), ("sensitivity", 0.5), ("calibration_slope", 0.5)}
    assert all(v.shape == (200,) for v in a.values())


def test_cell_streams_do_not_depend_on_each_other():
    x = cell_rng(0, 0, ("A", "F")).random(3)
    assert np.array_equal(x, cell_rng(0, 0, ("A", "F")).random(3))
    assert not np.array_equal(x, cell_rng(0, 0, ("A", "M")).random(3))
    assert not np.array_equal(x, cell_rng(0, 1, ("A", "F")).random(3))
    assert not np.array_equal(x, cell_rng(0, 0, ("A", "F"), "patients").random(3))


def _cohort(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n), "h": rng.choice(["x", "y"], n)})
    s = np.round(rng.random(n), 3)
    y = (rng.random(n) < s).astype(int)
    return frame, y, s


def test_resample_threads_give_the_same_replicates():
    frame, y, s = _cohort()
    binned = bin_stats(reduce_frame(frame, y, s), bins=200, thresholds=[0.5])
    wanted = {("g",): {k: [METRICS["auroc"]] for k in binned.groups(("g",))}}
    one = resample(binned, wanted, [0.5], 300, seed=3, workers=1)
    two = resample(binned, wanted, [0.5], 300, seed=3, workers=2)
    for k in wanted[("g",)]:
        np.testing.assert_array_equal(
            one[("g",)][k][("auroc", 0.5)], two[("g",)][k][("auroc", 0.5)]
        )


def test_one_draw_serves_every_view_consistently():
    """A group's replicate table is the sum of its cells' replicate tables, and asking for
    more views does not change the draw."""
    frame, y, s = _cohort()
    binned = bin_stats(reduce_frame(frame, y, s), bins=200, thresholds=[0.5])
    count = [METRICS["n_positive"], METRICS["n_negative"], METRICS["auroc"]]
    views = [(), ("g",), ("h",), ("g", "h")]
    wanted = {v: {k: count for k in binned.groups(v)} for v in views}
    reps = resample(binned, wanted, [0.5], 150, seed=7)
    cells = reps[("g", "h")]
    for metric in ("n_positive", "n_negative"):
        for view in [(), ("g",), ("h",)]:
            for key, series in reps[view].items():
                members = [
                    c for c in cells if all(c[("g", "h").index(a)] == v for a, v in zip(view, key))
                ]
                summed = sum(cells[c][(metric, 0.5)] for c in members)
                np.testing.assert_array_equal(series[(metric, 0.5)], summed)
        # the replicates really vary (a stratified draw keeps n, not n_positive)
        assert np.std(reps[()][()][(metric, 0.5)]) > 0
    alone = resample(binned, {("g",): wanted[("g",)]}, [0.5], 150, seed=7)
    for key, series in alone[("g",)].items():
        np.testing.assert_array_equal(series[("auroc", 0.5)], reps[("g",)][key][("auroc", 0.5)])


def test_multinomial_bootstrap_matches_a_row_bootstrap():
    """Resampling count tables has the spread of resampling patients."""
    stats, y, s = _group(2000, 3, decimals=2)
    reps = _one_group(stats, 2000, [METRICS["auroc"], METRICS["sensitivity"]], 400, 0)
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
