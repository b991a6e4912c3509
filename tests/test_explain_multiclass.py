"""Multiclass explanations: each class's probability, with the binary path's rules.

A multinomial logistic regression and a random forest are explained exactly (shap's own
LinearExplainer / TreeExplainer, per class, to 1e-9); anything else runs the
model-agnostic explainer over every class's probability at once. Sampling, the privacy
restriction and the per-group floor are the top-level explanation's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap
from scipy.special import softmax
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from auditor.measure.explain import (
    LINEAR,
    PERMUTATION,
    TREE,
    class_shap_values,
    explain,
    restrict_to_reportable,
)
from reports.model import group_key
from tests.test_explain import CATEGORICAL, FEATURES, columns, make_cohort

TOL = 1e-9
CLASSES = ("3", "1", "2")  # declared order differs from the model's sorted classes_


class ClassScorer:
    """The multiclass side of a TaskScorer: probabilities in the declared class order."""

    kind = "skops"
    estimator = None

    def __init__(self, model: Any, classes: tuple[str, ...] = CLASSES) -> None:
        self.model = model
        self.explained_classes = classes
        own = [str(c) for c in model.classes_]
        self.order = [own.index(c) for c in classes]

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame[FEATURES]))[:, self.order]

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return self.probabilities(frame)[:, 0]


def _labels(frame: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = 0.04 * (frame["age"] - 55) + 0.8 * np.nan_to_num(frame["lab"]) + rng.normal(size=len(frame))
    return np.digitize(z, [-0.6, 0.6]) + 1  # classes 1, 2, 3


@pytest.fixture(scope="module")
def cohort() -> Any:
    frame, _, sensitive = make_cohort()
    frame["lab"] = frame["lab"].fillna(0.0)
    return frame, _labels(frame), sensitive


def _fit(final: Any, frame: pd.DataFrame, y: np.ndarray) -> Pipeline:
    return Pipeline([("columns", columns()), ("clf", final)]).fit(frame[FEATURES], y)


def _matrices(model: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rows = model[:-1].transform(frame.iloc[:120][FEATURES])
    background = model[:-1].transform(frame.iloc[200:260][FEATURES])
    return np.asarray(rows, dtype=float), np.asarray(background, dtype=float)


def _per_class(scorer: ClassScorer, frame: pd.DataFrame) -> list[Any]:
    return class_shap_values(
        scorer,
        frame.iloc[:120],
        features=FEATURES,
        background=frame.iloc[200:260],
        seed=0,
    )


def test_multinomial_logistic_equals_shap_linear_explainer_per_class(cohort: Any) -> None:
    frame, y, _ = cohort
    model = _fit(LogisticRegression(max_iter=2000), frame, y)
    scorer = ClassScorer(model)
    found = _per_class(scorer, frame)
    rows, background = _matrices(model, frame)
    final = model[-1]
    reference = shap.LinearExplainer(
        final, shap.maskers.Independent(background, max_samples=len(background))
    )
    expected = np.asarray(reference.shap_values(rows))
    margin = final.decision_function(rows)
    assert len(found) == len(CLASSES)
    for j, k in enumerate(scorer.order):
        values = found[j]
        assert values.explainer == LINEAR and values.output_scale == "logit"
        assert np.max(np.abs(values.encoded_values - expected[:, :, k])) < TOL
        assert values.base_value == pytest.approx(float(reference.expected_value[k]), abs=TOL)
        assert np.max(np.abs(values.model_output - margin[:, k])) < TOL
    # the linear scores are the softmax inputs of the audited probabilities
    proba = softmax(np.stack([found[j].model_output for j in range(3)], axis=1), axis=1)
    assert np.max(np.abs(proba - scorer.probabilities(frame.iloc[:120]))) < 1e-9
    # summed back to data columns: one-hot columns of a categorical add up to it
    payer = FEATURES.index("payer")
    assert found[0].values[:, payer] == pytest.approx(
        sum(
            found[0].encoded_values[:, i]
            for i, s in enumerate(found[0].encoded_sources)
            if s == "payer"
        ),
        abs=TOL,
    )
    assert set(CATEGORICAL) <= set(found[0].encoded_sources)


def test_random_forest_equals_shap_tree_explainer_per_class(cohort: Any) -> None:
    frame, y, _ = cohort
    model = _fit(RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0), frame, y)
    scorer = ClassScorer(model)
    found = _per_class(scorer, frame)
    rows, _ = _matrices(model, frame)
    reference = shap.TreeExplainer(model[-1], feature_perturbation="tree_path_dependent")
    expected = np.asarray(reference.shap_values(rows, check_additivity=False))
    proba = scorer.probabilities(frame.iloc[:120])
    for j, k in enumerate(scorer.order):
        values = found[j]
        assert values.explainer == TREE and values.output_scale == "probability"
        assert np.max(np.abs(values.encoded_values - expected[:, :, k])) < TOL
        # base + SHAP values give the class's audited probability
        total = values.base_value + values.values.sum(axis=1)
        assert np.max(np.abs(total - proba[:, j])) < 1e-6


def test_other_models_run_the_agnostic_explainer_on_every_probability(cohort: Any) -> None:
    frame, y, _ = cohort
    numeric = frame[FEATURES].copy()
    for c in CATEGORICAL:
        numeric[c] = numeric[c].astype("category").cat.codes
    boosted = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(numeric, y)

    class Boosted(ClassScorer):
        def probabilities(self, f: pd.DataFrame) -> np.ndarray:
            x = f[FEATURES].copy()
            for c in CATEGORICAL:
                x[c] = pd.Categorical(x[c], categories=sorted(frame[c].unique())).codes
            return np.asarray(self.model.predict_proba(x))[:, self.order]

    scorer = Boosted(boosted)
    found = _per_class(scorer, frame)
    proba = scorer.probabilities(frame.iloc[:120])
    for j, values in enumerate(found):
        assert values.explainer == PERMUTATION and values.output_scale == "probability"
        total = values.base_value + values.values.sum(axis=1)
        assert np.max(np.abs(total - proba[:, j])) < 1e-9  # adds up to each probability
    # the classes' values add up across classes to zero (probabilities sum to 1)
    stacked = np.stack([v.values for v in found])
    assert np.max(np.abs(stacked.sum(axis=0))) < 1e-9


@pytest.fixture(scope="module")
def explained(cohort: Any) -> Any:
    frame, y, sensitive = cohort
    model = _fit(LogisticRegression(max_iter=2000), frame, y)
    result = explain(
        ClassScorer(model),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=300,
        background_size=50,
        seed=3,
        min_cell_size=11,
    )
    return result


def test_every_class_is_explained_overall_and_per_group(explained: Any) -> None:
    assert [c.label for c in explained.by_class] == list(CLASSES)
    first = explained.by_class[0]
    # the top-level explanation is the first (most acute) class's
    assert first.global_importance == explained.global_importance
    assert first.by_group == explained.by_group
    for c in explained.by_class:
        assert c.explainer == LINEAR and c.output_scale == "logit"
        assert [g.group for g in c.by_group] == [g.group for g in explained.by_group]
        # the same floor as the top-level explanation: the 6-patient group is name-only
        for g, top in zip(c.by_group, explained.by_group):
            assert g.suppressed == top.suppressed
            if g.suppressed:
                assert g.importance == [] and g.n_sample is None
            else:
                assert g.n_sample == top.n_sample
    assert any(g.suppressed and g.group == "Other" for g in explained.by_class[2].by_group)
    # classes differ: the least acute class is not the most acute class's mirror image
    assert explained.by_class[1].global_importance != explained.by_class[0].global_importance


def test_restriction_to_reportable_groups_applies_to_every_class(explained: Any) -> None:
    hidden = {group_key("race", "Asian")}
    restricted = restrict_to_reportable(explained, hidden, top_k=5, min_cell_size=11)
    for c in restricted.by_class:
        asian = next(g for g in c.by_group if g.group == "Asian")
        assert asian.suppressed and asian.importance == [] and asian.n_sample is None
        for row in c.differing_features:
            if row["attribute"] == "race":
                assert "Asian" not in (row["max_group"], row["min_group"])
    # the serialized report holds no trace of the hidden group's importances
    text = restricted.model_dump_json()
    assert '"group":"Asian","n_sample":null' in text.replace(" ", "")
