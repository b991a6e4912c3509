"""What every task (binary, survival, multiclass, regression) provides, and the one
mergeable statistic the non-binary tasks share.

A task is a module: its sufficient statistic per finest cell, its metric registry
(each metric defined once, as a function of that statistic), the reference
implementation each metric equals, the metrics its reports summarise and its
clinical-default rules (``policies/clinical-default.yaml``, rules tagged ``tasks:``).
The binary task keeps its own statistic (:mod:`auditor.reduce.stats`) and registry
(:mod:`auditor.measure.metrics`); :mod:`auditor.tasks.binary` wraps them.

The statistic of a survival, multiclass or regression cell is a :class:`RowTable`:
the distinct rows of its outcome and prediction columns with a patient count each.
Merging two tables is concatenation and summing counts, so the statistic of every
attribute, intersection and the whole population is a merge of finest cells, and a
bootstrap replicate is the same table with multinomially resampled counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

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


@dataclass(frozen=True)
class RendererHints:
    """What every face shows first for a task (renderers compute nothing)."""

    summary_metrics: tuple[str, ...]
    chart_metrics: tuple[str, ...]
    disparity_metrics: tuple[str, ...]
    outcome_words: str
    """How the report names the outcome counts, e.g. 'patients and events'."""


@dataclass(frozen=True)
class TaskDef:
    """A non-binary task: its statistic's columns, registry, context and privacy counts.

    ``context(overall, settings)`` builds what every group of one audit is measured in
    (for survival: the horizon and the censoring distribution of the whole cohort);
    ``outcome_counts(table, settings)`` gives the (with, without) outcome counts the
    suppression plan protects (survival: events by the horizon and the others).
    ``curves(table, context, min_cell_size)`` draws the task's per-group chart data.
    """

    id: str
    title: str
    columns: tuple[str, ...]
    metrics: Mapping[str, TaskMetric]
    hints: RendererHints
    context: Callable[[RowTable, Mapping[str, Any]], Any]
    outcome_counts: Callable[[RowTable, Any], tuple[int, int]]
    description: str
