"""Simultaneous intervals (policy ``intervals``) and the gate's false-failure rate."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from policy_helpers import FULL_CARD, make_report, policy_doc, rule, write_policy
from scipy.stats import norm

from auditor.errors import PolicyError
from auditor.judge.engine import judge
from auditor.judge.policy import load_policies
from auditor.measure.measurement import measure
from auditor.measure.simultaneous import bonferroni_level, joint_level
from auditor.reduce.stats import reduce_frame
from reports.model import Estimate, GroupResult

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def test_joint_level_lies_between_per_result_and_bonferroni():
    rng = np.random.default_rng(0)
    independent = [rng.normal(size=2000) for _ in range(6)]
    level = joint_level(independent)
    sidak = 0.95 ** (1 / 6)  # exact for independent members
    assert 0.95 < level <= bonferroni_level(6)
    assert level == pytest.approx(sidak, abs=0.004)
    same = rng.normal(size=2000)
    assert joint_level([same, same * 2, same + 1]) == pytest.approx(0.95, abs=0.003)
    assert joint_level([same]) == 0.95
    assert joint_level([None, None, None]) == bonferroni_level(3)


def _group(name: str, auroc: Estimate) -> GroupResult:
    return GroupResult(attribute="race", group=name, n=500, metrics={"auroc": auroc})


def test_the_judge_uses_the_interval_the_policy_names(tmp_path: Path):
    est = Estimate(estimate=0.74, ci_low=0.71, ci_high=0.77, joint_low=0.69, joint_high=0.79)
    report = make_report([_group("A", est), _group("B", est)])
    doc = policy_doc(
        rule("auroc", {"kind": "metric", "metric": "auroc", "min": 0.70, "bound_on": "interval"})
    )
    per_result = load_policies([write_policy(tmp_path, "p.yaml", doc)])
    joint = load_policies([write_policy(tmp_path, "j.yaml", {**doc, "intervals": "simultaneous"})])
    assert per_result[0].intervals == "per_result" and joint[0].intervals == "simultaneous"
    a = next(r for r in judge(report, per_result).results if r.group == "A")
    b = next(r for r in judge(report, joint).results if r.group == "A")
    assert (a.status, a.intervals, a.ci_low) == ("pass", "per_result", 0.71)
    assert (b.status, b.intervals, b.ci_low) == ("inconclusive", "simultaneous", 0.69)
    assert "simultaneous 95% CI 0.69–0.79" in b.message
    assert judge(report, joint).results and per_result[0].info().intervals == "per_result"
    assert joint[0].info().intervals == "simultaneous"


def test_intervals_is_inherited_and_checked(tmp_path: Path):
    child = write_policy(tmp_path, "c.yaml", policy_doc(extends="clinical-default"))
    assert load_policies([child])[0].intervals == "simultaneous"
    auroc = rule("auroc", {"kind": "metric", "metric": "auroc", "min": 0.7})
    bad = write_policy(tmp_path, "b.yaml", {**policy_doc(auroc), "intervals": "sometimes"})
    with pytest.raises(PolicyError) as err:
        load_policies([bad])
    assert "$.intervals" in str(err.value) and "simultaneous" in str(err.value)


def test_every_shipped_pack_states_its_choice_and_why():
    for path in sorted(POLICIES.glob("*.yaml")):
        text = path.read_text()
        doc = yaml.safe_load(text)
        assert doc.get("intervals") in ("per_result", "simultaneous"), path.name
        assert f"# intervals: {doc['intervals']}." in text, path.name


# ------------------------------------------------------------------ false failures

D = math.sqrt(2) * norm.ppf(0.70)
"""Binormal separation with AUROC exactly 0.70: every group at the discrimination bound."""


def _null_cohort(rng: np.random.Generator, per_group: int = 500, groups: int = 6):
    """6 groups, identical: AUROC 0.70 in each (at the bound, no breach), no sensitivity
    gap (truth 0, inside the -0.10 bound), prevalence 30%."""
    n = per_group * groups
    g = np.repeat([f"g{i}" for i in range(groups)], per_group)
    y = (rng.random(n) < 0.3).astype(int)
    latent = rng.normal(size=n) + D * y - 0.2
    s = np.round(1 / (1 + np.exp(-latent)), 4)
    return pd.DataFrame({"group": g}), y, s


def _gate(policy, rng: np.random.Generator, replicates: int) -> tuple[str, str]:
    frame, y, s = _null_cohort(rng)
    m = measure(
        reduce_frame(frame, y, s),
        views=["group"],
        thresholds=[0.5],
        bootstrap=replicates,
        seed=int(rng.integers(2**31)),
        metrics=["auroc", "sensitivity", "fnr", "calibration_slope", "calibration_intercept"],
    )
    report = make_report(list(m.groups), overall_group=m.overall, model_card=FULL_CARD)
    report = report.model_copy(update={"disparities": m.disparities, "attributes": m.attributes})
    simultaneous = judge(report, [policy]).verdict
    per_result = judge(report, [dataclasses.replace(policy, intervals="per_result")]).verdict
    return simultaneous, per_result


def _false_failures(cohorts: int, replicates: int) -> tuple[float, float]:
    policy = load_policies(["clinical-default"])[0]
    assert policy.intervals == "simultaneous"
    rng = np.random.default_rng(2026)
    joint = per = 0
    for _ in range(cohorts):
        a, b = _gate(policy, rng, replicates)
        # a simultaneous interval contains the per-result one: fewer failures, never more
        assert not (a == "fail" and b != "fail")
        joint += a == "fail"
        per += b == "fail"
    return joint / cohorts, per / cohorts


def _allowed(cohorts: int) -> float:
    """5% plus two Monte Carlo standard errors at 5%."""
    return 0.05 + 2 * math.sqrt(0.05 * 0.95 / cohorts)


def test_false_failure_rate_reduced():
    """Reduced form (runs by default): 60 null cohorts, 200 replicates each."""
    joint, per = _false_failures(60, 200)
    assert joint <= _allowed(60)
    assert per >= joint


@pytest.mark.slow
@pytest.mark.exhaustive
def test_false_failure_rate_full():
    """Full form (AUDITOR_EXHAUSTIVE=1; about 30 min): 1,000 null cohorts, 1,000
    replicates each (docs/statistics.md)."""
    joint, per = _false_failures(1000, 1000)
    assert joint <= _allowed(1000)
    assert per > joint
