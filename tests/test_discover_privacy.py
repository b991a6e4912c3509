"""Privacy of discovered cohorts as an attacker: overlapping cohorts, rate × n, every task.

The attacker here is written independently of :mod:`auditor.privacy.cohorts`: a
linear programme (scipy's ``linprog``) over the atoms of the published cohorts' Venn
diagram, with every published count as an equation and the half's totals known; a
union of atoms whose true count is from 1 to 10 must never be pinned.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog

from auditor.discover.task_tests import TaskRows
from auditor.privacy.cohorts import COUNTS_WITHHELD_OVERLAP, protect_cohorts
from reports.model import CohortsFound, DiscoveredCohort, DiscoverySearch

M = 11


def _cohort(cid: str, metric: str = "auroc") -> DiscoveredCohort:
    return DiscoveredCohort(
        id=cid,
        description=cid,
        conditions=[],
        depth=1,
        metric=metric,
        estimate=0.6,
        ci_low=0.5,
        ci_high=0.7,
        rest=0.8,
        difference=-0.2,
        p_value=0.001,
        q_value=0.01,
        found_by="test",
    )


def _section(*cohorts: DiscoveredCohort) -> CohortsFound:
    searched = DiscoverySearch(
        features=[],
        metrics=["auroc"],
        max_depth=1,
        min_size=100,
        min_events=20,
        fdr=0.05,
        correction="by",
        seed=0,
        rows_search=0,
        rows_confirm=0,
        cohorts_evaluated=0,
        hypotheses_tested=0,
        max_candidates=50,
        cap_reached=False,
        confirmed_before_pruning=0,
        pruned=0,
    )
    return CohortsFound(status="found", summary="", searched=searched, cohorts=list(cohorts))


def attack(
    masks: list[np.ndarray], published: list[dict[str, int]], kinds: dict[str, np.ndarray]
) -> list[tuple[str, tuple[int, ...], int]]:
    """Every (kind, atoms, true count) with a count 1..10 the published counts pin."""
    n = kinds["patients"].size
    member = np.stack(masks, axis=1) if masks else np.zeros((n, 1), bool)
    _, atom = np.unique(member, axis=0, return_inverse=True)
    atom = np.asarray(atom).ravel()
    n_atoms = int(atom.max()) + 1
    names = list(kinds)
    flags = np.stack([kinds[k] for k in names], axis=1)
    classes, cls = np.unique(flags, axis=0, return_inverse=True)
    cls = np.asarray(cls).ravel()
    n_vars = n_atoms * len(classes)

    def row(atoms: np.ndarray, kind: str) -> np.ndarray:
        r = np.zeros(n_vars)
        k = names.index(kind)
        for a in np.flatnonzero(atoms):
            for c in np.flatnonzero(classes[:, k]):
                r[a * len(classes) + c] = 1
        return r

    a_eq, b_eq = [], []
    every = np.ones(n_atoms, bool)
    for kind in names:
        a_eq.append(row(every, kind))
        b_eq.append(int(kinds[kind].sum()))
    for mask, counts in zip(masks, published, strict=True):
        inside = np.zeros(n_atoms, bool)
        inside[np.unique(atom[mask])] = True
        for kind, value in counts.items():
            a_eq.append(row(inside, kind))
            b_eq.append(value)
    leaks = []
    for kind in names:
        per_atom = np.bincount(atom[kinds[kind]], minlength=n_atoms)
        small = [a for a in range(n_atoms) if per_atom[a] < M]
        for size in range(1, min(len(small), 4) + 1):
            for atoms in itertools.combinations(small, size):
                true = int(per_atom[list(atoms)].sum())
                if not 1 <= true < M:
                    continue
                chosen = np.zeros(n_atoms, bool)
                chosen[list(atoms)] = True
                objective = row(chosen, kind)
                low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
                high = -linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
                if math.floor(high + 1e-6) - math.ceil(low - 1e-6) < 1:
                    leaks.append((kind, atoms, true))
    return leaks


def _published(out: CohortsFound, masks: dict[str, np.ndarray], labels: np.ndarray):
    shown = [c for c in out.cohorts if c.n is not None]
    return (
        [masks[c.id] for c in shown],
        [{"patients": c.n, "events": c.n_events} for c in shown],
        {"patients": np.ones(labels.size, bool), "events": labels == 1, "non-events": labels == 0},
    )


def test_three_overlapping_cohorts_cannot_pin_their_shared_remainder():
    """C1 ∪ C2 is everyone, C3 ⊂ C1 ∩ C2: |C1| + |C2| − total − |C3| pins 5 patients,
    though every nested pair differs by hundreds (the old pairwise check passed it)."""
    n = 1000
    rng = np.random.default_rng(1)
    labels = (rng.random(n) < 0.3).astype(np.int64)
    scores = rng.random(n)
    idx = np.arange(n)
    masks = {"C1": idx < 600, "C2": idx >= 400, "C3": (idx >= 400) & (idx < 595)}
    section = _section(_cohort("C1"), _cohort("C2"), _cohort("C3"))
    naive = attack(
        *(
            [masks[c] for c in masks],
            [{"patients": int(masks[c].sum())} for c in masks],
            {"patients": np.ones(n, bool)},
        )
    )
    assert ("patients", naive[0][1], 5) in naive  # the attack works on the raw counts
    out = protect_cohorts(
        section, masks, labels, scores, threshold=0.5, min_cell_size=M, rounding=3
    )
    by_id = {c.id: c for c in out.cohorts}
    assert by_id["C3"].n is None  # the smallest figure goes
    assert by_id["C3"].counts_withheld == COUNTS_WITHHELD_OVERLAP.format(others="C1, C2", top=M - 1)
    assert by_id["C1"].n == 600 and by_id["C2"].n == 600
    assert attack(*_published(out, masks, labels)) == []


def test_three_cohorts_pinning_events_only_withhold_counts():
    """Sizes are safe but the events of a 40-patient region are 3 and derivable."""
    n = 1000
    idx = np.arange(n)
    labels = np.zeros(n, np.int64)
    labels[::3] = 1
    region = (idx >= 560) & (idx < 600)  # C1 ∩ C2 outside C3: 40 patients
    labels[region] = 0
    labels[[560, 570, 580]] = 1  # 3 events there
    masks = {"C1": idx < 600, "C2": idx >= 400, "C3": (idx >= 400) & (idx < 560)}
    out = protect_cohorts(
        _section(_cohort("C1"), _cohort("C2"), _cohort("C3")),
        masks,
        labels,
        np.full(n, 0.5),
        threshold=0.5,
        min_cell_size=M,
        rounding=3,
    )
    assert any(c.n is None for c in out.cohorts)
    assert attack(*_published(out, masks, labels)) == []


def test_random_overlapping_cohorts_leave_nothing_pinned():
    rng = np.random.default_rng(7)
    n = 600
    labels = (rng.random(n) < 0.25).astype(np.int64)
    age = rng.integers(60, 100, n)
    site = rng.integers(0, 3, n)
    masks = {
        "C1": age >= 70,
        "C2": age < 85,
        "C3": (site == 1) & (age >= 66),
        "C4": (site != 2) & (age < 97),
    }
    out = protect_cohorts(
        _section(*(_cohort(c) for c in masks)),
        masks,
        labels,
        rng.random(n),
        threshold=0.5,
        min_cell_size=M,
        rounding=3,
    )
    assert attack(*_published(out, masks, labels)) == []


@pytest.mark.parametrize(
    ("metric", "kind"),
    [("under_triage_rate", "under-triaged"), ("accuracy", "misclassified")],
)
def test_triage_rate_times_size_is_never_a_small_count(metric, kind):
    """A multiclass cohort's rate × n gives its under-triaged (or misclassified) count."""
    n = 300
    label = np.zeros(n)  # everyone most acute
    p = np.tile([0.9, 0.05, 0.05], (n, 1))
    p[:4] = [0.1, 0.8, 0.1]  # 4 predicted less acute: under-triaged and misclassified
    task = TaskRows(
        task="multiclass",
        columns={"label": label, "p_0": p[:, 0], "p_1": p[:, 1], "p_2": p[:, 2]},
        events=np.ones(n, np.int64),
        strata=np.zeros(n, np.int64),
        context=None,
    )
    mask = np.ones(n, bool)
    mask[250:] = False
    out = protect_cohorts(
        _section(_cohort("C1", metric)),
        {"C1": mask},
        np.ones(n, np.int64),
        np.zeros(n),
        threshold=0.5,
        min_cell_size=M,
        rounding=3,
        task=task,
    )
    assert out.cohorts[0].n is None, kind


def test_regression_cohorts_show_patients_only():
    n = 400
    task = TaskRows(
        task="regression",
        columns={"label": np.zeros(n), "prediction": np.zeros(n)},
        events=None,
        strata=np.zeros(n, np.int64),
        context=None,
    )
    mask = np.arange(n) < 150
    out = protect_cohorts(
        _section(_cohort("C1", "mae")),
        {"C1": mask},
        np.zeros(n, np.int64),
        np.zeros(n),
        threshold=0.5,
        min_cell_size=M,
        rounding=3,
        task=task,
    )
    assert out.cohorts[0].n == 150 and out.cohorts[0].n_events is None


def test_a_reason_without_another_cohort_names_the_half_totals():
    """A cohort withheld because of the half's totals alone says so (it once read
    'with the counts of cohort(s) none')."""
    from types import SimpleNamespace

    from auditor.privacy.cohorts import COUNTS_WITHHELD_HALF, _reason

    masks = {"C1": np.array([True, True, False, False])}
    q = SimpleNamespace(rows=np.array([False, False, True, True]))
    assert _reason("C1", [], masks, q, 10) == COUNTS_WITHHELD_HALF.format(top=10)  # type: ignore[arg-type]
    assert "none" not in COUNTS_WITHHELD_HALF
