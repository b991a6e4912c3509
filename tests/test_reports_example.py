"""Every renderer on the bundled example, audited for real (not the hand-made factory report).

The example has what a hand-made report can miss: groups suppressed by complementary
suppression (large groups hidden so that a small one's size cannot be recovered by
subtraction), label-withheld groups, explanations and data checks computed by the
pipeline itself. The audit runs once per module, with fewer bootstrap replicates.
"""

from __future__ import annotations

import dataclasses
import html as html_lib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pypdf import PdfReader

from auditor.audit import run_audit
from auditor.load.examples import demo_spec_path
from auditor.load.spec_loader import load_spec
from auditor.privacy.suppression import SUPPRESSED_COMPLEMENTARY
from reports import format as fmt
from reports import render
from reports.html import governance_html
from reports.model import SCHEMA_PATH, GroupKey, Report, below_minimum, group_key

BOOTSTRAP = 100
EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Report, dict[str, Path]]]:
    patch = pytest.MonkeyPatch()
    patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    try:
        spec = dataclasses.replace(load_spec(demo_spec_path()), bootstrap=BOOTSTRAP)
        report = run_audit(spec).report
        yield report, render(report, tmp_path_factory.mktemp("example"))
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def pdf_text(example: tuple[Report, dict[str, Path]]) -> str:
    reader = PdfReader(example[1]["pdf"])
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _visible(fragment: str) -> str:
    """An HTML fragment as a reader sees it (tags and data URIs dropped, entities decoded)."""
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", fragment))
    return _flat(html_lib.unescape(text)).strip()


def _suppressed(report: Report) -> list[tuple[GroupKey, str]]:
    """(key, label) of every suppressed group; the label as renderers and notes write it."""
    return [
        (group_key(g.attribute, g.group), fmt.group_label(g.group))
        for g in report.groups
        if g.suppressed
    ]


def _words(report: Report) -> tuple[str, ...]:
    """Text that may stand next to a suppressed group without being its data: every
    attribute and group name, rule ids, titles and bounds, the reasons, the minimum and
    the confidence level of interval captions."""
    words = {str(report.min_cell_size), fmt.fewer_than(report.min_cell_size), "95%"}
    for g in report.groups:
        words.update(group_key(g.attribute, g.group)[0])
        words.update(group_key(g.attribute, g.group)[1])
        words.add(g.suppression_reason or "")
    for r in report.policy_results:
        words.update({r.rule_id, r.rule_title, fmt.bound_text(r.bound)})
    words.update(fmt.SHORT_REASONS.values())
    return tuple(sorted((w for w in words if w), key=len, reverse=True))


def _numbers_besides(text: str, words: tuple[str, ...]) -> list[str]:
    for word in words:
        text = text.replace(word, " ")
    return re.findall(r"\d+(?:[.,]\d+)*", text)


def _names(label: str) -> tuple[str, ...]:
    """The label with either separator: notes write 'Black x 85-94', tables 'Black × 85-94'."""
    return (label, label.replace(" × ", " x "))


def _json_nodes(node: Any, parent_key: str = "") -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            yield from _json_nodes(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _json_nodes(value, parent_key)


def _numbers_in(node: Any) -> list[float]:
    """Every number in a JSON value, leaving out policy bounds (rules' numbers, not data)."""
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return []
    if isinstance(node, int | float):
        return [node]
    if isinstance(node, dict):
        return [x for k, v in node.items() if k != "bound" for x in _numbers_in(v)]
    return [x for v in node for x in _numbers_in(v)]


# ------------------------------------------------------------------ each format


def test_report_json_validates_against_the_shipped_schema(
    example: tuple[Report, dict[str, Path]],
) -> None:
    data = json.loads(example[1]["json"].read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["provenance"]["generated_at"] == "2026-01-01T00:00:00Z"
    assert data["provenance"]["bootstrap_replicates"] == BOOTSTRAP


def test_report_pdf_names_the_verdict_every_shown_group_and_every_failing_rule(
    example: tuple[Report, dict[str, Path]], pdf_text: str
) -> None:
    report, _ = example
    flat = _flat(pdf_text)
    assert f"Verdict: {fmt.VERDICT_WORDS[report.verdict]}." in flat
    shown = [fmt.group_label(g.group) for g in report.groups if not g.suppressed]
    assert shown
    for name in shown:
        assert name in flat, name
    failing = {r.rule_id for r in report.policy_results if r.status == "fail"}
    assert failing
    for rule in failing:
        assert rule in flat, rule


def test_junit_counts_equal_the_policy_results_and_names_are_unique(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, files = example
    root = ET.parse(files["junit"]).getroot()
    results = report.policy_results
    # issue 12: failed warn results and undecided blocking checks are failures too
    from auditor.judge.verdict import counts_undecided

    failing = sum(
        r.waiver is None
        and ((r.status == "fail" and r.severity in ("block", "warn")) or counts_undecided(r))
        for r in results
    )
    assert int(root.get("tests", -1)) == len(results)
    assert int(root.get("failures", -1)) == failing
    assert int(root.get("skipped", -1)) == sum(r.status != "pass" for r in results) - failing
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(results)
    keys = [(c.get("classname"), c.get("name")) for c in cases]
    repeated = sorted({k for k in keys if keys.count(k) > 1}, key=str)
    assert not repeated
    # The example's group-size rule judges patients and patients with the outcome.
    names = {c.get("name") for c in cases}
    assert "group-size [race: Black] (n)" in names
    assert "group-size [race: Black] (n_positive)" in names


def test_html_refers_to_nothing_outside_itself(example: tuple[Report, dict[str, Path]]) -> None:
    html = example[1]["html"].read_text(encoding="utf-8")
    assert not re.search(r"(?:https?|ftp|file)://", html, re.I)
    assert not re.search(r"<(?:link|script|iframe|object|embed)\b", html, re.I)
    assert "url(" not in html and "@import" not in html
    assert all(s.startswith("data:") for s in re.findall(r'\bsrc="([^"]*)"', html))


# ------------------------------------------------------------------ privacy


def test_no_output_gives_a_number_for_a_suppressed_group(
    example: tuple[Report, dict[str, Path]], pdf_text: str
) -> None:
    report, files = example
    suppressed = _suppressed(report)
    assert suppressed, "the example has suppressed groups"
    words = _words(report)
    html = files["html"].read_text(encoding="utf-8")
    html += governance_html(report, report_pdf_sha256="0" * 64)
    rows = [_visible(r) for r in re.findall(r"<tr\b.*?</tr>|<li\b.*?</li>", html, re.S)]
    md = files["md"].read_text(encoding="utf-8").replace("\\", "")
    rows += [line for line in md.splitlines() if line.startswith("|") or line.startswith("Also")]
    rows += [
        _visible(ET.tostring(c, encoding="unicode"))
        for c in ET.parse(files["junit"]).getroot().iter("testcase")
    ]
    rows += pdf_text.splitlines()
    checked = 0
    for _, label in suppressed:
        for row in rows:
            if any(name in row for name in _names(label)):
                checked += 1
                assert _numbers_besides(row, words) == [], (label, row)
    assert checked >= len(suppressed)
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    hidden = {key for key, _ in suppressed}
    for node in _json_nodes(data):
        attribute = node.get("attribute")
        if not isinstance(attribute, str | list):
            continue
        named = [
            value
            for field, value in node.items()
            if (field == "group" or field.endswith("_group")) and isinstance(value, str | list)
        ]
        if any(group_key(attribute, value) in hidden for value in named):
            assert _numbers_in(node) == [], node


def test_explanations_and_data_checks_show_only_the_measured_groups(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, _ = example
    hidden = {key for key, _ in _suppressed(report)}
    explained = report.explanations
    assert explained.status == "ok" and explained.differing_features
    for row in explained.differing_features:
        for field in ("max_group", "min_group"):
            assert group_key(row["attribute"], row[field]) not in hidden, row
    for g in explained.by_group:
        if group_key(g.attribute, g.group) in hidden:
            assert g.suppressed and g.n_sample is None and not g.importance
    for row in explained.sample_per_group:
        assert group_key(row["attribute"], row["group"]) not in hidden
    checks = report.data_checks
    for r in checks.representation:
        if group_key(r.attribute, r.group) in hidden:
            assert r.suppressed and r.n is None and r.share is None
    assert all(group_key(m.attribute, m.group) not in hidden for m in checks.missingness)
    for row in checks.missingness_disparities:
        for field in ("max_group", "min_group"):
            assert group_key(row["attribute"], row[field]) not in hidden


# ------------------------------------------------------------------ wording


def test_a_group_is_said_to_be_small_only_when_it_is(
    example: tuple[Report, dict[str, Path]],
) -> None:
    report, files = example
    m = report.min_cell_size
    complementary = [g for g in report.groups if g.suppression_reason == SUPPRESSED_COMPLEMENTARY]
    assert complementary, "the example has groups suppressed to protect a smaller one"
    md = files["md"].read_text(encoding="utf-8").replace("\\", "")
    html_rows = [
        _visible(r)
        for r in re.findall(r"<tr\b.*?</tr>", files["html"].read_text(encoding="utf-8"), re.S)
    ]
    for g in (g for g in report.groups if g.suppressed):
        label = fmt.group_label(g.group)
        size = fmt.fewer_than(m) if below_minimum(g.suppression_reason, m) else "suppressed"
        md_row = next(line for line in md.splitlines() if f"| {label} |" in line)
        assert md_row.split("|")[3].strip() == size, md_row
        table_rows = [r for r in html_rows if r.startswith(f"{label} ") and "withheld" in r]
        why = fmt.suppression_text(g.suppression_reason, m)
        assert table_rows and all(
            r.split(label, 1)[1].strip() == f"numbers withheld: {why}" for r in table_rows
        )
        assert ("fewer than" in why) == below_minimum(g.suppression_reason, m)
        if not below_minimum(g.suppression_reason, m):
            assert fmt.fewer_than(m) not in md_row
            assert all(fmt.fewer_than(m) not in r for r in table_rows)
    assert "(suppressed to protect a smaller group)" in md
