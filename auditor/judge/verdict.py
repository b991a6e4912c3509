"""The verdict and its summary: one way of counting, for every face.

Every face (the CLI's last line, summary.md, junit.xml, report.html/pdf,
governance.pdf, the dashboard) prints :func:`verdict_summary`'s text; the judge
stores the same counts in the report. The words:

* a *rule failed* is a distinct rule (policy id and rule id) with at least one
  failed result; a *result failed* is one rule on one group (rule × group);
* counted by severity: ``block`` (blocking), ``warn`` (warnings) and ``info``
  (findings, never warnings);
* an *undecided blocking check* is a blocking result that is inconclusive or not
  evaluable; by the policy's (or spec's) ``undecided`` it makes the verdict WARN or
  FAIL, never PASS, and every face names it with why and what would decide it;
* a *waived* result has an active committee waiver: reported as waived, it does not
  count against the verdict.

The verdict: FAIL on a blocking failure or an undecided blocking check set to
``block``; WARN on a failed or inconclusive warning rule or an undecided blocking
check set to ``warn``; else PASS. ``info`` never changes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reports.model import PolicyResult, ResultCounts, Severity, Verdict

SEVERITIES: tuple[Severity, ...] = ("block", "warn", "info")
UNDECIDED_STATUSES = ("inconclusive", "not_evaluable")

UNDECIDED_HEAD = "{count} could not be decided: "
UNDECIDED_MORE = "and {count} more, listed with the policy results"
UNDECIDED_MORE = "and {count} more, listed with the policy results"
UNDECIDED_ITEM = "{subject} ({why}; decided by {decide})"
DECIDE_INTERVAL = "a narrower 95% interval (more patients in the group) or a waiver"
DECIDE_BOOTSTRAP = "a 95% interval (run the audit with bootstrap replicates)"
DECIDE_MIN_N = "more patients in the group (the rule's minimum) or a waiver"
DECIDE_BASELINE = "a baseline report (audit with --baseline REPORT)"
DECIDE_OTHER = "the missing evidence named in the reason, or a waiver"
NOTHING_FAILED = "nothing failed"


def _plural(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def counts_undecided(result: PolicyResult) -> bool:
    """A blocking result that is inconclusive or not evaluable, not waived, that the
    judge marked with its ``undecided`` action (a regression rule without a baseline is
    not applicable rather than undecided, and is left unmarked)."""
    return (
        result.severity == "block"
        and result.status in UNDECIDED_STATUSES
        and result.undecided is not None
        and result.waiver is None
    )


def _failed(result: PolicyResult) -> bool:
    return result.status == "fail" and result.waiver is None


def decided_by(result: PolicyResult) -> str:
    """What evidence would decide an undecided check."""
    reason = (result.reason or "").lower()
    if result.status == "inconclusive" and "without a 95% interval" in reason:
        return DECIDE_BOOTSTRAP
    if result.status == "inconclusive":
        return DECIDE_INTERVAL
    if "baseline" in reason:
        return DECIDE_BASELINE
    if "minimum of" in reason or "rule's minimum" in reason:
        return DECIDE_MIN_N
    if "no interval" in reason or "bootstrap" in reason:
        return DECIDE_BOOTSTRAP
    return DECIDE_OTHER


def result_subject(result: PolicyResult) -> str:
    """``rule-id [race: Black]``, ``rule-id [race × sex: Black × female]`` or ``rule-id``."""
    if result.attribute is None:
        return result.rule_id
    attribute = (
        result.attribute if isinstance(result.attribute, str) else " × ".join(result.attribute)
    )
    if result.group is None:
        return f"{result.rule_id} [{attribute}]"
    group = result.group if isinstance(result.group, str) else " × ".join(result.group)
    if group == "worst_case":
        return f"{result.rule_id} [{attribute}: worst case]"
    return f"{result.rule_id} [{attribute}: {group}]"


@dataclass(frozen=True)
class Undecided:
    """One undecided blocking check, as every face names it."""

    subject: str
    status: str
    why: str
    decide: str
    blocks: bool

    def text(self) -> str:
        why = "inconclusive" if self.status == "inconclusive" else "not evaluable"
        reason = f"{why}: {self.why}" if self.why else why
        return UNDECIDED_ITEM.format(subject=self.subject, why=reason, decide=self.decide)


@dataclass(frozen=True)
class VerdictSummary:
    """The counts every face prints, and the verdict they imply."""

    verdict: Verdict
    rules_failed: dict[str, int] = field(default_factory=dict)
    """Distinct rules with a failed, unwaived result, by severity."""
    results_failed: dict[str, int] = field(default_factory=dict)
    """Failed, unwaived results (rule × group), by severity."""
    undecided: tuple[Undecided, ...] = ()
    warnings_inconclusive: int = 0
    waived: int = 0
    total: int = 0

    def counts_text(self) -> str:
        """The one sentence of counts: identical on every face."""
        b, w, i = (self.rules_failed.get(s, 0) for s in SEVERITIES)
        rb, rw, ri = (self.results_failed.get(s, 0) for s in SEVERITIES)
        parts = [
            f"{_plural(b, 'blocking rule')} failed ({_plural(rb, 'result')})",
            f"{_plural(w, 'warning rule')} failed ({_plural(rw, 'result')})",
            f"{_plural(i, 'info rule')} flagged ({_plural(ri, 'result')})",
            f"{_plural(len(self.undecided), 'blocking check')} undecided",
        ]
        if self.warnings_inconclusive:
            parts.append(f"{_plural(self.warnings_inconclusive, 'warning check')} inconclusive")
        if self.waived:
            parts.append(f"{_plural(self.waived, 'result')} waived")
        return "; ".join(parts)

    def undecided_head(self) -> str:
        """'2 blocking checks could not be decided:' (empty when none)."""
        if not self.undecided:
            return ""
        return UNDECIDED_HEAD.format(count=_plural(len(self.undecided), "blocking check")).strip()

    def undecided_items(self, limit: int | None = None) -> list[str]:
        """Each undecided blocking check with why and what would decide it."""
        items = [u.text() for u in self.undecided]
        if limit is not None and len(items) > limit:
            items = [*items[:limit], UNDECIDED_MORE.format(count=len(items) - limit)]
        return items

    def undecided_text(self, limit: int | None = None) -> str:
        """'2 blocking checks could not be decided: ...' in one line (empty when none)."""
        if not self.undecided:
            return ""
        return self.undecided_head() + " " + "; ".join(self.undecided_items(limit)) + "."

    def counts(self, results: Sequence[PolicyResult]) -> ResultCounts:
        """The report's stored counts (the same numbers as the text)."""
        return ResultCounts(
            passed=sum(r.status == "pass" for r in results),
            failed=sum(_failed(r) for r in results),
            inconclusive=sum(r.status == "inconclusive" for r in results),
            not_evaluable=sum(r.status == "not_evaluable" for r in results),
            blocking_failures=self.results_failed.get("block", 0),
            warnings=self.results_failed.get("warn", 0) + self.warnings_inconclusive,
            rules_failed_blocking=self.rules_failed.get("block", 0),
            rules_failed_warning=self.rules_failed.get("warn", 0),
            info_findings=self.results_failed.get("info", 0),
            undecided_blocking=len(self.undecided),
            waived=self.waived,
        )


def verdict_summary(results: Sequence[PolicyResult]) -> VerdictSummary:
    """Count policy results the one way every face prints them, and decide the verdict."""
    rules: dict[str, set[tuple[str, str]]] = {s: set() for s in SEVERITIES}
    failed: dict[str, int] = {s: 0 for s in SEVERITIES}
    for r in results:
        if _failed(r):
            rules[r.severity].add((r.policy, r.rule_id))
            failed[r.severity] += 1
    undecided = tuple(
        Undecided(
            subject=result_subject(r),
            status=r.status,
            why=(r.reason or "").rstrip("."),
            decide=decided_by(r),
            blocks=r.undecided == "block",
        )
        for r in results
        if counts_undecided(r)
    )
    warn_inconclusive = sum(
        r.severity == "warn" and r.status == "inconclusive" and r.waiver is None for r in results
    )
    verdict: Verdict = "pass"
    if failed["block"] or any(u.blocks for u in undecided):
        verdict = "fail"
    elif failed["warn"] or undecided or warn_inconclusive:
        verdict = "warn"
    return VerdictSummary(
        verdict=verdict,
        rules_failed={s: len(v) for s, v in rules.items()},
        results_failed=failed,
        undecided=undecided,
        warnings_inconclusive=warn_inconclusive,
        waived=sum(r.waiver is not None for r in results),
        total=len(results),
    )
