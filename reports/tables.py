"""The tables of the technical report: measures by group, other thresholds, disparities.

Presentation only: which metric goes in which table and how its cell reads. Every
number comes from the report; suppressed groups get a row with their name and
"fewer than N" (or "suppressed", when hidden to protect another group), never a number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.measure.metrics import COUNT_METRICS
from auditor.tasks import all_metric_ids, find_metric, task_hints, task_metrics
from reports import format as fmt
from reports.model import (
    DisparityResult,
    Estimate,
    GroupName,
    GroupResult,
    Report,
    group_key,
)

TABLE_LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "discrimination",
        "Size and discrimination",
        ("n_positive", "prevalence", "auroc", "auprc", "brier", "log_loss"),
    ),
    (
        "calibration",
        "Calibration",
        ("calibration_intercept", "calibration_slope", "oe_ratio", "ece"),
    ),
    (
        "decisions",
        "Decisions at the threshold",
        ("selection_rate", "sensitivity", "specificity", "ppv", "npv", "fnr"),
    ),
    (
        "decisions-more",
        "More decision measures at the threshold",
        ("fpr", "accuracy", "balanced_accuracy", "f1", "net_benefit"),
    ),
)
"""Which metric ids go in which table (presentation only); registry metrics not listed
here are added to the last table so nothing the report holds is hidden."""
MAX_COLUMNS = 7
KEY_DISPARITY_METRICS = ("sensitivity", "fnr", "fpr", "selection_rate", "ppv", "auroc")
MISSING_COLUMNS = 7


@dataclass(frozen=True)
class Cell:
    value: str
    interval: str = ""
    note: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    n: str
    cells: tuple[Cell, ...]
    suppressed: bool = False
    withheld: bool = False
    reference: bool = False
    note: str = ""
    tag: str = ""
    """Short badge of a withheld row, by the group's own reason ("few events", "withheld")."""


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    caption: str
    columns: tuple[str, ...]
    column_notes: tuple[str, ...]
    rows: tuple[Row, ...]
    label_header: str = "Group"
    n_header: str = "Patients"
    show_n: bool = True


def groups_of(report: Report, attr_key: tuple[str, ...]) -> list[GroupResult]:
    return [g for g in report.groups if group_key(g.attribute, "")[0] == attr_key]


def reference_of(report: Report, attr_key: tuple[str, ...]) -> GroupName | None:
    for info in report.attributes:
        if group_key(info.name, "")[0] == attr_key:
            return info.reference
    return None


def withheld_note(group: GroupResult, min_cell_size: int) -> str:
    """Why a group's outcome-based measures are withheld, in the group's own words."""
    if group.suppression_reason:
        return fmt.SHORT_REASONS.get(group.suppression_reason, group.suppression_reason)
    return f"{fmt.fewer_than(min_cell_size)} events or non-events: outcome-based measures withheld"


def _cell(group: GroupResult, metric_id: str, min_cell_size: int) -> Cell:
    e = group.metrics.get(metric_id)
    if e is None:
        if group.label_metrics_withheld:
            return Cell(fmt.NO_VALUE, "", withheld_note(group, min_cell_size))
        return Cell(fmt.NO_VALUE, "", "not computed")
    if _is_count(metric_id):
        return Cell(fmt.count(e.estimate), "", e.reason or "")
    value, ci = fmt.estimate_parts(e)
    return Cell(value, ci, e.reason or "")


def _table_columns(groups: Sequence[GroupResult]) -> list[tuple[str, str, list[str]]]:
    present = {m for g in groups if not g.suppressed for m in g.metrics}
    layout = [(k, t, [m for m in ids if m in present]) for k, t, ids in TABLE_LAYOUT]
    placed = {m for _, _, ids in TABLE_LAYOUT for m in ids} | {"n", "n_negative"}
    known = all_metric_ids()
    extra = [m for m in known if m in present and m not in placed]
    extra += sorted(m for m in present if m not in known and m not in placed)
    while extra:
        ids = layout[-1][2]
        room = MAX_COLUMNS - len(ids)
        if room > 0:
            ids.extend(extra[:room])
            extra = extra[room:]
        if extra:
            layout.append((f"more-{len(layout)}", "Further measures", []))
    return [(k, t, ids) for k, t, ids in layout if ids]


def metric_tables(report: Report, attr_key: tuple[str, ...], label: str) -> list[Table]:
    groups = groups_of(report, attr_key)
    hidden = report.suppression_reasons()
    ref = reference_of(report, attr_key)
    ref_key = group_key(attr_key_name(attr_key), ref)[1] if ref is not None else None
    tables: list[Table] = []
    for index, (key, title, ids) in enumerate(_table_columns(groups)):
        first = index == 0
        rows: list[Row] = []
        for g in groups:
            secret = g.suppressed or group_key(g.attribute, g.group) in hidden
            if secret and not first:
                continue
            is_ref = ref_key is not None and group_key(g.attribute, g.group)[1] == ref_key
            if secret:
                why = hidden.get(group_key(g.attribute, g.group), g.suppression_reason)
                rows.append(
                    Row(
                        label=fmt.group_label(g.group),
                        n=fmt.suppressed_size(why, report.min_cell_size),
                        cells=(),
                        suppressed=True,
                        note=f"numbers withheld: {fmt.suppression_text(why, report.min_cell_size)}",
                    )
                )
                continue
            rows.append(
                Row(
                    label=fmt.group_label(g.group),
                    n=fmt.patients(g.n, g.n_encounters),
                    cells=tuple(_cell(g, m, report.min_cell_size) for m in ids),
                    withheld=g.label_metrics_withheld,
                    reference=is_ref,
                    note=(
                        withheld_note(g, report.min_cell_size) if g.label_metrics_withheld else ""
                    ),
                    tag=(
                        fmt.withheld_tag(g.suppression_reason, report.min_cell_size)
                        if g.label_metrics_withheld
                        else ""
                    ),
                )
            )
        at = f" ({fmt.flagged_at(report)})"
        registry = task_metrics(report.task)
        needs_t = any(registry[m].needs_threshold for m in ids if m in registry)
        caption = (
            f"By {label} group{at if needs_t else ''}. Point estimate above, 95% interval below."
        )
        tables.append(
            Table(
                key=key,
                title=title,
                caption=caption,
                columns=tuple(fmt.metric_name(m) for m in ids),
                column_notes=tuple(fmt.metric_meaning(m) for m in ids),
                rows=tuple(rows),
                label_header=label,
            )
        )
    return tables


def attr_key_name(attr_key: tuple[str, ...]) -> GroupName:
    return attr_key[0] if len(attr_key) == 1 else list(attr_key)


def threshold_table(report: Report, attr_key: tuple[str, ...], label: str) -> Table | None:
    """Key decision measures at every other threshold the spec asked for."""
    groups = [g for g in groups_of(report, attr_key) if not g.suppressed]
    hidden = report.suppressed_keys()
    thresholds: list[str] = []
    for g in groups:
        for t in g.by_threshold:
            if t not in thresholds and not _same_threshold(t, report.threshold):
                thresholds.append(t)
    if not thresholds:
        return None
    candidates = task_hints(report.task).threshold_metrics or [
        m for m, d in task_metrics(report.task).items() if d.needs_threshold
    ]
    ids = [
        m
        for m in candidates
        if any(m in g.by_threshold.get(t, {}) for g in groups for t in thresholds)
    ]
    rows = []
    for t in thresholds:
        for g in groups:
            if group_key(g.attribute, g.group) in hidden:
                continue
            metrics = g.by_threshold.get(t)
            if not metrics:
                continue
            cells = []
            for m in ids:
                value, ci = fmt.estimate_parts(metrics.get(m))
                cells.append(Cell(value, ci))
            rows.append(
                Row(label=f"{fmt.group_label(g.group)}", n=_threshold_label(t), cells=tuple(cells))
            )
    return Table(
        key="other-thresholds",
        title="At the other thresholds",
        caption=f"Decision measures by {label} group at the other thresholds in the spec.",
        columns=tuple(fmt.metric_name(m) for m in ids),
        column_notes=tuple(fmt.metric_meaning(m) for m in ids),
        rows=tuple(rows),
        label_header=label,
        n_header="Threshold",
    )


def _same_threshold(key: str, threshold: float) -> bool:
    try:
        return abs(float(key) - threshold) < 1e-12
    except ValueError:
        return False


def _threshold_label(key: str) -> str:
    try:
        return fmt.number(float(key))
    except ValueError:
        return key


def disparity_tables(report: Report, attr_key: tuple[str, ...], label: str) -> list[Table]:
    """Differences and ratios vs the reference: groups as rows, judged and key metrics as
    columns."""
    hidden = report.suppressed_keys()
    judged = [
        r.metric
        for r in report.policy_results
        if r.check == "disparity"
        and r.metric
        and r.attribute is not None
        and group_key(r.attribute, "")[0] == attr_key
    ]
    items = [
        d
        for d in report.disparities
        if group_key(d.attribute, "")[0] == attr_key
        and (d.group == "worst_case" or group_key(d.attribute, d.group) not in hidden)
    ]
    present = {d.metric for d in items}
    key_metrics = task_hints(report.task).disparity_metrics
    wanted = [m for m in dict.fromkeys([*judged, *key_metrics]) if m in present]
    wanted = wanted[:MAX_COLUMNS]
    if not wanted:
        return []
    ref = reference_of(report, attr_key)
    ref_text = fmt.group_label(ref) if ref is not None else "the reference group"
    excluded = sorted({fmt.group_label(x) for d in items for x in d.excluded_groups})
    tables = []
    judged_kinds = {
        d.kind
        for r in report.policy_results
        if r.check == "disparity"
        and r.attribute is not None
        and group_key(r.attribute, "")[0] == attr_key
        for d in items
        if d.metric == r.metric and d.estimate is not None and d.estimate == r.observed
    }
    for kind, title, worst, sign in (
        ("difference", "Differences from the reference group", "worst case (max − min)", "−"),
        ("ratio", "Ratios to the reference group", "worst case (min / max)", "/"),
    ):
        if kind == "ratio" and "ratio" not in judged_kinds:
            continue  # ratios no rule judged stay in report.json
        cells: dict[str, dict[str, DisparityResult]] = {}
        for d in items:
            if d.kind == kind and d.metric in wanted:
                cells.setdefault(json.dumps(d.group), {})[d.metric] = d
        if not cells:
            continue
        order = sorted(cells, key=lambda g: g == '"worst_case"')
        rows = []
        for g in order:
            first = next(iter(cells[g].values()))
            is_worst = first.group == "worst_case"
            row_cells = []
            for m in wanted:
                found = cells[g].get(m)
                if found is None:
                    row_cells.append(Cell(fmt.NO_VALUE))
                    continue
                value, ci = fmt.estimate_parts(_as_estimate(found))
                row_cells.append(Cell(value, ci, found.reason or ""))
            rows.append(
                Row(
                    label=worst if is_worst else fmt.group_label(first.group),
                    n="",
                    cells=tuple(row_cells),
                )
            )
        caption = (
            f"Each {label} group {'minus' if kind == 'difference' else 'divided by'} "
            f"{ref_text} (group {sign} reference), with 95% bootstrap intervals."
        )
        if excluded:
            caption += f" Suppressed groups left out: {', '.join(excluded)}."
        tables.append(
            Table(
                key=f"disparity-{kind}",
                title=title,
                caption=caption,
                columns=tuple(fmt.metric_name(m) for m in wanted),
                column_notes=tuple(fmt.metric_meaning(m) for m in wanted),
                rows=tuple(rows),
                label_header=label,
                show_n=False,
            )
        )
    return tables


def _as_estimate(d: DisparityResult) -> Estimate:
    return Estimate(estimate=d.estimate, ci_low=d.ci_low, ci_high=d.ci_high)


def _is_count(metric_id: str) -> bool:
    """Counts are shown as whole numbers without an interval (every task's registry)."""
    if metric_id in COUNT_METRICS:
        return True
    definition = find_metric(metric_id)
    return definition is not None and definition.count


def overall_rows(report: Report) -> list[tuple[str, str, str]]:
    rows = []
    registry = list(task_metrics(report.task))
    ordered = registry + [m for m in report.overall.metrics if m not in registry]
    for m in ordered:
        e = report.overall.metrics.get(m)
        if e is None:
            continue
        if _is_count(m):
            rows.append((fmt.metric_name(m), fmt.count(e.estimate), ""))
        else:
            value, ci = fmt.estimate_parts(e)
            rows.append((fmt.metric_name(m), value, ci))
    return rows
