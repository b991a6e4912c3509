"""How report values read on screen: one place for labels, numbers and suppression text.

Formatting only; every number shown comes from the report the library built.
Suppressed groups are never given a number: they read "fewer than N patients".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from auditor.compare import label
from reports.model import DisparityResult, Estimate, GroupResult, Report

SUPPRESSED = "fewer than {n} patients"
WITHHELD = "withheld: fewer than {n} positives or negatives"
DASH = "—"
KEY_METRICS = (
    "prevalence",
    "selection_rate",
    "sensitivity",
    "specificity",
    "ppv",
    "auroc",
    "calibration_slope",
    "oe_ratio",
)
"""Metrics shown per group on the Overview, when the report holds them."""

_FALLBACK_LABELS = {
    "n": "Patients",
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "ppv": "PPV",
    "npv": "NPV",
    "fpr": "False positive rate",
    "fnr": "False negative rate",
    "tpr": "Sensitivity (TPR)",
    "oe_ratio": "Observed/expected",
    "ece": "ECE",
    "f1": "F1",
}


def name(value: Any) -> str:
    """An attribute or group as text; intersections joined with ' × ' (as in compare)."""
    return label(value)


def metric_label(metric_id: str) -> str:
    """The registry's human label for a metric id, else a readable form of the id."""
    try:
        from auditor.metrics import METRICS
    except ImportError:
        metric = None
    else:
        metric = METRICS.get(metric_id)
    for attr in ("label", "title", "name"):
        text = getattr(metric, attr, None)
        if isinstance(text, str) and text and text != metric_id:
            return text
    return _FALLBACK_LABELS.get(metric_id, metric_id.replace("_", " ").capitalize())


def number(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    if low is None or high is None:
        return ""
    return f"{low:.{digits}f}–{high:.{digits}f}"


def estimate_text(est: Estimate | None, digits: int = 3) -> str:
    """'0.812 (0.790–0.833)', or the reason the number is missing."""
    if est is None:
        return DASH
    if est.estimate is None:
        return f"{DASH} ({est.reason})" if est.reason else DASH
    ci = interval(est.ci_low, est.ci_high, digits)
    return f"{est.estimate:.{digits}f} ({ci})" if ci else f"{est.estimate:.{digits}f}"


def group_status(group: GroupResult, min_cell_size: int) -> str | None:
    """The suppression text a group shows instead of numbers, if any."""
    if group.suppressed:
        return SUPPRESSED.format(n=min_cell_size)
    return None


def is_view(group: GroupResult, view: Any) -> bool:
    return name(group.attribute) == name(view)


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


def metrics_table(
    groups: Sequence[GroupResult],
    metrics: Iterable[str],
    *,
    min_cell_size: int,
    overall: GroupResult | None = None,
) -> pd.DataFrame:
    """One row per group: n and each metric with its interval, as text; suppressed rows say so."""
    metrics = list(metrics)
    rows = []
    entries = ([overall] if overall is not None else []) + list(groups)
    for g in entries:
        row: dict[str, str] = {"Group": "Everyone" if g is overall else name(g.group)}
        hidden = group_status(g, min_cell_size)
        row["Patients"] = hidden if hidden else (DASH if g.n is None else f"{g.n:,}")
        for m in metrics:
            if hidden:
                row[metric_label(m)] = hidden
            elif g.label_metrics_withheld and m not in g.metrics:
                row[metric_label(m)] = WITHHELD.format(n=min_cell_size)
            else:
                row[metric_label(m)] = estimate_text(g.metrics.get(m))
        rows.append(row)
    return pd.DataFrame(rows)


def metric_points(
    groups: Sequence[GroupResult], metric: str
) -> tuple[pd.DataFrame, list[str]]:
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
                "Compared with": "max − min / min ÷ max"
                if d.reference is None
                else name(d.reference),
                "Kind": d.kind,
                "Value": number(d.estimate) if d.estimate is not None else DASH,
                "95% interval": interval(d.ci_low, d.ci_high),
                "Note": d.reason or (
                    "excludes " + ", ".join(name(x) for x in d.excluded_groups)
                    if d.excluded_groups
                    else ""
                ),
            }
        )
    return pd.DataFrame(out)


def verdict_words(report: Report) -> str:
    """The verdict as a sentence a committee member can read aloud."""
    c = report.counts
    if report.verdict == "fail":
        n = c.blocking_failures
        return (
            f"FAIL — {n} blocking rule{'s' if n != 1 else ''} failed. "
            "The model should not be deployed as audited until these are resolved."
        )
    if report.verdict == "warn":
        n = c.warnings
        return (
            f"PASS WITH WARNINGS — no blocking rule failed, but {n} warning"
            f"{'s' if n != 1 else ''} need a reviewer's attention."
        )
    return "PASS — every rule that could be evaluated passed."
