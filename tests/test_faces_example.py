"""Every face of the bundled example reads as the report means: badges by each group's own
reason, words not split, captions for what is drawn, names instead of ids, counts as counts,
one proxy threshold, and examples/README.md as the demo really comes out."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from auditor.audit import proxy_threshold, run_audit
from auditor.judge.policy import load_policies
from auditor.load.examples import demo_spec_path
from auditor.load.spec_loader import load_spec
from auditor.privacy.suppression import WITHHELD_BOTH, WITHHELD_COMPLEMENTARY, WITHHELD_PARENT
from reports import format as fmt
from reports import render
from reports.charts import make_charts
from reports.findings import finding_text
from reports.model import Bound, PolicyResult, Report, group_key

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Report, dict[str, Path]]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    try:
        spec = dataclasses.replace(load_spec(demo_spec_path()), bootstrap=100)
        report = run_audit(spec).report
        yield report, render(report, tmp_path_factory.mktemp("faces"))
    finally:
        patch.undo()


def _pdf_pages(path: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(path).pages]


@pytest.fixture(scope="module")
def pdf_pages(example: tuple[Report, dict[str, Path]]) -> list[str]:
    return _pdf_pages(example[1]["pdf"])


class _Tables(HTMLParser):
    """Tables of an HTML page: for each, its caption, header cells and body rows."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self._part = ""
        self._row: list[str] | None = None
        self._text: list[str] = []
        self._in_cell = False
        self.tags: list[tuple[str, str]] = []  # (row label, badge)
        self._in_tag = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"head": [], "body": []})
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in_cell, self._text = True, []
        elif tag == "span" and ("class", "tag") in attrs:
            self._in_tag = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None:
            self._row.append(" ".join("".join(self._text).split()))
            self._in_cell = False
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1]["head" if self._part == "thead" else "body"].append(self._row)
            self._row = None
        elif tag == "span":
            self._in_tag = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self._text.append(data)
        if self._in_tag and self._row is not None:
            label = " ".join("".join(self._text).split()).removesuffix(data.strip()).strip()
            self.tags.append((label, data.strip()))


@pytest.fixture(scope="module")
def html_tables(example: tuple[Report, dict[str, Path]]) -> _Tables:
    parser = _Tables()
    parser.feed(example[1]["html"].read_text(encoding="utf-8"))
    return parser


# --- badges, rows and tables ---------------------------------------------------------------


def test_withheld_badges_say_each_groups_own_reason(
    example: tuple[Report, dict[str, Path]], html_tables: _Tables
) -> None:
    report, _ = example
    withheld = [g for g in report.groups if g.label_metrics_withheld and not g.suppressed]
    assert withheld, "the example has a group whose label metrics are withheld"
    badges = {label: tag for label, tag in html_tables.tags if tag != "reference"}
    for g in withheld:
        label = fmt.group_label(g.group)
        assert badges[label] == fmt.withheld_tag(g.suppression_reason, report.min_cell_size)
    # 95+ has fewer than 11 patients with and without the outcome: its own few events
    assert badges["95+"] == "few events"
    # 85-94 has 49 events: never badged "few events"
    assert badges.get("85-94") != "few events"


def test_a_group_withheld_to_protect_another_is_badged_withheld_not_few_events() -> None:
    m = 11
    assert fmt.withheld_tag(WITHHELD_BOTH.format(m=m), m) == "few events"
    assert fmt.withheld_tag(WITHHELD_COMPLEMENTARY, m) == "withheld"
    assert fmt.withheld_tag(WITHHELD_PARENT.format(parent="85-94"), m) == "withheld"


def test_no_table_is_only_a_header(html_tables: _Tables) -> None:
    assert html_tables.tables
    for table in html_tables.tables:
        assert table["body"], f"table with header {table['head']} has no row"


def test_suppressed_rows_span_the_size_column_so_no_word_is_split(
    example: tuple[Report, dict[str, Path]], pdf_pages: list[str]
) -> None:
    text = "\n".join(pdf_pages)
    assert not re.search(r"suppres\s*\n\s*sed", text)
    assert not re.search(r"\bsuppres\b", text)
    html = example[1]["html"].read_text(encoding="utf-8")
    assert '<td class="num">suppressed</td>' not in html


# --- the contents, figures and captions ------------------------------------------------------


def test_all_patients_is_in_the_contents_with_its_page(pdf_pages: list[str]) -> None:
    contents = next(p for p in pdf_pages if "Contents" in p)
    entry = re.search(r"All patients\s*\.+\s*(\d+)", contents)
    assert entry, contents
    page = int(entry.group(1))
    assert "All patients" in pdf_pages[page - 1].splitlines()
    assert "Every measure for the whole population" in pdf_pages[page - 1]


def test_captions_promise_only_what_is_drawn(example: tuple[Report, dict[str, Path]]) -> None:
    report, _ = example
    charts = make_charts(report)
    metric = {c.attribute: c for c in charts if c.kind == "metric"}
    judged = {
        tuple([r.attribute] if isinstance(r.attribute, str) else r.attribute)
        for r in report.policy_results
        if r.check in ("metric", "calibration") and r.bound is not None and r.attribute
    }
    for key, chart in metric.items():
        assert ("dashed lines are policy bounds" in chart.caption) == (key in judged), key
    for key, chart in metric.items():
        shown = [
            g
            for g in report.groups
            if not g.suppressed
            and tuple([g.attribute] if isinstance(g.attribute, str) else g.attribute) == key
        ]
        missing = any(g.label_metrics_withheld for g in shown)
        if missing:  # 95+ in age_band: its estimates are withheld, so the panel says so
            assert "'not available' marks a group" in chart.caption, key
    assert "'not available' marks a group" in metric[("age_band",)].caption


def test_feature_importance_figure_shows_every_feature_it_ranks(
    example: tuple[Report, dict[str, Path]], pdf_pages: list[str]
) -> None:
    report, _ = example
    n = len(report.explanations.global_importance)
    chart = next(c for c in make_charts(report) if c.kind == "shap-overall")
    assert f"of all {n} features" in chart.caption
    assert all(i.feature in chart.alt for i in report.explanations.global_importance)
    text = re.sub(r"\s+", " ", "\n".join(pdf_pages))
    assert f"ranks 4 of {n}" in text and f"of all {n} features" in text


# --- words a reader understands -------------------------------------------------------------


def test_no_raw_ids_and_counts_worded_as_counts(
    example: tuple[Report, dict[str, Path]], pdf_pages: list[str]
) -> None:
    files = example[1]
    texts = [
        re.sub(r"\s+", " ", "\n".join(pdf_pages)),
        re.sub(r"\s+", " ", "\n".join(_pdf_pages(files["governance"]))),
        files["md"].read_text(encoding="utf-8").replace("\\", ""),
    ]
    for text in texts:
        assert "proxy_strength" not in text
        assert "worst_case" not in text
        assert not re.search(r"\d\.\d\d patients", text)
    assert "Patients 12; required at least 100; 88 patients short of the minimum" in texts[0]
    assert "Proxy strength 0.98; required at most 0.50" in texts[0]


def _result(observed: float, low: float, high: float, minimum: float) -> PolicyResult:
    return PolicyResult(
        policy="p",
        rule_id="discrimination",
        rule_title="AUROC at least the bound",
        severity="block",
        status="fail",
        check="metric",
        metric="auroc",
        attribute="race",
        group="Black",
        observed=observed,
        ci_low=low,
        ci_high=high,
        bound=Bound(min=minimum),
        message="m",
    )


def test_a_breach_is_shown_with_enough_digits(example: tuple[Report, dict[str, Path]]) -> None:
    report, _ = example
    r = _result(0.7913, 0.7204, 0.8497, 0.85)  # the interval stops short of the bound
    assert finding_text(report, r).startswith(
        "AUROC 0.7913 (0.7204–0.8497); required at least 0.8500; 0.0587 below the minimum"
    )
    close = _result(0.8496, 0.8, 0.9, 0.85)
    assert finding_text(report, close).startswith(
        "AUROC 0.8496 (0.8000–0.9000); required at least 0.8500; 0.0004 below the minimum"
    )
    plain = _result(0.62, 0.57, 0.67, 0.70)
    assert finding_text(report, plain).startswith(
        "AUROC 0.62 (0.57–0.67); required at least 0.70; 0.080 below the minimum"
    )


def test_summary_markdown_gives_the_reason_of_every_hidden_group(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, files = example
    md = files["md"].read_text(encoding="utf-8").replace("\\", "")
    for g in report.groups:
        if not (g.suppressed or g.label_metrics_withheld):
            continue
        label = fmt.group_label(g.group)
        attribute = fmt.attribute_label(g.attribute)
        start = f"| {attribute} | {label} |"
        row = next(line for line in md.splitlines() if line.startswith(start))
        reason_cell = row.split(" | ")[3]
        assert "withheld" in reason_cell, row
        assert reason_cell != fmt.NO_VALUE


# --- one proxy threshold, one word ----------------------------------------------------------


def test_one_proxy_threshold_for_the_table_and_the_rule(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, files = example
    rule = next(r for r in report.policy_results if r.check == "proxy" and r.bound is not None)
    assert report.explanations.proxy_threshold == rule.bound.max == 0.5  # type: ignore[union-attr]
    threshold = report.explanations.proxy_threshold
    by_attribute: dict[str, list[bool]] = {}
    for p in report.explanations.proxies:
        assert p.is_proxy == ((p.strength or 0.0) > threshold)
        if p.feature != "(all features)":
            by_attribute.setdefault(p.attribute, []).append(p.is_proxy)
    for r in report.policy_results:
        if r.check == "proxy" and r.status in ("pass", "fail"):
            assert (r.status == "fail") == any(by_attribute[str(r.attribute)]), r.attribute
    html = files["html"].read_text(encoding="utf-8")
    assert "a feature above 0.50 is a strong proxy" in html
    assert "at or above" not in html


def test_a_policy_bound_sets_the_proxy_threshold(tmp_path: Path) -> None:
    spec = load_spec(demo_spec_path())
    assert proxy_threshold(spec, load_policies(spec.policies)) == 0.5
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        (ROOT / "policies" / "clinical-default.yaml")
        .read_text(encoding="utf-8")
        .replace("id: clinical-default", "id: strict-proxies")
        .replace("max_strength: 0.5", "max_strength: 0.3")
    )
    assert proxy_threshold(spec, load_policies([str(strict)])) == 0.3
    explicit = dataclasses.replace(
        spec, explain=dataclasses.replace(spec.explain, proxy_threshold=0.4)
    )
    assert proxy_threshold(explicit, load_policies(spec.policies)) == 0.4


# --- examples/README.md from the real output -----------------------------------------------


def test_examples_readme_says_what_the_demo_shows_for_small_groups(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, _ = example
    text = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    section = text.split("### Small cells, on purpose", 1)[1].split("###", 1)[0]
    rows = re.findall(r"^\| ([^|]+ = [^|]+) \| ([^|]+) \|$", section, re.M)
    assert rows
    said: dict[tuple[str, str], str] = {}
    for subject, shown in rows:
        attribute, groups = subject.split(" = ", 1)
        for group in groups.split(", "):
            said[(attribute.strip(), group.strip())] = shown.strip()
    expected = {}
    for g in report.groups:
        if g.suppressed:
            expected[(fmt.attribute_label(g.attribute), fmt.group_label(g.group))] = "nothing"
        elif g.label_metrics_withheld:
            expected[(fmt.attribute_label(g.attribute), fmt.group_label(g.group))] = "size only"
    assert {k: v.split(":")[0].split(" (")[0].split(";")[0] for k, v in said.items()} == expected
    for key, shown in said.items():
        if shown.startswith("nothing"):
            assert not re.search(r"\d+ (people|patients)", shown.replace("11", "")), key
        g = next(
            g
            for g in report.groups
            if (fmt.attribute_label(g.attribute), fmt.group_label(g.group)) == key
        )
        if g.n is not None and "(" in shown and "people" in shown:
            assert f"({g.n} people)" in shown
        assert group_key(g.attribute, g.group)


def test_examples_readme_is_tracked_not_ignored() -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ignored == [], f"tracked files that .gitignore lists: {ignored}"


def test_governance_quotes_out_of_scope_use_and_never_a_todo(
    example: tuple[Report, dict[str, Path]],
) -> None:
    from reports.findings import governance_extra

    report, files = example
    text = re.sub(r"\s+", " ", "\n".join(_pdf_pages(files["governance"])))
    assert "Not intended for: Any real clinical or coverage decision" in text
    todo = report.model_copy(
        update={"model_card": {"intended_use": "TODO: what the model is for", "developer": "x"}}
    )
    extra = governance_extra(todo, report_pdf_sha256=None, output_hashes={})
    assert extra["intended_use"] == ""  # the template then asks the committee for one
    assert fmt.card_text("TODO: where it must not be used") == fmt.NOT_STATED
    assert fmt.card_text("") == fmt.NOT_STATED
