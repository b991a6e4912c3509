"""junit.xml: one test case per policy result, so CI systems show rules natively.

Blocking failures are ``<failure>``; warning failures, inconclusive results and
info-level failures are ``<skipped message=...>`` (visible, not failing the build);
results that could not be evaluated are ``<skipped>`` with their reason; passes are
plain test cases. One ``<testsuite>`` per policy, named by the policy id.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from reports.findings import ResultRow, counts_text, hidden_keys, result_row
from reports.model import Report


def case_name(row: ResultRow) -> str:
    """``rule_id [race: Black]``; the rule id alone for audit-wide rules."""
    return f"{row.rule_id} [{row.subject}]" if row.attribute else row.rule_id


def _detail(row: ResultRow) -> str:
    parts = [row.rule_title, row.finding or row.message]
    if row.reason and row.reason != row.message:
        parts.append(row.reason)
    if row.source:
        parts.append(f"Source: {row.source}")
    return "\n".join(p for p in parts if p)


def junit_xml(report: Report) -> str:
    hidden = hidden_keys(report)
    rows = [result_row(report, r, hidden) for r in report.policy_results]
    suites: dict[str, list[ResultRow]] = {}
    for row in rows:
        suites.setdefault(row.policy, []).append(row)
    root = ET.Element("testsuites", name=f"{report.provenance.tool}: {report.name}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for policy, members in suites.items():
        suite = ET.SubElement(root, "testsuite", name=policy)
        counts = {"tests": len(members), "failures": 0, "skipped": 0}
        for row in members:
            case = ET.SubElement(suite, "testcase", classname=policy, name=case_name(row), time="0")
            message = f"{row.status_label} ({row.severity_label}): {row.finding or row.message}"
            if row.status == "fail" and row.severity == "block":
                failure = ET.SubElement(case, "failure", message=message, type="blocking")
                failure.text = _detail(row)
                counts["failures"] += 1
            elif row.status in ("fail", "inconclusive"):
                ET.SubElement(case, "skipped", message=message)
                counts["skipped"] += 1
            elif row.status == "not_evaluable":
                ET.SubElement(
                    case, "skipped", message=f"Not evaluable: {row.reason or row.message}"
                )
                counts["skipped"] += 1
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", "0")
        suite.set("timestamp", report.provenance.generated_at.removesuffix("Z"))
        for key in totals:
            totals[key] += counts[key]
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    root.set("time", "0")
    # The verdict and counts, for CI systems that show suite properties.
    first = root.find("testsuite")
    if first is not None:
        props = ET.Element("properties")
        for name, value in (
            ("verdict", report.verdict),
            ("summary", counts_text(report)),
            ("generated_at", report.provenance.generated_at),
            ("min_cell_size", str(report.min_cell_size)),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        first.insert(0, props)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False) + "\n"


def write_junit(report: Report, out_dir: Path) -> Path:
    path = out_dir / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + junit_xml(report), encoding="utf-8"
    )
    return path
