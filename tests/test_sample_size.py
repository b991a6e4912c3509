"""What would decide it: precision achieved and the sample size that decides a result."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from load_helpers import make_cohort, write_cohort, write_spec

from auditor.judge import sample_size as ss
from auditor.measure.measurement import _riley_information
from auditor.reduce.stats import ScoreTable
from reports.html import governance_html
from reports.model import Estimate, GroupResult, Report

Z = ss.Z


def _group(n_pos: int, n_neg: int, metrics: dict[str, float], n: int | None = None) -> GroupResult:
    est = {"n_positive": n_pos, "n_negative": n_neg, **metrics}
    return GroupResult(
        attribute="age band",
        group="85-94",
        n=n if n is not None else n_pos + n_neg,
        metrics={k: Estimate(estimate=float(v)) for k, v in est.items()},
    )


def test_proportion_uses_the_normal_approximation():
    p, bound, pos, neg = 0.65, 0.70, 100, 300
    g = _group(pos, neg, {"sensitivity": p, "selection_rate": 0.4})
    half = Z * math.sqrt(p * (1 - p) / pos)  # a textbook 95% interval
    prec = ss.precision("sensitivity", p, p - half, p + half, bound, None, False, g)
    needed_events = Z**2 * p * (1 - p) / (bound - p) ** 2
    assert prec.formula == ss.FORMULA_PROPORTION
    assert prec.more_events == ss.significant(needed_events - pos)
    assert prec.more_patients == ss.significant((needed_events - pos) / 0.25)
    assert prec.width == pytest.approx(2 * half)
    assert prec.target_width == pytest.approx(0.10)
    # a wider (e.g. simultaneous) interval needs proportionally more
    wider = ss.precision("sensitivity", p, p - 1.3 * half, p + 1.3 * half, bound, None, False, g)
    assert wider.more_events == ss.significant(1.3**2 * needed_events - pos)


def test_decided_results_report_precision_only():
    g = _group(100, 300, {"sensitivity": 0.8})
    prec = ss.precision("sensitivity", 0.8, 0.75, 0.85, 0.7, None, True, g)
    assert prec.width == pytest.approx(0.10) and prec.more_patients is None


def test_auroc_uses_newcombes_variance_as_in_riley_2021():
    c, n, phi = 0.72, 400, 0.25
    h = n / 2 - 1
    expected = (
        c * (1 - c) * (1 + h * (1 - c) / (2 - c) + h * c / (1 + c)) / (n * n * phi * (1 - phi))
    )
    assert ss.auroc_variance(c, n, phi) == pytest.approx(expected)
    g = _group(100, 300, {"auroc": c})
    half = Z * math.sqrt(expected)
    prec = ss.precision("auroc", c, c - half, c + half, 0.70, None, False, g)
    grown = 400 + prec.more_patients
    # the grown sample's half-width is about the distance to the bound (2 significant figures)
    assert Z * math.sqrt(ss.auroc_variance(c, grown, phi)) == pytest.approx(0.02, rel=0.06)
    assert prec.formula == ss.FORMULA_AUROC


def test_oe_ratio_uses_riley_2021():
    phi, n, oe = 0.2, 500, 1.15
    g = _group(100, 400, {"oe_ratio": oe})
    se = math.sqrt((1 - phi) / (n * phi))
    prec = ss.precision(
        "oe_ratio", oe, oe * math.exp(-Z * se), oe * math.exp(Z * se), 0.8, 1.25, False, g
    )
    needed = Z**2 * (1 - phi) / (phi * math.log(1.25 / oe) ** 2)
    assert prec.more_patients == ss.significant(needed - n)
    assert prec.formula == ss.FORMULA_OE


def test_calibration_slope_variance_matches_logistic_regression():
    """Riley et al.'s var(slope) = I_a / (n (I_a I_b - I_ab^2)) equals the fitted model's."""
    rng = np.random.default_rng(0)
    n = 20000
    s = 1 / (1 + np.exp(-rng.normal(-1.2, 1.1, n)))
    y = (rng.random(n) < s).astype(int)
    info = _riley_information(ScoreTable.from_arrays(s, y))
    assert info is not None
    lp = np.log(s / (1 - s))
    fit = sm.Logit(y, sm.add_constant(lp)).fit(disp=0)
    assert ss.slope_variance_unit(info) / n == pytest.approx(fit.bse[1] ** 2, rel=0.1)


def test_reference_group_too_imprecise_says_so():
    g = _group(5000, 5000, {"sensitivity": 0.55})
    ref = _group(20, 80, {"sensitivity": 0.60})
    prec = ss.precision(
        "sensitivity",
        -0.05,
        -0.30,
        0.20,
        -0.10,
        None,
        False,
        g,
        reference=ref,
        reference_value=0.60,
        kind="difference",
    )
    assert prec.more_patients is None and prec.reason == ss.REFERENCE_LIMITS


def _audit(tmp_path: Path, formats: str) -> Path:
    frame = make_cohort(700, seed=11)
    write_cohort(tmp_path, frame)
    spec = write_spec(tmp_path, bootstrap=120, threshold=0.2)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "audit",
            str(spec),
            "--out",
            str(out),
            "--format",
            formats,
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 1), run.stderr
    return out


def test_every_face_shows_what_would_decide_it(tmp_path: Path):
    out = _audit(tmp_path, "json,md,junit,html")
    report = json.loads((out / "report.json").read_text())
    policy = report["policies"][0]
    assert policy["id"] == "clinical-default" and policy["intervals"] == "simultaneous"
    interval = [
        r for r in report["policy_results"] if (r.get("bound") or {}).get("on") == "interval"
    ]
    judged = [r for r in interval if r["status"] in ("pass", "fail", "inconclusive")]
    assert judged and all(r["intervals"] in ("simultaneous", "per_result") for r in judged)
    assert all(r["precision"]["width"] > 0 for r in judged if r.get("precision"))
    undecided = [
        r
        for r in judged
        if r["status"] == "inconclusive" and (r.get("precision") or {}).get("statement")
    ]
    assert undecided, "the example audit has undecided results"
    statement = undecided[0]["precision"]["statement"]
    assert statement.startswith("About ") and "would decide the" in statement
    assert undecided[0]["precision"]["formula"]
    # a decision on a simultaneous interval is judged on the wider joint interval
    for r in judged:
        if r["intervals"] == "simultaneous" and r["check"] == "metric":
            g = next(
                g
                for g in [report["overall"], *report["groups"]]
                if g["group"] == r["group"] and g["attribute"] == r["attribute"]
            )
            est = g["metrics"][r["metric"]]
            assert (r["ci_low"], r["ci_high"]) == (est["joint_low"], est["joint_high"])
            assert est["joint_low"] <= est["ci_low"] and est["joint_high"] >= est["ci_high"]
    assert statement.rstrip(".") in (out / "summary.md").read_text()
    assert statement.rstrip(".") in (out / "junit.xml").read_text()
    assert statement.rstrip(".") in (out / "report.html").read_text()
    governance = governance_html(
        Report.model_validate(report), report_pdf_sha256=None, output_hashes={}
    )
    assert "What would decide the undecided results" in governance
    assert statement in governance
    assert "simultaneous 95% interval" in governance


def test_an_undecided_result_without_interval_says_why():
    g = _group(100, 300, {"auroc": 0.69})
    prec = ss.precision("auroc", 0.69, None, None, 0.70, None, False, g)
    assert prec.reason == ss.NO_INTERVAL and prec.more_patients is None and prec.width is None


def _task_group(n: int, metrics: dict[str, tuple[float, float, float]], events: int | None = None):
    est = {k: Estimate(estimate=v, ci_low=lo, ci_high=hi) for k, (v, lo, hi) in metrics.items()}
    if events is not None:
        est["n_events"] = Estimate(estimate=float(events))
    return GroupResult(attribute="sex", group="female", n=n, metrics=est)


def test_a_task_metric_scales_its_own_interval_by_root_n():
    """Regression/multiclass/survival groups have no binary counts: the interval's
    half-width facing the bound shrinks as 1/sqrt(n)."""
    g = _task_group(400, {"mae": (2.0, 1.6, 2.4)})
    prec = ss.precision("mae", 2.0, 1.7, 2.3, None, 2.2, False, g)
    needed = 400 * (0.3 / 0.2) ** 2  # half-width 0.3 facing the bound, 0.2 away
    assert prec.formula == ss.FORMULA_ROOT_N
    assert prec.more_patients == ss.significant(needed - 400)
    assert prec.more_events is None and prec.n_events is None and prec.n == 400


def test_a_survival_metric_counts_events_at_the_groups_rate():
    g = _task_group(300, {"auc_t": (0.75, 0.63, 0.86)}, events=90)
    prec = ss.precision("auc_t", 0.75, 0.63, 0.86, 0.70, None, False, g)
    more = 300 * (0.12 / 0.05) ** 2 - 300
    assert prec.more_patients == ss.significant(more)
    assert prec.more_events == ss.significant(more * 90 / 300) and prec.n_events == 90


def test_a_task_ratio_is_scaled_on_the_log_scale():
    g = _task_group(200, {"oe_ratio_t": (1.1, 0.8, 1.5)})
    prec = ss.precision("oe_ratio_t", 1.1, 0.85, 1.45, 0.8, 1.25, False, g)
    scale, half = math.log(1.25 / 1.1), math.log(1.45 / 1.1)
    assert prec.more_patients == ss.significant(200 * (half / scale) ** 2 - 200)


def test_a_task_comparison_adds_both_groups_variances():
    g = _task_group(300, {"under_triage_rate": (0.20, 0.16, 0.24)})
    ref = _task_group(900, {"under_triage_rate": (0.12, 0.10, 0.14)})
    prec = ss.precision(
        "under_triage_rate",
        0.08,
        0.0,
        0.16,
        None,
        0.15,
        False,
        g,
        reference=ref,
        reference_value=0.12,
        kind="difference",
    )
    v_g, v_r = (0.08 / (2 * Z)) ** 2, (0.04 / (2 * Z)) ** 2
    z = 0.08 / math.sqrt(v_g + v_r)
    needed = v_g * 300 / ((0.07 / z) ** 2 - v_r)
    assert needed > 300 and prec.more_patients == ss.significant(needed - 300)
    # a reference too imprecise on its own cannot be outgrown
    loose = _task_group(40, {"under_triage_rate": (0.12, 0.0, 0.4)})
    stuck = ss.precision(
        "under_triage_rate", 0.08, 0.02, 0.14, None, 0.10, False, g,
        reference=loose, reference_value=0.12, kind="difference",
    )  # fmt: skip
    assert stuck.more_patients is None and stuck.reason == ss.REFERENCE_LIMITS


def test_the_survival_demo_says_what_would_decide_it(tmp_path: Path):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "auditor", "demo", "--task", "survival", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 1), run.stderr
    report = json.loads((out / "report.json").read_text())
    statements = [
        r["precision"]["statement"]
        for r in report["policy_results"]
        if r["status"] == "inconclusive" and (r.get("precision") or {}).get("statement")
    ]
    assert statements and all("would decide the" in s for s in statements)
    assert ss.COUNTS_MISSING not in (out / "summary.md").read_text()
