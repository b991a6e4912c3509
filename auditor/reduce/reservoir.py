"""A stratified reservoir: a fixed-size, seeded row sample of data that never fits in memory.

Streamed (or distributed) data are seen once, in batches. Every row gets a uniform
random key; a row is kept while its key is among the ``capacity`` smallest seen so
far (a bottom-k sample, which is a simple random sample of everything seen), or
among the ``per_cell`` smallest of its finest cell (so a small cell keeps rows even
when the global sample would miss it). Within a cell the kept rows are therefore
always the cell's rows with the smallest keys: a uniform sample of that cell.

At the end :meth:`StratifiedReservoir.sample` takes from every cell its share of
``size`` rows in proportion to the cell's rows in the whole data (largest-remainder
rounding), the rows with the smallest keys first: a proportional stratified sample,
self-weighting, so the stages that read it (explanations, proxies) can treat it as a
small copy of the data. Memory is bounded by ``capacity + cells * per_cell`` rows,
never by the rows of the data.

That stratified sample is not a uniform sample of the rows: a small cell keeps up to
``per_cell`` rows whatever its share. The rows with the ``capacity`` smallest keys of
all, however, are always kept (a row leaves only when ``capacity`` smaller keys have
been seen), and the rows with the ``m`` smallest of independent uniform keys are a
simple random sample of ``m`` rows without replacement. :meth:`uniform` returns that
sample, for the stages that need rows in their true proportions (discovery).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.reduce.sampling import largest_remainder

KEY = "__reservoir_key"
CELL = "__reservoir_cell"
SLACK = 1.25
"""Global capacity is this many times the final sample size, so that a cell's
proportional share is almost always among the kept rows."""
PER_CELL = 64
"""Rows every finest cell keeps at least (all of them when it has fewer)."""


@dataclass(frozen=True)
class ReservoirSample:
    """The final sample and what it stands for."""

    frame: pd.DataFrame
    """Sampled rows (the reservoir's columns), in cell order."""
    cells: np.ndarray
    """Global cell id of each sampled row."""
    short_cells: int
    """Cells that received fewer rows than their proportional share (their kept rows
    ran out; 0 in all but pathological orders of data)."""


class StratifiedReservoir:
    """Keep a seeded, stratified sample of rows while batches stream past."""

    def __init__(self, size: int, *, seed: int, per_cell: int = PER_CELL) -> None:
        self.size = int(size)
        self.capacity = max(1, int(np.ceil(SLACK * self.size)))
        self.per_cell = int(per_cell)
        self._rng = np.random.default_rng([int(seed), 0x5A3])
        self._kept: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame, cells: np.ndarray, keys: np.ndarray | None = None) -> None:
        """Offer a batch: ``cells`` is each row's global finest-cell id.

        ``keys`` (uniform on [0, 1)) may come from elsewhere (a Spark column); by
        default they are drawn here from the reservoir's seeded generator.
        """
        if len(frame) == 0:
            return
        if keys is None:
            keys = self._rng.random(len(frame))
        batch = frame.reset_index(drop=True)
        batch[KEY] = np.asarray(keys, dtype=np.float64)
        batch[CELL] = np.asarray(cells, dtype=np.int64)
        if self._kept is not None:
            # rows that cannot enter: above the global and their cell's thresholds
            bar = self._thresholds(batch[CELL].to_numpy())
            batch = batch.loc[batch[KEY].to_numpy() < bar]
            batch = pd.concat([self._kept, batch], ignore_index=True)
        self._kept = self._prune(batch)

    def _thresholds(self, cells: np.ndarray) -> np.ndarray:
        kept = self._kept
        assert kept is not None
        keys = kept[KEY].to_numpy()
        glob = (
            np.partition(keys, self.capacity - 1)[self.capacity - 1]
            if keys.size >= self.capacity
            else 1.0
        )
        per = kept.groupby(CELL, sort=False)[KEY].agg(
            lambda k: (
                np.partition(k.to_numpy(), self.per_cell - 1)[self.per_cell - 1]
                if k.size >= self.per_cell
                else 1.0
            )
        )
        cell_bar = per.reindex(cells).fillna(1.0).to_numpy()
        return np.maximum(glob, cell_bar)

    def _prune(self, frame: pd.DataFrame) -> pd.DataFrame:
        keys = frame[KEY].to_numpy()
        cells = frame[CELL].to_numpy()
        order = np.lexsort((keys, cells))
        sorted_cells = cells[order]
        starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
        rank_in_cell = np.empty(keys.size, dtype=np.int64)
        rank_in_cell[order] = np.arange(keys.size) - starts
        keep = rank_in_cell < self.per_cell
        if keys.size > self.capacity:
            glob = np.partition(keys, self.capacity - 1)[self.capacity - 1]
            keep |= keys <= glob
        else:
            keep[:] = True
        return frame.loc[keep].reset_index(drop=True)

    def uniform(self, size: int | None = None) -> pd.DataFrame:
        """A simple random sample of ``size`` rows (default and at most ``capacity``) of
        every row offered: the rows with the smallest keys, in key order."""
        kept = self._kept
        if kept is None:
            return pd.DataFrame()
        size = self.capacity if size is None else min(int(size), self.capacity)
        chosen = kept.sort_values(KEY, kind="stable").iloc[:size]
        return chosen.drop(columns=[KEY, CELL]).reset_index(drop=True)

    def sample(self, cell_rows: dict[int, int]) -> ReservoirSample:
        """The proportional stratified sample of ``size`` rows, given every cell's rows."""
        kept = self._kept
        if kept is None or not cell_rows:
            empty = pd.DataFrame() if kept is None else kept.iloc[:0].drop(columns=[KEY, CELL])
            return ReservoirSample(empty, np.zeros(0, dtype=np.int64), 0)
        ids = np.array(sorted(cell_rows), dtype=np.int64)
        counts = np.array([cell_rows[int(i)] for i in ids], dtype=np.float64)
        total = int(counts.sum())
        want = (
            counts.astype(np.int64) if self.size >= total else largest_remainder(self.size, counts)
        )
        allocation = dict(zip(ids.tolist(), want.tolist()))
        ordered = kept.sort_values([CELL, KEY], kind="stable")
        rank = ordered.groupby(CELL, sort=False).cumcount().to_numpy()
        limit = ordered[CELL].map(allocation).fillna(0).to_numpy()
        chosen = ordered.loc[rank < limit]
        got = chosen[CELL].value_counts()
        short = sum(1 for i, w in allocation.items() if int(got.get(i, 0)) < w)
        cells = chosen[CELL].to_numpy()
        frame = chosen.drop(columns=[KEY, CELL]).reset_index(drop=True)
        return ReservoirSample(frame, cells, short)


@dataclass(frozen=True)
class UniformRows:
    """A simple random sample of the audited rows, for discovery on an engine that keeps
    only a sample (streaming, Spark): its rows, their 0/1 outcomes and scores."""

    frame: pd.DataFrame
    labels: np.ndarray
    scores: np.ndarray
    rows_total: int
    """Rows it was drawn from (every audited row)."""
    engine: str
    columns: dict[str, np.ndarray] | None = None
    """Survival, multiclass, regression: the task statistic's columns per sampled row."""
