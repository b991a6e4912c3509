"""Every status transition of one blocking rule on one group:

estimate inside/outside × interval inside/straddling/outside × (bound_on estimate or
interval) × privacy withheld or not × waiver active/expired/none, through the judge,
the publish step and the verdict summary. Also: undecided warn/block, waivers in the
report and its hash, and the spec keys end to end.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import pytest
import yaml

from auditor.judge.engine import judge
from auditor.judge.policy import load_policy_text
from auditor.judge.verdict import verdict_summary
from auditor.load.spec import Waiver
from auditor.privacy.publish import PublishPlan, publish
from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY, Privacy
from reports.model import group_key
from tests.load_helpers import make_cohort, write_cohort, write_spec
from tests.policy_helpers import group, make_report, policy_doc, rule
from tests.test_cli import run as cli

BOUND = 0.70
# estimate, interval: (low, high)
ESTIMATES = {"inside": 0.80, "outside": 0.60}
INTERVALS = {"inside": (0.72, 0.88), "straddling": (0.62, 0.78), "outside": (0.55, 0.66)}
TODAY = date(2026, 1, 1)


def _policy(bound_on: str, undecided: str | None = None):  # type: ignore[no-untyped-def]
    doc = policy_doc(
        rule(
            "sens",
            {"kind": "metric", "metric": "sensitivity", "min": BOUND, "bound_on": bound_on},
            severity="block",
        )
    )
    if undecided is not None:
        doc["undecided"] = undecided
    return load_policy_text(yaml.safe_dump(doc))


def _expected(estimate: str, interval: str, bound_on: str) -> str:
    if bound_on == "estimate":
        return "pass" if estimate == "inside" else "fail"
    return {"inside": "pass", "straddling": "inconclusive", "outside": "fail"}[interval]


CASES = list(
    itertools.product(
        ESTIMATES, INTERVALS, ("estimate", "interval"), (False, True), (None, "active", "expired")
    )
)


@pytest.mark.parametrize(("estimate", "interval", "bound_on", "withheld", "waiver"), CASES)
def test_status_transition(
    estimate: str, interval: str, bound_on: str, withheld: bool, waiver: str | None
) -> None:
    lo, hi = INTERVALS[interval]
    value = ESTIMATES[estimate]
    report = make_report([group("race", "Asian", 300, {"sensitivity": (value, lo, hi)})])
    waivers = []
    if waiver is not None:
        waivers.append(
            Waiver(
                rule="sens",
                group=("Asian",),
                reason="accepted for a pilot",
                approved_by="AI governance committee, 2025-12-01",
                expires="2026-06-30" if waiver == "active" else "2025-12-31",
            )
        )
    judgement = judge(report, [_policy(bound_on)], waivers=waivers, today=TODAY)
    (result,) = judgement.results
    status = _expected(estimate, interval, bound_on)
    assert result.status == status
    assert result.observed == value and (result.ci_low, result.ci_high) == (lo, hi)
    waived = waiver == "active" and status != "pass"
    assert (result.waiver is not None) == waived
    if waiver == "expired":
        assert judgement.waivers[0].status == "expired"
    # the verdict: a blocking failure fails, an undecided blocking check warns, a
    # waived one counts for nothing (and is still reported)
    expected_verdict = {"pass": "pass", "fail": "fail", "inconclusive": "warn"}[status]
    assert judgement.verdict == ("pass" if waived else expected_verdict)
    summary = verdict_summary(judgement.results)
    assert summary.verdict == judgement.verdict
    assert summary.waived == int(waived)
    assert len(summary.undecided) == int(status == "inconclusive" and not waived)
    # publish: a withheld group keeps its status, never its numbers
    judged = report.model_copy(
        update={
            "policy_results": judgement.results,
            "verdict": judgement.verdict,
            "counts": judgement.counts,
        }
    )
    privacy = {group_key("race", "Asian"): Privacy("suppressed", SUPPRESSED_COMPLEMENTARY)}
    published = publish(judged, PublishPlan(privacy=privacy if withheld else {}))
    (shown,) = published.policy_results
    assert shown.status == status and published.verdict == judgement.verdict
    assert published.counts == judgement.counts
    assert (shown.waiver is not None) == waived
    if withheld:
        assert (shown.observed, shown.ci_low, shown.ci_high) == (None, None, None)
        assert shown.value_withheld == SUPPRESSED_COMPLEMENTARY
        assert "withheld for privacy" in shown.message
        assert f"{value:.2f}" not in published.to_json().split('"policy_results"')[1]
    else:
        assert shown.observed == value and shown.value_withheld is None


@pytest.mark.parametrize(("undecided", "verdict"), [("warn", "warn"), ("block", "fail")])
def test_undecided_setting_decides_the_verdict(undecided: str, verdict: str) -> None:
    report = make_report([group("race", "Asian", 300, {"sensitivity": (0.75, 0.62, 0.80)})])
    by_policy = judge(report, [_policy("interval", undecided)])
    assert by_policy.verdict == verdict
    assert by_policy.results[0].undecided == undecided
    # the spec's setting overrides the policy's
    other = "warn" if undecided == "block" else "block"
    by_spec = judge(report, [_policy("interval", undecided)], undecided=other)
    assert by_spec.verdict == {"warn": "warn", "block": "fail"}[other]


def test_undecided_not_evaluable_blocking_check_is_never_silent() -> None:
    report = make_report([group("race", "Asian", 60, {"sensitivity": (0.9, 0.85, 0.95)})])
    doc = policy_doc(
        rule(
            "sens",
            {"kind": "metric", "metric": "sensitivity", "min": 0.7, "bound_on": "interval"},
            selector={"min_n": 100},
        )
    )
    j = judge(report, [load_policy_text(yaml.safe_dump(doc))])
    assert j.results[0].status == "not_evaluable" and j.verdict == "warn"
    text = verdict_summary(j.results).undecided_text()
    assert text.startswith("1 blocking check could not be decided: sens [race: Asian] (")
    assert "more patients in the group" in text


def test_waiver_for_all_groups_and_by_policy_prefix() -> None:
    report = make_report(
        [
            group("race", "Asian", 300, {"sensitivity": (0.5, 0.4, 0.6)}),
            group("race", "Black", 300, {"sensitivity": (0.5, 0.4, 0.6)}),
        ]
    )
    w = Waiver("test-policy/sens", None, "known", "committee", "2026-01-01")
    j = judge(report, [_policy("interval")], waivers=[w], today=TODAY)
    assert all(r.waiver is not None for r in j.results) and j.verdict == "pass"
    assert j.waivers[0].results == 2 and j.waivers[0].status == "active"
    other = Waiver("another-policy/sens", None, "known", "committee", "2026-01-01")
    assert judge(report, [_policy("interval")], waivers=[other], today=TODAY).verdict == "fail"


def test_waivers_from_the_spec_are_in_the_report_and_its_hash(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(400, seed=5))
    policy = tmp_path / "p.yaml"
    policy.write_text(
        yaml.safe_dump(
            policy_doc(
                rule(
                    "auroc-floor",
                    {"kind": "metric", "metric": "auroc", "min": 0.999, "bound_on": "estimate"},
                    selector={"attributes": ["sex"]},
                )
            )
        )
    )
    waivers = [
        {
            "rule": "auroc-floor",
            "group": "all",
            "reason": "demonstration",
            "approved_by": "Dr A, chair",
            "expires": "2099-12-31",
        },
        {
            "rule": "auroc-floor",
            "group": "female",
            "reason": "old",
            "approved_by": "Dr B",
            "expires": "2020-01-01",
        },
    ]
    common = {"bootstrap": 50, "explain": {"enabled": False}, "policy": "p.yaml"}
    spec = write_spec(tmp_path, waivers=waivers, **common)
    out = tmp_path / "out"
    result = cli("audit", spec, "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: the waiver of rule auroc-floor for group female expired on 2020-01-01" in (
        result.stderr
    )
    report = json.loads((out / "report.json").read_text())
    assert [w["status"] for w in report["waivers"]] == ["active", "expired"]
    assert report["waivers"][0]["results"] == 2
    assert all(
        r["status"] == "fail" and r["waiver"]["approved_by"] == "Dr A, chair"
        for r in report["policy_results"]
    )
    assert report["verdict"] == "pass" and report["counts"]["waived"] == 2
    assert "waivers" in report["provenance"]["sha256"]
    assert "2 results waived" in result.stdout.strip().splitlines()[-1]
    junit = (out / "junit.xml").read_text()
    assert "Waived: demonstration (approved by Dr A, chair, until 2099-12-31)" in junit
    # without the waivers the same audit fails
    spec2 = write_spec(tmp_path, "spec2.yaml", **common)
    again = cli("audit", spec2, "--out", tmp_path / "out2")
    assert again.returncode == 1


def test_withheld_group_below_the_rule_minimum_says_so_without_its_size() -> None:
    report = make_report([group("race", "Asian", 60, {"sensitivity": (0.9, 0.85, 0.95)})])
    doc = policy_doc(
        rule(
            "sens",
            {"kind": "metric", "metric": "sensitivity", "min": 0.7, "bound_on": "interval"},
            selector={"min_n": 100},
        )
    )
    j = judge(report, [load_policy_text(yaml.safe_dump(doc))])
    judged = report.model_copy(update={"policy_results": j.results})
    privacy = {group_key("race", "Asian"): Privacy("suppressed", SUPPRESSED_COMPLEMENTARY)}
    (shown,) = publish(judged, PublishPlan(privacy=privacy)).policy_results
    assert shown.status == "not_evaluable"
    assert shown.reason == (
        f"{SUPPRESSED_COMPLEMENTARY}; fewer patients than this rule's minimum (its selector's "
        "min_n)"
    )
    assert "60" not in shown.message
    assert "more patients in the group" in verdict_summary([shown]).undecided_text()
