"""The counts behind the data checks: group sizes and missing values per feature.

They are sums, so they merge: a stream or a cluster adds them up batch by batch (or
per finest cell) and the representation and missingness checks stay exact on any
number of rows (:func:`auditor.measure.data_checks.data_checks_from_counts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.reduce.sampling import group_codes


@dataclass(frozen=True)
class GroupCounts:
    """One attribute's observed groups, their sizes and missing values per feature."""

    names: list[str]
    sizes: np.ndarray
    """Rows per group, aligned with ``names``."""
    missing: np.ndarray
    """Missing values per (group, feature)."""
    categories: list[str] | None = None
    """The column's categorical order, when it had one (else groups sort by name)."""


@dataclass(frozen=True)
class CheckCounts:
    """Everything the data checks need, as counts: mergeable, so a stream or a cluster
    can add them up batch by batch and the checks stay exact on any number of rows."""

    rows: int
    attributes: dict[str, GroupCounts]
    any_missing: bool
    label_rows: np.ndarray | None = None
    """Rows without and with the outcome (``[negatives, positives]``)."""
    label_missing: np.ndarray | None = None
    """Missing values per (outcome 0/1, feature)."""


def count_checks(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive: pd.DataFrame,
    labels: np.ndarray | None,
) -> CheckCounts:
    """The counts behind the data checks, in one vectorised pass per attribute."""
    n = len(frame)
    missing = frame[list(features)].isna().to_numpy() if features else np.zeros((n, 0), bool)
    attributes: dict[str, GroupCounts] = {}
    for attribute in sensitive.columns:
        column = sensitive[attribute]
        codes, names = group_codes(column)
        categories = (
            [str(c) for c in column.cat.categories]
            if isinstance(column.dtype, pd.CategoricalDtype)
            else None
        )
        attributes[str(attribute)] = GroupCounts(
            names=names,
            sizes=np.bincount(codes, minlength=len(names)),
            missing=_missing_counts(codes, missing, len(names)),
            categories=categories,
        )
    label_rows = label_missing = None
    if labels is not None:
        outcome = np.asarray(labels).astype(bool).astype(np.int64)
        label_rows = np.bincount(outcome, minlength=2)
        label_missing = _missing_counts(outcome, missing, 2)
    return CheckCounts(
        rows=n,
        attributes=attributes,
        any_missing=bool(missing.any()),
        label_rows=label_rows,
        label_missing=label_missing,
    )


def _missing_counts(codes: np.ndarray, missing: np.ndarray, groups: int) -> np.ndarray:
    """Missing values per (group, feature): one bincount per feature, in row blocks."""
    out = np.zeros((groups, missing.shape[1]), dtype=np.int64)
    for j in range(missing.shape[1]):
        out[:, j] = np.bincount(codes, weights=missing[:, j], minlength=groups).astype(np.int64)
    return out


def counts_from_cells(
    attributes: Sequence[str],
    values: Mapping[str, Sequence[str]],
    cells: Sequence[tuple[str, ...]],
    cell_rows: np.ndarray,
    cell_missing: np.ndarray,
    *,
    label_rows: np.ndarray | None,
    label_missing: np.ndarray | None,
    categories: dict[str, list[str] | None] | None = None,
) -> CheckCounts:
    """Check counts of every attribute from counts per finest cell (a stream, Spark);
    ``label_rows`` is None for a task without a 0/1 outcome (multiclass, regression)."""
    cell_rows = np.asarray(cell_rows, dtype=np.int64)
    cell_missing = np.asarray(cell_missing, dtype=np.int64).reshape(len(cells), -1)
    out: dict[str, GroupCounts] = {}
    for i, attribute in enumerate(attributes):
        names = list(values[attribute])
        index = {g: j for j, g in enumerate(names)}
        at = np.array([index[key[i]] for key in cells], dtype=np.int64)
        sizes = np.zeros(len(names), dtype=np.int64)
        np.add.at(sizes, at, cell_rows)
        missing = np.zeros((len(names), cell_missing.shape[1]), dtype=np.int64)
        np.add.at(missing, at, cell_missing)
        out[attribute] = GroupCounts(
            names=names,
            sizes=sizes,
            missing=missing,
            categories=(categories or {}).get(attribute),
        )
    return CheckCounts(
        rows=int(cell_rows.sum()),
        attributes=out,
        any_missing=bool(cell_missing.any()),
        label_rows=None if label_rows is None else np.asarray(label_rows, dtype=np.int64),
        label_missing=None if label_missing is None else np.asarray(label_missing, dtype=np.int64),
    )
