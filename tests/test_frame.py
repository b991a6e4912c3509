"""Notebook API: subgroup_metrics equals fairlearn's MetricFrame on the same data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn import metrics as skm

from auditor.errors import AuditInputError, DataError
from auditor.measure.frame import (
    COLUMN_MISSING,
    LABEL_MISSING_VALUES,
    LABEL_NOT_BINARY,
    METHOD_INVALID,
    NO_SENSITIVE,
    POSITIVE_ABSENT,
    SCORES_LENGTH,
    subgroup_metrics,
)


def data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "race": rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2]),
            "sex": rng.choice(["F", "M"], n),
            "risk": np.round(rng.random(n), 2),
        }
    )
    df["outcome"] = np.where(rng.random(n) < df.risk, "yes", "no")
    return df


def _label_metrics(y_true, y_pred):
    return {
        "selection_rate": selection_rate,
        "sensitivity": true_positive_rate,
        "fpr": false_positive_rate,
        "ppv": lambda a, b: skm.precision_score(a, b, zero_division=np.nan),
        "f1": skm.f1_score,
    }


@pytest.mark.parametrize("sensitive", [["race"], ["race", "sex"]])
def test_by_group_overall_difference_ratio_equal_metricframe(sensitive):
    df = data()
    y = (df.outcome == "yes").astype(int)
    frame = subgroup_metrics(
        df, label="outcome", scores="risk", sensitive=sensitive, threshold=0.4, positive="yes"
    )
    pred = (df.risk >= 0.4).astype(int)
    sf = df[sensitive] if len(sensitive) > 1 else df[sensitive[0]]
    mf = MetricFrame(metrics=_label_metrics(y, pred), y_true=y, y_pred=pred, sensitive_features=sf)
    cols = list(mf.by_group.columns)
    pd.testing.assert_frame_equal(
        frame.by_group[cols], mf.by_group.astype(float), check_exact=False, atol=1e-12, rtol=0
    )
    pd.testing.assert_series_equal(
        frame.overall[cols], mf.overall.astype(float), check_names=False, atol=1e-12, rtol=0
    )
    for method in ("between_groups", "to_overall"):
        np.testing.assert_allclose(
            frame.difference(method)[cols], mf.difference(method=method), atol=1e-12
        )
        np.testing.assert_allclose(frame.ratio(method)[cols], mf.ratio(method=method), atol=1e-12)
    np.testing.assert_allclose(frame.group_min()[cols], mf.group_min(), atol=1e-12)
    np.testing.assert_allclose(frame.group_max()[cols], mf.group_max(), atol=1e-12)
    # score-based metrics against sklearn through MetricFrame as well
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc = MetricFrame(
            metrics=skm.roc_auc_score, y_true=y, y_pred=df.risk, sensitive_features=sf
        )
    np.testing.assert_allclose(frame.by_group["auroc"], auc.by_group, atol=1e-12)
    assert frame.by_group.index.names == sensitive


def test_index_shape_and_suppressed_rows():
    df = data(2000, 1)
    df.loc[df.index[:7], "race"] = "Tiny"
    frame = subgroup_metrics(
        df,
        label="outcome",
        scores=df.risk.to_numpy(),
        sensitive=["race"],
        positive="yes",
        metrics=["n", "sensitivity", "auroc"],
    )
    assert isinstance(frame.by_group.index, pd.Index)
    assert frame.by_group.index.name == "race"
    assert list(frame.by_group.columns) == ["n", "sensitivity", "auroc"]
    assert frame.by_group.loc["Tiny"].isna().all()
    assert frame.reasons.loc["Tiny", "auroc"] == "fewer than 11 patients"
    assert frame.suppressed.loc["Tiny"]
    # the next smallest group is suppressed too, so the tiny one cannot be derived
    assert frame.suppressed.sum() == 2
    assert "SubgroupMetricFrame" in repr(frame)


def test_intervals_in_the_frame():
    df = data(2000, 2)
    frame = subgroup_metrics(
        df, label="outcome", scores="risk", sensitive=["sex"], positive="yes", bootstrap=100, seed=3
    )
    for col in ("sensitivity", "auroc", "brier"):
        assert (frame.ci_low[col] <= frame.by_group[col]).all()
        assert (frame.by_group[col] <= frame.ci_high[col]).all()


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (
            None,
            {"label": "died"},
            COLUMN_MISSING.format(what="label", column="died", columns="race, sex, risk, outcome"),
        ),
        (
            None,
            {"sensitive": ["age"]},
            COLUMN_MISSING.format(
                what="sensitive", column="age", columns="race, sex, risk, outcome"
            ),
        ),
        (None, {"sensitive": []}, NO_SENSITIVE),
        (
            None,
            {"scores": "prob"},
            COLUMN_MISSING.format(what="scores", column="prob", columns="race, sex, risk, outcome"),
        ),
        (None, {"scores": np.zeros(3)}, SCORES_LENGTH.format(expected=50, got=3)),
        ("nan", {}, LABEL_MISSING_VALUES.format(column="outcome", count=1, row=4)),
        (
            "three",
            {},
            LABEL_NOT_BINARY.format(
                column="outcome", positive="yes", count=3, values="'no', 'yes', 'maybe'"
            ),
        ),
        (None, {"positive": "Yes"}, POSITIVE_ABSENT.format(positive="Yes", column="outcome")),
    ],
)
def test_input_errors(change, kwargs, message):
    df = data(50, 3)
    df.loc[0, "outcome"] = "no"
    df.loc[1, "outcome"] = "yes"
    if change == "nan":
        df.loc[4, "outcome"] = None
    if change == "three":
        df.loc[5, "outcome"] = "maybe"
    args = {
        "label": "outcome",
        "scores": "risk",
        "sensitive": ["race"],
        "positive": "yes",
        **kwargs,
    }
    with pytest.raises(DataError) as err:
        subgroup_metrics(df, **args)
    assert str(err.value) == message


def test_unknown_method():
    frame = subgroup_metrics(
        data(100), label="outcome", scores="risk", sensitive=["sex"], positive="yes"
    )
    with pytest.raises(AuditInputError) as err:
        frame.difference("pairwise")  # type: ignore[arg-type]
    assert str(err.value) == METHOD_INVALID.format(method="pairwise")


def test_difference_and_ratio_are_nan_with_fewer_than_two_groups():
    """Issue 12: one group with a value is no comparison (was 0.0 and 1.0, 'parity')."""
    df = data(400, 2)
    df["site"] = ["big"] * 300 + ["mid"] * 90 + ["tiny"] * 10  # tiny and mid suppressed
    frame = subgroup_metrics(
        df,
        label="outcome",
        scores=df.risk.to_numpy(),
        sensitive=["site"],
        positive="yes",
        metrics=["sensitivity", "selection_rate"],
    )
    assert frame.by_group["sensitivity"].notna().sum() == 1
    for method in ("between_groups", "to_overall"):
        assert frame.difference(method=method).isna().all()
        assert frame.ratio(method=method).isna().all()


def test_regression_task_by_group_equals_sklearn_and_fairlearn():
    from fairlearn.metrics import mean_prediction
    from sklearn.metrics import mean_absolute_error, r2_score

    rng = np.random.default_rng(5)
    n = 600
    df = pd.DataFrame(
        {
            "los": np.round(rng.gamma(2.0, 3.0, n), 1),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    df["pred"] = np.round(df["los"] * 0.7 + rng.normal(2, 1.5, n), 2)
    frame = subgroup_metrics(df, label="los", scores="pred", sensitive=["sex"], task="regression")
    assert "mae" in frame.by_group.columns and "auroc" not in frame.by_group.columns
    for group, rows in df.groupby("sex"):
        assert frame.by_group.loc[group, "mae"] == pytest.approx(
            mean_absolute_error(rows["los"], rows["pred"]), abs=1e-9
        )
        assert frame.by_group.loc[group, "r2"] == pytest.approx(
            r2_score(rows["los"], rows["pred"]), abs=1e-9
        )
        assert frame.by_group.loc[group, "mean_prediction"] == pytest.approx(
            mean_prediction(rows["los"], rows["pred"]), abs=1e-9
        )
    assert frame.overall["mae"] == pytest.approx(
        mean_absolute_error(df["los"], df["pred"]), abs=1e-9
    )
    assert frame.difference()["mae"] == pytest.approx(
        frame.by_group["mae"].max() - frame.by_group["mae"].min()
    )


@pytest.mark.parametrize("task", ["survival", "multiclass"])
def test_tasks_with_several_columns_are_refused_with_advice(task):
    from auditor.errors import AuditInputError
    from auditor.measure.frame import TASK_NEEDS, TASK_NOT_HERE

    df = pd.DataFrame({"y": [0, 1] * 20, "s": [0.2, 0.8] * 20, "g": ["a", "b"] * 20})
    with pytest.raises(AuditInputError) as err:
        subgroup_metrics(df, label="y", scores="s", sensitive=["g"], task=task)
    assert str(err.value) == TASK_NOT_HERE.format(task=task, needs=TASK_NEEDS[task])
