"""Policy results in words: result rows, rules, groups at risk, the executive summary.

Shared by report.pdf, governance.pdf, summary.md and junit.xml, so every format says
the same thing. A result on a suppressed group never shows its observed value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.judge.verdict import verdict_summary
from auditor.measure.metrics import COUNT_METRICS
from reports import format as fmt
from reports.model import (
    DisparityResult,
    GroupKey,
    PolicyResult,
    Report,
    group_key,
    suppressed_result_message,
)

GOVERNANCE_MAX_FINDINGS = 12
"""Groups at risk listed in governance.pdf before 'and N more' (keeps it within 5 pages)."""
LIST_LIMIT = 12


@dataclass(frozen=True)
class ResultRow:
    """A policy result as text; numbers of suppressed groups are never filled in."""

    policy: str
    rule_id: str
    rule_title: str
    severity: str
    severity_label: str
    status: str
    status_label: str
    subject: str
    attribute: str
    group: str
    observed: str
    bound: str
    gap: str
    message: str
    reason: str
    source: str
    finding: str = ""
    metric: str = ""
    intervals: str = ""
    """'simultaneous' or 'per-result' when judged on an interval (policy ``intervals``)."""
    decide: str = ""
    """Precision achieved and, when undecided, what would decide it."""

    @property
    def details(self) -> str:
        """The reason when the message does not already say it."""
        return self.reason if self.reason and self.reason not in self.message else ""

    @property
    def css(self) -> str:
        return f"status-{self.status} severity-{self.severity}"


@dataclass
class RuleBlock:
    """Every result of one rule, for the policy-results section."""

    policy: str
    rule_id: str
    title: str
    severity: str
    severity_label: str
    bound: str
    source: str
    rationale: str
    rows: list[ResultRow] = field(default_factory=list)

    @property
    def tally(self) -> str:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status_label.lower()] = counts.get(r.status_label.lower(), 0) + 1
        return ", ".join(f"{n} {label}" for label, n in counts.items())

    @property
    def worst(self) -> str:
        return self.rows[0].status if self.rows else "pass"

    @property
    def multi_metric(self) -> bool:
        """Whether the rule judged several measures (then each row names its measure)."""
        return len({r.metric for r in self.rows}) > 1


@dataclass(frozen=True)
class Finding:
    """One reason a group is at risk, in words."""

    severity: str
    status: str
    rule_id: str
    text: str


@dataclass
class GroupAtRisk:
    attribute: str
    group: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def worst(self) -> tuple[int, int]:
        return min(
            (
                fmt.STATUS_ORDER.get(f.status, 9),  # type: ignore[call-overload]
                fmt.SEVERITY_ORDER.get(f.severity, 9),  # type: ignore[call-overload]
            )
            for f in self.findings
        )


@dataclass
class Summary:
    """The executive summary: shared by report.pdf, governance.pdf and summary.md."""

    verdict: str
    verdict_word: str
    verdict_meaning: str
    headline: str
    blocking: list[ResultRow]
    warnings: list[ResultRow]
    inconclusive: list[ResultRow]
    not_evaluable: list[ResultRow]
    at_risk: list[GroupAtRisk]
    suppressed: list[str]
    counts: dict[str, int]
    suppressed_why: list[str] = field(default_factory=list)
    """Why each of ``suppressed`` is (same order): 'fewer than 11 patients' or its reason."""
    undecided: str = ""
    """'2 blocking checks could not be decided:' (named first, beside the failures)."""
    undecided_items: list[str] = field(default_factory=list)
    """Each of them with why and what would decide it (the first UNDECIDED_LISTED)."""
    waived: list[ResultRow] = field(default_factory=list)
    info: list[ResultRow] = field(default_factory=list)
    """Failed info rules: findings, never warnings."""

    def suppressed_listing(self, limit: int | None = None) -> str:
        """``race: A, race: B (fewer than 11 patients); ... (suppressed so that ...)``."""
        return fmt.listing_by_reason(zip(self.suppressed, self.suppressed_why), limit)


def hidden_keys(report: Report) -> set[GroupKey]:
    """Suppressed groups, from the report's own flags (defence in depth for renderers)."""
    return report.suppressed_keys()


def suppressed_groups(report: Report) -> list[tuple[str, str]]:
    """(``attribute: group``, why) of every suppressed group, in report order.

    Why is ``fewer than 11 patients`` only for a group below the minimum; a group
    suppressed to protect another keeps its own reason.
    """
    reasons = report.suppression_reasons()
    order = [group_key(g.attribute, g.group) for g in report.groups]
    order += sorted(k for k in reasons if k not in set(order))
    return [
        (
            f"{fmt.attribute_label(_name(key[0]))}: {fmt.group_label(_name(key[1]))}",
            fmt.suppression_text(reasons[key], report.min_cell_size),
        )
        for key in dict.fromkeys(order)
        if key in reasons
    ]


def _name(parts: tuple[str, ...]) -> str | list[str]:
    return parts[0] if len(parts) == 1 else list(parts)


def result_row(report: Report, r: PolicyResult, hidden: set[GroupKey]) -> ResultRow:
    secret = (
        r.attribute is not None
        and r.group is not None
        and group_key(r.attribute, r.group) in hidden
    )
    observed = "" if secret else _observed_text(r)
    message = r.message
    reason = r.reason or ""
    if r.value_withheld is not None:
        observed = ""  # the publish step's own words: status kept, value withheld for privacy
    elif secret and r.attribute is not None and r.group is not None:
        message = suppressed_result_message(
            fmt.group_label(r.group),
            report.suppression_reasons().get(group_key(r.attribute, r.group)),
            report.min_cell_size,
        )
        reason = ""
    return ResultRow(
        policy=r.policy,
        rule_id=r.rule_id,
        rule_title=r.rule_title,
        severity=r.severity,
        severity_label=fmt.SEVERITY_LABELS.get(r.severity, r.severity),
        status=r.status,
        status_label=fmt.STATUS_LABELS.get(r.status, r.status),
        subject=fmt.result_subject(r),
        attribute=fmt.attribute_label(r.attribute),
        group=fmt.group_label(r.group),
        observed=observed,
        bound=fmt.bound_text(r.bound, fmt.result_digits(r)),
        gap="" if secret else fmt.gap_text(r),
        message=message,
        reason=reason,
        source=r.source or "",
        finding="" if secret else finding_text(report, r),
        metric=fmt.metric_name(r.metric),
        intervals=INTERVAL_WORDS.get(r.intervals or "", ""),
        decide="" if secret else decide_text(r),
    )


INTERVAL_WORDS = {
    "simultaneous": "simultaneous 95% interval (covers all of the rule's groups jointly)",
    "per_result": "per-result 95% interval",
}


def decide_sentences(report: Report, limit: int = GOVERNANCE_MAX_FINDINGS) -> list[str]:
    """One sentence per undecided group and rule: the largest number of patients any of
    the rule's results for that group needs ("About 140 more patients with the outcome
    ... would decide the calibration slope for age band = 85-94.")."""
    best: dict[tuple[str, str, str], tuple[bool, int, str]] = {}
    for r in report.policy_results:
        p = r.precision
        if r.status != "inconclusive" or p is None or not p.statement or r.waiver is not None:
            continue
        key = (r.rule_id, str(r.attribute), str(r.group))
        entry = (r.severity != "block", p.more_patients or 0, p.statement)
        held = best.get(key)
        if held is None or entry[1] > held[1]:
            best[key] = entry
    ordered = sorted(best.values())
    out = [statement for _, _, statement in ordered[:limit]]
    if len(ordered) > limit:
        out.append(f"… and {len(ordered) - limit} more in the technical report.")
    return out


def decide_text(r: PolicyResult) -> str:
    """``Interval width 0.07; about 380 more patients ... would decide ...``: precision
    achieved and, for an undecided result, the sample size that would decide it."""
    p = r.precision
    if p is None or p.width is None:
        return ""
    text = f"Interval width {fmt.number(p.width, fmt.result_digits(r))}."
    if p.statement:
        text += f" {p.statement} Formula: {p.formula}."
    elif r.status == "inconclusive" and p.reason:
        text += f" {p.reason[:1].upper()}{p.reason[1:]}."
    return text


def _observed_text(r: PolicyResult) -> str:
    if r.observed is None:
        return ""
    if r.metric in COUNT_METRICS:
        return fmt.count(r.observed)
    return fmt.value_with_ci(r.observed, r.ci_low, r.ci_high, fmt.result_digits(r))


def sorted_results(report: Report) -> list[PolicyResult]:
    """Failures first (blocking before warnings), then inconclusive, not evaluable, passes."""
    indexed = list(enumerate(report.policy_results))
    indexed.sort(
        key=lambda p: (
            fmt.STATUS_ORDER.get(p[1].status, 9),
            fmt.SEVERITY_ORDER.get(p[1].severity, 9),
            p[0],
        )
    )
    return [r for _, r in indexed]


def matching_disparity(report: Report, r: PolicyResult) -> DisparityResult | None:
    """The disparity a disparity rule judged (same attribute, group, metric and value)."""
    if r.check != "disparity" or r.attribute is None or r.group is None:
        return None
    key = group_key(r.attribute, r.group)
    candidates = [
        d
        for d in report.disparities
        if d.metric == r.metric and group_key(d.attribute, d.group) == key
    ]
    for d in candidates:
        if (
            d.estimate is not None
            and r.observed is not None
            and abs(d.estimate - r.observed) < 1e-9
        ):
            return d
    return candidates[0] if len(candidates) == 1 else None


def rule_blocks(report: Report) -> list[RuleBlock]:
    """Results grouped by rule: rules with failures first, then by the worst status."""
    hidden = hidden_keys(report)
    blocks: dict[tuple[str, str], RuleBlock] = {}
    bounds: dict[tuple[str, str], set[str]] = {}
    for r in sorted_results(report):
        key = (r.policy, r.rule_id)
        if key not in blocks:
            blocks[key] = RuleBlock(
                policy=r.policy,
                rule_id=r.rule_id,
                title=r.rule_title,
                severity=r.severity,
                severity_label=fmt.SEVERITY_LABELS.get(r.severity, r.severity),
                bound="",
                source=r.source or "",
                rationale=r.rationale or "",
            )
            bounds[key] = set()
        blocks[key].rows.append(result_row(report, r, hidden))
        bounds[key].add(fmt.bound_text(r.bound))
    for key, block in blocks.items():
        if len(bounds[key]) == 1:
            block.bound = next(iter(bounds[key]))
    return list(blocks.values())


def finding_text(report: Report, r: PolicyResult) -> str:
    """``Sensitivity (TPR) 0.62 (0.57–0.67); required at least 0.70; 0.08 below the minimum``."""
    what = fmt.metric_name(r.metric) if r.metric else (r.rule_title or r.rule_id)
    d = matching_disparity(report, r)
    if d is not None:
        ref = fmt.group_label(d.reference) if d.reference is not None else "the other groups"
        what = f"{what} {d.kind} vs {ref}"
    parts = []
    digits = fmt.result_digits(r)
    if r.observed is not None:
        parts.append(f"{what} {_observed_text(r)}")
    else:
        parts.append(r.message.rstrip(". "))
    if r.bound is not None:
        parts.append(f"required {fmt.bound_text(r.bound, digits)}")
    gap = fmt.gap_text(r)
    if gap:
        parts.append(gap)
    if r.status == "inconclusive":
        parts.append("the interval reaches the bound (inconclusive)")
    if r.intervals == "simultaneous":
        parts.append("judged on the simultaneous interval")
    if r.precision is not None and r.precision.statement:
        parts.append(r.precision.statement.rstrip("."))
    return "; ".join(p for p in parts if p)


def build_summary(report: Report) -> Summary:
    hidden = hidden_keys(report)
    ordered = sorted_results(report)
    rows = [(r, result_row(report, r, hidden)) for r in ordered]
    live = [(r, row) for r, row in rows if r.waiver is None]
    blocking = [row for r, row in live if r.status == "fail" and r.severity == "block"]
    warnings = [row for r, row in live if r.status == "fail" and r.severity == "warn"]
    info = [row for r, row in live if r.status == "fail" and r.severity == "info"]
    inconclusive = [row for r, row in rows if r.status == "inconclusive"]
    not_evaluable = [row for r, row in rows if r.status == "not_evaluable"]
    at_risk: dict[GroupKey, GroupAtRisk] = {}
    for r in ordered:
        if r.status not in ("fail", "inconclusive") or r.attribute is None or r.group is None:
            continue
        key = group_key(r.attribute, r.group)
        if key in hidden:
            continue
        entry = at_risk.setdefault(
            key, GroupAtRisk(fmt.attribute_label(r.attribute), fmt.group_label(r.group))
        )
        entry.findings.append(Finding(r.severity, r.status, r.rule_id, finding_text(report, r)))
    risk = sorted(at_risk.values(), key=lambda g: g.worst)
    suppressed = suppressed_groups(report)
    word = fmt.VERDICT_WORDS.get(report.verdict, report.verdict.upper())
    verdict = verdict_summary(report.policy_results)
    return Summary(
        verdict=report.verdict,
        verdict_word=word,
        verdict_meaning=fmt.VERDICT_MEANING.get(report.verdict, ""),
        headline=headline_text(report),
        blocking=blocking,
        warnings=warnings,
        inconclusive=inconclusive,
        not_evaluable=not_evaluable,
        at_risk=risk,
        suppressed=[name for name, _ in suppressed],
        suppressed_why=[why for _, why in suppressed],
        counts=report.counts.model_dump(),
        undecided=verdict.undecided_head(),
        undecided_items=verdict.undecided_items(UNDECIDED_LISTED),
        waived=[row for r, row in rows if r.waiver is not None],
        info=info,
    )


def headline_text(report: Report) -> str:
    """The verdict summary sentence every face prints (:mod:`auditor.judge.verdict`)."""
    text = verdict_summary(report.policy_results).counts_text()
    return text[:1].upper() + text[1:] + "."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def counts_text(report: Report) -> str:
    """``Of 81 policy results, 45 passed, 6 failed, 3 were inconclusive and ...``: every
    result by its status (the verdict's counts are :func:`headline_text`)."""
    results = report.policy_results
    total = len(results)
    if total == 0:
        return "No policy rule was evaluated."

    def n(status: str) -> int:
        return sum(r.status == status for r in results)

    inconclusive = n("inconclusive")
    text = (
        f"Of {_plural(total, 'policy result')}, {n('pass')} passed, {n('fail')} failed, "
        f"{inconclusive} {'was' if inconclusive == 1 else 'were'} inconclusive and "
        f"{n('not_evaluable')} could not be evaluated"
    )
    waived = sum(r.waiver is not None for r in results)
    if waived:
        text += f"; {waived} {'was' if waived == 1 else 'were'} waived"
    return text + "."


def _listing(items: Sequence[str], limit: int = LIST_LIMIT) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


def not_evaluable_text(report: Report) -> str:
    s = build_summary(report)
    parts = []
    if s.not_evaluable:
        parts.append(
            f"{_plural(len(s.not_evaluable), 'result')} could not be evaluated "
            "(too few patients or events, or a measure that is undefined for the group)."
        )
    if s.suppressed:
        parts.append(f"Reported by name only: {s.suppressed_listing(LIST_LIMIT)}.")
    return " ".join(parts)


UNDECIDED_LISTED = 5
"""Undecided blocking checks named in summaries (all are in the policy results)."""
WITHHELD_WHY = "label metrics withheld"
"""Said of a label-withheld group whose reason the report does not give."""
GOVERNANCE_SIGNATORIES = 3
WEIGH_LIMIT = 4
"""Items taken from each free-text source (flags, notes) for the committee's list."""


def governance_extra(
    report: Report, *, report_pdf_sha256: str | None, output_hashes: dict[str, str]
) -> dict[str, Any]:
    """What governance.pdf adds to the shared view: the decision, the weighing, sign-off."""
    s = build_summary(report)
    card = report.model_card
    withheld = [
        (
            f"{fmt.attribute_label(g.attribute)}: {fmt.group_label(g.group)}",
            fmt.SHORT_REASONS.get(g.suppression_reason or "", g.suppression_reason or WITHHELD_WHY),
        )
        for g in report.groups
        if g.label_metrics_withheld and not g.suppressed
    ]
    weigh: list[str] = []
    blocking_groups = sorted(
        {r.subject for r in s.blocking if r.group},
        key=lambda x: [r.subject for r in s.blocking].index(x),
    )
    if s.undecided:
        weigh.append(
            "Approving means accepting the blocking checks the audit could not decide "
            "(named with the verdict), or deciding them first: more evidence, or a waiver "
            "that records the committee's decision."
        )
    if s.blocking:
        weigh.append(
            f"Approving means accepting {_plural(len(s.blocking), 'failed blocking result')}"
            + (f" affecting {_listing(blocking_groups, 6)}" if blocking_groups else "")
            + ". The committee would need to name the mitigation (for example a different "
            "threshold, retraining, or restricted use) and how the affected groups will be "
            "monitored."
        )
    if s.warnings:
        weigh.append(
            f"{_plural(len(s.warnings), 'warning')} did not block the release but point to groups "
            "the model may serve less well."
        )
    if s.inconclusive:
        weigh.append(
            f"{_plural(len(s.inconclusive), 'result')} "
            f"{'is' if len(s.inconclusive) == 1 else 'are'} inconclusive: the 95% interval "
            "straddles the requirement, so the audit cannot tell whether the group truly "
            "meets it. More patients, or monitoring after release, would settle this."
        )
    if s.suppressed:
        weigh.append(
            "The rules judged every group, but the figures of these groups are withheld for "
            f"privacy and named only: {s.suppressed_listing(8)}."
        )
    if withheld:
        weigh.append(
            "Accuracy is not reported for "
            f"{fmt.listing_by_reason(withheld, 8)}; only the size and how often the model "
            "flags them are."
        )
    for flag in report.explanations.flags[:WEIGH_LIMIT]:
        weigh.append(flag)
    if report.explanations.sensitive_inputs:
        weigh.append(
            "The model uses sensitive attributes as inputs: "
            f"{', '.join(report.explanations.sensitive_inputs)}."
        )
    weigh.extend(report.data_checks.notes[:WEIGH_LIMIT])
    limitations = card.get("limitations")
    if limitations:
        weigh.append(f"Limitations stated in the model card: {fmt.plain_text(limitations)}")
    if not weigh:
        weigh.append("Nothing beyond the verdict: every rule that could be evaluated passed.")

    hashes: list[tuple[str, str]] = [(f"SHA-256 of {k}", v) for k, v in output_hashes.items()]
    hashes.extend((f"SHA-256 of {k}", v) for k, v in fmt.input_hashes(report))
    label = report.label
    outcome = f"outcome: {label.get('column', '')}"
    names = [fmt.attribute_label(name) for name, _ in report.attribute_order()]
    attributes = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    policies = (
        ", ".join(f"the {p.title} policy ({p.id} v{p.version})" for p in report.policies)
        or "no policy"
    )
    intended = fmt.card_text(card.get("intended_use"))
    out_of_scope = fmt.card_text(card.get("out_of_scope_use", card.get("out_of_scope")))
    return {
        "intended_use": "" if intended == fmt.NOT_STATED else intended,
        "out_of_scope": "" if out_of_scope == fmt.NOT_STATED else out_of_scope,
        "patients": fmt.count(report.overall.n),
        "outcome": outcome,
        "attributes": attributes or "no sensitive attribute",
        "policies": policies,
        "at_risk": s.at_risk[:GOVERNANCE_MAX_FINDINGS],
        "more_groups": max(0, len(s.at_risk) - GOVERNANCE_MAX_FINDINGS),
        "weigh": weigh,
        "decide": decide_sentences(report),
        "intervals": [
            f"{p.title}: {INTERVAL_WORDS[p.intervals]}" for p in report.policies if p.intervals
        ],
        "signatories": GOVERNANCE_SIGNATORIES,
        "report_pdf_sha256": report_pdf_sha256 or "",
        "hashes": hashes,
    }
