"""Export: the report on screen as PDF, HTML, JSON, Markdown and JUnit, via ``reports.render``.

The files are rendered into a private temporary folder by the same renderers
as the CLI, once per report content, and offered as downloads. A file for the
committee is the audit of record: while the page shows interactive intervals,
export waits for the full bootstrap and renders that, never the provisional page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from auditor.dashboard import display, state
from auditor.load.hashing import sha256_bytes
from reports.model import Report

if TYPE_CHECKING:
    from auditor.dashboard.app import ViewContext

MIME = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".json": "application/json",
    ".md": "text/markdown",
    ".xml": "application/xml",
}
DESCRIPTIONS = {
    "governance.pdf": "Governance summary (PDF, for the committee's file)",
    "report.pdf": "Full report (PDF)",
    "report.html": "Full report (HTML)",
    "report.json": "Report data (JSON, the machine-readable record)",
    "summary.md": "Summary (Markdown, e.g. for a pull request)",
    "junit.xml": "Rule results (JUnit XML, for CI)",
}
RESULT_KEY = "export_files"


@st.cache_data(show_spinner=False, max_entries=8)
def _render(report_json: str, digest: str) -> dict[str, bytes]:
    from reports.render import FORMATS, render

    report = Report.from_json(report_json)
    with tempfile.TemporaryDirectory(prefix="auditor-export-") as tmp:
        written = render(report, Path(tmp) / "out", FORMATS)
        return {Path(p).name: Path(p).read_bytes() for p in written.values()}


WAITING = (
    "Waiting for the full intervals ({n:,} bootstrap replicates): exports are the audit of record…"
)
AWAITED = (
    "The page was still showing interactive intervals; these files carry the audit's full "
    "bootstrap ({n:,} replicates), as the audit of record."
)


def record_report(ctx: ViewContext) -> Report | None:
    """What the files hold: the report on screen, with the full intervals (waited for)."""
    if ctx.live is None or ctx.full_intervals:
        return ctx.report
    from auditor.dashboard.app import apply_override

    n = state.full_bootstrap(ctx.live.spec.bootstrap)
    with st.spinner(WAITING.format(n=n)):
        full = state.guarded(
            state.full_measurement,
            ctx.live,
            threshold=ctx.threshold,
            references=ctx.references,
            wait=True,
        )
    if full is None:
        return None
    st.info(AWAITED.format(n=n))
    return apply_override(full.report)


def render(ctx: ViewContext) -> None:
    recorded = record_report(ctx)
    if recorded is None:
        return
    report = recorded
    text = report.to_json()
    digest = sha256_bytes(text.encode("utf-8"))
    st.markdown(
        f"The files describe what is on screen: threshold **{report.threshold:g}**, "
        f"policy **{display.plain(', '.join(p.id for p in report.policies) or 'none')}**, "
        f"verdict **{report.verdict}**."
    )
    if st.session_state.get(RESULT_KEY, {}).get("digest") != digest:
        if not st.button("Prepare the files", type="primary"):
            return
        with st.spinner("Rendering PDF, HTML, JSON, Markdown and JUnit…"):
            files = state.guarded(_render, text, digest)
        if files is None:
            return
        st.session_state[RESULT_KEY] = {"digest": digest, "files": files}
    files = st.session_state[RESULT_KEY]["files"]
    order: list[str] = [n for n in DESCRIPTIONS if n in files]
    order += sorted(str(n) for n in files if n not in DESCRIPTIONS)
    for name in order:
        st.download_button(
            DESCRIPTIONS.get(name) or name,
            data=files[name],
            file_name=name,
            mime=MIME.get(Path(name).suffix, "application/octet-stream"),
            key=f"download::{name}",
            width="stretch",
        )
