"""Small-cell rules for discovered cohorts: no count from 1 to ``m - 1`` derivable.

A cohort shows its size and, where the task has one, its count "with the outcome"
on the confirmation half; its metric can make more counts derivable (false negatives
as FNR × events, the under-triaged as the under-triage rate × patients, the flagged
events as sensitivity × events). Each such count must be 0 or at least ``m``
(``min_cell_size``); a cohort failing that has its counts withheld (its figures
rounded to ``privacy.rounding`` decimals).

Cohorts overlap and nest, so a reader can combine the shown counts of several: with
three overlapping cohorts, inclusion–exclusion can pin the count of one region of
their Venn diagram. The check is the reader's attack as a linear programme
(:mod:`auditor.privacy.disclosure`, HiGHS): the unknowns are the patients of every
atom of the shown cohorts' Venn diagram on the confirmation half, per combination
of the count kinds in play; every shown count is an equation, and so is the half's
total of each kind (the half's size is published, its events follow from the
stratified split, and a kind a shown cohort reveals follows for the whole half from
the rest's exact rate). A union of atoms whose true count of a kind is from 1 to
``m - 1`` must not be pinned (its smallest and largest feasible values admitting
one whole number). While one is, the cheapest figure that unpins it is withheld:
the counts of the smallest shown cohort that alone unpins it, else of the smallest
one touching it, and the check runs again.

Cohort counts are over the confirmation half, a seeded random half whose membership
the report does not publish, so they share no equation with the named groups'
counts (which are over every row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from auditor.privacy.disclosure import _Solver, pinned
from reports.model import CohortsFound, DiscoveredCohort

if TYPE_CHECKING:
    from auditor.discover.task_tests import TaskRows

COUNTS_WITHHELD_OWN = "withheld: a count derived from it would be between 1 and {top}"
COUNTS_WITHHELD_NESTED = (
    "withheld: subtracting it from cohort {other} would give a count between 1 and {top}"
)
COUNTS_WITHHELD_OVERLAP = (
    "withheld: with the counts of cohort(s) {others} it would pin a count between 1 and "
    "{top} of the patients they share or do not share (overlapping cohorts)"
)
COUNTS_WITHHELD_HALF = (
    "withheld: with the confirmation half's totals it would pin a count between 1 and "
    "{top} (the patients outside the cohort)"
)
COUNTS_WITHHELD_TOO_MANY = (
    "withheld: the shown cohorts overlap in too many small regions to check every count "
    "derivable from them; the smallest cohorts' counts are withheld until they can be"
)
MAX_FORMS = 1024
"""Most unions of atoms checked per count kind; beyond it the smallest shown cohort's
counts are withheld until the check fits."""


def count_kinds(
    c: DiscoveredCohort,
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    task: TaskRows | None = None,
) -> dict[str, np.ndarray]:
    """Per count a cohort shows or makes derivable, the rows it counts (bool, all rows)."""
    n = labels.size
    kinds = {"patients": np.ones(n, dtype=bool)}
    events = _events(labels, task)
    if events is not None:
        kinds["events"] = events
        kinds["non-events"] = ~events
    if task is None:
        if c.metric == "fnr":
            kinds["false negatives"] = events & (scores < threshold)  # type: ignore[operator]
            kinds["true positives"] = events & (scores >= threshold)  # type: ignore[operator]
        return kinds
    cols = task.columns
    if c.metric == "sensitivity_t":
        assert events is not None
        flagged = np.asarray(cols["risk"]) >= threshold
        kinds["events flagged"] = events & flagged
        kinds["events not flagged"] = events & ~flagged
    elif c.metric in ("under_triage_rate", "over_triage_rate", "accuracy"):
        label = np.asarray(cols["label"]).astype(np.int64)
        probs = np.column_stack([np.asarray(cols[k]) for k in cols if k.startswith("p_")])
        predicted = np.argmax(probs, axis=1)
        wrong = {
            "under_triage_rate": ("under-triaged", predicted > label),
            "over_triage_rate": ("over-triaged", predicted < label),
            "accuracy": ("misclassified", predicted != label),
        }[c.metric]
        kinds[wrong[0]] = wrong[1]
        kinds["not " + wrong[0]] = ~wrong[1]
    return kinds


def _events(labels: np.ndarray, task: TaskRows | None) -> np.ndarray | None:
    if task is None:
        return np.asarray(labels) == 1
    if task.events is None:
        return None
    return np.asarray(task.events) == 1


def _small(value: int, m: int) -> bool:
    return 0 < value < m


@dataclass(frozen=True)
class _Form:
    """A count a reader may derive: patients of ``kind`` in the rows of some atoms."""

    kind: str
    rows: np.ndarray  # bool over every audited row (a union of atoms of the half)
    value: int


class _Venn:
    """The reader's unknowns: patients per atom of the shown cohorts' Venn diagram (on
    the half), per combination of the count kinds in play.

    The programme lives in the thread's one HiGHS instance: a diagram is used up
    before the next one is built.
    """

    def __init__(
        self,
        shown: list[str],
        masks: Mapping[str, np.ndarray],
        kinds: Mapping[str, Mapping[str, np.ndarray]],
        half: np.ndarray,
    ) -> None:
        self.shown = shown
        self.half = half
        rows = np.flatnonzero(half)
        self.rows = rows
        member = (
            np.stack([masks[c][rows] for c in shown], axis=1)
            if shown
            else np.zeros((rows.size, 1), dtype=bool)
        )
        self.atom_member, atom = np.unique(member, axis=0, return_inverse=True)
        self.atom = np.asarray(atom).ravel()
        self.n_atoms = self.atom_member.shape[0]
        names: list[str] = []
        for c in shown:
            names += [k for k in kinds[c] if k not in names]
        self.kind_rows = {k: next(kinds[c][k] for c in shown if k in kinds[c])[rows] for k in names}
        if not names:
            self.kind_rows = {"patients": np.ones(rows.size, dtype=bool)}
        flags = np.stack(list(self.kind_rows.values()), axis=1)
        self.class_flags, cls = np.unique(flags, axis=0, return_inverse=True)
        self.cls = np.asarray(cls).ravel()
        self.n_classes = self.class_flags.shape[0]
        self.kind_index = {k: i for i, k in enumerate(self.kind_rows)}
        equations: list[np.ndarray] = []
        values: list[int] = []
        for k, i in self.kind_index.items():  # the half's totals
            equations.append(self._vars(np.ones(self.n_atoms, dtype=bool), i))
            values.append(int(self.kind_rows[k].sum()))
        for j, c in enumerate(shown):
            inside = self.atom_member[:, j]
            for k in kinds[c]:
                i = self.kind_index[k]
                equations.append(self._vars(inside, i))
                values.append(int(self.kind_rows[k][masks[c][rows]].sum()))
        lengths = [e.size for e in equations]
        matrix = sparse.csc_matrix(
            (
                np.ones(sum(lengths)),
                (np.repeat(np.arange(len(equations)), lengths), np.concatenate(equations)),
            ),
            shape=(len(equations), self.n_atoms * self.n_classes),
        )
        self.solver = _Solver(matrix)
        fixed = np.asarray(values, dtype=np.float64)
        self.solver.set_rows(fixed, fixed)

    def _vars(self, atoms: np.ndarray, kind: int) -> np.ndarray:
        classes = np.flatnonzero(self.class_flags[:, kind])
        idx = np.flatnonzero(atoms)[:, None] * self.n_classes + classes[None, :]
        return idx.ravel()

    def forms(self, m: int) -> list[_Form] | None:
        """Every union of atoms whose true count of a kind is from 1 to m - 1 (None when
        there are more than :data:`MAX_FORMS` of a kind)."""
        out: list[_Form] = []
        for k, flags in self.kind_rows.items():
            per_atom = np.bincount(self.atom[flags], minlength=self.n_atoms)
            found = small_unions(per_atom, m)
            if found is None:
                return None
            for atoms in found:
                chosen = np.zeros(self.n_atoms, dtype=bool)
                chosen[list(atoms)] = True
                full = np.zeros(self.half.size, dtype=bool)
                full[self.rows] = chosen[self.atom]
                out.append(_Form(k, full, int(per_atom[list(atoms)].sum())))
        return out

    def expresses(self, form: _Form) -> bool:
        """Whether the form's rows are a union of this diagram's atoms (else a reader of
        these cohorts cannot even write it down)."""
        if form.kind not in self.kind_index:
            return False
        inside = np.bincount(self.atom, weights=form.rows[self.rows], minlength=self.n_atoms)
        size = np.bincount(self.atom, minlength=self.n_atoms)
        return bool(np.all((inside == 0) | (inside == size)))

    def is_pinned(self, form: _Form) -> bool:
        if not self.expresses(form):
            return False
        atoms = np.zeros(self.n_atoms, dtype=bool)
        atoms[np.unique(self.atom[form.rows[self.rows]])] = True
        idx = self._vars(atoms, self.kind_index[form.kind])
        return pinned(*self.solver.range(idx))


def small_unions(per_atom: np.ndarray, m: int) -> list[tuple[int, ...]] | None:
    """Every set of atoms whose counts sum to 1..m-1 (None past :data:`MAX_FORMS` sets
    visited). Atoms of m or more never take part; atoms of 0 do (the union of a small
    region and an empty one is another region a reader may pin)."""
    order = [a for a in range(per_atom.size) if per_atom[a] < m]
    found: list[tuple[int, ...]] = []
    stack: list[tuple[int, tuple[int, ...], int]] = [(0, (), 0)]
    visited = 0
    while stack:
        start, chosen, total = stack.pop()
        for pos in range(start, len(order)):
            a = order[pos]
            value = total + int(per_atom[a])
            if value >= m:
                continue
            visited += 1
            if visited > MAX_FORMS:
                return None
            picked = (*chosen, a)
            if value >= 1:
                found.append(picked)
            stack.append((pos + 1, picked, value))
    return found


def overlap_leaks(
    shown: list[str],
    masks: Mapping[str, np.ndarray],
    kinds: Mapping[str, Mapping[str, np.ndarray]],
    half: np.ndarray,
    m: int,
) -> list[_Form] | None:
    """The small counts a reader could pin from these cohorts' counts (None: too many
    forms to check)."""
    venn = _Venn(shown, masks, kinds, half)
    forms = venn.forms(m)
    if forms is None:
        return None
    return [f for f in forms if venn.is_pinned(f)]


def protect_cohorts(
    section: CohortsFound,
    masks: Mapping[str, np.ndarray],
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    min_cell_size: int,
    rounding: int,
    task: TaskRows | None = None,
    confirm: np.ndarray | None = None,
) -> CohortsFound:
    """The section with counts withheld wherever a small count would be derivable.

    ``masks`` are over every audited row (each cohort's rows in the confirmation half);
    ``confirm`` marks the confirmation half (default: every row).
    """
    m = min_cell_size
    top = m - 1
    half = np.ones(labels.size, dtype=bool) if confirm is None else np.asarray(confirm, bool)
    cohorts = {c.id: c for c in section.cohorts}
    kinds = {cid: count_kinds(c, labels, scores, threshold, task) for cid, c in cohorts.items()}
    counts = {
        cid: {k: int(rows[masks[cid]].sum()) for k, rows in kinds[cid].items()} for cid in cohorts
    }
    withheld: dict[str, str] = {}
    for cid, values in counts.items():
        if any(_small(v, m) for v in values.values()):
            withheld[cid] = COUNTS_WITHHELD_OWN.format(top=top)
    _repair_overlaps(cohorts, masks, kinds, half, m, withheld)
    out = []
    for cid, c in cohorts.items():
        if cid in withheld:
            r = rounding
            c = c.model_copy(
                update={
                    "n": None,
                    "n_events": None,
                    "counts_withheld": withheld[cid],
                    "estimate": round(c.estimate, r),
                    "ci_low": round(c.ci_low, r),
                    "ci_high": round(c.ci_high, r),
                    "rest": round(c.rest, r),
                    "difference": round(c.difference, r),
                }
            )
        else:
            c = c.model_copy(
                update={
                    "n": counts[cid]["patients"],
                    "n_events": counts[cid].get("events"),
                }
            )
        out.append(c)
    return section.model_copy(update={"cohorts": out})


def _repair_overlaps(
    cohorts: Mapping[str, DiscoveredCohort],
    masks: Mapping[str, np.ndarray],
    kinds: Mapping[str, Mapping[str, np.ndarray]],
    half: np.ndarray,
    m: int,
    withheld: dict[str, str],
) -> None:
    """Withhold the cheapest cohort counts until no small count is pinned (see the doc)."""
    top = m - 1

    def shown() -> list[str]:
        return [c for c in cohorts if c not in withheld]

    def cost(cid: str) -> tuple[int, str]:
        return int(masks[cid].sum()), cid

    while True:
        current = shown()
        leaks = overlap_leaks(current, masks, kinds, half, m)
        if leaks is None:  # too many small regions to check: the smallest cohort goes
            withheld[min(current, key=cost)] = COUNTS_WITHHELD_TOO_MANY
            continue
        if not leaks:
            return
        q = leaks[0]
        touching = [c for c in current if np.any(masks[c] & q.rows)]
        choice = None
        for cid in sorted(current, key=cost):
            rest = [c for c in current if c != cid]
            if not _Venn(rest, masks, kinds, half).is_pinned(q):
                choice = cid
                break
        if choice is None:
            choice = min(touching or current, key=cost)
        withheld[choice] = _reason(choice, [c for c in current if c != choice], masks, q, top)


def _reason(
    cid: str, others: list[str], masks: Mapping[str, np.ndarray], q: _Form, top: int
) -> str:
    """Why ``cid``'s counts are withheld: the nested pair when the pinned rows are
    exactly another cohort's rows outside it, else the overlapping cohorts involved."""
    mine = masks[cid]
    for o in others:
        if np.array_equal(mine & masks[o], mine) and np.array_equal(q.rows, masks[o] & ~mine):
            return COUNTS_WITHHELD_NESTED.format(other=o, top=top)
    involved = [o for o in others if np.any(masks[o] & q.rows)] or others
    if not involved:  # no other cohort is shown: the half's totals did it
        return COUNTS_WITHHELD_HALF.format(top=top)
    return COUNTS_WITHHELD_OVERLAP.format(others=", ".join(involved), top=top)
