"""What every task (binary, survival, multiclass, regression) provides, and the one
mergeable statistic the survival, multiclass and regression tasks share.

A task is a module: its sufficient statistic per finest cell, its metric registry
(each metric defined once, as a function of that statistic), the reference
implementation each metric equals, the metrics its reports summarise and its
clinical-default rules (``policies/clinical-default.yaml``, rules tagged ``tasks:``).

:class:`Task` is the one interface orchestration (:mod:`auditor.audit`) and the faces
use, so none of them asks which task it is: ``prepare`` (load, score, reduce),
``measure`` (-> ``Measurement``), ``outcome_labels`` (the 0/1 outcome stratified
samples use), the registry, renderer hints and :class:`Capabilities` (which views a
face can offer). :class:`TaskDef` implements it once for every task whose statistic
is a :class:`RowTable`; :class:`auditor.tasks.binary.BinaryTask` implements it for
the binary score tables (:mod:`auditor.reduce.stats`, :mod:`auditor.measure.metrics`).

The statistic of a survival, multiclass or regression cell is a :class:`RowTable`:
the distinct rows of its outcome and prediction columns with a patient count each.
Merging two tables is concatenation and summing counts, so the statistic of every
attribute, intersection and the whole population is a merge of finest cells, and a
bootstrap replicate is the same table with multinomially resampled counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from auditor.audit import Prepared, Progress
    from auditor.load.spec import AuditSpec
    from auditor.measure.measurement import Measurement
    from auditor.reduce.clusters import PatientClusters

Direction = Literal["higher", "lower", "target_1", "target_0", "none"]
Key = tuple[str, ...]
View = tuple[str, ...]


@dataclass(frozen=True)
class RowTable:
    """Distinct rows of named float columns, each with its number of patients.

    Rows are sorted lexicographically by the columns in order, and unique. Metrics read
    the columns and weight each row by ``count`` (float, so bootstrap replicates with
    multinomial counts use the same functions).
    """

    columns: Mapping[str, np.ndarray]
    count: np.ndarray

    @classmethod
    def from_arrays(cls, columns: Mapping[str, Any], count: Any | None = None) -> RowTable:
        names = list(columns)
        data = np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in names])
        weights = np.ones(data.shape[0]) if count is None else np.asarray(count, dtype=np.float64)
        if data.shape[0] == 0:
            return cls({c: np.empty(0) for c in names}, np.empty(0))
        order = np.lexsort(data.T[::-1])
        data, weights = data[order], weights[order]
        new = np.ones(data.shape[0], dtype=bool)
        new[1:] = np.any(data[1:] != data[:-1], axis=1)
        starts = np.flatnonzero(new)
        summed = np.add.reduceat(weights, starts)
        unique = data[starts]
        keep = summed > 0
        return cls({c: unique[keep, i] for i, c in enumerate(names)}, summed[keep])

    @property
    def n(self) -> float:
        return float(self.count.sum())

    def merge(self, other: RowTable) -> RowTable:
        """The statistic of the union of both tables' patients."""
        return RowTable.from_arrays(
            {c: np.concatenate([self.columns[c], other.columns[c]]) for c in self.columns},
            np.concatenate([self.count, other.count]),
        )

    def with_counts(self, count: np.ndarray) -> RowTable:
        """The same rows with other counts (a bootstrap replicate); zero rows dropped."""
        keep = count > 0
        return RowTable({c: v[keep] for c, v in self.columns.items()}, count[keep])

    def resample(self, rng: np.random.Generator) -> RowTable:
        """One bootstrap replicate: n patients drawn with replacement from the table."""
        n = round(self.n)
        if n == 0:
            return self
        drawn = rng.multinomial(n, self.count / self.count.sum()).astype(np.float64)
        return self.with_counts(drawn)


def merge_all(tables: Sequence[RowTable], names: Sequence[str]) -> RowTable:
    if not tables:
        return RowTable.from_arrays({c: [] for c in names})
    return RowTable.from_arrays(
        {c: np.concatenate([t.columns[c] for t in tables]) for c in names},
        np.concatenate([t.count for t in tables]),
    )


@dataclass
class TaskStats:
    """Per finest cell (one value per sensitive attribute) its :class:`RowTable`."""

    attributes: tuple[str, ...]
    cells: dict[Key, RowTable]
    names: tuple[str, ...]
    _cache: dict[View, dict[Key, RowTable]] = field(default_factory=dict, repr=False)

    def groups(self, view: View) -> dict[Key, RowTable]:
        """Every group of a view (``()`` = everyone) as a merge of finest cells."""
        cached = self._cache.get(view)
        if cached is not None:
            return cached
        index = [self.attributes.index(a) for a in view]
        parts: dict[Key, list[RowTable]] = {}
        for key, table in self.cells.items():
            parts.setdefault(tuple(key[i] for i in index), []).append(table)
        order = sorted(parts, key=lambda k: [self._order(view[j], v) for j, v in enumerate(k)])
        out = {k: merge_all(parts[k], self.names) for k in order}
        self._cache[view] = out
        return out

    def _order(self, attribute: str, value: str) -> int:
        return self.category_order.get(attribute, {}).get(value, 0)

    category_order: dict[str, dict[str, int]] = field(default_factory=dict)

    def merge(self, other: TaskStats) -> TaskStats:
        """Statistics of the union of both partitions' rows (same attributes)."""
        cells = dict(self.cells)
        for key, table in other.cells.items():
            cells[key] = cells[key].merge(table) if key in cells else table
        return TaskStats(self.attributes, cells, self.names, category_order=self.category_order)


def reduce_rows(sensitive: pd.DataFrame, columns: Mapping[str, np.ndarray]) -> TaskStats:
    """Rows to per-cell distinct-row tables (what a Spark ``groupBy(cells, *columns)`` gives)."""
    attributes = tuple(str(c) for c in sensitive.columns)
    names = tuple(columns)
    frame = pd.DataFrame({f"_c{i}": np.asarray(v) for i, v in enumerate(columns.values())})
    for i, a in enumerate(attributes):
        frame[f"_a{i}"] = sensitive[a].astype(str).to_numpy()
    cells: dict[Key, RowTable] = {}
    by = [f"_a{i}" for i in range(len(attributes))]
    for key, part in frame.groupby(by, sort=False, observed=True) if by else [((), frame)]:
        k = key if isinstance(key, tuple) else (key,)
        cells[tuple(str(x) for x in k)] = RowTable.from_arrays(
            {name: part[f"_c{i}"].to_numpy() for i, name in enumerate(names)}
        )
    order: dict[str, dict[str, int]] = {}
    for a in attributes:
        series = sensitive[a]
        cats = (
            [str(c) for c in series.cat.categories]
            if isinstance(series.dtype, pd.CategoricalDtype)
            else sorted(series.astype(str).unique())
        )
        order[a] = {c: i for i, c in enumerate(cats)}
    return TaskStats(attributes, cells, names, category_order=order)


Value = tuple[float, str | None]
"""A metric's value (NaN when undefined) and, when undefined, why."""


@dataclass(frozen=True)
class TaskMetric:
    """One metric of a task, defined once: identity, meaning, reference and function.

    ``fn(table, context)`` returns the value (NaN when undefined) and the reason.
    ``fraction`` (successes, trials), when given, makes it a proportion with a Wilson
    interval; the others get a percentile bootstrap interval. ``label_dependent``
    metrics need the outcome (withheld with the group's outcome figures); ``events``
    metrics are event counts, or reveal one (withheld when the event count is).
    ``per_class`` metrics are computed once per class of a multiclass task (ids
    ``<id>_<class>``).
    """

    id: str
    name: str
    direction: Direction
    reference: str
    meaning: str
    fn: Callable[[RowTable, Any], Value]
    fraction: Callable[[RowTable, Any], tuple[float, float]] | None = None
    label_dependent: bool = True
    events: bool = False
    count: bool = False
    needs_threshold: bool = False

    @property
    def proportion(self) -> bool:
        return self.fraction is not None


class Metric(Protocol):
    """What every face reads of a registry entry, whichever task defines it
    (:class:`TaskMetric`, and the binary :class:`auditor.measure.metrics.MetricDef`)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def reference(self) -> str: ...
    @property
    def meaning(self) -> str: ...
    @property
    def needs_threshold(self) -> bool: ...
    @property
    def label_dependent(self) -> bool: ...
    @property
    def proportion(self) -> bool: ...
    @property
    def count(self) -> bool: ...
    @property
    def events(self) -> bool: ...


def binary_outcome_text(label: Mapping[str, Any], number: Callable[[float], str]) -> str:
    outcome = str(label.get("column", ""))
    return outcome + (f" = {label['positive']}" if "positive" in label else "")


@dataclass(frozen=True)
class RendererHints:
    """What every face shows first for a task (renderers compute nothing)."""

    summary_metrics: tuple[str, ...]
    chart_metrics: tuple[str, ...]
    """Also the key metrics of ``auditor history`` (a release-by-release table)."""
    disparity_metrics: tuple[str, ...]
    outcome_words: str
    """How the report names the outcome counts, e.g. 'patients and events'."""
    threshold_subject: str | None = None
    """What ``>= threshold`` flags a patient on ('score', 'risk by the horizon'); None
    when the task's decisions do not come from one threshold."""
    overview_metrics: tuple[str, ...] | None = None
    """The dashboard overview's metrics per group (None: ``summary_metrics``)."""
    threshold_metrics: tuple[str, ...] | None = None
    """The metrics of the table across thresholds (None: every threshold metric)."""
    calibration_summary: tuple[str, str, str] = ("calibration_slope", "slope", "calibration slope")
    """(metric id, short and long words) summarising each group's calibration curve."""
    calibration_axes: tuple[str, str] = ("Predicted risk", "Observed event rate")
    """The calibration chart's axes (x: predicted, y: observed)."""
    outcome_text: Callable[[Mapping[str, Any], Callable[[float], str]], str] = (
        lambda label, number: binary_outcome_text(label, number)
    )
    """The outcome in the task's words, from the report's label block (and a number
    formatter)."""


@dataclass(frozen=True)
class Capabilities:
    """Which views and engines a task offers, so faces ask this rather than its id."""

    threshold_curves: bool = False
    """ROC, precision-recall and calibration curves over the score's thresholds."""
    mitigation: bool = False
    """The what-if of per-group decision thresholds on a binary classifier."""
    fairness_metrics: bool = False
    """fairlearn's named metrics (demographic parity, equalized odds)."""
    engines: tuple[str, ...] = ("pandas",)
    """Engines that can read it (``engine:``); ``auto`` picks among these."""


class Task(Protocol):
    """One kind of model audit, as orchestration and every face see it."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, Metric]: ...
    @property
    def hints(self) -> RendererHints: ...
    @property
    def capabilities(self) -> Capabilities: ...

    def lookup(self, metric_id: str) -> Metric | None:
        """This task's definition of a metric id (per-class ids resolve to their template)."""
        ...

    def prepare(self, spec: AuditSpec, progress: Progress) -> Prepared:
        """Load, score and reduce every row in memory (other engines: :mod:`auditor.engines`)."""
        ...

    def measure(
        self,
        prepared: Prepared,
        *,
        thresholds: Sequence[float],
        reference_groups: Mapping[Any, str | Sequence[str]],
        bootstrap: int,
        seed: int,
    ) -> Measurement:
        """Every metric of every group with intervals, disparities and the privacy plan."""
        ...

    def outcome_labels(self, prepared: Prepared) -> np.ndarray | None:
        """0/1 outcomes for stratified samples and missingness by outcome, or None."""
        ...

    def report_label(self, spec: AuditSpec) -> dict[str, Any]:
        """The label block the report keeps (what its faces call the outcome)."""
        ...


Bands = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class TaskDef:
    """A task whose statistic is a :class:`RowTable`: its columns, registry, context
    and privacy counts; the :class:`Task` methods are the same for all of them.

    ``context(overall, settings)`` builds what every group of one audit is measured in
    (for survival: the horizon and the censoring distribution of the whole cohort);
    ``outcome_counts(table, settings)`` gives the (with, without) outcome counts the
    suppression plan protects (survival: events by the horizon and the others).
    ``binary_outcome``: the loader's ``labels`` are a 0/1 outcome (survival: the event
    by the horizon) that stratified samples and patient counts use; otherwise the
    patients are the only count. ``per_class``: metric templates measured once per
    class (ids ``<template>_<class>``), expanded by ``class_metrics(context)``.
    ``notes`` and ``curves`` add the task's own notes and chart data.
    """

    id: str
    title: str
    columns: tuple[str, ...]
    metrics: Mapping[str, TaskMetric]
    hints: RendererHints
    context: Callable[[RowTable, Mapping[str, Any]], Any]
    outcome_counts: Callable[[RowTable, Any], tuple[int, int]]
    description: str
    binary_outcome: bool = False
    per_class: tuple[str, ...] = ()
    class_metrics: Callable[[Any], Mapping[str, TaskMetric]] | None = None
    capabilities: Capabilities = Capabilities(engines=("pandas", "streaming", "spark"))
    """Row-table tasks stream and run in Spark (:mod:`auditor.engines.task_streaming`,
    :mod:`auditor.engines.task_spark`)."""
    notes: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Notes every report of the task carries (survival: how censoring is handled)."""
    threshold_bands: Callable[[RowTable, Any, Sequence[float]], Bands] | None = None
    """(with, without the outcome) per band of the ascending threshold grid, for a task
    whose threshold figures count patients (survival): the privacy plan then checks
    them across views as it does a binary audit's (:class:`auditor.privacy.suppression.Counts`)."""
    curves: Callable[[Any, Any, Any, RowTable, Any, int, Any], None] | None = None
    """``curves(curves, attribute, group, table, context, min_cell_size, privacy)`` adds
    a group's chart data to the report's ``Curves``, as the group's privacy allows."""

    def lookup(self, metric_id: str) -> TaskMetric | None:
        """The registry's entry; a per-class id is its template named for the class."""
        if metric_id in self.metrics:
            return self.metrics[metric_id]
        for base in self.per_class:
            if metric_id.startswith(base + "_"):
                template = self.metrics[base]
                cls = metric_id[len(base) + 1 :]
                return replace(template, id=metric_id, name=f"{template.name}, class {cls}")
        return None

    def measured_metrics(self, ctx: Any) -> list[TaskMetric]:
        """The registry as measured in one audit (per-class templates, once per class)."""
        if not self.per_class or self.class_metrics is None:
            return list(self.metrics.values())
        base = [m for m in self.metrics.values() if m.id not in self.per_class]
        return [*base, *self.class_metrics(ctx).values()]

    def prepare(self, spec: AuditSpec, progress: Progress) -> Prepared:
        from auditor.tasks.prepare import prepare_rows

        return prepare_rows(self, spec, progress)

    def measure(
        self,
        prepared: Prepared,
        *,
        thresholds: Sequence[float],
        reference_groups: Mapping[Any, str | Sequence[str]],
        bootstrap: int,
        seed: int,
    ) -> Measurement:
        from auditor.tasks.measure import measure_task

        spec = prepared.spec
        return measure_task(
            self,
            prepared.stats,  # type: ignore[arg-type]
            settings=spec.task.settings(),
            views=_views(spec),
            thresholds=list(thresholds),
            reference_groups=reference_groups,
            bootstrap=bootstrap,
            seed=seed,
            min_cell_size=spec.min_cell_size,
            complementary=spec.privacy.complementary,
            rounding=spec.privacy.rounding,
            clusters=prepared.clusters,
        )

    def outcome_labels(self, prepared: Prepared) -> np.ndarray | None:
        return prepared.data.labels if self.binary_outcome else None

    def report_label(self, spec: AuditSpec) -> dict[str, Any]:
        return dict(spec.raw.get("label") or {"column": spec.label.column})


def _views(spec: AuditSpec) -> list[tuple[str, ...]]:
    from auditor.audit import views_for

    return views_for(spec)


def patient_counts(
    clusters: PatientClusters, view: View, groups: Sequence[Key], binary_outcome: bool
) -> dict[Key, Any]:
    """Patient counts of a view's groups (:meth:`PatientClusters.counts`); a task
    without a 0/1 outcome protects the patients only, as its ``outcome_counts`` do."""
    counts = clusters.counts(view, groups, ())
    if binary_outcome:
        return counts
    return {k: replace(c, n_positive=c.n, n_negative=c.n) for k, c in counts.items()}
