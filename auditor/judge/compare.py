"""What changed between two audits (two releases of a model, or two thresholds).

Compares the numbers two reports already hold; computes no metric itself. A
change "exceeds the interval" when the new estimate lies outside the earlier
audit's 95% interval; intervals that do not overlap are flagged too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from reports.format import attribute_label, group_label
from reports.model import GroupResult, PolicyResult, Report

DIFFERENT_DATA = (
    "the audits used different data (SHA-256 {before}… vs {after}…): differences mix the "
    "model change with the change in patients"
)
DIFFERENT_LABEL = (
    "the audits measured different outcomes ({before} vs {after}): their metrics are not comparable"
)
DIFFERENT_THRESHOLD = "the audits used different thresholds ({before} vs {after})"

KEY_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "calibration_slope", "oe_ratio")


@dataclass(frozen=True)
class MetricDelta:
    attribute: str
    group: str
    metric: str
    before: float | None
    after: float | None
    delta: float | None
    before_ci: tuple[float | None, float | None]
    after_ci: tuple[float | None, float | None]
    exceeds_interval: bool
    """The new estimate lies outside the earlier 95% interval."""
    intervals_disjoint: bool
    """The two 95% intervals do not overlap."""


@dataclass(frozen=True)
class RuleChange:
    policy: str
    rule_id: str
    severity: str
    attribute: str
    group: str
    before: str | None
    after: str | None
    message: str


def model_title(report: Report) -> str:
    """Model name, version and kind as one line: what a reader needs to know which is which."""
    m = report.model
    version = f" v{m.version}" if m.version else ""
    return f"{m.name or report.name}{version} ({m.kind})"


def _label_text(report: Report) -> str:
    return f"{report.label.get('column')} = {report.label.get('positive')}"


def comparability_warnings(before: Report, after: Report) -> list[str]:
    """What makes two audits measure different things (data, outcome, threshold)."""
    warnings: list[str] = []
    da = before.provenance.sha256.get("data")
    db = after.provenance.sha256.get("data")
    if da and db and da != db:
        warnings.append(DIFFERENT_DATA.format(before=str(da)[:12], after=str(db)[:12]))
    if _label_text(before) != _label_text(after):
        warnings.append(
            DIFFERENT_LABEL.format(before=_label_text(before), after=_label_text(after))
        )
    if before.threshold != after.threshold:
        warnings.append(DIFFERENT_THRESHOLD.format(before=before.threshold, after=after.threshold))
    return warnings


@dataclass
class Comparison:
    before_name: str
    after_name: str
    before_verdict: str
    after_verdict: str
    before_model: dict[str, Any] = field(default_factory=dict)
    after_model: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    deltas: list[MetricDelta] = field(default_factory=list)
    new_failures: list[RuleChange] = field(default_factory=list)
    resolved_failures: list[RuleChange] = field(default_factory=list)
    groups_only_before: list[str] = field(default_factory=list)
    groups_only_after: list[str] = field(default_factory=list)

    @property
    def new_blocking_failures(self) -> list[RuleChange]:
        return [c for c in self.new_failures if c.severity == "block"]

    def to_json(self) -> str:
        payload = {**asdict(self), "summary": comparison_summary(self)}
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def label(value: str | list[str] | None) -> str:
    """The reports' display form of an attribute; '—' for audit-wide results."""
    return "—" if value is None else attribute_label(value)


def group_text(value: str | list[str] | None) -> str:
    """The reports' display form of a group (``worst case``, ``Black × female``); '—' if none."""
    return "—" if value is None else group_label(value)


def _groups(report: Report) -> dict[tuple[str, str], GroupResult]:
    entries = {(label(g.attribute), group_text(g.group)): g for g in report.groups}
    entries[("overall", group_text(report.overall.group))] = report.overall
    return entries


def _delta(key: tuple[str, str], metric: str, a: GroupResult, b: GroupResult) -> MetricDelta | None:
    ea, eb = a.metrics.get(metric), b.metrics.get(metric)
    if ea is None or eb is None or (ea.estimate is None and eb.estimate is None):
        return None
    delta = None
    if ea.estimate is not None and eb.estimate is not None:
        delta = eb.estimate - ea.estimate
    exceeds = (
        eb.estimate is not None
        and ea.ci_low is not None
        and ea.ci_high is not None
        and not (ea.ci_low <= eb.estimate <= ea.ci_high)
    )
    disjoint = (
        None not in (ea.ci_low, ea.ci_high, eb.ci_low, eb.ci_high)
        and (eb.ci_low > ea.ci_high or eb.ci_high < ea.ci_low)  # type: ignore[operator]
    )
    return MetricDelta(
        attribute=key[0],
        group=key[1],
        metric=metric,
        before=ea.estimate,
        after=eb.estimate,
        delta=delta,
        before_ci=(ea.ci_low, ea.ci_high),
        after_ci=(eb.ci_low, eb.ci_high),
        exceeds_interval=bool(exceeds),
        intervals_disjoint=bool(disjoint),
    )


def _failures(report: Report) -> dict[tuple[str, str, str, str], PolicyResult]:
    return {
        (r.policy, r.rule_id, label(r.attribute), group_text(r.group)): r
        for r in report.policy_results
        if r.status == "fail"
    }


def compare_reports(
    before: Report, after: Report, *, metrics: tuple[str, ...] | None = None
) -> Comparison:
    """Per-group metric deltas and the policy failures that appeared or went away."""
    metric_ids = metrics or tuple(before.overall.metrics) or KEY_METRICS
    ga, gb = _groups(before), _groups(after)
    comparison = Comparison(
        before_name=before.name,
        after_name=after.name,
        before_verdict=before.verdict,
        after_verdict=after.verdict,
        before_model={**before.model.model_dump(), "title": model_title(before)},
        after_model={**after.model.model_dump(), "title": model_title(after)},
        warnings=comparability_warnings(before, after),
        groups_only_before=sorted(f"{a}={g}" for a, g in ga.keys() - gb.keys()),
        groups_only_after=sorted(f"{a}={g}" for a, g in gb.keys() - ga.keys()),
    )
    for key in [k for k in ga if k in gb]:
        for metric in metric_ids:
            d = _delta(key, metric, ga[key], gb[key])
            if d is not None:
                comparison.deltas.append(d)
    fa, fb = _failures(before), _failures(after)
    for rule_key in sorted(fb.keys() - fa.keys()):
        was = _status_of(before, rule_key)
        comparison.new_failures.append(_change(rule_key, fb[rule_key], before=was, after="fail"))
    for rule_key in sorted(fa.keys() - fb.keys()):
        now = _status_of(after, rule_key)
        comparison.resolved_failures.append(
            _change(rule_key, fa[rule_key], before="fail", after=now)
        )
    comparison.new_failures.sort(key=_change_order)
    comparison.resolved_failures.sort(key=_change_order)
    return comparison


def _status_of(report: Report, key: tuple[str, str, str, str]) -> str | None:
    for r in report.policy_results:
        if (r.policy, r.rule_id, label(r.attribute), group_text(r.group)) == key:
            return r.status
    return None


def _change(
    key: tuple[str, str, str, str], r: PolicyResult, *, before: str | None, after: str | None
) -> RuleChange:
    return RuleChange(
        policy=key[0],
        rule_id=key[1],
        severity=r.severity,
        attribute=key[2],
        group=key[3],
        before=before,
        after=after,
        message=r.message,
    )


def _change_order(c: RuleChange) -> tuple[int, str, str, str, str]:
    return (
        {"block": 0, "warn": 1, "info": 2}.get(c.severity, 3),
        c.policy,
        c.rule_id,
        c.attribute,
        c.group,
    )


def format_comparison(c: Comparison, *, only_changed: bool = True) -> str:
    """Plain-text view for the terminal."""

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    lines = [
        f"before: {c.before_model.get('title', c.before_name)} — {c.before_name} "
        f"(verdict {c.before_verdict.upper()})",
        f"after:  {c.after_model.get('title', c.after_name)} — {c.after_name} "
        f"(verdict {c.after_verdict.upper()})",
        *(f"warning: {w}" for w in c.warnings),
        "",
    ]
    shown = (
        [d for d in c.deltas if d.exceeds_interval or d.intervals_disjoint]
        if only_changed
        else c.deltas
    )
    if shown:
        lines.append("Metric changes beyond the earlier 95% interval:")
        lines.append(f"  {'attribute':<18} {'group':<24} {'metric':<22} before  after   delta")
        for d in shown:
            mark = " (intervals disjoint)" if d.intervals_disjoint else ""
            lines.append(
                f"  {d.attribute:<18} {d.group:<24} {d.metric:<22} {num(d.before):>6} "
                f"{num(d.after):>6} {('+' if (d.delta or 0) >= 0 else '')}{num(d.delta)}{mark}"
            )
    else:
        lines.append("No metric moved outside the earlier audit's 95% interval.")
    lines.append("")
    for title, changes in (
        ("New failures", c.new_failures),
        ("Resolved failures", c.resolved_failures),
    ):
        lines.append(f"{title}: {len(changes)}")
        for ch in changes:
            lines.append(
                f"  [{ch.severity}] {ch.policy}/{ch.rule_id} {ch.attribute}={ch.group}: "
                f"{ch.message}"
            )
    for title, groups in (
        ("Groups only in the earlier audit", c.groups_only_before),
        ("Groups only in the later audit", c.groups_only_after),
    ):
        if groups:
            lines.append(f"{title}: {', '.join(groups)}")
    return "\n".join(lines)


def comparison_summary(c: Comparison) -> dict[str, Any]:
    return {
        "changed_beyond_interval": sum(d.exceeds_interval for d in c.deltas),
        "new_failures": len(c.new_failures),
        "new_blocking_failures": len(c.new_blocking_failures),
        "resolved_failures": len(c.resolved_failures),
    }
