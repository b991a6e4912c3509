"""The mitigation what-if: per-group thresholds, metrics from the registry, suppression kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator
from sklearn.metrics import recall_score

from auditor.errors import AuditInputError
from auditor.measure.metrics import metric_value
from auditor.measure.mitigation import (
    CONSTRAINTS,
    GRID,
    NOT_POSTPROCESSED,
    REPORTED_METRICS,
    THRESHOLD_RANGE,
    TOO_FEW_GROUPS,
    UNKNOWN_CONSTRAINT,
    Rule,
    what_if,
)
from auditor.reduce.stats import reduce_frame

MIN_CELL = 11


def _cohort(seed: int = 3, n: int = 3000) -> pd.DataFrame:
    """Four sizeable groups with different base rates and score shifts, one tiny, one label-poor."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B", "C", "D"], size=n, p=[0.45, 0.3, 0.15, 0.1])
    y = (rng.random(n) < np.select([group == "B", group == "D"], [0.3, 0.22], 0.15)).astype(int)
    shift = np.select([group == "C", group == "D"], [-0.06, 0.04], 0.0)
    score = np.clip(rng.normal(0.3 + 0.22 * y + shift, 0.14), 0.0, 1.0).round(3)
    frame = pd.DataFrame({"race": group, "y": y, "score": score})
    tiny = pd.DataFrame({"race": ["E"] * 6, "y": [1, 0, 0, 1, 0, 0], "score": [0.9, 0.1] * 3})
    # Enough patients, but only 4 with the outcome: label metrics withheld, not post-processed.
    poor = pd.DataFrame(
        {"race": ["F"] * 40, "y": [1] * 4 + [0] * 36, "score": np.linspace(0.05, 0.95, 40).round(3)}
    )
    return pd.concat([frame, tiny, poor], ignore_index=True)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return _cohort()


@pytest.fixture(scope="module")
def stats(cohort: pd.DataFrame):  # type: ignore[no-untyped-def]
    return reduce_frame(cohort[["race"]], cohort["y"].to_numpy(), cohort["score"].to_numpy())


class _PassThrough(BaseEstimator):
    def fit(self, X, y=None):  # type: ignore[no-untyped-def]
        self.fitted_ = True
        return self

    def predict(self, X):  # type: ignore[no-untyped-def]
        return np.asarray(X, dtype=float)[:, 0]


@pytest.mark.parametrize("method", ["threshold_optimizer", "per_group_thresholds"])
def test_current_metrics_equal_the_registry_at_the_threshold(stats, method) -> None:  # type: ignore[no-untyped-def]
    result = what_if(stats, view=("race",), threshold=0.4, method=method)
    tables = {k[0]: t for k, t in stats.groups(("race",)).items()}
    for g in result.groups:
        if g.suppressed or not g.post_processed:
            continue
        for m in REPORTED_METRICS:
            expected = metric_value(m, tables[g.group], 0.4).value
            assert g.current[m] == pytest.approx(expected, abs=1e-12), (g.group, m)
    for m in REPORTED_METRICS:
        everyone = metric_value(m, stats.table(), 0.4).value
        assert result.overall_current[m] == pytest.approx(everyone, abs=1e-12)


def test_current_sensitivity_equals_scikit_learn(stats, cohort) -> None:  # type: ignore[no-untyped-def]
    result = what_if(stats, view=("race",), threshold=0.35)
    for g in result.groups:
        if not g.post_processed:
            continue
        rows = cohort[cohort["race"] == g.group]
        expected = recall_score(rows["y"], rows["score"] >= 0.35)
        assert g.current["sensitivity"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "constraint",
    [
        "demographic_parity",
        "true_positive_rate_parity",
        "equalized_odds",
        "false_negative_rate_parity",
    ],
)
def test_threshold_optimizer_matches_fairlearn_expected_decisions(
    stats, cohort, constraint
) -> None:  # type: ignore[no-untyped-def]
    objective = "balanced_accuracy_score"
    result = what_if(
        stats, view=("race",), threshold=0.4, constraint=constraint, objective=objective
    )
    fitted = [g.group for g in result.groups if g.post_processed]
    rows = cohort[cohort["race"].isin(fitted)]
    optimizer = ThresholdOptimizer(
        estimator=_PassThrough().fit(None),
        constraints=constraint,
        objective=objective,
        prefit=True,
        predict_method="predict",
    )
    X = rows[["score"]].to_numpy()
    optimizer.fit(X, rows["y"].to_numpy(), sensitive_features=rows["race"].to_numpy())
    flag = optimizer._pmf_predict(X, sensitive_features=rows["race"].to_numpy())[:, 1]
    for g in result.groups:
        if not g.post_processed:
            continue
        mask = (rows["race"] == g.group).to_numpy()
        y = rows["y"].to_numpy()[mask]
        p = flag[mask]
        assert g.mitigated["selection_rate"] == pytest.approx(p.mean(), abs=1e-9)
        assert g.mitigated["sensitivity"] == pytest.approx(p[y == 1].mean(), abs=1e-9)
        assert g.mitigated["fpr"] == pytest.approx(p[y == 0].mean(), abs=1e-9)
        assert g.mitigated["ppv"] == pytest.approx((p * y).sum() / p.sum(), abs=1e-9)


@pytest.mark.parametrize("constraint", sorted(CONSTRAINTS))
def test_threshold_optimizer_closes_the_constrained_gap(stats, constraint) -> None:  # type: ignore[no-untyped-def]
    result = what_if(stats, view=("race",), threshold=0.4, constraint=constraint)
    for metric, (before, after) in result.gaps.items():
        assert before is not None and after is not None
        assert before > 0.01, metric  # the cohort starts unequal
        assert after < 1e-6, metric


def test_per_group_threshold_is_the_closest_on_the_grid(stats) -> None:  # type: ignore[no-untyped-def]
    threshold = 0.4
    result = what_if(
        stats,
        view=("race",),
        threshold=threshold,
        method="per_group_thresholds",
        constraint="true_positive_rate_parity",
    )
    target = metric_value("sensitivity", stats.table(), threshold).value
    tables = {k[0]: t for k, t in stats.groups(("race",)).items()}
    for g in result.groups:
        if not g.post_processed:
            continue
        assert g.rule is not None and len(g.rule.thresholds) == 1
        chosen = g.rule.thresholds[0]
        best = min(
            abs(metric_value("sensitivity", tables[g.group], t).value - target) for t in GRID
        )
        got = abs(g.mitigated["sensitivity"] - target)
        assert got == pytest.approx(best, abs=1e-12)
        assert g.mitigated["sensitivity"] == pytest.approx(
            metric_value("sensitivity", tables[g.group], chosen).value, abs=1e-12
        )


def test_small_and_label_poor_groups_keep_the_threshold_and_their_privacy(stats) -> None:  # type: ignore[no-untyped-def]
    result = what_if(stats, view=("race",), threshold=0.4, min_cell_size=MIN_CELL)
    by_name = {g.group: g for g in result.groups}
    tiny = by_name["E"]
    assert tiny.suppressed and tiny.n is None and tiny.rule is None
    assert tiny.current == {} and tiny.mitigated == {}
    poor = by_name["F"]
    assert not poor.suppressed and poor.n == 40 and not poor.post_processed
    assert poor.note == NOT_POSTPROCESSED.format(n=MIN_CELL)
    assert poor.current["selection_rate"] is not None
    assert all(poor.current[m] is None for m in REPORTED_METRICS if m != "selection_rate")
    assert poor.current == poor.mitigated
    # Everyone's totals still count both groups, at the current threshold.
    assert result.overall_current["accuracy"] == pytest.approx(
        metric_value("accuracy", stats.table(), 0.4).value
    )


def test_errors_name_what_was_expected(stats) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuditInputError) as exc:
        what_if(stats, view=("race",), threshold=0.4, constraint="parity")  # type: ignore[arg-type]
    assert str(exc.value) == UNKNOWN_CONSTRAINT.format(
        value="parity", choices=", ".join(CONSTRAINTS)
    )
    with pytest.raises(AuditInputError) as exc:
        what_if(stats, view=("race",), threshold=1.0)
    assert str(exc.value) == THRESHOLD_RANGE.format(value=1.0)
    with pytest.raises(AuditInputError) as exc:
        what_if(stats, view=("race",), threshold=0.4, min_cell_size=250)
    assert str(exc.value) == TOO_FEW_GROUPS.format(view="race", min_cell_size=250, count=1)


def test_rules_read_as_plain_words() -> None:
    assert Rule((0.3,), (1.0,), ">=").describe() == "flag score >= 0.3000"
    mixed = Rule((0.25, 0.3), (0.4, 0.6), ">")
    assert mixed.describe() == (
        "flag score > 0.2500 with probability 0.4 or score > 0.3000 with probability 0.6"
    )
    assert Rule((np.inf,), (1.0,), ">").describe() == "flag no patient"
