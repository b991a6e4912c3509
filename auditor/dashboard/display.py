"""How report values read on screen: one place for labels, numbers and suppression text.

Formatting only; every number shown comes from the report the library built.
Suppressed groups are never given a number: they read "fewer than N patients" when
they are below the minimum, and "suppressed" (with their reason in the notes) when
they are hidden to protect another group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from auditor.judge.compare import label
from auditor.tasks import find_metric, task_hints
from reports.format import suppression_text
from reports.model import (
    DisparityResult,
    Estimate,
    GroupResult,
    Report,
    below_minimum,
    group_key,
)

SUPPRESSED = "fewer than {n} patients"
"""A group below the minimum size."""
SUPPRESSED_OTHER = "suppressed"
"""A group hidden for another reason (e.g. so a smaller group's size cannot be worked out)."""
WITHHELD = "withheld: fewer than {n} positives or negatives"
"""A label-withheld group whose report gives no reason of its own."""
SUPPRESSION_CAPTION = (
    "A group under {n} patients reads “fewer than {n} patients”; a group hidden so that "
    "a smaller group's size cannot be worked out reads “suppressed”. Neither has numbers "
    "anywhere."
)
DASH = "—"
KEY_METRICS = task_hints("binary").overview_metrics or ()
"""A binary audit's metrics shown per group on the Overview (:func:`key_metrics`)."""


def key_metrics(report: Report) -> tuple[str, ...]:
    """Metrics shown per group on the Overview, when the report holds them: the
    overview metrics of the report's task (else its summary metrics)."""
    hints = task_hints(report.task)
    return hints.overview_metrics or hints.summary_metrics


MARKDOWN_ACTIVE = "\\`*_{}[]()<>!|~$:&"
"""Characters markdown (and Streamlit's extensions) can turn into links, images or markup."""
AUTOLINK = re.compile(r"(?i)\b(https?|ftp|mailto|www)(?=\\?[:.])")
"""Where GitHub-flavoured markdown starts a link by itself (it ignores escapes there)."""
WORD_JOINER = "\u2060"
"""Invisible; placed after ``http`` or ``www`` it stops the automatic link."""
LINE_START_ACTIVE = "#+-=>"
"""Characters that start a heading, list or quote when they open a line."""


def _plain_line(line: str) -> str:
    out = []
    lead = True
    digits = False
    for c in line:
        starts = lead and (c in LINE_START_ACTIVE or (digits and c in ".)"))
        out.append("\\" + c if c in MARKDOWN_ACTIVE or starts else c)
        if lead and not c.isspace():
            digits = c.isdigit() and (digits or not any(x.strip() for x in out[:-1]))
            lead = digits
    return "".join(out)


def plain(text: Any) -> str:
    """Untrusted text (group names, audit names, model-card fields) for a markdown element.

    Every character markdown could act on is escaped, so ``![x](https://...)`` reads
    as those characters: no image or link is fetched by the viewer's browser, and
    ``http\\://`` is not turned into a link either.
    """
    lines = str(text).replace("\r", " ").split("\n")
    return AUTOLINK.sub("\\1" + WORD_JOINER, "\n".join(_plain_line(line) for line in lines))


def name(value: Any) -> str:
    """An attribute or group as text; intersections joined with ' × ' (as in compare)."""
    return label(value)


def metric_label(metric_id: str) -> str:
    """The registry's name for a metric id (ids outside the registry read as words)."""
    metric = find_metric(metric_id)
    if metric is not None:
        return metric.name
    return metric_id.replace("_", " ").capitalize()


def suppressed_keys(report: Report) -> set[tuple[str, str]]:
    """(attribute, group) of every suppressed group, from every place the report says so.

    Views check this set as well as each entry's own flag, so a number handed in
    for a suppressed group by a careless producer is still never shown.
    """
    keys = {(name(a.name), name(g)) for a in report.attributes for g in a.suppressed_groups}
    keys |= {(name(g.attribute), name(g.group)) for g in report.groups if g.suppressed}
    return keys


def number(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def compact(value: float | None, digits: int = 3) -> str:
    """A number without trailing zeros: 12 rather than 12.000, 0.774 stays 0.774."""
    if value is None:
        return DASH
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    if low is None or high is None:
        return ""
    return f"{low:.{digits}f}–{high:.{digits}f}"


def estimate_text(est: Estimate | None, digits: int = 3, *, count: bool = False) -> str:
    """'0.812 (0.790–0.833)', a whole count ('1,380'), or the reason the number is missing."""
    if est is None:
        return DASH
    if est.estimate is None:
        return f"{DASH} ({est.reason})" if est.reason else DASH
    if count:
        return f"{round(est.estimate):,}"
    ci = interval(est.ci_low, est.ci_high, digits)
    return f"{est.estimate:.{digits}f} ({ci})" if ci else f"{est.estimate:.{digits}f}"


def suppressed_text(reason: str | None, min_cell_size: int) -> str:
    """'fewer than 11 patients' only when the reason says so; 'suppressed' otherwise."""
    if below_minimum(reason, min_cell_size):
        return SUPPRESSED.format(n=min_cell_size)
    return SUPPRESSED_OTHER


def hidden_text(report: Report, attribute: Any, group: Any, *, default: str | None = None) -> str:
    """What a suppressed group of the report shows instead of numbers.

    ``default`` is the reason of a group the report does not list as suppressed
    (a data-check row hidden by its own size floor).
    """
    reasons = report.suppression_reasons()
    key = group_key(attribute, group)
    return suppressed_text(reasons.get(key, default), report.min_cell_size)


def group_status(group: GroupResult, min_cell_size: int) -> str | None:
    """The suppression text a group shows instead of numbers, if any."""
    if group.suppressed:
        return suppressed_text(group.suppression_reason, min_cell_size)
    return None


def views(report: Report) -> list[str]:
    """Attributes then intersections, in report order, as display names."""
    seen: list[str] = []
    for info in report.attributes:
        text = name(info.name)
        if text not in seen:
            seen.append(text)
    for g in report.groups:
        text = name(g.attribute)
        if text not in seen:
            seen.append(text)
    return seen


def metric_ids(report: Report) -> list[str]:
    """Every metric the report holds, in the order the library produced them."""
    ids: list[str] = list(report.overall.metrics)
    for g in report.groups:
        for key in g.metrics:
            if key not in ids:
                ids.append(key)
    return ids


def groups_of(report: Report, view: str) -> list[GroupResult]:
    return [g for g in report.groups if name(g.attribute) == view]


@dataclass
class Table:
    """A table of report values as text, and the reasons behind its empty cells."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _cell(g: GroupResult, m: str, min_cell_size: int, notes: dict[str, str]) -> str:
    """One metric of one group as a short cell; why it is empty goes to ``notes``."""
    if g.suppressed:
        if g.suppression_reason and not below_minimum(g.suppression_reason, min_cell_size):
            notes.setdefault(name(g.group), suppression_text(g.suppression_reason, min_cell_size))
        return ""
    est = g.metrics.get(m)
    if g.label_metrics_withheld and (est is None or est.estimate is None):
        why = g.suppression_reason
        notes.setdefault(
            name(g.group),
            suppression_text(why, min_cell_size) if why else WITHHELD.format(n=min_cell_size),
        )
        return "withheld"
    if est is not None and est.estimate is None:
        if est.reason:
            notes.setdefault(f"{name(g.group)}, {metric_label(m)}", est.reason)
        return DASH
    definition = find_metric(m)
    return estimate_text(est, count=definition is not None and definition.count)


def _patients(g: GroupResult, min_cell_size: int) -> str:
    hidden = group_status(g, min_cell_size)
    if hidden:
        return hidden
    return DASH if g.n is None else f"{g.n:,}"


def _entries(
    groups: Sequence[GroupResult], overall: GroupResult | None
) -> list[tuple[str, GroupResult]]:
    entries = [("Everyone", overall)] if overall is not None else []
    return entries + [(name(g.group), g) for g in groups]


def _note_lines(notes: dict[str, str]) -> list[str]:
    return [f"{where}: {why}" for where, why in notes.items()]


def metrics_table(
    groups: Sequence[GroupResult],
    metrics: Iterable[str],
    *,
    min_cell_size: int,
    overall: GroupResult | None = None,
) -> Table:
    """One row per group: patients and each metric with its interval; suppressed rows say so."""
    metrics = [m for m in metrics if m != "n"]  # the Patients column
    notes: dict[str, str] = {}
    rows = []
    for label_, g in _entries(groups, overall):
        row: dict[str, str] = {"Group": label_, "Patients": _patients(g, min_cell_size)}
        for m in metrics:
            row[metric_label(m)] = _cell(g, m, min_cell_size, notes)
        rows.append(row)
    return Table(pd.DataFrame(rows), _note_lines(notes))


def metrics_by_group(
    groups: Sequence[GroupResult],
    metrics: Iterable[str],
    *,
    min_cell_size: int,
    overall: GroupResult | None = None,
) -> Table:
    """One row per metric, one column per group (read across a row to compare groups)."""
    entries = _entries(groups, overall)
    notes: dict[str, str] = {}
    rows = [{"Metric": "Patients", **{k: _patients(g, min_cell_size) for k, g in entries}}]
    for m in metrics:
        if m == "n":
            continue
        row = {"Metric": metric_label(m)}
        row.update({k: _cell(g, m, min_cell_size, notes) for k, g in entries})
        rows.append(row)
    return Table(pd.DataFrame(rows), _note_lines(notes))


def metric_points(groups: Sequence[GroupResult], metric: str) -> tuple[pd.DataFrame, list[str]]:
    """Chart data for one metric (estimate and interval per shown group) and the groups left out.

    Suppressed groups and groups without an estimate are left out of the chart
    and listed, so a chart never implies a number the table withholds.
    """
    rows, left_out = [], []
    for g in groups:
        est = g.metrics.get(metric)
        if g.suppressed or est is None or est.estimate is None:
            left_out.append(name(g.group))
            continue
        rows.append(
            {
                "group": name(g.group),
                "estimate": est.estimate,
                "ci_low": est.ci_low if est.ci_low is not None else est.estimate,
                "ci_high": est.ci_high if est.ci_high is not None else est.estimate,
            }
        )
    return pd.DataFrame(rows, columns=["group", "estimate", "ci_low", "ci_high"]), left_out


def disparity_table(rows: Sequence[DisparityResult]) -> pd.DataFrame:
    out = []
    for d in rows:
        out.append(
            {
                "Group": "worst case" if d.group == "worst_case" else name(d.group),
                "Compared with": (
                    (
                        "largest − smallest group"
                        if d.kind == "difference"
                        else "smallest ÷ largest group"
                    )
                    if d.reference is None
                    else name(d.reference)
                ),
                "Kind": d.kind,
                "Value": number(d.estimate) if d.estimate is not None else DASH,
                "95% interval": interval(d.ci_low, d.ci_high),
                "Note": d.reason
                or (
                    "excludes " + ", ".join(name(x) for x in d.excluded_groups)
                    if d.excluded_groups
                    else ""
                ),
            }
        )
    return pd.DataFrame(out)


def disparity_bounds(report: Report, view: str, metric: str, kind: str) -> list[float]:
    """Policy bounds judged on this attribute's ``kind`` of ``metric`` disparity, as read
    from the rule results (a rule's bound applies to the kind whose value it observed)."""
    kinds = {
        (name(d.group), d.estimate)
        for d in report.disparities
        if name(d.attribute) == view and d.metric == metric and d.kind == kind
    }
    values: list[float] = []
    for r in report.policy_results:
        if r.check != "disparity" or r.metric != metric or r.bound is None:
            continue
        if r.attribute is None or name(r.attribute) != view or r.observed is None:
            continue
        observed = r.observed
        if not any(
            g == name(r.group) and e is not None and abs(e - observed) < 1e-9 for g, e in kinds
        ):
            continue
        for v in (r.bound.min, r.bound.max):
            if v is not None and v not in values:
                values.append(v)
    return sorted(values)


def verdict_words(report: Report) -> str:
    """The verdict as a sentence a committee member can read aloud: the verdict summary
    every face prints (:mod:`auditor.judge.verdict`), undecided blocking checks named, with the
    verdict word every file uses (WARN, never "PASS WITH WARNINGS")."""
    from auditor.judge.verdict import verdict_summary
    from reports.findings import headline_text
    from reports.format import VERDICT_WORDS

    word = VERDICT_WORDS[report.verdict]
    text = f"{word} — {headline_text(report)}"
    undecided = verdict_summary(report.policy_results).undecided_text(limit=3)
    return f"{text} {undecided}" if undecided else text


def provisional_rules(report: Report, *, bootstrap: int) -> list[str]:
    """Rules whose result on screen depends on intervals the interactive path did not compute.

    A rule judged on its interval (``bound_on: interval``) passes only when the whole
    interval is inside and fails only when the whole interval is outside, so every
    result it decides needs the interval. Without bootstrap such a result has no
    interval at all (inconclusive); with fewer replicates than the record, its interval
    is not the record's. Either way the verdict cannot be final until they run.
    """
    names: list[str] = []
    for r in report.policy_results:
        if r.bound is None or r.bound.on != "interval" or r.status == "not_evaluable":
            continue
        missing = r.ci_low is None or r.ci_high is None
        if missing or bootstrap > 0:
            title = r.rule_title or r.rule_id
            if title not in names:
                names.append(title)
    return names
