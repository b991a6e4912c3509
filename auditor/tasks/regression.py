"""Regression task: a continuous outcome (length of stay, cost) and its prediction.

The statistic of a cell is a :class:`RowTable` of distinct ``(label, prediction)``
rows with patient counts. Every metric equals its scikit-learn or fairlearn
reference to 1e-9 on the same rows (``tests/test_tasks_regression.py``).
``mean_error`` is signed, prediction − observed: positive means the model
over-estimates for the group. ``calibration_slope`` is the least-squares slope of the
observed on the predicted value (1 is ideal; below 1 predictions are too spread).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from auditor.tasks.base import RendererHints, RowTable, TaskDef, TaskMetric, Value

COLUMNS = ("label", "prediction")
EMPTY = "the group has no patients"
CONSTANT_LABEL = "every patient of the group has the same observed value, so R² is undefined"
CONSTANT_PREDICTION = "every prediction of the group is the same, so no slope can be fitted"
MAX_RESIDUAL_BINS = 10


def _cols(table: RowTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    c = table.columns
    return c["label"], c["prediction"], table.count, float(table.count.sum())


def _mean(values: np.ndarray, w: np.ndarray, n: float) -> float:
    return float(values @ w) / n


def mae(table: RowTable, ctx: Any) -> Value:
    y, p, w, n = _cols(table)
    return (_mean(np.abs(p - y), w, n), None) if n > 0 else (np.nan, EMPTY)


def rmse(table: RowTable, ctx: Any) -> Value:
    y, p, w, n = _cols(table)
    return (float(np.sqrt(_mean((p - y) ** 2, w, n))), None) if n > 0 else (np.nan, EMPTY)


def mean_error(table: RowTable, ctx: Any) -> Value:
    y, p, w, n = _cols(table)
    return (_mean(p - y, w, n), None) if n > 0 else (np.nan, EMPTY)


def r2(table: RowTable, ctx: Any) -> Value:
    y, p, w, n = _cols(table)
    if n == 0:
        return np.nan, EMPTY
    ybar = _mean(y, w, n)
    total = float(((y - ybar) ** 2) @ w)
    if total == 0:
        return np.nan, CONSTANT_LABEL
    return 1.0 - float(((y - p) ** 2) @ w) / total, None


def mean_prediction(table: RowTable, ctx: Any) -> Value:
    _, p, w, n = _cols(table)
    return (_mean(p, w, n), None) if n > 0 else (np.nan, EMPTY)


def mean_label(table: RowTable, ctx: Any) -> Value:
    y, _, w, n = _cols(table)
    return (_mean(y, w, n), None) if n > 0 else (np.nan, EMPTY)


def calibration_slope(table: RowTable, ctx: Any) -> Value:
    y, p, w, n = _cols(table)
    if n == 0:
        return np.nan, EMPTY
    pbar, ybar = _mean(p, w, n), _mean(y, w, n)
    sxx = float(((p - pbar) ** 2) @ w)
    if sxx <= 1e-12 * max(1.0, float((p**2) @ w)):
        return np.nan, CONSTANT_PREDICTION
    return float(((p - pbar) * (y - ybar)) @ w) / sxx, None


def n_patients(table: RowTable, ctx: Any) -> Value:
    return table.n, None


def residual_bins(table: RowTable, min_cell_size: int) -> list[tuple[float, float]]:
    """(mean prediction, mean residual observed − predicted) per prediction-quantile bin.

    Up to 10 bins of at least ``min_cell_size`` patients each, so no point stands for
    fewer patients than the privacy floor.
    """
    y, p, w, n = _cols(table)
    if n < min_cell_size:
        return []
    bins = max(1, min(MAX_RESIDUAL_BINS, int(n // min_cell_size)))
    order = np.argsort(p, kind="mergesort")
    cum = np.cumsum(w[order])
    edges = [0]
    for b in range(1, bins):
        k = int(np.searchsorted(cum, n * b / bins, side="left")) + 1
        previous = cum[edges[-1] - 1] if edges[-1] else 0.0
        if (
            k > edges[-1]
            and cum[k - 1] - previous >= min_cell_size
            and n - cum[k - 1] >= (min_cell_size)
        ):
            edges.append(k)
    edges.append(order.size)
    out = []
    for a, b in itertools.pairwise(edges):
        rows = order[a:b]
        size = float(w[rows].sum())
        out.append((float(p[rows] @ w[rows]) / size, float((y[rows] - p[rows]) @ w[rows]) / size))
    return out


METRICS: Mapping[str, TaskMetric] = {
    m.id: m
    for m in (
        TaskMetric(
            "n",
            "Patients",
            "none",
            "len(y_true)",
            "Number of patients in the group.",
            n_patients,
            label_dependent=False,
            count=True,
        ),
        TaskMetric(
            "mae",
            "Mean absolute error",
            "lower",
            "sklearn.metrics.mean_absolute_error",
            "Average size of the prediction error, in the outcome's unit.",
            mae,
        ),
        TaskMetric(
            "rmse",
            "Root mean squared error",
            "lower",
            "sklearn.metrics.root_mean_squared_error",
            "Error size that weighs large misses more, in the outcome's unit.",
            rmse,
        ),
        TaskMetric(
            "mean_error",
            "Mean error (predicted − observed)",
            "target_0",
            "numpy.mean(y_pred - y_true)",
            "Systematic over-estimation (positive) or under-estimation (negative) for the group.",
            mean_error,
        ),
        TaskMetric(
            "r2",
            "R²",
            "higher",
            "sklearn.metrics.r2_score",
            "Share of the group's outcome variance the predictions explain.",
            r2,
        ),
        TaskMetric(
            "mean_prediction",
            "Mean prediction",
            "none",
            "fairlearn.metrics.mean_prediction",
            "Average predicted value of the group.",
            mean_prediction,
            label_dependent=False,
        ),
        TaskMetric(
            "mean_label",
            "Mean observed value",
            "none",
            "numpy.mean(y_true)",
            "Average observed outcome of the group.",
            mean_label,
        ),
        TaskMetric(
            "calibration_slope",
            "Calibration slope (observed on predicted)",
            "target_1",
            "numpy.polyfit(y_pred, y_true, 1)[0]",
            "Slope of the least-squares line of observed on predicted values: below 1 the "
            "predictions are too extreme, above 1 too timid.",
            calibration_slope,
        ),
    )
}

HINTS = RendererHints(
    summary_metrics=("mean_label", "mae", "mean_error", "calibration_slope"),
    chart_metrics=("mae", "mean_error", "r2"),
    disparity_metrics=("mae", "mean_error", "rmse", "calibration_slope"),
    outcome_words="patients",
    outcome_text=lambda label, number: f"{label.get('column', '')} (continuous; regression task)",
)


def _context(overall: RowTable, settings: Mapping[str, Any]) -> Any:
    return None


def _curves(
    curves: Any, attribute: Any, group: Any, table: RowTable, ctx: Any, m: int, privacy: Any
) -> None:
    """Binned residuals of a shown group (bins of at least ``m`` patients)."""
    if privacy.suppressed:
        return
    from reports.model import ResidualBin, ResidualCurve

    curves.residuals.append(
        ResidualCurve(
            attribute=attribute,
            group=group,
            bins=[
                ResidualBin(mean_predicted=a, mean_residual=b) for a, b in residual_bins(table, m)
            ],
        )
    )


def _outcome_counts(table: RowTable, ctx: Any) -> tuple[int, int]:
    # A continuous outcome has no event count: the patients are the only count.
    n = round(table.n)
    return n, n


TASK = TaskDef(
    id="regression",
    title="Regression (continuous outcome)",
    columns=COLUMNS,
    metrics=METRICS,
    hints=HINTS,
    context=_context,
    outcome_counts=_outcome_counts,
    curves=_curves,
    description="A continuous outcome (length of stay, cost) and a predicted value.",
)
