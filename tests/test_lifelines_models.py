"""lifelines regression fitters as survival models: pinned pickles only; the risk at the
horizon is 1 − S(horizon) from lifelines' own predict_survival_function (to 1e-9);
univariate fitters and unpinned pickles are refused with exit 2; SHAP explains the risk
through the model-agnostic path."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.errors import ModelError
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.scorers import PICKLE_NEEDS_SHA
from auditor.load.spec_loader import load_spec
from auditor.load.task_data import LIFELINES_UNIVARIATE, load_task_data, load_task_scorer
from tests.test_cli import assert_bad_input, run

lifelines = pytest.importorskip("lifelines")

TOL = 1e-9
HORIZON = 365.0
FEATURES = ["age", "hr", "sysbp", "bmi", "chf"]
SOURCE = EXAMPLE_DIR / "survival"


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return pd.read_csv(SOURCE / "audit_cohort.csv")


def _fit(kind: str, frame: pd.DataFrame) -> Any:
    data = frame[[*FEATURES, "lenfol", "fstat"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "KaplanMeierFitter":
            return lifelines.KaplanMeierFitter().fit(frame["lenfol"], frame["fstat"])
        fitter = getattr(lifelines, kind)()
        if kind == "CoxPHFitter":
            fitter = lifelines.CoxPHFitter(penalizer=0.01)
        return fitter.fit(data, duration_col="lenfol", event_col="fstat")


def _spec(folder: Path, model: Path, *, pin: bool = True, **changes: Any) -> Path:
    raw = yaml.safe_load((SOURCE / "spec.yaml").read_text())
    raw["data"] = str(SOURCE / "audit_cohort.csv")
    raw["model"] = {"path": str(model), "name": "lifelines model"}
    if pin:
        raw["model"]["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    raw["features"] = FEATURES
    raw["bootstrap"] = 20
    raw["explain"] = {"sample_size": 40, "background_size": 10}
    raw.update(changes)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _pickle(model: Any, folder: Path, name: str = "model.joblib") -> Path:
    path = folder / name
    joblib.dump(model, path)
    return path


@pytest.mark.parametrize(
    "kind", ["CoxPHFitter", "WeibullAFTFitter", "LogNormalAFTFitter", "LogLogisticAFTFitter"]
)
def test_risk_at_the_horizon_equals_lifelines_own_survival_function(kind, cohort, tmp_path):
    model = _fit(kind, cohort)
    spec = load_spec(_spec(tmp_path, _pickle(model, tmp_path)))
    data, _ = load_task_data(spec)
    scorer = load_task_scorer(spec)
    risk = scorer.outputs(data.frame)["risk"]
    expected = (
        1.0 - model.predict_survival_function(cohort[FEATURES], times=[HORIZON]).to_numpy()[0]
    )
    assert scorer.kind == "pickle"
    assert np.max(np.abs(risk - expected)) < TOL
    assert risk.min() > 0.0 and risk.max() < 1.0


def test_unpinned_lifelines_pickle_is_refused(cohort, tmp_path):
    path = _pickle(_fit("CoxPHFitter", cohort), tmp_path)
    spec = load_spec(_spec(tmp_path, path, pin=False))
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelError) as caught:
        load_task_scorer(spec)
    assert str(caught.value) == PICKLE_NEEDS_SHA.format(file=str(path), actual=actual)
    result = run("audit", _spec(tmp_path, path, pin=False), "--out", tmp_path / "out")
    assert_bad_input(result, "must pin", actual)


def test_univariate_lifelines_fitter_is_refused(cohort, tmp_path):
    path = _pickle(_fit("KaplanMeierFitter", cohort), tmp_path)
    spec = load_spec(_spec(tmp_path, path))
    with pytest.raises(ModelError) as caught:
        load_task_scorer(spec)
    assert str(caught.value) == LIFELINES_UNIVARIATE.format(
        file=str(path), type="KaplanMeierFitter"
    )
    result = run("audit", _spec(tmp_path, path), "--out", tmp_path / "out")
    assert_bad_input(result, "univariate fitter without covariates", "CoxPHFitter")


def test_lifelines_audit_explains_the_risk_model_agnostically(cohort, tmp_path):
    """An audit of a pinned lifelines pickle: every format, the risk from lifelines, and
    SHAP of the risk at the horizon through the model-agnostic path (adds up)."""
    from sksurv.metrics import concordance_index_censored

    from auditor.measure.explain import PERMUTATION, shap_values

    model = _fit("WeibullAFTFitter", cohort)
    spec_path = _spec(tmp_path, _pickle(model, tmp_path))
    out = tmp_path / "out"
    result = run("audit", spec_path, "--out", out)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["kind"] == "pickle"
    explanations = report["explanations"]
    assert explanations["status"] == "ok" and explanations["explainer"] == PERMUTATION
    assert {i["feature"] for i in explanations["global_importance"]} == set(FEATURES)
    risk = 1.0 - model.predict_survival_function(cohort[FEATURES], times=[HORIZON]).to_numpy()[0]
    harrell = concordance_index_censored(cohort["fstat"] == 1, cohort["lenfol"], risk)[0]
    assert report["overall"]["metrics"]["c_index"]["estimate"] == pytest.approx(harrell, abs=TOL)
    # row level: base + SHAP values add up to lifelines' risk at the horizon
    spec = load_spec(spec_path)
    scorer = load_task_scorer(spec)
    values = shap_values(
        scorer,
        cohort.iloc[:30],
        features=FEATURES,
        background=cohort.iloc[100:110],
        seed=0,
    )
    total = values.base_value + values.values.sum(axis=1)
    assert np.max(np.abs(total - risk[:30])) < TOL
