"""LightGBM, XGBoost and CatBoost classifiers, bare or in a pipeline, are explained exactly by
TreeExplainer: base value plus SHAP values equal the model's own log-odds (its margin) and
the audit's scores, as for scikit-learn trees."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np
import pytest
from scipy.special import logit
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from auditor.load.scorers import EstimatorScorer
from auditor.measure.explain import shap_values
from tests.test_explain import NUMERIC, columns, make_cohort


def _library(name: str) -> Any:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    return importlib.import_module(name)


def _classifier(library: str) -> Any:
    if library == "lightgbm":
        return _library("lightgbm").LGBMClassifier(n_estimators=30, verbose=-1, random_state=0)
    if library == "xgboost":
        return _library("xgboost").XGBClassifier(n_estimators=30, max_depth=3, random_state=0)
    return _library("catboost").CatBoostClassifier(
        iterations=30, depth=3, verbose=False, random_seed=0, allow_writing_files=False
    )


LIBRARIES = ["lightgbm", "xgboost", "catboost"]


@pytest.fixture(scope="module")
def cohort() -> Any:
    return make_cohort()


@pytest.mark.parametrize("library", LIBRARIES)
def test_bare_model_is_explained_exactly_on_its_own_log_odds(cohort: Any, library: str) -> None:
    frame, labels, _ = cohort
    numeric = frame[NUMERIC].fillna(0.0)
    model = _classifier(library).fit(numeric, labels)
    values = shap_values(
        EstimatorScorer(model),
        numeric.iloc[:80],
        features=NUMERIC,
        background=numeric.iloc[100:140],
    )
    assert values.explainer == "TreeExplainer", values.notes
    assert values.output_scale == "log_odds"
    proba = model.predict_proba(numeric.iloc[:80])[:, 1]
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), logit(proba), atol=1e-5, rtol=0
    )
    assert values.values.shape == (80, len(NUMERIC))


@pytest.mark.parametrize("library", LIBRARIES)
def test_model_in_a_pipeline_is_explained_exactly_on_data_columns(
    cohort: Any, library: str
) -> None:
    frame, labels, _ = cohort
    features = [*NUMERIC, "payer", "admit"]
    model = Pipeline([("columns", columns(SimpleImputer())), ("clf", _classifier(library))]).fit(
        frame[features], labels
    )
    values = shap_values(
        EstimatorScorer(model),
        frame.iloc[:80],
        features=features,
        background=frame.iloc[200:240],
    )
    assert values.explainer == "TreeExplainer", values.notes
    proba = model.predict_proba(frame.iloc[:80][features])[:, 1]
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), logit(proba), atol=1e-5, rtol=0
    )
    assert values.features == tuple(features)  # one-hot columns summed back to payer/admit
