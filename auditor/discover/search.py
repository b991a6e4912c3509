"""Honest search for underperforming cohorts: search on one half, confirm on the other.

1. **Split.** The audited rows are split at random (seeded, stratified by outcome)
   into a search half and a confirmation half.
2. **Search** (search half only). Every condition of every searched column is a
   depth-1 cohort; the ``beam`` most underperforming cohorts of each depth are
   extended by one condition on another column, up to ``max_depth``. Cohorts smaller
   than ``min_size`` patients or ``min_events`` events (or leaving a rest that small)
   are never scored; cohorts with the same rows as a simpler one are the same cohort.
   Each (cohort, metric) whose one-sided z on the search half exceeds
   :data:`SCREEN_Z` is a candidate; the ``max_candidates`` strongest go on.
3. **Confirm** (confirmation half only). Each candidate is tested one-sided against
   the rest of the confirmation half. The search never saw these rows, so the
   p-values are valid for the hypotheses the search chose. The false discovery rate
   is controlled across every hypothesis tested (Benjamini-Yekutieli by default).
4. **Prune.** A confirmed cohort whose estimate lies inside the interval of a
   confirmed simpler cohort (a subset of its conditions) on the same metric is
   explained by that parent and not listed.

Estimates and intervals are from the confirmation half only, so the search's
winner's curse does not inflate them. The core does no I/O.

The binary task's halves hold score tables (:class:`_Half`, tests in
:mod:`auditor.discover.cohort_tests`); the survival, multiclass and regression
tasks' halves hold the task's rows (:class:`~auditor.discover.task_tests.TaskHalf`,
tests in :mod:`auditor.discover.task_tests`). Both answer the same three questions:
a cohort's statistics and its rest's, its count "with the outcome" (None when the
task has none), and the one-sided test of one metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditor.discover.cohort_tests import CohortTest, adjusted_p, compare_with_rest, fdr_reject
from auditor.discover.conditions import Condition, Item, cohort_text, column_items
from auditor.discover.task_tests import TWO_SIDED, TaskHalf, TaskRows
from auditor.load.spec import DiscoverSpec
from auditor.reduce.stats import ScoreTable, reduce_frame
from reports.model import CohortsFound, DiscoveredCohort, DiscoverySearch

SCREEN_Z = 1.645
"""A (cohort, metric) is a candidate when its one-sided z on the search half exceeds
this (one-sided 5%); the confirmation test is what controls false discoveries."""
SKIPPED_CATEGORIES = "{name} (more than {most} distinct values, or only one)"
METRIC_WORDS = {
    "auroc": "AUROC",
    "fnr": "false negative rate",
    "oe_ratio": "calibration O/E",
    "c_index": "Harrell's C-index",
    "oe_ratio_t": "O/E at the horizon",
    "sensitivity_t": "sensitivity at the horizon",
    "under_triage_rate": "under-triage rate",
    "over_triage_rate": "over-triage rate",
    "accuracy": "accuracy",
    "mae": "mean absolute error",
    "mean_error": "mean error (bias)",
}
DIRECTION_WORDS = {
    "oe_ratio": ("under-predicted", "over-predicted"),
    "oe_ratio_t": ("under-predicted", "over-predicted"),
    "mean_error": ("over-estimated", "under-estimated"),
}
"""The words of a two-sided metric's direction (+1, -1) against the rest."""
OUTCOME_WORDS = {
    "binary": " and {min_events} with the outcome",
    "survival": " and {min_events} with the event by the horizon",
    "multiclass": " and {min_events} not of the least acute class",
    "regression": "",
}
THRESHOLD_METRICS = ("fnr", "sensitivity_t")
"""Searched metrics whose value depends on the decision threshold (the dashboard
searches again only when one of these is searched and the threshold moves)."""
CORRECTION_WORDS = {"by": "Benjamini-Yekutieli", "bh": "Benjamini-Hochberg"}
FOUND_BY = (
    "depth-{depth} conjunction found by beam search on the search half ({search:,} rows, "
    "seed {seed}); confirmed by a one-sided test against the rest on the held-out half "
    "({confirm:,} rows), {correction} FDR {fdr:g} across {tested} hypotheses"
)
SUMMARY_FOUND = (
    "Searched {features} column(s) ({metrics}) for cohorts of up to {depth} conditions "
    "with at least {min_size} patients{outcome}; "
    "{evaluated:,} cohorts scored on the search half, {tested} hypotheses tested on the "
    "held-out half with the false discovery rate controlled at {fdr:g} "
    "({correction}). {found} cohort(s) confirmed{pruned}."
)
SUMMARY_NONE = (
    "Searched {features} column(s) ({metrics}) for cohorts of up to {depth} conditions "
    "with at least {min_size} patients{outcome}; "
    "{evaluated:,} cohorts scored on the search half, {tested} hypotheses tested on the "
    "held-out half with the false discovery rate controlled at {fdr:g} "
    "({correction}). No cohort was confirmed."
)
CAP_NOTE = " The cap of {cap} candidates was reached: weaker candidates were not tested."


@dataclass(frozen=True)
class Cohort:
    """A conjunction of conditions (sorted) and its rows among every audited row."""

    conditions: tuple[Condition, ...]
    mask: np.ndarray

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(sorted({c.feature for c in self.conditions}))


@dataclass
class Discovery:
    """The section for the report, and the confirmation-half rows behind each cohort
    (held in memory for the privacy check, never serialized)."""

    section: CohortsFound
    confirm_rows: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)


def split_halves(labels: np.ndarray, seed: int) -> np.ndarray:
    """True for the search half: a seeded split stratified by outcome (for the binary
    task 0/1; for the other tasks the strata :class:`TaskRows` gives)."""
    rng = np.random.default_rng(seed)
    search = np.zeros(labels.size, dtype=bool)
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        chosen = rng.permutation(idx)[: (idx.size + 1) // 2]
        search[chosen] = True
    return search


class _Half:
    """One half's scores on a grid of distinct scores, so a cohort's table is two
    bincounts (the same :class:`ScoreTable` the audit reduces to)."""

    def __init__(
        self, rows: np.ndarray, labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
    ) -> None:
        self.rows = rows
        self.threshold = threshold
        self.y = labels[rows].astype(np.int64)
        self.grid, self.codes = np.unique(scores[rows], return_inverse=True)
        g = self.grid.size
        self.pos_all = np.bincount(self.codes, weights=self.y, minlength=g).astype(np.int64)
        self.neg_all = np.bincount(self.codes, weights=1 - self.y, minlength=g).astype(np.int64)

    def tables(self, mask: np.ndarray) -> tuple[ScoreTable, ScoreTable]:
        """(cohort, rest) tables of a mask over this half's rows."""
        g = self.grid.size
        c = self.codes[mask]
        y = self.y[mask]
        pos = np.bincount(c, weights=y, minlength=g).astype(np.int64)
        neg = np.bincount(c, weights=1 - y, minlength=g).astype(np.int64)
        return _table(self.grid, pos, neg), _table(
            self.grid, self.pos_all - pos, self.neg_all - neg
        )

    def events(self, mask: np.ndarray) -> int | None:
        return int(self.y[mask].sum())

    def compare(self, metric: str, inside: Any, rest: Any, direction: int) -> CohortTest | None:
        return compare_with_rest(
            metric, inside, rest, threshold=self.threshold, direction=direction
        )


_AnyHalf = _Half | TaskHalf


def _table(grid: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> ScoreTable:
    keep = (pos + neg) > 0
    return ScoreTable(grid[keep], pos[keep], neg[keep])


def _big_enough(
    n: int, events: int | None, n_all: int, events_all: int | None, spec: DiscoverSpec
) -> bool:
    if n < spec.min_size or n_all - n < spec.min_size:
        return False
    if events is None or events_all is None:
        return True  # the task has no count "with the outcome" (regression)
    return events >= spec.min_events and events_all - events >= spec.min_events


@dataclass
class _Scored:
    cohort: Cohort
    tests: dict[str, tuple[CohortTest, int]]

    def best(self) -> float:
        return max((t.z for t, _ in self.tests.values()), default=-math.inf)


def _score(cohort: Cohort, half: _AnyHalf, spec: DiscoverSpec) -> _Scored | None:
    mask = cohort.mask[half.rows]
    n = int(mask.sum())
    everyone = np.ones(mask.size, dtype=bool)
    if not _big_enough(n, half.events(mask), half.rows.size, half.events(everyone), spec):
        return None
    inside, rest = half.tables(mask)
    tests: dict[str, tuple[CohortTest, int]] = {}
    for metric in spec.metrics:
        direction = 1
        if metric in TWO_SIDED:
            probe = half.compare(metric, inside, rest, 1)
            direction = 1 if probe is None or probe.z >= 0 else -1
        result = half.compare(metric, inside, rest, direction)
        if result is not None and math.isfinite(result.z):
            tests[metric] = (result, direction)
    return _Scored(cohort, tests)


def searched_features(
    frame: pd.DataFrame, features: Sequence[str], search: np.ndarray, bins: int
) -> tuple[list[Item], list[str], list[str]]:
    """Every searchable condition, the columns searched, and the columns skipped (why)."""
    from auditor.discover.conditions import MAX_CATEGORIES

    items: list[Item] = []
    used: list[str] = []
    skipped: list[str] = []
    for name in features:
        found = column_items(name, frame[name], search, bins=bins)
        if found:
            items.extend(found)
            used.append(name)
        else:
            skipped.append(SKIPPED_CATEGORIES.format(name=name, most=MAX_CATEGORIES))
    return items, used, skipped


def discover(
    frame: pd.DataFrame,
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    features: Sequence[str],
    spec: DiscoverSpec,
    threshold: float,
    seed: int,
    task: TaskRows | None = None,
) -> Discovery:
    """Search one half, confirm on the other, control the FDR, prune; see the module doc.

    ``task`` (survival, multiclass, regression) replaces ``labels`` and ``scores`` by
    the task's rows; its metrics are tested by :mod:`auditor.discover.task_tests`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    search = split_halves(labels if task is None else np.asarray(task.strata), seed)
    items, used, skipped = searched_features(frame, features, search, spec.bins)
    s_half: _AnyHalf
    c_half: _AnyHalf
    if task is None:
        s_half = _Half(np.flatnonzero(search), labels, scores, threshold)
        c_half = _Half(np.flatnonzero(~search), labels, scores, threshold)
    else:
        s_half = TaskHalf(np.flatnonzero(search), task)
        c_half = TaskHalf(np.flatnonzero(~search), task)

    seen: set[bytes] = set()
    scored: list[_Scored] = []
    level: list[_Scored] = []
    for item in items:
        cohort = Cohort((item.condition,), item.mask)
        first = _remember(cohort, s_half, spec, seen)
        if first is not None:
            level.append(first)
    scored.extend(level)
    for _depth in range(2, spec.max_depth + 1):
        beam = sorted(
            (s for s in level if s.best() > 0),
            key=lambda s: (-s.best(), cohort_text(s.cohort.conditions)),
        )[: spec.beam]
        level = []
        for parent in beam:
            taken = {c.feature for c in parent.cohort.conditions}
            for item in items:
                if item.condition.feature in taken:
                    continue
                conditions = tuple(sorted((*parent.cohort.conditions, item.condition)))
                cohort = Cohort(conditions, parent.cohort.mask & item.mask)
                extended = _remember(cohort, s_half, spec, seen)
                if extended is not None:
                    level.append(extended)
        scored.extend(level)

    by_conditions = {frozenset(s.cohort.conditions): s for s in scored}
    candidates = sorted(
        (
            (s.cohort, metric, test, direction)
            for s in scored
            for metric, (test, direction) in s.tests.items()
            if test.z > SCREEN_Z and _beats_parents(s, metric, test.z, by_conditions)
        ),
        key=lambda c: (-c[2].z, cohort_text(c[0].conditions), c[1]),
    )
    cap_reached = len(candidates) > spec.max_candidates
    candidates = candidates[: spec.max_candidates]

    confirm_cells = _CellCache(frame, c_half, items) if isinstance(c_half, _Half) else None
    tested: list[tuple[Cohort, str, int, CohortTest]] = []
    inside: Any
    rest: Any
    for cohort, metric, _search_test, direction in candidates:
        if confirm_cells is not None:
            inside, rest = confirm_cells.tables(cohort)
        else:
            inside, rest = c_half.tables(cohort.mask[c_half.rows])
        result = c_half.compare(metric, inside, rest, direction)
        if result is None or not math.isfinite(result.p_value):
            result = CohortTest(math.nan, math.nan, math.nan, math.nan, 0.0, 1.0)
        tested.append((cohort, metric, direction, result))
    p_values = [t[3].p_value for t in tested]
    reject = fdr_reject(p_values, spec.fdr, spec.correction)
    q_values = adjusted_p(p_values, spec.correction)
    confirmed = [
        (t, float(q))
        for t, r, q in zip(tested, reject, q_values, strict=True)
        if r and math.isfinite(t[3].estimate)
    ]
    kept = _prune(confirmed, c_half, spec.fdr)
    pruned = len(confirmed) - len(kept)

    cohorts: list[DiscoveredCohort] = []
    masks: dict[str, np.ndarray] = {}
    kept.sort(key=lambda x: (x[1], cohort_text(x[0][0].conditions), x[0][1]))
    for i, ((cohort, metric, direction, result), q) in enumerate(kept, start=1):
        cid = f"C{i}"
        mask = cohort.mask[c_half.rows]
        masks[cid] = cohort.mask & ~search
        cohorts.append(
            DiscoveredCohort(
                id=cid,
                description=cohort_text(cohort.conditions),
                conditions=_where(cohort.conditions),
                depth=len(cohort.conditions),
                metric=metric,
                direction=_direction_words(metric, direction),
                estimate=result.estimate,
                ci_low=result.ci_low,
                ci_high=result.ci_high,
                rest=result.rest,
                difference=result.difference,
                p_value=result.p_value,
                q_value=q,
                n=int(mask.sum()),
                n_events=c_half.events(mask),
                found_by=FOUND_BY.format(
                    depth=len(cohort.conditions),
                    search=int(search.sum()),
                    seed=seed,
                    confirm=int((~search).sum()),
                    correction=CORRECTION_WORDS[spec.correction],
                    fdr=spec.fdr,
                    tested=len(tested),
                ),
            )
        )
    searched = DiscoverySearch(
        features=used,
        features_skipped=skipped,
        metrics=list(spec.metrics),
        max_depth=spec.max_depth,
        min_size=spec.min_size,
        min_events=spec.min_events if task is None or task.events is not None else 0,
        fdr=spec.fdr,
        correction=spec.correction,
        seed=seed,
        rows_search=int(search.sum()),
        rows_confirm=int((~search).sum()),
        cohorts_evaluated=len(scored),
        hypotheses_tested=len(tested),
        max_candidates=spec.max_candidates,
        cap_reached=cap_reached,
        confirmed_before_pruning=len(confirmed),
        pruned=pruned,
    )
    return Discovery(
        section=CohortsFound(
            status="found" if cohorts else "none_found",
            summary=summary_text(searched, len(cohorts), task=_words_key(task)),
            searched=searched,
            cohorts=cohorts,
        ),
        confirm_rows=~search,
        masks=masks,
    )


def summary_text(searched: DiscoverySearch, found: int, task: str = "binary") -> str:
    """One paragraph: what was searched, what was tested, what was found."""
    values = {
        "outcome": OUTCOME_WORDS.get(task, OUTCOME_WORDS["binary"]).format(
            min_events=searched.min_events
        ),
        "features": len(searched.features),
        "metrics": ", ".join(METRIC_WORDS.get(m, m) for m in searched.metrics),
        "depth": searched.max_depth,
        "min_size": searched.min_size,
        "evaluated": searched.cohorts_evaluated,
        "tested": searched.hypotheses_tested,
        "fdr": searched.fdr,
        "correction": CORRECTION_WORDS.get(searched.correction, searched.correction),
    }
    if found:
        pruned = (
            f", {searched.pruned} more explained by a simpler confirmed cohort"
            if searched.pruned
            else ""
        )
        text = SUMMARY_FOUND.format(found=found, pruned=pruned, **values)
    else:
        text = SUMMARY_NONE.format(**values)
    if searched.cap_reached:
        text += CAP_NOTE.format(cap=searched.max_candidates)
    return text


def _words_key(task: TaskRows | None) -> str:
    """Which words say the outcome count (none when the task has none)."""
    if task is None:
        return "binary"
    return task.task if task.events is not None else "regression"


def _direction_words(metric: str, direction: int) -> str | None:
    words = DIRECTION_WORDS.get(metric)
    return None if words is None else words[0 if direction > 0 else 1]


def _remember(
    cohort: Cohort, half: _AnyHalf, spec: DiscoverSpec, seen: set[bytes]
) -> _Scored | None:
    key = np.packbits(cohort.mask[half.rows]).tobytes()
    if key in seen:
        return None  # the same rows as a simpler (or earlier) cohort
    seen.add(key)
    return _score(cohort, half, spec)


def _where(conditions: Sequence[Condition]) -> list[dict[str, object]]:
    if any(c.op == "missing" for c in conditions):
        return []
    return [w for c in conditions for w in c.spec_where()]


def _beats_parents(
    scored: _Scored, metric: str, z: float, by_conditions: dict[frozenset[Condition], _Scored]
) -> bool:
    """On the search half, a cohort is a candidate only if it is further from the rest
    than every simpler cohort it refines (else its parent already says it)."""
    conditions = scored.cohort.conditions
    if len(conditions) == 1:
        return True
    for drop in conditions:
        parent = by_conditions.get(frozenset(c for c in conditions if c != drop))
        if parent is not None and metric in parent.tests and parent.tests[metric][0].z >= z:
            return False
    return True


def _prune(
    confirmed: list[tuple[tuple[Cohort, str, int, CohortTest], float]],
    half: _AnyHalf,
    level: float,
) -> list[tuple[tuple[Cohort, str, int, CohortTest], float]]:
    """Drop a cohort explained by a confirmed parent (a proper subset of its conditions,
    same metric): kept only if, on the confirmation half, it is worse than the rest of
    that parent (one-sided p at most ``level``). Pruning only removes discoveries."""
    kept = []
    for entry in confirmed:
        (cohort, metric, direction, _result), _q = entry
        own = set(cohort.conditions)
        explained = False
        for (other, other_metric, _od, _or), _oq in confirmed:
            if other_metric != metric or not set(other.conditions) < own:
                continue
            child = cohort.mask[half.rows]
            parent_rest = other.mask[half.rows] & ~child
            inside = half.tables(child)[0]
            rest = half.tables(parent_rest)[0]
            test = half.compare(metric, inside, rest, direction)
            if test is None or not test.p_value <= level:
                explained = True
                break
        if not explained:
            kept.append(entry)
    return kept


class _CellCache:
    """Confirmation-half statistics per combination of columns, reduced once.

    Every condition is a union of a column's finest pieces (its bins, or values), so
    a cohort on columns (a, b, c) is a union of the finest cells of a x b x c:
    :func:`~auditor.reduce.stats.reduce_frame` reduces the half once per combination
    and every cohort on it, and its rest, are merges of cells.
    """

    def __init__(self, frame: pd.DataFrame, half: _Half, items: Sequence[Item]) -> None:
        self.half = half
        self.labels = half.y
        self.scores = half.grid[half.codes]
        self.atoms: dict[str, np.ndarray] = {}
        self.contains: dict[Condition, frozenset[int]] = {}
        by_feature: dict[str, list[Item]] = {}
        for item in items:
            by_feature.setdefault(item.condition.feature, []).append(item)
        for name, its in by_feature.items():
            # finest pieces: rows with the same membership in every condition of the column
            member = np.stack([it.mask[half.rows] for it in its], axis=1)
            _, atom = np.unique(member, axis=0, return_inverse=True)
            atom = np.asarray(atom).ravel()
            self.atoms[name] = atom
            for it in its:
                self.contains[it.condition] = frozenset(
                    np.unique(atom[it.mask[half.rows]]).tolist()
                )
        self.cache: dict[tuple[str, ...], dict[tuple[str, ...], ScoreTable]] = {}

    def tables(self, cohort: Cohort) -> tuple[ScoreTable, ScoreTable]:
        names = cohort.features
        if names not in self.cache:
            cells_frame = pd.DataFrame({n: self.atoms[n].astype(str) for n in names})
            self.cache[names] = reduce_frame(cells_frame, self.labels, self.scores).cells
        inside: list[ScoreTable] = []
        outside: list[ScoreTable] = []
        for key, table in self.cache[names].items():
            atoms = dict(zip(names, (int(k) for k in key), strict=True))
            hit = all(atoms[c.feature] in self.contains[c] for c in cohort.conditions)
            (inside if hit else outside).append(table)
        return ScoreTable.merge(*inside), ScoreTable.merge(*outside)
