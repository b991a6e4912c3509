"""report.html and the HTML behind both PDFs, from Jinja2 templates with autoescape on.

One template serves the screen and print (``report.css`` has the print rules; the
``@page`` margin boxes are written here because they hold the report's name). The
result is self-contained: CSS inline, charts as SVG data URIs, nothing fetched.
Every string that came from the user is escaped; the few that go into CSS pass
through :func:`css_string`, which escapes everything but plain characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reports.charts import ChartSet, make_charts
from reports.findings import governance_extra
from reports.model import Report
from reports.view import ReportView, build_view

TEMPLATE_DIR = Path(__file__).parent / "templates"
CSS_PATH = TEMPLATE_DIR / "report.css"
VERDICT_COLOURS = {"pass": "#007a5a", "warn": "#9a5b00", "fail": "#c0430a"}
"""Running-header colours: Okabe-Ito hues darkened for small text on white."""

_CSS_PLAIN = re.compile(r"[A-Za-z0-9 .,:;()_\-]")
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def css_string(text: Any) -> Markup:
    """A quoted CSS string; anything but letters, digits and plain punctuation is escaped."""
    out = []
    for ch in str(text):
        out.append(ch if _CSS_PLAIN.fullmatch(ch) else f"\\{ord(ch):x} ")
    return Markup('"' + "".join(out) + '"')


def css_colour(value: Any) -> Markup:
    text = str(value)
    if not _HEX_COLOUR.fullmatch(text):
        raise ValueError(f"not a #rrggbb colour: {text!r}")
    return Markup(text)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["css_string"] = css_string
    env.filters["css_colour"] = css_colour
    return env


@lru_cache(maxsize=1)
def _css() -> Markup:
    css = CSS_PATH.read_text(encoding="utf-8")
    if "</" in css:  # would end the <style> element early
        raise ValueError(f"{CSS_PATH}: must not contain '</'")
    return Markup(css)


def _title(view: ReportView) -> str:
    return " ".join(x for x in (view.model_name, view.model_version) if x)


def _render(template: str, view: ReportView, *, header_left: str) -> str:
    report = view.report
    tool = f"{report.provenance.tool} {report.provenance.tool_version}"
    return (
        environment()
        .get_template(template)
        .render(
            v=view,
            css=_css(),
            header_left=header_left,
            header_right=f"Verdict: {view.summary.verdict_word}",
            footer_left=f"Generated {view.generated_at} by {tool}",
            verdict_colour=VERDICT_COLOURS.get(report.verdict, "#000000"),
        )
    )


def report_html(report: Report, charts: ChartSet | None = None) -> str:
    """The technical report as one self-contained HTML document."""
    view = build_view(report, charts if charts is not None else make_charts(report))
    return _render("report.html.j2", view, header_left=f"{_title(view)} — fairness audit")


def governance_html(
    report: Report,
    *,
    report_pdf_sha256: str | None = None,
    output_hashes: dict[str, str] | None = None,
) -> str:
    """The committee's decision record; references report.pdf by its SHA-256."""
    view = build_view(report, ChartSet())
    view.extra = governance_extra(
        report, report_pdf_sha256=report_pdf_sha256, output_hashes=output_hashes or {}
    )
    return _render("governance.html.j2", view, header_left=f"Release decision: {_title(view)}")


def write_html(report: Report, out_dir: Path, charts: ChartSet | None = None) -> Path:
    path = out_dir / "report.html"
    path.write_text(report_html(report, charts), encoding="utf-8")
    return path


__all__ = ["css_string", "governance_html", "report_html", "write_html"]
