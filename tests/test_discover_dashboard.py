"""The Cohorts found view: browse, add one as a named group, and the audit measures it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from auditor.audit import run_audit
from auditor.dashboard import inputs
from auditor.dashboard.cohorts import ADD_LABEL, SPEC_KEY
from auditor.discover.named import COHORT_NOT_NAMEABLE, suggest_name, with_named_group
from auditor.discover.synthetic import synthetic_cohort
from auditor.errors import SpecError
from auditor.load.spec_loader import load_spec, parse_spec
from reports.model import DiscoveredCohort

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
PLANTED = "age ≥ 80 and site = B"


@pytest.fixture
def planted_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    frame, labels, scores = synthetic_cohort(4000, seed=1, planted=PLANTED, strength=1.0)
    frame["outcome"] = labels
    frame["score"] = scores
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    spec = {
        "name": "planted",
        "data": "cohort.csv",
        "label": {"column": "outcome", "positive": 1},
        "model": {"score_column": "score"},
        "features": ["age", "comorbidity", "language", "bmi"],
        "sensitive": ["sex", "site"],
        "threshold": 0.2,
        "bootstrap": 20,
        "explain": {"enabled": False},
        "discover": {"max_depth": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    monkeypatch.setenv("AUDITOR_DASHBOARD_BOOTSTRAP", "0")
    monkeypatch.setenv("AUDITOR_DASHBOARD_FULL_BOOTSTRAP", "20")
    monkeypatch.setenv(inputs.ENV_SPEC, str(path))
    monkeypatch.setenv("AUDITOR_REGISTRY", str(tmp_path / "registry.db"))
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py"])
    return path


def test_view_lists_cohorts_and_adds_one_as_a_valid_named_group(planted_spec: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.session_state["view"] = "Cohorts found"
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert any(PLANTED in c for c in table["Cohort"])
    pick = at.selectbox(key="cohort_pick")
    target = next(o for o in pick.options if PLANTED in o)
    pick.select(pick.options[pick.options.index(target)]).run()
    at.text_input(key="cohort_name").input("old_site_B").run()
    next(b for b in at.button if b.label == ADD_LABEL).click().run()
    assert not at.exception
    text = at.session_state[SPEC_KEY]
    new = yaml.safe_load(text)
    assert new["named_groups"][-1]["name"] == "old_site_B"
    assert new["named_groups"][-1]["description"] == PLANTED
    # the spec stays valid and the audit then measures the group
    saved = planted_spec.parent / "spec-named.yaml"
    saved.write_text(text)
    report = run_audit(load_spec(saved)).report
    groups = {g.group for g in report.groups if g.attribute == "old_site_B"}
    assert groups == {"in", "out"}
    measured = next(g for g in report.groups if g.attribute == "old_site_B" and g.group == "in")
    frame = __import__("pandas").read_csv(planted_spec.parent / "cohort.csv")
    expected = int(((frame["age"] >= 80) & (frame["site"] == "B")).sum())
    assert measured.n == expected


def _cohort(conditions: list[dict]) -> DiscoveredCohort:
    return DiscoveredCohort(
        id="C1",
        description=PLANTED,
        conditions=conditions,
        depth=2,
        metric="auroc",
        estimate=0.5,
        ci_low=0.4,
        ci_high=0.6,
        rest=0.8,
        difference=-0.3,
        p_value=1e-5,
        q_value=1e-4,
        n=200,
        n_events=40,
        found_by="test",
    )


def test_name_clash_is_refused_with_the_spec_path(planted_spec: Path) -> None:
    raw = yaml.safe_load(planted_spec.read_text())
    cohort = _cohort([{"column": "site", "op": "==", "value": "B"}])
    with pytest.raises(SpecError) as err:
        with_named_group(raw, cohort, "site", base_dir=planted_spec.parent, file="spec.yaml")
    assert (
        "spec.yaml: $.named_groups[0].name: 'site' is already a sensitive attribute; a named "
        "group needs a name of its own (it becomes an attribute with the groups in and out)"
    ) in str(err.value)


def test_cohort_on_a_missing_value_cannot_be_named(planted_spec: Path) -> None:
    raw = yaml.safe_load(planted_spec.read_text())
    with pytest.raises(SpecError) as err:
        with_named_group(raw, _cohort([]), "x", base_dir=planted_spec.parent)
    assert str(err.value) == COHORT_NOT_NAMEABLE.format(id="C1", cohort=PLANTED)


def test_suggested_name_is_a_valid_attribute_name(planted_spec: Path) -> None:
    cohort = _cohort([{"column": "site", "op": "==", "value": "B"}])
    name = suggest_name(cohort)
    assert name == "age ge 80 site B"
    raw = yaml.safe_load(planted_spec.read_text())
    parse_spec(
        with_named_group(raw, cohort, name, base_dir=planted_spec.parent),
        base_dir=planted_spec.parent,
    )


def test_named_group_on_a_missing_column_exits_2(planted_spec: Path) -> None:
    import subprocess

    raw = yaml.safe_load(planted_spec.read_text())
    raw["named_groups"] = [{"name": "g", "where": [{"column": "ward", "op": "==", "value": 1}]}]
    path = planted_spec.parent / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", str(path), "--out", str(path.parent / "o")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr == f"error: {_column_missing(path, planted_spec.parent, 'ward', 0)}\n"


def _column_missing(spec: Path, folder: Path, column: str, i: int) -> str:
    from auditor.load.data import COLUMN_MISSING, _close_match, _list_columns
    from auditor.load.spec import display_path

    columns = list(__import__("pandas").read_csv(folder / "cohort.csv", nrows=0).columns)
    return COLUMN_MISSING.format(
        file=display_path(folder / "cohort.csv"),
        column=column,
        path=f"$.named_groups[{i}].where[0].column",
        spec=display_path(spec),
        hint=_close_match(column, columns),
        columns=_list_columns(columns),
    )


def _two_thresholds(planted_spec: Path, metrics: list[str]) -> None:
    raw = yaml.safe_load(planted_spec.read_text())
    raw["threshold"] = [0.2, 0.3]
    raw["discover"] = {"max_depth": 2, "metrics": metrics}
    planted_spec.write_text(yaml.safe_dump(raw, allow_unicode=True))


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    import auditor.audit

    calls: list[float] = []
    real = auditor.audit.discover_prepared

    def counted(prepared, *, threshold=None, seed=None):  # type: ignore[no-untyped-def]
        calls.append(threshold)
        return real(prepared, threshold=threshold, seed=seed)

    monkeypatch.setattr(auditor.audit, "discover_prepared", counted)
    from auditor.dashboard import state

    state._COHORTS.clear()
    return calls


def test_moving_the_threshold_does_not_search_again_when_no_metric_reads_it(
    planted_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_thresholds(planted_spec, ["auroc", "oe_ratio"])
    calls = _count_searches(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.session_state["view"] = "Cohorts found"
    at.run()
    assert not at.exception
    first = len(calls)
    assert first >= 1
    at.select_slider(key="threshold").set_value(0.3).run()
    assert not at.exception
    at.select_slider(key="threshold").set_value(0.2).run()
    assert len(calls) == first  # the cached section served both thresholds
    table = at.dataframe[0].value
    assert any(PLANTED in c for c in table["Cohort"])


def test_threshold_reading_search_runs_once_per_threshold(
    planted_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_thresholds(planted_spec, ["fnr"])
    calls = _count_searches(monkeypatch)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.session_state["view"] = "Cohorts found"
    at.run()
    at.select_slider(key="threshold").set_value(0.3).run()
    at.select_slider(key="threshold").set_value(0.2).run()
    at.select_slider(key="threshold").set_value(0.3).run()
    assert not at.exception
    assert sorted(set(calls)) == [0.2, 0.3]
    assert len(calls) == 2  # once per threshold, then cached
