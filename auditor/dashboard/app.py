"""The dashboard's page: pick the input, measure (cached), then draw the selected view.

A thin shell: every number comes from the library (``prepare``,
``build_report``, ``rejudge``, ``reports.render``); this module only decides
what to recompute when a control moves. Views render lazily: only the open
tab runs, so an expensive view (mitigation, export) costs nothing elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import streamlit as st

from auditor.dashboard import display, policy_editor, state
from auditor.dashboard.inputs import Source, choose_source
from auditor.errors import AuditorError
from reports.model import Report

PAGE_TITLE = "Clinical fairness audit"
INTERACTIVE_NOTE = (
    "Interactive mode ({intervals}): a rule judged on an interval may read differently from "
    "the audit of record. Press “Compute full intervals” in the sidebar for the audit's own "
    "bootstrap."
)
SETTINGS_KEY = "settings"
VIEW_KEY = "view"
THRESHOLD_KEY = "threshold"
"""Also the URL query parameter: ?view=Fairness&threshold=0.15 opens there."""
SOURCE_PATH_KEY = "audit_source"
"""The spec or report file behind the page (uploads: the file written for the loaders)."""
POLICY_KEYS = (
    policy_editor.STORE_KEY,
    policy_editor.CHOICE_KEY,
    policy_editor.BASE_KEY,
    policy_editor.TEXT_KEY,
)
OVERRIDE_KEY = policy_editor.OVERRIDE_KEY


@dataclass
class ViewContext:
    """What every view reads: the report on screen and how it was produced."""

    report: Report
    """The report on screen (re-judged when the user chose another policy)."""
    measured: Report
    """The report as measured, judged by the audit's own policies."""
    source: Source
    live: state.LiveAudit | None
    """None for a read-only report.json."""
    timed: state.Timed | None
    threshold: float
    references: dict[str, str]
    full_intervals: bool
    settings: dict[str, Any]


def _views() -> list[tuple[str, ModuleType]]:
    from auditor.dashboard import (
        compare,
        curves,
        explanations,
        export,
        fairness,
        history,
        mitigation,
        overview,
        policy_editor,
        subgroups,
    )

    return [
        ("Overview", overview),
        ("Subgroups", subgroups),
        ("Fairness", fairness),
        ("Calibration & ROC", curves),
        ("Explanations", explanations),
        ("Policy", policy_editor),
        ("Compare", compare),
        ("Mitigation what-if", mitigation),
        ("Export", export),
        ("History", history),
    ]


VIEW_LABELS = (
    "Overview",
    "Subgroups",
    "Fairness",
    "Calibration & ROC",
    "Explanations",
    "Policy",
    "Compare",
    "Mitigation what-if",
    "Export",
    "History",
)


def settings_for(identity: str) -> dict[str, Any]:
    """Per-input settings that outlive the widgets drawing them (reference groups, policy)."""
    current = st.session_state.get(SETTINGS_KEY)
    if not isinstance(current, dict) or current.get("identity") != identity:
        if isinstance(current, dict):  # another input: its threshold and policy do not carry over
            for key in (OVERRIDE_KEY, THRESHOLD_KEY, *POLICY_KEYS):
                st.session_state.pop(key, None)
        current = {"identity": identity, "references": {}, "full_for": None}
        st.session_state[SETTINGS_KEY] = current
    return current


def _sidebar_controls(live: state.LiveAudit, settings: dict[str, Any]) -> tuple[float, bool]:
    """Threshold slider and the full-intervals button; returns (threshold, full)."""
    spec = live.spec
    st.sidebar.divider()
    st.sidebar.subheader("Decision threshold")
    # Only the declared grid (the spec's thresholds): the suppression plan is made over
    # it, so moving the slider can never difference two thresholds the plan did not see.
    grid = sorted(float(t) for t in spec.thresholds)
    if len(grid) > 1:
        threshold = float(
            st.sidebar.select_slider(
                "Score ≥ threshold predicts positive",
                options=grid,
                value=float(spec.thresholds[0]),
                key=THRESHOLD_KEY,
                help="The thresholds declared in the spec (threshold: [...]); moving it "
                "re-measures every group from the cached statistics.",
            )
        )
    else:
        threshold = grid[0]
        st.sidebar.caption(
            f"Score ≥ {threshold:g} predicts positive. Declare more thresholds in the spec "
            "(threshold: [...]) to compare them here."
        )
    refs = tuple(sorted(settings["references"].items()))
    current = (round(threshold, 6), refs)
    full = settings.get("full_for") == current
    n_full = state.full_bootstrap(spec.bootstrap)
    if not full and st.sidebar.button(
        f"Compute full intervals ({n_full:,} bootstrap replicates)",
        help="The interactive path uses fewer replicates so the slider answers at once.",
    ):
        settings["full_for"] = current
        full = True
    return threshold, full


def _timing_caption(timed: state.Timed, full: bool) -> str:
    if timed.bootstrap == 0:
        intervals = "Wilson intervals for proportions; other metrics without intervals"
    else:
        intervals = f"{timed.bootstrap:,} bootstrap replicates"
    mode = "full intervals" if full else "interactive mode"
    return (
        f"Re-measured in {timed.seconds:.2f} s from the cached statistics (no data reload); "
        f"{mode}: {intervals}."
    )


def _apply_override(report: Report) -> Report:
    """Re-judge against the policy the user chose or edited in the Policy view."""
    override = st.session_state.get(OVERRIDE_KEY)
    if not override or not override.get("policies"):
        return report
    from auditor.audit import rejudge

    judged = state.guarded(rejudge, report, override["policies"])
    return judged if judged is not None else report


def _banner(report: Report, source: Source) -> None:
    words = display.verdict_words(report)
    {"fail": st.error, "warn": st.warning}.get(report.verdict, st.success)(words)
    model = report.model
    who = " ".join(x for x in (model.name, model.version and f"v{model.version}") if x)
    policies = ", ".join(p.id for p in report.policies) or "no policy"
    st.caption(
        f"{source.label} · model {who or model.kind} · threshold {report.threshold:g} · "
        f"policy {policies} · generated {report.provenance.generated_at}"
    )


def _render_view(render: Callable[[ViewContext], None], ctx: ViewContext) -> None:
    try:
        render(ctx)
    except AuditorError as exc:
        st.error(str(exc))


def main() -> None:
    st.set_page_config(page_title=PAGE_TITLE, page_icon="⚖️", layout="wide")
    st.sidebar.title(PAGE_TITLE)
    top = st.container()
    source = choose_source()
    if source is None:
        top.title(PAGE_TITLE)
        return
    st.session_state[SOURCE_PATH_KEY] = str(source.path)
    settings = settings_for(f"{source.kind}:{source.path}")
    live: state.LiveAudit | None = None
    timed: state.Timed | None = None
    full = False
    if source.read_only:
        measured = state.guarded(state.load_report_file, source.path)
        if measured is None:
            return
        threshold = measured.threshold
        st.sidebar.info("Read-only: a past audit, shown as it was run.")
    else:
        live = state.guarded(state.load_live, source.path)
        if live is None:
            return
        threshold, full = _sidebar_controls(live, settings)
        n_boot = state.full_bootstrap(live.spec.bootstrap) if full else state.quick_bootstrap()
        spinner = f"Computing {n_boot:,} bootstrap replicates…" if full else None
        if spinner:
            with st.spinner(spinner):
                timed = state.guarded(
                    state.measured,
                    live,
                    threshold=threshold,
                    references=settings["references"],
                    bootstrap=n_boot,
                )
        else:
            timed = state.guarded(
                state.measured,
                live,
                threshold=threshold,
                references=settings["references"],
                bootstrap=n_boot,
            )
        if timed is None:
            return
        measured = timed.report
        st.sidebar.caption(_timing_caption(timed, full))
    report = _apply_override(measured)
    ctx = ViewContext(
        report=report,
        measured=measured,
        source=source,
        live=live,
        timed=timed,
        threshold=threshold,
        references=dict(settings["references"]),
        full_intervals=full,
        settings=settings,
    )
    st.title(report.name)
    if report.privacy_notice:
        st.error(report.privacy_notice)
    _banner(report, source)
    if timed is not None and not full:
        intervals = (
            "no bootstrap: only proportions have intervals"
            if timed.bootstrap == 0
            else f"{timed.bootstrap:,} bootstrap replicates"
        )
        st.caption(INTERACTIVE_NOTE.format(intervals=intervals))
    tabs = st.tabs(list(VIEW_LABELS), key=VIEW_KEY, on_change="rerun", bind="query-params")
    for tab, (_label, module) in zip(tabs, _views(), strict=True):
        if tab.open:
            with tab:
                _render_view(module.render, ctx)
