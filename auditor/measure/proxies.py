"""Proxy detection: how well the model's features predict each sensitive attribute.

Leaving race out of a model does not keep race out of its decisions when a
feature (a postcode, a payer, a lab ordered more often in one group) predicts
race. For every sensitive attribute this measures, for each feature alone and
for all features together:

* the normalized mutual information between the attribute and the feature
  (numbers cut into quantile bins, categories as they are, a missing value as
  its own bin), a model-free measure of shared information; for all features
  together, between the attribute and the joint model's cross-validated
  predicted group (a plug-in estimate over the cross of all features would
  be near its maximum on any data set, since nearly every row is its own cell);
* a cross-validated AUROC of a small model predicting the attribute
  (one-vs-rest, macro-averaged over groups when there are more than two).
  A feature alone uses a histogram classifier (group frequencies per bin,
  Laplace-smoothed, learned on the training folds); all features together use
  a logistic regression on the one-hot bins of every feature (an additive
  model: a proxy that exists only through an interaction of features is not
  seen);
* ``proxy_strength = max(0, 2 * AUROC - 1)`` (0: no better than chance,
  1: predicts the attribute perfectly); above the threshold the feature
  is a strong proxy.

The attribute itself is never a candidate for its own proxy (a model that uses
it directly is flagged separately by the explanations). Groups suppressed by
the small-cell rule, and groups too small to appear in every fold, are left out
of the target and named in the result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from auditor.errors import SpecError
from auditor.reduce.sampling import group_codes
from reports.model import ProxyResult

ALL_FEATURES = "(all features)"
"""The ``feature`` value of the joint model over every feature."""
N_FOLDS = 5
N_BINS = 20
"""Quantile bins of a numeric feature (fewer when values repeat)."""

EXCLUDED_REASON = (
    "left out of the AUROC target: {groups} (fewer than {min_cell_size} patients, or fewer "
    "than {min_rows} rows in the sample, needed for {folds}-fold cross-validation)"
)
TOO_FEW_GROUPS_REASON = (
    "not evaluable: fewer than two groups of '{attribute}' have at least {min_cell_size} "
    "patients and {min_rows} sampled rows"
)
NO_FEATURES_REASON = "not evaluable: no feature other than '{attribute}' itself"
PROXY_SAMPLE_ROWS = 5000
"""Rows (a seeded random sample) the proxy models are fitted on."""
PROXY_THRESHOLD = 0.5
"""Proxy strength above which a feature is a strong proxy: the same bound as the
clinical-default policy's `proxies` rule (at most 0.5), so the table and the rule agree.
A policy with its own proxy bound sets it instead (see ``auditor.audit``)."""

BAD_THRESHOLD = "explain.proxy_threshold must be between 0 and 1; got {value!r}"


def proxy_strengths(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive: pd.DataFrame,
    seed: int = 0,
    threshold: float = PROXY_THRESHOLD,
    sample_size: int = PROXY_SAMPLE_ROWS,
    min_cell_size: int = 11,
) -> list[ProxyResult]:
    """Measure how well each feature, and all features together, predict each attribute.

    Parameters
    ----------
    frame : DataFrame of shape (n_rows, ...)
        The data; ``features`` are read from it.
    features : sequence of str
        Candidate proxies (the model's features).
    sensitive : DataFrame of shape (n_rows, n_attributes)
        One column per sensitive attribute (group names as strings).
    seed : int
        Seeds the row sample and the folds.
    threshold : float
        A feature with ``proxy_strength > threshold`` is a strong proxy.
    sample_size : int
        At most this many rows (a seeded simple random sample) are used.
    min_cell_size : int
        Groups with fewer patients are suppressed and left out of the target.

    Returns
    -------
    list of ProxyResult
        Per attribute (in column order): the joint model first, then each
        feature in the order given.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise SpecError(BAD_THRESHOLD.format(value=threshold))
    rng = np.random.default_rng(seed)
    n = len(frame)
    rows = np.arange(n)
    if n > sample_size:
        rows = np.sort(rng.choice(n, size=sample_size, replace=False))
    data = frame.iloc[rows].reset_index(drop=True)
    results: list[ProxyResult] = []
    # Many small fits: thread pools only add start-up and contention cost here.
    with threadpool_limits(limits=1):
        for attribute in sensitive.columns:
            # group sizes of the whole data from one factorization (no string pass over
            # every row); the row-level work below sees only the sample
            codes, names = group_codes(sensitive[attribute])
            population = dict(zip(names, np.bincount(codes, minlength=len(names)).tolist()))
            sampled = np.asarray(names, dtype=object)[codes[rows]].astype(str)
            candidates = [f for f in features if f != attribute]
            results.extend(
                _attribute_proxies(
                    str(attribute),
                    population,
                    sampled,
                    data,
                    candidates,
                    seed=seed,
                    threshold=threshold,
                    min_cell_size=min_cell_size,
                )
            )
    return results


def _attribute_proxies(
    attribute: str,
    population: dict[str, int],
    groups: np.ndarray,
    data: pd.DataFrame,
    candidates: list[str],
    *,
    seed: int,
    threshold: float,
    min_cell_size: int,
) -> list[ProxyResult]:
    min_rows = 2 * N_FOLDS
    population = {g: k for g, k in population.items() if k > 0}
    names, counts = np.unique(groups, return_counts=True)
    sampled = dict(zip(names.tolist(), counts.tolist()))
    excluded = sorted(
        g for g in population if population[g] < min_cell_size or sampled.get(g, 0) < min_rows
    )
    included = sorted(g for g in population if g not in excluded)
    reason = None
    if excluded:
        reason = EXCLUDED_REASON.format(
            groups=", ".join(f"'{g}'" for g in excluded),
            min_cell_size=min_cell_size,
            min_rows=min_rows,
            folds=N_FOLDS,
        )
    names_out = [ALL_FEATURES, *candidates]
    if len(included) < 2 or not candidates:
        why = (
            NO_FEATURES_REASON.format(attribute=attribute)
            if not candidates
            else TOO_FEW_GROUPS_REASON.format(
                attribute=attribute, min_cell_size=min_cell_size, min_rows=min_rows
            )
        )
        return [
            ProxyResult(attribute=attribute, feature=f, excluded_groups=excluded, reason=why)
            for f in names_out
        ]
    keep = np.isin(groups, included)
    target = np.searchsorted(np.asarray(included), groups[keep])
    subset = data.loc[keep, candidates].reset_index(drop=True)
    folds = list(
        StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed).split(
            np.zeros(target.size), target
        )
    )
    n_classes = len(included)
    binned = {f: _bin(subset[f]) for f in candidates}
    results: list[ProxyResult] = []
    joint = _joint_oof(binned, target, folds, n_classes)
    auc = _ovr_macro_auroc(target, joint)
    joint_nmi = float(normalized_mutual_info_score(target, joint.argmax(axis=1)))
    results.append(_result(attribute, ALL_FEATURES, joint_nmi, auc, threshold, excluded, reason))
    for feature in candidates:
        codes = binned[feature]
        nmi = float(normalized_mutual_info_score(target, codes))
        auc = _ovr_macro_auroc(target, _histogram_oof(codes, target, folds, n_classes))
        results.append(_result(attribute, feature, nmi, auc, threshold, excluded, reason))
    return results


def _result(
    attribute: str,
    feature: str,
    nmi: float | None,
    auc: float,
    threshold: float,
    excluded: list[str],
    reason: str | None,
) -> ProxyResult:
    strength = max(0.0, 2.0 * auc - 1.0)
    return ProxyResult(
        attribute=attribute,
        feature=feature,
        nmi=nmi,
        auroc=auc,
        strength=strength,
        is_proxy=strength > threshold,
        excluded_groups=excluded,
        reason=reason,
    )


def _bin(column: pd.Series) -> np.ndarray:
    """Discretize a feature: quantile bins for numbers, categories otherwise; NaN is bin -1."""
    if pd.api.types.is_bool_dtype(column):
        column = column.astype("float64")
    if pd.api.types.is_numeric_dtype(column):
        values = column.astype("float64")
        if values.nunique(dropna=True) <= N_BINS:
            codes, _ = pd.factorize(values, sort=True)
            return codes.astype(np.int64)
        binned = pd.qcut(values, N_BINS, labels=False, duplicates="drop")
        return binned.fillna(-1).to_numpy(dtype=np.int64)
    codes, _ = pd.factorize(column.astype("object"), sort=True)
    return codes.astype(np.int64)


def _histogram_oof(
    codes: np.ndarray,
    target: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
) -> np.ndarray:
    """Out-of-fold P(group | bin) from Laplace-smoothed bin-by-group counts."""
    shifted = codes - codes.min()
    n_bins = int(shifted.max()) + 1
    proba = np.zeros((codes.size, n_classes))
    for train, test in folds:
        table = np.ones((n_bins, n_classes))
        np.add.at(table, (shifted[train], target[train]), 1.0)
        table /= table.sum(axis=1, keepdims=True)
        proba[test] = table[shifted[test]]
    return proba


def _joint_oof(
    binned: dict[str, np.ndarray],
    target: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
) -> np.ndarray:
    """Out-of-fold probabilities of a logistic regression on every feature's one-hot bins."""
    matrix = np.column_stack(list(binned.values()))
    proba = np.zeros((target.size, n_classes))
    for train, test in folds:
        encoder = OneHotEncoder(handle_unknown="ignore").fit(matrix[train])
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(encoder.transform(matrix[train]), target[train])
        proba[test] = model.predict_proba(encoder.transform(matrix[test]))
    return proba


def _ovr_macro_auroc(target: np.ndarray, proba: np.ndarray) -> float:
    """AUROC of group k against the rest, averaged over groups (binary: one AUROC)."""
    if proba.shape[1] == 2:
        return float(roc_auc_score(target == 1, proba[:, 1]))
    scores = [roc_auc_score(target == k, proba[:, k]) for k in range(proba.shape[1])]
    return float(np.mean(scores))
