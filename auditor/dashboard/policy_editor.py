"""Policy: judge the audit by a shipped pack, or edit a policy as YAML with live validation.

Choosing or editing a policy re-judges the report at once (``rejudge``; nothing
is re-measured). The choice lives in session state so it survives switching
views, and is applied by a widget callback before the page is drawn, so the
verdict banner already reflects it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from auditor.dashboard import display
from auditor.dashboard.widgets import static_table
from auditor.errors import AuditorError
from reports.model import PolicyResult, Report

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

OWN = "The audit's own policy"
EDIT = "Edit a policy as YAML"
EDITOR_NAME = "policy editor"
"""How validation messages name the editor's text (``policy editor: $.rules[0]...``)."""
STORE_KEY = "policy_ui"
OVERRIDE_KEY = "policy_override"
CHOICE_KEY = "policy_choice"
BASE_KEY = "policy_base"
TEXT_KEY = "policy_text"
STATUS_ORDER = {"fail": 0, "inconclusive": 1, "not_evaluable": 2, "pass": 3}
SEVERITY_ORDER = {"block": 0, "warn": 1, "info": 2}


@st.cache_resource(show_spinner=False)
def pack_infos() -> list[Any]:
    from auditor.judge.policy import list_packs

    return list(list_packs())


def pack_text(name: str) -> str:
    import policies

    resource = policies.pack_resource(name)
    return resource.read_text(encoding="utf-8") if resource is not None else ""


def _store() -> dict[str, Any]:
    store = st.session_state.get(STORE_KEY)
    if not isinstance(store, dict):
        store = {"choice": OWN, "base": None, "text": None, "errors": [], "applied": OWN}
        st.session_state[STORE_KEY] = store
    return store


def apply_choice(default_base: str | None = None) -> None:
    """Widget callback: validate the chosen or edited policy and re-judge with it if valid."""
    store = _store()
    for key, field in ((CHOICE_KEY, "choice"), (BASE_KEY, "base"), (TEXT_KEY, "text")):
        if key in st.session_state:
            store[field] = st.session_state[key]
    if store["choice"] == EDIT and store["text"] is None:
        store["base"] = store["base"] or default_base
        store["text"] = pack_text(store["base"]) if store["base"] else ""
    store["errors"] = []
    try:
        if store["choice"] == OWN:
            st.session_state.pop(OVERRIDE_KEY, None)
            store["applied"] = OWN
            return
        if store["choice"] == EDIT:
            from auditor.dashboard.app import session_trust
            from auditor.judge.policy import load_policy_text

            policy = load_policy_text(
                store["text"] or "",
                name=EDITOR_NAME,
                allowed_dirs=session_trust().allowed_policy_dirs,
            )
            label = f"edited policy {policy.id}"
            chosen = [policy]
        else:
            from auditor.judge.policy import load_policies

            chosen = load_policies([store["choice"]])
            label = f"shipped pack {store['choice']}"
    except AuditorError as exc:
        store["errors"] = str(exc).splitlines()
        return
    st.session_state[OVERRIDE_KEY] = {"label": label, "policies": chosen}
    store["applied"] = label


def _reset_base() -> None:
    """Starting from another pack replaces the editor's text with that pack."""
    store = _store()
    store["base"] = st.session_state[BASE_KEY]
    store["text"] = pack_text(store["base"])
    st.session_state.pop(TEXT_KEY, None)
    apply_choice()


def _where(report: Report, r: PolicyResult) -> str:
    if r.attribute is None:
        return "whole audit"
    if r.group is None:
        return display.name(r.attribute)
    return f"{display.name(r.attribute)} = {display.name(r.group)}"


def results_table(report: Report) -> pd.DataFrame:
    """Every rule result, worst first; suppressed groups' results carry no numbers."""
    hidden = display.suppressed_keys(report)
    rows = []
    ordered = sorted(
        report.policy_results,
        key=lambda r: (STATUS_ORDER.get(r.status, 9), SEVERITY_ORDER.get(r.severity, 9)),
    )
    for r in ordered:
        suppressed = (
            r.attribute is not None
            and r.group is not None
            and ((display.name(r.attribute), display.name(r.group)) in hidden)
        )
        rows.append(
            {
                "Status": r.status.replace("_", " "),
                "Severity": r.severity,
                "Rule": r.rule_title or r.rule_id,
                "Where": _where(report, r),
                "Observed": "" if suppressed else display.compact(r.observed),
                "Message": display.hidden_text(report, r.attribute, r.group)
                if suppressed
                else r.message,
                "Intervals": (r.intervals or "").replace("_", "-"),
                "Would decide it": ""
                if suppressed or r.precision is None
                else (r.precision.statement or ""),
                "Policy": r.policy,
            }
        )
    return pd.DataFrame(rows)


def default_base(ctx: ViewContext) -> str | None:
    """The pack the editor starts from: the audit's own pack when it is a shipped one."""
    packs = [p.source for p in pack_infos()]
    own = [p.source for p in ctx.measured.policies if p.source in packs]
    return own[0] if own else (packs[0] if packs else None)


def _chooser(ctx: ViewContext, store: dict[str, Any]) -> str:
    packs = [p.source for p in pack_infos()]
    options = [OWN, *packs, EDIT]
    titles = {
        p.source: f"Shipped pack: {p.source} — {p.title} ({p.rule_count} rules)"
        for p in pack_infos()
    }
    choice = store["choice"] if store["choice"] in options else OWN
    return str(
        st.selectbox(
            "Judge this audit by",
            options,
            index=options.index(choice),
            format_func=lambda o: titles.get(o, o),
            key=CHOICE_KEY,
            on_change=apply_choice,
            args=(default_base(ctx),),
        )
    )


def _editor(ctx: ViewContext, store: dict[str, Any]) -> None:
    packs = [p.source for p in pack_infos()]
    base = store["base"] or default_base(ctx)
    if base is not None and base in packs:
        st.selectbox(
            "Start from", packs, index=packs.index(base), key=BASE_KEY, on_change=_reset_base
        )
    left, right = st.columns([3, 2])
    with left:
        st.text_area(
            "Policy (YAML)",
            value=store["text"],
            height=460,
            key=TEXT_KEY,
            on_change=apply_choice,
            help="Validated against the policy schema when you leave the box or press Ctrl+Enter.",
        )
    with right:
        st.markdown("**Validation**")
        if store["errors"]:
            st.caption(
                f"{len(store['errors'])} problem(s); the report is still judged by "
                f"{store['applied']}."
            )
            for line in store["errors"]:
                st.error(display.plain(line))
        else:
            st.success(f"Valid. The report is judged by the {store['applied']}.")
        st.download_button(
            "Download this policy (YAML)",
            data=(store["text"] or "").encode("utf-8"),
            file_name="policy.yaml",
            mime="application/x-yaml",
        )


def render(ctx: ViewContext) -> None:
    store = _store()
    report = ctx.report
    st.caption(
        "A policy is a list of rules (metric or disparity bounds, severity, rationale). "
        "Changing it re-judges the measured report at once; nothing is re-measured."
    )
    may_edit = ctx.viewer is None or ctx.viewer.can("auditor")
    choice = _chooser(ctx, store) if may_edit else OWN
    if choice == EDIT:
        _editor(ctx, store)
    elif store["errors"]:
        for line in store["errors"]:
            st.error(display.plain(line))
    st.subheader("Policies applied")
    infos = pd.DataFrame(
        [
            {
                "Policy": p.id,
                "Title": p.title,
                "Version": p.version,
                "Source": p.source,
                "Rules": p.rule_count,
            }
            for p in report.policies
        ]
    )
    st.dataframe(infos, hide_index=True, width="stretch")
    st.subheader("Rule results")
    c = report.counts
    st.caption(
        f"{c.passed} passed · {c.failed} failed ({c.blocking_failures} blocking) · "
        f"{c.inconclusive} inconclusive · {c.not_evaluable} not evaluable"
    )
    table = results_table(report)
    passed = table["Status"] == "pass"
    if (~passed).any():
        static_table(table[~passed])
    else:
        st.success("Every rule result passed.")
    if passed.any():
        with st.expander(f"Passed ({int(passed.sum())})"):
            static_table(table[passed])
