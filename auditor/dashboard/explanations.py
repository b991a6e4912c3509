"""Explanations: SHAP per group and rank shifts, proxies, representation and missingness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from auditor.dashboard import charts, display
from auditor.dashboard.widgets import static_table
from reports.format import SAMPLE_WITHHELD, listing_by_reason
from reports.model import SMALL_GROUP_REASON, Report, group_key

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext


def _shap(report: Report) -> None:
    ex = report.explanations
    st.subheader("What drives the model (SHAP)")
    if ex.status != "ok":
        st.info(f"Explanations not available: {ex.reason or 'not evaluable'}.")
        return
    shown: Any = ex
    if ex.by_class:
        labels = [c.label for c in ex.by_class]
        chosen = st.selectbox(
            "Explain the predicted probability of class",
            labels,
            key="explain_class",
            help="Every class's probability is explained on the same patients and groups; "
            "the first class is the most acute for an ordered scale.",
        )
        shown = ex.by_class[labels.index(chosen)]
    scale = {"log_odds": "log-odds", "probability": "probability", "logit": "logit"}.get(
        shown.output_scale or "", ""
    )
    st.caption(
        f"{shown.explainer or 'SHAP'} on a seeded, stratified sample of {ex.sample_size or '—'} "
        f"patients (background {ex.background_size or '—'}), mean |SHAP| on the {scale} scale"
        + (
            " (each class's linear score: the softmax input)."
            if shown.output_scale == "logit"
            else "."
        )
    )
    _importance(report, shown)


def _importance(report: Report, ex: Any) -> None:
    """Importance overall and per group of one explained output (the model's, or a class's)."""
    if ex.global_importance:
        data = pd.DataFrame(
            [{"feature": f.feature, "value": f.mean_abs_shap} for f in ex.global_importance]
        )
        st.altair_chart(
            charts.importance_bars(data, title="Mean |SHAP|, everyone"), width="stretch"
        )
    hidden = display.suppressed_keys(report)
    views = sorted(
        {display.name(g.attribute) for g in ex.by_group}, key=_order(display.views(report))
    )
    if not views:
        return
    view = st.selectbox("Per group of", views, key="explain_view")
    rows: list[dict[str, Any]] = []
    bars: list[dict[str, Any]] = []
    shifts: list[dict[str, Any]] = []
    withheld: list[tuple[str, str]] = []
    reasons = report.suppression_reasons()
    for g in ex.by_group:
        if display.name(g.attribute) != view:
            continue
        group = display.name(g.group)
        if g.suppressed or (view, group) in hidden:
            key = group_key(g.attribute, g.group)
            why = (
                display.hidden_text(report, g.attribute, g.group)
                if key in reasons
                else SAMPLE_WITHHELD.format(m=report.min_cell_size)
            )
            withheld.append((group, why))
            continue
        top = ", ".join(f.feature for f in sorted(g.importance, key=lambda f: f.rank)[:5])
        bars.extend(
            {"feature": f.feature, "group": group, "value": f.mean_abs_shap} for f in g.importance
        )
        rows.append(
            {
                "Group": group,
                "Patients explained": g.n_sample if g.n_sample is not None else display.DASH,
                "Top features": top,
                "Rank agreement with everyone (Kendall τ)": display.number(g.kendall_tau, 2),
            }
        )
        shifts.extend(
            {
                "Group": group,
                "Feature": s.feature,
                "Rank in group": s.rank,
                "Rank overall": s.overall_rank,
                "Shift": f"{s.shift:+d}",
            }
            for s in g.top_shifts
        )
    if bars:
        order = [f.feature for f in ex.global_importance][:TOP_FEATURES]
        data = pd.DataFrame([b for b in bars if b["feature"] in order])
        data["rank"] = data["feature"].map({f: i for i, f in enumerate(order)})
        data = data.sort_values(["rank", "group"]).drop(columns="rank")
        st.altair_chart(
            charts.grouped_importance(data, title="Mean |SHAP| in the group"), width="stretch"
        )
        st.caption(f"The {len(order)} features that matter most overall, per group.")
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if shifts:
        st.markdown("**Largest rank shifts** (a feature that matters more for one group)")
        st.dataframe(pd.DataFrame(shifts), hide_index=True, width="stretch")
        st.caption(
            "Shift = rank in the group − rank overall: negative means the feature weighs more "
            "in that group's predictions than overall."
        )
    if withheld:
        st.caption(display.plain(f"Not explained: {listing_by_reason(withheld)}."))
    differing = [d for d in ex.differing_features if display.name(d.get("attribute")) == view]
    if differing:
        st.markdown("**Features whose importance differs most between groups**")
        st.dataframe(_readable(pd.DataFrame(differing)), hide_index=True, width="stretch")


TOP_FEATURES = 8
COLUMN_WORDS = {
    "attribute": "Attribute",
    "feature": "Feature",
    "max_group": "Most important for",
    "min_group": "Least important for",
    "max_minus_min": "Difference in mean |SHAP|",
    "max_rank_shift": "Largest rank shift",
    "max_difference": "Largest difference",
    "highest_group": "Highest in",
    "lowest_group": "Lowest in",
}


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Column keys of the report's free-form records as words."""
    return frame.rename(
        columns={c: COLUMN_WORDS.get(c, str(c).replace("_", " ").capitalize()) for c in frame}
    )


def _proxies(report: Report) -> None:
    ex = report.explanations
    st.subheader("Proxies for sensitive attributes")
    if ex.sensitive_inputs:
        st.warning(
            display.plain(
                "The model reads these sensitive attributes directly: "
                + ", ".join(ex.sensitive_inputs)
                + "."
            )
        )
    if not ex.proxies:
        st.info("No proxy analysis in this report.")
        return
    threshold = ex.proxy_threshold
    st.caption(
        "Proxy strength = 2 × AUROC − 1 of predicting the attribute from the feature "
        "(cross-validated); "
        + (f"above {threshold:g} a feature is a strong proxy." if threshold is not None else "")
    )
    rows = [
        {
            "Attribute": p.attribute,
            "Feature": p.feature,
            "Strength": display.number(p.strength),
            "AUROC": display.number(p.auroc),
            "Normalized mutual information": display.number(p.nmi),
            "Strong proxy": "yes" if p.is_proxy else "",
        }
        for p in sorted(ex.proxies, key=lambda p: -(p.strength or 0.0))
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for flag in ex.flags:
        st.markdown(f"- {display.plain(flag)}")


def _representation(report: Report) -> None:
    checks = report.data_checks
    st.subheader("Representation")
    dropped = (
        f"; {checks.rows_dropped_missing_label:,} dropped for a missing label"
        if checks.rows_dropped_missing_label
        else ""
    )
    if checks.rows_total is not None:
        st.caption(f"{checks.rows_total:,} rows in the data{dropped}.")
    hidden = display.suppressed_keys(report)
    rows = []
    for r in checks.representation:
        suppressed = r.suppressed or (r.attribute, r.group) in hidden
        rows.append(
            {
                "Attribute": r.attribute,
                "Group": r.group,
                "Patients": display.hidden_text(
                    report,
                    r.attribute,
                    r.group,
                    default=SMALL_GROUP_REASON.format(m=report.min_cell_size),
                )
                if suppressed
                else (f"{r.n:,}" if r.n is not None else display.DASH),
                "Share of cohort": "" if suppressed or r.share is None else f"{r.share:.1%}",
                "Expected share": "" if r.reference_share is None else f"{r.reference_share:.1%}",
            }
        )
    if rows:
        frame = pd.DataFrame(rows)
        if not frame["Expected share"].astype(bool).any():  # no reference shares given
            frame = frame.drop(columns=["Expected share"])
        static_table(frame)


def _missingness(report: Report) -> None:
    checks = report.data_checks
    st.subheader("Missing values by group")
    hidden = display.suppressed_keys(report)
    shown = [
        m
        for m in checks.missingness
        if (m.attribute, m.group) not in hidden and m.missing_rate is not None
    ]
    missing = {m.feature for m in shown if m.missing_rate}
    rows = [m for m in shown if m.feature in missing]
    if not rows and not checks.notes:
        st.info("No feature has missing values in any group shown.")
    elif rows:
        attrs = sorted({m.attribute for m in rows})
        attribute = st.selectbox("Attribute", attrs, key="missing_attribute")
        frame = pd.DataFrame(
            [
                {"Feature": m.feature, "Group": m.group, "rate": f"{m.missing_rate:.1%}"}
                for m in rows
                if m.attribute == attribute
            ]
        )
        table = frame.pivot(index="Feature", columns="Group", values="rate").fillna("")
        st.dataframe(table, width="stretch")
        st.caption("Features without a missing value in any group are not listed.")
    if checks.missingness_disparities:
        st.markdown("**Largest differences in missingness**")
        st.dataframe(
            _readable(pd.DataFrame(checks.missingness_disparities)),
            hide_index=True,
            width="stretch",
        )
    for note in checks.notes:
        st.markdown(f"- {display.plain(note)}")


def _order(order: list[str]):  # type: ignore[no-untyped-def]
    return lambda v: order.index(v) if v in order else len(order)


def render(ctx: ViewContext) -> None:
    report = ctx.report
    _shap(report)
    _proxies(report)
    left, right = st.columns(2)
    with left:
        _representation(report)
    with right:
        _missingness(report)
