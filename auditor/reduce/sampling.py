"""Seeded, stratified row samples for the row-level work that cannot be reduced.

SHAP values (and other per-row computations) cost per row, so they run on a
sample whose size the audit spec sets. A simple random sample would leave small
subgroups with a handful of rows or none; here the budget is split across the
finest cells (the cross of all sensitive attributes): every cell first gets a
floor (all its rows when it is smaller), the rest of the budget goes to cells in
proportion to their remaining rows (largest-remainder rounding). Within a cell,
the draw can be stratified again by a second key (the outcome label), so each
cell keeps its outcome mix.

Because cells are sampled at different rates, every sampled row carries the
weight ``rows in its stratum / sampled rows in its stratum``; weighted means
over the sample estimate means over the whole data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StratifiedSample:
    """Row positions of a sample and the weight each sampled row stands for."""

    rows: np.ndarray
    """Sorted positions (0-based, into the original frame) of the sampled rows."""
    weights: np.ndarray
    """For each sampled row, rows in its stratum divided by sampled rows in its stratum."""
    floor: int
    """Rows each stratum got before the proportional split (the requested floor, lowered
    to fit the budget); 0 when every row was taken."""

    @property
    def size(self) -> int:
        return int(self.rows.size)


def cell_codes(sensitive: pd.DataFrame) -> np.ndarray:
    """Integer code of each row's finest cell (the cross of every sensitive column).

    Codes follow the sorted order of the cell values, so they do not depend on
    row order. A frame without columns puts every row in one cell.
    """
    if sensitive.shape[1] == 0:
        return np.zeros(len(sensitive), dtype=np.int64)
    keys = sensitive.astype(str)
    codes = keys.groupby(list(keys.columns), sort=True, dropna=False).ngroup()
    return codes.to_numpy(dtype=np.int64)


def group_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's group as an integer code, and the group names (as ``str(value)``).

    One factorization of the column, no loop over rows: a categorical column keeps
    its codes; values that print alike (``1`` and ``"1"``) are one group, as
    ``astype(str)`` would make them.
    """
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    names = [str(u) for u in uniques]
    merged, remap = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    if merged.size == len(names) and len(names) and (remap == np.arange(len(names))).all():
        return codes.astype(np.int64), names
    return remap.astype(np.int64)[codes], [str(m) for m in merged]


def largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    """Split ``total`` units in proportion to ``shares``, rounding by largest remainder.

    Ties in the fractional parts go to the earlier entry, so the split is
    deterministic. ``shares`` must be non-negative with a positive sum unless
    ``total`` is 0.
    """
    shares = np.asarray(shares, dtype=np.float64)
    out = np.zeros(shares.size, dtype=np.int64)
    if total <= 0 or shares.size == 0:
        return out
    quotas = total * shares / shares.sum()
    out = np.floor(quotas).astype(np.int64)
    left = total - int(out.sum())
    if left > 0:
        order = np.lexsort((np.arange(shares.size), -(quotas - out)))
        out[order[:left]] += 1
    return out


def effective_floor(counts: np.ndarray, size: int, floor: int) -> int:
    """The requested floor, lowered to ``size // non-empty strata`` when it does not fit."""
    nonempty = int((np.asarray(counts) > 0).sum())
    if nonempty == 0:
        return 0
    return max(0, min(int(floor), int(min(size, np.sum(counts))) // nonempty))


def allocate(counts: np.ndarray, size: int, floor: int) -> np.ndarray:
    """Rows to draw from each stratum: a floor per stratum, the rest proportional.

    The floor is lowered to ``size // strata`` when the floors alone would
    exceed the budget, so the result never sums to more than ``size`` (or than
    the rows available).
    """
    counts = np.asarray(counts, dtype=np.int64)
    size = int(min(size, counts.sum()))
    if size <= 0 or not (counts > 0).any():
        return np.zeros(counts.size, dtype=np.int64)
    taken = np.minimum(counts, effective_floor(counts, size, floor))
    capacity = counts - taken
    remaining = size - int(taken.sum())
    if remaining > 0:
        taken = taken + largest_remainder(remaining, capacity.astype(np.float64))
    return taken


def stratified_sample(
    strata: Sequence[int] | np.ndarray,
    *,
    size: int,
    rng: np.random.Generator,
    floor: int,
    within: Sequence[object] | np.ndarray | None = None,
) -> StratifiedSample:
    """Draw a seeded sample of at most ``size`` rows stratified by ``strata``.

    Parameters
    ----------
    strata : array of shape (n_rows,)
        Stratum code of each row (for SHAP: :func:`cell_codes` of the sensitive columns).
    size : int
        Row budget. The whole data is returned (all weights 1) when it is not larger.
    rng : numpy.random.Generator
        The only source of randomness.
    floor : int
        Rows every stratum gets before the proportional split (all of its rows
        if it has fewer); lowered when the floors alone exceed the budget.
    within : array of shape (n_rows,), optional
        A second key (the outcome label); each stratum's rows are split across
        its values in proportion, and weights are computed per (stratum, value).

    Returns
    -------
    StratifiedSample
        Sorted row positions and their weights.
    """
    strata = np.asarray(strata)
    n = strata.size
    if size >= n:
        return StratifiedSample(rows=np.arange(n), weights=np.ones(n), floor=0)
    uniques, inverse = np.unique(strata, return_inverse=True)
    counts = np.bincount(inverse, minlength=uniques.size)
    per_stratum = allocate(counts, size, floor)
    if within is None:
        inner = np.zeros(n, dtype=np.int64)
    else:
        inner = np.unique(np.asarray(within).astype(str), return_inverse=True)[1]
    order = np.lexsort((np.arange(n), inner, inverse))
    bounds = np.searchsorted(inverse[order], np.arange(uniques.size + 1))
    chosen: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for code in range(uniques.size):
        members = order[bounds[code] : bounds[code + 1]]
        inner_values, inner_inverse = np.unique(inner[members], return_inverse=True)
        inner_counts = np.bincount(inner_inverse, minlength=inner_values.size)
        inner_take = _split_within(int(per_stratum[code]), inner_counts)
        for part in range(inner_values.size):
            take = int(inner_take[part])
            if take == 0:
                continue
            rows = members[inner_inverse == part]
            picked = rng.choice(rows, size=take, replace=False)
            chosen.append(picked)
            weights.append(np.full(take, rows.size / take))
    used_floor = effective_floor(counts, size, floor)
    if not chosen:
        return StratifiedSample(
            rows=np.zeros(0, dtype=np.int64), weights=np.zeros(0), floor=used_floor
        )
    all_rows = np.concatenate(chosen)
    all_weights = np.concatenate(weights)
    keep = np.argsort(all_rows, kind="stable")
    return StratifiedSample(rows=all_rows[keep], weights=all_weights[keep], floor=used_floor)


def _split_within(take: int, counts: np.ndarray) -> np.ndarray:
    """Split one stratum's draw across its inner values in proportion to their rows."""
    if take >= counts.sum():
        return counts.copy()
    return largest_remainder(take, counts.astype(np.float64))


LENGTH_MISMATCH = "{name} has {actual} rows but the data has {expected}"


def check_row_alignment(
    frame: pd.DataFrame, sensitive: pd.DataFrame, labels: np.ndarray | None
) -> None:
    """Row-level inputs of one audit must describe the same patients, row for row."""
    if len(sensitive) != len(frame):
        raise ValueError(
            LENGTH_MISMATCH.format(name="sensitive", actual=len(sensitive), expected=len(frame))
        )
    if labels is not None and len(labels) != len(frame):
        raise ValueError(
            LENGTH_MISMATCH.format(name="labels", actual=len(labels), expected=len(frame))
        )
