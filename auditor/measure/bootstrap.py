"""Seeded percentile bootstrap by resampling count tables, not rows.

Each group's binned table (:class:`auditor.reduce.stats.BinnedTable`) is a histogram of its
patients over (score bin, label) cells. A replicate draws the group's ``n``
patients again with a multinomial over those cells (stratified by group: every
group keeps its size), so the cost grows with the number of bins, not patients.
The groups of a view share replicate indices, so a difference between two groups
is computed within each replicate. The metric functions are the registry's own
(:mod:`auditor.measure.metrics`), applied to arrays of shape ``(replicates, bins)``.

Determinism: each group draws from its own generator seeded by ``(seed, view,
group)`` names, so the same seed gives the same intervals whatever else is audited,
and the groups can run in parallel threads.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from auditor.measure.metrics import Levels, MetricDef, compute
from auditor.reduce.stats import BinnedTable

CHUNK_ELEMENTS = 262_144
"""Replicates are drawn in chunks of about this many (replicate x bin) counts."""

Key = tuple[str, ...]
ReplicateKey = tuple[str, float]
"""(metric id, threshold); the threshold is the primary one for threshold-free metrics."""


def group_rng(seed: int, view: Sequence[str], group: Sequence[str]) -> np.random.Generator:
    """Generator of one group of one view, independent of every other group."""
    words = [zlib.crc32("\x1f".join(view).encode()), zlib.crc32("\x1f".join(group).encode())]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def _compress(table: BinnedTable, edges: np.ndarray) -> tuple[BinnedTable, np.ndarray]:
    keep = (table.pos + table.neg) > 0
    sub = BinnedTable(
        table.pos[keep], table.neg[keep], table.pos_sums[:, keep], table.neg_sums[:, keep]
    )
    return sub, edges[keep]


def resample_group(
    table: BinnedTable,
    edges: np.ndarray,
    metrics: Sequence[MetricDef],
    thresholds: Sequence[float],
    replicates: int,
    rng: np.random.Generator,
) -> dict[ReplicateKey, np.ndarray]:
    """Replicate values of ``metrics`` for one group, shape (replicates,) each."""
    sub, keys = _compress(table, edges)
    k = keys.size
    counts = np.concatenate([sub.pos, sub.neg])
    nz = np.flatnonzero(counts)
    n = int(counts.sum())
    out: dict[ReplicateKey, list[np.ndarray]] = {}
    if n == 0 or replicates <= 0:
        return {}
    probs = counts[nz] / n
    chunk = max(1, min(replicates, CHUNK_ELEMENTS // max(2 * k, 1)))
    primary = float(thresholds[0])
    done = 0
    while done < replicates:
        r = min(chunk, replicates - done)
        draws = rng.multinomial(n, probs, size=r)
        full = np.zeros((r, 2 * k), dtype=np.int64)
        full[:, nz] = draws
        lv = Levels.binned(sub, keys, full[:, :k], full[:, k:])
        for metric in metrics:
            for t in thresholds if metric.needs_threshold else (primary,):
                out.setdefault((metric.id, float(t)), []).append(
                    compute(metric, lv, float(t)).value
                )
        done += r
    return {key: np.concatenate(parts) for key, parts in out.items()}


def resample_view(
    tables: Mapping[Key, BinnedTable],
    edges: np.ndarray,
    metrics: Mapping[Key, Sequence[MetricDef]],
    thresholds: Sequence[float],
    replicates: int,
    *,
    seed: int,
    view: Sequence[str],
    workers: int | None = None,
) -> dict[Key, dict[ReplicateKey, np.ndarray]]:
    """Replicates of every group of a view (same replicate index = same draw round)."""
    keys = [k for k in tables if metrics.get(k)]
    if not keys or replicates <= 0:
        return {}

    def run(key: Key) -> dict[ReplicateKey, np.ndarray]:
        return resample_group(
            tables[key],
            edges,
            metrics[key],
            thresholds,
            replicates,
            group_rng(seed, view, key),
        )

    n_workers = workers or min(len(keys), os.cpu_count() or 1)
    if n_workers <= 1:
        results = [run(k) for k in keys]
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            results = list(pool.map(run, keys))
    return dict(zip(keys, results))
