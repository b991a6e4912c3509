"""report.pdf and governance.pdf from the same HTML as report.html (WeasyPrint).

Nothing is fetched while rendering: the only URLs the HTML holds are ``data:`` URIs
of its own charts, and any other URL is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from reports.html import governance_html
from reports.model import Report

BLOCKED_URL = "report rendering fetches nothing; refused URL: {url}"


def _data_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses everything else."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:  # WeasyPrint before the URLFetcher class: a plain function
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            if not url.startswith("data:"):
                raise ValueError(BLOCKED_URL.format(url=url[:80]))
            return default_url_fetcher(url, *args, **kwargs)

        return fetch
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def html_to_pdf(html: str, path: Path) -> Path:
    """Write one PDF; the HTML's print CSS does the page layout."""
    from weasyprint import HTML  # imported here: it is slow to import and only PDFs need it

    HTML(string=html, url_fetcher=_data_only_fetcher()).write_pdf(path)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_pdfs(
    report: Report,
    out_dir: Path,
    report_html: str,
    *,
    output_hashes: dict[str, str] | None = None,
) -> tuple[Path, Path]:
    """report.pdf first, then governance.pdf, which cites report.pdf by its SHA-256."""
    technical = html_to_pdf(report_html, out_dir / "report.pdf")
    hashes = dict(output_hashes or {})
    digest = sha256_file(technical)
    governance = html_to_pdf(
        governance_html(report, report_pdf_sha256=digest, output_hashes=hashes),
        out_dir / "governance.pdf",
    )
    return technical, governance
