"""Disparities vs a reference group, worst case, and fairlearn's named metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)

from auditor.measure.disparities import (
    FAIRNESS,
    RATIO_ZERO_REFERENCE,
    TOO_FEW_GROUPS,
    WORST_RATIO_NEGATIVE,
    GroupValue,
    compare_metric,
    fairness_metrics,
)
from auditor.measure.measurement import measure
from auditor.reduce.stats import reduce_frame

FAIRLEARN = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
    "equal_opportunity_ratio": equal_opportunity_ratio,
}


def cohort(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "race": rng.choice(["A", "B", "C", "D"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    shift = frame.race.map({"A": 0.0, "B": 0.05, "C": -0.05, "D": 0.1}).to_numpy()
    scores = np.round(np.clip(rng.random(n) + shift, 0, 1), 2)
    labels = (rng.random(n) < scores).astype(int)
    return frame, labels, scores


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
@pytest.mark.parametrize("view", [("race",), ("race", "sex")])
def test_named_fairness_metrics_equal_fairlearn(view, threshold):
    frame, y, s = cohort()
    stats = reduce_frame(frame, y, s)
    m = measure(stats, views=[view], thresholds=[threshold], bootstrap=0, min_cell_size=1)
    got = {f.name: f for f in m.fairness_metrics}
    assert set(got) == {fd.name for fd in FAIRNESS}
    pred = (s >= threshold).astype(int)
    sf = frame[list(view)] if len(view) > 1 else frame[view[0]]
    for name, fn in FAIRLEARN.items():
        assert got[name].estimate == pytest.approx(fn(y, pred, sensitive_features=sf), abs=1e-9)
        assert got[name].reference_implementation == f"fairlearn.metrics.{name}"


def test_disparities_against_reference_and_worst_case():
    frame, y, s = cohort()
    stats = reduce_frame(frame, y, s)
    m = measure(stats, views=[("race",)], thresholds=[0.5], bootstrap=0)
    groups = {g.group: g for g in m.groups}
    # default reference: the largest group
    assert m.attributes[0].reference == "A"
    by = {(d.metric, d.kind, d.group): d for d in m.disparities}
    sens = {k: groups[k].metrics["sensitivity"].estimate for k in "ABCD"}
    assert by[("sensitivity", "difference", "B")].estimate == pytest.approx(
        sens["B"] - sens["A"], abs=1e-15
    )
    assert by[("sensitivity", "ratio", "D")].estimate == pytest.approx(
        sens["D"] / sens["A"], abs=1e-15
    )
    assert by[("sensitivity", "difference", "worst_case")].estimate == pytest.approx(
        max(sens.values()) - min(sens.values())
    )
    assert by[("sensitivity", "ratio", "worst_case")].estimate == pytest.approx(
        min(sens.values()) / max(sens.values())
    )
    assert by[("sensitivity", "ratio", "worst_case")].reference is None
    # every non-count metric, both kinds, 3 groups + worst case
    metrics = {d.metric for d in m.disparities}
    assert "n" not in metrics and "n_positive" not in metrics and "auroc" in metrics
    assert len(m.disparities) == 20 * 2 * 4


def test_given_reference_group_is_used():
    frame, y, s = cohort()
    m = measure(
        reduce_frame(frame, y, s),
        views=[("race",), ("race", "sex")],
        thresholds=[0.5],
        bootstrap=0,
        reference_groups={"race": "C", ("race", "sex"): ("B", "M")},
    )
    refs = {str(a.name): a.reference for a in m.attributes}
    assert refs == {"race": "C", "['race', 'sex']": ["B", "M"]}
    assert {d.reference for d in m.disparities if d.attribute == "race"} == {"C", None}


def test_bootstrap_intervals_for_disparities_and_fairness_metrics():
    frame, y, s = cohort(3000, 1)
    stats = reduce_frame(frame, y, s)
    kw = dict(views=[("race",)], thresholds=[0.5], bootstrap=150, bins=500)
    a = measure(stats, seed=7, **kw)
    b = measure(stats, seed=7, **kw)
    c = measure(stats, seed=8, **kw)
    for d in a.disparities:
        if d.estimate is None:  # worst-case ratios of signed metrics are undefined
            assert d.metric in ("calibration_intercept", "net_benefit") and d.kind == "ratio"
            continue
        assert d.ci_low is not None and d.ci_low <= d.estimate <= d.ci_high, d
    for f in a.fairness_metrics:
        assert f.ci_low <= f.estimate <= f.ci_high
    assert [d.ci_low for d in a.disparities] == [d.ci_low for d in b.disparities]
    assert [d.ci_low for d in a.disparities] != [d.ci_low for d in c.disparities]
    dp = next(f for f in a.fairness_metrics if f.name == "demographic_parity_difference")
    assert 0 < dp.ci_high - dp.ci_low < 0.2


def test_compare_metric_edge_cases():
    def name(k):
        return k[0]

    groups = {
        ("A",): GroupValue(0.0, np.array([0.0, 0.1])),
        ("B",): GroupValue(0.2, np.array([0.2, 0.3])),
        ("C",): GroupValue(None, None, "withheld"),
    }
    out = compare_metric("fpr", "race", groups, ("A",), [("D",)], name)
    by = {(d.kind, d.group): d for d in out}
    assert by[("ratio", "B")].estimate is None
    assert by[("ratio", "B")].reason == RATIO_ZERO_REFERENCE.format(metric="fpr")
    assert by[("difference", "B")].estimate == pytest.approx(0.2)
    assert by[("difference", "C")].reason == "the group's fpr is not available (withheld)"
    assert by[("difference", "worst_case")].excluded_groups == ["D", "C"]
    assert by[("ratio", "worst_case")].estimate == 0.0
    neg = {("A",): GroupValue(-0.1), ("B",): GroupValue(0.2)}
    w = next(
        d
        for d in compare_metric("net_benefit", "race", neg, ("A",), [], name)
        if d.group == "worst_case" and d.kind == "ratio"
    )
    assert w.estimate is None and w.reason == WORST_RATIO_NEGATIVE.format(metric="net_benefit")
    lone = fairness_metrics(
        "race",
        {
            "selection_rate": {("A",): GroupValue(0.3)},
            "sensitivity": {("A",): GroupValue(0.3)},
            "fpr": {("A",): GroupValue(0.3)},
        },
    )
    assert all(f.estimate is None for f in lone)
    assert lone[0].reason == TOO_FEW_GROUPS.format(metric="selection_rate")
