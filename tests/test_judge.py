"""The judging engine: every check kind, the interval rules, messages and the verdict."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import (
    disparity,
    est,
    example_report,
    group,
    make_report,
    overall,
    policy_doc,
    rule,
)

from auditor.judge import engine as J
from auditor.judge.engine import compare, judge
from auditor.judge.policy import Bounds, Policy, load_policy_text
from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY, WITHHELD_BOTH
from reports.model import (
    Estimate,
    FairnessMetric,
    PolicyResult,
    ProxyResult,
    Report,
    RepresentationRow,
)


def policy(*rules: dict[str, Any], policy_id: str = "test-policy") -> Policy:
    import yaml

    return load_policy_text(yaml.safe_dump(policy_doc(*rules, policy_id=policy_id)))


def run(
    report: Report, *rules: dict[str, Any], baseline: Report | None = None
) -> list[PolicyResult]:
    return judge(report, [policy(*rules)], baseline=baseline).results


def one(report: Report, r: dict[str, Any], baseline: Report | None = None) -> PolicyResult:
    results = run(report, r, baseline=baseline)
    assert len(results) == 1, [x.message for x in results]
    return results[0]


def sens_report(value: Any, *, n: int = 400) -> Report:
    return make_report([group("race", "Black", n, {"sensitivity": value, "fpr": value})])


SENS_MIN = {"kind": "metric", "metric": "sensitivity", "min": 0.70, "bound_on": "interval"}


# ------------------------------------------------------------------- compare()


@pytest.mark.parametrize(
    ("estimate", "lo", "hi", "bound_on", "expected"),
    [
        # issue 12: pass only when the whole interval is inside (was: estimate inside)
        (0.75, 0.60, 0.90, "interval", "inconclusive"),
        (0.70, 0.60, 0.80, "interval", "inconclusive"),  # estimate exactly on the bound
        (0.75, 0.70, 0.90, "interval", "pass"),  # interval ends on the bound: inside
        (0.75, 0.60, 0.90, "estimate", "pass"),
        (0.65, 0.55, 0.70, "interval", "inconclusive"),  # interval touches the bound
        (0.65, 0.55, 0.69999, "interval", "fail"),  # whole interval below
        (0.65, 0.55, 0.75, "interval", "inconclusive"),
        (0.65, 0.55, 0.75, "estimate", "fail"),
        (0.65, None, None, "interval", "inconclusive"),  # no interval: cannot confirm
        (0.65, None, None, "estimate", "fail"),
        (0.70, 0.70, 0.70, "estimate", "pass"),
    ],
)
def test_compare_with_a_minimum(estimate, lo, hi, bound_on, expected):
    status, _side, _reason = compare(estimate, lo, hi, Bounds(min=0.70), bound_on)
    assert status == expected


@pytest.mark.parametrize(
    ("estimate", "lo", "hi", "expected"),
    [
        (0.30, 0.25, 0.35, "inconclusive"),  # lower end exactly on the maximum
        (0.30, 0.2501, 0.35, "fail"),
        (0.25, 0.20, 0.30, "inconclusive"),  # issue 12: the interval reaches above
        (0.20, 0.10, 0.30, "inconclusive"),
        (0.20, 0.10, 0.25, "pass"),
    ],
)
def test_compare_with_a_maximum(estimate, lo, hi, expected):
    assert compare(estimate, lo, hi, Bounds(max=0.25), "interval")[0] == expected


def test_compare_reasons_say_what_decided():
    assert compare(0.6, 0.5, 0.65, Bounds(min=0.7), "interval")[2] == (
        "the whole 95% interval is below the minimum"
    )
    assert compare(0.6, 0.5, 0.75, Bounds(min=0.7), "interval")[2] == (
        "the estimate is below the minimum but the 95% interval reaches it"
    )
    assert compare(0.6, 0.5, 0.75, Bounds(min=0.7), "estimate")[2] == (
        "the estimate is below the minimum"
    )
    assert compare(0.6, None, None, Bounds(min=0.7), "interval")[2] == (
        "the estimate is below the minimum, but without a 95% interval the rule cannot tell "
        "whether the whole interval is"
    )
    assert compare(0.8, 0.7, 0.9, Bounds(min=0.7), "interval")[2] is None


# ------------------------------------------------------------------------ metric


def test_metric_fail_message_is_one_clinical_line():
    r = one(sens_report((0.61, 0.52, 0.69)), rule("sens", SENS_MIN))
    assert r.status == "fail"
    assert r.message == (
        "Sensitivity for race = Black is 0.61 (95% CI 0.52–0.69), below the minimum 0.70."
    )
    assert (r.observed, r.ci_low, r.ci_high) == (0.61, 0.52, 0.69)
    assert r.bound is not None and (r.bound.min, r.bound.max, r.bound.on) == (0.7, None, "interval")
    assert (r.attribute, r.group, r.metric, r.check) == ("race", "Black", "sensitivity", "metric")
    assert (r.policy, r.rule_id, r.severity) == ("test-policy", "sens", "block")
    assert (r.rationale, r.source) == ("Test rationale.", "Test source")


def test_metric_pass():
    r = one(sens_report((0.81, 0.74, 0.87)), rule("sens", SENS_MIN))
    assert r.status == "pass"
    assert r.message == (
        "Sensitivity for race = Black is 0.81 (95% CI 0.74–0.87); required at least 0.70."
    )
    assert r.reason is None


def test_metric_inconclusive_when_the_interval_reaches_the_bound():
    r = one(sens_report((0.65, 0.52, 0.78)), rule("sens", SENS_MIN))
    assert r.status == "inconclusive"
    assert r.message == (
        "Sensitivity for race = Black is 0.65 (95% CI 0.52–0.78), below the minimum 0.70, "
        "but the interval reaches it: inconclusive."
    )


def test_metric_interval_touching_the_bound_exactly_is_inconclusive():
    r = one(sens_report((0.65, 0.60, 0.70)), rule("sens", SENS_MIN))
    assert r.status == "inconclusive"


def test_metric_interval_just_below_the_bound_fails_and_shows_enough_decimals():
    r = one(sens_report((0.65, 0.60, 0.6999)), rule("sens", SENS_MIN))
    assert r.status == "fail"
    assert r.message == (
        "Sensitivity for race = Black is 0.6500 (95% CI 0.6000–0.6999), below the minimum 0.7000."
    )


def test_metric_estimate_mode_ignores_the_interval():
    check = dict(SENS_MIN, bound_on="estimate")
    assert one(sens_report((0.65, 0.52, 0.78)), rule("sens", check)).status == "fail"
    assert one(sens_report((0.705, 0.52, 0.78)), rule("sens", check)).message == (
        "Sensitivity for race = Black is 0.705 (95% CI 0.520–0.780); required at least 0.700."
    )


def test_metric_maximum_and_range():
    fpr_max = {"kind": "metric", "metric": "fpr", "max": 0.25, "bound_on": "interval"}
    r = one(sens_report((0.31, 0.27, 0.35)), rule("fpr", fpr_max))
    assert (r.status, r.message) == (
        "fail",
        "False positive rate for race = Black is 0.31 (95% CI 0.27–0.35), above the maximum 0.25.",
    )
    ranged = {"kind": "metric", "metric": "fpr", "min": 0.1, "max": 0.25}
    assert one(sens_report((0.2, 0.1, 0.3)), rule("fpr", ranged)).message == (
        "False positive rate for race = Black is 0.20 (95% CI 0.10–0.30); "
        "required between 0.10 and 0.25."
    )


def test_metric_without_interval_in_interval_mode_is_inconclusive_not_failed():
    r = one(sens_report(0.6), rule("sens", SENS_MIN))
    assert (r.status, r.reason) == (
        "inconclusive",
        "the estimate is below the minimum, but without a 95% interval the rule cannot tell "
        "whether the whole interval is",
    )
    inside = one(sens_report(0.8), rule("sens", SENS_MIN))
    # issue 12: without an interval an estimate inside cannot pass an interval rule
    assert (inside.status, inside.reason) == (
        "inconclusive",
        "the estimate is within the bounds, but without a 95% interval the rule cannot tell "
        "whether the whole interval is",
    )


def test_count_metrics_are_whole_numbers():
    report = make_report([group("race", "Black", 1234, {"n_positive": 57.0})])
    r = one(report, rule("ev", {"kind": "metric", "metric": "n_positive", "min": 100}))
    assert r.message == "Patients with the outcome for race = Black is 57, below the minimum 100."


def test_suppressed_group_is_not_evaluable_and_shows_no_number():
    report = make_report([group("race", "Other", None, suppressed=True)])
    r = one(report, rule("sens", SENS_MIN))
    assert r.status == "not_evaluable"
    assert r.message == "Sensitivity for race = Other: fewer than 11 patients; not evaluable."
    assert r.reason == "fewer than 11 patients"
    assert (r.observed, r.ci_low, r.ci_high) == (None, None, None)


def test_complementary_suppression_reason_is_passed_on():
    report = make_report(
        [group("race", "Asian", None, suppressed=True, reason=SUPPRESSED_COMPLEMENTARY)]
    )
    r = one(report, rule("sens", SENS_MIN))
    assert r.message == f"Sensitivity for race = Asian: {SUPPRESSED_COMPLEMENTARY}; not evaluable."


def test_group_below_the_rules_min_n_is_not_evaluable():
    report = make_report([group("race", "Asian", 45, {"auroc": (0.9, 0.8, 0.95)})])
    auroc = {"kind": "metric", "metric": "auroc", "min": 0.7}
    r = one(report, rule("auroc", auroc, selector={"min_n": 100}))
    assert r.status == "not_evaluable"
    assert r.message == (
        "AUROC for race = Asian: 45 patients, fewer than this rule's minimum of 100; not evaluable."
    )


def test_undefined_metric_gives_its_reason():
    report = make_report([group("sex", "F", 50, {"auroc": None})])
    r = one(report, rule("auroc", {"kind": "metric", "metric": "auroc", "min": 0.7}))
    assert r.status == "not_evaluable"
    assert r.reason == "undefined: only one outcome class in the group"


def test_withheld_label_metrics_and_unmeasured_metrics_are_not_evaluable():
    withheld = group(
        "age",
        "95+",
        12,
        {"auroc": est(None, reason=WITHHELD_BOTH.format(m=11))},
        withheld=True,
        reason=WITHHELD_BOTH.format(m=11),
    )
    report = make_report([withheld, group("age", "66-74", 500, {})])
    results = run(report, rule("auroc", {"kind": "metric", "metric": "auroc", "min": 0.7}))
    assert [r.reason for r in results] == [
        WITHHELD_BOTH.format(m=11),
        "not measured in this report",
    ]
    assert {r.status for r in results} == {"not_evaluable"}


def test_selector_overall_intersections_groups_and_missing_names():
    report = make_report(
        [
            group("race", "Black", 300, {"auroc": (0.8, 0.75, 0.85)}),
            group("race", "White", 900, {"auroc": (0.82, 0.8, 0.84)}),
            group(["race", "sex"], ["Black", "F"], 150, {"auroc": (0.6, 0.5, 0.65)}),
        ],
        overall_group=overall(1200, {"auroc": (0.81, 0.79, 0.83)}),
    )
    auroc = {"kind": "metric", "metric": "auroc", "min": 0.7, "bound_on": "interval"}
    everything = run(
        report, rule("a", auroc, selector={"include_overall": True, "include_intersections": True})
    )
    assert [(r.attribute, r.group, r.status) for r in everything] == [
        ("overall", "all patients", "pass"),
        ("race", "Black", "pass"),
        ("race", "White", "pass"),
        (["race", "sex"], ["Black", "F"], "fail"),
    ]
    assert (
        everything[0].message == "AUROC overall is 0.81 (95% CI 0.79–0.83); required at least 0.70."
    )
    assert everything[3].message == (
        "AUROC for race = Black and sex = F is 0.60 (95% CI 0.50–0.65), below the minimum 0.70."
    )
    chosen = run(
        report,
        rule(
            "a",
            auroc,
            selector={
                "attributes": [["sex", "race"], "ethnicity"],
                "groups": [["F", "Black"], "Hispanic"],
            },
        ),
    )
    assert [(r.group, r.status) for r in chosen] == [
        (None, "not_evaluable"),
        (None, "not_evaluable"),
        (["Black", "F"], "fail"),
    ]
    assert chosen[0].message == "AUROC: attribute ethnicity is not in this audit; not evaluable."
    assert chosen[1].message == (
        "AUROC: group Hispanic is not among the selected attributes' groups in this audit; "
        "not evaluable."
    )
    nothing = one(report, rule("a", auroc, selector={"attributes": []}))
    assert nothing.message == (
        "Rule a: no group of this audit matches the rule's selector; not evaluable."
    )


# --------------------------------------------------------------------- disparity


def disparity_report(*entries, groups=None, fairness=()) -> Report:
    return make_report(
        groups or [group("race", "White", 900, {}), group("race", "Black", 300, {})],
        references={"race": "White"},
        disparities=list(entries),
        fairness=list(fairness),
    )


GAP = {
    "kind": "disparity",
    "metric": "sensitivity",
    "measure": "difference",
    "compare_to": "reference",
    "min": -0.10,
    "bound_on": "interval",
}


@pytest.mark.parametrize(
    ("value", "lo", "hi", "status"),
    [
        (-0.05, -0.12, 0.02, "inconclusive"),  # issue 12: was pass (estimate inside)
        (-0.05, -0.09, 0.02, "pass"),
        (-0.2, -0.3, -0.11, "fail"),
        (-0.15, -0.25, -0.10, "inconclusive"),
    ],
)
def test_disparity_against_the_reference(value, lo, hi, status):
    report = disparity_report(
        disparity("race", "sensitivity", "difference", "Black", value, lo, hi, reference="White")
    )
    r = one(report, rule("gap", GAP))
    assert r.status == status
    assert (r.attribute, r.group, r.metric) == ("race", "Black", "sensitivity")
    if status == "fail":
        assert r.message == (
            "Sensitivity difference for race = Black vs White is -0.20 (95% CI -0.30 to -0.11), "
            "below the minimum -0.10."
        )


def test_disparity_not_evaluable_cases():
    groups = [
        group("race", "White", 900, {}),
        group("race", "Black", 300, {}),
        group("race", "Asian", 40, {}),
        group("race", "Other", None, suppressed=True),
        group("race", "Mixed", 200, {}),
    ]
    report = disparity_report(
        disparity(
            "race",
            "sensitivity",
            "difference",
            "Black",
            None,
            reference="White",
            reason="the group's sensitivity is not available (undefined)",
        ),
        disparity(
            "race", "sensitivity", "difference", "Asian", -0.3, -0.4, -0.2, reference="White"
        ),
        groups=groups,
    )
    results = run(report, rule("gap", GAP, selector={"min_n": 50}))
    assert [(r.group, r.status, r.reason) for r in results] == [
        ("Black", "not_evaluable", "the group's sensitivity is not available (undefined)"),
        ("Asian", "not_evaluable", "40 patients, fewer than this rule's minimum of 50"),
        ("Other", "not_evaluable", "fewer than 11 patients"),
        ("Mixed", "not_evaluable", "this comparison is not in the report"),
    ]


def test_disparity_with_a_suppressed_or_absent_reference():
    groups = [group("race", "White", None, suppressed=True), group("race", "Black", 300, {})]
    r = one(disparity_report(groups=groups), rule("gap", GAP))
    assert r.reason == "the reference group is suppressed (fewer than 11 patients)"
    no_ref = make_report([group("race", "Black", 300, {})])
    r = one(no_ref, rule("gap", GAP))
    assert r.message == (
        "Sensitivity difference for race: the audit has no reference group for race; not evaluable."
    )


WORST = {
    "kind": "disparity",
    "metric": "selection_rate",
    "measure": "ratio",
    "compare_to": "worst_case",
    "min": 0.8,
    "bound_on": "interval",
}


@pytest.mark.parametrize(
    ("value", "lo", "hi", "status"),
    [(0.9, 0.82, 0.97, "pass"), (0.6, 0.5, 0.75, "fail"), (0.7, 0.6, 0.8, "inconclusive")],
)
def test_worst_case_disparity(value, lo, hi, status):
    report = disparity_report(
        disparity(
            "race", "selection_rate", "ratio", "worst_case", value, lo, hi, excluded=["Other"]
        )
    )
    r = one(report, rule("ff", WORST))
    assert (r.status, r.attribute, r.group) == (status, "race", "worst_case")
    if status == "fail":
        assert r.message == (
            "Worst-case selection rate ratio across race groups (Other left out: too small or "
            "undefined) is 0.60 (simultaneous 95% CI 0.50–0.75), below the minimum 0.80."
        )


def test_worst_case_not_evaluable():
    missing = one(disparity_report(), rule("ff", WORST))
    assert missing.message == (
        "Worst-case selection rate ratio across race groups: this comparison is not in the "
        "report; not evaluable."
    )
    undefined = disparity_report(
        disparity(
            "race",
            "selection_rate",
            "ratio",
            "worst_case",
            None,
            reason="ratio undefined: the largest selection_rate among the groups is 0",
        )
    )
    r = one(undefined, rule("ff", WORST))
    assert (r.status, r.reason) == (
        "not_evaluable",
        "ratio undefined: the largest selection_rate among the groups is 0",
    )


def eo(value, lo=None, hi=None, reason=None) -> FairnessMetric:
    return FairnessMetric(
        name="equalized_odds_difference",
        attribute="race",
        estimate=value,
        ci_low=lo,
        ci_high=hi,
        reason=reason,
        reference_implementation="fairlearn.metrics.equalized_odds_difference",
    )


EO = {
    "kind": "disparity",
    "fairness_metric": "equalized_odds_difference",
    "max": 0.1,
    "bound_on": "interval",
}


@pytest.mark.parametrize(
    ("metric", "status"),
    [
        (eo(0.05, 0.01, 0.09), "pass"),
        (eo(0.2, 0.12, 0.3), "fail"),
        (eo(0.15, 0.1, 0.3), "inconclusive"),
        (eo(None, reason="fewer than two groups have a sensitivity to compare"), "not_evaluable"),
    ],
)
def test_named_fairness_metric(metric, status):
    r = one(disparity_report(fairness=[metric]), rule("eo", EO))
    assert (r.status, r.attribute, r.metric) == (status, "race", "equalized_odds_difference")
    if status == "fail":
        assert r.message == (
            "Equalized odds difference for race is 0.20 (simultaneous 95% CI 0.12–0.30), "
            "above the maximum 0.10."
        )


# ------------------------------------------------------------------- calibration


CAL = {
    "kind": "calibration",
    "slope": {"min": 0.8, "max": 1.25},
    "intercept": {"min": -0.2, "max": 0.2},
    "oe_ratio": {"min": 0.8, "max": 1.25},
    "bound_on": "interval",
}


def test_calibration_gives_one_result_per_quantity():
    report = make_report(
        [
            group(
                "sex",
                "F",
                800,
                {
                    "calibration_slope": (0.95, 0.8, 1.1),
                    "calibration_intercept": (0.3, 0.21, 0.4),
                    "oe_ratio": (1.3, 1.1, 1.5),
                },
            ),
            group("sex", "M", 700, {"calibration_slope": None}),
        ]
    )
    results = run(report, rule("cal", CAL))
    assert [(r.group, r.metric, r.status) for r in results] == [
        ("F", "calibration_slope", "pass"),
        ("F", "calibration_intercept", "fail"),
        ("F", "oe_ratio", "inconclusive"),
        ("M", "calibration_slope", "not_evaluable"),
        ("M", "calibration_intercept", "not_evaluable"),
        ("M", "oe_ratio", "not_evaluable"),
    ]
    assert {r.check for r in results} == {"calibration"}
    assert results[1].message == (
        "Calibration intercept for sex = F is 0.30 (95% CI 0.21–0.40), above the maximum 0.20."
    )
    assert results[2].message == (
        "Observed/expected ratio for sex = F is 1.30 (95% CI 1.10–1.50), above the maximum 1.25, "
        "but the interval reaches it: inconclusive."
    )
    assert results[4].reason == "not measured in this report"


# -------------------------------------------------------------------- regression

REG = {"kind": "regression", "metric": "auroc", "margin": 0.02, "bound_on": "interval"}


def reg_report(value: Any, *, metric: str = "auroc") -> Report:
    return make_report([group("race", "Black", 300, {metric: value})])


def test_regression_without_baseline_is_one_not_evaluable_result():
    r = one(reg_report((0.8, 0.75, 0.85)), rule("reg", REG))
    assert r.status == "not_evaluable"
    assert r.message == (
        "AUROC against the baseline: no baseline report was given (audit with --baseline "
        "REPORT); not evaluable."
    )


@pytest.mark.parametrize(
    ("now", "status"),
    [
        ((0.82, 0.79, 0.85), "pass"),  # issue 12: the whole interval above 0.79
        ((0.70, 0.66, 0.77), "fail"),
        ((0.74, 0.70, 0.79), "inconclusive"),
    ],
)
def test_regression_higher_is_better(now, status):
    r = one(reg_report(now), rule("reg", REG), baseline=reg_report((0.81, 0.76, 0.86)))
    assert r.status == status
    assert r.bound is not None and r.bound.min == pytest.approx(0.79)
    expected = {
        "pass": "AUROC for race = Black is 0.82 (95% CI 0.79–0.85); baseline 0.81, "
        "allowed worsening 0.02.",
        "fail": "AUROC for race = Black is 0.70 (95% CI 0.66–0.77), worse than the baseline 0.81 "
        "by more than the allowed 0.02.",
        "inconclusive": "AUROC for race = Black is 0.74 (95% CI 0.70–0.79), worse than the "
        "baseline 0.81 by more than the allowed 0.02, but the interval reaches "
        "the limit 0.79: inconclusive.",
    }
    assert r.message == expected[status]


def test_regression_lower_is_better_and_target_metrics():
    fnr = dict(REG, metric="fnr", margin=0.05, bound_on="estimate")
    worse = one(
        reg_report(0.40, metric="fnr"), rule("r", fnr), baseline=reg_report(0.30, metric="fnr")
    )
    better = one(
        reg_report(0.10, metric="fnr"), rule("r", fnr), baseline=reg_report(0.30, metric="fnr")
    )
    assert (worse.status, better.status) == ("fail", "pass")
    slope = dict(REG, metric="calibration_slope", margin=0.1, bound_on="estimate")
    base = reg_report(0.9, metric="calibration_slope")  # 0.1 from ideal: allowed 0.8 to 1.2
    results = [
        one(reg_report(v, metric="calibration_slope"), rule("r", slope), baseline=base)
        for v in (0.79, 0.85, 1.15, 1.21)
    ]
    assert [r.status for r in results] == ["fail", "pass", "pass", "fail"]
    assert results[0].bound is not None
    assert (results[0].bound.min, results[0].bound.max) == pytest.approx((0.8, 1.2))


def test_regression_not_evaluable_against_an_incomplete_baseline():
    now = make_report(
        [
            group("race", "Black", 300, {"auroc": (0.8, 0.75, 0.85)}),
            group("race", "Asian", 200, {"auroc": (0.8, 0.75, 0.85)}),
            group("race", "Mixed", 150, {"auroc": (0.8, 0.75, 0.85)}),
        ]
    )
    base = make_report(
        [
            group("race", "Black", None, suppressed=True),
            group("race", "Asian", 200, {"auroc": None}),
        ]
    )
    results = run(now, rule("reg", REG), baseline=base)
    assert [r.reason for r in results] == [
        "suppressed in the baseline report (fewer than 11 patients)",
        "undefined in the baseline report (undefined: only one outcome class in the group)",
        "not in the baseline report",
    ]


# ---------------------------------------------------------------- representation


def test_representation_counts_shares_and_reference_shares():
    report = make_report(
        [
            group("race", "White", 900, {"n_positive": 150.0}),
            group("race", "Black", 80, {"n_positive": 12.0}),
        ],
        overall_group=overall(980),
        representation=[
            RepresentationRow(
                attribute="race", group="White", n=900, share=900 / 980, reference_share=0.6
            ),
            RepresentationRow(
                attribute="race", group="Black", n=80, share=80 / 980, reference_share=0.3
            ),
        ],
    )
    check = {
        "kind": "representation",
        "min_n": 100,
        "min_events": 20,
        "min_share": 0.1,
        "min_share_ratio": 0.8,
    }
    results = run(report, rule("rep", check, severity="warn"))
    assert [(r.group, r.metric, r.status) for r in results] == [
        ("White", "n", "pass"),
        ("White", "n_positive", "pass"),
        ("White", "share", "pass"),
        ("White", "share_ratio", "pass"),
        ("Black", "n", "fail"),
        ("Black", "n_positive", "fail"),
        ("Black", "share", "fail"),
        ("Black", "share_ratio", "fail"),
    ]
    assert [r.message for r in results[4:]] == [
        "race = Black has 80 patients, below the minimum 100.",
        "race = Black has 12 patients with the outcome, below the minimum 20.",
        "race = Black is 8.2% of the cohort, below the minimum 10.0%.",
        "race = Black has 0.27 times its reference population share, below the minimum 0.80.",
    ]
    assert results[0].message == "race = White has 900 patients; required at least 100."


def test_representation_of_suppressed_groups_never_shows_their_size():
    report = make_report(
        [
            group("race", "White", 900, {}),
            group("race", "Other", None, suppressed=True),
            group("race", "Asian", None, suppressed=True, reason=SUPPRESSED_COMPLEMENTARY),
            group(
                "race",
                "Mixed",
                30,
                {"n_positive": None},
                withheld=True,
                reason=WITHHELD_BOTH.format(m=11),
            ),
        ],
        overall_group=overall(1000),
    )
    check = {"kind": "representation", "min_n": 50, "min_events": 20}
    results = run(report, rule("rep", check))
    by = {(r.group, r.metric): r for r in results}
    assert by[("Other", "n")].status == "fail"
    assert by[("Other", "n")].message == (
        "race = Other has fewer than 11 patients, below this rule's minimum."
    )
    assert by[("Other", "n")].observed is None
    assert by[("Other", "n_positive")].message == (
        "race = Other has fewer than 11 patients with the outcome, below this rule's minimum."
    )
    assert by[("Asian", "n")].status == "not_evaluable"
    assert by[("Asian", "n")].message == (
        f"race = Asian (patients): {SUPPRESSED_COMPLEMENTARY}; not evaluable."
    )
    assert by[("Mixed", "n")].status == "fail"
    assert by[("Mixed", "n_positive")].message == (
        "race = Mixed has fewer than 11 patients with the outcome, below this rule's minimum."
    )
    # A minimum below the suppression threshold cannot be judged from "fewer than 11".
    small = run(report, rule("rep", {"kind": "representation", "min_n": 5}))
    assert {r.group: r.status for r in small}["Other"] == "not_evaluable"
    shares = run(report, rule("rep", {"kind": "representation", "min_share": 0.05}))
    assert {r.group: r.message for r in shares}["Other"] == (
        "race = Other has fewer than 11 patients, below this rule's minimum share of the cohort."
    )
    # The report's privacy floor keeps these messages: no digit but the cell size.
    judged = report.model_copy(update={"policy_results": results + shares})
    assert Report.from_json(judged.to_json()).policy_results == results + shares


def test_representation_share_ratio_needs_a_reference_share():
    report = make_report([group("sex", "F", 500, {})], overall_group=overall(900))
    r = one(report, rule("rep", {"kind": "representation", "min_share_ratio": 0.8}))
    assert r.status == "not_evaluable"
    assert r.reason == (
        "no reference population share was given (reference_shares in the audit spec)"
    )


# ------------------------------------------------------------------------- proxy


def proxy_report(*rows: ProxyResult, status: str = "ok", reason: str | None = None) -> Report:
    return make_report(
        [
            group("race", "White", 900, {}),
            group("race", "Black", 300, {}),
            group(["race", "sex"], ["Black", "F"], 150, {}),
        ],
        proxies=list(rows),
        explanations_status=status,
        explanations_reason=reason,
    )


def px(feature: str, strength: float | None) -> ProxyResult:
    return ProxyResult(attribute="race", feature=feature, strength=strength)


PROXY = {"kind": "proxy", "max_strength": 0.5}


def test_proxy_pass_and_fail():
    passed = one(proxy_report(px("age", 0.1), px("zip3", 0.4)), rule("p", PROXY))
    assert (passed.status, passed.observed, passed.attribute) == ("pass", 0.4, "race")
    assert passed.message == (
        "The feature that best predicts race is zip3 (proxy strength 0.40); required at most 0.50."
    )
    failed = one(
        proxy_report(px("zip3", 0.7), px("income", 0.55), px("(all features)", 0.9)),
        rule("p", PROXY),
    )
    assert failed.status == "fail"
    assert failed.message == (
        "The feature zip3 predicts race with proxy strength 0.70, above the maximum 0.50 "
        "(1 more feature above it)."
    )
    joint = one(
        proxy_report(px("zip3", 0.2), px("(all features)", 0.9)),
        rule("p", dict(PROXY, include_joint=True)),
    )
    assert (joint.status, joint.observed) == ("fail", 0.9)


def test_proxy_not_evaluable():
    no_model = one(
        proxy_report(status="not_evaluable", reason="only a score column: no model to explain"),
        rule("p", PROXY),
    )
    assert no_model.message == (
        "Proxy strength for race: only a score column: no model to explain; not evaluable."
    )
    assert one(proxy_report(), rule("p", PROXY)).reason == "no proxy analysis in this report"
    assert one(proxy_report(px("zip3", None)), rule("p", PROXY)).reason == (
        "proxy strength is undefined for every feature"
    )
    inter = one(
        proxy_report(px("zip3", 0.1)), rule("p", PROXY, selector={"attributes": [["race", "sex"]]})
    )
    assert inter.reason == "proxy strength is measured per single attribute, not per intersection"


# ----------------------------------------------------------------- documentation


DOC = {"kind": "documentation", "fields": ["intended_use", "limitations", "validation.party"]}


def doc_report(card: dict[str, Any]) -> Report:
    return make_report([group("race", "White", 900, {})], model_card=card)


def test_documentation_pass_and_fail():
    full = {
        "intended_use": "Triage",
        "limitations": ["small groups"],
        "validation": {"party": "External lab"},
    }
    passed = one(doc_report(full), rule("doc", DOC))
    assert (passed.status, passed.message) == (
        "pass",
        "The model card documents intended_use, limitations, validation.party.",
    )
    assert (passed.attribute, passed.group, passed.check) == (None, None, "documentation")
    gaps = {"intended_use": "  ", "limitations": [], "validation": {"party": None}}
    failed = one(doc_report(gaps), rule("doc", DOC))
    assert failed.status == "fail"
    assert failed.message == "The model card lacks intended_use, limitations, validation.party."
    assert failed.reason == "missing or empty: intended_use, limitations, validation.party"
    none = one(doc_report({}), rule("doc", DOC))
    assert none.message == (
        "No model card was given; required: intended_use, limitations, validation.party."
    )


# ----------------------------------------------------------------------- verdict


def verdict_of(*statuses_and_severities: tuple[str, str]) -> tuple[str, Any]:
    """Judge a report where each rule gets one group whose value gives the wanted status."""
    values = {
        "pass": (0.9, 0.85, 0.95),
        "fail": (0.5, 0.4, 0.6),
        "inconclusive": (0.65, 0.55, 0.75),
    }
    groups, rules = [], []
    for i, (status, severity) in enumerate(statuses_and_severities):
        attribute = f"a{i}"
        if status == "not_evaluable":
            groups.append(group(attribute, "g", None, suppressed=True))
        else:
            groups.append(group(attribute, "g", 500, {"sensitivity": values[status]}))
        rules.append(
            rule(f"r{i}", SENS_MIN, severity=severity, selector={"attributes": [attribute]})
        )
    judgement = judge(make_report(groups), [policy(*rules)])
    assert [r.status for r in judgement.results] == [s for s, _ in statuses_and_severities]
    return judgement.verdict, judgement.counts


def test_verdict_rules():
    assert verdict_of(("pass", "block"), ("fail", "block"))[0] == "fail"
    assert verdict_of(("pass", "block"), ("fail", "warn"))[0] == "warn"
    assert verdict_of(("inconclusive", "block"))[0] == "warn"
    assert verdict_of(("inconclusive", "warn"))[0] == "warn"
    assert verdict_of(("fail", "info"), ("inconclusive", "info"))[0] == "pass"
    # issue 12: an undecided blocking check is never silent (was: pass)
    assert verdict_of(("not_evaluable", "block"), ("pass", "warn"))[0] == "warn"
    assert verdict_of(("not_evaluable", "warn"), ("pass", "block"))[0] == "pass"
    verdict, counts = verdict_of(
        ("pass", "block"),
        ("fail", "block"),
        ("fail", "warn"),
        ("inconclusive", "block"),
        ("inconclusive", "info"),
        ("not_evaluable", "warn"),
        ("fail", "info"),
    )
    assert verdict == "fail"
    assert counts.model_dump() == {
        "passed": 1,
        "failed": 3,
        "inconclusive": 2,
        "not_evaluable": 1,
        "blocking_failures": 1,
        "warnings": 1,  # issue 12: the inconclusive blocking check is undecided, not a warning
        "rules_failed_blocking": 1,
        "rules_failed_warning": 1,
        "info_findings": 1,
        "undecided_blocking": 1,
        "waived": 0,
    }


def test_results_follow_policy_and_rule_order():
    report = example_report()
    first = policy(rule("x", SENS_MIN, selector={"attributes": ["sex"]}), policy_id="p1")
    second = policy(
        rule("y", {"kind": "documentation", "fields": ["intended_use"]}), policy_id="p2"
    )
    results = judge(report, [first, second]).results
    assert [(r.policy, r.rule_id, r.group) for r in results] == [
        ("p1", "x", "F"),
        ("p1", "x", "M"),
        ("p2", "y", None),
    ]


def test_example_report_round_trips_through_json_with_results():
    from auditor.judge.policy import load_policies

    report = example_report()
    judgement = judge(report, load_policies(["clinical-default"]))
    judged = report.model_copy(
        update={
            "policy_results": judgement.results,
            "counts": judgement.counts,
            "verdict": judgement.verdict,
        }
    )
    again = Report.from_json(judged.to_json())
    assert again.policy_results == judgement.results
    suppressed = [r for r in judgement.results if r.group == "Other"]
    assert suppressed and all(r.observed is None for r in suppressed)


def test_metric_name_strips_the_parenthetical():
    assert J.metric_name("sensitivity") == "Sensitivity"
    assert J.metric_name("auprc") == "AUPRC"
    assert J.metric_name("oe_ratio") == "Observed/expected ratio"


def test_estimate_objects_pass_through_unchanged():
    value = Estimate(estimate=0.9, ci_low=0.8, ci_high=0.95, ci_method="wilson")
    report = make_report([group("race", "Black", 100, {"sensitivity": value})])
    assert one(report, rule("s", SENS_MIN)).status == "pass"
