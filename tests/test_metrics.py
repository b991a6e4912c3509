"""Oracle tests: every registry metric equals its reference implementation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from fairlearn.metrics import (
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from auditor.errors import AuditInputError
from auditor.measure.metrics import (
    METRICS,
    UNKNOWN_METRIC,
    Levels,
    compute,
    metric_value,
)
from auditor.reduce.stats import LOG_EPS, ScoreTable, bin_stats, reduce_frame

PUBLIC_ORDER = [
    "n",
    "n_positive",
    "n_negative",
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
    "log_loss",
    "calibration_intercept",
    "calibration_slope",
    "oe_ratio",
    "ece",
    "net_benefit",
]


def make_data(n: int, prevalence: float, seed: int, decimals: int = 2):
    """Scores rounded to ``decimals`` (many ties) with a given outcome rate."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    raw = np.clip(0.35 * y + rng.beta(2, 4, n) * 0.65 + rng.normal(0, 0.05, n), 0, 1)
    return np.round(raw, decimals), y


def glm_fit(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    p = np.clip(s, LOG_EPS, 1 - LOG_EPS)
    x = np.log(p) - np.log1p(-p)
    slope = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit(tol=1e-13)
    intercept = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=x).fit(
        tol=1e-13
    )
    return float(intercept.params[0]), float(slope.params[1])


def references(y: np.ndarray, s: np.ndarray, t: float) -> dict[str, float]:
    pred = (s >= t).astype(int)
    n = y.size
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    out = {
        "n": n,
        "n_positive": int(y.sum()),
        "n_negative": int(n - y.sum()),
        "prevalence": float(np.mean(y)),
        "selection_rate": selection_rate(y, pred),
        "sensitivity": true_positive_rate(y, pred),
        "specificity": true_negative_rate(y, pred),
        "fpr": false_positive_rate(y, pred),
        "fnr": false_negative_rate(y, pred),
        "ppv": skm.precision_score(y, pred),
        "npv": skm.precision_score(y, pred, pos_label=0),
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "auroc": skm.roc_auc_score(y, s),
        "auprc": skm.average_precision_score(y, s),
        "brier": skm.brier_score_loss(y, s),
        "log_loss": skm.log_loss(y, s),
        "oe_ratio": y.sum() / s.sum(),
        "net_benefit": tp / n - fp / n * t / (1 - t),
    }
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
    counts = np.bincount(bins, minlength=10)
    counts = counts[counts > 0]
    out["ece"] = float(np.sum(counts / n * np.abs(prob_true - prob_pred)))
    out["calibration_intercept"], out["calibration_slope"] = glm_fit(y, s)
    return out


CASES = [
    (3000, 0.30, 0, 0.5),
    (2000, 0.02, 1, 0.2),  # rare outcome
    (2000, 0.97, 2, 0.7),  # very common outcome
    (800, 0.5, 3, 0.35),
    (5000, 0.15, 4, 0.0),  # everyone predicted positive
]


@pytest.mark.parametrize(("n", "prevalence", "seed", "threshold"), CASES)
def test_every_metric_equals_its_reference(n, prevalence, seed, threshold):
    s, y = make_data(n, prevalence, seed)
    table = ScoreTable.from_arrays(s, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = references(y, s, threshold)
    assert list(ref) != []
    for metric_id in METRICS:
        got = metric_value(metric_id, table, threshold)
        tol = 1e-6 if metric_id.startswith("calibration_") else 1e-9
        if metric_id == "ppv" and not (s >= threshold).any():
            assert got.value is None  # sklearn: 0 with a warning
            continue
        if metric_id == "npv" and (s >= threshold).all():
            assert got.reason == (
                "npv is undefined: no patient in the group is predicted negative at threshold 0.0"
            )
            continue
        assert got.value is not None, (metric_id, got.reason)
        assert got.value == pytest.approx(ref[metric_id], abs=tol, rel=0), metric_id


def test_threshold_equal_to_a_score_predicts_positive():
    s = np.array([0.2, 0.5, 0.5, 0.8])
    y = np.array([0, 1, 0, 1])
    t = ScoreTable.from_arrays(s, y)
    assert metric_value("selection_rate", t, 0.5).value == 0.75
    assert metric_value("sensitivity", t, 0.5).value == 1.0
    assert metric_value("fpr", t, 0.5).value == 0.5
    assert metric_value("selection_rate", t, np.nextafter(0.5, 1)).value == 0.25


def test_threshold_at_every_distinct_score_matches_sklearn():
    s, y = make_data(600, 0.4, 7)
    table = ScoreTable.from_arrays(s, y)
    for t in np.unique(s)[::7]:
        pred = (s >= t).astype(int)
        assert metric_value("sensitivity", table, t).value == pytest.approx(
            skm.recall_score(y, pred), abs=1e-12
        )
        assert metric_value("f1", table, t).value == pytest.approx(
            skm.f1_score(y, pred, zero_division=0), abs=1e-12
        )


def test_single_class_group_says_why_metrics_are_undefined():
    s = np.array([0.1, 0.4, 0.4, 0.9])
    t = ScoreTable.from_arrays(s, np.ones(4, dtype=int))
    assert metric_value("auroc", t).reason == (
        "auroc is undefined: the group has no negative patients"
    )
    assert metric_value("specificity", t).reason == (
        "specificity is undefined: the group has no negative patients"
    )
    assert metric_value("calibration_slope", t).reason == (
        "calibration_slope is undefined: the group has no negative patients"
    )
    assert metric_value("calibration_intercept", t).value is None
    assert metric_value("balanced_accuracy", t).value is None
    assert metric_value("sensitivity", t, 0.5).value == 0.25
    # log loss and Brier are defined for one class (sklearn needs labels=[0, 1]).
    assert metric_value("log_loss", t).value == pytest.approx(
        skm.log_loss(np.ones(4), s, labels=[0, 1]), abs=1e-12
    )
    t0 = ScoreTable.from_arrays(s, np.zeros(4, dtype=int))
    assert metric_value("auprc", t0).reason == (
        "auprc is undefined: the group has no positive patients"
    )
    assert metric_value("sensitivity", t0).reason == (
        "sensitivity is undefined: the group has no positive patients"
    )
    assert metric_value("oe_ratio", t0).value == 0.0


def test_threshold_dependent_reasons_name_the_threshold():
    t = ScoreTable.from_arrays([0.1, 0.2, 0.3], [0, 1, 0])
    assert metric_value("ppv", t, 0.5).reason == (
        "ppv is undefined: no patient in the group is predicted positive at threshold 0.5"
    )
    assert metric_value("npv", t, 0.05).reason == (
        "npv is undefined: no patient in the group is predicted negative at threshold 0.05"
    )
    z = ScoreTable.from_arrays([0.1, 0.2], [0, 0])
    assert metric_value("f1", z, 0.5).reason == (
        "f1 is undefined: the group has no positive patients and none is predicted "
        "positive at threshold 0.5"
    )
    assert metric_value("net_benefit", t, 1.0).reason == (
        "net_benefit is undefined: net benefit is undefined at threshold 1"
    )


def test_empty_group_is_undefined_not_zero():
    e = ScoreTable.empty()
    assert metric_value("n", e).value == 0.0
    assert metric_value("prevalence", e).reason == (
        "prevalence is undefined: the group has no patients"
    )
    assert metric_value("brier", e).value is None


def test_calibration_slope_needs_two_distinct_scores_and_no_separation():
    one = ScoreTable.from_arrays([0.3] * 6, [0, 1, 0, 1, 0, 0])
    assert metric_value("calibration_slope", one).reason == (
        "calibration_slope is undefined: every patient in the group has the same score, "
        "so no slope can be fitted"
    )
    # the intercept with a fixed offset is still fine: logit(2/6) - logit(0.3)
    expected = np.log(2 / 4) - np.log(0.3 / 0.7)
    assert metric_value("calibration_intercept", one).value == pytest.approx(expected, abs=1e-9)
    separated = ScoreTable.from_arrays([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [0, 0, 0, 1, 1, 1])
    assert metric_value("calibration_slope", separated).reason == (
        "calibration_slope is undefined: the scores separate the outcomes, so the logistic "
        "recalibration has no finite slope"
    )


def test_extreme_probabilities_are_clipped_like_sklearn():
    s = np.array([0.0, 1.0, 1e-300, 0.5, 1.0, 0.0])
    y = np.array([1, 0, 0, 1, 1, 0])
    t = ScoreTable.from_arrays(s, y)
    assert metric_value("log_loss", t).value == pytest.approx(skm.log_loss(y, s), rel=1e-12)
    a, b = glm_fit(y, s)
    assert metric_value("calibration_slope", t).value == pytest.approx(b, abs=1e-6)
    assert metric_value("calibration_intercept", t).value == pytest.approx(a, abs=1e-6)


def test_registry_is_complete_and_in_public_order():
    assert list(METRICS) == PUBLIC_ORDER
    for m in METRICS.values():
        assert m.direction in {"higher", "lower", "target_1", "target_0", "none"}
        assert m.reference and m.meaning and m.name
        assert m.proportion == (m.fraction is not None)
    assert METRICS["calibration_slope"].direction == "target_1"
    assert METRICS["calibration_intercept"].direction == "target_0"
    assert METRICS["oe_ratio"].direction == "target_1"
    assert METRICS["auroc"].reference == "sklearn.metrics.roc_auc_score"
    assert not METRICS["selection_rate"].label_dependent
    assert not METRICS["n"].label_dependent
    assert METRICS["n_positive"].label_dependent
    threshold_ids = {m.id for m in METRICS.values() if m.needs_threshold}
    assert threshold_ids == {
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
        "net_benefit",
    }


def test_unknown_metric_message():
    t = ScoreTable.from_arrays([0.2], [1])
    with pytest.raises(AuditInputError) as err:
        metric_value("sensitivty", t)
    assert str(err.value) == UNKNOWN_METRIC.format(
        metric="sensitivty", known=", ".join(PUBLIC_ORDER)
    )


def test_stacked_counts_give_the_same_values_as_one_table_at_a_time():
    """The bootstrap's (replicates, bins) arrays go through the same functions."""
    rng = np.random.default_rng(5)
    s, y = make_data(3000, 0.3, 5, decimals=4)
    import pandas as pd

    stats = reduce_frame(pd.DataFrame({"a": ["x"] * s.size}), y, s)
    binned = bin_stats(stats, bins=200, thresholds=[0.4])
    table = binned.groups(())[()]
    draws = rng.multinomial(table.n, np.concatenate([table.pos, table.neg]) / table.n, size=5)
    k = table.pos.size
    stacked = Levels.binned(table, binned.edges, draws[:, :k], draws[:, k:])
    for m in METRICS.values():
        together = compute(m, stacked, 0.4).value
        for r in range(5):
            alone = compute(m, Levels.binned(table, binned.edges, draws[r, :k], draws[r, k:]), 0.4)
            tol = 1e-7 if m.id.startswith("calibration_") else 1e-12
            assert together[r] == pytest.approx(float(alone.value), abs=tol, nan_ok=True), m.id


def test_binned_threshold_metrics_are_exact():
    """Thresholds are bin edges, so threshold metrics of the binned table are exact."""
    import pandas as pd

    s, y = make_data(4000, 0.25, 9, decimals=6)
    stats = reduce_frame(pd.DataFrame({"a": ["x"] * s.size}), y, s)
    binned = bin_stats(stats, bins=50, thresholds=[0.3333, 0.61])
    lv = Levels.binned(binned.groups(())[()], binned.edges)
    exact = stats.table()
    for t in (0.3333, 0.61):
        for m in METRICS.values():
            if m.needs_threshold:
                assert float(compute(m, lv, t).value) == pytest.approx(
                    metric_value(m.id, exact, t).value, abs=1e-12
                ), m.id
    # calibration bins are edges too, so ECE and the loss sums are exact as well
    for mid in ("ece", "brier", "log_loss", "oe_ratio", "prevalence"):
        assert float(compute(METRICS[mid], lv, 0.5).value) == pytest.approx(
            metric_value(mid, exact).value, abs=1e-12
        ), mid
    # ranking metrics differ only by the ties a bin creates
    assert float(compute(METRICS["auroc"], lv, 0.5).value) == pytest.approx(
        metric_value("auroc", exact).value, abs=0.02
    )
