"""The reader's attack, as a linear programme: can a hidden small count be pinned?

Unknowns are the patients of every finest cell (one value of each attribute), per
score band of the threshold grid, with and without the outcome. Everything a plan
publishes is a linear equation on them (a group's size, its event count, its
predicted positives and true/false positives at a threshold); every reason a plan
gives is a bound ("fewer than 11 patients": between 1 and 10; "hidden to protect
another group": at least 11). A hidden count of 1 to ``m - 1`` is *pinned* when the
smallest and largest values it can take under all of that admit one whole number.

:func:`repair` makes a plan safe against this attack: while a small count is
pinned, it withholds the cheapest published figure that unpins it. The attack
suite in the tests runs the same kind of programme from the published files.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from auditor.privacy.suppression import (
    SUPPRESSED_COMPLEMENTARY,
    SUPPRESSED_OWN,
    SUPPRESSED_SMALL,
    THRESHOLD_COMPLEMENTARY,
    THRESHOLD_LABELS_COMPLEMENTARY,
    THRESHOLD_OWN,
    WITHHELD_BOTH,
    WITHHELD_COMPLEMENTARY,
    WITHHELD_NEGATIVES,
    WITHHELD_POSITIVES,
    PlanState,
)

Key = tuple[str, ...]
View = tuple[str, ...]
GroupId = tuple[View, Key]
Class = int  # 0: without the outcome, 1: with it, 2: everyone
MAX_ROUNDS = 400
EPS = 1e-6


@dataclass(frozen=True)
class Quantity:
    """A count of one group: patients of ``cls`` with scores in bands ``lo..hi``."""

    group: GroupId
    cls: Class
    lo: int
    hi: int
    value: int


@dataclass(frozen=True)
class Figure:
    """A published figure that :func:`repair` may withhold."""

    kind: str  # "size", "events", "selection", "confusion"
    group: GroupId
    threshold: float | None = None


def pinned(low: float, high: float) -> bool:
    """At most one whole number lies in [low, high]."""
    if math.isinf(low) or math.isinf(high):
        return False
    return math.floor(high + EPS) - math.ceil(low - EPS) < 1


class Attack:
    """One linear programme over the finest cells x bands x outcome of a plan's views.

    Every figure a plan could publish, and every bound its reasons could state, is a
    row of the programme, switched on or off by :meth:`sync` to match the plan; a
    count's range is then two warm-started solves.
    """

    def __init__(self, state: PlanState) -> None:
        self.state = state
        self.m = state.m
        self.grid = state.grid
        self.n_bands = len(state.grid) + 1
        attrs: list[str] = []
        for view in state.views:
            for a in view:
                if a not in attrs:
                    attrs.append(a)
        values: dict[str, list[str]] = {a: [] for a in attrs}
        for view, groups in state.views.items():
            for key in groups:
                for a, v in zip(view, key):
                    if v not in values[a]:
                        values[a].append(v)
        self.cells = list(itertools.product(*(values[a] for a in attrs)))
        self.n_vars = len(self.cells) * self.n_bands * 2
        cell_values = np.array(self.cells, dtype=object).reshape(len(self.cells), len(attrs))
        self._members: dict[GroupId, np.ndarray] = {}
        for view, groups in state.views.items():
            cols = [attrs.index(a) for a in view]
            for key in groups:
                mask = np.ones(len(self.cells), dtype=bool)
                for c, v in zip(cols, key):
                    mask &= cell_values[:, c] == v
                self._members[(view, key)] = np.flatnonzero(mask)
        self._rows: dict[tuple, int] = {}
        self._values: list[int] = []
        forms: list[np.ndarray] = []
        top = self.n_bands - 1
        for view, groups in state.views.items():
            for key in groups:
                g = (view, key)
                specs = [("n", g, 2, 0), ("pos", g, 1, 0), ("neg", g, 0, 0)]
                specs += [("pp", g, 2, i + 1) for i in range(len(self.grid))]
                specs += [("tp", g, 1, i + 1) for i in range(len(self.grid))]
                specs += [("fp", g, 0, i + 1) for i in range(len(self.grid))]
                for name, grp, cls, lo in specs:
                    self._rows[(name, grp, lo)] = len(forms)
                    self._values.append(self.value(grp, cls, lo, top))
                    forms.append(self.form(grp, cls, lo, top))
        lengths = [f.size for f in forms]
        matrix = sparse.csc_matrix(
            (
                np.ones(sum(lengths)),
                (np.repeat(np.arange(len(forms)), lengths), np.concatenate(forms)),
            ),
            shape=(len(forms), self.n_vars),
        )
        self.solver = _Solver(matrix)

    def form(self, group: GroupId, cls: Class, lo: int, hi: int) -> np.ndarray:
        """Variable indices summed by a quantity (cells of the group, bands lo..hi)."""
        cells = self._members[group]
        bands = np.arange(lo, hi + 1)
        classes = np.array([0, 1]) if cls == 2 else np.array([cls])
        idx = (cells[:, None, None] * self.n_bands + bands[None, :, None]) * 2 + classes
        return idx.ravel()

    def value(self, group: GroupId, cls: Class, lo: int, hi: int) -> int:
        counts = self.state.views[group[0]][group[1]]
        bands = list(counts.bands) or [(counts.n_positive, counts.n_negative)]
        pos = sum(b[0] for b in bands[lo : hi + 1])
        neg = sum(b[1] for b in bands[lo : hi + 1])
        return pos if cls == 1 else neg if cls == 0 else pos + neg

    def sync(self) -> None:
        """Switch rows on and off to match the plan: equal to the published value,
        bounded as the reasons say, or free."""
        st, m = self.state, self.m
        n_rows = len(self._rows)
        lower = np.full(n_rows, -np.inf)
        upper = np.full(n_rows, np.inf)

        def fix(name: str, g: GroupId, lo: int, cls: Class) -> None:
            r = self._rows[(name, g, lo)]
            lower[r] = upper[r] = self._values[r]

        def bound(name: str, g: GroupId, low: float, high: float) -> None:
            r = self._rows[(name, g, 0)]
            lower[r] = max(lower[r], low)
            upper[r] = min(upper[r], high)

        small = SUPPRESSED_SMALL.format(m=m)
        few_pos = (WITHHELD_POSITIVES.format(m=m), WITHHELD_BOTH.format(m=m))
        few_neg = (WITHHELD_NEGATIVES.format(m=m), WITHHELD_BOTH.format(m=m))
        for view, groups in st.views.items():
            for key in groups:
                g = (view, key)
                reason = st.suppressed.get(g)
                if reason is not None:
                    if reason == small:
                        bound("n", g, 1, m - 1)
                    elif reason in (SUPPRESSED_COMPLEMENTARY, SUPPRESSED_OWN.format(m=m)):
                        bound("n", g, m, np.inf)
                    continue
                fix("n", g, 0, 2)
                withheld = st.label_withheld.get(g)
                if withheld in few_pos:
                    bound("pos", g, 0, m - 1)
                if withheld in few_neg:
                    bound("neg", g, 0, m - 1)
                if st.events.get(g) == WITHHELD_COMPLEMENTARY:
                    bound("pos", g, m, np.inf)
                    bound("neg", g, m, np.inf)
                if st.events_shown(g):
                    fix("pos", g, 0, 1)
                for i, t in enumerate(self.grid):
                    if st.selection_shown(g, t):
                        fix("pp", g, i + 1, 2)
                    if st.confusion_shown(g, t):
                        fix("tp", g, i + 1, 1)
                        fix("fp", g, i + 1, 0)
        self.solver.set_rows(lower, upper)

    def quantities(self) -> Iterator[Quantity]:
        """Every count of every group (per class and contiguous band range) from 1 to m-1."""
        top = self.n_bands - 1
        for view, groups in self.state.views.items():
            for key in groups:
                for lo in range(self.n_bands):
                    for hi in range(lo, top + 1):
                        for cls in (2, 1, 0):
                            v = self.value((view, key), cls, lo, hi)
                            if 1 <= v < self.m:
                                yield Quantity((view, key), cls, lo, hi, v)

    def is_pinned(self, q: Quantity) -> bool:
        return pinned(*self.solver.range(self.form(q.group, q.cls, q.lo, q.hi)))

    def leaks(self, among: Sequence[Quantity] | None = None) -> list[Quantity]:
        """The small counts (of ``among``, default all) the current plan lets a reader pin."""
        self.sync()
        return [q for q in (self.quantities() if among is None else among) if self.is_pinned(q)]


_OPTIONS = (
    ("presolve", "off"),
    ("threads", 1),
    ("solver", "simplex"),
    ("simplex_strategy", 4),  # primal: about twice as fast here as dual on re-solves
)
_LOCAL = threading.local()
"""One HiGHS instance per thread: creating one costs far more than a solve."""


class _Solver:
    """One linear programme with switchable rows, re-solved (warm) per objective."""

    def __init__(self, matrix: sparse.csc_matrix) -> None:
        import highspy

        n_rows, n_vars = matrix.shape
        lp = highspy.HighsLp()
        lp.num_col_ = n_vars
        lp.num_row_ = n_rows
        lp.col_cost_ = np.zeros(n_vars)
        lp.col_lower_ = np.zeros(n_vars)
        lp.col_upper_ = np.full(n_vars, highspy.kHighsInf)
        lp.row_lower_ = np.full(n_rows, -highspy.kHighsInf)
        lp.row_upper_ = np.full(n_rows, highspy.kHighsInf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
        h: Any = getattr(_LOCAL, "highs", None)
        if h is None:
            # the core class: the Python wrapper prints a banner on stdout when created;
            # the public class is the fallback should a release move the core one
            try:
                from highspy import _core

                h = _core._Highs()
            except (ImportError, AttributeError):
                h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            _LOCAL.highs = h
        h.passModel(lp)
        for option, value in _OPTIONS:
            h.setOptionValue(option, value)
        self.h = h
        self.hs = highspy
        self.n_rows = n_rows
        self.last = np.zeros(0, dtype=np.int32)

    def set_rows(self, lower: np.ndarray, upper: np.ndarray) -> None:
        inf = self.hs.kHighsInf
        lo = np.where(np.isfinite(lower), lower, -inf)
        hi = np.where(np.isfinite(upper), upper, inf)
        self.h.changeRowsBounds(self.n_rows, np.arange(self.n_rows, dtype=np.int32), lo, hi)

    def _solve(self, idx: np.ndarray, sign: float) -> float | None:
        h = self.h
        if self.last.size:
            h.changeColsCost(self.last.size, self.last, np.zeros(self.last.size))
        idx = idx.astype(np.int32)
        h.changeColsCost(idx.size, idx, np.full(idx.size, sign))
        self.last = idx
        h.run()
        status = h.getModelStatus()
        if status == self.hs.HighsModelStatus.kOptimal:
            return float(sign * h.getInfo().objective_function_value)
        if status == self.hs.HighsModelStatus.kUnbounded:
            return math.inf if sign < 0 else -math.inf
        return None

    def range(self, idx: np.ndarray) -> tuple[float, float]:
        low = self._solve(idx, 1.0)
        high = self._solve(idx, -1.0)
        if low is None or high is None:
            return (-math.inf, math.inf)
        return (low, high)


def _published(state: PlanState) -> list[Figure]:
    out: list[Figure] = []
    for view, groups in state.views.items():
        for key in groups:
            g = (view, key)
            if not state.size_shown(g):
                continue
            if view:
                out.append(Figure("size", g))
            if state.events_shown(g):
                out.append(Figure("events", g))
            for t in state.grid:
                if state.selection_shown(g, t):
                    out.append(Figure("selection", g, t))
                if state.confusion_shown(g, t):
                    out.append(Figure("confusion", g, t))
    return out


def _cost(state: PlanState, f: Figure) -> tuple[int, int]:
    """Figures lost by withholding ``f`` (threshold figures before event counts before
    sizes), then the group's size (the smaller first)."""
    confusion = sum(state.confusion_shown(f.group, t) for t in state.grid)
    n = state.views[f.group[0]][f.group[1]].n
    if f.kind == "selection":
        assert f.threshold is not None
        return (1 + 10 * state.confusion_shown(f.group, f.threshold), n)
    if f.kind == "confusion":
        return (10, n)
    if f.kind == "events":
        return (4 + 10 * confusion, n)
    return (1000, n)


def _apply(state: PlanState, f: Figure, own: bool = False) -> None:
    """Withhold ``f``; ``own``: to protect a count of its own group, not another's."""
    if f.kind == "size":
        state.suppressed[f.group] = (
            SUPPRESSED_OWN.format(m=state.m) if own else SUPPRESSED_COMPLEMENTARY
        )
    elif f.kind == "events":
        state.events[f.group] = WITHHELD_COMPLEMENTARY
    elif f.kind == "selection":
        assert f.threshold is not None
        template = THRESHOLD_OWN if own else THRESHOLD_COMPLEMENTARY
        state.thresholds[f.group, f.threshold] = template.format(t=repr(f.threshold), m=state.m)
    else:
        assert f.threshold is not None
        state.label_thresholds[f.group, f.threshold] = THRESHOLD_LABELS_COMPLEMENTARY.format(
            t=repr(f.threshold)
        )


def _undo(state: PlanState, f: Figure) -> None:
    if f.kind == "size":
        del state.suppressed[f.group]
    elif f.kind == "events":
        del state.events[f.group]
    elif f.kind == "selection":
        assert f.threshold is not None
        del state.thresholds[f.group, f.threshold]
    else:
        assert f.threshold is not None
        del state.label_thresholds[f.group, f.threshold]


def _relevant(attack: Attack, q: Quantity, f: Figure) -> bool:
    """Whether withholding ``f`` can matter for ``q``: the same kind of count (a size
    for a size, an event count for an event count, a figure at a threshold bounding
    the band for a band)."""
    full = q.lo == 0 and q.hi == attack.n_bands - 1
    if full:
        return f.kind == "size" if q.cls == 2 else f.kind in ("events", "size")
    if f.kind not in ("selection", "confusion"):
        return False
    assert f.threshold is not None
    i = attack.grid.index(f.threshold)
    return i + 1 in (q.lo, q.hi + 1) and (q.cls != 2 or f.kind == "selection")


def repair(state: PlanState) -> None:
    """Withhold the cheapest published figures until no hidden small count is pinned.

    For a pinned count, the candidates are published figures of the same kind, the
    pinned group's own view first, cheapest first (:func:`_cost`). The first that
    unpins it alone is withheld; when none does, the cheapest is withheld and the
    search repeats. Withholding only removes equations, but the bounds its reason
    states can pin another count, so the whole check runs again until it is clean.
    """
    attack = Attack(state)
    for _ in range(MAX_ROUNDS):
        leaks = attack.leaks()
        if not leaks:
            return
        for q in leaks:
            attack.sync()
            if not attack.is_pinned(q):
                continue
            _repair_one(attack, state, q)
    raise RuntimeError("complementary suppression did not converge")  # pragma: no cover


def _repair_one(attack: Attack, state: PlanState, q: Quantity) -> None:
    committed: list[Figure] = []
    for _attempt in range(MAX_ROUNDS):
        figures = sorted(
            (f for f in _published(state) if _relevant(attack, q, f)),
            key=lambda f: (f.group[0] != q.group[0], _cost(state, f)),
        )
        if not figures:
            _withhold_all(state, q.group)
            return
        for f in figures:
            _apply(state, f, own=f.group == q.group)
            attack.sync()
            if not attack.is_pinned(q):
                _prune(attack, state, q, committed)
                return
            _undo(state, f)
        _apply(state, figures[0], own=figures[0].group == q.group)
        committed.append(figures[0])
    _withhold_all(state, q.group)  # pragma: no cover


def _prune(attack: Attack, state: PlanState, q: Quantity, committed: list[Figure]) -> None:
    """Publish again what was withheld on the way but turned out not to be needed."""
    for f in reversed(committed):
        _undo(state, f)
        attack.sync()
        if attack.is_pinned(q):
            _apply(state, f, own=f.group == q.group)
    attack.sync()


def _withhold_all(state: PlanState, group: GroupId) -> None:
    """Last resort: the group's view shows names only."""
    view = group[0]
    for key in state.views[view]:
        g = (view, key)
        if view and g not in state.suppressed:
            state.suppressed[g] = SUPPRESSED_COMPLEMENTARY
        elif not view:
            state.events.setdefault(g, WITHHELD_COMPLEMENTARY)
            for t in state.grid:
                state.thresholds.setdefault((g, t), THRESHOLD_COMPLEMENTARY.format(t=repr(t)))


def check_plan(state: PlanState) -> list[Quantity]:
    """The small counts a reader could pin under ``state`` (empty when safe)."""
    return Attack(state).leaks()


def grid_bands(
    scores: np.ndarray, pos: np.ndarray, neg: np.ndarray, grid: Sequence[float]
) -> tuple[tuple[int, int], ...]:
    """(positives, negatives) per band of ``grid`` (ascending) for one score table."""
    band = np.searchsorted(np.asarray(grid, float), np.asarray(scores, float), side="right")
    size = len(grid) + 1
    p = np.bincount(band, weights=pos, minlength=size).astype(np.int64)
    q = np.bincount(band, weights=neg, minlength=size).astype(np.int64)
    return tuple((int(a), int(b)) for a, b in zip(p, q))
