"""The "Cohorts found" section as text rows, one formatting for every face.

Renderers compute nothing: every number comes from ``report.cohorts_found``
(confirmation-half estimates, privacy already applied); this module only words them.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports import format as fmt
from reports.model import DiscoveredCohort, Report

SECTION_TITLE = "Cohorts found"
NOT_RUN = (
    "No discovery search ran (the spec has no discover: block), so only the groups the "
    "spec names were audited."
)
SIZE_TEXT = "{n} patients, {events} {outcome} (confirmation half)"
SIZE_ONLY_TEXT = "{n} patients (confirmation half)"
SIZE_WITHHELD = "at least {min_size} patients, {min_events} {outcome} ({why})"
SIZE_ONLY_WITHHELD = "at least {min_size} patients ({why})"
OUTCOME_WORDS = {
    "survival": "with the event by the horizon",
    "multiclass": "not of the least acute class",
}
"""What a cohort's count "with the outcome" counts, per task (binary: the outcome)."""
DIFF_TEXT = "{diff} vs the rest ({rest})"


@dataclass(frozen=True)
class CohortRow:
    id: str
    cohort: str
    size: str
    metric: str
    value: str
    difference: str
    q_value: str
    found_by: str
    depth: int

    def line(self) -> str:
        """One line for the CLI and summary.md (the method is in the section's summary)."""
        return (
            f"{self.id} {self.cohort}: {self.metric} {self.value}, {self.difference}; "
            f"{self.size}; depth {self.depth}, q = {self.q_value}"
        )


def _metric(c: DiscoveredCohort) -> str:
    name = fmt.metric_name(c.metric)
    return f"{name} ({c.direction})" if c.direction else name


def cohort_row(
    c: DiscoveredCohort, *, min_size: int, min_events: int, task: str | None = None
) -> CohortRow:
    d = fmt.digits_for(c.estimate)
    outcome = OUTCOME_WORDS.get(task or "binary", "with the outcome")
    no_outcome_count = c.n_events is None and c.counts_withheld is None
    if c.counts_withheld is not None or c.n is None:
        why = c.counts_withheld or "withheld"
        size = (
            SIZE_WITHHELD.format(min_size=min_size, min_events=min_events, outcome=outcome, why=why)
            if min_events
            else SIZE_ONLY_WITHHELD.format(min_size=min_size, why=why)
        )
    elif no_outcome_count:
        size = SIZE_ONLY_TEXT.format(n=fmt.count(c.n))
    else:
        size = SIZE_TEXT.format(
            n=fmt.count(c.n), events=fmt.count(c.n_events or 0), outcome=outcome
        )
    diff = fmt.number(c.difference, d)
    if c.difference > 0:
        diff = "+" + diff
    return CohortRow(
        id=c.id,
        cohort=c.description,
        size=size,
        metric=_metric(c),
        value=fmt.value_with_ci(c.estimate, c.ci_low, c.ci_high, d),
        difference=DIFF_TEXT.format(diff=diff, rest=fmt.number(c.rest, d)),
        q_value=f"{c.q_value:.2g}",
        found_by=c.found_by,
        depth=c.depth,
    )


def cohort_rows(report: Report) -> list[CohortRow]:
    found = report.cohorts_found
    if found is None:
        return []
    s = found.searched
    return [
        cohort_row(c, min_size=s.min_size, min_events=s.min_events, task=report.task)
        for c in found.cohorts
    ]


def cohorts_summary(report: Report) -> str:
    """The section's opening paragraph: what was searched and found, or that none ran."""
    found = report.cohorts_found
    return NOT_RUN if found is None else found.summary


METHOD_TEXT = (
    "How they were found: each by beam search on the search half ({search:,} rows, seed "
    "{seed}), then confirmed by a one-sided test against the rest on the held-out half "
    "({confirm:,} rows), with the {correction} false discovery rate {fdr:g} across "
    "{tested} hypotheses."
)
CORRECTIONS = {"by": "Benjamini-Yekutieli", "bh": "Benjamini-Hochberg"}


def method_text(report: Report) -> str:
    """The method once for the whole table (each cohort's own words add its depth)."""
    found = report.cohorts_found
    if found is None or not found.cohorts:
        return ""
    s = found.searched
    return METHOD_TEXT.format(
        search=s.rows_search,
        seed=s.seed,
        confirm=s.rows_confirm,
        correction=CORRECTIONS.get(s.correction, s.correction),
        fdr=s.fdr,
        tested=s.hypotheses_tested,
    )


def cohorts_lines(report: Report, *, limit: int | None = None) -> list[str]:
    """Plain lines for the terminal and summary.md."""
    rows = cohort_rows(report)
    shown = rows if limit is None else rows[:limit]
    lines = [r.line() for r in shown]
    if len(rows) > len(shown):
        lines.append(f"... and {len(rows) - len(shown)} more in report.json and report.html")
    return lines
