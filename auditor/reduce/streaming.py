"""Reduce a stream of batches to the same statistics as one in-memory pass.

Each batch is reduced to per-cell score tables (:func:`reduce_frame`) and merged;
merging is exact (:meth:`SubgroupStats.merge`), so the result equals the
statistics of all rows at once. Merges follow a binary counter (a batch merges
with an earlier result of the same size), so every row is merged O(log batches)
times instead of once per later batch.

Memory is bounded by cells x distinct scores, never by rows. With continuous
scores the exact tables grow with the data; when they would exceed the memory
budget, scores are binned at a stated resolution (:class:`ScoreBinning`): every
decision threshold is a bin edge, so threshold metrics stay exact, and each bin
keeps its midpoint (the report says which resolution produced the numbers).

The data checks' counts (group sizes, missing values per feature) are added up
per finest cell alongside, so the checks are exact on any number of rows too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.reduce.check_counts import CheckCounts, counts_from_cells
from auditor.reduce.stats import MISSING_GROUP, ScoreTable, SubgroupStats, reduce_frame

TABLE_ENTRY_BYTES = 96
"""Memory one distinct score of one cell costs once measured, per view: the score and
its two counts (24 bytes) and what measuring adds (grid positions, cumulative sums),
measured at about four times that on 10M rows."""
DEFAULT_RESOLUTION = 1e-5
DEFAULT_MEMORY_BUDGET_MB = 1024


class ScoreBinning:
    """Scores cut at a fixed resolution, with every threshold inserted as an edge.

    A score ``s`` falls in the bin ``[e_i, e_i+1)`` and is replaced by the bin's
    midpoint (a score of exactly 1 stays 1). Since each threshold ``t`` is an edge,
    ``s >= t`` exactly when the binned score is ``>= t``.
    """

    def __init__(self, resolution: float, thresholds: Sequence[float]) -> None:
        self.resolution = float(resolution)
        steps = int(np.ceil(1.0 / self.resolution))
        grid = np.minimum(np.arange(steps + 1) * self.resolution, 1.0)
        edges = np.unique(np.concatenate([grid, np.asarray(thresholds, float), [0.0, 1.0]]))
        self.edges = edges
        mids = (edges[:-1] + edges[1:]) / 2.0
        self.values = np.append(mids, 1.0)  # the last edge is 1.0: its own bin

    def apply(self, scores: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.edges, scores, side="right") - 1
        return self.values[np.clip(at, 0, self.values.size - 1)]

    def table(self, table: ScoreTable) -> ScoreTable:
        """A table's binned version (binning is monotone: equal bins stay adjacent)."""
        if table.scores.size == 0:
            return table
        binned = self.apply(table.scores)
        starts = np.flatnonzero(np.r_[True, binned[1:] != binned[:-1]])
        return ScoreTable(
            binned[starts], np.add.reduceat(table.pos, starts), np.add.reduceat(table.neg, starts)
        )


@dataclass(frozen=True)
class StreamResult:
    """What the stream reduced to."""

    stats: SubgroupStats
    counts: CheckCounts
    rows: int
    batches: int
    binned: bool
    resolution: float | None
    cell_rows: dict[int, int]
    """Rows per global cell id (the ids :meth:`StreamReducer.add` returned)."""
    table_bytes: int


class StreamReducer:
    """Add batches (sensitive groups, 0/1 labels, scores, missing flags); get exact stats."""

    def __init__(
        self,
        attributes: Sequence[str],
        features: Sequence[str],
        *,
        thresholds: Sequence[float],
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_MB * 2**20,
        resolution: float = DEFAULT_RESOLUTION,
        views: int = 1,
    ) -> None:
        self.attributes = tuple(attributes)
        self.features = tuple(features)
        self.budget = int(memory_budget_bytes)
        self.copies = 1 + int(views)
        """Every view (and the whole population) merges all cells again when measured."""
        self.binning = ScoreBinning(resolution, thresholds)
        self.binned = False
        self._levels: list[SubgroupStats | None] = []
        self._cells: dict[tuple[str, ...], int] = {}
        self._cell_missing = np.zeros((0, len(self.features)), dtype=np.int64)
        self._cell_rows = np.zeros(0, dtype=np.int64)
        self._label_rows = np.zeros(2, dtype=np.int64)
        self._label_missing = np.zeros((2, len(self.features)), dtype=np.int64)
        self._categories: dict[str, list[str] | None] = {a: None for a in self.attributes}
        self.rows = 0
        self.batches = 0
        self.has_labels = True
        """False when the task has no 0/1 outcome (multiclass, regression)."""

    def cell_ids(self, sensitive: pd.DataFrame) -> np.ndarray:
        """Global id of each row's finest cell (new cells get the next ids)."""
        n = len(sensitive)
        code = np.zeros(n, dtype=np.int64)
        names: list[list[str]] = []
        for attribute in self.attributes:
            column = sensitive[attribute]
            codes, uniques = pd.factorize(column, use_na_sentinel=False)
            names.append([str(u) for u in uniques])
            code = code * max(len(uniques), 1) + codes
        combos, inverse = np.unique(code, return_inverse=True)
        ids = np.empty(combos.size, dtype=np.int64)
        for j, combo in enumerate(combos.tolist()):
            key: list[str] = []
            for values in reversed(names):
                combo, r = divmod(combo, max(len(values), 1))
                key.append(values[r])
            ids[j] = self._cells.setdefault(tuple(reversed(key)), len(self._cells))
        return ids[inverse]

    def add(
        self,
        sensitive: pd.DataFrame,
        labels: np.ndarray,
        scores: np.ndarray,
        missing: np.ndarray,
    ) -> np.ndarray:
        """Reduce one batch and merge it in; returns the rows' global cell ids."""
        cells = self.count(sensitive, labels, missing)
        s = np.asarray(scores, dtype=np.float64)
        if self.binned:
            s = self.binning.apply(s)
        batch = reduce_frame(sensitive, labels, s)
        self._push(batch)
        if not self.binned and self.table_bytes() > self.budget:
            self._switch_to_bins()
        return cells

    def count(
        self, sensitive: pd.DataFrame, labels: np.ndarray | None, missing: np.ndarray
    ) -> np.ndarray:
        """Add a batch's data-check counts (rows and missing values per cell, and per
        0/1 outcome when there is one); returns the rows' global cell ids."""
        for attribute in self.attributes:
            column = sensitive[attribute]
            if self._categories[attribute] is None and isinstance(
                column.dtype, pd.CategoricalDtype
            ):
                self._categories[attribute] = [str(c) for c in column.cat.categories]
        cells = self.cell_ids(sensitive)
        size = len(self._cells)
        if size > self._cell_rows.size:
            grow = size - self._cell_rows.size
            self._cell_rows = np.append(self._cell_rows, np.zeros(grow, dtype=np.int64))
            self._cell_missing = np.vstack(
                [self._cell_missing, np.zeros((grow, len(self.features)), dtype=np.int64)]
            )
        self._cell_rows += np.bincount(cells, minlength=size)
        for j in range(len(self.features)):
            self._cell_missing[:, j] += np.bincount(
                cells, weights=missing[:, j], minlength=size
            ).astype(np.int64)
        if labels is None:
            self.has_labels = False
        else:
            outcome = np.asarray(labels).astype(np.int64)
            self._label_rows += np.bincount(outcome, minlength=2)
            for j in range(len(self.features)):
                self._label_missing[:, j] += np.bincount(
                    outcome, weights=missing[:, j], minlength=2
                ).astype(np.int64)
        self.rows += len(sensitive)
        self.batches += 1
        return cells

    def _push(self, stats: SubgroupStats) -> None:
        level = 0
        carry: SubgroupStats | None = stats
        while carry is not None:
            if level == len(self._levels):
                self._levels.append(None)
            held = self._levels[level]
            if held is None:
                self._levels[level] = carry
                carry = None
            else:
                self._levels[level] = None
                carry = held.merge(carry)
                level += 1

    def table_bytes(self) -> int:
        """Memory the tables will take once measured over every view."""
        return (
            TABLE_ENTRY_BYTES
            * self.copies
            * sum(t.scores.size for s in self._levels if s is not None for t in s.cells.values())
        )

    def _switch_to_bins(self) -> None:
        self.binned = True
        for i, stats in enumerate(self._levels):
            if stats is None:
                continue
            cells = {k: self.binning.table(t) for k, t in stats.cells.items()}
            self._levels[i] = SubgroupStats(stats.attributes, cells, stats.values)

    def result(self) -> StreamResult:
        merged: SubgroupStats | None = None
        for stats in self._levels:
            if stats is not None:
                merged = stats if merged is None else merged.merge(stats)
        if merged is None:
            merged = SubgroupStats(self.attributes, {})
        values = {a: self._order(a, merged.values[a]) for a in self.attributes}
        stats = SubgroupStats(self.attributes, dict(merged.cells), values)
        counts = self.check_counts(values)
        return StreamResult(
            stats=stats,
            counts=counts,
            rows=self.rows,
            batches=self.batches,
            binned=self.binned,
            resolution=self.binning.resolution if self.binned else None,
            cell_rows={i: int(k) for i, k in enumerate(self._cell_rows.tolist())},
            table_bytes=self.table_bytes(),
        )

    def check_counts(self, values: dict[str, tuple[str, ...]]) -> CheckCounts:
        """The data checks' counts of every row added, by attribute."""
        return counts_from_cells(
            self.attributes,
            values,
            list(self._cells),
            self._cell_rows,
            self._cell_missing,
            label_rows=self._label_rows.copy() if self.has_labels else None,
            label_missing=self._label_missing.copy() if self.has_labels else None,
            categories=self._categories,
        )

    def cell_rows(self) -> dict[int, int]:
        """Rows per global cell id (the ids :meth:`add` and :meth:`count` returned)."""
        return {i: int(k) for i, k in enumerate(self._cell_rows.tolist())}

    def group_order(self, attribute: str) -> tuple[str, ...]:
        """An attribute's groups in the order one in-memory pass gives them."""
        i = self.attributes.index(attribute)
        return self._order(attribute, sorted({key[i] for key in self._cells}))

    def _order(self, attribute: str, seen: Sequence[str]) -> tuple[str, ...]:
        """Group order as one in-memory pass gives it: categorical order, else sorted;
        ``(missing)`` last."""
        present = set(seen)
        categories = self._categories[attribute]
        if categories is not None:
            names = [c for c in categories if c in present]
            names += sorted(present - set(names) - {MISSING_GROUP})
        else:
            names = sorted(present - {MISSING_GROUP})
        if MISSING_GROUP in present:
            names.append(MISSING_GROUP)
        return tuple(names)
