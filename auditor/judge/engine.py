"""Stage 4, judge: evaluate policy rules against a report, with the uncertainty in view.

The engine reads only the report (groups, overall, disparities, fairness metrics,
proxy strengths, representation, model card) and, for regression rules, a baseline
report; it computes no metric itself and does no I/O. Each rule gives one
:class:`~reports.model.PolicyResult` per selected group (per attribute for
worst-case, fairness-metric and proxy checks; per rule for documentation), with a
status from a closed set:

* ``pass`` / ``fail`` / ``inconclusive``, by the rule's ``bound_on`` (bounds are
  inclusive: a value on the bound is allowed):

  - ``estimate``: the estimate decides; inside the bounds passes, outside fails.
  - ``interval``: the 95% interval decides; the whole interval inside passes, the
    whole interval outside (beyond one bound) fails, an interval that reaches a
    bound is ``inconclusive``, and so is an estimate without an interval.
* ``not_evaluable``: too small a group for the rule's ``min_n``, an undefined metric,
  no baseline, no proxy analysis..., always with the reason.

The judge reads the unsuppressed report (privacy is applied afterwards, by
:mod:`auditor.privacy.publish`). Blocking results that are inconclusive or not evaluable
carry the policy's (or spec's) ``undecided`` action; results covered by an active
waiver carry it. The verdict and counts come from :func:`auditor.judge.verdict.verdict_summary`,
the one way every face counts. Messages are one line a clinician can read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from auditor.judge import sample_size
from auditor.judge.policy import (
    Bounds,
    CalibrationCheck,
    DiscoveryCheck,
    DisparityCheck,
    DocumentationCheck,
    MetricCheck,
    Policy,
    ProxyCheck,
    RegressionCheck,
    RepresentationCheck,
    Rule,
    Selector,
)
from auditor.judge.verdict import verdict_summary
from auditor.load.spec import Waiver as SpecWaiver
from auditor.measure.metrics import COUNT_METRICS, METRICS
from auditor.privacy.suppression import (
    SUPPRESSED_SMALL,
    WITHHELD_BOTH,
    WITHHELD_POSITIVES,
)
from auditor.tasks import find_metric
from reports.model import (
    Bound,
    DisparityResult,
    FairnessMetric,
    GroupName,
    GroupResult,
    PolicyResult,
    Report,
    RepresentationRow,
    ResultCounts,
    Status,
    Verdict,
    Waiver,
)

__all__ = ["Judgement", "compare", "count_results", "judge", "verdict_of"]

JOINT_FEATURE = "(all features)"
"""The proxy row of all features together (see reports.model.ProxyResult.feature)."""

# Reasons and messages (tests assert these exact texts).
NOT_EVALUABLE = "{subject}: {reason}; not evaluable."
SMALL_GROUP = "{n:,} patients, fewer than this rule's minimum of {min_n:,}"
NOT_MEASURED = "not measured in this report"
NOT_MEASURED_LABEL_OUTPUT = (
    "not measured: the model gives class labels (model.output: label), and this metric "
    "needs probabilities"
)
UNDEFINED = "undefined"
ATTRIBUTE_ABSENT = "attribute {attribute} is not in this audit"
GROUP_ABSENT = "group {group} is not among the selected attributes' groups in this audit"
NOTHING_SELECTED = "no group of this audit matches the rule's selector"
NO_REFERENCE = "the audit has no reference group for {attribute}"
NOT_COMPARED = "this comparison is not in the report"
NO_BASELINE = "no baseline report was given (audit with --baseline REPORT)"
BASELINE_ABSENT = "not in the baseline report"
BASELINE_SUPPRESSED = "suppressed in the baseline report ({reason})"
BASELINE_UNDEFINED = "undefined in the baseline report ({reason})"
NO_PROXIES = "no proxy analysis in this report"
PROXY_UNDEFINED = "proxy strength is undefined for every feature"
PROXY_INTERSECTION = "proxy strength is measured per single attribute, not per intersection"
NO_REFERENCE_SHARE = "no reference population share was given (reference_shares in the audit spec)"
NO_SHARE = "its share of the cohort is not in this report"

FAIL_ESTIMATE = "the estimate is {side} the {limit}"
FAIL_INTERVAL = "the whole 95% interval is {side} the {limit}"
INCONCLUSIVE = "the estimate is {side} the {limit} but the 95% interval reaches it"
INCONCLUSIVE_INSIDE = (
    "the estimate is within the bounds but the 95% interval reaches beyond the {limit}"
)
NO_INTERVAL_OUTSIDE = (
    "the estimate is {side} the {limit}, but without a 95% interval the rule cannot tell "
    "whether the whole interval is"
)
NO_INTERVAL_INSIDE = (
    "the estimate is within the bounds, but without a 95% interval the rule cannot tell "
    "whether the whole interval is"
)

MSG_PASS = "{subject} is {value}{ci}; required {required}."
MSG_FAIL = "{subject} is {value}{ci}, {side} the {limit} {bound}."
MSG_INCONCLUSIVE = (
    "{subject} is {value}{ci}, {side} the {limit} {bound}, but the interval reaches it: "
    "inconclusive."
)
MSG_INCONCLUSIVE_INSIDE = (
    "{subject} is {value}{ci}, within the bounds, but the interval reaches beyond the "
    "{limit} {bound}: inconclusive."
)
MSG_NO_INTERVAL_INSIDE = (
    "{subject} is {value}, within the bounds, but no 95% interval was computed: inconclusive."
)
MSG_REGRESSION_PASS = "{subject} is {value}{ci}; baseline {baseline}, allowed worsening {margin}."
MSG_REGRESSION_FAIL = (
    "{subject} is {value}{ci}, worse than the baseline {baseline} by more than the allowed "
    "{margin}."
)
MSG_REGRESSION_INCONCLUSIVE_INSIDE = (
    "{subject} is {value}{ci}; baseline {baseline}, allowed worsening {margin}, but the "
    "interval reaches the limit {bound}: inconclusive."
)
MSG_REGRESSION_INCONCLUSIVE = (
    "{subject} is {value}{ci}, worse than the baseline {baseline} by more than the allowed "
    "{margin}, but the interval reaches the limit {bound}: inconclusive."
)
MSG_DOC_PASS = "The model card documents {fields}."
MSG_DOC_FAIL = "The model card lacks {missing}."
MSG_DOC_NONE = "No model card was given; required: {fields}."
DOC_MISSING = "missing or empty: {missing}"
MSG_DOC_TODO = "The model card marks {todo} as TODO: write them before release."
DOC_TODO = "marked TODO: {todo}"
TODO_MARK = "TODO"  # `auditor init` writes this into fields a policy needs; never a pass
MSG_PROXY_PASS = (
    "The feature that best predicts {attribute} is {feature} (proxy strength {value}); "
    "required at most {bound}."
)
MSG_PROXY_FAIL = (
    "The feature {feature} predicts {attribute} with proxy strength {value}, above the maximum "
    "{bound}{more}."
)
MSG_SUPPRESSED_BELOW = "{subject} {what}, below this rule's minimum{of}."
MSG_REPRESENTATION_PASS = "{label} {said}; required at least {minimum}."
MSG_REPRESENTATION_FAIL = "{label} {said}, below the minimum {minimum}."
LEFT_OUT_NAMED = " ({names} left out: too small or undefined)"
LEFT_OUT_COUNT = " ({count} groups left out: too small or undefined)"
REFERENCE_SUPPRESSED = "the reference group is suppressed ({reason})"
REFERENCE_SMALL = (
    "the reference group has {n:,} patients, fewer than this rule's minimum of {min_n:,}"
)


# ------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Judgement:
    """The results of every rule of every policy, their counts and the verdict."""

    results: list[PolicyResult]
    counts: ResultCounts
    verdict: Verdict
    waivers: list[Waiver] = field(default_factory=list)


def judge(
    report: Report,
    policies: Sequence[Policy],
    *,
    baseline: Report | None = None,
    undecided: str | None = None,
    waivers: Sequence[SpecWaiver] = (),
    today: date | None = None,
) -> Judgement:
    """Judge ``report`` against ``policies`` (regression rules compare with ``baseline``).

    Returns one result per rule and selected group, in policy and rule order.
    ``undecided`` (the spec's) overrides each policy's; ``waivers`` apply until their
    expiry date (inclusive) as of ``today`` (default: the UTC date).
    """
    audit = _Audit.of(report, baseline)
    results: list[PolicyResult] = []
    for policy in policies:
        action = undecided or policy.undecided
        for rule in policy.rules:
            if rule.tasks and report.task not in rule.tasks:
                continue  # a rule for another kind of model (binary, survival, ...)
            ctx = _RuleContext(audit, policy, rule)
            produced = list(_EVALUATORS[rule.kind](ctx))
            if not produced:
                produced = [ctx.not_evaluable(rule.title, NOTHING_SELECTED)]
            produced = [_with_precision(audit, rule, r) for r in produced]
            if rule.severity == "block":
                produced = [
                    r.model_copy(update={"undecided": action})
                    if r.status in ("inconclusive", "not_evaluable") and r.reason != NO_BASELINE
                    else r
                    for r in produced
                ]
            results.extend(produced)
    results, records = apply_waivers(results, waivers, today or datetime.now(UTC).date())
    summary = verdict_summary(results)
    return Judgement(
        results=results,
        counts=summary.counts(results),
        verdict=summary.verdict,
        waivers=records,
    )


def _find_group(
    audit: _Audit, attribute: GroupName | None, group: GroupName | None
) -> GroupResult | None:
    if attribute is None or group is None:
        return None
    if attribute == audit.report.overall.attribute and group == audit.report.overall.group:
        return audit.report.overall
    key = _key(group)
    return next((g for g in audit.groups.get(_key(attribute), []) if _key(g.group) == key), None)


def _with_precision(audit: _Audit, rule: Rule, r: PolicyResult) -> PolicyResult:
    """Attach the precision achieved and, when undecided, what would decide it
    (:mod:`auditor.judge.sample_size`) to a result judged on an interval."""
    if r.bound is None or r.bound.on != "interval" or r.observed is None or r.metric is None:
        return r
    if r.status == "not_evaluable":
        return r
    group = _find_group(audit, r.attribute, r.group)
    decided = r.status in ("pass", "fail")
    kind = None
    reference = None
    reference_value = None
    check = rule.check
    if isinstance(check, DisparityCheck):
        if r.group == "worst_case" or check.fairness_metric is not None:
            group = None  # no closed form: width only
            kind = "worst case"
        else:
            kind = check.measure
            ref_key = audit.references.get(_key(r.attribute)) if r.attribute is not None else None
            if ref_key is not None and r.attribute is not None:
                reference = _find_group(
                    audit, r.attribute, list(ref_key) if len(ref_key) > 1 else ref_key[0]
                )
            if reference is not None:
                est = reference.metrics.get(r.metric)
                reference_value = est.estimate if est is not None else None
    if kind == "worst case":
        prec = sample_size.precision(
            r.metric, r.observed, r.ci_low, r.ci_high, r.bound.min, r.bound.max, decided, None
        )
        if not decided:
            prec.reason = sample_size.NO_FORMULA.format(what="a worst case over groups")
    else:
        prec = sample_size.precision(
            r.metric,
            r.observed,
            r.ci_low,
            r.ci_high,
            r.bound.min,
            r.bound.max,
            decided,
            group,
            reference=reference,
            reference_value=reference_value,
            kind=kind,
        )
    if not decided and prec.more_patients:
        view = (
            None
            if r.attribute is None or r.attribute == audit.report.overall.attribute
            else _key(r.attribute)
        )
        what = metric_name(r.metric)
        if kind in ("difference", "ratio"):
            what = f"{_lower_first(what)} {kind}"
        assert r.group is not None
        template = DECIDE_STATEMENT if prec.more_events is not None else DECIDE_PATIENTS
        prec.statement = template.format(
            events=prec.more_events or 0,
            patients=prec.more_patients,
            subject=f"{_lower_first(what)} {_phrase(view, r.group)}",
        )
    return r.model_copy(update={"precision": prec})


DECIDE_STATEMENT = (
    "About {events:,} more patients with the outcome (about {patients:,} more patients in all) "
    "would decide the {subject}."
)
DECIDE_PATIENTS = "About {patients:,} more patients would decide the {subject}."


def _waiver_matches(waiver: SpecWaiver, result: PolicyResult) -> bool:
    rule = waiver.rule
    if "/" in rule:
        policy, _, rule = rule.partition("/")
        if policy != result.policy:
            return False
    if rule != result.rule_id:
        return False
    if waiver.group is None:
        return True
    if result.group is None or result.attribute is None:
        return False
    if waiver.attribute is not None and not _same_group(waiver.attribute, _key(result.attribute)):
        return False
    return _same_group(waiver.group, _key(result.group))


def apply_waivers(
    results: Sequence[PolicyResult], waivers: Sequence[SpecWaiver], today: date
) -> tuple[list[PolicyResult], list[Waiver]]:
    """Mark every non-passing result an active waiver covers; expired waivers are
    recorded (and ignored). A waived result keeps its status: it is never hidden."""
    out = list(results)
    records: list[Waiver] = []
    for w in waivers:
        expired = date.fromisoformat(w.expires) < today
        record = Waiver(
            rule=w.rule,
            attribute=_name(w.attribute) if w.attribute is not None else None,
            group="all" if w.group is None else _name(w.group),
            reason=w.reason,
            approved_by=w.approved_by,
            expires=w.expires,
            status="expired" if expired else "active",
        )
        covered = 0
        for i, r in enumerate(out):
            if r.status == "pass" or r.waiver is not None or not _waiver_matches(w, r):
                continue
            covered += 1
            if not expired:
                out[i] = r.model_copy(update={"waiver": record.model_copy()})
        records.append(record.model_copy(update={"results": covered}))
    return out, records


def _name(values: tuple[str, ...]) -> GroupName:
    return values[0] if len(values) == 1 else list(values)


def count_results(results: Sequence[PolicyResult]) -> ResultCounts:
    """The report's counts (:func:`auditor.judge.verdict.verdict_summary`, the one way)."""
    return verdict_summary(results).counts(results)


def verdict_of(results: Sequence[PolicyResult]) -> Verdict:
    """The verdict of these results (:func:`auditor.judge.verdict.verdict_summary`)."""
    return verdict_summary(results).verdict


# ------------------------------------------------------------------------- the audit

View = tuple[str, ...]
Key = tuple[str, ...]


def _key(value: GroupName) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _same_group(a: Key, b: Key) -> bool:
    return a == b or (len(a) == len(b) > 1 and sorted(a) == sorted(b))


@dataclass
class _Audit:
    """Indexes over one report (and its baseline) so each rule is a few lookups."""

    report: Report
    baseline: Report | None
    views: list[View]
    groups: dict[View, list[GroupResult]]
    references: dict[View, Key | None]
    disparities: dict[tuple[View, str, str], list[DisparityResult]]
    fairness: dict[tuple[View, str], FairnessMetric]
    representation: dict[tuple[str, str], RepresentationRow]
    baseline_groups: dict[tuple[View, Key], GroupResult] = field(default_factory=dict)

    @classmethod
    def of(cls, report: Report, baseline: Report | None) -> _Audit:
        groups: dict[View, list[GroupResult]] = {}
        for g in report.groups:
            groups.setdefault(_key(g.attribute), []).append(g)
        views = [_key(a.name) for a in report.attributes] or list(groups)
        for view in groups:
            if view not in views:
                views.append(view)
        references = {
            _key(a.name): (_key(a.reference) if a.reference is not None else None)
            for a in report.attributes
        }
        disparities: dict[tuple[View, str, str], list[DisparityResult]] = {}
        for d in report.disparities:
            disparities.setdefault((_key(d.attribute), d.metric, d.kind), []).append(d)
        fairness = {(_key(f.attribute), f.name): f for f in report.fairness_metrics}
        representation = {(r.attribute, r.group): r for r in report.data_checks.representation}
        baseline_groups: dict[tuple[View, Key], GroupResult] = {}
        if baseline is not None:
            for g in baseline.groups:
                baseline_groups[(_key(g.attribute), _key(g.group))] = g
        return cls(
            report,
            baseline,
            views,
            groups,
            references,
            disparities,
            fairness,
            representation,
            baseline_groups,
        )

    @property
    def min_cell_size(self) -> int:
        return self.report.min_cell_size

    def find_view(self, wanted: View) -> View | None:
        for view in self.views:
            if view == wanted or (len(view) == len(wanted) > 1 and sorted(view) == sorted(wanted)):
                return view
        return None


@dataclass
class _Selection:
    views: list[View]
    targets: list[tuple[View | None, GroupResult]]
    """(view, group); view None is the overall population."""
    missing: list[str]
    """Reasons for selected attributes or groups that are not in the audit."""


def _select(audit: _Audit, selector: Selector, *, overall: bool, groups: bool = True) -> _Selection:
    missing: list[str] = []
    views: list[View] = []
    if selector.attributes is None:
        views = [v for v in audit.views if len(v) == 1]
    else:
        for wanted in selector.attributes:
            view = audit.find_view(wanted)
            if view is None:
                missing.append(ATTRIBUTE_ABSENT.format(attribute=" × ".join(wanted)))
            elif view not in views:
                views.append(view)
    if selector.include_intersections:
        views.extend(v for v in audit.views if len(v) > 1 and v not in views)
    targets: list[tuple[View | None, GroupResult]] = []
    if overall and selector.include_overall:
        targets.append((None, audit.report.overall))
    if groups:
        found: set[Key] = set()
        for view in views:
            for g in audit.groups.get(view, []):
                key = _key(g.group)
                if selector.groups is not None:
                    match = next((w for w in selector.groups if _same_group(w, key)), None)
                    if match is None:
                        continue
                    found.add(match)
                targets.append((view, g))
        for wanted in selector.groups or ():
            if wanted not in found:
                missing.append(GROUP_ABSENT.format(group=" × ".join(wanted)))
    return _Selection(views, targets, missing)


# --------------------------------------------------------------------- formatting


def metric_name(metric: str) -> str:
    """The registry's display name without a parenthetical: 'Sensitivity (TPR)' -> 'Sensitivity'."""
    definition = METRICS.get(metric) or find_metric(metric)
    name = definition.name if definition is not None else metric.replace("_", " ")
    return re.sub(r"\s*\(.*\)$", "", name)


def _lower_first(text: str) -> str:
    """'Selection rate' -> 'selection rate' but keep acronyms ('AUROC')."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def group_label(view: View | None, group: GroupName) -> str:
    """'race = Black', 'race = Black and sex = F', or 'everyone'."""
    if view is None:
        return "everyone"
    values = _key(group)
    return " and ".join(f"{a} = {v}" for a, v in zip(view, values, strict=False))


def _phrase(view: View | None, group: GroupName) -> str:
    return "overall" if view is None else f"for {group_label(view, group)}"


def attribute_label(view: View) -> str:
    return " × ".join(view)


class _Numbers:
    """Formats the numbers of one message with enough decimals to tell value from bound."""

    def __init__(
        self,
        values: Sequence[float | None],
        bounds: Sequence[float | None],
        *,
        count: bool = False,
        percent: bool = False,
    ) -> None:
        self.count = count
        self.percent = percent
        vals = [v for v in values if v is not None]
        bnds = [b for b in bounds if b is not None]
        scale = 100.0 if percent else 1.0
        decimals = 1 if percent else 2
        while decimals < 6 and any(
            v != b and f"{v * scale:.{decimals}f}" == f"{b * scale:.{decimals}f}"
            for v in vals
            for b in bnds
        ):
            decimals += 1
        self.decimals = decimals

    def __call__(self, x: float) -> str:
        if self.count:
            return f"{round(x):,}"
        if self.percent:
            return f"{x * 100:.{self.decimals}f}%"
        text = f"{x:.{self.decimals}f}"
        return text.lstrip("-") if float(text) == 0 else text

    def ci(self, lo: float | None, hi: float | None, intervals: str | None = None) -> str:
        if lo is None or hi is None:
            return ""
        label = "simultaneous 95% CI" if intervals == "simultaneous" else "95% CI"
        if lo < 0 or hi < 0:
            return f" ({label} {self(lo)} to {self(hi)})"
        return f" ({label} {self(lo)}–{self(hi)})"

    def required(self, bounds: Bounds) -> str:
        if bounds.min is not None and bounds.max is not None:
            return f"between {self(bounds.min)} and {self(bounds.max)}"
        if bounds.min is not None:
            return f"at least {self(bounds.min)}"
        assert bounds.max is not None
        return f"at most {self(bounds.max)}"


# --------------------------------------------------------------------- comparison


def _side(x: float, bounds: Bounds) -> str | None:
    if bounds.min is not None and x < bounds.min:
        return "below"
    if bounds.max is not None and x > bounds.max:
        return "above"
    return None


def compare(
    estimate: float,
    ci_low: float | None,
    ci_high: float | None,
    bounds: Bounds,
    bound_on: str,
) -> tuple[Status, str | None, str | None]:
    """(status, side, reason) of a value against inclusive bounds: the one definition.

    ``bound_on="estimate"``: the estimate decides. ``bound_on="interval"``: fail only
    when the whole 95% interval is outside (beyond one bound), pass only when the whole
    interval is inside, otherwise inconclusive; without an interval (e.g. the
    dashboard's interactive mode, no bootstrap) the rule cannot decide: inconclusive.
    ``side`` is where the estimate lies ("below"/"above"), or, for an estimate inside
    an interval that reaches a bound, the side the interval reaches.
    """
    side = _side(estimate, bounds)
    if bound_on != "interval":
        if side is None:
            return "pass", None, None
        limit = "minimum" if side == "below" else "maximum"
        return "fail", side, FAIL_ESTIMATE.format(side=side, limit=limit)
    if ci_low is None or ci_high is None:
        if side is None:
            return "inconclusive", None, NO_INTERVAL_INSIDE
        limit = "minimum" if side == "below" else "maximum"
        return "inconclusive", side, NO_INTERVAL_OUTSIDE.format(side=side, limit=limit)
    low_side, high_side = _side(ci_low, bounds), _side(ci_high, bounds)
    if low_side is None and high_side is None:
        return "pass", None, None
    if low_side == high_side:
        limit = "minimum" if low_side == "below" else "maximum"
        return "fail", low_side, FAIL_INTERVAL.format(side=low_side, limit=limit)
    if side is not None:
        limit = "minimum" if side == "below" else "maximum"
        return "inconclusive", side, INCONCLUSIVE.format(side=side, limit=limit)
    reach = "below" if low_side == "below" else "above"
    limit = "minimum" if reach == "below" else "maximum"
    return "inconclusive", reach, INCONCLUSIVE_INSIDE.format(limit=limit)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


# --------------------------------------------------------------------- rule context


@dataclass
class _RuleContext:
    audit: _Audit
    policy: Policy
    rule: Rule

    def result(self, status: Status, message: str, **fields: Any) -> PolicyResult:
        return PolicyResult(
            policy=self.policy.id,
            rule_id=self.rule.id,
            rule_title=self.rule.title,
            severity=self.rule.severity,
            status=status,
            check=self.rule.kind,
            message=message,
            rationale=self.rule.rationale,
            source=self.rule.source,
            **fields,
        )

    def interval(self, entry: Any, bound_on: str) -> tuple[float | None, float | None, str | None]:
        """(low, high, which) of the interval a decision uses: the result's own, or the
        simultaneous one when the policy says ``intervals: simultaneous``."""
        if bound_on != "interval":
            return entry.ci_low, entry.ci_high, None
        if self.policy.intervals == "simultaneous" and hasattr(entry, "joint_low"):
            return entry.joint_low, entry.joint_high, "simultaneous"
        return entry.ci_low, entry.ci_high, "per_result"

    def not_evaluable(self, subject: str, reason: str, **fields: Any) -> PolicyResult:
        return self.result(
            "not_evaluable",
            NOT_EVALUABLE.format(subject=subject, reason=reason),
            reason=reason,
            **fields,
        )

    def missing(self, selection: _Selection, subject: str, **fields: Any) -> Iterator[PolicyResult]:
        for reason in selection.missing:
            yield self.not_evaluable(subject, reason, **fields)

    def judged(
        self,
        subject: str,
        value: float,
        ci_low: float | None,
        ci_high: float | None,
        bounds: Bounds,
        bound_on: str,
        *,
        count: bool = False,
        percent: bool = False,
        intervals: str | None = None,
        **fields: Any,
    ) -> PolicyResult:
        """A result for one number against bounds, with its clinician-readable message."""
        lo, hi = _finite(ci_low), _finite(ci_high)
        status, side, reason = compare(value, lo, hi, bounds, bound_on)
        fmt = _Numbers([value, lo, hi], [bounds.min, bounds.max], count=count, percent=percent)
        ci = fmt.ci(lo, hi, intervals)
        inside = _side(value, bounds) is None
        if status == "pass":
            message = MSG_PASS.format(
                subject=subject, value=fmt(value), ci=ci, required=fmt.required(bounds)
            )
        elif inside and side is None:
            message = MSG_NO_INTERVAL_INSIDE.format(subject=subject, value=fmt(value))
        elif inside:
            limit = "minimum" if side == "below" else "maximum"
            bound = bounds.min if side == "below" else bounds.max
            assert bound is not None
            message = MSG_INCONCLUSIVE_INSIDE.format(
                subject=subject, value=fmt(value), ci=ci, limit=limit, bound=fmt(bound)
            )
        else:
            limit = "minimum" if side == "below" else "maximum"
            bound = bounds.min if side == "below" else bounds.max
            assert bound is not None
            template = MSG_FAIL if status == "fail" else MSG_INCONCLUSIVE
            message = template.format(
                subject=subject, value=fmt(value), ci=ci, side=side, limit=limit, bound=fmt(bound)
            )
        return self.result(
            status,
            message,
            observed=value,
            ci_low=lo,
            ci_high=hi,
            bound=Bound(min=bounds.min, max=bounds.max, on=bound_on),  # type: ignore[arg-type]
            reason=reason,
            intervals=intervals if bound_on == "interval" else None,
            **fields,
        )


def _group_fields(g: GroupResult, metric: str | None) -> dict[str, Any]:
    return {"metric": metric, "attribute": g.attribute, "group": g.group}


def _suppressed_reason(g: GroupResult, min_cell_size: int) -> str:
    return g.suppression_reason or SUPPRESSED_SMALL.format(m=min_cell_size)


def _unavailable(ctx: _RuleContext, g: GroupResult, metric: str) -> str | None:
    """Why a group's metric cannot be judged by this rule, or None if it can."""
    if g.suppressed:
        return _suppressed_reason(g, ctx.audit.min_cell_size)
    min_n = ctx.rule.selector.min_n
    if min_n is not None and g.n is not None and g.n < min_n:
        return SMALL_GROUP.format(n=g.n, min_n=min_n)
    est = g.metrics.get(metric)
    if est is None:
        if g.label_metrics_withheld and g.suppression_reason:
            return g.suppression_reason
        if ctx.audit.report.model.output == "label":
            return NOT_MEASURED_LABEL_OUTPUT
        return NOT_MEASURED
    if _finite(est.estimate) is None:
        return est.reason or UNDEFINED
    return None


def _judge_group_metric(
    ctx: _RuleContext,
    view: View | None,
    g: GroupResult,
    metric: str,
    bounds: Bounds,
    bound_on: str,
) -> PolicyResult:
    subject = f"{metric_name(metric)} {_phrase(view, g.group)}"
    fields = _group_fields(g, metric)
    why = _unavailable(ctx, g, metric)
    if why is not None:
        return ctx.not_evaluable(subject, why, **fields)
    est = g.metrics[metric]
    assert est.estimate is not None
    lo, hi, which = ctx.interval(est, bound_on)
    return ctx.judged(
        subject,
        est.estimate,
        lo,
        hi,
        bounds,
        bound_on,
        count=metric in COUNT_METRICS,
        intervals=which,
        **fields,
    )


# --------------------------------------------------------------------- evaluators


def _metric(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, MetricCheck)
    sel = _select(ctx.audit, ctx.rule.selector, overall=True)
    yield from ctx.missing(sel, metric_name(check.metric), metric=check.metric)
    for view, g in sel.targets:
        yield _judge_group_metric(ctx, view, g, check.metric, check.bounds, check.bound_on)


def _calibration(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, CalibrationCheck)
    sel = _select(ctx.audit, ctx.rule.selector, overall=True)
    yield from ctx.missing(sel, "Calibration")
    for view, g in sel.targets:
        for metric, bounds in check.quantities():
            yield _judge_group_metric(ctx, view, g, metric, bounds, check.bound_on)


def _disparity(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, DisparityCheck)
    if check.fairness_metric is not None:
        yield from _fairness(ctx, check)
    elif check.compare_to == "worst_case":
        yield from _worst_case(ctx, check)
    else:
        yield from _against_reference(ctx, check)


def _fairness(ctx: _RuleContext, check: DisparityCheck) -> Iterator[PolicyResult]:
    assert check.fairness_metric is not None
    name = check.fairness_metric.replace("_", " ").capitalize()
    sel = _select(ctx.audit, ctx.rule.selector, overall=False, groups=False)
    yield from ctx.missing(sel, name, metric=check.fairness_metric)
    for view in sel.views:
        subject = f"{name} for {attribute_label(view)}"
        fields: dict[str, Any] = {"metric": check.fairness_metric, "attribute": _attr(view)}
        fm = ctx.audit.fairness.get((view, check.fairness_metric))
        if fm is None:
            yield ctx.not_evaluable(subject, NOT_COMPARED, **fields)
        elif _finite(fm.estimate) is None:
            yield ctx.not_evaluable(subject, fm.reason or UNDEFINED, **fields)
        else:
            assert fm.estimate is not None
            yield ctx.judged(
                subject,
                fm.estimate,
                fm.ci_low,
                fm.ci_high,
                check.bounds,
                check.bound_on,
                # worst cases over groups: simultaneous pairwise bands, as above
                intervals="simultaneous" if check.bound_on == "interval" else None,
                **fields,
            )


def _attr(view: View) -> GroupName:
    return view[0] if len(view) == 1 else list(view)


def _left_out(groups: Sequence[GroupName]) -> str:
    if not groups:
        return ""
    if len(groups) <= 3:
        names = ", ".join(" × ".join(_key(g)) for g in groups)
        return LEFT_OUT_NAMED.format(names=names)
    return LEFT_OUT_COUNT.format(count=len(groups))


def _worst_case(ctx: _RuleContext, check: DisparityCheck) -> Iterator[PolicyResult]:
    assert check.metric is not None
    metric = check.metric
    sel = _select(ctx.audit, ctx.rule.selector, overall=False, groups=False)
    what = f"{_lower_first(metric_name(metric))} {check.measure}"
    yield from ctx.missing(sel, f"Worst-case {what}", metric=metric)
    for view in sel.views:
        entries = ctx.audit.disparities.get((view, metric, check.measure), [])
        entry = next((d for d in entries if d.reference is None and d.group == "worst_case"), None)
        subject = f"Worst-case {what} across {attribute_label(view)} groups"
        fields: dict[str, Any] = {"metric": metric, "attribute": _attr(view), "group": "worst_case"}
        if entry is None:
            yield ctx.not_evaluable(subject, NOT_COMPARED, **fields)
        elif _finite(entry.estimate) is None:
            yield ctx.not_evaluable(
                subject + _left_out(entry.excluded_groups), entry.reason or UNDEFINED, **fields
            )
        else:
            assert entry.estimate is not None
            yield ctx.judged(
                subject + _left_out(entry.excluded_groups),
                entry.estimate,
                entry.ci_low,
                entry.ci_high,
                check.bounds,
                check.bound_on,
                # the worst case's interval is built from simultaneous intervals of every
                # pair of groups, whatever the policy says (docs/statistics.md)
                intervals="simultaneous" if check.bound_on == "interval" else None,
                **fields,
            )


def _against_reference(ctx: _RuleContext, check: DisparityCheck) -> Iterator[PolicyResult]:
    assert check.metric is not None
    metric = check.metric
    audit = ctx.audit
    sel = _select(audit, ctx.rule.selector, overall=False)
    name = metric_name(metric)
    yield from ctx.missing(sel, f"{name} {check.measure}", metric=metric)
    entries = {view: audit.disparities.get((view, metric, check.measure), []) for view in sel.views}
    reported_refs: set[View] = set()
    for view, g in sel.targets:
        assert view is not None
        ref = audit.references.get(view)
        if ref is None:
            ref = next((_key(d.reference) for d in entries[view] if d.reference is not None), None)
        if ref is None:
            if view not in reported_refs:
                reported_refs.add(view)
                yield ctx.not_evaluable(
                    f"{name} {check.measure} for {attribute_label(view)}",
                    NO_REFERENCE.format(attribute=attribute_label(view)),
                    metric=metric,
                    attribute=_attr(view),
                )
            continue
        key = _key(g.group)
        if key == ref:
            continue
        ref_group = next((x for x in audit.groups.get(view, []) if _key(x.group) == ref), None)
        subject = f"{name} {check.measure} for {group_label(view, g.group)} vs {' × '.join(ref)}"
        fields = _group_fields(g, metric)
        why = _disparity_unavailable(ctx, g, ref_group)
        entry = next(
            (d for d in entries[view] if d.reference is not None and _key(d.group) == key), None
        )
        if why is None and entry is None:
            why = NOT_COMPARED
        if why is None and entry is not None and _finite(entry.estimate) is None:
            why = entry.reason or UNDEFINED
        if why is not None:
            yield ctx.not_evaluable(subject, why, **fields)
            continue
        assert entry is not None and entry.estimate is not None
        lo, hi, which = ctx.interval(entry, check.bound_on)
        yield ctx.judged(
            subject, entry.estimate, lo, hi, check.bounds, check.bound_on, intervals=which, **fields
        )


def _disparity_unavailable(
    ctx: _RuleContext, g: GroupResult, ref_group: GroupResult | None
) -> str | None:
    m = ctx.audit.min_cell_size
    if g.suppressed:
        return _suppressed_reason(g, m)
    if ref_group is not None and ref_group.suppressed:
        return REFERENCE_SUPPRESSED.format(reason=_suppressed_reason(ref_group, m))
    min_n = ctx.rule.selector.min_n
    if min_n is not None:
        if g.n is not None and g.n < min_n:
            return SMALL_GROUP.format(n=g.n, min_n=min_n)
        if ref_group is not None and ref_group.n is not None and ref_group.n < min_n:
            return REFERENCE_SMALL.format(n=ref_group.n, min_n=min_n)
    return None


def _regression(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, RegressionCheck)
    name = metric_name(check.metric)
    baseline = ctx.audit.baseline
    if baseline is None:
        yield ctx.not_evaluable(f"{name} against the baseline", NO_BASELINE, metric=check.metric)
        return
    sel = _select(ctx.audit, ctx.rule.selector, overall=True)
    yield from ctx.missing(sel, name, metric=check.metric)
    for view, g in sel.targets:
        subject = f"{name} {_phrase(view, g.group)}"
        fields = _group_fields(g, check.metric)
        why = _unavailable(ctx, g, check.metric)
        if why is None:
            why, base_value = _baseline_value(ctx, view, g, check.metric)
        if why is not None:
            yield ctx.not_evaluable(subject, why, **fields)
            continue
        yield _judge_regression(ctx, subject, g, check, base_value, fields)


def _baseline_value(
    ctx: _RuleContext, view: View | None, g: GroupResult, metric: str
) -> tuple[str | None, float]:
    baseline = ctx.audit.baseline
    assert baseline is not None
    if view is None:
        base: GroupResult | None = baseline.overall
    else:
        base = ctx.audit.baseline_groups.get((view, _key(g.group)))
    if base is None:
        return BASELINE_ABSENT, math.nan
    if base.suppressed:
        return BASELINE_SUPPRESSED.format(
            reason=_suppressed_reason(base, baseline.min_cell_size)
        ), math.nan
    est = base.metrics.get(metric)
    value = None if est is None else _finite(est.estimate)
    if value is None:
        reason = (
            (est.reason if est is not None else None) or base.suppression_reason or NOT_MEASURED
        )
        return BASELINE_UNDEFINED.format(reason=reason), math.nan
    return None, value


def _allowed(metric: str, baseline: float, margin: float) -> Bounds:
    """The region a metric may stay in: no worse than the baseline by more than the margin."""
    definition = METRICS.get(metric) or find_metric(metric)
    direction = definition.direction if definition is not None else "none"
    if direction == "higher":
        return Bounds(min=baseline - margin)
    if direction == "lower":
        return Bounds(max=baseline + margin)
    target = 1.0 if direction == "target_1" else 0.0
    reach = abs(baseline - target) + margin
    return Bounds(min=target - reach, max=target + reach)


def _judge_regression(
    ctx: _RuleContext,
    subject: str,
    g: GroupResult,
    check: RegressionCheck,
    base: float,
    fields: dict[str, Any],
) -> PolicyResult:
    est = g.metrics[check.metric]
    assert est.estimate is not None
    value = est.estimate
    bounds = _allowed(check.metric, base, check.margin)
    raw_lo, raw_hi, which = ctx.interval(est, check.bound_on)
    lo, hi = _finite(raw_lo), _finite(raw_hi)
    status, side, reason = compare(value, lo, hi, bounds, check.bound_on)
    fmt = _Numbers([value, lo, hi, base], [bounds.min, bounds.max, base])
    ci = fmt.ci(lo, hi, which)
    common = {
        "subject": subject,
        "value": fmt(value),
        "ci": ci,
        "baseline": fmt(base),
        "margin": fmt(check.margin),
    }
    if status == "pass":
        message = MSG_REGRESSION_PASS.format(**common)
    elif status == "fail":
        message = MSG_REGRESSION_FAIL.format(**common)
    else:
        limit = bounds.min if side == "below" else bounds.max
        if limit is None:
            limit = bounds.min if bounds.min is not None else bounds.max
        assert limit is not None
        template = (
            MSG_REGRESSION_INCONCLUSIVE_INSIDE
            if _side(value, bounds) is None
            else MSG_REGRESSION_INCONCLUSIVE
        )
        message = template.format(**common, bound=fmt(limit))
    return ctx.result(
        status,
        message,
        observed=value,
        ci_low=lo,
        ci_high=hi,
        bound=Bound(min=bounds.min, max=bounds.max, on=check.bound_on),
        reason=reason,
        intervals=which,
        **fields,
    )


# ------------------------------------------------------------------ representation


@dataclass(frozen=True)
class _Known:
    """A group's number for a representation criterion, or only an upper bound on it."""

    value: float | None = None
    below: float | None = None
    """When the value is withheld: it is known to be below this (e.g. < min_cell_size)."""
    reason: str | None = None


def _representation(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, RepresentationCheck)
    sel = _select(ctx.audit, ctx.rule.selector, overall=False)
    yield from ctx.missing(sel, "Representation")
    criteria: list[tuple[str, float, str]] = []
    if check.min_n is not None:
        criteria.append(("n", check.min_n, "count"))
    if check.min_events is not None:
        criteria.append(("n_positive", check.min_events, "count"))
    if check.min_share is not None:
        criteria.append(("share", check.min_share, "percent"))
    if check.min_share_ratio is not None:
        criteria.append(("share_ratio", check.min_share_ratio, "ratio"))
    for view, g in sel.targets:
        assert view is not None
        for criterion, minimum, style in criteria:
            yield _judge_representation(ctx, view, g, criterion, minimum, style)


_CRITERION_WORDS = {
    "n": ("patients", "has {value} patients"),
    "n_positive": ("patients with the outcome", "has {value} patients with the outcome"),
    "share": ("share of the cohort", "is {value} of the cohort"),
    "share_ratio": (
        "share relative to the reference population",
        "has {value} times its reference population share",
    ),
}


def _judge_representation(
    ctx: _RuleContext, view: View, g: GroupResult, criterion: str, minimum: float, style: str
) -> PolicyResult:
    label = group_label(view, g.group)
    noun, verb = _CRITERION_WORDS[criterion]
    subject = f"{label} ({noun})"
    fields: dict[str, Any] = {"metric": criterion, "attribute": g.attribute, "group": g.group}
    known = _representation_value(ctx, view, g, criterion)
    bounds = Bounds(min=float(minimum))
    fmt = _Numbers([known.value], [minimum], count=style == "count", percent=style == "percent")
    if known.value is not None:
        status, _side, reason = compare(known.value, None, None, bounds, "estimate")
        said = verb.format(value=fmt(known.value))
        template = MSG_REPRESENTATION_PASS if status == "pass" else MSG_REPRESENTATION_FAIL
        message = template.format(label=label, said=said, minimum=fmt(minimum))
        return ctx.result(
            status,
            message,
            observed=known.value,
            bound=Bound(min=minimum, max=None, on="estimate"),
            reason=reason,
            **fields,
        )
    if known.below is not None and known.below <= minimum:
        what, of = _withheld_words(criterion, ctx.audit.min_cell_size)
        message = MSG_SUPPRESSED_BELOW.format(subject=label, what=what, of=of)
        return ctx.result(
            "fail",
            message,
            bound=Bound(min=minimum, max=None, on="estimate"),
            reason=known.reason,
            **fields,
        )
    return ctx.not_evaluable(subject, known.reason or NOT_MEASURED, **fields)


def _withheld_words(criterion: str, m: int) -> tuple[str, str]:
    """What is known of a withheld number, without printing any digit but ``m``."""
    if criterion == "n_positive":
        return f"has fewer than {m} patients with the outcome", ""
    if criterion == "share":
        return f"has fewer than {m} patients", " share of the cohort"
    if criterion == "share_ratio":
        return f"has fewer than {m} patients", " share relative to the reference population"
    return f"has fewer than {m} patients", ""


def _is_small(reason: str | None, m: int) -> bool:
    """Suppressed because the group itself has fewer than m patients (not complementary)."""
    return reason == SUPPRESSED_SMALL.format(m=m)


def _few_events(reason: str | None, m: int) -> bool:
    return reason in (WITHHELD_POSITIVES.format(m=m), WITHHELD_BOTH.format(m=m))


def _representation_value(ctx: _RuleContext, view: View, g: GroupResult, criterion: str) -> _Known:
    audit = ctx.audit
    m = audit.min_cell_size
    total = audit.report.overall.n
    if g.suppressed:
        reason = _suppressed_reason(g, m)
        if not _is_small(g.suppression_reason, m):
            return _Known(reason=reason)
        # The group has fewer than m patients (and so fewer than m events).
        if criterion in ("n", "n_positive"):
            return _Known(below=m, reason=reason)
        if not total:
            return _Known(reason=reason)
        share_below = m / total
        if criterion == "share":
            return _Known(below=share_below, reason=reason)
        row = audit.representation.get((view[0], str(g.group))) if len(view) == 1 else None
        if row is None or not row.reference_share:
            return _Known(reason=NO_REFERENCE_SHARE)
        return _Known(below=share_below / row.reference_share, reason=reason)
    if criterion == "n":
        return _Known(value=None if g.n is None else float(g.n), reason=NOT_MEASURED)
    if criterion == "n_positive":
        # survival counts the events by the horizon (its registry's n_events)
        est = g.metrics.get("n_positive") or g.metrics.get("n_events")
        value = None if est is None else _finite(est.estimate)
        if value is not None:
            return _Known(value=value)
        why = g.suppression_reason or (est.reason if est is not None else None)
        if _few_events(g.suppression_reason, m):
            return _Known(below=m, reason=why)
        return _Known(reason=why or NOT_MEASURED)
    row = audit.representation.get((view[0], str(g.group))) if len(view) == 1 else None
    share = row.share if row is not None and row.share is not None else None
    if share is None and g.n is not None and total:
        share = g.n / total
    if share is None:
        return _Known(reason=NO_SHARE)
    if criterion == "share":
        return _Known(value=share)
    if row is None or not row.reference_share:
        return _Known(reason=NO_REFERENCE_SHARE)
    return _Known(value=share / row.reference_share)


# --------------------------------------------------------------------------- proxy


def _proxy(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, ProxyCheck)
    audit = ctx.audit
    sel = _select(audit, ctx.rule.selector, overall=False, groups=False)
    yield from ctx.missing(sel, "Proxy strength", metric="proxy_strength")
    explanations = audit.report.explanations
    bounds = Bounds(max=check.max_strength)
    for view in sel.views:
        subject = f"Proxy strength for {attribute_label(view)}"
        fields: dict[str, Any] = {"metric": "proxy_strength", "attribute": _attr(view)}
        if len(view) > 1:
            yield ctx.not_evaluable(subject, PROXY_INTERSECTION, **fields)
            continue
        rows = [
            p
            for p in explanations.proxies
            if p.attribute == view[0] and (check.include_joint or p.feature != JOINT_FEATURE)
        ]
        if not rows:
            absent = NO_PROXIES
            if explanations.status != "ok" and explanations.reason:
                absent = explanations.reason
            yield ctx.not_evaluable(subject, absent, **fields)
            continue
        scored = [p for p in rows if _finite(p.strength) is not None]
        if not scored:
            yield ctx.not_evaluable(subject, PROXY_UNDEFINED, **fields)
            continue
        top = max(scored, key=lambda p: p.strength or 0.0)
        strength = float(top.strength or 0.0)
        status, _side, reason = compare(strength, None, None, bounds, "estimate")
        fmt = _Numbers([strength], [check.max_strength])
        if status == "pass":
            message = MSG_PROXY_PASS.format(
                attribute=view[0],
                feature=top.feature,
                value=fmt(strength),
                bound=fmt(check.max_strength),
            )
        else:
            above = sum((p.strength or 0.0) > check.max_strength for p in scored)
            more = (
                f" ({above - 1} more feature{'s' if above > 2 else ''} above it)"
                if above > 1
                else ""
            )
            message = MSG_PROXY_FAIL.format(
                attribute=view[0],
                feature=top.feature,
                value=fmt(strength),
                bound=fmt(check.max_strength),
                more=more,
            )
        yield ctx.result(
            status,
            message,
            observed=strength,
            bound=Bound(min=None, max=check.max_strength, on="estimate"),
            reason=reason,
            **fields,
        )


# ------------------------------------------------------------------- documentation


def _field(card: Any, dotted: str) -> Any:
    value = card
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _todo(card: Any, dotted: str) -> bool:
    value = _field(card, dotted)
    return isinstance(value, str) and value.strip().upper().startswith(TODO_MARK)


def _present(card: Any, dotted: str) -> bool:
    value = _field(card, dotted)
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not _todo(card, dotted)
    if isinstance(value, list | dict | tuple | set):
        return bool(value)
    return True


def _documentation(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, DocumentationCheck)
    card = ctx.audit.report.model_card
    missing = [f for f in check.fields if not _present(card, f)]
    fields = ", ".join(check.fields)
    if not missing:
        yield ctx.result("pass", MSG_DOC_PASS.format(fields=fields))
        return
    todo = [f for f in missing if _todo(card, f)]
    absent = [f for f in missing if f not in todo]
    if todo and not absent:
        reason = DOC_TODO.format(todo=", ".join(todo))
        yield ctx.result("fail", MSG_DOC_TODO.format(todo=", ".join(todo)), reason=reason)
        return
    reason = DOC_MISSING.format(missing=", ".join(missing))
    if not card:
        message = MSG_DOC_NONE.format(fields=fields)
    else:
        message = MSG_DOC_FAIL.format(missing=", ".join(missing))
    yield ctx.result("fail", message, reason=reason)


# ------------------------------------------------------------------- discovery

DISCOVERY_NOT_RUN = "no discovery search ran (the spec has no discover: block)"
MSG_DISCOVERY_NONE = (
    "No cohort was confirmed on {metric} by the discovery search ({tested} hypotheses "
    "tested, FDR {fdr:g}); nothing to judge."
)
MSG_DISCOVERY_PASS = "Discovered cohort {id} ({cohort}): {metric} {value} is within {bound}."
MSG_DISCOVERY_FAIL = (
    "Discovered cohort {id} ({cohort}): {metric} {value} (rest {rest}) is beyond {bound}."
)
RATIO_BOUND = "at most {ratio:g} times the rest's value"


def _discovery(ctx: _RuleContext) -> Iterator[PolicyResult]:
    check = ctx.rule.check
    assert isinstance(check, DiscoveryCheck)
    found = ctx.audit.report.cohorts_found
    subject = f"Discovered cohorts ({check.metric})"
    if found is None:
        yield ctx.not_evaluable(subject, DISCOVERY_NOT_RUN, metric=check.metric)
        return
    cohorts = [c for c in found.cohorts if c.metric == check.metric]
    if not cohorts:
        yield ctx.result(
            "pass",
            MSG_DISCOVERY_NONE.format(
                metric=check.metric, tested=found.searched.hypotheses_tested, fdr=found.searched.fdr
            ),
            metric=check.metric,
        )
        return
    for c in cohorts:
        status, _side, _reason = compare(c.estimate, None, None, check.bounds, "estimate")
        words = []
        if check.bounds.min is not None:
            words.append(f"at least {check.bounds.min:g}")
        if check.bounds.max is not None:
            words.append(f"at most {check.bounds.max:g}")
        if check.max_ratio_to_rest is not None:
            words.append(RATIO_BOUND.format(ratio=check.max_ratio_to_rest))
            if c.rest > 0 and c.estimate > check.max_ratio_to_rest * c.rest:
                status = "fail"
        fmt = _Numbers([c.estimate, c.rest], [])
        message = MSG_DISCOVERY_PASS if status == "pass" else MSG_DISCOVERY_FAIL
        yield ctx.result(
            "pass" if status == "pass" else "fail",
            message.format(
                id=c.id,
                cohort=c.description,
                metric=check.metric,
                value=fmt(c.estimate),
                rest=fmt(c.rest),
                bound="; ".join(words),
            ),
            metric=check.metric,
            observed=c.estimate,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            bound=Bound(min=check.bounds.min, max=check.bounds.max, on="estimate"),
        )


_EVALUATORS = {
    "metric": _metric,
    "disparity": _disparity,
    "calibration": _calibration,
    "regression": _regression,
    "representation": _representation,
    "proxy": _proxy,
    "documentation": _documentation,
    "discovery": _discovery,
}
