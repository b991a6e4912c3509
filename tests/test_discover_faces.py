"""Cohorts found on every face, the discovery rule, spec errors and the privacy attack."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.audit import run_audit
from auditor.discover.synthetic import synthetic_cohort
from auditor.load.spec_loader import load_spec
from auditor.privacy.cohorts import protect_cohorts
from reports import render
from reports.model import SCHEMA_VERSION, CohortsFound, DiscoveredCohort, DiscoverySearch

PLANTED = "age ≥ 80 and site = B"


@pytest.fixture(scope="module")
def planted_spec(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("planted")
    frame, labels, scores = synthetic_cohort(6000, seed=1, planted=PLANTED, strength=0.8)
    frame["outcome"] = labels
    frame["score"] = scores
    frame.to_csv(folder / "cohort.csv", index=False)
    spec = {
        "name": "planted",
        "data": "cohort.csv",
        "label": {"column": "outcome", "positive": 1},
        "model": {"score_column": "score"},
        "features": ["age", "comorbidity", "language", "bmi"],
        "sensitive": ["sex", "site"],
        "threshold": 0.2,
        "bootstrap": 50,
        "explain": {"enabled": False},
        "discover": {"max_depth": 2},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    return folder / "spec.yaml"


@pytest.fixture(scope="module")
def planted_report(planted_spec, tmp_path_factory):
    result = run_audit(load_spec(planted_spec))
    out = tmp_path_factory.mktemp("out")
    render(result.report, out, ("json", "html", "md", "junit"))
    return result.report, out


def test_every_face_shows_the_cohort_in_words(planted_report):
    _report, out = planted_report
    data = json.loads((out / "report.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    described = [c["description"] for c in data["cohorts_found"]["cohorts"]]
    assert PLANTED in described
    html = (out / "report.html").read_text()
    assert "Cohorts found" in html and PLANTED in html
    md = (out / "summary.md").read_text()
    assert "### Cohorts found" in md and PLANTED in md
    how = "How they were found: each by beam search on the search half"
    assert how in html and how in md
    junit = (out / "junit.xml").read_text()
    assert 'name="cohorts_found"' in junit and PLANTED in junit


def test_governance_and_report_pdf_views_show_the_cohort(planted_report):
    from reports.html import governance_html, report_html

    report, _ = planted_report
    assert PLANTED in report_html(report)
    governance = governance_html(report)
    first = html.escape(report.cohorts_found.cohorts[0].description, quote=False)
    assert "Cohorts found beyond the named groups" in governance and first in governance


def test_both_pdfs_show_the_cohorts_found(planted_report, tmp_path):
    from pypdf import PdfReader

    report, _ = planted_report
    render(report, tmp_path, ("pdf",))
    first = report.cohorts_found.cohorts[0].description
    for name, heading, cohort in (
        ("report.pdf", "Cohorts found", PLANTED),
        ("governance.pdf", "Cohorts found beyond the named groups", first),
    ):
        text = " ".join((page.extract_text() or "") for page in PdfReader(tmp_path / name).pages)
        flat = " ".join(text.split())
        assert heading in flat, name
        assert cohort in flat, name
    assert len(PdfReader(tmp_path / "governance.pdf").pages) <= 5


def test_discovery_rule_warns_on_the_planted_cohort(planted_report):
    report, _ = planted_report
    rows = [r for r in report.policy_results if r.rule_id == "discovered-cohort-discrimination"]
    failed = [r for r in rows if r.status == "fail"]
    assert any(PLANTED in r.message for r in failed)
    assert all(r.severity == "warn" for r in rows)


def test_discovery_rule_not_evaluable_without_a_search(tmp_path, planted_spec):
    raw = yaml.safe_load(planted_spec.read_text())
    raw.pop("discover")
    raw["data"] = str(planted_spec.parent / "cohort.csv")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    report = run_audit(load_spec(tmp_path / "spec.yaml")).report
    assert report.cohorts_found is None
    rows = [r for r in report.policy_results if r.check == "discovery"]
    assert {r.status for r in rows} == {"not_evaluable"}
    assert rows[0].reason == "no discovery search ran (the spec has no discover: block)"


def test_cli_discover_prints_the_cohort_and_json(planted_spec):
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", str(planted_spec)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Cohorts found: Searched ")
    assert PLANTED in out.stdout
    js = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", str(planted_spec), "--json"],
        capture_output=True,
        text=True,
    )
    assert CohortsFound.model_validate_json(js.stdout).status == "found"


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"min_size": 5},
            "$.discover.min_size: 5 is below the privacy floor (min_cell_size 11): a "
            "discovered cohort must be at least as large as the smallest group the report "
            "may publish",
        ),
        ({"metrics": ["brier"]}, "$.discover.metrics[0]"),
        ({"depth": 2}, "$.discover.depth"),
    ],
)
def test_bad_discover_block_exits_2_with_the_path(tmp_path, planted_spec, block, expected):
    raw = yaml.safe_load(planted_spec.read_text())
    raw["discover"] = block
    raw["data"] = str(planted_spec.parent / "cohort.csv")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True))
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", str(spec)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_discover_column_exits_2(tmp_path, planted_spec):
    raw = yaml.safe_load(planted_spec.read_text())
    raw["discover"] = {"features": ["age", "ward"]}
    raw["data"] = str(planted_spec.parent / "cohort.csv")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True))
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", str(spec)], capture_output=True, text=True
    )
    assert out.returncode == 2
    from auditor.load.data import COLUMN_MISSING, _close_match, _list_columns
    from auditor.load.spec import display_path

    csv = planted_spec.parent / "cohort.csv"
    columns = list(__import__("pandas").read_csv(csv, nrows=0).columns)
    expected = COLUMN_MISSING.format(
        file=display_path(csv),
        column="ward",
        path="$.discover.features[1]",
        spec=display_path(spec),
        hint=_close_match("ward", columns),
        columns=_list_columns(columns),
    )
    assert out.stderr == f"error: {expected}\n"


def _cohort(cid: str, metric: str = "auroc") -> DiscoveredCohort:
    return DiscoveredCohort(
        id=cid,
        description=cid,
        conditions=[],
        depth=1,
        metric=metric,
        estimate=0.6,
        ci_low=0.5,
        ci_high=0.7,
        rest=0.8,
        difference=-0.2,
        p_value=0.001,
        q_value=0.01,
        n=0,
        n_events=0,
        found_by="test",
    )


def _section(*cohorts: DiscoveredCohort) -> CohortsFound:
    searched = DiscoverySearch(
        features=[],
        metrics=["auroc"],
        max_depth=1,
        min_size=100,
        min_events=20,
        fdr=0.05,
        correction="by",
        seed=0,
        rows_search=0,
        rows_confirm=0,
        cohorts_evaluated=0,
        hypotheses_tested=0,
        max_candidates=50,
        cap_reached=False,
        confirmed_before_pruning=0,
        pruned=0,
    )
    return CohortsFound(status="found", summary="", searched=searched, cohorts=list(cohorts))


def test_subtraction_between_nested_cohorts_reveals_no_small_count():
    rng = np.random.default_rng(0)
    n = 1000
    labels = (rng.random(n) < 0.3).astype(np.int64)
    scores = rng.random(n)
    outer = np.zeros(n, bool)
    outer[:300] = True
    inner = outer.copy()
    inner[:4] = False  # 4 patients apart: subtraction would reveal a count of 4
    apart = outer.copy()
    apart[:40] = False  # 40 apart with >= 11 events and non-events: safe
    labels[:40] = np.r_[np.ones(20), np.zeros(20)]
    section = _section(_cohort("C1"), _cohort("C2"), _cohort("C3"))
    out = protect_cohorts(
        section,
        {"C1": outer, "C2": inner, "C3": apart},
        labels,
        scores,
        threshold=0.5,
        min_cell_size=11,
        rounding=3,
    )
    by_id = {c.id: c for c in out.cohorts}
    assert by_id["C1"].n == 300
    assert by_id["C2"].n is None and by_id["C2"].n_events is None
    assert by_id["C2"].counts_withheld == (
        "withheld: subtracting it from cohort C1 would give a count between 1 and 10"
    )
    assert by_id["C3"].n == 260
    # the attack: every difference of two published nested counts is 0 or >= 11
    shown = [c for c in out.cohorts if c.n is not None]
    masks = {"C1": outer, "C2": inner, "C3": apart}
    for a in shown:
        for b in shown:
            if a.id != b.id and np.array_equal(masks[a.id] & masks[b.id], masks[a.id]):
                for x, y in ((a.n, b.n), (a.n_events, b.n_events)):
                    assert not 0 < abs(x - y) < 11


def test_fnr_cohort_with_few_misses_withholds_its_event_count():
    labels = np.r_[np.ones(30), np.zeros(170)].astype(np.int64)
    scores = np.r_[np.full(3, 0.1), np.full(27, 0.9), np.full(170, 0.2)]
    mask = np.ones(200, bool)
    out = protect_cohorts(
        _section(_cohort("C1", "fnr")),
        {"C1": mask},
        labels,
        scores,
        threshold=0.5,
        min_cell_size=11,
        rounding=3,
    )
    c = out.cohorts[0]
    assert c.n is None and c.n_events is None  # FNR x events would give 3 misses
    assert c.counts_withheld == "withheld: a count derived from it would be between 1 and 10"


def test_published_report_holds_no_derivable_small_count(planted_report):
    """The attack on the real report: nested published cohorts, subtracted."""
    report, _ = planted_report
    frame, labels, _scores = synthetic_cohort(6000, seed=1, planted=PLANTED, strength=0.8)
    from auditor.discover.search import split_halves

    confirm = ~split_halves(labels, 0)
    shown = [c for c in report.cohorts_found.cohorts if c.n is not None]
    assert shown
    for c in shown:
        assert c.n >= 100 and c.n_events >= 20 and c.n - c.n_events >= 11
    masks = {}
    for c in shown:
        m = confirm.copy()
        for w in c.conditions:
            col = frame[w["column"]]
            m &= {
                "==": col.astype(str) == str(w["value"]),
                ">=": col >= w["value"],
                "<": col < w["value"],
            }[w["op"]].to_numpy()
        masks[c.id] = m
    for a in shown:
        for b in shown:
            if a.id != b.id and np.array_equal(masks[a.id] & masks[b.id], masks[a.id]):
                assert not 0 < b.n - a.n < 11
                assert not 0 < b.n_events - a.n_events < 11


def test_demo_spec_has_a_discover_block():
    from auditor.load.examples import demo_spec_path

    assert load_spec(demo_spec_path()).discover is not None


def test_named_group_from_a_discovery_holds_under_the_attack_suite(tmp_path, planted_spec):
    """A discovered cohort added as a named group is published under the same plan as
    every attribute: the independent linear-programme reader recovers no small count."""
    sys.path.insert(0, str(Path(__file__).parent))
    from attack import Reader

    raw = yaml.safe_load(planted_spec.read_text())
    raw["data"] = str(planted_spec.parent / "cohort.csv")
    raw.pop("discover")
    raw["named_groups"] = [
        {
            "name": "old site B",
            "where": [
                {"column": "age", "op": ">=", "value": 80},
                {"column": "site", "op": "==", "value": "B"},
            ],
        },
        {  # a tiny cohort: 1 to 10 patients must never be derivable
            "name": "oldest site B",
            "where": [
                {"column": "age", "op": ">=", "value": 99},
                {"column": "site", "op": "==", "value": "B"},
                {"column": "sex", "op": "==", "value": "male"},
                {"column": "language", "op": "==", "value": "es"},
            ],
        },
    ]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True))
    report = run_audit(load_spec(spec)).report
    payload = json.loads(report.to_json())
    tiny = [g for g in payload["groups"] if g["attribute"] == "oldest site B"]
    frame = pd.read_csv(planted_spec.parent / "cohort.csv")
    true_n = int(
        (
            (frame["age"] >= 99)
            & (frame["site"] == "B")
            & (frame["sex"] == "male")
            & (frame["language"] == "es")
        ).sum()
    )
    assert 0 < true_n < 11
    assert tiny and all(g["suppressed"] for g in tiny)
    assert Reader(payload).recovered() == []


def test_discovery_on_the_streaming_engine_searches_a_uniform_sample(tmp_path, planted_spec):
    """The streaming engine keeps a sample, not every row: discovery searches a uniform
    random sample of every row (the stratified one over-represents small cells), finds
    the planted cohort there, says so, and is the same run after run."""
    raw = yaml.safe_load(planted_spec.read_text())
    raw["data"] = str(planted_spec.parent / "cohort.csv")
    raw["engine"] = {"kind": "streaming", "sample_rows": 4000}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, allow_unicode=True))
    command = [sys.executable, "-m", "auditor", "discover", str(spec), "--json"]
    out = subprocess.run(command, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    section = json.loads(out.stdout)
    assert PLANTED in [c["description"] for c in section["cohorts"]]
    searched = section["searched"]
    assert searched["rows_search"] + searched["rows_confirm"] == 4000
    assert "uniform random sample of 4,000 of 6,000 rows" in section["summary"]
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.stdout == out.stdout
