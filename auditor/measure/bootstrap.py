"""Seeded percentile bootstrap: one draw at the finest cells, summed into every view.

The statistics are reduced to the finest cells (the cross of all sensitive
attributes); every group of every view is a union of cells. A replicate is drawn
once, at the cells, over each cell's binned table (:class:`auditor.reduce.stats.BinnedTable`,
a histogram over (score bin, label)), and a group's replicate table is the sum of its
cells' replicate tables. So:

* one draw serves every view (the cost does not grow with the number of views);
* the views are consistent: replicate ``r`` of "race = Black" is the sum of
  replicate ``r`` of the cells "race = Black x sex = F" and "... x sex = M";
* the draw is stratified by cell: without clusters every cell, hence every group,
  keeps its size in every replicate (a multinomial over the cell's nonzero
  (bin, label) entries), so its cost grows with bins, not patients.

With patient clusters (the spec's ``cluster:``; :class:`auditor.reduce.clusters.PatientClusters`)
a replicate resamples *patients* with replacement within strata (a patient's
stratum is the cell holding most of their encounters), and every encounter of a
drawn patient comes along, in whichever cell it falls: the replicate table of a
cell is ``W @ H``, patient weights times the sparse patient x (cell, bin, label)
matrix of encounter counts.

The metric functions are the registry's own (:mod:`auditor.measure.metrics`),
applied to arrays of shape ``(replicates, bins)``.

Determinism: replicates are drawn in blocks; block ``b`` of cell (or stratum) ``c``
draws from a generator seeded by ``(seed, b, c)``, so the same seed, data and
sensitive attributes give the same replicates whichever views are asked for and
however many threads run.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.measure.metrics import Levels, MetricDef, compute
from auditor.reduce.stats import BinnedStats, BinnedTable

if TYPE_CHECKING:
    from auditor.reduce.clusters import PatientClusters

CHUNK_ELEMENTS = 1 << 21
"""A block of replicates holds about this many (replicate x cell entry) counts."""
MIN_BLOCK, MAX_BLOCK = 16, 128
"""Replicates per block (bounds); clustered draws use the lower bound (memory per patient)."""

Key = tuple[str, ...]
View = tuple[str, ...]
ReplicateKey = tuple[str, float]
"""(metric id, threshold); the threshold is the primary one for threshold-free metrics."""
Replicates = dict[View, dict[Key, dict[ReplicateKey, np.ndarray]]]


def cell_rng(seed: int, block: int, cell: Sequence[str], kind: str = "cell") -> np.random.Generator:
    """Generator of one block of one cell (or patient stratum), independent of the others."""
    words = [zlib.crc32(kind.encode()), zlib.crc32("\x1f".join(cell).encode())]
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(block), *words]))


@dataclass(frozen=True)
class _Layout:
    """Where each cell's nonzero (bin, label) entries go in one group's compressed table."""

    table: BinnedTable
    edges: np.ndarray
    cells: tuple[int, ...]
    columns: tuple[np.ndarray, ...]
    width: int


def _compress(table: BinnedTable, edges: np.ndarray) -> tuple[BinnedTable, np.ndarray, np.ndarray]:
    keep = np.flatnonzero((table.pos + table.neg) > 0)
    sub = BinnedTable(
        table.pos[keep], table.neg[keep], table.pos_sums[:, keep], table.neg_sums[:, keep]
    )
    return sub, edges[keep], keep


def _cell_entries(table: BinnedTable) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero entries of a cell in the layout [pos bins..., neg bins...]: (columns, counts)."""
    counts = np.concatenate([table.pos, table.neg])
    nz = np.flatnonzero(counts)
    return nz, counts[nz]


def _layouts(
    binned: BinnedStats,
    views: Sequence[View],
    wanted: Mapping[View, Mapping[Key, Sequence[MetricDef]]],
    cell_keys: Sequence[Key],
    entries: Sequence[np.ndarray],
) -> dict[tuple[View, Key], _Layout]:
    k = binned.bins
    index = {c: i for i, c in enumerate(cell_keys)}
    out: dict[tuple[View, Key], _Layout] = {}
    for view in views:
        pos = [binned.attributes.index(a) for a in view]
        members: dict[Key, list[int]] = {}
        for c in cell_keys:
            members.setdefault(tuple(c[i] for i in pos), []).append(index[c])
        for g, table in binned.groups(view).items():
            if not wanted.get(view, {}).get(g):
                continue
            sub, sub_edges, keep = _compress(table, binned.edges)
            kg = keep.size
            cols = []
            for ci in members[g]:
                nz = entries[ci]
                label, b = np.divmod(nz, k)
                cols.append(np.searchsorted(keep, b) + label * kg)
            out[(view, g)] = _Layout(sub, sub_edges, tuple(members[g]), tuple(cols), 2 * kg)
    return out


def _block_sizes(replicates: int, per_replicate: int, clustered: bool) -> list[int]:
    size = MIN_BLOCK if clustered else CHUNK_ELEMENTS // max(per_replicate, 1)
    size = int(min(MAX_BLOCK, max(MIN_BLOCK, size)))
    full, rest = divmod(replicates, size)
    return [size] * full + ([rest] if rest else [])


def _draw_cells(
    block: int,
    r: int,
    seed: int,
    cell_keys: Sequence[Key],
    counts: Sequence[np.ndarray],
) -> list[np.ndarray]:
    """Stratified multinomial: every cell redraws its own patients over its entries."""
    out = []
    for key, c in zip(cell_keys, counts):
        n = int(c.sum())
        out.append(cell_rng(seed, block, key).multinomial(n, c / n, size=r))
    return out


def _draw_clusters(
    block: int, r: int, seed: int, clusters: _ClusterMatrix, widths: Sequence[int]
) -> list[np.ndarray]:
    """Resample patients within strata; a cell's table is the sum of its drawn encounters."""
    weights = np.empty((clusters.patients, r), dtype=np.float32)
    for key, lo, hi in clusters.strata:
        size = hi - lo
        idx = cell_rng(seed, block, key, "patients").integers(0, size, size=(r, size))
        idx += (np.arange(r) * size)[:, None]
        drawn = np.bincount(idx.ravel(), minlength=r * size).reshape(r, size)
        weights[lo:hi] = drawn.T
    table = np.asarray(clusters.matrix @ weights)  # (entries, r)
    counts = np.rint(table.T).astype(np.int64)
    bounds = np.cumsum([0, *widths])
    return [counts[:, bounds[i] : bounds[i + 1]] for i in range(len(widths))]


@dataclass(frozen=True)
class _ClusterMatrix:
    """Encounter counts as a sparse (cell entry x patient) matrix, patients by stratum."""

    matrix: Any  # scipy.sparse.csr_matrix of float32
    patients: int
    strata: tuple[tuple[Key, int, int], ...]


def _cluster_matrix(
    clusters: PatientClusters,
    binned: BinnedStats,
    cell_keys: Sequence[Key],
    entries: Sequence[np.ndarray],
) -> _ClusterMatrix:
    from scipy import sparse

    k = binned.bins
    edges = binned.edges
    cell_index = {c: i for i, c in enumerate(cell_keys)}
    # cluster cell codes -> our cell order
    remap = np.array([cell_index[c] for c in clusters.cells], dtype=np.int64)
    cell = remap[clusters.cell]
    b = (np.searchsorted(edges, clusters.scores, side="right") - 1).clip(0, k - 1)
    col_in_cell = b + (1 - clusters.labels.astype(np.int64)) * k  # pos block first
    # position of each encounter's (bin, label) among its cell's nonzero entries
    flat_entries = np.concatenate([e + i * 2 * k for i, e in enumerate(entries)])
    global_col = cell * 2 * k + col_in_cell
    col = np.searchsorted(flat_entries, global_col)
    if not np.array_equal(flat_entries[col.clip(0, flat_entries.size - 1)], global_col):
        raise ValueError("patient clusters do not match the binned statistics")
    order, strata = clusters.patient_order()
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    patient = rank[clusters.patient]
    m = sparse.csr_matrix(
        (np.ones(col.size, dtype=np.float32), (col, patient)),
        shape=(flat_entries.size, order.size),
    )
    m.sum_duplicates()
    named = tuple((clusters.cells[s], lo, hi) for s, lo, hi in strata)
    return _ClusterMatrix(m, int(order.size), named)


def resample(
    binned: BinnedStats,
    wanted: Mapping[View, Mapping[Key, Sequence[MetricDef]]],
    thresholds: Sequence[float],
    replicates: int,
    *,
    seed: int,
    clusters: PatientClusters | None = None,
    workers: int | None = None,
) -> Replicates:
    """Replicate values of the ``wanted`` metrics of every group of every view.

    ``wanted`` maps a view (``()`` for everyone) to its groups' metrics. Returns
    view -> group -> (metric id, threshold) -> array of shape (replicates,). The
    same replicate index is the same draw in every group of every view.
    """
    views = [v for v in wanted if any(wanted[v].values())]
    if not views or replicates <= 0:
        return {}
    cell_keys = [c for c, t in binned.cells.items() if t.n > 0]
    parts = [_cell_entries(binned.cells[c]) for c in cell_keys]
    entries = [p[0] for p in parts]
    counts = [p[1] for p in parts]
    layouts = _layouts(binned, views, wanted, cell_keys, entries)
    matrix = _cluster_matrix(clusters, binned, cell_keys, entries) if clusters is not None else None
    widths = [e.size for e in entries]
    blocks = _block_sizes(int(replicates), sum(widths), matrix is not None)
    primary = float(thresholds[0])

    def run(block: int) -> dict[tuple[View, Key], dict[ReplicateKey, np.ndarray]]:
        r = blocks[block]
        if matrix is None:
            draws = _draw_cells(block, r, seed, cell_keys, counts)
        else:
            draws = _draw_clusters(block, r, seed, matrix, widths)
        out: dict[tuple[View, Key], dict[ReplicateKey, np.ndarray]] = {}
        for key, lay in layouts.items():
            full = np.zeros((r, lay.width), dtype=np.int64)
            for ci, cols in zip(lay.cells, lay.columns):
                full[:, cols] += draws[ci]
            half = lay.width // 2
            lv = Levels.binned(lay.table, lay.edges, full[:, :half], full[:, half:])
            values: dict[ReplicateKey, np.ndarray] = {}
            for metric in wanted[key[0]][key[1]]:
                for t in thresholds if metric.needs_threshold else (primary,):
                    values[(metric.id, float(t))] = np.asarray(compute(metric, lv, float(t)).value)
            out[key] = values
        return out

    n_workers = workers or min(len(blocks), os.cpu_count() or 1, 2)
    if n_workers <= 1:
        results = [run(b) for b in range(len(blocks))]
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            results = list(pool.map(run, range(len(blocks))))
    merged: Replicates = {}
    for view, group in layouts:
        series = [res[(view, group)] for res in results]
        merged.setdefault(view, {})[group] = {
            rk: np.concatenate([s[rk] for s in series]) for rk in series[0]
        }
    return merged
