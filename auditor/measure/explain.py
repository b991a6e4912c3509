"""SHAP explanations overall and per subgroup, in the data's own column names.

Which explainer runs is decided by the model, exact where an exact one exists:

* a logistic-regression final step (after the pipeline's preprocessing):
  ``shap.LinearExplainer`` with an independent masker over a background sample,
  on the log-odds scale;
* a tree ensemble final step (HistGradientBoosting, random forest, extra
  trees, gradient boosting, a decision tree, and LightGBM, XGBoost and
  CatBoost classifiers, bare or in a pipeline): ``shap.TreeExplainer`` with
  ``feature_perturbation="tree_path_dependent"`` (the background is the
  training data's path counts stored in the trees), on the log-odds scale for
  boosting and the probability scale for forests. The interventional variant
  (a background sample) is not used: in shap 0.51 its values for
  HistGradientBoosting do not add up to the model output, and on a 200-tree
  forest it was about six times slower;
* anything else (ONNX, MLflow, pipelines that mix columns, models behind a
  plain ``scores`` function): ``shap.PermutationExplainer`` over the scorer's
  probabilities with an independent masker over a background sample, one
  antithetic permutation per row (exact for models whose interactions are at
  most pairwise).

An exact explainer is used only when it reproduces the audit's own scores:
its base value plus SHAP values must equal the model output within 1e-6 and
that output must match ``scorer.scores``; otherwise the model-agnostic path
runs and the report says why.

Rows are a seeded sample stratified by the finest subgroup cell
(:mod:`auditor.reduce.sampling`), weighted back to the population, so small groups
are represented and importances still estimate population means. Only
aggregates leave this module's :func:`explain`; row-level values
(:func:`shap_values`) stay in memory.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import kendalltau
from threadpoolctl import threadpool_limits

from auditor.errors import SpecError
from auditor.load.feature_names import FeatureMappingError, encoded_sources, sum_by_source
from auditor.load.spec import MISSING_GROUP
from auditor.measure.proxies import ALL_FEATURES, PROXY_THRESHOLD, proxy_strengths
from auditor.reduce.sampling import cell_codes, check_row_alignment, stratified_sample
from reports.model import (
    ClassExplanation,
    Explanations,
    FeatureImportance,
    GroupExplanation,
    GroupKey,
    GroupName,
    ProxyResult,
    RankShift,
    group_key,
)

LINEAR = "LinearExplainer"
TREE = "TreeExplainer"
PERMUTATION = "PermutationExplainer"
ADDITIVITY_TOLERANCE = 1e-6
"""Largest gap allowed between base + SHAP values and the model output (exact paths)."""

OutputScale = Literal["probability", "log_odds", "logit"]

NO_MODEL_REASON = "no model to explain: the audit uses a precomputed score column"
NO_FEATURES_REASON = "no model input to explain: the feature list is empty"
BAD_SAMPLE_SIZE = "explain.sample_size must be a positive integer; got {value!r}"
BAD_BACKGROUND_SIZE = "explain.background_size must be a positive integer; got {value!r}"
BAD_TOP_K = "explain.top_k must be a positive integer; got {value!r}"

SENSITIVE_INPUT_FLAG = (
    "The sensitive attribute '{attribute}' is itself a model input "
    "(rank {rank} of {n} by mean |SHAP|)."
)
PROXY_TOP_K_FLAG = (
    "'{feature}' predicts {attribute} (proxy strength {strength:.2f}, threshold "
    "{threshold:.2f}) and ranks {rank} of {n} in overall importance (top {top_k})."
)
SAMPLE_NOTE = (
    "SHAP values were computed for {size} of {rows} rows: a seeded sample stratified by the "
    "cross of {attributes} (each cell got up to {floor} rows first, the rest in proportion), "
    "weighted back to the population for every mean."
)
ALL_ROWS_NOTE = "SHAP values were computed for all {rows} rows."
BACKGROUND_NOTE = (
    "Absent features take values from a background of {size} rows drawn at random from the "
    "data (independent masking)."
)
TREE_BACKGROUND_NOTE = (
    "TreeExplainer (tree_path_dependent) integrates absent features over the training data's "
    "path counts stored in the trees; no background sample is used."
)
PERMUTATION_NOTE = (
    "PermutationExplainer ran one antithetic permutation per row over the model's "
    "probabilities; values are exact for models with at most pairwise interactions and "
    "approximate otherwise, and always add up to the model output."
)
UNUSED_FEATURES_NOTE = (
    "Features with zero importance (not used by the model, or constant in the explained "
    "rows): {features}."
)
FALLBACK_UNMAPPABLE = (
    "{explainer} was not used: the preprocessing output cannot be traced to data columns "
    "({reason})."
)
FALLBACK_TRANSFORM = "{explainer} was not used: the preprocessing failed on the sample ({reason})."
FALLBACK_OUTPUT = (
    "{explainer} was not used: the model's own output differs from the audit scores by up "
    "to {gap:.2g}."
)
FALLBACK_ADDITIVITY = (
    "{explainer} was not used: its values did not add up to the model output "
    "(largest gap {gap:.2g})."
)
FALLBACK_ERROR = "{explainer} was not used: shap could not read the model ({reason})."
FALLBACK_CATEGORICAL = (
    "TreeExplainer was not used: the HistGradientBoosting model splits on native categorical "
    "features, which shap's tree explainer does not read."
)
SAMPLE_WITHHELD_NOTE = (
    "Importances of {groups} are withheld: they have at least {min_cell_size} patients but "
    "fewer than {min_cell_size} rows in the SHAP sample; a larger explain.sample_size "
    "includes them."
)

_LOGISTIC = ("LogisticRegression", "LogisticRegressionCV")
_BOOSTING = ("HistGradientBoostingClassifier", "GradientBoostingClassifier")
FLOAT32_ADDITIVITY_TOLERANCE = 1e-5
"""XGBoost sums its trees in float32 (about 1e-7 relative per tree): SHAP values add up to its
margin within this, not within 1e-6; the scores themselves are still checked at 1e-6."""
_GRADIENT_BOOSTING_LIBRARIES = ("LGBMClassifier", "XGBClassifier", "CatBoostClassifier")
"""LightGBM, XGBoost and CatBoost classifiers: TreeExplainer reads them exactly, on log-odds."""
_FORESTS = (
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
)


@dataclass(frozen=True)
class ShapValues:
    """Row-level SHAP values of one explained sample. Never written to a report."""

    explainer: str
    """LinearExplainer, TreeExplainer or PermutationExplainer."""
    output_scale: OutputScale
    features: tuple[str, ...]
    """Data columns, in the order of the columns of ``values``."""
    values: np.ndarray
    """(n_rows, n_features): SHAP values summed back to data columns."""
    base_value: float
    model_output: np.ndarray
    """(n_rows,): the explained output on ``output_scale``; base + row sum equals it."""
    background_size: int | None
    encoded_features: tuple[str, ...]
    """Columns the explainer saw (equal to ``features`` on the model-agnostic path)."""
    encoded_values: np.ndarray
    """(n_rows, n_encoded): SHAP values before summing back."""
    encoded_sources: tuple[str, ...]
    """Data column of each encoded column."""
    notes: tuple[str, ...] = field(default=())


def shap_values(
    scorer: Any,
    rows: pd.DataFrame,
    *,
    features: Sequence[str],
    background: pd.DataFrame,
    seed: int = 0,
) -> ShapValues:
    """Explain ``rows`` with the exact explainer the model allows, else a model-agnostic one.

    Parameters
    ----------
    scorer : Scorer
        ``scores(frame)`` gives P(positive); ``estimator`` is the fitted
        scikit-learn object (Pipeline or classifier) or None.
    rows : DataFrame of shape (n_rows, ...)
        Rows to explain; must hold ``features``.
    features : sequence of str
        The model's input columns, in the order the model reads them.
    background : DataFrame
        Rows that stand for "feature absent" (independent masking).
    seed : int
        Seeds the permutations of the model-agnostic path.

    Returns
    -------
    ShapValues
        Row-level values; only aggregates of them may leave the process.
    """
    features = [str(f) for f in features]
    scores = np.asarray(scorer.scores(rows), dtype=np.float64)
    notes: list[str] = []
    estimator = getattr(scorer, "estimator", None)
    if estimator is not None:
        exact = _exact(estimator, rows, features, background, scores, notes)
        if exact is not None:
            return exact
    return _permutation(scorer, rows, features, background, scores, seed, notes)


def class_shap_values(
    scorer: Any,
    rows: pd.DataFrame,
    *,
    features: Sequence[str],
    background: pd.DataFrame,
    seed: int = 0,
) -> list[ShapValues]:
    """Explain each class's predicted probability, in the order of ``scorer.explained_classes``.

    ``scorer.probabilities(frame)`` gives the audited probabilities (one column per
    class); ``scorer.model`` is the fitted model or None. A multinomial logistic
    regression (``shap.LinearExplainer``, on each class's linear score: the softmax
    input) and a random forest, extra trees or decision tree (``shap.TreeExplainer``,
    tree_path_dependent, on the probability) are explained exactly, under the binary
    path's rule: only when the model reproduces the audited probabilities within 1e-6
    and base + SHAP values add up to its output. Anything else runs one
    ``shap.PermutationExplainer`` over all the probabilities at once (the same
    permutations for every class), which always adds up to each probability.
    """
    features = [str(f) for f in features]
    proba = np.asarray(scorer.probabilities(rows), dtype=np.float64)
    classes = [str(c) for c in scorer.explained_classes]
    notes: list[str] = []
    model = getattr(scorer, "model", None)
    if model is not None:
        exact = _exact_multiclass(model, rows, features, background, proba, classes, notes)
        if exact is not None:
            return exact
    return _permutation_multiclass(scorer, rows, features, background, proba, seed, notes)


def _exact_multiclass(
    estimator: Any,
    rows: pd.DataFrame,
    features: list[str],
    background: pd.DataFrame,
    proba: np.ndarray,
    classes: list[str],
    notes: list[str],
) -> list[ShapValues] | None:
    """Linear or tree SHAP of every class, or None (with a note) if not exact."""
    from auditor.load.spec import group_label

    preprocessor, final = _split(estimator)
    kind = type(final).__name__
    coef = getattr(final, "coef_", None)
    if kind in _LOGISTIC and coef is not None and np.asarray(coef).shape[0] == len(classes):
        name = LINEAR
    elif kind in _FORESTS:
        name = TREE
    else:
        return None
    model_classes = [group_label(c) for c in getattr(final, "classes_", [])]
    if sorted(model_classes) != sorted(classes):
        return None
    order = [model_classes.index(c) for c in classes]
    inputs = _encoded_inputs(preprocessor, features, rows, background, name, notes)
    if inputs is None:
        return None
    sources, matrix, background_matrix = inputs
    try:
        if name == LINEAR:
            found = _linear_multiclass(final, matrix, background_matrix, proba, order)
        else:
            found = _tree_multiclass(final, matrix, proba, order)
    except _NotExact as exc:
        notes.append(exc.template.format(explainer=name, gap=exc.gap))
        return None
    except Exception as exc:  # shap cannot read this model: the agnostic path still can
        notes.append(FALLBACK_ERROR.format(explainer=name, reason=f"{type(exc).__name__}: {exc}"))
        return None
    names = _encoded_names(preprocessor, features, len(sources))
    return [
        ShapValues(
            explainer=name,
            output_scale=scale,
            features=tuple(features),
            values=sum_by_source(encoded, sources, features),
            base_value=base,
            model_output=output,
            background_size=len(background_matrix) if name == LINEAR else None,
            encoded_features=tuple(names),
            encoded_values=encoded,
            encoded_sources=tuple(sources),
            notes=tuple(notes),
        )
        for encoded, base, output, scale in found
    ]


def _per_class(raw: Any, n_classes: int) -> np.ndarray:
    """shap's multi-output values as (rows, features, classes), whichever shape it gave."""
    if isinstance(raw, list):
        return np.stack([np.asarray(v, dtype=np.float64) for v in raw], axis=-1)
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim != 3 or values.shape[-1] != n_classes:
        raise ValueError(f"unexpected SHAP value shape {values.shape}")
    return values


def _linear_multiclass(
    model: Any, matrix: np.ndarray, background: np.ndarray, proba: np.ndarray, order: list[int]
) -> list[_Exact]:
    """LinearExplainer per class of a multinomial model, on each class's linear score."""
    import shap
    from scipy.special import softmax

    explainer = shap.LinearExplainer(
        model, shap.maskers.Independent(background, max_samples=len(background))
    )
    k = len(order)
    values = _per_class(explainer.shap_values(matrix), k)
    bases = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))
    output = np.asarray(model.decision_function(_named(model, matrix)), dtype=np.float64)
    gap = float(np.max(np.abs(softmax(output, axis=1)[:, order] - proba), initial=0.0))
    if gap > ADDITIVITY_TOLERANCE:  # e.g. one-vs-rest probabilities: not a softmax
        raise _NotExact(FALLBACK_OUTPUT, gap)
    return [_additive(values[:, :, j], float(bases[j]), output[:, j], "logit") for j in order]


def _tree_multiclass(
    model: Any, matrix: np.ndarray, proba: np.ndarray, order: list[int]
) -> list[_Exact]:
    """TreeExplainer per class of a forest or tree, on the probability."""
    import shap

    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    k = len(order)
    values = _per_class(explainer.shap_values(matrix, check_additivity=False), k)
    bases = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))
    own = np.asarray(model.predict_proba(_named(model, matrix)), dtype=np.float64)
    gap = float(np.max(np.abs(own[:, order] - proba), initial=0.0))
    if gap > ADDITIVITY_TOLERANCE:
        raise _NotExact(FALLBACK_OUTPUT, gap)
    return [_additive(values[:, :, j], float(bases[j]), own[:, j], "probability") for j in order]


def _permutation_multiclass(
    scorer: Any,
    rows: pd.DataFrame,
    features: list[str],
    background: pd.DataFrame,
    proba: np.ndarray,
    seed: int,
    notes: list[str],
) -> list[ShapValues]:
    """Model-agnostic SHAP of every class's probability in one run (the same permutations)."""
    import shap

    codec = _FrameCodec(pd.concat([rows[features], background[features]]), features)
    k = proba.shape[1]

    def model(encoded: np.ndarray) -> np.ndarray:
        return np.asarray(scorer.probabilities(codec.decode(encoded)), dtype=np.float64)

    masker = shap.maskers.Independent(codec.encode(background), max_samples=len(background))
    with _restored_global_numpy_rng():
        explainer = shap.PermutationExplainer(model, masker, seed=seed)
        explanation = explainer(codec.encode(rows), max_evals=2 * len(features) + 1, silent=True)
    values = np.asarray(explanation.values, dtype=np.float64).reshape(len(rows), len(features), k)
    bases = np.asarray(explanation.base_values, dtype=np.float64).reshape(-1, k)
    out = []
    for j in range(k):
        base = float(bases[0, j]) if len(rows) else float("nan")
        out.append(
            ShapValues(
                explainer=PERMUTATION,
                output_scale="probability",
                features=tuple(features),
                values=values[:, :, j],
                base_value=base,
                model_output=proba[:, j],
                background_size=len(background),
                encoded_features=tuple(features),
                encoded_values=values[:, :, j],
                encoded_sources=tuple(features),
                notes=(*notes, PERMUTATION_NOTE),
            )
        )
    return out


def explain(
    scorer: Any,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive: pd.DataFrame,
    labels: np.ndarray | None = None,
    sample_size: int = 2000,
    background_size: int = 100,
    top_k: int = 5,
    proxy_threshold: float = PROXY_THRESHOLD,
    seed: int = 0,
    min_cell_size: int = 11,
    proxies: list[ProxyResult] | None = None,
    intersections: Sequence[Sequence[str]] = (),
) -> Explanations:
    """SHAP importance overall and per group, rank shifts, and proxy flags.

    Parameters
    ----------
    scorer : Scorer or None
        The model under audit; None or a score column means nothing to explain
        (proxies are still reported).
    frame : DataFrame of shape (n_rows, ...)
        The audited rows.
    features : sequence of str
        The spec's features; the model's own ``feature_names_in_`` take
        precedence when it has them (so a sensitive column the model reads is seen).
    sensitive : DataFrame of shape (n_rows, n_attributes)
        Group names per attribute (strings, ``(missing)`` for missing).
    labels : array of shape (n_rows,), optional
        0/1 outcomes; when given, each cell's sample keeps its outcome mix.
    sample_size, background_size : int
        Rows explained (budget) and rows in the background sample.
    top_k : int
        How many rank shifts, differing features and top features to report.
    proxy_threshold : float
        A strong proxy (strength above this) that ranks in the top ``top_k`` is flagged.
    seed : int
        Seeds the sample, the background and the model-agnostic permutations.
    min_cell_size : int
        Groups with fewer patients, or fewer sampled rows, are suppressed.
    proxies : list of ProxyResult, optional
        Precomputed :func:`auditor.measure.proxies.proxy_strengths`; computed here when None.
    intersections : sequence of attribute tuples
        Intersections to explain besides every single attribute.

    Returns
    -------
    Explanations
        Aggregates only: no row-level value is kept.
    """
    _check_parameters(frame, sensitive, labels, sample_size, background_size, top_k)
    if proxies is None:
        proxies = proxy_strengths(
            frame,
            features=features,
            sensitive=sensitive,
            seed=seed,
            threshold=proxy_threshold,
            min_cell_size=min_cell_size,
        )
    if scorer is None or getattr(scorer, "kind", None) == "score_column":
        return Explanations(
            status="not_evaluable",
            reason=NO_MODEL_REASON,
            proxies=proxies,
            proxy_threshold=proxy_threshold,
        )
    inputs = _model_inputs(scorer, features)
    if not inputs:
        return Explanations(
            status="not_evaluable",
            reason=NO_FEATURES_REASON,
            proxies=proxies,
            proxy_threshold=proxy_threshold,
        )
    rng = np.random.default_rng(seed)
    sample = stratified_sample(
        cell_codes(sensitive), size=sample_size, rng=rng, floor=min_cell_size, within=labels
    )
    n_background = min(background_size, len(frame))
    background_rows = np.sort(rng.choice(len(frame), size=n_background, replace=False))
    # Small per-row model calls: thread pools only add contention on a busy machine.
    classes = [str(c) for c in getattr(scorer, "explained_classes", ()) or ()]
    per_class: list[ShapValues] = []
    with threadpool_limits(limits=1):
        if classes:
            per_class = class_shap_values(
                scorer,
                frame.iloc[sample.rows],
                features=inputs,
                background=frame.iloc[background_rows],
                seed=seed,
            )
            values = per_class[0]
        else:
            values = shap_values(
                scorer,
                frame.iloc[sample.rows],
                features=inputs,
                background=frame.iloc[background_rows],
                seed=seed,
            )
    views: list[tuple[str, ...]] = [(str(a),) for a in sensitive.columns]
    views.extend(tuple(str(a) for a in view) for view in intersections)
    found = _aggregate(values, sample, sensitive, views, min_cell_size, top_k)
    overall, overall_ranks = found.overall, found.overall_ranks
    by_class: list[ClassExplanation] = []
    for label, class_values in zip(classes, per_class):
        agg = _aggregate(class_values, sample, sensitive, views, min_cell_size, top_k)
        by_class.append(
            ClassExplanation(
                label=label,
                explainer=class_values.explainer,
                output_scale=class_values.output_scale,
                global_importance=agg.global_importance,
                by_group=agg.by_group,
                differing_features=differing_features(agg.by_group, top_k=top_k),
            )
        )
    by_group, sample_per_group, withheld = found.by_group, found.sample_per_group, found.withheld

    sensitive_inputs = [str(a) for a in sensitive.columns if str(a) in values.features]
    flags = _flags(
        sensitive_inputs, proxies, values.features, overall_ranks, top_k, proxy_threshold
    )
    notes = [_sample_note(sample.size, len(frame), sensitive, sample.floor)]
    notes.append(
        TREE_BACKGROUND_NOTE
        if values.background_size is None
        else BACKGROUND_NOTE.format(size=values.background_size)
    )
    if withheld:
        notes.append(
            SAMPLE_WITHHELD_NOTE.format(groups=", ".join(withheld), min_cell_size=min_cell_size)
        )
    notes.extend(values.notes)
    unused = [f for f, v in zip(values.features, overall) if v == 0.0]
    if unused:
        notes.append(UNUSED_FEATURES_NOTE.format(features=", ".join(unused)))
    return Explanations(
        status="ok",
        explainer=values.explainer,
        output_scale=values.output_scale,
        background_size=values.background_size,
        sample_size=sample.size,
        sample_per_group=sample_per_group,
        global_importance=found.global_importance,
        by_group=by_group,
        differing_features=differing_features(by_group, top_k=top_k),
        by_class=by_class,
        sensitive_inputs=sensitive_inputs,
        proxies=proxies,
        proxy_threshold=proxy_threshold,
        flags=flags,
        notes=notes,
    )


@dataclass
class _Aggregates:
    """Mean |SHAP| overall and per group of one explained output."""

    overall: np.ndarray
    overall_ranks: np.ndarray
    global_importance: list[FeatureImportance]
    by_group: list[GroupExplanation]
    sample_per_group: list[dict[str, Any]]
    withheld: list[str]


def _aggregate(
    values: ShapValues,
    sample: Any,
    sensitive: pd.DataFrame,
    views: Sequence[tuple[str, ...]],
    min_cell_size: int,
    top_k: int,
) -> _Aggregates:
    """Weighted mean |SHAP| of everyone and of every group with at least ``min_cell_size``
    patients and sampled rows; a smaller group keeps its name only. One rule for the
    top-level explanation and for each class's."""
    magnitude = np.abs(values.values)
    overall = _weighted_mean(magnitude, sample.weights)
    overall_ranks = _ranks(overall, values.features)
    by_group: list[GroupExplanation] = []
    sample_per_group: list[dict[str, Any]] = []
    withheld: list[str] = []
    for view in views:
        for group, in_group in _groups(sensitive, view):
            attribute_name, group_name = _names(view, group)
            in_sample = in_group[sample.rows]
            n_sample = int(in_sample.sum())
            if int(in_group.sum()) < min_cell_size or n_sample < min_cell_size:
                if int(in_group.sum()) >= min_cell_size:
                    withheld.append(_display(attribute_name, group_name))
                by_group.append(
                    GroupExplanation(attribute=attribute_name, group=group_name, suppressed=True)
                )
                continue
            importance = _weighted_mean(magnitude[in_sample], sample.weights[in_sample])
            ranks = _ranks(importance, values.features)
            by_group.append(
                GroupExplanation(
                    attribute=attribute_name,
                    group=group_name,
                    n_sample=n_sample,
                    importance=_importance(values.features, importance, ranks),
                    kendall_tau=_kendall(ranks, overall_ranks),
                    top_shifts=_top_shifts(values.features, ranks, overall_ranks, top_k),
                )
            )
            sample_per_group.append(
                {"attribute": attribute_name, "group": group_name, "n_sample": n_sample}
            )
    return _Aggregates(
        overall=overall,
        overall_ranks=overall_ranks,
        global_importance=_importance(values.features, overall, overall_ranks),
        by_group=by_group,
        sample_per_group=sample_per_group,
        withheld=withheld,
    )


# --- choosing and running an explainer ------------------------------------------------


def _exact(
    estimator: Any,
    rows: pd.DataFrame,
    features: list[str],
    background: pd.DataFrame,
    scores: np.ndarray,
    notes: list[str],
) -> ShapValues | None:
    """Linear or tree SHAP on the preprocessed matrix, or None (with a note) if not exact."""
    preprocessor, final = _split(estimator)
    kind = type(final).__name__
    if _is_binary_logistic(final):
        name = LINEAR
    elif (
        kind in _BOOSTING + _FORESTS + _GRADIENT_BOOSTING_LIBRARIES
        and len(getattr(final, "classes_", ())) == 2
    ):
        name = TREE
        if kind == "HistGradientBoostingClassifier" and _has_native_categorical(final):
            notes.append(FALLBACK_CATEGORICAL)
            return None
    else:
        return None
    inputs = _encoded_inputs(preprocessor, features, rows, background, name, notes)
    if inputs is None:
        return None
    sources, matrix, background_matrix = inputs
    try:
        if name == LINEAR:
            encoded, base, output, scale = _linear(final, matrix, background_matrix, scores)
        elif kind in _GRADIENT_BOOSTING_LIBRARIES:
            encoded, base, output, scale = _boosted_library(final, matrix, scores)
        else:
            encoded, base, output, scale = _tree(final, matrix, scores)
    except _NotExact as exc:
        notes.append(exc.template.format(explainer=name, gap=exc.gap))
        return None
    except Exception as exc:  # shap cannot read this model: the agnostic path still can
        notes.append(FALLBACK_ERROR.format(explainer=name, reason=f"{type(exc).__name__}: {exc}"))
        return None
    names = _encoded_names(preprocessor, features, len(sources))
    return ShapValues(
        explainer=name,
        output_scale=scale,
        features=tuple(features),
        values=sum_by_source(encoded, sources, features),
        base_value=base,
        model_output=output,
        background_size=len(background_matrix) if name == LINEAR else None,
        encoded_features=tuple(names),
        encoded_values=encoded,
        encoded_sources=tuple(sources),
        notes=tuple(notes),
    )


class _NotExact(Exception):
    """The exact explainer does not reproduce the audit's scores (message template, gap)."""

    def __init__(self, template: str, gap: float) -> None:
        super().__init__(template)
        self.template = template
        self.gap = gap


_Exact = tuple[np.ndarray, float, np.ndarray, OutputScale]


def _linear(model: Any, matrix: np.ndarray, background: np.ndarray, scores: np.ndarray) -> _Exact:
    import shap

    explainer = shap.LinearExplainer(
        model, shap.maskers.Independent(background, max_samples=len(background))
    )
    values = np.asarray(explainer.shap_values(matrix), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    output = np.asarray(model.decision_function(_named(model, matrix)), dtype=np.float64).ravel()
    return _orient_log_odds(values, base, output, scores)


def _tree(model: Any, matrix: np.ndarray, scores: np.ndarray) -> _Exact:
    import shap

    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    values = np.asarray(explainer.shap_values(matrix, check_additivity=False), dtype=np.float64)
    bases = np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))
    if type(model).__name__ in _BOOSTING:
        output = np.asarray(model.decision_function(_named(model, matrix)), dtype=np.float64)
        output = output.ravel()
        return _orient_log_odds(values, float(bases[0]), output, scores)
    proba = np.asarray(model.predict_proba(_named(model, matrix)), dtype=np.float64)
    gaps = [float(np.max(np.abs(proba[:, k] - scores), initial=0.0)) for k in (0, 1)]
    k = int(np.argmin(gaps))
    if gaps[k] > ADDITIVITY_TOLERANCE:
        raise _NotExact(FALLBACK_OUTPUT, gaps[k])
    return _additive(values[:, :, k], float(bases[k]), proba[:, k], "probability")


def _margin(model: Any, inputs: Any) -> np.ndarray:
    """The log-odds a LightGBM, XGBoost or CatBoost classifier computes before its sigmoid."""
    kind = type(model).__name__
    if kind == "LGBMClassifier":
        raw = model.predict(inputs, raw_score=True)
    elif kind == "XGBClassifier":
        raw = model.predict(inputs, output_margin=True)
    else:
        raw = model.predict(inputs, prediction_type="RawFormulaVal")
    return np.asarray(raw, dtype=np.float64).ravel()


def _boosted_library(model: Any, matrix: np.ndarray, scores: np.ndarray) -> _Exact:
    """TreeExplainer on a LightGBM/XGBoost/CatBoost model; checked against its own margin."""
    import shap

    inputs = _named(model, matrix)
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    with warnings.catch_warnings():  # shap notes its LightGBM output shape changed; handled
        warnings.filterwarnings(
            "ignore", message="LightGBM binary classifier", category=UserWarning
        )
        raw = explainer.shap_values(inputs, check_additivity=False)
    if isinstance(raw, list):  # older shap/LightGBM: one array per class
        raw = raw[-1]
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim == 3:
        values = values[:, :, -1]
    base = float(np.ravel(np.asarray(explainer.expected_value, dtype=np.float64))[-1])
    tolerance = FLOAT32_ADDITIVITY_TOLERANCE if type(model).__name__ == "XGBClassifier" else None
    return _orient_log_odds(
        values, base, _margin(model, inputs), scores, tolerance or ADDITIVITY_TOLERANCE
    )


def _orient_log_odds(
    values: np.ndarray,
    base: float,
    output: np.ndarray,
    scores: np.ndarray,
    tolerance: float = ADDITIVITY_TOLERANCE,
) -> _Exact:
    """Point the log-odds at the audit's positive class (the model may score the other one)."""
    gap_same = float(np.max(np.abs(expit(output) - scores), initial=0.0))
    gap_flip = float(np.max(np.abs(expit(-output) - scores), initial=0.0))
    if min(gap_same, gap_flip) > ADDITIVITY_TOLERANCE:
        raise _NotExact(FALLBACK_OUTPUT, min(gap_same, gap_flip))
    if gap_flip < gap_same:
        values, base, output = -values, -base, -output
    return _additive(values, base, output, "log_odds", tolerance)


def _additive(
    values: np.ndarray,
    base: float,
    output: np.ndarray,
    scale: OutputScale,
    tolerance: float = ADDITIVITY_TOLERANCE,
) -> _Exact:
    gap = float(np.max(np.abs(base + values.sum(axis=1) - output), initial=0.0))
    if gap > tolerance:
        raise _NotExact(FALLBACK_ADDITIVITY, gap)
    return values, base, output, scale


def _permutation(
    scorer: Any,
    rows: pd.DataFrame,
    features: list[str],
    background: pd.DataFrame,
    scores: np.ndarray,
    seed: int,
    notes: list[str],
) -> ShapValues:
    """Model-agnostic SHAP over ``scorer.scores`` on the data's own columns."""
    import shap

    codec = _FrameCodec(pd.concat([rows[features], background[features]]), features)

    def model(encoded: np.ndarray) -> np.ndarray:
        return np.asarray(scorer.scores(codec.decode(encoded)), dtype=np.float64)

    masker = shap.maskers.Independent(codec.encode(background), max_samples=len(background))
    with _restored_global_numpy_rng():
        explainer = shap.PermutationExplainer(model, masker, seed=seed)
        explanation = explainer(codec.encode(rows), max_evals=2 * len(features) + 1, silent=True)
    values = np.asarray(explanation.values, dtype=np.float64).reshape(len(rows), len(features))
    base = float(np.ravel(explanation.base_values)[0]) if len(rows) else float("nan")
    return ShapValues(
        explainer=PERMUTATION,
        output_scale="probability",
        features=tuple(features),
        values=values,
        base_value=base,
        model_output=scores,
        background_size=len(background),
        encoded_features=tuple(features),
        encoded_values=values,
        encoded_sources=tuple(features),
        notes=(*notes, PERMUTATION_NOTE),
    )


class _FrameCodec:
    """Numbers for shap's masker, back to a typed DataFrame for the scorer.

    Numeric columns pass through as float64; any other column becomes the
    code of its value (NaN for a missing one) and is decoded to the original
    dtype, so the scorer sees data shaped exactly like the audited frame.
    """

    def __init__(self, frame: pd.DataFrame, features: list[str]) -> None:
        self.features = features
        self.dtypes = {f: frame[f].dtype for f in features}
        self.categories: dict[str, pd.Index] = {}
        for f in features:
            column = frame[f]
            if isinstance(column.dtype, pd.CategoricalDtype):
                self.categories[f] = pd.Index(column.cat.categories)
            elif not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
                self.categories[f] = pd.Index(pd.unique(column.dropna()))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, f in enumerate(self.features):
            if f in self.categories:
                codes = self.categories[f].get_indexer(frame[f]).astype(np.float64)
                codes[codes < 0] = np.nan
                out[:, j] = codes
            else:
                out[:, j] = frame[f].to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def decode(self, encoded: np.ndarray) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for j, f in enumerate(self.features):
            dtype = self.dtypes[f]
            if f in self.categories:
                codes = np.nan_to_num(encoded[:, j], nan=-1.0).astype(np.int64)
                if isinstance(dtype, pd.CategoricalDtype):
                    columns[f] = pd.Categorical.from_codes(codes, dtype=dtype)
                else:
                    values = self.categories[f].take(np.maximum(codes, 0)).to_numpy(dtype=object)
                    values[codes < 0] = None
                    columns[f] = pd.Series(values, dtype=dtype)
            elif pd.api.types.is_float_dtype(dtype):
                columns[f] = pd.Series(encoded[:, j], dtype=dtype)
            else:
                columns[f] = pd.Series(encoded[:, j]).astype(dtype)
        return pd.DataFrame(columns)


@contextlib.contextmanager
def _restored_global_numpy_rng() -> Iterator[None]:
    """shap's PermutationExplainer seeds numpy's global generator; put it back afterwards."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _split(estimator: Any) -> tuple[Any | None, Any]:
    """(preprocessing steps or None, final estimator) of a Pipeline or a bare model."""
    if type(estimator).__name__ == "Pipeline" and len(estimator.steps) > 1:
        return estimator[:-1], estimator.steps[-1][1]
    if type(estimator).__name__ == "Pipeline":
        return None, estimator.steps[-1][1]
    return None, estimator


def _is_binary_logistic(model: Any) -> bool:
    kind = type(model).__name__
    logistic = kind in _LOGISTIC or (
        kind == "SGDClassifier" and getattr(model, "loss", None) == "log_loss"
    )
    coef = getattr(model, "coef_", None)
    return logistic and coef is not None and np.asarray(coef).shape[0] == 1


def _has_native_categorical(model: Any) -> bool:
    flags = getattr(model, "is_categorical_", None)
    return flags is not None and bool(np.any(flags))


def _named(model: Any, matrix: np.ndarray) -> Any:
    """The matrix with the column names the final estimator was fitted with, if any."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) != matrix.shape[1]:
        return matrix
    return pd.DataFrame(matrix, columns=list(names))


def _encoded_inputs(
    preprocessor: Any | None,
    features: list[str],
    rows: pd.DataFrame,
    background: pd.DataFrame,
    name: str,
    notes: list[str],
) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """The model's encoded inputs for an exact explainer and where each came from, or
    None with a note saying why the model-agnostic path is used instead."""
    try:
        sources = encoded_sources(preprocessor, features)
    except FeatureMappingError as exc:
        notes.append(FALLBACK_UNMAPPABLE.format(explainer=name, reason=exc))
        return None
    try:
        matrix = _transform(preprocessor, rows[features])
        background_matrix = _transform(preprocessor, background[features])
    except (ValueError, TypeError) as exc:
        notes.append(FALLBACK_TRANSFORM.format(explainer=name, reason=exc))
        return None
    return sources, matrix, background_matrix


def _transform(preprocessor: Any | None, frame: pd.DataFrame) -> np.ndarray:
    matrix = frame if preprocessor is None else preprocessor.transform(frame)
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def _encoded_names(preprocessor: Any | None, features: list[str], n: int) -> list[str]:
    if preprocessor is None:
        return list(features)
    try:
        names = [str(x) for x in preprocessor.get_feature_names_out(features)]
    except (AttributeError, ValueError, TypeError):
        names = []
    return names if len(names) == n else [f"x{i}" for i in range(n)]


def _model_inputs(scorer: Any, features: Sequence[str]) -> list[str]:
    """Columns the model reads: its ``feature_names_in_`` when known, else the spec's features."""
    names = getattr(getattr(scorer, "estimator", None), "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    own = getattr(scorer, "features", None)
    if own:
        return [str(n) for n in own]
    return [str(f) for f in features]


# --- aggregates -------------------------------------------------------------------------


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    total = float(weights.sum())
    if total <= 0:
        return np.zeros(values.shape[1])
    return np.asarray(weights @ values / total, dtype=np.float64)


def _ranks(importance: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """1 = largest mean |SHAP|; ties broken by feature name so ranks are deterministic."""
    order = sorted(range(len(features)), key=lambda j: (-float(importance[j]), features[j]))
    ranks = np.empty(len(features), dtype=np.int64)
    ranks[order] = np.arange(1, len(features) + 1)
    return ranks


def _importance(
    features: Sequence[str], importance: np.ndarray, ranks: np.ndarray
) -> list[FeatureImportance]:
    rows = [
        FeatureImportance(feature=f, mean_abs_shap=float(v), rank=int(r))
        for f, v, r in zip(features, importance, ranks)
    ]
    return sorted(rows, key=lambda row: row.rank)


def _kendall(ranks: np.ndarray, overall: np.ndarray) -> float | None:
    if ranks.size < 2:
        return None
    tau = kendalltau(ranks, overall).statistic
    return None if np.isnan(tau) else float(tau)


def _top_shifts(
    features: Sequence[str], ranks: np.ndarray, overall: np.ndarray, top_k: int
) -> list[RankShift]:
    moved = [j for j in range(len(features)) if ranks[j] != overall[j]]
    moved.sort(key=lambda j: (-abs(int(ranks[j] - overall[j])), int(overall[j])))
    return [
        RankShift(
            feature=features[j],
            rank=int(ranks[j]),
            overall_rank=int(overall[j]),
            shift=int(ranks[j] - overall[j]),
        )
        for j in moved[:top_k]
    ]


def differing_features(by_group: Sequence[GroupExplanation], *, top_k: int) -> list[dict[str, Any]]:
    """Per attribute or intersection, the top_k features whose importance differs most.

    The spread is the largest minus the smallest mean |SHAP| over the view's
    reportable (not suppressed) groups; a view with fewer than two has none. The one
    definition behind :func:`explain` and :func:`restrict_to_reportable`.
    """
    views: dict[tuple[str, ...], list[GroupExplanation]] = {}
    for g in by_group:
        members = views.setdefault(group_key(g.attribute, g.group)[0], [])
        if not g.suppressed and g.importance:
            members.append(g)
    rows: list[dict[str, Any]] = []
    for view, groups in views.items():
        rows.extend(_differing(view, groups, top_k))
    return rows


def _differing(
    view: tuple[str, ...], groups: list[GroupExplanation], top_k: int
) -> list[dict[str, Any]]:
    if len(groups) < 2:
        return []
    features = [i.feature for i in groups[0].importance]
    table = np.array(
        [
            [{i.feature: i.mean_abs_shap for i in g.importance}.get(f, 0.0) for f in features]
            for g in groups
        ],
        dtype=np.float64,
    )
    spread = table.max(axis=0) - table.min(axis=0)
    order = sorted(range(len(features)), key=lambda j: (-float(spread[j]), features[j]))
    rows = []
    for j in order[:top_k]:
        if spread[j] <= 0:
            break
        rows.append(
            {
                "attribute": view[0] if len(view) == 1 else list(view),
                "feature": features[j],
                "max_group": groups[int(table[:, j].argmax())].group,
                "min_group": groups[int(table[:, j].argmin())].group,
                "max_minus_min": float(spread[j]),
            }
        )
    return rows


def restrict_to_reportable(
    explanations: Explanations,
    suppressed: Collection[GroupKey],
    *,
    top_k: int,
    min_cell_size: int,
) -> Explanations:
    """The explanations of the groups the measurement reports, and of no other.

    The measure stage may suppress more groups than this module's own size floor
    (complementary suppression, a suppressed coarser group); each of ``suppressed``
    (:func:`reports.model.group_key`) keeps its name only, leaves the per-group
    sample sizes and the sample note, and no longer takes part in the features
    whose importance differs between groups, which are recomputed from the rest.
    """
    hidden = set(suppressed)
    if explanations.status != "ok" or not hidden:
        return explanations
    by_group: list[GroupExplanation] = []
    for g in explanations.by_group:
        if group_key(g.attribute, g.group) in hidden:
            g = GroupExplanation(attribute=g.attribute, group=g.group, suppressed=True)
        by_group.append(g)
    by_class = []
    for c in explanations.by_class:
        groups = _hide(c.by_group, hidden)
        by_class.append(
            c.model_copy(
                update={
                    "by_group": groups,
                    "differing_features": differing_features(groups, top_k=top_k),
                },
                deep=True,
            )
        )
    samples = [
        row
        for row in explanations.sample_per_group
        if group_key(row.get("attribute", ""), row.get("group", "")) not in hidden
    ]
    return explanations.model_copy(
        update={
            "by_group": by_group,
            "sample_per_group": samples,
            "differing_features": differing_features(by_group, top_k=top_k),
            "by_class": by_class,
            "notes": _restricted_notes(explanations, hidden, min_cell_size),
        },
        deep=True,
    )


def _hide(groups: Sequence[GroupExplanation], hidden: set[GroupKey]) -> list[GroupExplanation]:
    """The groups, each of ``hidden`` reduced to its name."""
    return [
        GroupExplanation(attribute=g.attribute, group=g.group, suppressed=True)
        if group_key(g.attribute, g.group) in hidden
        else g
        for g in groups
    ]


def _restricted_notes(
    explanations: Explanations, hidden: set[GroupKey], min_cell_size: int
) -> list[str]:
    """The notes, with hidden groups taken out of the sample-withheld note."""
    head, tail = SAMPLE_WITHHELD_NOTE.split("{groups}")
    tail = tail.format(min_cell_size=min_cell_size)
    candidates = [
        (_display(g.attribute, g.group), group_key(g.attribute, g.group) in hidden)
        for g in explanations.by_group
        if g.suppressed
    ]
    notes = []
    for note in explanations.notes:
        if note.startswith(head) and note.endswith(tail):
            listed = _listed(note[len(head) : len(note) - len(tail)], candidates)
            kept = [name for name, is_hidden in listed if not is_hidden]
            if not kept:
                continue
            note = SAMPLE_WITHHELD_NOTE.format(groups=", ".join(kept), min_cell_size=min_cell_size)
        notes.append(note)
    return notes


def _listed(text: str, candidates: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The candidates a ', '-joined list names, in order (names may hold ', ' themselves)."""
    found: list[tuple[str, bool]] = []
    pos = 0
    for name, is_hidden in candidates:
        end = pos + len(name)
        if text.startswith(name, pos) and (end == len(text) or text.startswith(", ", end)):
            found.append((name, is_hidden))
            pos = end + 2
    return found


def _flags(
    sensitive_inputs: list[str],
    proxies: list[ProxyResult],
    features: Sequence[str],
    ranks: np.ndarray,
    top_k: int,
    threshold: float,
) -> list[str]:
    rank_of = dict(zip(features, ranks.tolist()))
    n = len(features)
    flags = [
        SENSITIVE_INPUT_FLAG.format(attribute=a, rank=rank_of[a], n=n) for a in sensitive_inputs
    ]
    for proxy in proxies:
        rank = rank_of.get(proxy.feature)
        if (
            proxy.feature == ALL_FEATURES
            or not proxy.is_proxy
            or rank is None
            or rank > top_k
            or proxy.strength is None
        ):
            continue
        flags.append(
            PROXY_TOP_K_FLAG.format(
                feature=proxy.feature,
                attribute=proxy.attribute,
                strength=proxy.strength,
                threshold=threshold,
                rank=rank,
                n=n,
                top_k=top_k,
            )
        )
    return flags


def _groups(
    sensitive: pd.DataFrame, view: tuple[str, ...]
) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """(group values, row mask) for every observed group of a view, in display order."""
    keys = sensitive[list(view)].astype(str)
    codes = [keys[a].to_numpy() for a in view]
    orders = [_order(sensitive[a]) for a in view]
    found = set(zip(*codes)) if len(view) > 1 else {(v,) for v in codes[0]}
    position = [{name: i for i, name in enumerate(order)} for order in orders]
    ordered = sorted(found, key=lambda g: tuple(position[i][v] for i, v in enumerate(g)))
    out = []
    for group in ordered:
        mask = np.ones(len(sensitive), dtype=bool)
        for column, value in zip(codes, group):
            mask &= column == value
        out.append((group, mask))
    return out


def _order(column: pd.Series) -> list[str]:
    """Categorical order when the column has one, else sorted; ``(missing)`` last."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [str(c) for c in column.cat.categories]
    else:
        names = sorted({str(v) for v in column.astype(str)})
    seen = set(column.astype(str))
    names = [n for n in names if n in seen and n != MISSING_GROUP]
    return [*names, MISSING_GROUP] if MISSING_GROUP in seen else names


def _names(view: tuple[str, ...], group: tuple[str, ...]) -> tuple[GroupName, GroupName]:
    if len(view) == 1:
        return view[0], group[0]
    return list(view), list(group)


def _display(attribute: GroupName, group: GroupName) -> str:
    """'race = Black', or 'race × sex = Black × female' for an intersection."""
    if isinstance(attribute, str):
        return f"{attribute} = {group}"
    return f"{' × '.join(attribute)} = {' × '.join(group)}"


def _sample_note(size: int, rows: int, sensitive: pd.DataFrame, floor: int) -> str:
    if size >= rows:
        return ALL_ROWS_NOTE.format(rows=rows)
    attributes = ", ".join(str(a) for a in sensitive.columns) or "no attribute"
    return SAMPLE_NOTE.format(size=size, rows=rows, attributes=attributes, floor=floor)


def _check_parameters(
    frame: pd.DataFrame,
    sensitive: pd.DataFrame,
    labels: np.ndarray | None,
    sample_size: int,
    background_size: int,
    top_k: int,
) -> None:
    for value, message in (
        (sample_size, BAD_SAMPLE_SIZE),
        (background_size, BAD_BACKGROUND_SIZE),
        (top_k, BAD_TOP_K),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise SpecError(message.format(value=value))
    check_row_alignment(frame, sensitive, labels)
