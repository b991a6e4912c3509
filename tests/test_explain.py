"""SHAP explanations: explainer choice, additivity, summing back, sampling, privacy."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from auditor.errors import SpecError
from auditor.load.feature_names import FeatureMappingError, encoded_sources, sum_by_source
from auditor.load.scorers import EstimatorScorer, ScoreColumnScorer
from auditor.measure.explain import (
    FALLBACK_CATEGORICAL,
    NO_MODEL_REASON,
    PROXY_TOP_K_FLAG,
    SENSITIVE_INPUT_FLAG,
    differing_features,
    explain,
    restrict_to_reportable,
    shap_values,
)
from auditor.reduce.sampling import allocate, cell_codes, largest_remainder, stratified_sample
from reports.model import Explanations, ProxyResult, group_key

CATEGORICAL = ["payer", "admit"]
NUMERIC = ["age", "lab", "lab2", "zip_income"]
FEATURES = NUMERIC + CATEGORICAL


def make_cohort(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """(frame, labels, sensitive): a small synthetic cohort with one tiny race group."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["Black", "White", "Asian"], size=n, p=[0.3, 0.6, 0.1]).astype(object)
    race[:6] = "Other"  # 6 patients: below min_cell_size, suppressed everywhere
    sex = rng.choice(["female", "male"], size=n)
    age = rng.integers(20, 90, size=n).astype(float)
    lab = rng.normal(size=n)
    lab[rng.random(n) < 0.08] = np.nan
    frame = pd.DataFrame(
        {
            "age": age,
            "lab": lab,
            "lab2": rng.normal(size=n),
            "zip_income": rng.normal(size=n) + 1.5 * (race == "Black"),
            "payer": rng.choice(["Medicare", "Medicaid", "Private"], size=n),
            "admit": rng.choice(["ER", "Elective", "Transfer"], size=n),
            "sex": sex,
        }
    )
    risk = -1 + 0.04 * (age - 55) + 0.8 * np.nan_to_num(lab) - 0.6 * (frame["payer"] == "Private")
    labels = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(np.int8)
    sensitive = pd.DataFrame(
        {"race": pd.Categorical(race.astype(str)), "sex": pd.Categorical(sex.astype(str))}
    )
    return frame, labels, sensitive


def columns(numeric: Any = "passthrough") -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", numeric, NUMERIC),
        ]
    )


def logistic_pipeline(frame: pd.DataFrame, labels: np.ndarray) -> Pipeline:
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    model = Pipeline([("columns", columns(numeric)), ("clf", LogisticRegression(max_iter=1000))])
    return model.fit(frame[FEATURES], labels)


class FunctionScorer:
    """A model known only by its scores function (as ONNX and MLflow models are)."""

    kind = "onnx"
    estimator = None

    def __init__(self, model: Any, features: list[str]) -> None:
        self.model = model
        self.features = features

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[self.features])[:, 1]


@pytest.fixture(scope="module")
def cohort() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    return make_cohort()


@pytest.fixture(scope="module")
def logistic(cohort: Any) -> Pipeline:
    frame, labels, _ = cohort
    return logistic_pipeline(frame, labels)


def _explain_rows(scorer: Any, frame: pd.DataFrame, n: int = 120) -> Any:
    features = list(getattr(scorer.estimator, "feature_names_in_", FEATURES))
    return shap_values(
        scorer, frame.iloc[:n], features=features, background=frame.iloc[200:260], seed=0
    )


# --- explainer choice and additivity -----------------------------------------------------


def test_logistic_pipeline_uses_linear_explainer_and_adds_up_on_log_odds(
    cohort: Any, logistic: Pipeline
) -> None:
    frame, _, _ = cohort
    values = _explain_rows(EstimatorScorer(logistic), frame)
    assert values.explainer == "LinearExplainer"
    assert values.output_scale == "log_odds"
    assert values.background_size == 60
    log_odds = logit(logistic.predict_proba(frame.iloc[:120][FEATURES])[:, 1])
    reconstructed = values.base_value + values.values.sum(axis=1)
    np.testing.assert_allclose(reconstructed, log_odds, atol=1e-6, rtol=0)
    np.testing.assert_allclose(values.model_output, log_odds, atol=1e-6, rtol=0)


def test_values_summed_back_equal_the_sum_over_encoded_columns(
    cohort: Any, logistic: Pipeline
) -> None:
    frame, _, _ = cohort
    values = _explain_rows(EstimatorScorer(logistic), frame)
    encoded_names = list(logistic[:-1].get_feature_names_out())
    assert list(values.encoded_features) == encoded_names
    for j, feature in enumerate(values.features):
        if feature in CATEGORICAL:
            own = [i for i, name in enumerate(encoded_names) if name.startswith(f"cat__{feature}_")]
            assert len(own) == frame[feature].nunique()
        else:
            own = [encoded_names.index(f"num__{feature}")]
        expected = values.encoded_values[:, own].sum(axis=1)
        np.testing.assert_allclose(values.values[:, j], expected, atol=1e-12)
    assert values.features == tuple(FEATURES)


def test_hist_gradient_boosting_uses_tree_explainer_on_log_odds(cohort: Any) -> None:
    frame, labels, _ = cohort
    model = Pipeline(
        [("columns", columns()), ("clf", HistGradientBoostingClassifier(max_iter=30))]
    ).fit(frame[FEATURES], labels)
    values = _explain_rows(EstimatorScorer(model), frame)
    assert values.explainer == "TreeExplainer"
    assert values.output_scale == "log_odds"
    assert values.background_size is None
    log_odds = model.decision_function(frame.iloc[:120][FEATURES])
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), log_odds, atol=1e-6, rtol=0
    )


def test_random_forest_uses_tree_explainer_on_probability(cohort: Any) -> None:
    frame, labels, _ = cohort
    model = Pipeline(
        [
            ("columns", columns(SimpleImputer())),
            ("clf", RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0)),
        ]
    ).fit(frame[FEATURES], labels)
    values = _explain_rows(EstimatorScorer(model), frame)
    assert values.explainer == "TreeExplainer"
    assert values.output_scale == "probability"
    proba = model.predict_proba(frame.iloc[:120][FEATURES])[:, 1]
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), proba, atol=1e-6, rtol=0
    )


def test_model_behind_a_scores_function_uses_the_model_agnostic_explainer(
    cohort: Any, logistic: Pipeline
) -> None:
    frame, _, _ = cohort
    scorer = FunctionScorer(logistic, [*FEATURES, "sex"])  # reads sex, ignores it
    values = shap_values(
        scorer,
        frame.iloc[:40],
        features=[*FEATURES, "sex"],
        background=frame.iloc[200:230],
        seed=0,
    )
    assert values.explainer == "PermutationExplainer"
    assert values.output_scale == "probability"
    assert values.features == (*FEATURES, "sex")
    proba = logistic.predict_proba(frame.iloc[:40][FEATURES])[:, 1]
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), proba, atol=1e-6, rtol=0
    )
    np.testing.assert_array_equal(values.values[:, -1], 0.0)


def test_positive_class_in_the_first_column_is_explained_with_the_right_sign(
    cohort: Any,
) -> None:
    frame, labels, _ = cohort
    outcome = np.where(labels == 1, "admitted", "home")  # classes_ sorted: admitted first
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    model = Pipeline([("columns", columns(numeric)), ("clf", LogisticRegression())])
    model.fit(frame[FEATURES], outcome)
    scorer = EstimatorScorer(model, positive="admitted")
    values = _explain_rows(scorer, frame)
    assert values.explainer == "LinearExplainer"
    expected = logit(model.predict_proba(frame.iloc[:120][FEATURES])[:, 0])
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), expected, atol=1e-6, rtol=0
    )


def test_preprocessing_that_mixes_columns_falls_back_to_the_data_columns(cohort: Any) -> None:
    frame, labels, _ = cohort
    mixed = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", make_pipeline(SimpleImputer(), PCA(n_components=2)), NUMERIC),
        ]
    )
    model = Pipeline([("columns", mixed), ("clf", LogisticRegression())])
    model.fit(frame[FEATURES], labels)
    values = _explain_rows(EstimatorScorer(model), frame, n=30)
    assert values.explainer == "PermutationExplainer"
    assert values.features == tuple(FEATURES)
    assert values.notes[0].startswith(
        "LinearExplainer was not used: the preprocessing output cannot be traced to data columns"
    )


def test_native_categorical_boosting_falls_back_with_its_reason(cohort: Any) -> None:
    frame, labels, _ = cohort
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(), CATEGORICAL), ("num", "passthrough", NUMERIC)]
    )
    booster = HistGradientBoostingClassifier(max_iter=10, categorical_features=[0, 1])
    model = Pipeline([("columns", encode), ("clf", booster)]).fit(frame[FEATURES], labels)
    values = _explain_rows(EstimatorScorer(model), frame, n=20)
    assert values.explainer == "PermutationExplainer"
    assert values.notes[0] == FALLBACK_CATEGORICAL
    proba = model.predict_proba(frame.iloc[:20][FEATURES])[:, 1]
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), proba, atol=1e-6, rtol=0
    )


# --- the aggregated explanations ------------------------------------------------------------


@pytest.fixture(scope="module")
def explained(cohort: Any, logistic: Pipeline) -> Explanations:
    frame, labels, sensitive = cohort
    return explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        labels=labels,
        sample_size=300,
        background_size=50,
        top_k=3,
        seed=0,
        intersections=[("race", "sex")],
    )


def test_explanations_report_the_explainer_sample_and_ranks(explained: Explanations) -> None:
    assert explained.status == "ok"
    assert explained.explainer == "LinearExplainer"
    assert explained.output_scale == "log_odds"
    assert explained.background_size == 50
    assert explained.sample_size == 300
    assert [f.rank for f in explained.global_importance] == list(range(1, len(FEATURES) + 1))
    importances = [f.mean_abs_shap for f in explained.global_importance]
    assert importances == sorted(importances, reverse=True)
    assert {f.feature for f in explained.global_importance} == set(FEATURES)
    assert explained.notes[0].startswith("SHAP values were computed for 300 of 600 rows")


def test_group_rank_shifts_and_kendall_tau_agree_with_the_importances(
    explained: Explanations,
) -> None:
    overall = {f.feature: f.rank for f in explained.global_importance}
    reported = [g for g in explained.by_group if not g.suppressed]
    assert reported
    for group in reported:
        ranks = {f.feature: f.rank for f in group.importance}
        for shift in group.top_shifts:
            assert shift.rank == ranks[shift.feature]
            assert shift.overall_rank == overall[shift.feature]
            assert shift.shift == shift.rank - shift.overall_rank != 0
        assert len(group.top_shifts) <= 3
        moved = sorted((abs(ranks[f] - overall[f]) for f in ranks), reverse=True)
        assert [abs(s.shift) for s in group.top_shifts] == [m for m in moved if m][:3]
        assert group.kendall_tau is not None
        if not group.top_shifts:
            assert group.kendall_tau == pytest.approx(1.0)


def test_differing_features_name_the_groups_with_the_extreme_importances(
    explained: Explanations,
) -> None:
    by_group = {
        (str(g.attribute), str(g.group)): {f.feature: f.mean_abs_shap for f in g.importance}
        for g in explained.by_group
        if not g.suppressed
    }
    race_rows = [d for d in explained.differing_features if d["attribute"] == "race"]
    assert 0 < len(race_rows) <= 3
    for row in race_rows:
        values = {g: imp[row["feature"]] for (a, g), imp in by_group.items() if a == "race"}
        assert row["max_group"] == max(values, key=lambda g: values[g])
        assert row["min_group"] == min(values, key=lambda g: values[g])
        assert row["max_minus_min"] == pytest.approx(max(values.values()) - min(values.values()))
        assert set(row) == {"attribute", "feature", "max_group", "min_group", "max_minus_min"}
    spreads = [d["max_minus_min"] for d in race_rows]
    assert spreads == sorted(spreads, reverse=True)


def test_suppressed_groups_keep_only_their_name(explained: Explanations) -> None:
    other = [g for g in explained.by_group if g.attribute == "race" and g.group == "Other"]
    assert len(other) == 1
    assert other[0].suppressed and other[0].n_sample is None and other[0].importance == []
    assert all(row["group"] != "Other" for row in explained.sample_per_group)
    assert all(
        "Other" not in (d["max_group"], d["min_group"]) for d in explained.differing_features
    )
    dumped = json.dumps(explained.model_dump(mode="json"))
    intersection = [g for g in explained.by_group if isinstance(g.attribute, list)]
    assert intersection and all(g.suppressed for g in intersection if "Other" in g.group)
    assert '"n_sample": 6' not in dumped


def test_sample_per_group_counts_the_explained_rows(cohort: Any, explained: Explanations) -> None:
    rows = {
        (str(r["attribute"]), str(r["group"])): r["n_sample"] for r in explained.sample_per_group
    }
    assert sum(v for (a, _), v in rows.items() if a == "sex") == 300
    assert all(v >= 11 for v in rows.values())
    assert {g.n_sample for g in explained.by_group if not g.suppressed} <= set(rows.values())


def test_explanations_hold_no_row_level_values(explained: Explanations) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            assert not any(isinstance(v, int | float) for v in node), node[:5]
            for value in node:
                walk(value)

    walk(json.loads(explained.model_dump_json()))


def test_explanations_are_deterministic_by_seed(cohort: Any, logistic: Pipeline) -> None:
    frame, labels, sensitive = cohort

    def run(seed: int) -> dict[str, Any]:
        result = explain(
            EstimatorScorer(logistic),
            frame,
            features=FEATURES,
            sensitive=sensitive,
            labels=labels,
            sample_size=200,
            background_size=40,
            seed=seed,
        ).model_dump(mode="json")
        assert "seconds" not in result, "wall time would make reports irreproducible"
        return result

    first = run(3)
    assert first == run(3)
    assert first["global_importance"] != run(4)["global_importance"]


def test_score_column_has_nothing_to_explain_but_keeps_proxies(cohort: Any) -> None:
    frame, _labels, sensitive = cohort
    proxies = [
        ProxyResult(attribute="race", feature="zip_income", auroc=0.8, strength=0.6, is_proxy=True)
    ]
    for scorer in (None, ScoreColumnScorer("score")):
        result = explain(scorer, frame, features=FEATURES, sensitive=sensitive, proxies=proxies)
        assert result.status == "not_evaluable"
        assert result.reason == "no model to explain: the audit uses a precomputed score column"
        assert result.reason == NO_MODEL_REASON
        assert result.proxies == proxies
        assert result.global_importance == [] and result.by_group == []


def test_a_sensitive_attribute_read_by_the_model_is_flagged(cohort: Any) -> None:
    frame, labels, sensitive = cohort
    with_sex = [*FEATURES, "sex"]
    encode = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), [*CATEGORICAL, "sex"]),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
        ]
    )
    model = Pipeline([("columns", encode), ("clf", LogisticRegression())])
    model.fit(frame[with_sex], labels)
    result = explain(
        EstimatorScorer(model),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=200,
        proxies=[],
    )
    assert result.sensitive_inputs == ["sex"]
    rank = next(f.rank for f in result.global_importance if f.feature == "sex")
    assert result.flags == [
        f"The sensitive attribute 'sex' is itself a model input (rank {rank} of 7 by mean |SHAP|)."
    ]
    assert result.flags[0] == SENSITIVE_INPUT_FLAG.format(attribute="sex", rank=rank, n=7)


def test_a_proxy_among_the_top_features_is_flagged(cohort: Any, logistic: Pipeline) -> None:
    frame, _labels, sensitive = cohort
    baseline = explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=200,
        proxies=[],
        top_k=2,
    )
    top = baseline.global_importance[0].feature
    low = baseline.global_importance[-1].feature
    proxies = [
        ProxyResult(attribute="race", feature=top, auroc=0.9, strength=0.8, is_proxy=True),
        ProxyResult(attribute="race", feature=low, auroc=0.95, strength=0.9, is_proxy=True),
        ProxyResult(attribute="sex", feature=top, auroc=0.55, strength=0.1, is_proxy=False),
    ]
    result = explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=200,
        proxies=proxies,
        top_k=2,
        proxy_threshold=0.3,
    )
    assert result.flags == [
        f"'{top}' predicts race (proxy strength 0.80, threshold 0.30) and ranks 1 of 6 in "
        "overall importance (top 2)."
    ]
    assert result.flags[0] == PROXY_TOP_K_FLAG.format(
        feature=top, attribute="race", strength=0.8, threshold=0.3, rank=1, n=6, top_k=2
    )


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("sample_size", "explain.sample_size must be a positive integer; got 0"),
        ("background_size", "explain.background_size must be a positive integer; got 0"),
        ("top_k", "explain.top_k must be a positive integer; got 0"),
    ],
)
def test_budget_parameters_must_be_positive(
    cohort: Any, logistic: Pipeline, argument: str, message: str
) -> None:
    frame, _, sensitive = cohort
    with pytest.raises(SpecError) as error:
        explain(
            EstimatorScorer(logistic),
            frame,
            features=FEATURES,
            sensitive=sensitive,
            proxies=[],
            **{argument: 0},
        )
    assert str(error.value) == message


# --- sampling ----------------------------------------------------------------------------


def test_largest_remainder_splits_exactly_and_deterministically() -> None:
    assert largest_remainder(10, np.array([1.0, 1.0, 1.0])).tolist() == [4, 3, 3]
    assert largest_remainder(7, np.array([5.0, 0.0, 2.0])).tolist() == [5, 0, 2]
    assert largest_remainder(0, np.array([1.0])).tolist() == [0]


def test_allocation_gives_every_cell_its_floor_then_the_rest_in_proportion() -> None:
    counts = np.array([5000, 300, 12, 4])
    taken = allocate(counts, 1000, floor=11)
    assert taken.sum() == 1000
    assert taken[2] >= 11 and taken[3] == 4
    assert taken[0] > taken[1] > taken[2]
    tight = allocate(np.array([100, 100, 100]), 12, floor=11)
    assert tight.tolist() == [4, 4, 4]  # floors lowered to fit the budget


def test_stratified_sample_respects_budget_floor_and_weights() -> None:
    rng = np.random.default_rng(0)
    strata = np.repeat([0, 1, 2], [900, 80, 15])
    labels = np.tile([0, 1], strata.size // 2 + 1)[: strata.size]
    sample = stratified_sample(strata, size=200, rng=rng, floor=11, within=labels)
    assert sample.size == 200 and sample.floor == 11
    assert np.all(np.diff(sample.rows) > 0)
    picked = strata[sample.rows]
    assert np.bincount(picked).min() >= 11
    for code, count in zip([0, 1, 2], [900, 80, 15]):
        assert sample.weights[picked == code].sum() == pytest.approx(count)
    again = stratified_sample(
        strata, size=200, rng=np.random.default_rng(0), floor=11, within=labels
    )
    np.testing.assert_array_equal(sample.rows, again.rows)
    everyone = stratified_sample(strata, size=5000, rng=rng, floor=11)
    assert everyone.size == strata.size and np.all(everyone.weights == 1)
    assert everyone.floor == 0


def test_cell_codes_cross_every_sensitive_column() -> None:
    sensitive = pd.DataFrame({"race": ["a", "b", "a", "a"], "sex": ["f", "f", "m", "f"]})
    assert cell_codes(sensitive).tolist() == [0, 2, 1, 0]


# --- mapping encoded columns back --------------------------------------------------------


def _fit(transformer: Any, frame: pd.DataFrame) -> Any:
    return transformer.fit(frame)


def test_one_hot_with_drop_and_infrequent_categories_maps_back() -> None:
    frame = pd.DataFrame(
        {"a": ["x"] * 10 + ["y"] * 10 + ["z"], "b": ["p", "q"] * 10 + ["p"], "c": range(21)}
    )
    ct = ColumnTransformer(
        [
            ("oh", OneHotEncoder(drop="first", min_frequency=2), ["a", "b"]),
            ("imp", SimpleImputer(add_indicator=True), ["c"]),
        ]
    ).fit(frame.assign(c=frame["c"].where(frame["c"] > 2)))
    sources = encoded_sources(ct, ["a", "b", "c"])
    names = list(ct.get_feature_names_out())
    assert len(sources) == len(names)
    assert sources == [n.split("__")[1].split("_")[0] if n.startswith("oh") else "c" for n in names]


def test_selectors_remainder_and_nested_pipelines_map_back() -> None:
    frame = pd.DataFrame(
        {"num": [1.0, 2.0, 3.0, 4.0], "cat": ["a", "b", "a", "c"], "rest": [0.0, 1.0, 0.0, 1.0]}
    )
    ct = ColumnTransformer(
        [
            ("n", StandardScaler(), make_column_selector(pattern="^num$")),
            ("c", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), [1]),
        ],
        remainder="passthrough",
    ).fit(frame)
    assert encoded_sources(ct, list(frame.columns)) == ["num", "cat", "cat", "cat", "rest"]
    summed = sum_by_source(
        np.arange(10.0).reshape(2, 5),
        ["num", "cat", "cat", "cat", "rest"],
        ["cat", "num", "rest", "unused"],
    )
    np.testing.assert_array_equal(summed, [[6.0, 0.0, 4.0, 0.0], [21.0, 5.0, 9.0, 0.0]])


def test_mixing_transformers_cannot_be_mapped_back() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]})
    ct = ColumnTransformer([("pca", PCA(n_components=1), ["a", "b"])]).fit(frame)
    with pytest.raises(FeatureMappingError):
        encoded_sources(ct, ["a", "b"])


def test_one_hot_outputs_are_counted_not_guessed_from_names() -> None:
    frame = pd.DataFrame({"a": ["b_x", "y", "y"], "a_b": ["x", "z", "x"]})
    encoder = OneHotEncoder().fit(frame)
    assert list(encoder.get_feature_names_out()) == ["a_b_x", "a_y", "a_b_x", "a_b_z"]
    assert encoded_sources(encoder, ["a", "a_b"]) == ["a", "a", "a_b", "a_b"]


def test_groups_too_thin_in_the_sample_are_withheld_and_said_so(
    cohort: Any, logistic: Pipeline
) -> None:
    frame, _labels, sensitive = cohort
    result = explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=30,
        proxies=[],
        intersections=[("race", "sex")],
    )
    asian = next(g for g in result.by_group if g.attribute == "race" and g.group == "Asian")
    assert asian.suppressed and asian.importance == []
    withheld_note = next(n for n in result.notes if n.startswith("Importances of"))
    assert withheld_note.startswith("Importances of race = Asian, ")
    assert "race × sex = Asian × female" in withheld_note
    assert withheld_note.endswith(
        "are withheld: they have at least 11 patients but fewer than 11 rows in the SHAP "
        "sample; a larger explain.sample_size includes them."
    )
    assert "Other" not in withheld_note  # suppressed in the data itself: not listed here


def test_the_sample_note_states_the_floor_that_was_used(cohort: Any, logistic: Pipeline) -> None:
    frame, labels, sensitive = cohort
    result = explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        labels=labels,
        sample_size=40,
        proxies=[],
    )
    cells = sensitive.astype(str).drop_duplicates().shape[0]  # 8 race x sex cells
    assert result.notes[0] == (
        f"SHAP values were computed for 40 of 600 rows: a seeded sample stratified by the cross "
        f"of race, sex (each cell got up to {40 // cells} rows first, the rest in proportion), "
        "weighted back to the population for every mean."
    )


def test_an_exact_explainer_that_fails_falls_back_with_the_reason(
    cohort: Any, logistic: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shap

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("unsupported model")

    monkeypatch.setattr(shap, "LinearExplainer", broken)
    frame, _, _ = cohort
    values = _explain_rows(EstimatorScorer(logistic), frame, n=10)
    assert values.explainer == "PermutationExplainer"
    assert values.notes[0] == (
        "LinearExplainer was not used: shap could not read the model "
        "(ValueError: unsupported model)."
    )


@pytest.mark.parametrize(
    ("model", "scale"),
    [
        (GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), "log_odds"),
        (ExtraTreesClassifier(n_estimators=10, max_depth=4, random_state=0), "probability"),
        (LogisticRegression(), "log_odds"),
    ],
)
def test_bare_estimators_on_numeric_columns_are_explained_exactly(
    cohort: Any, model: Any, scale: str
) -> None:
    frame, labels, _ = cohort
    numeric = frame[NUMERIC].fillna(0.0)
    model.fit(numeric, labels)
    values = shap_values(
        EstimatorScorer(model),
        numeric.iloc[:50],
        features=NUMERIC,
        background=numeric.iloc[100:140],
    )
    assert values.explainer in ("TreeExplainer", "LinearExplainer")
    assert values.output_scale == scale
    proba = model.predict_proba(numeric.iloc[:50])[:, 1]
    expected = logit(proba) if scale == "log_odds" else proba
    np.testing.assert_allclose(
        values.base_value + values.values.sum(axis=1), expected, atol=1e-6, rtol=0
    )


def test_differing_features_has_one_definition(explained: Explanations) -> None:
    assert differing_features(explained.by_group, top_k=3) == explained.differing_features


def _extreme_group(explained: Explanations, attribute: str) -> str:
    row = next(d for d in explained.differing_features if d["attribute"] == attribute)
    return str(row["max_group"])


def test_restricting_to_the_measured_groups_recomputes_differing_features(
    explained: Explanations,
) -> None:
    """A group the measurement suppressed (complementary suppression) leaves every
    per-group number, and the features that differ are found among the others."""
    before = explained.model_copy(deep=True)
    hidden_group = _extreme_group(explained, "race")
    hidden = {group_key("race", hidden_group), group_key("race", "Other")}
    restricted = restrict_to_reportable(explained, hidden, top_k=3, min_cell_size=11)

    assert explained == before  # the input is not changed
    entry = next(g for g in restricted.by_group if g.group == hidden_group)
    assert entry.suppressed and entry.n_sample is None and entry.importance == []
    assert entry.kendall_tau is None and entry.top_shifts == []
    assert all(r["group"] != hidden_group for r in restricted.sample_per_group)
    race_rows = [d for d in restricted.differing_features if d["attribute"] == "race"]
    assert race_rows
    shown = {
        str(g.group): {f.feature: f.mean_abs_shap for f in g.importance}
        for g in explained.by_group
        if g.attribute == "race" and not g.suppressed and g.group != hidden_group
    }
    for row in race_rows:
        assert hidden_group not in (row["max_group"], row["min_group"])
        values = {g: imp[row["feature"]] for g, imp in shown.items()}
        assert row["max_group"] == max(values, key=lambda g: values[g])
        assert row["min_group"] == min(values, key=lambda g: values[g])
        assert row["max_minus_min"] == pytest.approx(max(values.values()) - min(values.values()))
    others = [d for d in explained.differing_features if d["attribute"] != "race"]
    assert [d for d in restricted.differing_features if d["attribute"] != "race"] == others
    kept = [g for g in restricted.by_group if g.group != hidden_group]
    assert kept == [g for g in explained.by_group if g.group != hidden_group]


def test_restricting_takes_hidden_groups_out_of_the_sample_note(
    cohort: Any, logistic: Pipeline
) -> None:
    frame, _labels, sensitive = cohort
    result = explain(
        EstimatorScorer(logistic),
        frame,
        features=FEATURES,
        sensitive=sensitive,
        sample_size=30,
        proxies=[],
        intersections=[("race", "sex")],
    )
    note = next(n for n in result.notes if n.startswith("Importances of"))
    assert "race × sex = Asian × female" in note and "race = Asian" in note
    hidden = {group_key(["race", "sex"], ["Asian", "female"])}
    restricted = restrict_to_reportable(result, hidden, top_k=5, min_cell_size=11)
    (new_note,) = [n for n in restricted.notes if n.startswith("Importances of")]
    assert "Asian × female" not in new_note and "race = Asian" in new_note
    assert new_note.endswith(note[note.index(" are withheld: ") :])
    listed = [
        g
        for g in result.by_group
        if g.suppressed and (g.attribute, g.group) != ("race", "Other") and "Other" not in g.group
    ]
    everything = {group_key(g.attribute, g.group) for g in listed}
    emptied = restrict_to_reportable(result, everything, top_k=5, min_cell_size=11)
    assert not any(n.startswith("Importances of") for n in emptied.notes)
    assert [n for n in emptied.notes] == [n for n in result.notes if n != note]
