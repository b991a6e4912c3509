"""Export: the report on screen as PDF, HTML, JSON, Markdown and JUnit, via ``reports.render``.

The files are rendered into a private temporary folder by the same renderers
as the CLI, once per report content, and offered as downloads.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from auditor.dashboard import state
from auditor.hashing import sha256_bytes
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


def render(ctx: ViewContext) -> None:
    report = ctx.report
    text = report.to_json()
    digest = sha256_bytes(text.encode("utf-8"))
    st.markdown(
        f"The files describe exactly what is on screen: threshold **{report.threshold:g}**, "
        f"policy **{', '.join(p.id for p in report.policies) or 'none'}**, verdict "
        f"**{report.verdict}**."
    )
    if ctx.timed is not None and not ctx.full_intervals:
        st.info(
            f"Intervals on screen use {ctx.timed.bootstrap:,} bootstrap replicates (interactive "
            "mode). For the audit of record press “Compute full intervals” in the sidebar first."
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
