"""Render a report into every requested format: the one entry point of stage 5.

``render(report, out_dir, formats)`` writes into ``out_dir`` (the CLI passes a staging
folder and moves it into place). Charts are made once and shared by the HTML and the
PDF; report.pdf is written before governance.pdf, which cites its SHA-256.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import AuditInputError

if TYPE_CHECKING:
    from reports.model import Report

FORMATS: tuple[str, ...] = ("json", "html", "pdf", "md", "junit")
"""Format names; ``pdf`` writes both report.pdf and governance.pdf."""
FILE_NAMES: dict[str, tuple[str, ...]] = {
    "json": ("report.json",),
    "html": ("report.html",),
    "pdf": ("report.pdf", "governance.pdf"),
    "md": ("summary.md",),
    "junit": ("junit.xml",),
}
UNKNOWN_FORMAT = "unknown report format '{name}'; expected one of: {choices}"


def render(report: Report, out_dir: Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Write the requested formats into ``out_dir``; return the files by role.

    Roles: ``json``, ``html``, ``pdf`` (report.pdf), ``governance`` (governance.pdf),
    ``md`` and ``junit``. The report is re-validated first, so the privacy floor of
    :class:`~reports.model.Report` also covers parts set with ``model_copy``.
    """
    wanted = list(dict.fromkeys(formats))
    for name in wanted:
        if name not in FORMATS:
            raise AuditInputError(UNKNOWN_FORMAT.format(name=name, choices=", ".join(FORMATS)))
    from reports.model import Report  # here, so `python -m reports.model` runs it once

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report.model_validate(report.model_dump())
    written: dict[str, Path] = {}
    output_hashes: dict[str, str] = {}
    if "json" in wanted:
        from auditor.load.hashing import sha256_bytes
        from reports.json_report import write_json

        written["json"] = write_json(report, out_dir)
        # hashed here, not with reports.pdf: a JSON-only run need not import the PDF stack
        output_hashes["report.json"] = sha256_bytes(written["json"].read_bytes())
    if "md" in wanted:
        from reports.markdown import write_markdown

        written["md"] = write_markdown(report, out_dir)
    if "junit" in wanted:
        from reports.junit import write_junit

        written["junit"] = write_junit(report, out_dir)
    if "html" in wanted or "pdf" in wanted:
        from reports.charts import make_charts
        from reports.html import report_html

        html = report_html(report, make_charts(report))
        if "html" in wanted:
            written["html"] = out_dir / "report.html"
            written["html"].write_text(html, encoding="utf-8")
        if "pdf" in wanted:
            from reports.pdf import write_pdfs

            written["pdf"], written["governance"] = write_pdfs(
                report, out_dir, html, output_hashes=output_hashes
            )
    return written
