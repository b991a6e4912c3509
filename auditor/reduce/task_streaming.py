"""Reduce a stream of batches of a survival, multiclass or regression audit.

Each batch is reduced to per-cell distinct-row tables (:func:`reduce_rows`) and
merged (:meth:`TaskStats.merge`: concatenation and summed counts), following the
same binary counter as the binary reducer (:class:`StreamReducer`), whose data-check
counts (rows and missing values per cell, events by the horizon) it reuses. The
merged tables equal one in-memory pass over all rows, row for row.

Memory. A table keeps one row per distinct (outcome, prediction) of a cell, so with
continuous predictions (or times, or outcomes) it grows with the data. When the
tables would exceed the memory budget, the continuous columns are coarsened at
``score_resolution`` (:class:`RowCoarsening`), the report says so, and every later
batch is coarsened the same way. The table is a joint distribution of two or more
continuous columns, so one resolution does not bound it as it bounds a binary score
table: while it is still over the budget the resolution is made ten times coarser,
up to :data:`COARSEST` (bins nest, so coarsening again equals coarsening once at the
coarser resolution). The report states the resolution used and says when even the
coarsest one left the tables over the budget.

* probabilities (the survival risk, the class probabilities) are cut at
  ``score_resolution`` with every decision threshold an edge, as binary scores are
  (:class:`ScoreBinning`): threshold metrics stay exact, the others are computed on
  bin midpoints;
* survival times are rounded up to multiples of ``score_resolution x horizon``, and
  never across the horizon, so every patient's status at the horizon (event by it,
  followed beyond it, censored before it) is unchanged;
* regression outcomes and predictions are replaced by the midpoint of their bin of
  width ``score_resolution x 10^e``, where ``10^e`` is the value's order of magnitude
  (a relative resolution): an error of at most half that in any value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from auditor.reduce.check_counts import CheckCounts
from auditor.reduce.streaming import DEFAULT_RESOLUTION, ScoreBinning, StreamReducer
from auditor.tasks.base import RowTable, TaskStats, reduce_rows

ROW_COLUMN_BYTES = 32
"""Memory one column of one distinct row of one cell costs once measured, per view: the
value (8 bytes) and what measuring adds (sorting, cumulative sums, the bootstrap's
counts), taken at four times the value as for binary score tables."""
TIME_SLACK = 1e-9
"""Steps of slack when rounding a time up (see :meth:`RowCoarsening.round_time`)."""
COARSEST = 0.01
"""The coarsest resolution the tables are taken to when still over the budget."""
COARSENED_COLUMNS = {
    "survival": ("time", "risk"),
    "regression": ("label", "prediction"),
}
"""Columns a task coarsens past the budget (multiclass: every class probability)."""


def round_relative(values: np.ndarray, resolution: float) -> np.ndarray:
    """Each value to the midpoint of its bin of width ``resolution x 10^floor(log10|value|)``
    (bins of a decade never cross its bounds, and finer bins nest in coarser ones)."""
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    nonzero = np.isfinite(x) & (x != 0)
    size = np.abs(x[nonzero])
    step = resolution * 10.0 ** np.floor(np.log10(size))
    out[nonzero] = np.sign(x[nonzero]) * (np.floor(size / step) + 0.5) * step
    return out


def coarser(resolution: float) -> float:
    """The next resolution tried when the tables are still over the budget."""
    return float(f"{resolution * 10:.6g}")


class RowCoarsening:
    """The task's continuous columns at a fixed resolution (see the module docstring)."""

    def __init__(
        self,
        task: str,
        *,
        resolution: float,
        thresholds: Sequence[float],
        horizon: float | None = None,
    ) -> None:
        self.task = task
        self.resolution = float(resolution)
        self.binning = ScoreBinning(resolution, thresholds)
        self.horizon = float(horizon or 0.0)

    def columns(self, names: Sequence[str]) -> tuple[str, ...]:
        if self.task == "multiclass":
            return tuple(n for n in names if n.startswith("p_"))
        return tuple(n for n in names if n in COARSENED_COLUMNS.get(self.task, ()))

    def apply(self, name: str, values: np.ndarray) -> np.ndarray:
        x = np.asarray(values, dtype=np.float64)
        if self.task == "regression":
            return round_relative(x, self.resolution)
        if name == "time":
            return self.round_time(x)
        return self.binning.apply(x)

    def round_time(self, time: np.ndarray) -> np.ndarray:
        """Up to the next multiple of ``resolution x horizon``, never across the horizon.

        A value within 1e-9 of a step above a multiple counts as that multiple (so a
        time rounded once rounds to itself, and coarsening again equals coarsening once
        despite floating point); one just above the horizon stays above it.
        """
        if self.horizon <= 0:
            step = self.resolution * max(float(np.max(time, initial=0.0)), 1.0)
            return np.ceil(time / step - TIME_SLACK) * step
        step = self.resolution * self.horizon
        up = np.ceil(time / step - TIME_SLACK) * step
        above = np.maximum(up, np.nextafter(self.horizon, np.inf))
        return np.where(time <= self.horizon, np.minimum(up, self.horizon), above)

    def frame(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        chosen = set(self.columns(list(columns)))
        return {n: self.apply(n, v) if n in chosen else v for n, v in columns.items()}

    def table(self, table: RowTable) -> RowTable:
        """A table's coarsened version (rows that become equal are merged)."""
        if table.count.size == 0:
            return table
        return RowTable.from_arrays(self.frame(table.columns), table.count)


class TaskStreamReducer(StreamReducer):
    """Add batches (groups, outcome and output columns, missing flags); get exact stats.

    ``labels`` (the 0/1 event by the horizon for survival, None otherwise) feed only
    the data checks' missingness by outcome.
    """

    def __init__(
        self,
        attributes: Sequence[str],
        features: Sequence[str],
        *,
        task: str,
        thresholds: Sequence[float],
        horizon: float | None = None,
        memory_budget_bytes: int,
        resolution: float = DEFAULT_RESOLUTION,
        views: int = 1,
    ) -> None:
        super().__init__(
            attributes,
            features,
            thresholds=thresholds,
            memory_budget_bytes=memory_budget_bytes,
            resolution=resolution,
            views=views,
        )
        self.coarsening = RowCoarsening(
            task, resolution=resolution, thresholds=thresholds, horizon=horizon
        )
        self._task_levels: list[TaskStats | None] = []
        self._names: tuple[str, ...] = ()
        self.thresholds = tuple(thresholds)
        self.over_budget = False
        """Still over the budget at the coarsest resolution."""

    def add_rows(
        self,
        sensitive: pd.DataFrame,
        columns: Mapping[str, np.ndarray],
        missing: np.ndarray,
        labels: np.ndarray | None,
    ) -> np.ndarray:
        """Reduce one batch and merge it in; returns the rows' global cell ids."""
        cells = self.count(sensitive, labels, missing)
        self._names = tuple(columns)
        values = self.coarsening.frame(columns) if self.binned else dict(columns)
        self._push_task(reduce_rows(sensitive, values))
        if not self.over_budget and self.table_bytes() > self.budget:
            self._coarsen()
        return cells

    def _push_task(self, stats: TaskStats) -> None:
        level = 0
        carry: TaskStats | None = stats
        while carry is not None:
            if level == len(self._task_levels):
                self._task_levels.append(None)
            held = self._task_levels[level]
            if held is None:
                self._task_levels[level] = carry
                carry = None
            else:
                self._task_levels[level] = None
                carry = held.merge(carry)
                level += 1

    def table_bytes(self) -> int:
        """Memory the tables will take once measured over every view."""
        per_row = ROW_COLUMN_BYTES * (len(self._names) + 1)
        rows = sum(
            t.count.size for s in self._task_levels if s is not None for t in s.cells.values()
        )
        return per_row * self.copies * rows

    def _coarsen(self) -> None:
        """Coarsen the tables held, ten times coarser each time they are still over the
        budget, down to :data:`COARSEST`."""
        while True:
            if self.binned:
                if self.coarsening.resolution >= COARSEST:
                    self.over_budget = True
                    return
                self.coarsening = RowCoarsening(
                    self.coarsening.task,
                    resolution=coarser(self.coarsening.resolution),
                    thresholds=self.thresholds,
                    horizon=self.coarsening.horizon,
                )
            self.binned = True
            for i, stats in enumerate(self._task_levels):
                if stats is None:
                    continue
                cells = {k: self.coarsening.table(t) for k, t in stats.cells.items()}
                self._task_levels[i] = TaskStats(
                    stats.attributes, cells, stats.names, category_order=stats.category_order
                )
            if self.table_bytes() <= self.budget:
                return

    @property
    def resolution(self) -> float | None:
        """The resolution the tables were coarsened at (None: exact)."""
        return self.coarsening.resolution if self.binned else None

    def task_result(self) -> tuple[TaskStats, CheckCounts]:
        """The merged statistics (group order as one in-memory pass gives it) and the
        data checks' counts of every row."""
        merged: TaskStats | None = None
        for stats in self._task_levels:
            if stats is not None:
                merged = stats if merged is None else merged.merge(stats)
        values = {a: self.group_order(a) for a in self.attributes}
        order = {a: {g: j for j, g in enumerate(v)} for a, v in values.items()}
        cells = dict(merged.cells) if merged is not None else {}
        stats = TaskStats(self.attributes, cells, self._names, category_order=order)
        return stats, self.check_counts(values)
