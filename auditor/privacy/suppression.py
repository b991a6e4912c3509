"""The suppression plan: which figure of which group may leave the process.

One plan is computed once, from counts only, and every face applies it. Counts are
*cells*: a group's size, its patients with and without the outcome, and, at each
threshold of the declared grid, its predicted positives and negatives and its
true/false positives/negatives. A cell from 1 to ``min_cell_size - 1`` is never
published and never derivable from what is published (rate x size, differences
across views, differences across thresholds). Figures map to cells:

* **size** (``n``): suppressed below the floor, as are groups hidden to protect
  another (complementary suppression) or inside a suppressed coarser group;
* **events** (``n_positive``, ``n_negative``, ``prevalence``, ``oe_ratio``): need
  at least the floor with and without the outcome;
* **selection at t** (``selection_rate``): the band of scores between two published
  thresholds of a group holds 0 or at least the floor of patients;
* **label figures at t** (sensitivity, specificity, PPV, ...): as above for patients
  with and without the outcome separately, and the events published;
* **label metrics without counts** (AUROC, AUPRC, Brier, log loss, calibration
  intercept/slope, ECE) reveal no count: shown whenever the group has at least the
  floor with and without the outcome, rounded to ``rounding`` decimals when its event
  count is withheld (so the exact value cannot pin the count);
* **curves**: only for groups whose events are published (steps: :mod:`auditor.measure.curves`).

Complementary suppression (``complementary: true``) then runs the attack a reader
would: a linear programme over every published count (:mod:`auditor.privacy.disclosure`)
bounds each hidden small cell; when one is pinned to a single value, the cheapest
published figure that unpins it is withheld too (a threshold figure before an event
count, an event count before a size; the smaller group first). No label metric
without counts is ever withheld to protect another group, and every group says why
its own figures are withheld.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reports.model import SMALL_GROUP_REASON, Estimate, GroupResult

DEFAULT_MIN_CELL_SIZE = 11
DEFAULT_ROUNDING = 3

SUPPRESSED_SMALL = SMALL_GROUP_REASON
"""Defined with the report model, so renderers can tell it from the other reasons."""
SUPPRESSED_COMPLEMENTARY = (
    "suppressed so that a smaller group's size cannot be recovered by subtraction "
    "(complementary suppression)"
)
SUPPRESSED_OWN = (
    "suppressed: with its size published, its withheld counts (fewer than {m} with or "
    "without the outcome) would follow exactly"
)
SUPPRESSED_PARENT = "suppressed because the group {parent} is suppressed"
WITHHELD_POSITIVES = "label metrics withheld: fewer than {m} patients with the outcome"
WITHHELD_NEGATIVES = "label metrics withheld: fewer than {m} patients without the outcome"
WITHHELD_BOTH = (
    "label metrics withheld: fewer than {m} patients with and fewer than {m} without the outcome"
)
WITHHELD_COMPLEMENTARY = (
    "event count withheld so that another group's event count cannot be recovered by "
    "subtraction (complementary suppression); its discrimination and calibration are shown"
)
WITHHELD_PARENT = "label metrics withheld because they are withheld for the group {parent}"
THRESHOLD_BAND = (
    "figures at threshold {t} withheld: between it and a neighbouring published threshold "
    "fewer than {m} patients would be counted, so differencing would isolate them"
)
THRESHOLD_BAND_LABELS = (
    "outcome figures at threshold {t} withheld: between it and a neighbouring published "
    "threshold fewer than {m} patients with or without the outcome would be counted"
)
THRESHOLD_OWN = (
    "figures at threshold {t} withheld: with them, a count of fewer than {m} of this "
    "group would follow exactly"
)
THRESHOLD_COMPLEMENTARY = (
    "figures at threshold {t} withheld so that another group's count at that threshold "
    "cannot be recovered by subtraction (complementary suppression)"
)
THRESHOLD_LABELS_COMPLEMENTARY = (
    "outcome figures at threshold {t} withheld so that another group's count cannot be "
    "recovered by subtraction (complementary suppression)"
)
THRESHOLD_OFF_GRID = (
    "figures at threshold {t} withheld: it is not on the declared threshold grid ({grid}), "
    "and differencing with the grid's figures could isolate fewer than {m} patients"
)
MIN_CELL_SIZE_INVALID = "min_cell_size must be a whole number of at least 1, got {value!r}."
INTERNAL_STAMP = "internal: counts of suppressed groups may be derivable"
"""Stamped on every page and file when complementary suppression is off."""

EVENT_METRICS = ("n_positive", "n_negative", "prevalence", "oe_ratio")
"""Figures from which the event count follows (with the published size); the binary
registry's ``MetricDef.events`` says the same."""

Status = Literal["shown", "label_withheld", "suppressed"]
Key = tuple[str, ...]
View = tuple[str, ...]


@dataclass(frozen=True)
class Counts:
    """Patients, positives and negatives of one group, and per score band.

    ``bands`` holds (positives, negatives) per band of the threshold grid, lowest
    first: with thresholds ``t_1 < ... < t_T``, band ``j`` holds scores in
    ``[t_j, t_{j+1})`` (``t_0 = -inf``, ``t_{T+1} = +inf``); empty without a grid.
    """

    n: int
    n_positive: int
    n_negative: int
    bands: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Privacy:
    """What may be shown of one group, and why not more."""

    status: Status
    reason: str | None = None
    events: str | None = None
    """Why the event count (and figures it follows from) is withheld; None: shown."""
    thresholds: Mapping[float, str] = field(default_factory=dict)
    """Thresholds whose figures are withheld (selection rate and all), with why."""
    label_thresholds: Mapping[float, str] = field(default_factory=dict)
    """Thresholds whose outcome figures (sensitivity, PPV, ...) are withheld, with why."""
    rounding: int | None = None
    """Decimals of label metrics without counts, when the event count is withheld."""
    task: str = "binary"
    """Whose metric registry names the figures (the task id, :func:`auditor.tasks.task_def`)."""
    cells: frozenset[tuple[int, int]] = frozenset()
    """Multiclass: confusion-matrix cells (true, predicted) withheld, when the
    cross-view disclosure check withheld more than the matrix's own rule."""
    withheld: Mapping[str, str] = field(default_factory=dict)
    """Single figures withheld with why (a task's proportion counting 1 to m − 1 patients,
    a per-class figure of a class with fewer than m patients)."""

    @property
    def suppressed(self) -> bool:
        return self.status == "suppressed"

    @property
    def labels_shown(self) -> bool:
        """Label metrics without counts (AUROC, calibration, ...) may be shown."""
        return self.status == "shown"

    @property
    def events_shown(self) -> bool:
        return self.status == "shown" and self.events is None

    @property
    def curves_shown(self) -> bool:
        """Curves reveal the event count through their steps: only with events shown."""
        return self.events_shown

    @property
    def fully_shown(self) -> bool:
        return (
            self.events_shown
            and not self.thresholds
            and not self.label_thresholds
            and not self.withheld
        )

    def metric_reason(self, metric_id: str, threshold: float | None = None) -> str | None:
        """Why this group's value of a registry metric at ``threshold`` is withheld.

        The task's registry says what a figure needs (``label_dependent``,
        ``needs_threshold``, ``events``: withheld with the event count); a figure no
        registry defines is treated as needing the outcome.
        """
        from auditor.tasks import task_def

        if self.status == "suppressed":
            return self.reason
        if metric_id in self.withheld:
            return self.withheld[metric_id]
        if metric_id == "n":
            return None
        metric = task_def(self.task).lookup(metric_id)
        label = metric.label_dependent if metric is not None else True
        if label and self.status == "label_withheld":
            return self.reason
        if metric_id in EVENT_METRICS:
            return self.events
        if metric is None:
            return None
        t = float(threshold) if threshold is not None else None
        if metric.needs_threshold and t in self.thresholds:
            return self.thresholds[t]  # type: ignore[index]
        if not label:
            return None
        if metric.events and self.events is not None:
            return self.events
        if metric.needs_threshold and t in self.label_thresholds:
            return self.label_thresholds[t]  # type: ignore[index]
        return None


def publish_estimate(
    est: Estimate, privacy: Privacy | None, metric_id: str, threshold: float | None
) -> Estimate:
    """One value as it may be shown: withheld with its reason, rounded, or as is."""
    if privacy is None:
        return est
    reason = privacy.metric_reason(metric_id, threshold)
    if reason is not None:
        return Estimate(reason=reason)
    if privacy.rounding is not None and metric_id not in ("n", "selection_rate"):
        digits = privacy.rounding
        return est.model_copy(
            update={
                f: round(getattr(est, f), digits)
                for f in ("estimate", "ci_low", "ci_high", "joint_low", "joint_high")
                if getattr(est, f) is not None
            }
        )
    return est


def publish_group(
    group: GroupResult, privacy: Privacy | None, primary: float | None
) -> GroupResult:
    """One group as it may be shown: name only, or each figure by the plan
    (``metrics`` are at the ``primary`` threshold)."""
    if privacy is None or privacy.fully_shown:
        return group
    if privacy.suppressed:
        return GroupResult(
            attribute=group.attribute,
            group=group.group,
            suppressed=True,
            suppression_reason=privacy.reason,
        )
    return group.model_copy(
        update={
            "label_metrics_withheld": not privacy.labels_shown,
            "suppression_reason": privacy.reason,
            "metrics": {
                mid: publish_estimate(est, privacy, mid, primary)
                for mid, est in group.metrics.items()
            },
            "by_threshold": {
                t: {mid: publish_estimate(est, privacy, mid, float(t)) for mid, est in ms.items()}
                for t, ms in group.by_threshold.items()
            },
        }
    )


def check_min_cell_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(MIN_CELL_SIZE_INVALID.format(value=value))
    return value


def _slices(view: View, keys: Sequence[Key], published: Mapping[View, object]) -> list[list[Key]]:
    """Sets of groups whose total is published: the view (its total is everyone), and
    each one-attribute slice of an intersection whose attribute is reported alone."""
    out = [list(keys)]
    if len(view) > 1:
        for j in range(len(view)):
            if (view[j],) not in published:
                continue
            by_value: dict[str, list[Key]] = {}
            for k in keys:
                by_value.setdefault(k[j], []).append(k)
            out.extend(by_value.values())
    return out


def _complement(
    view: View,
    keys: Sequence[Key],
    hidden: dict[Key, str],
    sizes: Mapping[Key, int],
    m: int,
    reason: str,
    published: Mapping[View, object],
) -> None:
    """First pass of complementary suppression of sizes within published slices.

    A slice's total is published, so its hidden members add up to a known number:
    hide the next smallest until every slice has none or at least two hidden
    members summing to at least ``m``. The linear-programming check that follows
    (:func:`auditor.privacy.disclosure.repair`) closes what this local rule misses.
    """
    slices = _slices(view, keys, published)
    changed = True
    while changed:
        changed = False
        for members in slices:
            inside = [k for k in members if k in hidden]
            candidates = [k for k in members if k not in hidden]
            if not inside or not candidates:
                continue
            if len(inside) != 1 and sum(sizes[k] for k in inside) >= m:
                continue
            nxt = min(candidates, key=lambda k: (sizes[k], keys.index(k)))
            hidden[nxt] = reason
            changed = True


def _parent_hidden(view: View, key: Key, done: Mapping[View, Mapping[Key, str]]) -> str | None:
    for coarse, hidden in done.items():
        if not coarse or len(coarse) >= len(view) or not set(coarse) <= set(view):
            continue
        sub = tuple(key[view.index(a)] for a in coarse)
        if sub in hidden:
            return " x ".join(sub)
    return None


def safe_cuts(
    bands: Sequence[tuple[int, int]],
    order: Sequence[int],
    m: int,
    *,
    by_class: bool,
) -> list[int]:
    """Thresholds (indices into the grid, tried in ``order``) a group may publish.

    Threshold ``i`` separates bands ``<= i`` from bands ``> i``. A threshold is kept
    when every stretch of bands between consecutive kept thresholds (and the two
    tails) holds 0 or at least ``m`` patients (``by_class``: with and without the
    outcome separately), so no difference of published figures isolates fewer.
    """
    kept: list[int] = []

    def ok(cuts: list[int]) -> bool:
        edges = [-1, *sorted(cuts), len(bands) - 1]
        for lo, hi in itertools.pairwise(edges):
            pos = sum(b[0] for b in bands[lo + 1 : hi + 1])
            neg = sum(b[1] for b in bands[lo + 1 : hi + 1])
            parts = (pos, neg) if by_class else (pos + neg,)
            if any(0 < x < m for x in parts):
                return False
        return True

    for i in order:
        if ok([*kept, i]):
            kept.append(i)
    return sorted(kept)


def plan_suppression(
    views: Mapping[View, Mapping[Key, Counts]],
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
    *,
    thresholds: Sequence[float] = (),
    complementary: bool = True,
    rounding: int = DEFAULT_ROUNDING,
) -> dict[View, dict[Key, Privacy]]:
    """Decide, from counts only, what each group of each view may show.

    ``views`` maps a view (``()`` for everyone, ``("race",)``, ``("race", "sex")``)
    to its groups' counts, groups in display order. ``thresholds`` is the declared
    grid, primary first; ``Counts.bands`` follow the grid in ascending order. The
    plan depends on nothing else, so it is memoized: the dashboard re-measuring at
    another threshold of the grid gets the same plan at once.
    """
    key = (
        tuple((v, tuple(g.items())) for v, g in views.items()),
        check_min_cell_size(min_cell_size),
        tuple(float(t) for t in thresholds),
        complementary,
        rounding,
    )
    plan = _memo_plan(key)
    return {v: dict(groups) for v, groups in plan.items()}


@functools.lru_cache(maxsize=32)
def _memo_plan(key: tuple) -> dict[View, dict[Key, Privacy]]:
    views_items, m, thresholds, complementary, rounding = key
    return _plan(
        {v: dict(groups) for v, groups in views_items},
        m,
        thresholds=thresholds,
        complementary=complementary,
        rounding=rounding,
    )


def _plan(
    views: Mapping[View, Mapping[Key, Counts]],
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
    *,
    thresholds: Sequence[float] = (),
    complementary: bool = True,
    rounding: int = DEFAULT_ROUNDING,
) -> dict[View, dict[Key, Privacy]]:
    m = check_min_cell_size(min_cell_size)
    grid = sorted(set(float(t) for t in thresholds))
    priority = [grid.index(float(t)) for t in dict.fromkeys(float(t) for t in thresholds)]
    order = sorted(views, key=len)
    sizes_done: dict[View, dict[Key, str]] = {}
    hidden_sizes: dict[View, dict[Key, str]] = {}
    for view in order:
        groups = views[view]
        keys = list(groups)
        hidden: dict[Key, str] = {}
        for k in keys:
            parent = _parent_hidden(view, k, sizes_done)
            if groups[k].n < m:
                hidden[k] = SUPPRESSED_SMALL.format(m=m)
            elif parent is not None:
                hidden[k] = SUPPRESSED_PARENT.format(parent=parent)
        if view and complementary:
            _complement(
                view,
                keys,
                hidden,
                {k: groups[k].n for k in keys},
                m,
                SUPPRESSED_COMPLEMENTARY,
                views,
            )
        sizes_done[view] = hidden
        hidden_sizes[view] = hidden

    state = PlanState(views=views, m=m, grid=grid)
    for view in order:
        for k, counts in views[view].items():
            key = (view, k)
            if k in hidden_sizes[view]:
                state.suppressed[key] = hidden_sizes[view][k]
                continue
            few_pos, few_neg = counts.n_positive < m, counts.n_negative < m
            if few_pos or few_neg:
                template = (
                    WITHHELD_BOTH
                    if few_pos and few_neg
                    else WITHHELD_POSITIVES
                    if few_pos
                    else WITHHELD_NEGATIVES
                )
                state.label_withheld[key] = template.format(m=m)
            bands = list(counts.bands) or [(counts.n_positive, counts.n_negative)]
            cuts = safe_cuts(bands, priority, m, by_class=False) if grid else []
            for i, t in enumerate(grid):
                if i not in cuts:
                    state.thresholds[key, t] = THRESHOLD_BAND.format(t=_fmt(t), m=m)
            if key not in state.label_withheld and grid:
                label_order = [i for i in priority if i in cuts]
                label_cuts = safe_cuts(bands, label_order, m, by_class=True)
                for i, t in enumerate(grid):
                    if i in cuts and i not in label_cuts:
                        state.label_thresholds[key, t] = THRESHOLD_BAND_LABELS.format(
                            t=_fmt(t), m=m
                        )

    if complementary:
        from auditor.privacy.disclosure import repair

        repair(state)

    plan: dict[View, dict[Key, Privacy]] = {}
    for view in views:
        plan[view] = {}
        for k in views[view]:
            plan[view][k] = state.privacy((view, k), rounding)
    return plan


def _fmt(t: float) -> str:
    from auditor.measure.metrics import format_threshold

    return format_threshold(t)


@dataclass
class PlanState:
    """The plan while it is being decided (what is withheld, keyed by (view, group))."""

    views: Mapping[View, Mapping[Key, Counts]]
    m: int
    grid: list[float]
    suppressed: dict[tuple[View, Key], str] = field(default_factory=dict)
    label_withheld: dict[tuple[View, Key], str] = field(default_factory=dict)
    events: dict[tuple[View, Key], str] = field(default_factory=dict)
    thresholds: dict[tuple[tuple[View, Key], float], str] = field(default_factory=dict)
    label_thresholds: dict[tuple[tuple[View, Key], float], str] = field(default_factory=dict)

    def size_shown(self, key: tuple[View, Key]) -> bool:
        return key not in self.suppressed

    def events_shown(self, key: tuple[View, Key]) -> bool:
        return self.size_shown(key) and key not in self.label_withheld and key not in self.events

    def selection_shown(self, key: tuple[View, Key], t: float) -> bool:
        return self.size_shown(key) and (key, t) not in self.thresholds

    def confusion_shown(self, key: tuple[View, Key], t: float) -> bool:
        return (
            self.events_shown(key)
            and self.selection_shown(key, t)
            and (key, t) not in self.label_thresholds
        )

    def privacy(self, key: tuple[View, Key], rounding: int) -> Privacy:
        if key in self.suppressed:
            return Privacy("suppressed", self.suppressed[key])
        thresholds = {t: r for (k, t), r in self.thresholds.items() if k == key}
        labels = {t: r for (k, t), r in self.label_thresholds.items() if k == key}
        if key in self.label_withheld:
            return Privacy(
                "label_withheld",
                self.label_withheld[key],
                events=self.label_withheld[key],
                thresholds=thresholds,
            )
        events = self.events.get(key)
        return Privacy(
            "shown",
            events,
            events=events,
            thresholds=thresholds,
            label_thresholds=labels,
            rounding=rounding if events is not None else None,
        )
