"""Overview: the verdict in plain words, what blocks it, key metrics, model card, provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from auditor.dashboard import display
from auditor.dashboard.widgets import show_table
from auditor.judge.verdict import verdict_summary
from reports.format import card_text
from reports.model import PolicyResult, Report

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext


def _where(r: PolicyResult) -> str:
    if r.attribute is None:
        return "whole audit"
    if r.group is None:
        return display.name(r.attribute)
    return f"{display.name(r.attribute)} = {display.name(r.group)}"


def _by_rule(results: list[PolicyResult]) -> list[list[PolicyResult]]:
    """Results grouped by rule, in first-seen order, so each rule reads once."""
    groups: dict[tuple[str, str], list[PolicyResult]] = {}
    for r in results:
        groups.setdefault((r.policy, r.rule_id), []).append(r)
    return list(groups.values())


def _results_list(
    report: Report, results: list[PolicyResult], *, show_reason: bool = False
) -> None:
    hidden = display.suppressed_keys(report)
    for rule in _by_rule(results):
        first = rule[0]
        lines = [
            f"**{display.plain(first.rule_title or first.rule_id)}** · {first.severity} · "
            f"{display.plain(first.policy)}"
        ]
        for r in rule:
            suppressed = (
                r.attribute is not None
                and r.group is not None
                and (display.name(r.attribute), display.name(r.group)) in hidden
            )
            if suppressed:
                text = display.hidden_text(report, r.attribute, r.group)
            else:
                text = r.message
                if show_reason and r.reason and r.reason not in text:
                    text = f"{text} ({r.reason})"
                if r.status == "inconclusive" and r.precision and r.precision.statement:
                    text = f"{text} {r.precision.statement}"
            where = _where(r)
            line = text if where in text else f"{where}: {text}"
            lines.append(f"- {display.plain(line)}")
        st.markdown("\n".join(lines))
        if first.rationale:
            st.caption(f"Why this rule: {display.plain(first.rationale)}")


def _counts(report: Report) -> None:
    c = report.counts
    cols = st.columns(5)
    cols[0].metric("Patients", f"{report.overall.n:,}" if report.overall.n is not None else "—")
    if report.overall.n_encounters is not None:
        cols[0].caption(f"{report.overall.n_encounters:,} encounters")
    cols[1].metric("Blocking failures", c.blocking_failures)
    cols[2].metric("Warnings", c.warnings)
    cols[3].metric("Inconclusive", c.inconclusive)
    cols[4].metric("Not evaluable", c.not_evaluable)


def _key_metrics(report: Report) -> None:
    present = display.metric_ids(report)
    metrics = [m for m in display.key_metrics(report) if m in present]
    for view in display.views(report):
        groups = display.groups_of(report, view)
        if not groups:
            continue
        st.markdown(f"**{display.plain(view)}**")
        table = display.metrics_table(
            groups, metrics, min_cell_size=report.min_cell_size, overall=report.overall
        )
        show_table(table, static=True)


HIGHLIGHTS = ("intended_use", "out_of_scope_use", "limitations")
"""Model card fields shown at once; the others are one click away."""


def _field(key: str, value: Any) -> None:
    title = display.plain(str(key).replace("_", " ").capitalize())
    text = card_text(value) if not isinstance(value, dict) else _text(value)
    st.markdown(f"**{title}**  \n{display.plain(text)}")


def _model_card(card: dict[str, Any]) -> None:
    if not card:
        st.info("The audit spec gave no model card (intended use, training data, limitations).")
        return
    shown = list(HIGHLIGHTS)  # always, with "not stated" where the card is silent
    for key in shown:
        _field(key, card.get(key))
    rest = [k for k in card if k not in shown]
    if rest:
        with st.expander(f"All model card fields ({len(card)})", expanded=not shown):
            for key in rest:
                _field(key, card[key])


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _provenance(report: Report) -> None:
    p = report.provenance
    rows = [
        ("Tool", f"{p.tool} {p.tool_version}"),
        ("Generated", p.generated_at),
        ("Python / platform", f"{p.python} / {p.platform}"),
        ("Seed", str(p.seed)),
        (
            "Bootstrap",
            f"{p.bootstrap_replicates:,} replicates over {p.bootstrap_bins:,} bins"
            + (
                f", patients resampled (column {p.bootstrap_cluster})"
                if p.bootstrap_cluster
                else ""
            ),
        ),
        ("Thresholds", ", ".join(f"{t:g}" for t in p.thresholds)),
        ("Point estimates", p.point_estimates),
        ("Intervals", p.interval_methods),
        ("Small-cell threshold", f"groups under {report.min_cell_size} patients are suppressed"),
    ]
    for key, value in p.sha256.items():
        if isinstance(value, dict):
            for sub, digest in value.items():
                rows.append((f"SHA-256 {key}: {sub}", str(digest)))
        else:
            rows.append((f"SHA-256 {key}", str(value)))
    rows.extend((f"library {k}", v) for k, v in p.libraries.items())
    st.dataframe(pd.DataFrame(rows, columns=["Item", "Value"]), hide_index=True, width="stretch")


def render(ctx: ViewContext) -> None:
    report = ctx.report
    _counts(report)
    results = report.policy_results
    blocking = [
        r for r in results if r.status == "fail" and r.severity == "block" and r.waiver is None
    ]
    warnings = [
        r for r in results if r.status == "fail" and r.severity != "block" and r.waiver is None
    ]
    unsure = [r for r in results if r.status == "inconclusive"]
    unjudged = [r for r in results if r.status == "not_evaluable"]
    left, right = st.columns([3, 2])
    with left:
        st.subheader("What blocks this model")
        verdict = verdict_summary(results)
        undecided = verdict.undecided_head()
        if undecided:
            items = "\n".join(f"- {item}" for item in verdict.undecided_items(10))
            st.warning(f"{undecided}\n\n{items}")
        if blocking:
            _results_list(report, blocking)
        elif not undecided:
            st.success("No blocking rule failed.")
        if warnings:
            st.subheader("Warnings")
            _results_list(report, warnings)
        st.subheader("Inconclusive")
        if unsure:
            st.caption("The 95% interval straddles the bound: more data is needed to decide.")
            _results_list(report, unsure, show_reason=True)
        else:
            st.write("No result is inconclusive.")
        if unjudged:
            with st.expander(
                f"Not evaluable: {len(unjudged)} result(s) (too few patients or an undefined "
                "metric)"
            ):
                _results_list(report, unjudged, show_reason=True)
    with right:
        st.subheader("Model card")
        _model_card(report.model_card)
    st.subheader("Key metrics per group")
    st.caption(
        f"Estimate (95% interval) at threshold {report.threshold:g}. "
        + display.SUPPRESSION_CAPTION.format(n=report.min_cell_size)
    )
    if report.notes:
        with st.expander(f"Caveats about these numbers ({len(report.notes)})", expanded=True):
            for note in report.notes:
                st.markdown(f"- {display.plain(note)}")
    _key_metrics(report)
    with st.expander("Provenance: inputs, versions, seed"):
        _provenance(report)
