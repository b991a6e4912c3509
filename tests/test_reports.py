"""Renderers: every format from the factory report, privacy, escaping, determinism, layout.

The factory report (tests/report_factory.py) has suppressed, label-withheld and
reference groups, an intersection, failing / inconclusive / not-evaluable results,
explanations and data checks. Whole renders are done once per module.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html as html_lib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from pypdf import PdfReader
from report_factory import (
    LEAKY_N,
    LEAKY_VALUES,
    SECOND_SUPPRESSED_GROUP,
    SUPPRESSED_GROUP,
    WITHHELD_GROUP,
    make_report,
)

from auditor.errors import AuditInputError
from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY, WITHHELD_COMPLEMENTARY
from reports import FORMATS, render
from reports import format as fmt
from reports.charts import SERIES_COLOURS, SERIES_LINES, SERIES_MARKERS, make_charts
from reports.findings import governance_extra, hidden_keys, result_row
from reports.html import css_string, governance_html, report_html
from reports.junit import case_names, junit_xml
from reports.markdown import summary_markdown
from reports.model import (
    SCHEMA_PATH,
    Curves,
    Estimate,
    Explanations,
    GroupResult,
    PolicyResult,
    Report,
    ResultCounts,
    RocCurve,
)
from reports.pdf import html_to_pdf
from reports.render import FILE_NAMES, UNKNOWN_FORMAT

HOSTILE_GROUP = "<script>alert(1)</script>"
HOSTILE_NAME = 'Sepsis <b>EWS</b> & "v2" </style>'
MATH_GROUP = "Latinx $x^2$ & co"
ALLOWED_DIGITS = "11"
"""The only number a suppressed group's row may carry: the minimum cell size."""


# ------------------------------------------------------------------ helpers


def _pdf_text(path: Path) -> tuple[str, int]:
    reader = PdfReader(path)
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return text, len(reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _svgs(html: str) -> list[str]:
    return [
        base64.b64decode(m).decode("utf-8")
        for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    ]


def _visible_text(html: str) -> str:
    """HTML without tags and data URIs, entities kept (what a reader sees, roughly)."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html)))


def _policy_words(report: Report) -> tuple[str, ...]:
    """Text that is not the group's data and may stand next to any group: rule ids,
    titles and bounds, and the census share the spec gave for it."""
    words = set()
    for r in report.policy_results:
        words.update({r.rule_id, r.rule_title, fmt.bound_text(r.bound)})
    for row in report.data_checks.representation:
        if row.reference_share is not None:
            words.add(f"{row.reference_share * 100:.1f}%")
    return tuple(sorted((w for w in words if w), key=len, reverse=True))


def _digits_besides_allowed(text: str, names: tuple[str, ...]) -> list[str]:
    """Numbers in a row that names a suppressed group, besides group and policy text."""
    for word in (*names, "fewer than 11"):
        text = text.replace(word, "")
    return re.findall(r"\d+(?:[.,]\d+)?", text)


def _leak_patterns() -> list[re.Pattern[str]]:
    """The leaked values at 3 and 4 decimals, not inside another number.

    Two decimals (0.43, 0.92) also occur as honest values of other groups; rows that
    name a suppressed group are checked for any digit instead.
    """
    out = []
    for value in LEAKY_VALUES:
        for digits in (3, 4):
            text = f"{value:.{digits}f}"
            out.append(re.compile(rf"(?<![\d.]){re.escape(text)}(?!\d)"))
    return out


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, Path]]:
    report = make_report()
    return report, render(report, tmp_path_factory.mktemp("factory"))


@pytest.fixture(scope="module")
def report_pdf(rendered: tuple[Report, dict[str, Path]]) -> tuple[str, int]:
    return _pdf_text(rendered[1]["pdf"])


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, Path]]:
    report = make_report(leaky=True)
    return report, render(report, tmp_path_factory.mktemp("leaky"))


@pytest.fixture(scope="module")
def hostile() -> Report:
    return make_report(name=HOSTILE_NAME, renames={"Black": HOSTILE_GROUP, "Hispanic": MATH_GROUP})


# ------------------------------------------------------------------ files and JSON


def test_render_writes_every_file_by_role(rendered: tuple[Report, dict[str, Path]]) -> None:
    _, files = rendered
    assert set(files) == {"json", "html", "pdf", "governance", "md", "junit"}
    names = {p.name for p in files.values()}
    assert names == {name for f in FORMATS for name in FILE_NAMES[f]}
    assert all(p.stat().st_size > 0 for p in files.values())


def test_report_json_validates_against_the_shipped_schema(
    rendered: tuple[Report, dict[str, Path]],
) -> None:
    report, files = rendered
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert files["json"].read_text(encoding="utf-8") == report.to_json()


def test_only_requested_formats_are_written(tmp_path: Path) -> None:
    files = render(make_report(), tmp_path, ["md", "junit"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "summary.md"]
    assert set(files) == {"md", "junit"}


def test_unknown_format_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError) as err:
        render(make_report(), tmp_path, ["json", "docx"])
    assert str(err.value) == UNKNOWN_FORMAT.format(
        name="docx", choices="json, html, pdf, md, junit"
    )
    assert str(err.value) == (
        "unknown report format 'docx'; expected one of: json, html, pdf, md, junit"
    )


# ------------------------------------------------------------------ PDFs


def test_report_pdf_names_verdict_groups_and_failing_rules(
    rendered: tuple[Report, dict[str, Path]], report_pdf: tuple[str, int]
) -> None:
    report, _ = rendered
    text, pages = report_pdf
    flat = _flat(text)
    assert "Verdict: FAIL" in flat
    assert pages >= 10
    for group in report.groups:
        assert fmt.group_label(group.group) in flat, group.group
    failing = {r.rule_id for r in report.policy_results if r.status == "fail"}
    assert failing and all(rule in flat for rule in failing)
    for heading in (
        "Executive summary",
        "Contents",
        "Results by race",
        "Results by race × sex",
        "Explanations",
        "Policy results",
        "Data checks",
        "Appendix: provenance",
    ):
        assert heading in flat, heading
    assert f"Page 1 of {pages}" in flat and f"Page {pages} of {pages}" in flat
    assert report.provenance.sha256["data"] in re.sub(r"\s+", "", text)


def test_report_pdf_chart_text_is_searchable(report_pdf: tuple[str, int]) -> None:
    flat = _flat(report_pdf[0])
    assert "estimate, 95% interval" in flat and "policy bound" in flat


def test_governance_pdf_is_short_and_cites_report_pdf_by_hash(
    rendered: tuple[Report, dict[str, Path]],
) -> None:
    _, files = rendered
    text, pages = _pdf_text(files["governance"])
    assert pages <= 5
    digest = hashlib.sha256(files["pdf"].read_bytes()).hexdigest()
    assert digest in re.sub(r"\s+", "", text)
    flat = _flat(text)
    for phrase in (
        "Verdict: FAIL",
        "The decision asked of the committee",
        "Groups at risk",
        "What the committee should weigh",
        "Sign-off",
        "Approve",
        "Reject",
        "Signature",
        "report.pdf",
    ):
        assert phrase in flat, phrase
    assert "Sensitivity (TPR) 0.62 (0.55–0.69); required at least 0.70" in flat


def test_governance_pdf_stays_within_five_pages_with_many_failures(tmp_path: Path) -> None:
    report = make_report(extra_failures=300)
    path = html_to_pdf(governance_html(report, report_pdf_sha256="0" * 64), tmp_path / "g.pdf")
    text, pages = _pdf_text(path)
    assert pages <= 5
    assert "more groups" in _flat(text) or "more in the technical report" in _flat(text)


# ------------------------------------------------------------------ JUnit and Markdown


def test_junit_has_one_case_per_result_and_right_counts(
    rendered: tuple[Report, dict[str, Path]],
) -> None:
    report, files = rendered
    root = ET.parse(files["junit"]).getroot()
    results = report.policy_results
    # issue 12: failed warn results and undecided blocking checks are failures too
    # (type="warn" / "undecided"), never skipped
    from auditor.judge.verdict import counts_undecided

    failing = [
        r
        for r in results
        if r.waiver is None
        and ((r.status == "fail" and r.severity in ("block", "warn")) or counts_undecided(r))
    ]
    assert root.tag == "testsuites"
    assert int(root.get("tests", -1)) == len(results)
    assert int(root.get("failures", -1)) == len(failing)
    assert int(root.get("skipped", -1)) == sum(r.status != "pass" for r in results) - len(failing)
    assert int(root.get("errors", -1)) == 0
    cases = root.findall("./testsuite/testcase")
    assert [c.get("classname") for c in cases] == [r.policy for r in results]
    assert all(c.get("name", "").startswith(r.rule_id) for c, r in zip(cases, results))
    for case, result in zip(cases, results):
        failure, skipped = case.find("failure"), case.find("skipped")
        if result.status == "pass":
            assert failure is None and skipped is None
        elif result in failing:
            assert failure is not None and skipped is None
            assert failure.get("type") in ("blocking", "warn", "undecided")
        else:
            assert failure is None and skipped is not None and skipped.get("message")
    for suite in root.findall("testsuite"):
        members = suite.findall("testcase")
        assert int(suite.get("tests", -1)) == len(members)
        assert int(suite.get("failures", -1)) == sum(c.find("failure") is not None for c in members)
        assert int(suite.get("skipped", -1)) == sum(c.find("skipped") is not None for c in members)
        assert {c.get("classname") for c in members} == {suite.get("name")}
    names = [c.get("name") for c in cases]
    assert "sensitivity-min [race: Black]" in names
    assert "intended-use-documented" in names


def test_summary_markdown_is_short_and_lists_what_failed(
    rendered: tuple[Report, dict[str, Path]],
) -> None:
    report, files = rendered
    text = files["md"].read_text(encoding="utf-8")
    assert len(text) < 20_000
    assert text.splitlines()[0].endswith("FAIL")
    assert "**Verdict: FAIL.**" in text
    for r in report.policy_results:
        if r.status in ("fail", "inconclusive"):
            assert r.rule_id in text
    assert f"| race | {SUPPRESSED_GROUP} | fewer than 11 |" in text
    withheld_row = f"| race | {WITHHELD_GROUP} | 38 | "
    line = next(x for x in text.splitlines() if x.startswith(withheld_row))
    assert line.split(" | ")[3].startswith("fewer than 11 events or non-events")  # the reason
    assert "| race | Black | 1,380 | 0.14 (0.12–0.16) | 0.78 (0.73–0.83) |" in text


# ------------------------------------------------------------------ HTML


def test_html_is_self_contained(rendered: tuple[Report, dict[str, Path]]) -> None:
    html = rendered[1]["html"].read_text(encoding="utf-8")
    assert not re.search(r"(?:https?|ftp|file)://", html, re.I)
    assert not re.search(r"<(?:link|script|iframe|object|embed)\b", html, re.I)
    assert "@import" not in html and "url(" not in html
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/svg+xml;base64,") for s in srcs)
    hrefs = re.findall(r'\bhref="([^"]*)"', html)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    ids = set(re.findall(r'\bid="([^"]*)"', html))
    assert {h[1:] for h in hrefs} <= ids


def test_html_charts_have_alt_text_and_captions(rendered: tuple[Report, dict[str, Path]]) -> None:
    html = rendered[1]["html"].read_text(encoding="utf-8")
    figures = re.findall(r"<figure\b.*?</figure>", html, re.S)
    assert len(figures) >= 10
    for figure in figures:
        alt = re.search(r'alt="([^"]*)"', figure)
        assert alt and len(alt.group(1)) > 20
        assert "<figcaption>" in figure


def test_html_print_css_has_running_header_and_page_numbers(
    rendered: tuple[Report, dict[str, Path]],
) -> None:
    html = rendered[1]["html"].read_text(encoding="utf-8")
    page = re.search(r"@page \{.*?\n\}", html, re.S)
    assert page is not None
    assert 'font-family: "DejaVu Sans"' in page.group(0)
    assert "counter(page)" in page.group(0) and "counter(pages)" in page.group(0)
    assert r'"Verdict: FAIL"' in page.group(0)
    assert "page-break-inside: avoid" in html


def test_user_strings_are_escaped_everywhere(hostile: Report) -> None:
    html = report_html(hostile)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>EWS</b>" not in html and "&lt;b&gt;EWS&lt;/b&gt;" in html
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None and "<" not in style.group(1)
    assert html.count("</style>") == 1
    for svg in _svgs(html):
        assert "<script" not in svg
    gov = governance_html(hostile, report_pdf_sha256="ab" * 32)
    assert "<script" not in gov.lower() and "<b>EWS</b>" not in gov
    md = summary_markdown(hostile)
    assert "<script>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    root = ET.fromstring(junit_xml(hostile))
    assert any(HOSTILE_GROUP in (c.get("name") or "") for c in root.iter("testcase"))


@pytest.mark.slow
def test_hostile_names_print_literally_in_the_pdf(hostile: Report, tmp_path: Path) -> None:
    path = html_to_pdf(report_html(hostile), tmp_path / "report.pdf")
    flat = _flat(_pdf_text(path)[0])
    assert HOSTILE_GROUP in flat and MATH_GROUP in flat and "<b>EWS</b>" in flat


def test_css_string_escapes_all_but_plain_characters() -> None:
    assert str(css_string("Verdict: FAIL")) == '"Verdict: FAIL"'
    assert str(css_string('a"b</style>\\')) == '"a\\22 b\\3c \\2f style\\3e \\5c "'


# ------------------------------------------------------------------ privacy


def test_no_output_holds_a_suppressed_groups_numbers(
    leaky: tuple[Report, dict[str, Path]],
) -> None:
    report, files = leaky
    texts = {
        "json": files["json"].read_text(encoding="utf-8"),
        "md": files["md"].read_text(encoding="utf-8"),
        "junit": files["junit"].read_text(encoding="utf-8"),
        "html": files["html"].read_text(encoding="utf-8"),
        "pdf": _pdf_text(files["pdf"])[0],
        "governance": _pdf_text(files["governance"])[0],
    }
    texts["svg"] = "\n".join(_svgs(texts["html"]))
    for name, text in texts.items():
        for leak in _leak_patterns():
            assert not leak.search(text), (name, leak.pattern)
        assert f"{LEAKY_N} patients" not in text and f"{LEAKY_N} rows" not in text, name
    hidden = (SUPPRESSED_GROUP, SECOND_SUPPRESSED_GROUP)
    assert not any(g in texts["svg"] for g in hidden)
    allowed = (*hidden, *_policy_words(report))
    # Every table row or list item that names a suppressed group carries no number of it.
    governance_html_text = governance_html(report, report_pdf_sha256="0" * 64)
    rows = re.findall(r"<tr\b.*?</tr>|<li\b.*?</li>", texts["html"] + governance_html_text, re.S)
    rows += [line for line in texts["md"].splitlines() if line.startswith("|")]
    rows += [
        ET.tostring(c, encoding="unicode") for c in ET.fromstring(texts["junit"]).iter("testcase")
    ]
    checked = 0
    for row in rows:
        plain = _visible_text(row) if row.startswith("<") else row
        if any(g in plain for g in hidden):
            checked += 1
            assert _digits_besides_allowed(_flat(plain), allowed) == [], plain
    assert checked > 20
    data = json.loads(texts["json"])
    for node in _iter_dicts(data):
        group = node.get("group")
        names = group if isinstance(group, list) else [group]
        if any(name in hidden for name in names):
            assert "n" not in node or node["n"] is None
            assert not node.get("metrics") and node.get("observed") is None
        # Rows that compare groups name them in fields of their own (max_group, ...).
        compared = [v for k, v in node.items() if k.endswith("_group")]
        named = [n for v in compared for n in (v if isinstance(v, list) else [v])]
        assert not any(name in hidden for name in named), node


def _iter_dicts(node: object):  # type: ignore[no-untyped-def]
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _iter_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _iter_dicts(value)


def test_renderers_withhold_numbers_even_if_the_model_is_bypassed() -> None:
    """Defence in depth: renderers check the suppressed flag themselves."""
    report = make_report(leaky=True)
    leaked = [
        GroupResult.model_construct(
            **{
                **g.__dict__,
                "n": LEAKY_N,
                "metrics": {"auroc": Estimate(estimate=LEAKY_VALUES[1])},
            }
        )
        if g.suppressed
        else g
        for g in report.groups
    ]
    report.groups = leaked
    report.curves.roc.append(
        RocCurve.model_construct(
            attribute="race", group=SUPPRESSED_GROUP, fpr=[0, 1], tpr=[0, 1], auroc=0.9166
        )
    )
    proxy = next(p for p in report.explanations.proxies if p.excluded_groups)
    proxy.reason = f"{SUPPRESSED_GROUP}: {LEAKY_N} rows"
    assert next(g for g in report.groups if g.group == SUPPRESSED_GROUP).n == LEAKY_N
    charts = make_charts(report)
    assert all(SUPPRESSED_GROUP not in c.svg and SUPPRESSED_GROUP not in c.alt for c in charts)
    outputs = [summary_markdown(report), junit_xml(report), report_html(report, charts)]
    for text in outputs:
        for leak in _leak_patterns():
            assert not leak.search(text)
    allowed = (SUPPRESSED_GROUP, *_policy_words(report))
    md_rows = [line for line in outputs[0].splitlines() if SUPPRESSED_GROUP in line]
    assert md_rows and all(_digits_besides_allowed(r, allowed) == [] for r in md_rows)
    pattern = r"<tr\b.*?</tr>|<li\b.*?</li>"
    html_rows = [r for r in re.findall(pattern, outputs[2], re.S) if SUPPRESSED_GROUP in r]
    assert any("left out" in r for r in html_rows)
    for row in html_rows:
        assert _digits_besides_allowed(_flat(_visible_text(row)), allowed) == []


# ------------------------------------------------------------------ determinism


def test_same_report_gives_byte_identical_outputs(
    rendered: tuple[Report, dict[str, Path]], tmp_path: Path
) -> None:
    report, first = rendered
    second = render(Report.from_json(report.to_json()), tmp_path, ["json", "html", "md", "junit"])
    for role in ("json", "html", "md", "junit"):
        assert first[role].read_bytes() == second[role].read_bytes(), role


def test_dates_come_from_the_provenance_only(tmp_path: Path) -> None:
    report = make_report()
    report.provenance.generated_at = "2001-02-03T04:05:06Z"
    files = render(report, tmp_path, ["json", "html", "md", "junit"])
    today = dt.datetime.now(dt.UTC).date().isoformat()
    for path in files.values():
        text = path.read_text(encoding="utf-8")
        assert "2001-02-03" in text, path.name
        assert today not in text, path.name


# ------------------------------------------------------------------ charts


def test_charts_cover_every_kind_with_print_sized_text() -> None:
    report = make_report()
    charts = make_charts(report)
    kinds = {c.kind for c in charts}
    assert kinds == {"metric", "disparity", "roc", "calibration", "shap", "shap-overall"}
    for chart in charts:
        sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", chart.svg)]
        assert sizes and min(sizes) >= 9, chart.id
        assert chart.width_in <= 6.7
        assert WITHHELD_GROUP not in chart.svg or chart.kind == "metric"
    assert [c.svg for c in make_charts(report)] == [c.svg for c in charts]


def test_chart_series_differ_by_marker_and_line_not_only_colour() -> None:
    styles = list(zip(SERIES_COLOURS, SERIES_MARKERS, SERIES_LINES))
    assert len({m for _, m, _ in styles}) == len(styles)
    assert len({str(line) for _, _, line in styles}) == len(styles)


def test_suppressed_and_withheld_groups_get_no_curves() -> None:
    report = make_report()
    keys = report.suppressed_keys() | report.label_withheld_keys()
    for chart in make_charts(report):
        if chart.kind in ("roc", "calibration") and chart.attribute == ("race",):
            for names, values in keys:
                if names == ("race",):
                    assert f">{values[0]} (" not in chart.svg


# ------------------------------------------------------------------ edge cases


def test_a_passing_report_without_model_or_policies_renders(tmp_path: Path) -> None:
    report = make_report().model_copy(
        update={
            "verdict": "pass",
            "counts": ResultCounts(),
            "policy_results": [],
            "policies": [],
            "curves": Curves(),
            "disparities": [],
            "explanations": Explanations(status="not_evaluable", reason="no model to explain"),
            "model_card": {},
        }
    )
    files = render(report, tmp_path)
    assert set(files) == {"json", "html", "pdf", "governance", "md", "junit"}
    text, pages = _pdf_text(files["governance"])
    assert pages <= 5 and "Verdict: PASS" in _flat(text)
    assert "does not state an intended use" in _flat(text)
    root = ET.parse(files["junit"]).getroot()
    assert root.get("tests") == "0"
    assert "No rule failed and none was inconclusive." in files["md"].read_text(encoding="utf-8")
    assert "no model to explain" in files["html"].read_text(encoding="utf-8")


# ------------------------------------------------------------------ suppression wording

PROTECTING = [[WITHHELD_GROUP, "Female"], [WITHHELD_GROUP, "Male"]]
"""race × sex cells hidden to protect a smaller one, not because they are small."""


def _complementary_report() -> Report:
    report = make_report()
    for g in report.groups:
        if g.suppressed and g.group in PROTECTING:
            g.suppression_reason = SUPPRESSED_COMPLEMENTARY
    return report


def test_only_groups_below_the_minimum_are_said_to_have_fewer_than_11() -> None:
    report = _complementary_report()
    text = summary_markdown(report)
    small = f"{SUPPRESSED_GROUP} × Female"
    small_row = f"| race × sex | {small} | fewer than 11 | numbers withheld: fewer than 11 patients"
    assert small_row in text
    for cell in PROTECTING:
        label = fmt.group_label(cell)
        assert (
            f"| race × sex | {label} | suppressed | numbers withheld: suppressed to protect a "
            "smaller group |" in text
        )
        row = next(line for line in text.splitlines() if f"| {label} |" in line)
        assert "fewer than" not in row
    assert (
        f"Also named only: race × sex: {WITHHELD_GROUP} × Female, race × sex: {WITHHELD_GROUP} "
        "× Male (suppressed to protect a smaller group)." in text
    )
    html = _visible_text(report_html(report, make_charts(report)))
    assert (
        f"({fmt.fewer_than(11)} patients); {WITHHELD_GROUP} × Female, {WITHHELD_GROUP} × Male "
        "(suppressed to protect a smaller group)." in _flat(html)
    )
    assert (
        f"{WITHHELD_GROUP} × Female numbers withheld: suppressed to protect a "
        "smaller group" in _flat(html)
    )
    assert f"{WITHHELD_GROUP} × Female fewer than" not in _flat(html)
    weigh = " ".join(governance_extra(report, report_pdf_sha256=None, output_hashes={})["weigh"])
    assert "figures of these groups are withheld for privacy" in weigh  # issue 12
    assert f"race × sex: {WITHHELD_GROUP} × Male (suppressed to protect a smaller group)" in weigh
    result = PolicyResult(
        policy="p",
        rule_id="r",
        severity="warn",
        status="not_evaluable",
        check="metric",
        attribute=["race", "sex"],
        group=PROTECTING[0],
        message="whatever the judge said",
    )
    row = result_row(report, result, hidden_keys(report))
    assert row.message == (
        f"{WITHHELD_GROUP} × Female: numbers withheld, {SUPPRESSED_COMPLEMENTARY}."
    )


def test_label_metrics_withheld_to_protect_another_group_say_so() -> None:
    report = make_report()
    withheld = next(g for g in report.groups if g.group == WITHHELD_GROUP)
    withheld.suppression_reason = WITHHELD_COMPLEMENTARY
    html = _flat(_visible_text(report_html(report, make_charts(report))))
    assert (
        f"Size and selection rate only: {WITHHELD_GROUP} (event count withheld to "
        "protect another group's count)." in html
    )
    assert "patients with or without the outcome):" not in html


def test_junit_case_names_are_unique_within_a_policy() -> None:
    def result(rule: str, metric: str | None, check: str, group: str | None) -> PolicyResult:
        return PolicyResult(
            policy="p",
            rule_id=rule,
            severity="warn",
            status="pass",
            check=check,
            metric=metric,
            attribute=None if group is None else "race",
            group=group,
            message="",
        )

    results = [
        result("group-size", "n", "representation", "Black"),
        result("group-size", "n_positive", "representation", "Black"),
        result("group-size", "n", "representation", "White"),
        result("gap", "sensitivity", "disparity", "Black"),
        result("gap", "sensitivity", "metric", "Black"),
        result("card", None, "model_card", None),
        result("card", None, "model_card", None),
        result("sens", "sensitivity", "metric", "Black"),
    ]
    assert case_names(results) == [
        "group-size [race: Black] (n)",
        "group-size [race: Black] (n_positive)",
        "group-size [race: White]",
        "gap [race: Black] (disparity)",
        "gap [race: Black] (metric)",
        "card #1",
        "card #2",
        "sens [race: Black]",
    ]


def test_long_panel_titles_are_wrapped_to_their_panel():
    """Three panels side by side: 'Time-dependent AUROC at the horizon' once ran into the
    next panel's title in the survival report."""
    from reports import charts

    title = "Time-dependent AUROC at the horizon"
    width = 1.9
    size = float(charts.RC["axes.titlesize"])
    assert charts.text_width([title], size) > width  # it would not fit on one line
    wrapped = charts._wrapped(title, width)
    lines = wrapped.split("\n")
    assert len(lines) >= 2 and " ".join(lines) == title
    assert all(charts.text_width([line], size) <= width for line in lines)
    assert charts._wrapped("AUROC", width) == "AUROC"
