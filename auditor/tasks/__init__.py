"""Tasks: what kind of model is audited (binary, survival, multiclass, regression).

Each task is a module with its statistic, metric registry, references, renderer
hints and capabilities, behind one interface (:class:`~auditor.tasks.base.Task`):
orchestration calls ``task_def(spec.task.id)`` and never asks which task it is;
reports, policies, the dashboard and the CLI read the registry, hints and
capabilities of the report's task through :func:`task_def`, :func:`task_metrics`,
:func:`task_hints` and :func:`find_metric`.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditor.tasks.base import Capabilities, Metric, RendererHints, Task, TaskDef, TaskMetric

TASK_IDS = ("binary", "survival", "multiclass", "regression")
DEFAULT_TASK = "binary"
UNKNOWN_TASK = "Unknown task {task!r}; known tasks: {known}."


def task_def(task: str | None) -> Task:
    """The definition of a task (``None``: the default, binary), imported on first use."""
    task = DEFAULT_TASK if task is None else task
    if task == "binary":
        from auditor.tasks.binary import TASK as BINARY

        return BINARY
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


def task_metrics(task: str | None) -> Mapping[str, Metric]:
    """The metric registry of a task (binary: :data:`auditor.measure.metrics.METRICS`)."""
    return task_def(task).metrics


def task_hints(task: str | None) -> RendererHints:
    return task_def(task).hints


def task_title(task: str | None) -> str:
    return task_def(task).title


def task_capabilities(task: str | None) -> Capabilities:
    return task_def(task).capabilities


def find_metric(metric_id: str, task: str | None = None) -> Metric | None:
    """A metric's definition: in ``task``'s registry, else in any task's.

    Per-class multiclass metrics (``ovr_sensitivity_<class>``) resolve to their
    template. Binary first, so a binary report reads the binary definitions.
    """
    order = [task] if task else []
    order += [t for t in TASK_IDS if t not in order]
    for t in order:
        if metric_id in task_metrics(t):
            return task_metrics(t)[metric_id]
    for t in order:
        found = task_def(t).lookup(metric_id)
        if found is not None:
            return found
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
    "Capabilities",
    "Metric",
    "RendererHints",
    "Task",
    "TaskDef",
    "TaskMetric",
    "all_metric_ids",
    "find_metric",
    "task_capabilities",
    "task_def",
    "task_hints",
    "task_metrics",
    "task_title",
]
