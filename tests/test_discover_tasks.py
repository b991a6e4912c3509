"""Discovery for the survival, multiclass and regression tasks: each task's metrics,
their tests, the planted cohort, null calibration, determinism and every face."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from auditor.audit import discover_prepared, prepare, run_audit
from auditor.discover.synthetic import TASK_COLUMNS, TASK_MODEL, synthetic_task_cohort
from auditor.discover.task_tests import (
    compare_task,
    jackknife_c_index,
    km_greenwood,
)
from auditor.errors import SpecError
from auditor.load.spec_loader import load_spec, parse_spec
from auditor.tasks import task_metrics
from auditor.tasks.base import RowTable
from auditor.tasks.multiclass import MulticlassContext
from auditor.tasks.survival import c_index, context_for, km_at
from reports.render import render

PLANTED = "age ≥ 80 and site = B"
TASKS = ("survival", "multiclass", "regression")
PLANTED_METRIC = {"survival": "c_index", "multiclass": "under_triage_rate", "regression": "mae"}


def _raw(task: str, data: Path, **discover: object) -> dict:
    return {
        "name": f"planted {task}",
        "task": task,
        "data": str(data),
        **TASK_COLUMNS[task],
        "model": TASK_MODEL[task],
        "features": ["age", "comorbidity", "bmi"],
        "sensitive": ["sex", "site"],
        "threshold": 0.3,
        "bootstrap": 0,
        "explain": {"enabled": False},
        "discover": {"max_depth": 2, "features": ["age", "site", "language"], **discover},
    }


def _found(task: str, tmp: Path, *, n: int, data_seed: int, strength: float, **discover: object):
    frame = synthetic_task_cohort(
        task, n, seed=data_seed, planted=PLANTED if strength else None, strength=strength
    )
    path = tmp / f"{task}-{data_seed}-{strength}.csv"
    frame.to_csv(path, index=False)
    spec = parse_spec(_raw(task, path, **discover), base_dir=tmp)
    found = discover_prepared(prepare(spec))
    assert found is not None
    return found


# ------------------------------------------------------------- metric values and tests


def _survival_table(n: int, seed: int) -> RowTable:
    frame = synthetic_task_cohort("survival", n, seed=seed)
    return RowTable.from_arrays(
        {"time": frame["days"], "event": frame["died"], "risk": frame["risk"]}
    )


def test_jackknife_c_index_equals_the_registry_and_brute_force():
    table = _survival_table(60, seed=3)
    value, variance = jackknife_c_index(table)
    ctx = context_for(table, 365.0)
    assert value == pytest.approx(c_index(table, ctx)[0], abs=1e-12)
    # delete-one jackknife by brute force: drop each patient, recompute the registry's C
    loo = []
    for r, count in enumerate(table.count):
        counts = table.count.copy()
        counts[r] -= 1
        reduced = RowTable.from_arrays(table.columns, counts)
        loo += [c_index(reduced, ctx)[0]] * int(count)
    loo_arr = np.array(loo)
    n = loo_arr.size
    expected = (n - 1) / n * float(((loo_arr - loo_arr.mean()) ** 2).sum())
    assert variance == pytest.approx(expected, rel=1e-9)


def test_greenwood_equals_statsmodels_and_km_equals_the_registry():
    from statsmodels.duration.survfunc import SurvfuncRight

    frame = synthetic_task_cohort("survival", 400, seed=5)
    table = RowTable.from_arrays(
        {"time": frame["days"], "event": frame["died"], "risk": frame["risk"]}
    )
    s, var = km_greenwood(table, 365.0)
    assert s == pytest.approx(km_at(table, 365.0)[0], abs=1e-12)
    sf = SurvfuncRight(frame["days"].to_numpy(), frame["died"].to_numpy())
    k = int(np.searchsorted(sf.surv_times, 365.0, side="right")) - 1
    assert s == pytest.approx(sf.surv_prob[k], abs=1e-12)
    assert math.sqrt(var) == pytest.approx(sf.surv_prob_se[k], rel=1e-9)


def test_every_task_estimate_is_the_registry_value():
    rng = np.random.default_rng(0)
    frame = synthetic_task_cohort("survival", 800, seed=2)
    cols = {"time": frame["days"], "event": frame["died"], "risk": frame["risk"]}
    cut = rng.random(800) < 0.3
    table = RowTable.from_arrays(cols)
    inside = RowTable.from_arrays({k: np.asarray(v)[cut] for k, v in cols.items()})
    rest = RowTable.from_arrays({k: np.asarray(v)[~cut] for k, v in cols.items()})
    ctx = context_for(table, 365.0, threshold=0.3)
    for metric in ("c_index", "oe_ratio_t", "sensitivity_t"):
        test = compare_task("survival", metric, inside, rest, ctx)
        assert test is not None
        fn = task_metrics("survival")[metric].fn
        assert test.estimate == pytest.approx(fn(inside, ctx)[0], abs=1e-12)
        assert test.rest == pytest.approx(fn(rest, ctx)[0], abs=1e-12)
        assert test.ci_low <= test.estimate <= test.ci_high

    mc = synthetic_task_cohort("multiclass", 800, seed=2)
    mcols = {"label": mc["acuity"] - 1, "p_0": mc["p1"], "p_1": mc["p2"], "p_2": mc["p3"]}
    mctx = MulticlassContext(("1", "2", "3"), True)
    m_in = RowTable.from_arrays({k: np.asarray(v)[cut] for k, v in mcols.items()})
    m_out = RowTable.from_arrays({k: np.asarray(v)[~cut] for k, v in mcols.items()})
    for metric in ("under_triage_rate", "over_triage_rate", "accuracy"):
        test = compare_task("multiclass", metric, m_in, m_out, mctx)
        assert test is not None
        fn = task_metrics("multiclass")[metric].fn
        assert test.estimate == pytest.approx(fn(m_in, mctx)[0], abs=1e-12)
        assert test.rest == pytest.approx(fn(m_out, mctx)[0], abs=1e-12)


def test_regression_tests_are_welch_t_on_the_errors():
    frame = synthetic_task_cohort("regression", 600, seed=4, planted=PLANTED, strength=0.5)
    cut = np.asarray((frame["site"] == "B").to_numpy())
    y, p = frame["los"].to_numpy(), frame["predicted"].to_numpy()
    inside = RowTable.from_arrays({"label": y[cut], "prediction": p[cut]})
    rest = RowTable.from_arrays({"label": y[~cut], "prediction": p[~cut]})
    mae = compare_task("regression", "mae", inside, rest, None)
    assert mae is not None
    assert mae.estimate == pytest.approx(np.mean(np.abs(p[cut] - y[cut])), abs=1e-12)
    ref = stats.ttest_ind(
        np.abs(p[cut] - y[cut]), np.abs(p[~cut] - y[~cut]), equal_var=False, alternative="greater"
    )
    assert mae.z == pytest.approx(ref.statistic, rel=1e-9)
    assert mae.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    for direction, alternative in ((1, "greater"), (-1, "less")):
        bias = compare_task("regression", "mean_error", inside, rest, None, direction=direction)
        ref = stats.ttest_ind(
            p[cut] - y[cut], p[~cut] - y[~cut], equal_var=False, alternative=alternative
        )
        assert bias is not None
        assert bias.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_multiclass_proportion_test_matches_statsmodels():
    from statsmodels.stats.proportion import proportions_ztest

    mc = synthetic_task_cohort("multiclass", 900, seed=6, planted=PLANTED, strength=1.0)
    cut = np.asarray(((mc["age"] >= 80) & (mc["site"] == "B")).to_numpy())
    cols = {"label": mc["acuity"] - 1, "p_0": mc["p1"], "p_1": mc["p2"], "p_2": mc["p3"]}
    ctx = MulticlassContext(("1", "2", "3"), True)
    inside = RowTable.from_arrays({k: np.asarray(v)[cut] for k, v in cols.items()})
    rest = RowTable.from_arrays({k: np.asarray(v)[~cut] for k, v in cols.items()})
    test = compare_task("multiclass", "under_triage_rate", inside, rest, ctx)
    assert test is not None
    frac = task_metrics("multiclass")["under_triage_rate"].fraction
    k1, n1 = frac(inside, ctx)
    k2, n2 = frac(rest, ctx)
    z, p = proportions_ztest([k1, k2], [n1, n2], alternative="larger")
    assert test.z == pytest.approx(z, rel=1e-9)
    assert test.p_value == pytest.approx(p, rel=1e-9)


# --------------------------------------------------------------- planted, null, seeds


@pytest.mark.parametrize("task", TASKS)
def test_planted_cohort_is_found_and_confirmed(task, tmp_path):
    found = _found(task, tmp_path, n=3000, data_seed=1, strength=1.0)
    hits = [c for c in found.cohorts if c.description == PLANTED]
    assert hits, found.summary
    hit = next((c for c in hits if c.metric == PLANTED_METRIC[task]), hits[0])
    assert hit.q_value <= found.searched.fdr
    assert hit.ci_low <= hit.estimate <= hit.ci_high
    assert PLANTED in found.summary or found.status == "found"


def _null_fraction(task: str, tmp: Path, runs: int) -> float:
    hits = 0
    for seed in range(runs):
        found = _found(
            task, tmp, n=1500, data_seed=100 + seed, strength=0.0, features=["site", "language"]
        )
        hits += bool(found.cohorts)
    return hits / runs


def _mc_bound(level: float, runs: int) -> float:
    return level + 2 * math.sqrt(level * (1 - level) / runs)


@pytest.mark.parametrize("task", TASKS)
def test_null_cohorts_rarely_confirmed_reduced(task, tmp_path):
    runs = 20
    assert _null_fraction(task, tmp_path, runs) <= _mc_bound(0.05, runs)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_null_cohorts_rarely_confirmed_100_runs(task, tmp_path):
    runs = 100
    assert _null_fraction(task, tmp_path, runs) <= _mc_bound(0.05, runs)


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_section(task, tmp_path):
    a = _found(task, tmp_path, n=1500, data_seed=2, strength=1.0, max_depth=1)
    b = _found(task, tmp_path, n=1500, data_seed=2, strength=1.0, max_depth=1)
    c = _found(task, tmp_path, n=1500, data_seed=2, strength=1.0, max_depth=1, seed=7)
    assert a.model_dump_json() == b.model_dump_json()
    assert c.searched.seed == 7 and c.model_dump_json() != a.model_dump_json()


# ------------------------------------------------------------------ spec and gate


def test_default_metrics_per_task(tmp_path):
    for task, expected in (
        ("survival", ["c_index", "oe_ratio_t", "sensitivity_t"]),
        ("multiclass", ["under_triage_rate", "accuracy"]),
        ("regression", ["mae", "mean_error"]),
    ):
        raw = _raw(task, tmp_path / "x.csv")
        raw["discover"] = True
        spec = parse_spec(raw, base_dir=tmp_path)
        assert list(spec.discover.metrics) == expected
    raw = _raw("multiclass", tmp_path / "x.csv")
    raw["label"] = {**raw["label"], "ordered": False}
    raw["discover"] = {}
    assert list(parse_spec(raw, base_dir=tmp_path).discover.metrics) == ["accuracy"]


def test_metric_of_another_task_is_refused_with_the_path(tmp_path):
    raw = _raw("regression", tmp_path / "x.csv", metrics=["mae", "auroc"])
    with pytest.raises(SpecError) as err:
        from auditor.load.spec_loader import validate_spec

        validate_spec(parse_spec(raw, base_dir=tmp_path))
    assert "$.discover.metrics[1]: auroc cannot be searched for a regression audit" in str(
        err.value
    )
    raw = _raw("multiclass", tmp_path / "x.csv", metrics=["under_triage_rate"])
    raw["label"] = {**raw["label"], "ordered": False}
    with pytest.raises(SpecError) as err:
        from auditor.load.spec_loader import validate_spec

        validate_spec(parse_spec(raw, base_dir=tmp_path))
    assert "$.discover.metrics[0]: under_triage_rate needs ordered classes" in str(err.value)


@pytest.fixture(scope="module")
def task_reports(tmp_path_factory):
    """One audit per task with a planted cohort, every face rendered."""
    out = {}
    for task in TASKS:
        tmp = tmp_path_factory.mktemp(task)
        frame = synthetic_task_cohort(task, 3000, seed=1, planted=PLANTED, strength=1.0)
        frame.to_csv(tmp / "cohort.csv", index=False)
        raw = _raw(task, tmp / "cohort.csv")
        raw["data"] = "cohort.csv"
        metric = PLANTED_METRIC[task]
        bound = {"min": 0.6} if metric == "c_index" else {"max_ratio_to_rest": 1.2}
        raw["policy"] = "gate.yaml"
        (tmp / "gate.yaml").write_text(
            yaml.safe_dump(
                {
                    "id": "gate",
                    "title": "discovery gate",
                    "version": "1",
                    "rules": [
                        {
                            "id": "discovered",
                            "title": "discovered cohorts",
                            "severity": "warn",
                            "rationale": "a test gate on the task's discovered cohorts",
                            "source": "this test",
                            "check": {"kind": "discovery", "metric": metric, **bound},
                        }
                    ],
                }
            )
        )
        (tmp / "spec.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
        result = run_audit(load_spec(tmp / "spec.yaml"))
        render(result.report, tmp / "out")
        out[task] = (result.report, tmp / "out")
    return out


@pytest.mark.parametrize("task", TASKS)
def test_every_face_shows_the_task_cohort(task_reports, task):
    report, out = task_reports[task]
    assert report.cohorts_found is not None and report.cohorts_found.cohorts
    data = json.loads((out / "report.json").read_text())
    assert any(c["description"] == PLANTED for c in data["cohorts_found"]["cohorts"])
    for face in ("report.html", "summary.md", "junit.xml"):
        text = (out / face).read_text()
        assert "Cohorts found" in text or 'name="cohorts_found"' in text, face
        assert PLANTED.replace("≥", "&ge;") in text or PLANTED in text, face
    from pypdf import PdfReader

    for pdf in ("report.pdf", "governance.pdf"):
        text = " ".join((p.extract_text() or "") for p in PdfReader(out / pdf).pages)
        flat = " ".join(text.split())
        assert "Cohorts found" in flat and PLANTED in flat, pdf


@pytest.mark.parametrize("task", TASKS)
def test_discovery_rule_judges_the_task_metric(task_reports, task):
    report, _ = task_reports[task]
    results = [r for r in report.policy_results if r.rule_id == "discovered"]
    assert results
    planted = [r for r in results if PLANTED in r.message and r.metric == PLANTED_METRIC[task]]
    assert planted and all(r.status == "fail" for r in planted)


@pytest.mark.parametrize("task", TASKS)
def test_published_task_cohorts_pin_no_small_count(task_reports, task):
    """The attack on each task's published section: the cohorts' rows on the
    confirmation half (rebuilt from their conditions and the seeded split), every shown
    count an equation, no union of Venn atoms with 1 to 10 patients or events pinned."""
    from auditor.discover.search import split_halves
    from tests.test_discover_privacy import attack

    report, _out = task_reports[task]
    frame = synthetic_task_cohort(task, 3000, seed=1, planted=PLANTED, strength=1.0)
    if task == "survival":
        events = ((frame["died"] == 1) & (frame["days"] <= 365)).to_numpy()
        strata = events.astype(int)
    elif task == "multiclass":
        events = (frame["acuity"] < 3).to_numpy()
        strata = frame["acuity"].to_numpy()
    else:
        events = None
        y = frame["los"].to_numpy()
        strata = np.searchsorted(np.quantile(y, [0.25, 0.5, 0.75]), y, side="right")
    confirm = ~split_halves(strata, report.cohorts_found.searched.seed)
    shown = [c for c in report.cohorts_found.cohorts if c.n is not None]
    assert shown
    ops = {
        "==": lambda c, v: c.astype(str) == str(v),
        ">=": lambda c, v: c >= v,
        "<": lambda c, v: c < v,
    }
    masks = []
    published = []
    for c in shown:
        m = np.ones(len(frame), bool)
        for w in c.conditions:
            m &= ops[w["op"]](frame[w["column"]], w["value"]).to_numpy()
        masks.append(m[confirm])
        counts = {"patients": c.n}
        if events is not None:
            counts["events"] = c.n_events
        published.append(counts)
        assert int(m[confirm].sum()) == c.n
    kinds = {"patients": np.ones(int(confirm.sum()), bool)}
    if events is not None:
        kinds["events"] = events[confirm]
        kinds["non-events"] = ~events[confirm]
    assert attack(masks, published, kinds) == []
