"""The reader's attack on a multiclass audit's published counts, as a linear programme.

Unknowns are the patients of every finest cell (one value of each attribute) per true
class and predicted class: the cells of each finest cell's confusion matrix. Every
count a multiclass report publishes is a sum of them over a group's finest cells and a
set of (true, predicted) pairs: the group's size (all pairs), correct predictions (the
diagonal), under- and over-triage (above and below it), a class's patients (its row),
its true positives (its diagonal cell), its predicted patients (its column), and each
shown confusion-matrix cell. A published rate k / d is the equation
``d_true * k - k_true * d = 0`` (exact in integers, whatever else is hidden); a
published count is an equality; a suppressed group's reason a bound.

A withheld count from 1 to ``m - 1`` (a rate's count or its complement, a confusion
cell, a class's size) is *pinned* when its smallest and largest feasible values admit
one whole number: then subtraction across views (an attribute's groups, intersections,
everyone) recovers it. :func:`protect_multiclass` withholds the cheapest published
figure that unpins it, with the reason :data:`COMPLEMENTARY_FIGURE`, until none is.

Balanced accuracy and macro F1 are not linear in the counts; a group that withholds a
per-class figure withholds them too (they would give it back through the other
classes' figures).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Key = tuple[str, ...]
View = tuple[str, ...]
Pair = tuple[int, int]

COMPLEMENTARY_FIGURE = (
    "withheld so that another group's count cannot be recovered by subtraction "
    "(complementary suppression)"
)
WITH_CLASS_FIGURE = (
    "withheld: with the other classes' figures it would give back a withheld per-class figure"
)
MAX_ROUNDS = 200
EPS = 1e-6


@dataclass(frozen=True)
class CountFigure:
    """One published (or withheld) figure of one group: ``num`` / ``den`` over pair sets."""

    view: View
    key: Key
    figure: str  # a metric id, "n", or "cell:i:j"
    num: frozenset[Pair]
    den: frozenset[Pair] | None  # None: a count published as itself (n, a cell)


def figure_sets(classes: int, ordered: bool) -> dict[str, tuple[frozenset[Pair], frozenset[Pair]]]:
    """Numerator and denominator pairs of every rate metric of the registry."""
    every = frozenset((i, j) for i in range(classes) for j in range(classes))
    out = {"accuracy": (frozenset((i, i) for i in range(classes)), every)}
    if ordered:  # class 0 most acute: predicted less acute (a larger index) is under-triage
        out["under_triage_rate"] = (frozenset(p for p in every if p[1] > p[0]), every)
        out["over_triage_rate"] = (frozenset(p for p in every if p[1] < p[0]), every)
    return out


def _pinned(low: float, high: float) -> bool:
    if math.isinf(low) or math.isinf(high):
        return False
    return math.floor(high + EPS) - math.ceil(low - EPS) < 1


class MulticlassAttack:
    """The programme over every finest cell's confusion matrix (see the module doc)."""

    def __init__(
        self,
        cells: Mapping[Key, np.ndarray],
        attributes: Sequence[str],
        classes: Sequence[str],
    ) -> None:
        self.keys = list(cells)
        self.k = len(classes)
        self.classes = list(classes)
        self.attributes = list(attributes)
        self.counts = {key: np.rint(np.asarray(cm)).astype(np.int64) for key, cm in cells.items()}
        self.n_vars = len(self.keys) * self.k * self.k
        self._members: dict[tuple[View, Key], list[int]] = {}

    def members(self, view: View, key: Key) -> list[int]:
        found = self._members.get((view, key))
        if found is None:
            index = [self.attributes.index(a) for a in view]
            found = [
                c
                for c, fine in enumerate(self.keys)
                if all(fine[i] == v for i, v in zip(index, key))
            ]
            self._members[(view, key)] = found
        return found

    def vector(self, view: View, key: Key, pairs: frozenset[Pair]) -> np.ndarray:
        row = np.zeros(self.n_vars)
        for c in self.members(view, key):
            for i, j in pairs:
                row[(c * self.k + i) * self.k + j] = 1.0
        return row

    def value(self, view: View, key: Key, pairs: frozenset[Pair]) -> int:
        return int(
            sum(self.counts[self.keys[c]][i, j] for c in self.members(view, key) for i, j in pairs)
        )

    def equations(self, published: Sequence[CountFigure]) -> tuple[np.ndarray, np.ndarray]:
        rows, rhs = [], []
        for f in published:
            num = self.vector(f.view, f.key, f.num)
            if f.den is None:
                rows.append(num)
                rhs.append(float(self.value(f.view, f.key, f.num)))
                continue
            d_true = self.value(f.view, f.key, f.den)
            k_true = self.value(f.view, f.key, f.num)
            if d_true == 0:
                continue
            rows.append(d_true * num - k_true * self.vector(f.view, f.key, f.den))
            rhs.append(0.0)
        if not rows:
            return np.zeros((0, self.n_vars)), np.zeros(0)
        return np.array(rows), np.array(rhs)


def group_figures(view: View, key: Key, classes: int, ordered: bool) -> list[CountFigure]:
    """Every count-revealing figure a multiclass group can publish."""
    every = frozenset((i, j) for i in range(classes) for j in range(classes))
    out = [CountFigure(view, key, "n", every, None)]
    for metric, (num, den) in figure_sets(classes, ordered).items():
        out.append(CountFigure(view, key, metric, num, den))
    return out


def protect_multiclass(
    attack: MulticlassAttack,
    groups: Mapping[View, Sequence[Key]],
    *,
    class_ids: Sequence[str],
    ordered: bool,
    suppressed: Mapping[tuple[View, Key], bool],
    withheld: dict[tuple[View, Key], dict[str, str]],
    hidden_cells: dict[tuple[View, Key], set[Pair]],
    m: int,
) -> None:
    """Withhold figures (in ``withheld`` and ``hidden_cells``, changed in place) until no
    count from 1 to m − 1 can be pinned from what is published (module doc)."""
    k = attack.k
    every = frozenset((i, j) for i in range(k) for j in range(k))
    candidates: list[CountFigure] = []
    hidden_groups: list[CountFigure] = []  # a suppressed group's counts: targets only
    for view, keys in groups.items():
        for key in keys:
            figures = candidates
            if suppressed.get((view, key)):
                figures = hidden_groups
            figures.extend(group_figures(view, key, k, ordered)[1:])
            for c, cls in enumerate(class_ids):
                row = frozenset((c, j) for j in range(k))
                col = frozenset((i, c) for i in range(k))
                tp = frozenset({(c, c)})
                figures.append(CountFigure(view, key, f"ovr_sensitivity_{cls}", tp, row))
                figures.append(CountFigure(view, key, f"ovr_ppv_{cls}", tp, col))
            for i in range(k):
                for j in range(k):
                    figures.append(
                        CountFigure(view, key, f"cell:{i}:{j}", frozenset({(i, j)}), None)
                    )

    def published_set() -> set[CountFigure]:
        return {f for f in candidates if is_published(f)}

    def is_published(f: CountFigure) -> bool:
        g = (f.view, f.key)
        if f.figure.startswith("cell:"):
            _, i, j = f.figure.split(":")
            return (int(i), int(j)) not in hidden_cells.get(g, set())
        return f.figure not in withheld.get(g, {})

    def bounds() -> list[tuple[np.ndarray, float, float]]:
        out = []
        for view, keys in groups.items():
            for key in keys:
                row = attack.vector(view, key, every)
                if suppressed.get((view, key)):
                    n = attack.value(view, key, every)
                    out.append((row, 1.0, m - 1.0) if 0 < n < m else (row, float(m), math.inf))
        return out

    def targets() -> list[tuple[tuple[View, Key], frozenset[Pair]]]:
        out = []
        shown = published_set()
        for f in [*candidates, *hidden_groups]:
            if f in shown:
                continue
            sets = [f.num] if f.den is None else [f.num, f.den - f.num, f.den]
            for s in sets:
                v = attack.value(f.view, f.key, s)
                if 0 < v < m:
                    out.append(((f.view, f.key), s))
        return out

    # One programme, solved warm: a row per candidate figure (switched off while it is
    # withheld), a row per shown group's size, a row per suppressed group's bound.
    from scipy import sparse

    from auditor.privacy.disclosure import _Solver

    eq_rows: list[np.ndarray] = []
    eq_rhs: list[float] = []
    for f in candidates:
        a, b = attack.equations([f])
        eq_rows.append(a[0] if len(a) else np.zeros(attack.n_vars))
        eq_rhs.append(float(b[0]) if len(b) else 0.0)
    size_a, size_b = attack.equations(
        [
            CountFigure(view, key, "n", every, None)
            for view, keys in groups.items()
            for key in keys
            if not suppressed.get((view, key))
        ]
    )
    fixed = bounds()
    matrix = np.vstack(
        [
            np.array(eq_rows).reshape(-1, attack.n_vars),
            size_a.reshape(-1, attack.n_vars),
            np.array([r for r, _, _ in fixed]).reshape(-1, attack.n_vars),
        ]
    )
    solver = _Solver(sparse.csc_matrix(matrix))
    fixed_lower = np.concatenate([size_b, [lo for _, lo, _ in fixed]])
    fixed_upper = np.concatenate([size_b, [hi for _, _, hi in fixed]])
    rhs = np.array(eq_rhs)

    def pinned(target: tuple[tuple[View, Key], frozenset[Pair]]) -> bool:
        (view, key), pairs = target
        on = np.array([is_published(f) for f in candidates], dtype=bool)
        solver.set_rows(
            np.concatenate([np.where(on, rhs, -np.inf), fixed_lower]),
            np.concatenate([np.where(on, rhs, np.inf), fixed_upper]),
        )
        low, high = solver.range(np.flatnonzero(attack.vector(view, key, pairs)))
        return _pinned(low, high)

    def withhold(f: CountFigure) -> None:
        g = (f.view, f.key)
        if f.figure.startswith("cell:"):
            _, i, j = f.figure.split(":")
            hidden_cells.setdefault(g, set()).add((int(i), int(j)))
        else:
            withheld.setdefault(g, {})[f.figure] = COMPLEMENTARY_FIGURE

    def publish_again(f: CountFigure) -> None:
        g = (f.view, f.key)
        if f.figure.startswith("cell:"):
            _, i, j = f.figure.split(":")
            hidden_cells[g].discard((int(i), int(j)))
        else:
            del withheld[g][f.figure]

    def overlap(f: CountFigure, pairs: frozenset[Pair]) -> bool:
        return bool((f.num | (f.den or frozenset())) & pairs)

    def _unpin(target: tuple[tuple[View, Key], frozenset[Pair]]) -> None:
        """Withhold the cheapest published figure that unpins ``target`` alone, or, when
        none does, the cheapest (the caller checks again)."""
        (view, _key), pairs = target
        options = sorted(
            (f for f in candidates if is_published(f)),
            key=lambda f: (
                not overlap(f, pairs),
                f.view != view,
                f.figure.startswith("cell:"),
                attack.value(f.view, f.key, every),
            ),
        )
        if not options:  # pragma: no cover - sizes alone never pin a count 1..m-1 here
            raise RuntimeError("multiclass complementary suppression found nothing to withhold")
        for f in options:
            withhold(f)
            if not pinned(target):
                return
            publish_again(f)
        withhold(options[0])

    # Withholding only removes equations, so a count found safe stays safe: each target
    # is checked once, and the figures withheld on the way become targets in turn.
    checked: set[tuple[tuple[View, Key], frozenset[Pair]]] = set()
    for _ in range(MAX_ROUNDS):
        fresh = [t for t in targets() if t not in checked]
        if not fresh:
            break
        for target in fresh:
            checked.add(target)
            for _attempt in range(len(candidates) + 1):
                if not pinned(target):
                    break
                _unpin(target)
            else:  # pragma: no cover
                raise RuntimeError("multiclass complementary suppression did not converge")
    else:  # pragma: no cover
        raise RuntimeError("multiclass complementary suppression did not converge")
    for names in withheld.values():
        # balanced accuracy is the mean of the classes' sensitivities, macro F1 the mean
        # of their F1 (sensitivity and PPV): with the others shown, either gives a
        # withheld one back
        if any(name.startswith("ovr_sensitivity_") for name in names):
            names.setdefault("balanced_accuracy", WITH_CLASS_FIGURE)
        if any(name.startswith("ovr_") for name in names):
            names.setdefault("macro_f1", WITH_CLASS_FIGURE)
