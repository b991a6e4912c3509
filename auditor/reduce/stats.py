"""Stage 2, reduce: rows become mergeable per-subgroup statistics, once.

For every metric that depends only on (score, label), the sufficient statistic of a
group is its table of distinct scores with the number of positive and negative
patients at each (:class:`ScoreTable`). The data are reduced once to the finest
cell, the cross of all sensitive attributes (:class:`SubgroupStats`); every
attribute, intersection and the whole population is a merge of cells, and merging
the statistics of two partitions equals the statistics of their union exactly.
A distributed engine builds the same object from a ``groupBy(cells, score)``
aggregation (:meth:`SubgroupStats.from_aggregates`).

With continuous scores the exact table is nearly as long as the data. Resampling
therefore uses a second, binned resolution (:class:`BinnedStats`, built by
:func:`bin_stats` from the exact statistics with no second pass over rows): shared
score-quantile bins with every decision threshold inserted as an edge, so
threshold metrics stay exact at bin level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import DataError

MISSING_GROUP = "(missing)"
"""Group name of a missing sensitive value."""

ECE_EDGES = np.linspace(0.0, 1.0, 11)
"""The 10 equal-width calibration bins on [0, 1] (same floats as scikit-learn)."""

LOG_EPS = float(np.finfo(np.float64).eps)
"""Probabilities are clipped to [eps, 1 - eps] for log loss and logits (as scikit-learn)."""

# Messages users read (tested verbatim).
SCORES_NOT_FINITE = "scores: {count} value(s) are missing or not finite (first at row {row})."
SCORES_OUT_OF_RANGE = (
    "scores: {count} value(s) are outside [0, 1] (first at row {row}: {value}); "
    "scores must be probabilities of the positive class."
)
LABELS_NOT_BINARY = (
    "labels: expected 0/1 values after mapping the positive class, found {values} "
    "(first at row {row})."
)
LENGTH_MISMATCH = "{what}: expected {expected} rows, got {got}."
WEIGHTS_NOT_COUNTS = "weights: expected non-negative whole numbers (frequency counts), got {value}."
UNKNOWN_ATTRIBUTE = "Unknown sensitive attribute {name!r}; the statistics hold {known}."


def _validate_scores(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    bad = ~np.isfinite(s)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(SCORES_NOT_FINITE.format(count=int(bad.sum()), row=row))
    out = (s < 0.0) | (s > 1.0)
    if out.any():
        row = int(np.flatnonzero(out)[0])
        raise DataError(
            SCORES_OUT_OF_RANGE.format(count=int(out.sum()), row=row, value=float(s[row]))
        )
    return s


def _validate_labels(labels: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(labels).ravel()
    if y.shape[0] != n:
        raise DataError(LENGTH_MISMATCH.format(what="labels", expected=n, got=y.shape[0]))
    if y.dtype == np.bool_:
        return y.astype(np.int8)
    if y.dtype.kind == "f":
        bad = ~((y == 0) | (y == 1))
    elif y.dtype.kind in "iu":
        bad = (y != 0) & (y != 1)
    else:
        bad = ~np.isin(y, [0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        values = sorted({str(v) for v in y[bad][:5]})
        raise DataError(LABELS_NOT_BINARY.format(values=", ".join(values), row=row))
    return y.astype(np.int8)


def _run_lengths(sorted_scores: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    if sorted_scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(sorted_scores.size, dtype=bool)
    change[0] = True
    np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=change[1:])
    return np.flatnonzero(change)


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Distinct scores of one group with their positive and negative patient counts.

    ``scores`` is float64 and strictly increasing; ``pos[i]`` and ``neg[i]`` (int64)
    count the patients with label 1 and 0 whose score is ``scores[i]``. This is the
    sufficient statistic of every metric in :mod:`auditor.measure.metrics`.
    """

    scores: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = np.ascontiguousarray(self.scores, dtype=np.float64)
        p = np.ascontiguousarray(self.pos, dtype=np.int64)
        q = np.ascontiguousarray(self.neg, dtype=np.int64)
        if not (s.ndim == p.ndim == q.ndim == 1 and s.shape == p.shape == q.shape):
            raise ValueError("ScoreTable: scores, pos and neg must be 1-d of equal length")
        if s.size > 1 and not bool(np.all(s[1:] > s[:-1])):
            raise ValueError("ScoreTable: scores must be strictly increasing")
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "pos", p)
        object.__setattr__(self, "neg", q)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreTable):
            return NotImplemented
        return (
            np.array_equal(self.scores, other.scores)
            and np.array_equal(self.pos, other.pos)
            and np.array_equal(self.neg, other.neg)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n_positive(self) -> int:
        return int(self.pos.sum())

    @property
    def n_negative(self) -> int:
        return int(self.neg.sum())

    @property
    def n(self) -> int:
        return self.n_positive + self.n_negative

    @classmethod
    def empty(cls) -> ScoreTable:
        z = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0), z, z.copy())

    @classmethod
    def from_arrays(
        cls,
        scores: np.ndarray | Sequence[float],
        labels: np.ndarray | Sequence[int],
        weights: np.ndarray | Sequence[int] | None = None,
    ) -> ScoreTable:
        """Reduce rows (score, 0/1 label, optional whole-number frequency weight)."""
        s = _validate_scores(np.asarray(scores))
        y = _validate_labels(np.asarray(labels), s.size)
        if weights is None:
            w = np.ones(s.size, dtype=np.int64)
        else:
            wf = np.asarray(weights).ravel()
            if wf.shape[0] != s.size:
                raise DataError(
                    LENGTH_MISMATCH.format(what="weights", expected=s.size, got=wf.shape[0])
                )
            bad = ~np.isfinite(wf.astype(np.float64)) | (wf < 0) | (np.round(wf) != wf)
            if bad.any():
                raise DataError(WEIGHTS_NOT_COUNTS.format(value=wf[np.flatnonzero(bad)[0]]))
            w = wf.astype(np.int64)
        order = np.argsort(s, kind="stable")
        ss = s[order]
        starts = _run_lengths(ss)
        if starts.size == 0:
            return cls.empty()
        wy = (w * y)[order]
        wn = (w * (1 - y))[order]
        pos = np.add.reduceat(wy, starts)
        neg = np.add.reduceat(wn, starts)
        keep = (pos + neg) > 0
        return cls(ss[starts][keep], pos[keep], neg[keep])

    @classmethod
    def merge(cls, *tables: ScoreTable) -> ScoreTable:
        """The table of the union of the groups' patients (exact)."""
        tables = tuple(t for t in tables if t.scores.size)
        if not tables:
            return cls.empty()
        if len(tables) == 1:
            return tables[0]
        dense = _merge_on_grid(tables)
        if dense is not None:
            return dense
        s = np.concatenate([t.scores for t in tables])
        # Each input is sorted: a stable sort merges the runs in O(n log k).
        order = np.argsort(s, kind="stable")
        ss = s[order]
        starts = _run_lengths(ss)
        pos = np.add.reduceat(np.concatenate([t.pos for t in tables])[order], starts)
        neg = np.add.reduceat(np.concatenate([t.neg for t in tables])[order], starts)
        return cls(ss[starts], pos, neg)


class _Grid:
    """The distinct scores of one reduction, shared by the cells it produced.

    A table made by :func:`reduce_frame` remembers the positions of its scores on
    the grid (``table._cache["grid"] = (grid, positions)``), so merging such tables
    is a dense bincount instead of a sort. Tables from elsewhere merge by sorting.
    """

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores


DENSE_MERGE_MAX = 4_000_000
"""Grids up to this size merge by a dense bincount; larger ones by sorting positions."""


def _merge_on_grid(tables: Sequence[ScoreTable]) -> ScoreTable | None:
    marks = [t._cache.get("grid") for t in tables]
    first = marks[0]
    if first is None or any(m is None or m[0] is not first[0] for m in marks):
        return None
    grid: _Grid = first[0]
    size = grid.scores.size
    idx = np.concatenate([m[1] for m in marks])  # type: ignore[index]
    pos = np.concatenate([t.pos for t in tables])
    neg = np.concatenate([t.neg for t in tables])
    if size <= min(4 * idx.size, DENSE_MERGE_MAX):  # cache-sized and dense enough
        dpos = np.bincount(idx, weights=pos, minlength=size)
        dneg = np.bincount(idx, weights=neg, minlength=size)
        at = np.flatnonzero(dpos + dneg)
        out_pos, out_neg = dpos[at].astype(np.int64), dneg[at].astype(np.int64)
    else:  # each input is sorted: a stable sort merges the runs
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        starts = _run_lengths(sorted_idx)
        at = sorted_idx[starts]
        out_pos = np.add.reduceat(pos[order], starts)
        out_neg = np.add.reduceat(neg[order], starts)
    out = ScoreTable(grid.scores[at], out_pos, out_neg)
    out._cache["grid"] = (grid, at)
    return out


GroupKey = tuple[str, ...]
View = tuple[str, ...]


def _ordered_union(*seqs: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for seq in seqs:
        for v in seq:
            seen.setdefault(v, None)
    return tuple(seen)


@dataclass(eq=False)
class SubgroupStats:
    """Score tables of the finest cells (one value per sensitive attribute).

    ``cells`` maps a tuple of group names (in the order of ``attributes``) to the
    cell's :class:`ScoreTable`. ``values`` keeps each attribute's group order (the
    categorical order when the column had one, else sorted, ``(missing)`` last);
    it is derived from the cells when omitted. Merged tables of views are cached.
    """

    attributes: tuple[str, ...]
    cells: dict[GroupKey, ScoreTable]
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.attributes = tuple(self.attributes)
        for key in self.cells:
            if len(key) != len(self.attributes):
                raise ValueError(
                    f"SubgroupStats: cell key {key!r} does not match attributes {self.attributes!r}"
                )
        derived = {
            a: tuple(sorted({k[i] for k in self.cells}, key=_group_sort_key))
            for i, a in enumerate(self.attributes)
        }
        values = {a: tuple(self.values.get(a, ())) for a in self.attributes}
        self.values = {a: _ordered_union(values[a], derived[a]) for a in self.attributes}

    def merge(self, other: SubgroupStats) -> SubgroupStats:
        """Statistics of the union of both partitions' rows."""
        if self.attributes != other.attributes:
            raise ValueError(
                f"SubgroupStats.merge: attributes differ: {self.attributes!r} vs "
                f"{other.attributes!r}"
            )
        cells = dict(self.cells)
        for key, table in other.cells.items():
            cells[key] = ScoreTable.merge(cells[key], table) if key in cells else table
        values = {a: _ordered_union(self.values[a], other.values[a]) for a in self.attributes}
        return SubgroupStats(self.attributes, cells, values)

    def _index(self, name: str) -> int:
        try:
            return self.attributes.index(name)
        except ValueError:
            raise DataError(
                UNKNOWN_ATTRIBUTE.format(name=name, known=", ".join(self.attributes))
            ) from None

    def table(self, selection: Mapping[str, str] | None = None) -> ScoreTable:
        """Merged table of the patients matching ``selection`` (None: everyone)."""
        if not selection:
            cached = self._cache.get(("table", ()))
            if cached is None:
                cached = ScoreTable.merge(*self.cells.values())
                self._cache[("table", ())] = cached
            return cached
        pos = [(self._index(a), v) for a, v in selection.items()]
        chosen = [t for k, t in self.cells.items() if all(k[i] == v for i, v in pos)]
        return ScoreTable.merge(*chosen)

    def groups(self, view: View) -> dict[GroupKey, ScoreTable]:
        """Tables of every group of ``view`` present in the data, in group order.

        ``view`` is a tuple of attribute names: ``("race",)`` for an attribute,
        ``("race", "sex")`` for an intersection, ``()`` for the whole population.
        """
        view = tuple(view)
        cached = self._cache.get(("groups", view))
        if cached is not None:
            return dict(cached)
        result: dict[GroupKey, ScoreTable]
        if not view:
            result = {(): self.table()}
        else:
            idx = [self._index(a) for a in view]
            buckets: dict[GroupKey, list[ScoreTable]] = {}
            for key, t in self.cells.items():
                buckets.setdefault(tuple(key[i] for i in idx), []).append(t)
            ranks = [{v: r for r, v in enumerate(self.values[a])} for a in view]
            ordered = sorted(buckets, key=lambda k: tuple(r[v] for r, v in zip(ranks, k)))
            result = {k: ScoreTable.merge(*buckets[k]) for k in ordered}
        self._cache[("groups", view)] = result
        return dict(result)

    @classmethod
    def from_aggregates(
        cls,
        attributes: Sequence[str],
        groups: Mapping[str, Sequence[str] | np.ndarray],
        scores: np.ndarray | Sequence[float],
        pos: np.ndarray | Sequence[int],
        neg: np.ndarray | Sequence[int],
    ) -> SubgroupStats:
        """Build from a ``groupBy(attributes..., score).agg(pos, neg)`` result.

        Rows may repeat a (cell, score) pair (partial aggregates); they are summed.
        This is how a distributed engine (Spark, Dask, SQL) hands its work over.
        """
        attrs = tuple(attributes)
        s = _validate_scores(np.asarray(scores))
        p = np.asarray(pos, dtype=np.int64).ravel()
        q = np.asarray(neg, dtype=np.int64).ravel()
        frame = pd.DataFrame({a: np.asarray(groups[a]).astype(str) for a in attrs})
        codes = np.zeros(s.size, dtype=np.int64)
        names: list[np.ndarray] = []
        for a in attrs:
            c, u = pd.factorize(frame[a], sort=True)
            codes = codes * len(u) + c
            names.append(np.asarray(u, dtype=object))
        bad = (p < 0) | (q < 0)
        if bad.any():
            raise DataError(WEIGHTS_NOT_COUNTS.format(value=int(min(p.min(), q.min()))))
        order = np.lexsort((s, codes))  # by cell, then score: one sort, no loop over rows
        cc, ss = codes[order], s[order]
        change = np.empty(s.size, dtype=bool)
        change[:1] = True
        change[1:] = (cc[1:] != cc[:-1]) | (ss[1:] != ss[:-1])
        starts = np.flatnonzero(change)
        run_pos = np.add.reduceat(p[order], starts) if starts.size else p[:0]
        run_neg = np.add.reduceat(q[order], starts) if starts.size else q[:0]
        run_cells, run_scores = cc[starts], ss[starts]
        keep = (run_pos + run_neg) > 0
        run_cells, run_scores = run_cells[keep], run_scores[keep]
        run_pos, run_neg = run_pos[keep], run_neg[keep]
        bounds = np.append(_run_lengths(run_cells), run_cells.size)
        cells: dict[GroupKey, ScoreTable] = {}
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            rem, key = int(run_cells[lo]), []
            for u in reversed(names):
                rem, r = divmod(rem, len(u))
                key.append(str(u[r]))
            cells[tuple(reversed(key))] = ScoreTable(
                run_scores[lo:hi], run_pos[lo:hi], run_neg[lo:hi]
            )
        return cls(attrs, cells)


def _group_sort_key(name: str) -> tuple[int, str]:
    return (1 if name == MISSING_GROUP else 0, name)


def _codes(column: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes and group names of one sensitive column (NaN -> ``(missing)``)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        raw_codes = np.asarray(column.cat.codes, dtype=np.int64)
        uniques = [str(c) for c in column.cat.categories]
        ordered = True
    else:
        fc, fu = pd.factorize(column, use_na_sentinel=True)
        raw_codes = np.asarray(fc, dtype=np.int64)
        uniques = [str(u) for u in fu]
        ordered = False
    missing = raw_codes < 0
    if missing.any():
        raw_codes = np.where(missing, len(uniques), raw_codes)
        uniques.append(MISSING_GROUP)
    # Distinct raw values may print the same (1 and "1"): they are one group.
    names = list(dict.fromkeys(uniques))
    if not ordered:
        names.sort(key=_group_sort_key)
    rank = {v: i for i, v in enumerate(names)}
    remap = np.array([rank[u] for u in uniques], dtype=np.int64)
    codes = remap[raw_codes] if remap.size else raw_codes
    present = np.bincount(codes, minlength=len(names)) > 0 if codes.size else np.zeros(0, bool)
    if not present.all():  # unused categories are not groups
        keep = np.flatnonzero(present)
        squeeze = np.full(len(names), -1, dtype=np.int64)
        squeeze[keep] = np.arange(keep.size)
        codes = squeeze[codes]
        names = [names[i] for i in keep]
    return codes, tuple(names)


def reduce_frame(sensitive: pd.DataFrame, labels: np.ndarray, scores: np.ndarray) -> SubgroupStats:
    """Reduce rows to the score tables of the finest cells, in one vectorized pass.

    Category codes of the sensitive columns are combined into one cell id; rows are
    sorted by (cell, score) (a score sort, then a stable radix sort on the cell id)
    and run-length encoded. No Python loop runs over rows.

    Parameters
    ----------
    sensitive : DataFrame, one column per sensitive attribute (values become str;
        missing values become the group ``(missing)``).
    labels : array of shape (n,), 0/1 (1 = the event).
    scores : array of shape (n,), probabilities of the event in [0, 1].
    """
    s = _validate_scores(np.asarray(scores))
    n = s.size
    if len(sensitive) != n:
        raise DataError(LENGTH_MISMATCH.format(what="sensitive", expected=n, got=len(sensitive)))
    y = _validate_labels(labels, n)
    attrs = tuple(str(c) for c in sensitive.columns)
    cell = np.zeros(n, dtype=np.int64)
    names: list[tuple[str, ...]] = []
    for col in sensitive.columns:
        codes, uniq = _codes(sensitive[col])
        cell = cell * max(len(uniq), 1) + codes
        names.append(uniq)
    total_cells = math.prod(max(len(u), 1) for u in names)

    if n == 0:
        return SubgroupStats(attrs, {}, {a: u for a, u in zip(attrs, names)})
    order = np.argsort(s)  # ties are pooled, so their order does not matter
    ss = s[order]
    first = _run_lengths(ss)
    grid_scores = ss[first]
    ys = y[order]
    # The overall table, straight from the score sort.
    overall_pos = np.add.reduceat(ys, first, dtype=np.int64)
    overall = ScoreTable(grid_scores, overall_pos, np.diff(first, append=n) - overall_pos)
    grid = _Grid(grid_scores)
    overall._cache["grid"] = (grid, np.arange(grid_scores.size))
    if total_cells > 1:
        rank = np.zeros(n, dtype=np.int64)  # position of each sorted row's score on the grid
        rank[first[1:]] = 1
        np.cumsum(rank, out=rank)
        small = np.int16 if total_cells < 2**15 else np.int32 if total_cells < 2**31 else None
        cs = cell.astype(small)[order] if small is not None else cell[order]
        by_cell = np.argsort(cs, kind="stable")  # a radix sort for small integer types
        rank = rank[by_cell]
        yy = ys[by_cell]
        # rows are now grouped by cell: the sorted cell ids, without another gather
        cc = np.repeat(np.arange(total_cells), np.bincount(cell, minlength=total_cells))
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(rank[1:], rank[:-1], out=change[1:])
        change[1:] |= cc[1:] != cc[:-1]
        starts = np.flatnonzero(change)
        pos = np.add.reduceat(yy, starts, dtype=np.int64)
        neg = np.diff(starts, append=n) - pos
        run_grid = rank[starts]
        run_scores = grid_scores[run_grid]
        run_cells = cc[starts]
    else:  # one cell: it is the overall table
        pos, neg = overall.pos, overall.neg
        run_grid = np.arange(grid_scores.size)
        run_scores = grid_scores
        run_cells = np.zeros(grid_scores.size, dtype=np.int64)
    cell_starts = _run_lengths(run_cells)  # runs are sorted by cell already
    cell_ids = run_cells[cell_starts]
    bounds = np.append(cell_starts, run_cells.size)
    sizes = [len(u) for u in names]
    cells: dict[GroupKey, ScoreTable] = {}
    for j, cid in enumerate(cell_ids.tolist()):
        lo, hi = bounds[j], bounds[j + 1]
        rem, key = cid, []
        for size, uniq in zip(reversed(sizes), reversed(names)):
            rem, r = divmod(rem, size)
            key.append(uniq[r])
        table = ScoreTable(run_scores[lo:hi], pos[lo:hi], neg[lo:hi])
        table._cache["grid"] = (grid, run_grid[lo:hi])
        cells[tuple(reversed(key))] = table
    stats = SubgroupStats(attrs, cells, {a: u for a, u in zip(attrs, names)})
    stats._cache[("table", ())] = overall
    return stats


# --------------------------------------------------------------------------- binned


BIN_TERMS = ("p", "loss_sq", "loss_log", "logit")
"""Per (bin, label) sums kept by :class:`BinnedTable`: the predicted probability, the
Brier term ((1-p)^2 for positives, p^2 for negatives), the log-loss term
(-log p, -log(1-p), clipped as scikit-learn) and logit(p) (clipped)."""


TERMS_BLOCK = 1 << 16
"""score_terms works in blocks of this many scores so its temporaries stay in cache."""


def score_terms(scores: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Per-score loss terms for positives and negatives, 4 arrays of shape (k,) each.

    Entries follow :data:`BIN_TERMS`. This is the one place these terms are defined;
    the exact metrics and the binned tables both read them.
    """
    s = np.ascontiguousarray(scores, dtype=np.float64)
    k = s.size
    sq_pos, log_pos, logit, sq_neg, log_neg = (np.empty(k) for _ in range(5))
    for lo in range(0, k, TERMS_BLOCK):
        hi = min(k, lo + TERMS_BLOCK)
        block = s[lo:hi]
        p_clip = np.clip(block, LOG_EPS, 1.0 - LOG_EPS)
        q_clip = np.clip(1.0 - block, LOG_EPS, 1.0 - LOG_EPS)
        np.square(1.0 - block, out=sq_pos[lo:hi])
        np.square(block, out=sq_neg[lo:hi])
        log_p = np.log(p_clip)
        np.negative(log_p, out=log_pos[lo:hi])
        np.subtract(log_p, np.log1p(-p_clip), out=logit[lo:hi])
        np.log(q_clip, out=log_neg[lo:hi])
        np.negative(log_neg[lo:hi], out=log_neg[lo:hi])
    return (s, sq_pos, log_pos, logit), (s, sq_neg, log_neg, logit)


@dataclass(frozen=True, eq=False)
class BinnedTable:
    """One group's counts and loss-term sums per score bin and label.

    ``pos``/``neg`` (int64, shape (k,)) count patients per bin; ``pos_sums`` and
    ``neg_sums`` (float64, shape (4, k)) hold the sums of :data:`BIN_TERMS` over the
    bin's positive and negative patients. Sums (not means) so tables merge by adding.
    """

    pos: np.ndarray
    neg: np.ndarray
    pos_sums: np.ndarray
    neg_sums: np.ndarray

    @property
    def n(self) -> int:
        return int(self.pos.sum() + self.neg.sum())

    def __add__(self, other: BinnedTable) -> BinnedTable:
        return BinnedTable(
            self.pos + other.pos,
            self.neg + other.neg,
            self.pos_sums + other.pos_sums,
            self.neg_sums + other.neg_sums,
        )


def bin_edges(overall: ScoreTable, bins: int, thresholds: Iterable[float] = ()) -> np.ndarray:
    """Shared left-closed bin edges: weighted score quantiles plus exact cut points.

    Bin ``i`` holds scores in ``[edges[i], edges[i+1])`` (the first bin also anything
    below ``edges[0]``). Every threshold ``t`` is an edge, so ``score >= t`` is decided
    exactly by the bin; the calibration edges 0.1..0.9 are inserted twice (the edge
    and the next float) because those bins are right-closed (as scikit-learn's
    ``calibration_curve``).
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    cut = [float(t) for t in thresholds]
    inner = ECE_EDGES[1:-1]
    cut += inner.tolist() + np.nextafter(inner, np.inf).tolist()
    if overall.scores.size:
        if overall.scores.size <= bins:
            q = overall.scores
        else:
            cum = np.cumsum(overall.pos + overall.neg)
            targets = np.linspace(0, cum[-1], bins + 1)[:-1]
            q = overall.scores[np.searchsorted(cum, targets, side="right").clip(0, cum.size - 1)]
            q = np.concatenate([[overall.scores[0]], q])
        cut += q.tolist()
    else:
        cut.append(0.0)
    return np.unique(np.asarray(cut, dtype=np.float64))


def _bin_table(table: ScoreTable, edges: np.ndarray) -> BinnedTable:
    k = edges.size
    idx = (np.searchsorted(edges, table.scores, side="right") - 1).clip(0, k - 1)
    pos_terms, neg_terms = score_terms(table.scores)
    pos = np.bincount(idx, weights=table.pos, minlength=k).astype(np.int64)
    neg = np.bincount(idx, weights=table.neg, minlength=k).astype(np.int64)
    pos_sums = np.stack([np.bincount(idx, weights=table.pos * t, minlength=k) for t in pos_terms])
    neg_sums = np.stack([np.bincount(idx, weights=table.neg * t, minlength=k) for t in neg_terms])
    return BinnedTable(pos, neg, pos_sums, neg_sums)


@dataclass(eq=False)
class BinnedStats:
    """Binned resolution of :class:`SubgroupStats`, used for resampling.

    ``edges`` are shared by every cell (see :func:`bin_edges`); ``cells`` maps the
    same keys as the exact statistics to :class:`BinnedTable`.
    """

    attributes: tuple[str, ...]
    edges: np.ndarray
    cells: dict[GroupKey, BinnedTable]
    values: dict[str, tuple[str, ...]]
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def bins(self) -> int:
        return int(self.edges.size)

    def groups(self, view: View) -> dict[GroupKey, BinnedTable]:
        """Binned tables of every group of ``view`` (``()``: everyone)."""
        view = tuple(view)
        cached = self._cache.get(view)
        if cached is not None:
            return dict(cached)
        idx = [self.attributes.index(a) for a in view]
        out: dict[GroupKey, BinnedTable] = {}
        for key, t in self.cells.items():
            g = tuple(key[i] for i in idx)
            out[g] = out[g] + t if g in out else t
        ranks = [{v: r for r, v in enumerate(self.values[a])} for a in view]
        ordered = {
            k: out[k] for k in sorted(out, key=lambda k: tuple(r[v] for r, v in zip(ranks, k)))
        }
        self._cache[view] = ordered
        return dict(ordered)


def bin_stats(
    stats: SubgroupStats, *, bins: int = 2000, thresholds: Iterable[float] = ()
) -> BinnedStats:
    """Bin every cell on shared edges derived from the overall table (cached)."""
    key = ("binned", int(bins), tuple(sorted(float(t) for t in thresholds)))
    cached = stats._cache.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    edges = bin_edges(stats.table(), bins, key[2])
    cells = {k: _bin_table(t, edges) for k, t in stats.cells.items()}
    result = BinnedStats(stats.attributes, edges, cells, dict(stats.values))
    stats._cache[key] = result
    return result
