"""The dashboard's page: pick the input, measure (cached), then draw the selected view.

A thin shell: every number comes from the library (``prepare``,
``build_report``, ``rejudge``, ``reports.render``); this module only decides
what to recompute when a control moves. Views render lazily: only the open
tab runs, so an expensive view (mitigation, export) costs nothing elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import streamlit as st

from auditor.dashboard import access, display, policy_editor, state, uploads
from auditor.dashboard.inputs import Session, Source, choose_source
from auditor.dashboard.trust import Trust, trust_for
from auditor.errors import AuditorError, DataError, ModelError, PolicyError
from auditor.server_config import ServerConfig
from reports.model import Report

PAGE_TITLE = "Clinical fairness audit"
INTERACTIVE_NOTE = (
    "Interactive mode ({intervals}) while the audit's own bootstrap ({n:,} replicates) runs "
    "in the background; the page switches to it by itself when it is ready."
)
PROVISIONAL = (
    "PROVISIONAL — computed without the full intervals, so it is not the audit of record. "
    "Undecided until they are ready: {rules}."
)
FULL_RUNNING = "Full intervals ({n:,} bootstrap replicates) are being computed in the background…"
UPLOADS_KEY = "_uploads"
TRUST_KEY = "_trust"
VIEWER_KEY = "_viewer"
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
    viewer: access.Viewer | None = None
    config: ServerConfig | None = None
    provisional: tuple[str, ...] = ()
    """Rules whose result on screen waits for the full intervals (empty: final)."""


def _views() -> list[tuple[str, ModuleType]]:
    from auditor.dashboard import (
        cohorts,
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
        ("Cohorts found", cohorts),
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
    "Cohorts found",
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


def _threshold_slider(live: state.LiveAudit) -> float:
    """The decision threshold; moving it re-measures from the cached statistics.

    Multiclass and regression audits use no threshold (the predicted class is the most
    probable one; a prediction is a number): the sidebar says nothing about one."""
    spec = live.spec
    grid = sorted(float(t) for t in spec.thresholds)
    if spec.task.id in ("multiclass", "regression"):
        return grid[0]
    st.sidebar.divider()
    st.sidebar.subheader("Decision threshold")
    # Only the declared grid (the spec's thresholds): the suppression plan is made over
    # it, so moving the slider can never difference two thresholds the plan did not see.
    what = "Predicted risk by the horizon" if spec.task.id == "survival" else "Score"
    if len(grid) > 1:
        return float(
            st.sidebar.select_slider(
                f"{what} ≥ threshold predicts positive",
                options=grid,
                value=float(spec.thresholds[0]),
                key=THRESHOLD_KEY,
                help="The thresholds declared in the spec (threshold: [...]); moving it "
                "re-measures every group from the cached statistics.",
            )
        )
    st.sidebar.caption(
        f"{what} ≥ {grid[0]:g} predicts positive. Declare more thresholds in the spec "
        "(threshold: [...]) to compare them here."
    )
    return grid[0]


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


def apply_override(report: Report) -> Report:
    """Re-judge against the policy the user chose or edited in the Policy view."""
    override = st.session_state.get(OVERRIDE_KEY)
    if not override or not override.get("policies"):
        return report
    from auditor.audit import rejudge

    judged = state.guarded(rejudge, report, override["policies"])
    return judged if judged is not None else report


def _banner(report: Report, source: Source, provisional: tuple[str, ...]) -> None:
    words = display.verdict_words(report)
    {"fail": st.error, "warn": st.warning}.get(report.verdict, st.success)(words)
    if provisional:
        st.warning(
            display.plain(PROVISIONAL.format(rules="; ".join(provisional))),
            icon=":material/hourglass_top:",
        )
    model = report.model
    who = " ".join(x for x in (model.name, model.version and f"v{model.version}") if x)
    policies = ", ".join(p.id for p in report.policies) or "no policy"
    st.caption(
        display.plain(
            f"{source.label} · model {who or model.kind} · threshold {report.threshold:g} · "
            f"policy {policies} · generated {report.provenance.generated_at}"
        )
    )


def _render_view(render: Callable[[ViewContext], None], ctx: ViewContext) -> None:
    try:
        render(ctx)
    except AuditorError as exc:
        st.error(state.message(exc))


def _session(cfg: ServerConfig, viewer: access.Viewer) -> Session:
    """This session's upload folder (made once, removed when the session ends) and trust."""
    held = st.session_state.get(UPLOADS_KEY)
    if not isinstance(held, uploads.SessionUploads) or held.limits != cfg.uploads:
        if isinstance(held, uploads.SessionUploads):
            held.close()
        held = uploads.SessionUploads(cfg.uploads)
        st.session_state[UPLOADS_KEY] = held
    held.last_seen = time.monotonic()
    ctx = _script_context()
    if ctx is not None:
        uploads.register(ctx, held)
        _reaper()
    st.session_state[TRUST_KEY] = trust_for(cfg, held.folder)
    st.session_state[VIEWER_KEY] = viewer
    if cfg.served:
        st.session_state[state.HIDE_KEY] = held.hide
    return Session(cfg, viewer, held)


def _script_context() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


@st.cache_resource(show_spinner=False)
def _reaper() -> Any:
    """Once per server process: the thread that removes ended sessions' upload folders."""
    from streamlit import runtime

    if not runtime.exists():
        return None
    grace = float(st.get_option("server.disconnectedSessionTTL") or 120)
    return uploads.start_reaper(runtime.get_instance().is_active_session, grace_seconds=grace)


@st.cache_resource(show_spinner=False)
def _startup_sweep(folder: str) -> int:
    """Once per server process: remove session folders left by processes that ended."""
    return len(uploads.remove_stale(Path(folder) if folder else None))


REFUSED_UPLOAD = {
    ModelError: "model_upload",
    DataError: "data_upload",
    PolicyError: "policy_upload",
}
"""Which upload to delete when the audit built from uploads is refused for it."""


def _load_live(source: Source, session: Session) -> state.LiveAudit | None:
    """Load the audit; an upload the loaders refuse (a model, data, policy) is not kept."""
    try:
        return state.load_live(source.path, session_trust())
    except AuditorError as exc:
        st.error(state.message(exc))
        if source.path.is_relative_to(session.uploads.folder):
            for kind, key in REFUSED_UPLOAD.items():
                if isinstance(exc, kind):
                    session.uploads.discard(key)
        return None


def session_uploads() -> uploads.SessionUploads:
    """This session's upload folder (made by the page before any view draws)."""
    held = st.session_state.get(UPLOADS_KEY)
    if not isinstance(held, uploads.SessionUploads):
        held = uploads.SessionUploads(access.config().uploads)
        st.session_state[UPLOADS_KEY] = held
    return held


def session_trust() -> Trust:
    """The trust decisions of this session (local mode: the CLI's)."""
    trust = st.session_state.get(TRUST_KEY)
    return trust if isinstance(trust, Trust) else Trust()


def _measure(
    live: state.LiveAudit, settings: dict[str, Any], threshold: float
) -> tuple[state.Timed | None, bool]:
    """The full-interval report when ready, else the quick one; (timed, full)."""
    refs = settings["references"]
    full = state.guarded(state.full_measurement, live, threshold=threshold, references=refs)
    if full is not None:
        return full, True
    quick = state.guarded(
        state.measured,
        live,
        threshold=threshold,
        references=refs,
        bootstrap=state.quick_bootstrap(),
    )
    if quick is not None:
        st.sidebar.caption(FULL_RUNNING.format(n=state.full_bootstrap(live.spec.bootstrap)))
        _await_full(live, threshold, refs)
    return quick, False


@st.fragment(run_every=1.0)
def _await_full(live: state.LiveAudit, threshold: float, references: dict[str, str]) -> None:
    """Polls the background job; swaps the page to the full intervals once they are ready."""
    try:
        ready = state.full_measurement(live, threshold=threshold, references=references)
    except AuditorError:
        ready = None
    if ready is not None:
        st.rerun(scope="app")


def main() -> None:
    st.set_page_config(page_title=PAGE_TITLE, page_icon="⚖️", layout="wide")
    st.sidebar.title(PAGE_TITLE)
    top = st.container()
    try:
        cfg = access.config()
    except AuditorError as exc:
        top.title(PAGE_TITLE)
        st.error(str(exc))
        return
    _startup_sweep(str(cfg.uploads.folder or ""))
    viewer = access.admit(cfg)
    if viewer is None:
        top.title(PAGE_TITLE)
        return
    session = _session(cfg, viewer)
    source = choose_source(session)
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
        live = _load_live(source, session)
        if live is None:
            return
        threshold = _threshold_slider(live)
        timed, full = _measure(live, settings, threshold)
        if timed is None:
            return
        measured = timed.report
        st.sidebar.caption(_timing_caption(timed, full))
    report = apply_override(measured)
    provisional: tuple[str, ...] = ()
    if timed is not None and not full:
        provisional = tuple(display.provisional_rules(report, bootstrap=timed.bootstrap))
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
        viewer=viewer,
        config=cfg,
        provisional=provisional,
    )
    st.title(display.plain(report.name))
    if report.privacy_notice:
        st.error(report.privacy_notice)
    _banner(report, source, provisional)
    if timed is not None and not full and live is not None:
        intervals = (
            "no bootstrap: only proportions have intervals"
            if timed.bootstrap == 0
            else f"{timed.bootstrap:,} bootstrap replicates"
        )
        st.caption(
            INTERACTIVE_NOTE.format(
                intervals=intervals, n=state.full_bootstrap(live.spec.bootstrap)
            )
        )
    tabs = st.tabs(list(VIEW_LABELS), key=VIEW_KEY, on_change="rerun", bind="query-params")
    for tab, (_label, module) in zip(tabs, _views(), strict=True):
        if tab.open:
            with tab:
                _render_view(module.render, ctx)
