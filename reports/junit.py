"""junit.xml: one test case per policy result, so CI systems show rules natively.

Failed blocking results are ``<failure type="blocking">``; failed warning results
are ``<failure type="warn">`` (failures, never skipped: a CI system can tell them
apart by the type); undecided blocking checks (inconclusive or not evaluable) are
``<failure type="undecided">``; info findings, other inconclusive results, results
that could not be evaluated and waived results are ``<skipped message=...>`` with
their reason; passes are plain test cases. One ``<testsuite>`` per policy, named by
the policy id. The first suite's ``summary`` property is the verdict summary every
face prints (:mod:`auditor.judge.verdict`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from auditor.judge.verdict import counts_undecided
from reports import format as fmt
from reports.cohorts import cohort_rows, cohorts_summary
from reports.findings import ResultRow, counts_text, headline_text, hidden_keys, result_row
from reports.model import GroupKey, PolicyResult, Report, group_key


def case_names(results: Sequence[PolicyResult]) -> list[str]:
    """``rule_id [race: Black]`` per result (the rule id alone for audit-wide rules),
    unique within its policy: CI tools key a test's history by its name.

    A rule that judges several measures of one group (group size: patients, then
    patients with the outcome) gives each case its metric id, ``group-size [race:
    Black] (n_positive)``; then its check; a number as the last resort.
    """
    names = [
        f"{r.rule_id} [{fmt.result_subject(r)}]" if r.attribute is not None else r.rule_id
        for r in results
    ]
    for part in (lambda r: r.metric, lambda r: r.check):
        # Among results that share a name, the part is added where it tells them apart.
        parts: dict[tuple[str, str], set[str | None]] = {}
        for r, name in zip(results, names):
            parts.setdefault((r.policy, name), set()).add(part(r))
        names = [
            f"{name} ({part(r)})" if len(parts[(r.policy, name)]) > 1 and part(r) else name
            for r, name in zip(results, names)
        ]
    seen = Counter(zip((r.policy for r in results), names))
    count: Counter[tuple[str, str]] = Counter()
    out = []
    for r, name in zip(results, names):
        if seen[(r.policy, name)] > 1:
            count[(r.policy, name)] += 1
            name = f"{name} #{count[(r.policy, name)]}"
        out.append(name)
    return out


def _withheld(result: PolicyResult, hidden: set[GroupKey]) -> bool:
    if result.value_withheld is not None:
        return True
    if result.attribute is None or result.group is None:
        return False
    return group_key(result.attribute, result.group) in hidden


def _failure_type(result: PolicyResult) -> str | None:
    """blocking / warn / undecided for a result that fails the CI step, else None."""
    if result.waiver is not None:
        return None
    if result.status == "fail" and result.severity in ("block", "warn"):
        return "blocking" if result.severity == "block" else "warn"
    if counts_undecided(result):
        return "undecided"
    return None


def _detail(row: ResultRow, *, withheld: bool = False) -> str:
    """Title, finding, reason and source; for a group whose figures are withheld the
    source is left out (its numbers, years and item numbers would stand next to the
    group's name; report.html cites it)."""
    parts = [row.rule_title, row.finding or row.message]
    if row.reason and row.reason != row.message:
        parts.append(row.reason)
    if row.source and not withheld:
        parts.append(f"Source: {row.source}")
    return "\n".join(p for p in parts if p)


def junit_xml(report: Report) -> str:
    hidden = hidden_keys(report)
    rows = [result_row(report, r, hidden) for r in report.policy_results]
    suites: dict[str, list[tuple[ResultRow, str, PolicyResult]]] = {}
    for row, name, result in zip(rows, case_names(report.policy_results), report.policy_results):
        suites.setdefault(row.policy, []).append((row, name, result))
    root = ET.Element("testsuites", name=f"{report.provenance.tool}: {report.name}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for policy, members in suites.items():
        suite = ET.SubElement(root, "testsuite", name=policy)
        counts = {"tests": len(members), "failures": 0, "skipped": 0}
        for row, name, result in members:
            case = ET.SubElement(suite, "testcase", classname=policy, name=name, time="0")
            message = f"{row.status_label} ({row.severity_label}): {row.finding or row.message}"
            kind = _failure_type(result)
            if kind is not None:
                failure = ET.SubElement(case, "failure", message=message, type=kind)
                failure.text = _detail(row, withheld=_withheld(result, hidden))
                counts["failures"] += 1
            elif result.waiver is not None:
                w = result.waiver
                ET.SubElement(
                    case,
                    "skipped",
                    message=f"Waived: {w.reason} (approved by {w.approved_by}, until "
                    f"{w.expires}); {message}",
                )
                counts["skipped"] += 1
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
            ("summary", headline_text(report)),
            ("results", counts_text(report)),
            ("generated_at", report.provenance.generated_at),
            ("min_cell_size", str(report.min_cell_size)),
            *((("privacy_notice", report.privacy_notice),) if report.privacy_notice else ()),
        ):
            ET.SubElement(props, "property", name=name, value=value)
        _cohort_properties(props, report)
        first.insert(0, props)
    if report.privacy_notice:
        root.set("privacy_notice", report.privacy_notice)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False) + "\n"


COHORTS_PROPERTY = "cohorts_found"


def _cohort_properties(props: ET.Element, report: Report) -> None:
    """The "Cohorts found" section as properties of the first suite: information only
    (the gate is the discovery rule's results, which are test cases of their policy)."""
    if report.cohorts_found is None:
        return
    ET.SubElement(props, "property", name=COHORTS_PROPERTY, value=cohorts_summary(report))
    for row in cohort_rows(report):
        value = f"{row.line()}. Found by: {row.found_by}."
        ET.SubElement(props, "property", name=f"{COHORTS_PROPERTY}.{row.id}", value=value)


def write_junit(report: Report, out_dir: Path) -> Path:
    path = out_dir / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + junit_xml(report), encoding="utf-8"
    )
    return path
