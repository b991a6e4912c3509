"""Subgroups: every metric of every group and intersection, with intervals; tables, charts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from auditor.dashboard import charts, display
from auditor.dashboard.widgets import show_table

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext


def _threshold_table(ctx: ViewContext, view: str) -> pd.DataFrame | None:
    """Threshold metrics at every threshold of the audit: a row per group and threshold."""
    report = ctx.report
    rows = []
    for g in display.groups_of(report, view):
        hidden = display.group_status(g, report.min_cell_size)
        for t, metrics in g.by_threshold.items():
            row = {"Group": display.name(g.group), "Threshold": t}
            for m, est in metrics.items():
                row[display.metric_label(m)] = hidden or display.estimate_text(est)
            rows.append(row)
    if len({r["Threshold"] for r in rows}) < 2:
        return None
    return pd.DataFrame(rows)


def render(ctx: ViewContext) -> None:
    report = ctx.report
    views = display.views(report)
    if not views:
        st.info("The report holds no sensitive attribute.")
        return
    view = st.selectbox(
        "Attribute or intersection",
        views,
        key="subgroups_view",
        help="Intersections cross two or more attributes (e.g. race × sex).",
    )
    groups = display.groups_of(report, view)
    metrics = display.metric_ids(report)
    st.caption(
        f"Estimate (95% interval) at threshold {report.threshold:g}. "
        + display.SUPPRESSION_CAPTION.format(n=report.min_cell_size)
        + " A group whose outcome-based measures are withheld (too few patients with or "
        "without the outcome, or to protect another group's count) shows only its size "
        "and selection rate. Read across a row to compare groups."
    )
    table = display.metrics_by_group(
        groups, metrics, min_cell_size=report.min_cell_size, overall=report.overall
    )
    show_table(table, full=True)

    st.subheader("Chart")
    chartable = [m for m in metrics if m != "n"]
    default = chartable.index("sensitivity") if "sensitivity" in chartable else 0
    metric = st.selectbox(
        "Metric",
        chartable,
        index=default,
        format_func=display.metric_label,
        key="subgroups_metric",
    )
    points, left_out = display.metric_points(groups, metric)
    overall = report.overall.metrics.get(metric)
    if points.empty:
        st.info("No group of this view has an estimate for this metric.")
    else:
        st.altair_chart(
            charts.estimate_bars(
                points,
                title=display.metric_label(metric),
                reference_line=overall.estimate if overall else None,
            ),
            width="stretch",
        )
        st.caption("Dots are estimates, whiskers 95% intervals; the dashed line is everyone.")
    if left_out:
        st.caption("Not charted (suppressed or no estimate): " + ", ".join(left_out) + ".")
    by_threshold = _threshold_table(ctx, view)
    if by_threshold is not None:
        st.subheader("At every threshold of the audit")
        st.dataframe(by_threshold, hide_index=True, width="stretch")
