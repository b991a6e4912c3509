"""Fairness: disparities against a reference group the user picks, fairlearn's named metrics.

Changing the reference group (here) or the threshold (sidebar) re-measures from
the cached statistics; the caption says how long that took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from auditor.dashboard import charts, display
from auditor.dashboard.display import Table
from auditor.dashboard.widgets import show_table
from reports.format import listing_by_reason
from reports.model import AttributeInfo, DisparityResult

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext


def _store_reference(settings: dict[str, Any], attribute: str, key: str) -> None:
    settings["references"][attribute] = st.session_state[key]


def _reference_pickers(ctx: ViewContext) -> None:
    attributes = [a for a in ctx.report.attributes if isinstance(a.name, str)]
    if not attributes:
        return
    st.markdown("**Reference groups** (each group is compared with its attribute's reference)")
    cols = st.columns(min(len(attributes), 4))
    for i, info in enumerate(attributes):
        _picker(ctx, info, cols[i % len(cols)])


def _picker(ctx: ViewContext, info: AttributeInfo, col: Any) -> None:
    suppressed = {display.name(g) for g in info.suppressed_groups}
    options = [display.name(g) for g in info.groups if display.name(g) not in suppressed]
    if not options:
        return
    attribute = str(info.name)
    current = ctx.references.get(attribute) or display.name(info.reference)
    key = f"reference::{attribute}"
    col.selectbox(
        attribute,
        options,
        index=options.index(current) if current in options else 0,
        key=key,
        disabled=ctx.live is None,
        on_change=_store_reference,
        args=(ctx.settings, attribute, key),
    )


def _fairness_metrics(ctx: ViewContext) -> None:
    """fairlearn's named metrics: one row per metric, one column per attribute."""
    rows: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for f in ctx.report.fairness_metrics:
        row = rows.setdefault(
            f.name, {"Metric": f.name.replace("_", " "), "Equals": f.reference_implementation}
        )
        ci = display.interval(f.ci_low, f.ci_high)
        value = display.number(f.estimate)
        row[display.name(f.attribute)] = f"{value} ({ci})" if ci else value
        if f.reason:
            notes.append(f"{f.name.replace('_', ' ')}, {display.name(f.attribute)}: {f.reason}")
    if not rows:
        return
    st.subheader("Fairness metrics (as fairlearn defines them)")
    frame = pd.DataFrame(list(rows.values()))
    frame = frame[[c for c in frame.columns if c != "Equals"] + ["Equals"]].fillna("")
    show_table(Table(frame, notes), notes_title="Why some metrics are missing")


def _difference_points(rows: list[DisparityResult]) -> pd.DataFrame:
    points = [
        {
            "group": display.name(d.group),
            "estimate": d.estimate,
            "ci_low": d.ci_low if d.ci_low is not None else d.estimate,
            "ci_high": d.ci_high if d.ci_high is not None else d.estimate,
        }
        for d in rows
        if d.estimate is not None and d.group != "worst_case"
    ]
    return pd.DataFrame(points, columns=["group", "estimate", "ci_low", "ci_high"])


def render(ctx: ViewContext) -> None:
    report = ctx.report
    if ctx.live is None:
        st.info("Read-only report: the reference groups are those the audit was run with.")
    _reference_pickers(ctx)
    if ctx.timed is not None:
        st.caption(
            f"Threshold {report.threshold:g} (sidebar). Re-measured in "
            f"{ctx.timed.seconds:.2f} s from the cached statistics with "
            f"{ctx.timed.bootstrap:,} bootstrap replicates"
            + (
                "; interactive mode — the audit's full bootstrap is computed in the background "
                "and replaces these numbers when ready."
                if not ctx.full_intervals
                else "."
            )
        )
    st.subheader("Disparities")
    views = sorted({display.name(d.attribute) for d in report.disparities}, key=_view_order(ctx))
    metrics = sorted({d.metric for d in report.disparities}, key=_metric_order(ctx))
    if not views or not metrics:
        st.info("The report holds no disparities.")
        _fairness_metrics(ctx)
        return
    c1, c2, c3 = st.columns(3)
    view = c1.selectbox("Attribute or intersection", views, key="fairness_view")
    default = metrics.index("sensitivity") if "sensitivity" in metrics else 0
    metric = c2.selectbox(
        "Metric", metrics, index=default, format_func=display.metric_label, key="fairness_metric"
    )
    kind = c3.radio("Compare as", ["difference", "ratio"], horizontal=True, key="fairness_kind")
    hidden = display.suppressed_keys(report)
    rows = [
        d
        for d in report.disparities
        if display.name(d.attribute) == view
        and d.metric == metric
        and d.kind == kind
        and (view, display.name(d.group)) not in hidden
    ]
    if not rows:
        st.info("No disparity of this kind for this metric and view.")
        _fairness_metrics(ctx)
        return
    st.dataframe(display.disparity_table(rows), hide_index=True, width="stretch")
    points = _difference_points(rows)
    if not points.empty:
        st.altair_chart(
            charts.estimate_bars(
                points,
                title=f"{display.metric_label(metric)}: {kind} to the reference",
                reference_line=0.0 if kind == "difference" else 1.0,
            ),
            width="stretch",
        )
        st.caption(
            "Dots are the group's "
            + ("difference from" if kind == "difference" else "ratio to")
            + " the reference group, whiskers 95% intervals; the dashed line is parity."
        )
    excluded = {display.name(g): g for d in rows for g in d.excluded_groups}
    if excluded:
        attribute = rows[0].attribute
        st.caption(
            "Left out: "
            + display.plain(
                listing_by_reason(
                    (text, display.hidden_text(report, attribute, excluded[text]))
                    for text in sorted(excluded)
                )
            )
            + "."
        )
    _fairness_metrics(ctx)


def _view_order(ctx: ViewContext) -> Any:
    order = display.views(ctx.report)
    return lambda v: order.index(v) if v in order else len(order)


def _metric_order(ctx: ViewContext) -> Any:
    order = display.metric_ids(ctx.report)
    return lambda m: order.index(m) if m in order else len(order)
