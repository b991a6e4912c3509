"""Small-cell rules for discovered cohorts: no count from 1 to ``m - 1`` derivable.

A cohort shows its size and event count on the confirmation half, and its false
negative rate (when that is its metric) makes its false negatives and true positives
derivable from the event count. Each such count must be 0 or at least ``m``
(``min_cell_size``), and so must every difference a reader can take between two
cohorts when one holds the other's rows (subtraction). When a count fails, the
smaller cohort's counts are withheld and its figures rounded, and the check runs
again until nothing small is derivable. Discovery guarantees the rest of every
cohort is at least ``min_size`` patients and ``min_events`` events, never below the
floor. Cohorts live on the confirmation half, a seeded random half whose membership
the report does not publish, so their counts share no equation with the named
groups' counts (which are over every row).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reports.model import CohortsFound, DiscoveredCohort

COUNTS_WITHHELD_OWN = "withheld: a count derived from it would be between 1 and {top}"
COUNTS_WITHHELD_NESTED = (
    "withheld: subtracting it from cohort {other} would give a count between 1 and {top}"
)


def _counts(
    c: DiscoveredCohort, mask: np.ndarray, labels: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, int]:
    y = labels[mask]
    out = {"patients": int(mask.sum()), "events": int(y.sum())}
    out["non-events"] = out["patients"] - out["events"]
    if c.metric == "fnr":
        missed = int(((scores[mask] < threshold) & (y == 1)).sum())
        out["false negatives"] = missed
        out["true positives"] = out["events"] - missed
    return out


def _small(value: int, m: int) -> bool:
    return 0 < value < m


def protect_cohorts(
    section: CohortsFound,
    masks: Mapping[str, np.ndarray],
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    min_cell_size: int,
    rounding: int,
) -> CohortsFound:
    """The section with counts withheld wherever a small count would be derivable."""
    m = min_cell_size
    top = m - 1
    cohorts = {c.id: c for c in section.cohorts}
    counts = {cid: _counts(c, masks[cid], labels, scores, threshold) for cid, c in cohorts.items()}
    withheld: dict[str, str] = {}
    for cid, values in counts.items():
        if any(_small(v, m) for v in values.values()):
            withheld[cid] = COUNTS_WITHHELD_OWN.format(top=top)
    changed = True
    while changed:
        changed = False
        shown = [cid for cid in cohorts if cid not in withheld]
        for a in shown:
            for b in shown:
                if a == b or a in withheld:
                    continue
                inner, outer = masks[a], masks[b]
                if not np.array_equal(inner & outer, inner) or np.array_equal(inner, outer):
                    continue  # b does not strictly hold a's rows
                diff = {k: counts[b][k] - counts[a][k] for k in counts[a].keys() & counts[b].keys()}
                # the rows of b outside a, counted directly (same as the difference)
                if any(_small(v, m) for v in diff.values()):
                    withheld[a] = COUNTS_WITHHELD_NESTED.format(other=b, top=top)
                    changed = True
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
                update={"n": counts[cid]["patients"], "n_events": counts[cid]["events"]}
            )
        out.append(c)
    return section.model_copy(update={"cohorts": out})
