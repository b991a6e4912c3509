"""The dashboard's History view: a model across releases, its sign-offs, and a sign-off form.

``render_history_view(st, registry)`` draws into whatever Streamlit module or
container it is given; every number comes from :meth:`Registry.history` (the
recorded reports), and suppressed groups stay without numbers. The frames it
charts are built by plain functions (:func:`audits_frame`, :func:`trend_frame`)
so they are testable without Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd

from auditor.dashboard.display import plain
from auditor.errors import RegistryError
from auditor.registry import HistoryRow, Registry
from auditor.registry.report_facts import history_metrics, report_task
from auditor.registry.service import DECISIONS

NO_AUDITS = (
    "No audits recorded yet. Record one with `auditor audit SPEC --out DIR --record` "
    "or `auditor record DIR`."
)
SIGNED = "Audit {audit_id} {decided} by {by}; the sign-off names report SHA-256 {sha}…"
LOG_INTACT = "The log is intact: {entries} entries, head {head}…"
LOG_TAMPERED = "The log was changed: {problem}"
NO_ESTIMATES = "No estimates recorded for this metric and attribute."
SUPPRESSED_NOTE = "Not charted in some releases because they had too few patients: {groups}."
TREND_COLUMNS = ["audit", "release", "order", "group", "estimate", "ci_low", "ci_high"]
GROUP_COLOURS: Any = "dark2"
"""A categorical scheme whose every colour reads on white (no pale yellow)."""
SIGNING_AS = "Signing as {name} ({role}), identity {subject} at {issuer}, from your login."
SIGNING_LOCAL = (
    "Local mode: the name you type is recorded as a local, unauthenticated user. A served "
    "dashboard records the signer's login instead."
)
SERVER_REGISTRY = "Registry: the one this server's operator configured."


@dataclass(frozen=True)
class Signer:
    """Who may sign off on this page: a login's identity, or a local user who types a name."""

    name: str = ""
    role: str = ""
    issuer: str | None = None
    subject: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.subject is not None


def metric_name(metric_id: str) -> str:
    from auditor.tasks import find_metric

    metric = find_metric(metric_id)
    return metric.name if metric is not None else metric_id


def audits_frame(rows: Sequence[HistoryRow]) -> pd.DataFrame:
    """One line per audit in release order: verdict, sign-off status and who decided."""
    records = []
    for row in rows:
        last = row.last_signoff
        records.append(
            {
                "audit": row.audit_id,
                "release": row.release,
                "recorded": row.audit.recorded_at[:16].replace("T", " "),
                "ran by": row.audit.ran_by,
                "verdict": row.verdict,
                "sign-off": row.signoff_status,
                "signed by": f"{last.signer} ({last.role})" if last else "",
                "comment": last.comment if last else "",
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=[
            "audit",
            "release",
            "recorded",
            "ran by",
            "verdict",
            "sign-off",
            "signed by",
            "comment",
        ],
    )


def attributes_of(rows: Sequence[HistoryRow]) -> list[str]:
    """Attributes (and intersections) present in any audit, overall first."""
    seen: dict[str, None] = {}
    for row in rows:
        for g in row.groups:
            seen.setdefault(g.attribute, None)
    return list(seen)


def trend_frame(rows: Sequence[HistoryRow], metric: str, attribute: str) -> pd.DataFrame:
    """Long table (release, group, estimate, interval) of one metric for one attribute.

    Suppressed groups and undefined estimates contribute no line, so no chart can
    show a number the report withheld.
    """
    records = []
    for order, row in enumerate(rows):
        for g in row.groups:
            value = g.metrics.get(metric)
            if g.attribute != attribute or g.suppressed or value is None:
                continue
            if value.estimate is None:
                continue
            records.append(
                {
                    "audit": audit_label(row),
                    "release": row.release,
                    "order": order,
                    "group": g.group,
                    "estimate": value.estimate,
                    "ci_low": value.ci_low,
                    "ci_high": value.ci_high,
                }
            )
    return pd.DataFrame.from_records(records, columns=TREND_COLUMNS)


def audit_label(row: HistoryRow) -> str:
    """One x position per audit: two audits of one release must not share a point."""
    return f"{row.release} (audit {row.audit_id})"


def suppressed_groups(rows: Sequence[HistoryRow], attribute: str) -> list[str]:
    """Groups of ``attribute`` suppressed in at least one release."""
    names = {
        g.group for row in rows for g in row.groups if g.attribute == attribute and g.suppressed
    }
    return sorted(names)


def trend_chart(frame: pd.DataFrame, metric: str, audits: Sequence[str]) -> alt.LayerChart:
    """Estimate per audit and group, side by side within each audit, with its 95% interval.

    Groups are offset within an audit (``xOffset``) so a single release does not pile
    every group onto one point; lines join a group's estimates across releases.
    """
    x = alt.X(
        "audit:N",
        sort=list(audits),
        title="release (audit)",
        axis=alt.Axis(labelAngle=0),
    )
    offset = alt.XOffset("group:N")
    color = alt.Color("group:N", title="group", scale=alt.Scale(scheme=GROUP_COLOURS))
    tooltip = [
        "release",
        "audit",
        "group",
        alt.Tooltip("estimate:Q", format=".3f"),
        alt.Tooltip("ci_low:Q", format=".3f"),
        alt.Tooltip("ci_high:Q", format=".3f"),
    ]
    base = alt.Chart(frame)
    values = pd.concat([frame["estimate"], frame["ci_low"], frame["ci_high"]]).dropna()
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.05, 0.005)
    scale = alt.Scale(domain=[low - pad, high + pad], nice=False)  # intervals stay inside
    y = alt.Y("estimate:Q", title=metric_name(metric), scale=scale)
    points = base.mark_point(filled=True, size=70, opacity=1).encode(
        x=x, xOffset=offset, y=y, color=color, shape=alt.Shape("group:N"), tooltip=tooltip
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=x,
        xOffset=offset,
        y=alt.Y("ci_low:Q", scale=scale, title=metric_name(metric)),
        y2="ci_high:Q",
        color=color,
        tooltip=tooltip,
    )
    layers: list[Any] = [bars, points]
    if frame["audit"].nunique() > 1:
        layers.insert(
            0, base.mark_line(strokeWidth=1.5).encode(x=x, xOffset=offset, y=y, color=color)
        )
    return alt.LayerChart(layer=layers).properties(height=260)


def render_history_view(
    st: Any,
    registry: Registry,
    *,
    key: str = "history",
    signer: Signer | None = Signer(),
    show_url: bool = True,
) -> None:
    """Draw the History view: audits, verdicts, sign-off status, metric trends, sign-off form.

    ``signer`` None draws no form (the viewer may not sign); a signer without a
    subject is a local user who types their name. ``show_url`` False (served) keeps
    the server's database location off the page.
    """
    st.subheader("History and sign-off")
    st.caption(f"Registry: {registry.display_url}" if show_url else SERVER_REGISTRY)
    models = registry.models()
    if not models:
        st.info(NO_AUDITS)
        return
    model = st.selectbox("Model", models, key=f"{key}_model")
    # the registries and key metrics of the tasks this model's reports audited
    from auditor.tasks import task_metrics

    recorded = registry.history(model)
    tasks = dict.fromkeys(report_task(registry.report_json(r.audit_id)) for r in recorded)
    metric_ids = list(dict.fromkeys(m for t in tasks for m in task_metrics(t)))
    defaults = [m for m in history_metrics(recorded) if m in metric_ids]
    chosen = st.multiselect(
        "Metrics",
        metric_ids,
        default=defaults,
        format_func=metric_name,
        key=f"{key}_metrics",
    )
    metrics = chosen or defaults
    rows = registry.history(model, metrics=metrics)
    area = st.container()  # drawn after the form, so a sign-off just given shows at once
    if signer is not None and _signoff_form(st, registry, rows, key, signer):
        rows = registry.history(model, metrics=metrics)
    _draw_history(area, rows, chosen, key)
    if st.button("Verify the log", key=f"{key}_verify"):
        result = registry.verify_log()
        if result.ok:
            head = (result.head_sha256 or "")[:16]
            st.success(LOG_INTACT.format(entries=result.entries, head=head))
        else:
            st.error(LOG_TAMPERED.format(problem=result.problem))


def _draw_history(area: Any, rows: Sequence[HistoryRow], chosen: Sequence[str], key: str) -> None:
    audits = audits_frame(rows).astype({"audit": str}).set_index("audit")
    area.table(audits)  # wraps long names and comments instead of cutting them at 1280 px
    attributes = attributes_of(rows)
    if not attributes or not chosen:
        return
    first_attribute = 1 if len(attributes) > 1 else 0  # the overall line alone says little
    attribute = area.selectbox(
        "Groups of", attributes, index=first_attribute, key=f"{key}_attribute"
    )
    audits = [audit_label(r) for r in rows]
    for metric in chosen:
        frame = trend_frame(rows, metric, attribute)
        area.markdown(f"**{metric_name(metric)}**")
        if frame.empty:
            area.caption(NO_ESTIMATES)
        else:
            area.altair_chart(trend_chart(frame, metric, audits), width="stretch")
    hidden = suppressed_groups(rows, attribute)
    if hidden:
        area.caption(plain(SUPPRESSED_NOTE.format(groups=", ".join(hidden))))


def _signoff_form(
    st: Any, registry: Registry, rows: Sequence[HistoryRow], key: str, signer: Signer
) -> bool:
    """The sign-off form; True when a sign-off was just recorded."""
    by_id = {r.audit_id: r for r in rows}
    with st.form(f"{key}_signoff"):
        st.markdown("**Sign off an audit**")
        audit_id = st.selectbox(
            "Audit",
            list(reversed(list(by_id))),
            key=f"{key}_signoff_audit",
            format_func=lambda a: (
                f"{a}: release {by_id[a].release}, {by_id[a].verdict}, {by_id[a].signoff_status}"
            ),
        )
        if signer.authenticated:
            st.caption(
                plain(
                    SIGNING_AS.format(
                        name=signer.name,
                        role=signer.role,
                        subject=signer.subject,
                        issuer=signer.issuer,
                    )
                )
            )
            by, role = signer.name, signer.role
        else:
            st.caption(SIGNING_LOCAL)
            by = st.text_input("Your name", key=f"{key}_signoff_by")
            role = st.text_input("Your role", key=f"{key}_signoff_role")
        decision = st.radio("Decision", DECISIONS, horizontal=True, key=f"{key}_signoff_decision")
        comment = st.text_area(
            "Comment (required to reject) or conditions (required to approve an audit that did "
            "not pass)",
            key=f"{key}_signoff_comment",
        )
        submitted = st.form_submit_button("Sign off")
    if submitted:
        try:
            entry = registry.signoff(
                audit_id,
                by=by,
                role=role,
                decision=decision,
                comment=comment,
                issuer=signer.issuer if signer.authenticated else None,
                subject=signer.subject,
            )
        except RegistryError as exc:
            st.error(str(exc))
            return False
        decided = "approved" if entry.decision == "approve" else "rejected"
        st.success(
            SIGNED.format(
                audit_id=entry.audit_id,
                decided=decided,
                by=entry.signer,
                sha=entry.report_sha256[:16],
            )
        )
        return True
    return False
