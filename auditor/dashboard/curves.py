"""Calibration and ROC curves per group, as the report holds them (suppressed groups have none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from auditor.dashboard import charts, display
from auditor.tasks import task_capabilities

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext


def _roc_frame(ctx: ViewContext, view: str) -> tuple[pd.DataFrame, list[str]]:
    rows: list[dict[str, Any]] = []
    legend: list[str] = []
    hidden = display.suppressed_keys(ctx.report)
    for curve in ctx.report.curves.roc:
        if display.name(curve.attribute) != view or (view, display.name(curve.group)) in hidden:
            continue
        group = display.name(curve.group)
        auroc = f" (AUROC {curve.auroc:.3f})" if curve.auroc is not None else ""
        legend.append(f"{group}{auroc}")
        rows.extend(
            {"group": f"{group}{auroc}", "fpr": x, "tpr": y, "order": i}
            for i, (x, y) in enumerate(zip(curve.fpr, curve.tpr, strict=False))
        )
    return pd.DataFrame(rows, columns=["group", "fpr", "tpr", "order"]), legend


def _operating_points(ctx: ViewContext, view: str, legend: list[str]) -> pd.DataFrame:
    """Each drawn group's (false positive rate, sensitivity) at the threshold, from the report."""
    labels = {entry.split(" (AUROC")[0]: entry for entry in legend}
    rows = []
    for g in display.groups_of(ctx.report, view):
        group = display.name(g.group)
        fpr, tpr = g.metrics.get("fpr"), g.metrics.get("sensitivity")
        if g.suppressed or group not in labels or fpr is None or tpr is None:
            continue
        if fpr.estimate is None or tpr.estimate is None:
            continue
        rows.append({"group": labels[group], "fpr": fpr.estimate, "tpr": tpr.estimate})
    return pd.DataFrame(rows, columns=["group", "fpr", "tpr"])


def _calibration_frame(ctx: ViewContext, view: str) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    hidden = display.suppressed_keys(ctx.report)
    for curve in ctx.report.curves.calibration:
        if display.name(curve.attribute) != view or (view, display.name(curve.group)) in hidden:
            continue
        rows.extend(
            {
                "group": display.name(curve.group),
                "mean_predicted": b.mean_predicted,
                "observed": b.observed,
            }
            for b in curve.bins
        )
    return pd.DataFrame(rows, columns=["group", "mean_predicted", "observed"])


def _without_curve(ctx: ViewContext, view: str, drawn: set[str]) -> list[str]:
    return [
        display.name(g.group)
        for g in display.groups_of(ctx.report, view)
        if display.name(g.group) not in drawn
    ]


def render_task(ctx: ViewContext) -> None:
    """The task's own views, drawn from the chart data the report holds: Kaplan–Meier
    and calibration at the horizon (survival), binned residuals (regression), confusion
    matrices (multiclass)."""
    report = ctx.report
    curves = report.curves
    hidden = display.suppressed_keys(report)
    named: list[Any] = [*curves.kaplan_meier, *curves.residuals, *curves.confusion]
    views = list(dict.fromkeys(display.name(c.attribute) for c in named))
    if not views:
        st.info("The report holds no curves (every group is suppressed or withheld).")
        return
    view = st.selectbox("Attribute or intersection", views, key="curves_view")

    def shown(c: Any) -> bool:
        return display.name(c.attribute) == view and (view, display.name(c.group)) not in hidden

    if curves.kaplan_meier:
        left, right = st.columns(2)
        with left:
            st.subheader("Kaplan–Meier by group")
            km = pd.DataFrame(
                [
                    {"group": display.name(c.group), "time": t, "survival": s}
                    for c in curves.kaplan_meier
                    if shown(c)
                    for t, s in zip(c.time, c.survival, strict=True)
                ],
                columns=["group", "time", "survival"],
            )
            st.altair_chart(
                charts.km_chart(km, report.task_settings.get("horizon")), width="stretch"
            )
            st.caption(
                "Event-free survival up to the horizon (dashed). Each step holds at least "
                f"{report.min_cell_size} events."
            )
        with right:
            st.subheader("Calibration at the horizon")
            cal = _calibration_frame(ctx, view)
            if cal.empty:
                st.info("No group has enough patients per bin for a calibration curve.")
            else:
                st.altair_chart(charts.calibration_chart(cal), width="stretch")
                st.caption("Observed risk is 1 − Kaplan–Meier at the horizon in each risk bin.")
    elif curves.residuals:
        st.subheader("Residuals by group")
        res = pd.DataFrame(
            [
                {"group": display.name(c.group), **b.model_dump()}
                for c in curves.residuals
                if shown(c)
                for b in c.bins
            ],
            columns=["group", "mean_predicted", "mean_residual"],
        )
        st.altair_chart(charts.residual_chart(res), width="stretch")
        st.caption(
            "Above the grey line the model under-predicts. Bins hold at least "
            f"{report.min_cell_size} patients."
        )
    else:
        st.subheader("Confusion matrix by group")
        for c in curves.confusion:
            if not shown(c):
                continue
            st.markdown(f"**{display.plain(display.name(c.group))}** (rows: true class)")
            table = pd.DataFrame(
                [["withheld" if v is None else str(v) for v in row] for row in c.counts],
                index=c.classes,
                columns=c.classes,
            )
            st.dataframe(table)
        st.caption(
            f"Cells with fewer than {report.min_cell_size} patients, and cells that would "
            "reveal them from a row or column or from another group's figures, are withheld."
        )


def render(ctx: ViewContext) -> None:
    report = ctx.report
    if not task_capabilities(report.task).threshold_curves:
        render_task(ctx)
        return
    views = [
        v
        for v in display.views(report)
        if any(display.name(c.attribute) == v for c in report.curves.roc)
        or any(display.name(c.attribute) == v for c in report.curves.calibration)
    ]
    if not views:
        st.info("The report holds no curves.")
        return
    view = st.selectbox("Attribute or intersection", views, key="curves_view")
    left, right = st.columns(2)
    with left:
        st.subheader("Calibration")
        cal = _calibration_frame(ctx, view)
        if cal.empty:
            st.info("No group has enough patients per bin for a calibration curve.")
        else:
            st.altair_chart(charts.calibration_chart(cal), width="stretch")
            st.caption(
                "Points on the dashed line mean predicted risk matches what happened. Only bins "
                f"with at least {report.min_cell_size} patients are drawn."
            )
    with right:
        st.subheader("ROC")
        roc, legend = _roc_frame(ctx, view)
        if roc.empty:
            st.info("No group of this view has a ROC curve.")
        else:
            points = _operating_points(ctx, view, legend)
            st.altair_chart(charts.roc_chart(roc, points), width="stretch")
            st.caption(
                "Higher and further left is better; the dashed line is chance. Diamonds mark "
                f"each group at the decision threshold {report.threshold:g}."
            )
    hidden = display.suppressed_keys(report)
    drawn = {
        display.name(c.group)
        for c in report.curves.roc
        if display.name(c.attribute) == view and (view, display.name(c.group)) not in hidden
    }
    missing = _without_curve(ctx, view, drawn)
    if missing:
        st.caption(
            display.plain(
                "No curve (suppressed, or outcome-based measures withheld): "
                + ", ".join(missing)
                + "."
            )
        )
