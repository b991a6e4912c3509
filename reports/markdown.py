"""summary.md: short enough for a pull-request comment or a CI job summary.

The verdict line, the failing and inconclusive rules, and a compact table of key
measures per group. Suppressed groups appear with no number: as "fewer than 11" when
they are below the minimum, else as "suppressed" with their reason under the table.
"""

from __future__ import annotations

from pathlib import Path

from auditor.tasks import task_hints
from reports import format as fmt
from reports.cohorts import SECTION_TITLE, cohorts_lines, cohorts_summary, method_text
from reports.findings import ResultRow, build_summary, counts_text
from reports.model import Report, group_key
from reports.tables import withheld_note

SUMMARY_METRICS = task_hints("binary").summary_metrics
"""The binary task's summary; a report of another task uses its own (auditor.tasks)."""
"""The key measures of the compact table (with n)."""
MAX_RULE_ROWS = 40
"""Failing/inconclusive rows listed before 'and N more' (a PR comment holds 65,536 chars)."""
VERDICT_MARKS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
_ESCAPE = {ch: "\\" + ch for ch in "\\`*_[]|#"}
_ESCAPE.update({"<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": " ", "\r": " "})


MD_COHORTS = 10
"""Cohorts listed in summary.md (all are in report.json and report.html)."""


def md(text: object) -> str:
    """Markdown-inert text: table pipes, emphasis, links and HTML are escaped."""
    return "".join(_ESCAPE.get(ch, ch) for ch in str(text))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _rule_rows(rows: list[ResultRow]) -> list[str]:
    lines = [
        _row(["Status", "Severity", "Rule", "Group", "Observed (95% CI)", "Required", "Decide"]),
        _row(["---"] * 4 + ["---:", "---", "---"]),
    ]
    for r in rows[:MAX_RULE_ROWS]:
        lines.append(
            _row(
                [
                    md(r.status_label),
                    md(r.severity_label),
                    f"{md(r.rule_id)} ({md(r.policy)})",
                    md(r.subject),
                    md(r.observed)
                    + (" (simultaneous)" if r.intervals.startswith("simultaneous") else "")
                    or fmt.NO_VALUE,
                    md(r.bound) or fmt.NO_VALUE,
                    md(r.decide) if r.status == "inconclusive" else "",
                ]
            )
        )
    if len(rows) > MAX_RULE_ROWS:
        lines.append("")
        lines.append(f"… and {len(rows) - MAX_RULE_ROWS} more in report.html.")
    return lines


def summary_markdown(report: Report) -> str:
    s = build_summary(report)
    title = " ".join(x for x in (report.model.name or report.name, report.model.version or "") if x)
    mark = VERDICT_MARKS.get(report.verdict, "")
    lines = [
        *([f"> **{md(report.privacy_notice)}**", ""] if report.privacy_notice else []),
        f"## {mark} Fairness audit: {md(title)} — {s.verdict_word}",
        "",
        f"**Verdict: {s.verdict_word}.** {md(s.headline)} {md(s.verdict_meaning)}",
        "",
    ]
    if s.undecided:
        lines += [f"**{md(s.undecided)}**", "", *(f"- {md(u)}" for u in s.undecided_items), ""]
    lines += [md(counts_text(report)), ""]
    if s.waived:
        waived = "; ".join(f"{r.rule_id} [{r.subject}]" for r in s.waived)
        lines += [md(f"Waived by the committee (reported, not counted): {waived}."), ""]
    flagged = s.blocking + s.warnings + s.inconclusive + s.info
    if flagged:
        lines += ["### Failing and inconclusive rules", "", *_rule_rows(flagged), ""]
    else:
        lines += ["No rule failed and none was inconclusive.", ""]
    lines += _metrics_table(report)
    lines += ["", f"### {SECTION_TITLE}", "", md(cohorts_summary(report)), ""]
    lines += [f"- {md(line)}" for line in cohorts_lines(report, limit=MD_COHORTS)]
    if method_text(report):
        lines += ["", md(method_text(report))]
    small = fmt.small_group_text(report.min_cell_size)
    others = [(name, why) for name, why in zip(s.suppressed, s.suppressed_why) if why != small]
    lines += [
        "",
        f"Groups with {fmt.fewer_than(report.min_cell_size)} patients are named only; "
        f"{fmt.NO_VALUE} means not computed or withheld. Every number, with its interval, "
        "is in report.json; charts and explanations are in report.html.",
    ]
    if others:
        lines += ["", md(f"Also named only: {fmt.listing_by_reason(others)}.")]
    computed = fmt.computation_rows(report)
    if computed:
        lines += ["", md("Computed: " + "; ".join(f"{k.lower()}: {x}" for k, x in computed) + ".")]
    lines += [
        "",
        f"<sub>{md(report.provenance.tool)} {md(report.provenance.tool_version)} · "
        f"{md(report.provenance.generated_at)} · seed {report.provenance.seed}</sub>",
        "",
    ]
    return "\n".join(lines)


def _metrics_table(report: Report) -> list[str]:
    reasons = report.suppression_reasons()
    hints = task_hints(report.task)
    SUMMARY_METRICS = hints.summary_metrics
    header = ["Attribute", "Group", "Patients", *(fmt.metric_name(m) for m in SUMMARY_METRICS)]
    flags = f" ({fmt.flagged_at(report)})" if hints.threshold_subject else ""
    lines = [
        f"### Key measures by group{flags}",
        "",
        _row([md(h) for h in header]),
        _row(["---", "---"] + ["---:"] * (len(header) - 2)),
    ]
    everyone = [report.overall, *report.groups]
    for i, g in enumerate(everyone):
        attribute = "all patients" if i == 0 else fmt.attribute_label(g.attribute)
        group = fmt.NO_VALUE if i == 0 else fmt.group_label(g.group)
        key = group_key(g.attribute, g.group)
        if i > 0 and (g.suppressed or key in reasons):
            why = reasons.get(key, g.suppression_reason)
            size = fmt.suppressed_size(why, report.min_cell_size)
            reason = f"numbers withheld: {fmt.suppression_text(why, report.min_cell_size)}"
            cells = [size, reason] + [""] * (len(SUMMARY_METRICS) - 1)
        elif g.label_metrics_withheld and all(
            g.metrics.get(m) is None or g.metrics[m].estimate is None for m in SUMMARY_METRICS
        ):  # the reason once, in words, where the numbers would be
            reason = withheld_note(g, report.min_cell_size)
            cells = [fmt.count(g.n), reason] + [""] * (len(SUMMARY_METRICS) - 1)
        else:
            cells = [fmt.patients(g.n, g.n_encounters)] + [
                fmt.estimate_text(g.metrics.get(m)) for m in SUMMARY_METRICS
            ]
        lines.append(_row([md(attribute), md(group), *(md(c) for c in cells)]))
    return [*lines, *_confusion_tables(report)]


def _confusion_tables(report: Report) -> list[str]:
    """Multiclass: each shown group's confusion matrix (withheld cells as a dash: never "<m",
    since a cell withheld to protect another may hold more)."""
    out: list[str] = []
    for c in report.curves.confusion:
        label = fmt.attribute_label(c.attribute)
        out += ["", f"#### Confusion matrix, {md(label)} = {md(fmt.group_label(c.group))}", ""]
        out.append(_row(["true \\ predicted", *(md(k) for k in c.classes)]))
        out.append(_row(["---", *(["---:"] * len(c.classes))]))
        for cls, row in zip(c.classes, c.counts, strict=True):
            cells = ["—" if v is None else str(v) for v in row]
            out.append(_row([md(cls), *(md(x) for x in cells)]))
    if out:
        out += [
            "",
            f"—: withheld for privacy (fewer than {report.min_cell_size} patients, or "
            "withheld so that such a cell cannot be recovered from its row or column or "
            "from another group's figures).",
        ]
    return out


def write_markdown(report: Report, out_dir: Path) -> Path:
    path = out_dir / "summary.md"
    path.write_text(summary_markdown(report), encoding="utf-8")
    return path
