"""Small-cell suppression: no group of fewer than ``min_cell_size`` patients is exposed.

Rules (public-health practice; default ``min_cell_size`` 11):

1. A group with fewer patients than the minimum is *suppressed*: reported by name
   only ("fewer than 11 patients"), with no size and no metric.
2. Complementary suppression: a published total minus the shown groups would reveal
   a lone suppressed group, so whenever exactly one group of a view is suppressed,
   the next smallest is suppressed too. For an intersection the rule holds within
   the whole view and within every slice that fixes one attribute's value (that
   attribute's total is published by its own view); it is applied until stable.
3. A group suppressed in a coarser view (``race``) has every cell of it suppressed
   in finer views (``race x sex``), else the cells would add up to it.
4. A shown group with fewer positive or negative patients than the minimum keeps
   only its size and selection rate (*label metrics withheld*); its positive and
   negative counts are withheld too. The same complementary and coarse-to-fine rules
   apply to event counts, so no event count can be recovered by subtraction.

The plan depends on counts only, so every stage (metrics, curves, explanations,
data checks) can apply the same decisions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from reports.model import SMALL_GROUP_REASON

DEFAULT_MIN_CELL_SIZE = 11

SUPPRESSED_SMALL = SMALL_GROUP_REASON
"""Defined with the report model, so renderers can tell it from the other reasons."""
SUPPRESSED_COMPLEMENTARY = (
    "suppressed so that a smaller group's size cannot be recovered by subtraction "
    "(complementary suppression)"
)
SUPPRESSED_PARENT = "suppressed because the group {parent} is suppressed"
WITHHELD_POSITIVES = "label metrics withheld: fewer than {m} patients with the outcome"
WITHHELD_NEGATIVES = "label metrics withheld: fewer than {m} patients without the outcome"
WITHHELD_BOTH = (
    "label metrics withheld: fewer than {m} patients with and fewer than {m} without the outcome"
)
WITHHELD_COMPLEMENTARY = (
    "label metrics withheld so that another group's event count cannot be recovered by "
    "subtraction (complementary suppression)"
)
WITHHELD_PARENT = "label metrics withheld because they are withheld for the group {parent}"
MIN_CELL_SIZE_INVALID = "min_cell_size must be a whole number of at least 1, got {value!r}."

Status = Literal["shown", "label_withheld", "suppressed"]
Key = tuple[str, ...]
View = tuple[str, ...]


@dataclass(frozen=True)
class Counts:
    """Patients, positives and negatives of one group."""

    n: int
    n_positive: int
    n_negative: int


@dataclass(frozen=True)
class Privacy:
    """What may be shown of one group, and why not more."""

    status: Status
    reason: str | None = None

    @property
    def suppressed(self) -> bool:
        return self.status == "suppressed"

    @property
    def labels_shown(self) -> bool:
        return self.status == "shown"


def check_min_cell_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(MIN_CELL_SIZE_INVALID.format(value=value))
    return value


def _slices(view: View, keys: Sequence[Key], published: Collection[View]) -> list[list[Key]]:
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
    sizes: Sequence[Mapping[Key, int]],
    m: int,
    reason: str,
    published: Collection[View],
) -> None:
    """Hide the next smallest group of a slice until subtraction reveals nothing small.

    A slice's total is published, so the hidden members of a slice add up to a
    known number: one hidden member is revealed exactly, and several hidden
    members reveal their sum. Hide more until every slice has none or at least
    two hidden members whose summed counts (each of ``sizes``) reach ``m``.
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
            small_sum = any(sum(size[k] for k in inside) < m for size in sizes)
            if len(inside) != 1 and not small_sum:
                continue
            first = sizes[0]
            nxt = min(candidates, key=lambda k: (first[k], keys.index(k)))
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


def plan_suppression(
    views: Mapping[View, Mapping[Key, Counts]], min_cell_size: int = DEFAULT_MIN_CELL_SIZE
) -> dict[View, dict[Key, Privacy]]:
    """Decide, from counts only, what each group of each view may show.

    ``views`` maps a view (``()`` for everyone, ``("race",)``, ``("race", "sex")``)
    to its groups' counts, groups in display order.
    """
    m = check_min_cell_size(min_cell_size)
    order = sorted(views, key=len)
    sizes_done: dict[View, dict[Key, str]] = {}
    labels_done: dict[View, dict[Key, str]] = {}
    plan: dict[View, dict[Key, Privacy]] = {}
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
        if view:
            _complement(
                view,
                keys,
                hidden,
                [{k: groups[k].n for k in keys}],
                m,
                SUPPRESSED_COMPLEMENTARY,
                views,
            )
        withheld: dict[Key, str] = dict(hidden)
        for k in keys:
            if k in withheld:
                continue
            few_pos = groups[k].n_positive < m
            few_neg = groups[k].n_negative < m
            parent = _parent_hidden(view, k, labels_done)
            if few_pos and few_neg:
                withheld[k] = WITHHELD_BOTH.format(m=m)
            elif few_pos:
                withheld[k] = WITHHELD_POSITIVES.format(m=m)
            elif few_neg:
                withheld[k] = WITHHELD_NEGATIVES.format(m=m)
            elif parent is not None:
                withheld[k] = WITHHELD_PARENT.format(parent=parent)
        if view:
            events = {k: groups[k].n_positive for k in keys}
            non_events = {k: groups[k].n_negative for k in keys}
            minority = {k: min(events[k], non_events[k]) for k in keys}
            _complement(
                view,
                keys,
                withheld,
                [minority, events, non_events],
                m,
                WITHHELD_COMPLEMENTARY,
                views,
            )
        sizes_done[view] = hidden
        labels_done[view] = withheld
        plan[view] = {
            k: Privacy("suppressed", hidden[k])
            if k in hidden
            else Privacy("label_withheld", withheld[k])
            if k in withheld
            else Privacy("shown")
            for k in keys
        }
    return plan
