"""What the cohort search needs of a survival, multiclass or regression audit.

The search reads the task statistic's columns per row; the context every cohort is
measured in is the audit's own (for survival the horizon, the threshold and the
censoring distribution fitted on every audited row), so a cohort's value is the one
the audit would show for a group with the same rows.

"With the outcome", the count ``min_events`` applies to, per task:

* survival: events by the horizon (the audit's event count);
* multiclass, ordered: patients not of the least acute class, the only ones who can
  be under-triaged; unordered: none (only ``min_size`` applies);
* regression: none (a continuous outcome has no event; only ``min_size`` applies).

The split is stratified by the event by the horizon (survival), the true class
(multiclass) or the quartile of the outcome (regression).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

from auditor.discover.task_tests import TaskRows
from auditor.tasks import task_def
from auditor.tasks.base import TaskDef, TaskStats

if TYPE_CHECKING:
    from auditor.audit import Prepared
    from auditor.reduce.reservoir import UniformRows

REGRESSION_STRATA = 4


def task_rows(
    prepared: Prepared, *, threshold: float, sample: UniformRows | None = None
) -> TaskRows:
    """The rows discovery searches: every audited row in memory, or the engine's uniform
    ``sample`` (streaming, Spark). The context is fitted on every audited row either way
    (the statistics' whole-cohort table)."""
    spec = prepared.spec
    task = spec.task
    columns = sample.columns if sample is not None else prepared.task_rows
    if columns is None:
        raise ValueError("the prepared audit kept no task rows (spec without discover:)")
    definition = cast(TaskDef, task_def(task.id))
    stats = cast(TaskStats, prepared.stats)
    overall = stats.groups(())[()]
    settings = {**task.settings(), "threshold": threshold, "min_cell_size": spec.min_cell_size}
    context = definition.context(overall, settings)
    events: np.ndarray | None
    if task.id == "survival":
        labels = sample.labels if sample is not None else prepared.data.labels
        events = np.asarray(labels, dtype=np.int64)
        strata = events
    elif task.id == "multiclass":
        label = np.asarray(columns["label"]).astype(np.int64)
        strata = label
        events = (label < len(task.classes) - 1).astype(np.int64) if task.ordered else None
    else:
        label = np.asarray(columns["label"], dtype=np.float64)
        edges = np.quantile(label, np.linspace(0, 1, REGRESSION_STRATA + 1)[1:-1])
        strata = np.searchsorted(edges, label, side="right")
        events = None
    return TaskRows(task=task.id, columns=columns, events=events, strata=strata, context=context)
