"""Notebook API: subgroup metrics of a DataFrame without an audit spec.

>>> frame = subgroup_metrics(df, label="readmitted", scores="risk",
...                          sensitive=["race", "sex"], threshold=0.3)  # doctest: +SKIP
>>> frame.by_group["sensitivity"]                                       # doctest: +SKIP
>>> frame.difference()                                                  # doctest: +SKIP

``task="regression"`` measures a continuous outcome (``label``) against a predicted
value (``scores``) with the regression task's registry. Survival and multiclass models
need more than one label or score column: audit them with a spec (``task:``); this
function refuses them with that advice.

The vocabulary follows fairlearn's ``MetricFrame`` (``overall``, ``by_group``,
``group_min``, ``group_max``, ``difference``, ``ratio``); the numbers come from the
same registry, suppression and intervals as the audit. Several sensitive columns
form their intersection (a MultiIndex), as in fairlearn. Values that are undefined,
withheld or suppressed are NaN in the frames; ``reasons`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from auditor.errors import AuditInputError, DataError
from auditor.load.identifiers import refuse_identifier_like
from auditor.measure.measurement import Measurement, measure
from auditor.measure.metrics import METRICS, get_metric
from auditor.privacy.suppression import DEFAULT_MIN_CELL_SIZE
from auditor.reduce.stats import reduce_frame

COLUMN_MISSING = "{what}: column {column!r} is not in the data; columns are: {columns}."
LABEL_MISSING_VALUES = "label: column {column!r} has {count} missing value(s) (first at row {row})."
LABEL_NOT_BINARY = (
    "label: column {column!r} must hold two values (positive {positive!r} and one other), "
    "found {count}: {values}. A continuous outcome is measured with task='regression'."
)
TASK_NOT_HERE = (
    "task: subgroup_metrics measures binary and regression models (one label column, one "
    "score column); a {task} model needs {needs}: audit it with a spec (task: {task}) and "
    "auditor.audit.run_audit, whose report holds every group's metrics."
)
TASK_NEEDS = {
    "survival": "a time, an event and a horizon",
    "multiclass": "one probability column per class",
}
UNKNOWN_TASK = "task: expected 'binary' or 'regression', got {task!r}."
NOT_NUMBERS = "{what}: column {column!r} must hold numbers for every row ({count} do not)."
POSITIVE_ABSENT = "label: the positive value {positive!r} does not occur in column {column!r}."
SCORES_LENGTH = "scores: expected {expected} values (one per row), got {got}."
NO_SENSITIVE = "sensitive: name at least one sensitive column."
METHOD_INVALID = "method must be 'between_groups' or 'to_overall', got {method!r}."

Method = Literal["between_groups", "to_overall"]


class SubgroupMetricFrame:
    """Metrics overall and by group, with fairlearn ``MetricFrame`` vocabulary."""

    def __init__(self, measurement: Measurement, sensitive: Sequence[str], metrics: Sequence[str]):
        self.measurement = measurement
        self.sensitive = list(sensitive)
        self.metrics = list(metrics)
        shown = measurement.published()
        ov = shown.overall
        self.overall = pd.Series(
            {m: _value(ov, m) for m in self.metrics}, dtype="float64", name="overall"
        )
        rows = shown.groups
        keys = [tuple([g.group] if isinstance(g.group, str) else g.group) for g in rows]
        if len(self.sensitive) == 1:
            index: pd.Index = pd.Index([k[0] for k in keys], name=self.sensitive[0])
        else:
            index = pd.MultiIndex.from_tuples(keys, names=self.sensitive)

        def table(pick: Any) -> pd.DataFrame:
            return pd.DataFrame(
                [[pick(g, m) for m in self.metrics] for g in rows],
                index=index,
                columns=self.metrics,
            )

        self.by_group = table(_value).astype("float64")
        self.ci_low = table(lambda g, m: _bound(g, m, "ci_low")).astype("float64")
        self.ci_high = table(lambda g, m: _bound(g, m, "ci_high")).astype("float64")
        self.reasons = table(_reason)
        self.suppressed = pd.Series([g.suppressed for g in rows], index=index, name="suppressed")

    def group_min(self) -> pd.Series:
        """Smallest value of each metric over the groups whose value is shown."""
        return self.by_group.min(axis=0)

    def group_max(self) -> pd.Series:
        """Largest value of each metric over the groups whose value is shown."""
        return self.by_group.max(axis=0)

    def _compared(self, result: pd.Series) -> pd.Series:
        """NaN where fewer than two groups have a value: one group is no comparison
        (0.0 or 1.0 would read as perfect parity), as in the report."""
        return result.where(self.by_group.notna().sum(axis=0) >= 2)

    def difference(self, method: Method = "between_groups") -> pd.Series:
        """``group_max - group_min``, or the largest ``|group - overall|``.

        NaN for a metric that fewer than two groups have a value of.
        """
        if method == "between_groups":
            return self._compared(self.group_max() - self.group_min())
        if method == "to_overall":
            return self._compared((self.by_group - self.overall).abs().max(axis=0))
        raise AuditInputError(METHOD_INVALID.format(method=method))

    def ratio(self, method: Method = "between_groups") -> pd.Series:
        """``group_min / group_max``, or the smallest group/overall ratio (inverted above 1).

        NaN for a metric that fewer than two groups have a value of.
        """
        if method == "between_groups":
            with np.errstate(invalid="ignore", divide="ignore"):
                return self._compared(self.group_min() / self.group_max())
        if method == "to_overall":
            with np.errstate(invalid="ignore", divide="ignore"):
                r = self.by_group / self.overall
                r = r.where(r <= 1, 1.0 / r)
            return self._compared(r.min(axis=0))
        raise AuditInputError(METHOD_INVALID.format(method=method))

    def __repr__(self) -> str:
        return f"SubgroupMetricFrame(sensitive={self.sensitive}, groups={len(self.by_group)})"


def _value(g: Any, m: str) -> float:
    est = g.metrics.get(m)
    return np.nan if est is None or est.estimate is None else float(est.estimate)


def _bound(g: Any, m: str, which: str) -> float:
    est = g.metrics.get(m)
    v = None if est is None else getattr(est, which)
    return np.nan if v is None else float(v)


def _reason(g: Any, m: str) -> str | None:
    if g.suppressed:
        return g.suppression_reason  # type: ignore[no-any-return]
    est = g.metrics.get(m)
    return None if est is None or est.estimate is not None else est.reason


def _labels(data: pd.DataFrame, column: str, positive: Any) -> np.ndarray:
    col = data[column]
    missing = col.isna().to_numpy()
    if missing.any():
        raise DataError(
            LABEL_MISSING_VALUES.format(
                column=column, count=int(missing.sum()), row=int(np.flatnonzero(missing)[0])
            )
        )
    values = pd.unique(col)
    if len(values) > 2:
        shown = ", ".join(repr(v) for v in list(values)[:5])
        raise DataError(
            LABEL_NOT_BINARY.format(
                column=column, positive=positive, count=len(values), values=shown
            )
        )
    y = (col == positive).to_numpy()
    if len(values) == 2 and not y.any():
        raise DataError(POSITIVE_ABSENT.format(positive=positive, column=column))
    return y.astype(np.int8)


def subgroup_metrics(
    data: pd.DataFrame,
    *,
    label: str,
    scores: str | np.ndarray | pd.Series,
    sensitive: Sequence[str],
    threshold: float = 0.5,
    metrics: Sequence[str] | None = None,
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
    bootstrap: int = 0,
    seed: int = 0,
    positive: Any = 1,
    task: str = "binary",
) -> SubgroupMetricFrame:
    """Metrics of ``scores`` against ``label`` overall and for every sensitive group.

    Parameters
    ----------
    data : one row per patient.
    label : outcome column; ``positive`` is the value meaning the event happened
        (regression: the observed value).
    scores : a column name, or an array of predicted probabilities (one per row;
        regression: predicted values).
    sensitive : sensitive columns; several form their intersection.
    threshold : ``score >= threshold`` predicts positive.
    metrics : registry ids of the task (default: all of its registry).
    min_cell_size : groups smaller than this are suppressed (default 11).
    bootstrap : replicates for percentile intervals (default 0: Wilson only).
    seed : seed of the bootstrap.
    task : ``binary`` (default) or ``regression``; survival and multiclass are refused
        (they need several columns: audit them with a spec).
    """
    if task in TASK_NEEDS:
        raise AuditInputError(TASK_NOT_HERE.format(task=task, needs=TASK_NEEDS[task]))
    if task not in ("binary", "regression"):
        raise AuditInputError(UNKNOWN_TASK.format(task=task))
    columns = ", ".join(map(str, data.columns))
    if label not in data.columns:
        raise DataError(COLUMN_MISSING.format(what="label", column=label, columns=columns))
    if not sensitive:
        raise DataError(NO_SENSITIVE)
    for c in sensitive:
        if c not in data.columns:
            raise DataError(COLUMN_MISSING.format(what="sensitive", column=c, columns=columns))
    if isinstance(scores, str):
        if scores not in data.columns:
            raise DataError(COLUMN_MISSING.format(what="scores", column=scores, columns=columns))
        s = data[scores].to_numpy(dtype=np.float64)
    else:
        s = np.asarray(scores, dtype=np.float64).ravel()
        if s.size != len(data):
            raise DataError(SCORES_LENGTH.format(expected=len(data), got=s.size))
    refuse_identifier_like(
        {c: data[c] for c in sensitive}, min_cell_size=min_cell_size, file="data"
    )
    if task == "regression":
        return _regression(data, label, s, sensitive, metrics, min_cell_size, bootstrap, seed)
    ids = list(METRICS) if metrics is None else [get_metric(m).id for m in metrics]
    y = _labels(data, label, positive)
    stats = reduce_frame(data[list(sensitive)], y, s)
    result = measure(
        stats,
        views=[tuple(sensitive)],
        thresholds=[threshold],
        bootstrap=bootstrap,
        seed=seed,
        min_cell_size=min_cell_size,
        metrics=ids,
    )
    return SubgroupMetricFrame(result, sensitive, ids)


def _numbers(values: Any, what: str, column: str) -> np.ndarray:
    x = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(NOT_NUMBERS.format(what=what, column=column, count=int(bad.sum())))
    return x


def _regression(
    data: pd.DataFrame,
    label: str,
    scores: np.ndarray,
    sensitive: Sequence[str],
    metrics: Sequence[str] | None,
    min_cell_size: int,
    bootstrap: int,
    seed: int,
) -> SubgroupMetricFrame:
    """The regression task's registry by group (:func:`auditor.tasks.measure.measure_task`)."""
    from auditor.load.data import _sensitive_groups
    from auditor.tasks import task_def
    from auditor.tasks.base import TaskDef, reduce_rows
    from auditor.tasks.measure import measure_task

    task = task_def("regression")
    assert isinstance(task, TaskDef)
    known = list(task.metrics)
    for m in metrics or ():
        if m not in task.metrics:
            raise AuditInputError(
                f"Unknown metric {m!r} of task regression; known metrics: {', '.join(known)}."
            )
    y = _numbers(data[label], "label", label)
    p = _numbers(scores, "scores", "scores")
    groups = pd.DataFrame({c: _sensitive_groups(data[c]) for c in sensitive}, index=data.index)
    stats = reduce_rows(groups, {"label": y, "prediction": p})
    result = measure_task(
        task,
        stats,
        settings={},
        views=[tuple(sensitive)],
        bootstrap=bootstrap,
        seed=seed,
        min_cell_size=min_cell_size,
    )
    return SubgroupMetricFrame(result, sensitive, list(metrics or known))
