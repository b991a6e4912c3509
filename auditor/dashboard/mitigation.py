"""Mitigation what-if: per-group thresholds under a fairness constraint, next to the model as is.

Clearly analysis, not a change: the audited report, its verdict and its exports
are untouched. The computation is :func:`auditor.measure.mitigation.what_if` on the
cached statistics; this view only draws its aggregates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import altair as alt
import pandas as pd
import streamlit as st

from auditor.dashboard import display, state
from auditor.dashboard.charts import ROW_STEP
from auditor.measure.mitigation import (
    CONSTRAINT_WORDS,
    CONSTRAINTS,
    METHODS,
    OBJECTIVES,
    REPORTED_METRICS,
    WhatIf,
    publish_what_if,
    what_if,
)
from auditor.tasks import task_capabilities

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

METHOD_WORDS = {
    "threshold_optimizer": "fairlearn ThresholdOptimizer",
    "per_group_thresholds": "One fixed threshold per group",
}
METHOD_HELP = (
    "ThresholdOptimizer (Hardt et al.) finds the best thresholds under the constraint and may "
    "randomize between two thresholds in a group; one fixed threshold per group picks, for "
    "each group, the threshold whose rate comes closest to everyone's now."
)
OBJECTIVE_WORDS = {
    "accuracy_score": "accuracy",
    "balanced_accuracy_score": "balanced accuracy",
}


@st.cache_resource(show_spinner="Running the what-if…", max_entries=32)
def _cached(
    key: str,
    view: tuple[str, ...],
    threshold: float,
    constraint: str,
    method: str,
    objective: str,
    min_cell_size: int,
    _stats: Any,
) -> WhatIf:
    return what_if(
        _stats,
        view=view,
        threshold=threshold,
        constraint=constraint,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        objective=objective,  # type: ignore[arg-type]
        min_cell_size=min_cell_size,
    )


def _rules_table(result: WhatIf) -> pd.DataFrame:
    rows = []
    for g in result.groups:
        if g.suppressed:
            rule = display.SUPPRESSED.format(n=result.min_cell_size)
        elif g.rule is None:
            rule = g.note or ""
        else:
            rule = g.rule.describe()
        rows.append(
            {
                "Group": g.group,
                "Patients": "" if g.suppressed or g.n is None else f"{g.n:,}",
                "Decision rule in the what-if": rule,
            }
        )
    return pd.DataFrame(rows)


def _metrics_table(result: WhatIf, metrics: list[str]) -> pd.DataFrame:
    rows = []
    everyone = {"Group": "Everyone"}
    for m in metrics:
        everyone[f"{display.metric_label(m)}: now"] = display.number(result.overall_current[m])
        everyone[f"{display.metric_label(m)}: what-if"] = display.number(
            result.overall_mitigated[m]
        )
    rows.append(everyone)
    for g in result.groups:
        row = {"Group": g.group}
        for m in metrics:
            if g.suppressed:
                now = then = display.SUPPRESSED.format(n=result.min_cell_size)
            else:
                now = display.number(g.current.get(m))
                then = display.number(g.mitigated.get(m))
            row[f"{display.metric_label(m)}: now"] = now
            row[f"{display.metric_label(m)}: what-if"] = then
        rows.append(row)
    return pd.DataFrame(rows)


def _dumbbell(result: WhatIf, metric: str) -> alt.LayerChart | None:
    points = []
    for g in result.groups:
        if g.suppressed or not g.post_processed:
            continue
        for label, values in (("now", g.current), ("what-if", g.mitigated)):
            value = values.get(metric)
            if value is not None:
                points.append({"group": g.group, "when": label, "value": value})
    if not points:
        return None
    data = pd.DataFrame(points)
    base = alt.Chart(data).encode(y=alt.Y("group:N", title=None, sort=None))
    line = base.mark_line(color="#b8c2cc").encode(x="value:Q", detail="group:N")
    dots = base.mark_circle(size=110).encode(
        x=alt.X("value:Q", title=display.metric_label(metric), scale=alt.Scale(zero=False)),
        color=alt.Color(
            "when:N",
            title=None,
            scale=alt.Scale(domain=["now", "what-if"], range=["#7a869a", "#1f5fa8"]),
        ),
        tooltip=["group:N", "when:N", alt.Tooltip("value:Q", format=".3f")],
    )
    return cast(alt.LayerChart, alt.layer(line, dots).properties(height=alt.Step(ROW_STEP)))


NOT_BINARY = (
    "The mitigation what-if moves per-group decision thresholds on a binary classifier's "
    "scores; this audit's task is {task}, so there is nothing to move here."
)


def render(ctx: ViewContext) -> None:
    if not task_capabilities(ctx.report.task).mitigation:
        st.info(NOT_BINARY.format(task=ctx.report.task))
        return
    st.warning(
        "**Analysis, not a change to the model.** This what-if shows what per-group "
        "decision thresholds would do; the audited report, its verdict and its exports "
        "are unchanged."
    )
    if ctx.live is None:
        st.info("A what-if needs the audit's statistics: open a spec, not a past report.json.")
        return
    spec = ctx.live.spec
    views = [*([a] for a in spec.sensitive), *(list(i) for i in spec.intersections)]
    labels = [" × ".join(v) for v in views]
    c1, c2, c3 = st.columns(3)
    view_label = c1.selectbox("Groups of", labels, key="mitigation_view")
    constraint = c2.selectbox(
        "Constraint",
        list(CONSTRAINTS),
        index=list(CONSTRAINTS).index("true_positive_rate_parity"),
        format_func=lambda c: CONSTRAINT_WORDS[c],
        key="mitigation_constraint",
    )
    method = c3.selectbox(
        "Method",
        list(METHODS),
        format_func=lambda m: METHOD_WORDS[m],
        key="mitigation_method",
        help=METHOD_HELP,
    )
    objective = "balanced_accuracy_score"
    if method == "threshold_optimizer":
        objective = st.radio(
            "ThresholdOptimizer maximizes",
            list(OBJECTIVES),
            index=list(OBJECTIVES).index("balanced_accuracy_score"),
            format_func=lambda o: OBJECTIVE_WORDS[o],
            horizontal=True,
            key="mitigation_objective",
        )
    view = tuple(views[labels.index(view_label)])
    result = state.guarded(
        _cached,
        ctx.live.key,
        view,
        round(float(ctx.threshold), 6),
        constraint,
        method,
        objective,
        int(spec.min_cell_size),
        ctx.live.prepared.stats,
    )
    if result is None:
        return
    # never more than the published report: its figures now, and what-if figures only
    # where differencing the two cannot isolate a small count
    result = publish_what_if(result, ctx.report, ctx.live.prepared.stats, view=view)
    st.caption(
        f"Now: one threshold {result.threshold:g} for everyone (sidebar). What-if: "
        f"{CONSTRAINT_WORDS[constraint]} across {display.plain(view_label)}. "
        + display.plain(" ".join(result.notes))
    )
    st.subheader("Trade-off")
    cols = st.columns(len(result.gaps) + 2)
    for i, (m, (now, then)) in enumerate(result.gaps.items()):
        cols[i].metric(
            f"Gap in {display.metric_label(m)} (largest − smallest group)",
            display.number(then),
            delta=None if now is None or then is None else f"{then - now:+.3f} vs now",
            delta_color="inverse",
        )
    for j, m in enumerate(("accuracy", "balanced_accuracy")):
        now, then = result.overall_current[m], result.overall_mitigated[m]
        cols[len(result.gaps) + j].metric(
            f"{display.metric_label(m)}, everyone",
            display.number(then),
            delta=None if now is None or then is None else f"{then - now:+.3f} vs now",
        )
    st.subheader("Per-group rules")
    st.dataframe(_rules_table(result), hide_index=True, width="stretch")
    focus = st.selectbox(
        "Chart",
        list(REPORTED_METRICS),
        index=list(REPORTED_METRICS).index(CONSTRAINTS[constraint][0]),
        format_func=display.metric_label,
        key="mitigation_chart_metric",
    )
    chart = _dumbbell(result, focus)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
        st.caption("Grey: the model as is; blue: the what-if.")
    st.subheader("Metrics now and in the what-if")
    shown = st.multiselect(
        "Metrics",
        list(REPORTED_METRICS),
        default=[*CONSTRAINTS[constraint], "ppv", "accuracy"],
        format_func=display.metric_label,
        key="mitigation_metrics",
    )
    st.dataframe(_metrics_table(result, list(shown)), hide_index=True, width="stretch")
    st.caption(result.analysis_note)
