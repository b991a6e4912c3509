"""The dashboard on a survival audit: every view renders, and the curves view draws
Kaplan–Meier by group (from the report; no statistic is computed by the page)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from auditor.dashboard import inputs
from auditor.dashboard.app import VIEW_LABELS
from auditor.dashboard.mitigation import NOT_BINARY
from auditor.load.examples import EXAMPLE_DIR

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")


@pytest.fixture(autouse=True)
def survival_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "survival"
    shutil.copytree(EXAMPLE_DIR / "survival", folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec.update(explain={"enabled": False}, bootstrap=20)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("AUDITOR_DASHBOARD_BOOTSTRAP", "0")
    monkeypatch.setenv("AUDITOR_DASHBOARD_FULL_BOOTSTRAP", "20")
    monkeypatch.setenv("AUDITOR_REGISTRY", str(tmp_path / "registry.db"))
    monkeypatch.setenv(inputs.ENV_SPEC, str(folder / "spec.yaml"))
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py"])
    return folder / "spec.yaml"


@pytest.mark.parametrize("view", VIEW_LABELS)
def test_each_view_renders_on_the_survival_example(view: str) -> None:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["view"] = view
    at.run()
    assert not at.exception, (view, [e.value for e in at.exception])
    errors = [e.value for e in at.error if not e.value.startswith(("FAIL —", "PASS —", "WARN —"))]
    assert not errors, (view, errors)
    if view == "Mitigation what-if":
        assert [i.value for i in at.info] == [NOT_BINARY.format(task="survival")]


def test_curves_view_draws_kaplan_meier_by_group() -> None:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["view"] = "Calibration & ROC"
    at.run()
    assert not at.exception
    assert any("Kaplan–Meier" in h.value for h in at.subheader)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_multiclass_explanations_view_explains_each_class(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ordinal example's model file: a class selector switches the importance to that
    class's probability; no decision threshold in the sidebar (the task uses none)."""
    folder = tmp_path / "multiclass"
    shutil.copytree(EXAMPLE_DIR / "multiclass", folder)
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec.update(bootstrap=20, explain={"sample_size": 60, "background_size": 20})
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv(inputs.ENV_SPEC, str(folder / "spec.yaml"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["view"] = "Explanations"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    chooser = next(s for s in at.selectbox if s.label.startswith("Explain the predicted"))
    assert chooser.options == ["1", "2", "3", "4", "5"]
    assert any("LinearExplainer" in c.value and "logit" in c.value for c in at.caption)
    chooser.select("5").run()
    assert not at.exception
    assert not any(h.value == "Decision threshold" for h in at.sidebar.subheader)
