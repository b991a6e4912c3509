"""Compare: two audits (two releases, or two thresholds) side by side, with per-group deltas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from auditor.dashboard import display, state
from auditor.dashboard.inputs import max_upload_mb
from auditor.judge.compare import Comparison, RuleChange, compare_reports
from reports.model import Report

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

RECORD = "This audit at the spec's own settings"
ON_SCREEN = "What is on screen now"
UPLOAD = "Upload a report.json"


def _record(ctx: ViewContext) -> Report | None:
    """The audit of record: the spec's threshold and reference groups (cached)."""
    if ctx.live is None:
        return ctx.measured
    timed = state.guarded(
        state.measured,
        ctx.live,
        threshold=float(ctx.live.spec.thresholds[0]),
        references={},
        bootstrap=ctx.timed.bootstrap if ctx.timed else state.quick_bootstrap(),
    )
    return timed.report if timed else None


def _pick(ctx: ViewContext, title: str, default: str, key: str) -> tuple[Report | None, str]:
    may_upload = ctx.viewer is None or ctx.viewer.can("auditor")
    options = [RECORD, ON_SCREEN, UPLOAD] if may_upload else [RECORD, ON_SCREEN]
    choice = st.radio(title, options, index=options.index(default), key=key)
    if choice == RECORD:
        return _record(ctx), f"{ctx.report.name} (threshold {_spec_threshold(ctx):g})"
    if choice == ON_SCREEN:
        return ctx.report, f"{ctx.report.name} (threshold {ctx.report.threshold:g}, on screen)"
    upload = st.file_uploader(f"report.json (up to {max_upload_mb()} MB)", key=f"{key}_upload")
    if upload is None:
        return None, ""
    from auditor.dashboard.app import session_uploads

    kept = session_uploads()
    path = state.guarded(kept.store, f"{key}_upload", upload.name, upload.getvalue())
    if path is None:
        return None, ""
    return state.guarded(state.load_report_file, path), upload.name


def _spec_threshold(ctx: ViewContext) -> float:
    if ctx.live is not None:
        return float(ctx.live.spec.thresholds[0])
    return ctx.measured.threshold


def _deltas(c: Comparison, before: Report, after: Report, *, only_changed: bool) -> pd.DataFrame:
    hidden = display.suppressed_keys(before) | display.suppressed_keys(after)
    rows = []
    for d in c.deltas:
        if (d.attribute, d.group) in hidden:
            continue
        if only_changed and not (d.exceeds_interval or d.intervals_disjoint):
            continue
        rows.append(
            {
                "Attribute": d.attribute,
                "Group": d.group,
                "Metric": display.metric_label(d.metric),
                "Before": display.number(d.before),
                "Before 95%": display.interval(*d.before_ci),
                "After": display.number(d.after),
                "After 95%": display.interval(*d.after_ci),
                "Change": "" if d.delta is None else f"{d.delta:+.3f}",
                "Beyond earlier interval": "yes" if d.exceeds_interval else "",
                "Intervals disjoint": "yes" if d.intervals_disjoint else "",
            }
        )
    return pd.DataFrame(rows)


def _changes(
    title: str, changes: list[RuleChange], hidden: set[tuple[str, str]], min_cell_size: int
) -> None:
    st.markdown(f"**{title}: {len(changes)}**")
    for ch in changes:
        message = (
            display.SUPPRESSED.format(n=min_cell_size)
            if (ch.attribute, ch.group) in hidden
            else ch.message
        )
        line = (
            f"[{ch.severity}] {ch.policy}/{ch.rule_id} — {ch.attribute} = {ch.group}: "
            f"{message} ({ch.before or '—'} → {ch.after or '—'})"
        )
        st.markdown(f"- {display.plain(line)}")


def render(ctx: ViewContext) -> None:
    st.caption(
        "Compare two audits of the same model: two releases (upload the earlier report.json "
        "from CI), or this audit at two thresholds. Deltas come from the two reports' own "
        "numbers; nothing is recomputed."
    )
    left, right = st.columns(2)
    with left:
        before, before_name = _pick(ctx, "Earlier audit (A)", RECORD, "compare_a")
    with right:
        after, after_name = _pick(ctx, "Later audit (B)", ON_SCREEN, "compare_b")
    if before is None or after is None:
        st.info("Choose or upload both audits to compare them.")
        return
    comparison = compare_reports(before, after)
    if before.model_dump(exclude={"provenance"}) == after.model_dump(exclude={"provenance"}):
        st.info(
            "A and B are the same audit. Move the decision threshold in the sidebar, or upload "
            "an earlier release's report.json, to see what changes."
        )
    cols = st.columns(4)
    cols[0].metric("A verdict", before.verdict.upper(), help=before_name)
    cols[1].metric("B verdict", after.verdict.upper(), help=after_name)
    cols[2].metric("New failures", len(comparison.new_failures))
    cols[3].metric("Resolved failures", len(comparison.resolved_failures))
    st.caption(
        display.plain(
            f"A: {comparison.before_model['title']} — {before_name} · "
            f"B: {comparison.after_model['title']} — {after_name}"
        )
    )
    for warning in comparison.warnings:
        st.warning(display.plain(f"Not like for like: {warning}."))
    only = st.toggle(
        "Only changes beyond the earlier audit's 95% interval", value=False, key="compare_only"
    )
    table = _deltas(comparison, before, after, only_changed=only)
    if table.empty:
        st.info(
            "No metric moved beyond the earlier interval."
            if only
            else "The two audits share no group and metric to compare."
        )
    else:
        metrics = list(dict.fromkeys(table["Metric"]))
        key_labels = [display.metric_label(m) for m in display.key_metrics(after)]
        default = [m for m in metrics if m in key_labels] or metrics
        chosen = st.multiselect("Metrics", metrics, default=default, key="compare_metrics")
        st.dataframe(table[table["Metric"].isin(chosen)], hide_index=True, width="stretch")
    hidden = display.suppressed_keys(before) | display.suppressed_keys(after)
    cell = after.min_cell_size
    a, b = st.columns(2)
    with a:
        _changes("New failures in B", comparison.new_failures, hidden, cell)
    with b:
        _changes("Failures resolved in B", comparison.resolved_failures, hidden, cell)
    for title, groups in (
        ("Groups only in A", comparison.groups_only_before),
        ("Groups only in B", comparison.groups_only_after),
    ):
        if groups:
            st.caption(display.plain(f"{title}: {', '.join(groups)}"))
