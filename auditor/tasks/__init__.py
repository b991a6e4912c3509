"""Tasks: what kind of model is audited (binary, survival, multiclass, regression).

Each task is a module with its statistic, metric registry, references and renderer
hints; reports, policies, the dashboard and the CLI read the registry of the report's
task through :func:`task_metrics` and :func:`find_metric`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.tasks import binary
from auditor.tasks.base import RendererHints, TaskDef, TaskMetric

TASK_IDS = ("binary", "survival", "multiclass", "regression")
DEFAULT_TASK = "binary"
UNKNOWN_TASK = "Unknown task {task!r}; known tasks: {known}."


def task_def(task: str) -> TaskDef:
    """The definition of a non-binary task (binary keeps its own path)."""
    if task == "survival":
        from auditor.tasks.survival import TASK as SURVIVAL

        return SURVIVAL
    if task == "multiclass":
        from auditor.tasks.multiclass import TASK as MULTICLASS

        return MULTICLASS
    if task == "regression":
        from auditor.tasks.regression import TASK as REGRESSION

        return REGRESSION
    raise ValueError(UNKNOWN_TASK.format(task=task, known=", ".join(TASK_IDS)))


def task_metrics(task: str) -> Mapping[str, Any]:
    """The metric registry of a task (binary: :data:`auditor.measure.metrics.METRICS`)."""
    if task == "binary":
        return binary.METRICS
    return task_def(task).metrics


def task_hints(task: str | None) -> RendererHints:
    if task in (None, "binary"):
        return binary.HINTS
    return task_def(task).hints


def task_title(task: str) -> str:
    return binary.TITLE if task == "binary" else task_def(task).title


def find_metric(metric_id: str, task: str | None = None) -> Any | None:
    """A metric's definition: in ``task``'s registry, else in any task's.

    Per-class multiclass metrics (``ovr_sensitivity_<class>``) resolve to their
    template. Binary first, so a binary report reads the binary definitions.
    """
    order = [task] if task else []
    order += [t for t in TASK_IDS if t not in order]
    for t in order:
        registry = task_metrics(t)
        if metric_id in registry:
            return registry[metric_id]
    from auditor.tasks.multiclass import METRICS as MC
    from auditor.tasks.multiclass import PER_CLASS

    for base in PER_CLASS:
        if metric_id.startswith(base + "_"):
            return MC[base]
    return None


def all_metric_ids() -> list[str]:
    """Every metric id of every task, binary first (for policy validation messages)."""
    ids: list[str] = []
    for t in TASK_IDS:
        ids += [m for m in task_metrics(t) if m not in ids]
    return ids


__all__ = [
    "DEFAULT_TASK",
    "TASK_IDS",
    "RendererHints",
    "TaskDef",
    "TaskMetric",
    "all_metric_ids",
    "find_metric",
    "task_def",
    "task_hints",
    "task_metrics",
    "task_title",
]
