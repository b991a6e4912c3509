"""Regression and multiclass metrics equal scikit-learn and fairlearn to 1e-9 on the
same rows: ties, classes missing in a group, constant predictions."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import mean_prediction
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from auditor.tasks import multiclass as MC
from auditor.tasks import regression as R
from auditor.tasks.base import RowTable

TOL = 1e-9


def regression_rows(seed: int, constant: bool = False):
    rng = np.random.default_rng(seed)
    y = np.round(rng.gamma(2.0, 3.0, 300), 1)  # ties in the outcome
    p = np.full(300, 5.0) if constant else np.round(y * 0.8 + rng.normal(0, 2, 300), 0)
    return y, p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_equal_sklearn_and_fairlearn(seed):
    y, p = regression_rows(seed)
    t = RowTable.from_arrays({"label": y, "prediction": p})
    assert len(t.count) < len(y)  # ties were merged into counts
    assert R.mae(t, None)[0] == pytest.approx(mean_absolute_error(y, p), abs=TOL)
    assert R.rmse(t, None)[0] == pytest.approx(root_mean_squared_error(y, p), abs=TOL)
    assert R.r2(t, None)[0] == pytest.approx(r2_score(y, p), abs=TOL)
    assert R.mean_error(t, None)[0] == pytest.approx(np.mean(p - y), abs=TOL)
    assert R.mean_prediction(t, None)[0] == pytest.approx(mean_prediction(y, p), abs=TOL)
    assert R.mean_label(t, None)[0] == pytest.approx(np.mean(y), abs=TOL)
    assert R.calibration_slope(t, None)[0] == pytest.approx(np.polyfit(p, y, 1)[0], abs=TOL)


def test_constant_predictions_have_no_slope_and_constant_labels_no_r2():
    y, p = regression_rows(3, constant=True)
    t = RowTable.from_arrays({"label": y, "prediction": p})
    assert R.calibration_slope(t, None)[1] == R.CONSTANT_PREDICTION
    assert R.mae(t, None)[0] == pytest.approx(mean_absolute_error(y, p), abs=TOL)
    same = RowTable.from_arrays({"label": np.ones(20), "prediction": np.arange(20.0)})
    assert R.r2(same, None)[1] == R.CONSTANT_LABEL


def multiclass_rows(seed: int, k: int = 4, n: int = 400, missing: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    if missing is not None:
        y[y == missing] = (missing + 1) % k
    logits = rng.normal(0, 1, (n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, 2)  # ties in the scores
    proba = proba / proba.sum(axis=1, keepdims=True)
    return y, proba


def mc_table(y, proba):
    cols = {"label": y.astype(float)}
    cols.update({f"p_{i}": proba[:, i] for i in range(proba.shape[1])})
    return RowTable.from_arrays(cols)


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_metrics_equal_sklearn(seed):
    y, proba = multiclass_rows(seed)
    ctx = MC.MulticlassContext(("a", "b", "c", "d"), ordered=True)
    t = mc_table(y, proba)
    pred = np.argmax(proba, axis=1)
    assert MC.accuracy(t, ctx)[0] == pytest.approx(accuracy_score(y, pred), abs=TOL)
    assert MC.balanced_accuracy(t, ctx)[0] == pytest.approx(
        balanced_accuracy_score(y, pred), abs=TOL
    )
    assert MC.macro_f1(t, ctx)[0] == pytest.approx(f1_score(y, pred, average="macro"), abs=TOL)
    assert MC.auroc_ovr_macro(t, ctx)[0] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=TOL
    )
    assert MC.under_triage_rate(t, ctx)[0] == pytest.approx(np.mean(pred > y), abs=TOL)
    assert MC.over_triage_rate(t, ctx)[0] == pytest.approx(np.mean(pred < y), abs=TOL)
    sens = recall_score(y, pred, average=None, labels=range(4))
    ppv = precision_score(y, pred, average=None, labels=range(4), zero_division=np.nan)
    metrics = MC.class_metrics(ctx)
    for i, cls in enumerate(ctx.classes):
        assert metrics[f"ovr_sensitivity_{cls}"].fn(t, ctx)[0] == pytest.approx(sens[i], abs=TOL)
        got = metrics[f"ovr_ppv_{cls}"].fn(t, ctx)[0]
        assert (np.isnan(got) and np.isnan(ppv[i])) or got == pytest.approx(ppv[i], abs=TOL)


def test_class_missing_in_a_group():
    """sklearn's macro averages run over the classes present; so do ours (AUROC: mean of
    the one-vs-rest AUROCs of the classes present, where sklearn would fail)."""
    y, proba = multiclass_rows(4, missing=2)
    ctx = MC.MulticlassContext(("a", "b", "c", "d"), ordered=False)
    t = mc_table(y, proba)
    pred = np.argmax(proba, axis=1)
    assert MC.balanced_accuracy(t, ctx)[0] == pytest.approx(
        balanced_accuracy_score(y, pred), abs=TOL
    )
    assert MC.macro_f1(t, ctx)[0] == pytest.approx(f1_score(y, pred, average="macro"), abs=TOL)
    present = [c for c in range(4) if (y == c).any()]
    expected = np.mean([roc_auc_score(y == c, proba[:, c]) for c in present])
    assert MC.auroc_ovr_macro(t, ctx)[0] == pytest.approx(expected, abs=TOL)
    assert MC.class_metrics(ctx)["ovr_sensitivity_c"].fn(t, ctx)[1] == MC.NO_CLASS.format(cls="c")
    assert MC.under_triage_rate(t, ctx)[1] == MC.NOT_ORDERED


def test_constant_predictions_multiclass():
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    proba = np.tile([0.2, 0.5, 0.3], (7, 1))
    ctx = MC.MulticlassContext(("1", "2", "3"), ordered=True)
    t = mc_table(y, proba)
    assert MC.accuracy(t, ctx)[0] == pytest.approx(accuracy_score(y, np.ones(7)), abs=TOL)
    assert MC.auroc_ovr_macro(t, ctx)[0] == pytest.approx(0.5, abs=TOL)
    assert MC.under_triage_rate(t, ctx)[0] == pytest.approx(2 / 7, abs=TOL)
