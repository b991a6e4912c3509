"""Altair charts drawn from report values only (points and intervals the library computed)."""

from __future__ import annotations

from typing import Any, cast

import altair as alt
import pandas as pd

ROW_STEP = 38
"""Pixels per group row in horizontal charts."""
GROUP_COLORS = alt.Scale(scheme="tableau10")


BOUND_COLOUR = "#d55e00"
"""Policy bounds: the same orange as the reports' charts."""
MIN_SPAN = {0.0: 0.1, 1.0: 0.25}
"""Least half-width of the axis around parity (0 for differences, 1 for ratios), so a small
disparity without intervals is not stretched across the whole chart."""


def axis_domain(
    values: list[float], reference_line: float | None, bounds: list[float]
) -> tuple[float, float]:
    """An x range holding every estimate, interval, bound and parity, never narrower than
    parity ± the least span: −0.053 next to 0 reads as small, not as extreme."""
    points = [*values, *bounds]
    if reference_line is not None:
        half = MIN_SPAN.get(reference_line, 0.1)
        points += [reference_line - half, reference_line + half]
    low, high = min(points), max(points)
    pad = (high - low) * 0.05
    return low - pad, high + pad


def estimate_bars(
    data: pd.DataFrame,
    *,
    title: str,
    reference_line: float | None = None,
    bounds: list[float] | None = None,
) -> alt.LayerChart:
    """Dots with 95% interval whiskers per group (columns group, estimate, ci_low, ci_high),
    parity as a grey dashed line and each policy bound as an orange one."""
    bounds = list(bounds or [])
    values = [float(v) for c in ("estimate", "ci_low", "ci_high") for v in data[c].dropna()]
    domain = axis_domain(values, reference_line, bounds)
    base = alt.Chart(data).encode(y=alt.Y("group:N", title=None, sort=None))
    whiskers = base.mark_rule(strokeWidth=2, color="#7a869a").encode(
        x=alt.X(
            "ci_low:Q",
            title=title,
            scale=alt.Scale(domain=list(domain), nice=False),
            axis=alt.Axis(tickCount=8),
        ),
        x2="ci_high:Q",
    )
    dots = base.mark_circle(size=90, color="#1f5fa8").encode(
        x="estimate:Q",
        tooltip=[
            alt.Tooltip("group:N", title="Group"),
            alt.Tooltip("estimate:Q", format=".3f", title=title),
            alt.Tooltip("ci_low:Q", format=".3f", title="95% low"),
            alt.Tooltip("ci_high:Q", format=".3f", title="95% high"),
        ],
    )
    layers: list[alt.Chart] = [whiskers, dots]
    if reference_line is not None:
        rule = (
            alt.Chart(pd.DataFrame({"x": [reference_line]}))
            .mark_rule(strokeDash=[2, 2], color="#777777")
            .encode(x="x:Q")
        )
        layers.append(rule)
    if bounds:
        lines = alt.Chart(pd.DataFrame({"bound": bounds, "label": ["policy bound"] * len(bounds)}))
        layers.append(
            lines.mark_rule(strokeDash=[6, 3], strokeWidth=2, color=BOUND_COLOUR).encode(
                x="bound:Q", tooltip=[alt.Tooltip("bound:Q", title="Policy bound")]
            )
        )
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=alt.Step(ROW_STEP)))


def roc_chart(data: pd.DataFrame, points: pd.DataFrame | None = None) -> alt.LayerChart:
    """ROC curves per group (columns group, fpr, tpr) with the chance diagonal.

    ``points`` (group, fpr, tpr) marks each group's operating point at the threshold.
    """
    diagonal = (
        alt.Chart(pd.DataFrame({"a": [0.0, 1.0], "b": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="#999999")
        .encode(x="a:Q", y="b:Q")
    )
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X(
                "fpr:Q",
                title="False positive rate (1 − specificity)",
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y(
                "tpr:Q", title="Sensitivity (true positive rate)", scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color("group:N", title="Group", scale=GROUP_COLORS),
            order="order:Q",
        )
    )
    layers: list[alt.Chart] = [diagonal, lines]
    if points is not None and not points.empty:
        layers.append(
            alt.Chart(points)
            .mark_point(size=120, filled=True, shape="diamond", stroke="black", strokeWidth=1)
            .encode(
                x="fpr:Q",
                y="tpr:Q",
                color=alt.Color("group:N", scale=GROUP_COLORS, legend=None),
                tooltip=[
                    alt.Tooltip("group:N", title="Group"),
                    alt.Tooltip("fpr:Q", format=".3f", title="False positive rate"),
                    alt.Tooltip("tpr:Q", format=".3f", title="Sensitivity"),
                ],
            )
        )
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=380))


def calibration_chart(data: pd.DataFrame) -> alt.LayerChart:
    """Observed event rate against mean predicted risk per bin and group, with the ideal line."""
    diagonal = (
        alt.Chart(pd.DataFrame({"a": [0.0, 1.0], "b": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="#999999")
        .encode(x="a:Q", y="b:Q")
    )
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "mean_predicted:Q", title="Mean predicted risk", scale=alt.Scale(domain=[0, 1])
            ),
            y=alt.Y("observed:Q", title="Observed event rate", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("group:N", title="Group", scale=GROUP_COLORS),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("mean_predicted:Q", format=".3f", title="Predicted"),
                alt.Tooltip("observed:Q", format=".3f", title="Observed"),
            ],
        )
    )
    return cast(alt.LayerChart, alt.layer(diagonal, lines).properties(height=380))


def importance_bars(data: pd.DataFrame, *, title: str) -> alt.Chart:
    """Horizontal bars (columns feature, value), largest first."""
    return (
        alt.Chart(data)
        .mark_bar(color="#1f5fa8")
        .encode(
            x=alt.X("value:Q", title=title),
            y=alt.Y("feature:N", title=None, sort="-x"),
            tooltip=[alt.Tooltip("feature:N"), alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=alt.Step(24))
    )


def grouped_importance(data: pd.DataFrame, *, title: str) -> alt.Chart:
    """Mean |SHAP| per feature and group (columns feature, group, value), features by order."""
    order = list(dict.fromkeys(data["feature"]))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("feature:N", title=None, sort=order),
            yOffset=alt.YOffset("group:N"),
            x=alt.X("value:Q", title=title),
            color=alt.Color("group:N", title="Group", scale=GROUP_COLORS),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("feature:N", title="Feature"),
                alt.Tooltip("value:Q", format=".4f", title=title),
            ],
        )
        .properties(height=alt.Step(12))
    )


def km_chart(data: pd.DataFrame, horizon: float | None) -> alt.LayerChart:
    """Kaplan–Meier event-free survival per group (columns group, time, survival)."""
    steps = (
        alt.Chart(data)
        .mark_line(interpolate="step-after", point=True)
        .encode(
            x=alt.X("time:Q", title="Time"),
            y=alt.Y(
                "survival:Q",
                title="Event-free survival (Kaplan–Meier)",
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("group:N", title="Group", scale=GROUP_COLORS),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("time:Q", format=",.0f", title="Time"),
                alt.Tooltip("survival:Q", format=".3f", title="Survival"),
            ],
        )
    )
    layers: list[Any] = [steps]
    if horizon is not None:
        rule = alt.Chart(pd.DataFrame({"h": [horizon]})).mark_rule(
            strokeDash=[4, 4], color="#999999"
        )
        layers.append(rule.encode(x="h:Q"))
    return cast(alt.LayerChart, alt.layer(*layers).properties(height=380))


def residual_chart(data: pd.DataFrame) -> alt.LayerChart:
    """Mean residual (observed − predicted) per prediction bin and group, with the zero line."""
    zero = alt.Chart(pd.DataFrame({"z": [0.0]})).mark_rule(color="#999999").encode(y="z:Q")
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("mean_predicted:Q", title="Mean prediction"),
            y=alt.Y("mean_residual:Q", title="Mean residual (observed − predicted)"),
            color=alt.Color("group:N", title="Group", scale=GROUP_COLORS),
            tooltip=[
                alt.Tooltip("group:N", title="Group"),
                alt.Tooltip("mean_predicted:Q", format=".2f", title="Predicted"),
                alt.Tooltip("mean_residual:Q", format=".2f", title="Residual"),
            ],
        )
    )
    return cast(alt.LayerChart, alt.layer(zero, lines).properties(height=380))
