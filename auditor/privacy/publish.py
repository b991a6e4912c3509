"""Publish: apply the suppression plan to a judged report, in one step.

The measure stage computes every metric, interval and disparity of every group
unsuppressed and the judge decides every rule on those numbers, in memory. Privacy
is applied here and only here, to what is written or shown: every face (report.json,
HTML, PDF, Markdown, JUnit, the dashboard, the registry) receives the report this
module returns, never the one it was given.

``publish(report, plan)``

* ``report`` is the judged, unsuppressed report (:func:`auditor.audit.build_report`
  builds it from :class:`auditor.measure.measurement.Measurement`; nothing flagged suppressed).
* ``plan`` is a :class:`PublishPlan`: the privacy of every group that is not fully
  shown (from :func:`auditor.privacy.suppression.plan_suppression`, decided from counts), and
  the comparisons and attribute summaries computed over the groups that are shown.

What it changes:

* a suppressed group keeps its name and reason only; a label-withheld group keeps
  its size and its label-free metrics;
* disparities, fairness metrics and attribute summaries are the shown-groups versions;
* a policy result whose judged value involves a withheld number keeps its status
  (pass/fail/inconclusive) but loses its observed value, interval and the evidence
  that compares them with the bound; ``value_withheld`` says why, and the message
  says that the value is withheld for privacy.

Counts and verdict are those of the judgement, unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from auditor.privacy.suppression import Privacy, publish_group
from auditor.tasks import task_def
from reports.model import (
    AttributeInfo,
    DisparityResult,
    FairnessMetric,
    GroupKey,
    GroupName,
    GroupResult,
    PolicyResult,
    Report,
    group_key,
)

WITHHELD_MESSAGE = "{subject}: {status}; the value is withheld for privacy ({reason})."
WITHHELD_AGGREGATE = (
    "it is computed over groups whose figures are withheld ({groups}), so it is not published"
)
WITHHELD_BELOW_MIN_N = "fewer patients than this rule's minimum (its selector's min_n)"
_MIN_N = re.compile(r"fewer than this rule's minimum of ([\d,]+)$")
STATUS_WORDS = {
    "pass": "passes",
    "fail": "fails",
    "inconclusive": "inconclusive",
    "not_evaluable": "not evaluable",
}
LABEL_CRITERIA = {"n_positive"}
"""Representation criteria that reveal the outcome (withheld with label metrics)."""
FAIRNESS_LABEL_FREE = {"demographic_parity_difference", "demographic_parity_ratio"}


@dataclass(frozen=True)
class PublishPlan:
    """What privacy allows to be shown, decided by the measure stage from counts."""

    privacy: Mapping[GroupKey, Privacy] = field(default_factory=dict)
    """Every group that is not fully shown (suppressed or label metrics withheld)."""
    disparities: Sequence[DisparityResult] = ()
    """Comparisons computed over the groups whose values are shown."""
    fairness_metrics: Sequence[FairnessMetric] = ()
    """Named fairness metrics computed over the groups whose rates are shown."""
    attributes: Sequence[AttributeInfo] = ()
    """Attribute summaries with their suppressed groups listed."""
    threshold: float | None = None
    """The primary threshold (of the groups' ``metrics``)."""

    def hidden(self, key: GroupKey, metric: str | None) -> str | None:
        """Why a group's value of ``metric`` may not be shown, or None when it may."""
        privacy = self.privacy.get(key)
        if privacy is None or privacy.fully_shown:
            return None
        if privacy.suppressed:
            return privacy.reason or "suppressed"
        if metric is None:
            return privacy.reason if not privacy.labels_shown else None
        if task_def(privacy.task).lookup(metric) is not None:
            return privacy.metric_reason(metric, self.threshold)
        if metric in LABEL_CRITERIA:  # of the other per-group values, the event count
            return privacy.events
        return None


def published_group(
    group: GroupResult, privacy: Privacy | None, threshold: float | None = None
) -> GroupResult:
    """One group as it may be shown (:func:`auditor.privacy.suppression.publish_group`):
    name only, or each figure as the plan allows; ``metrics`` are at ``threshold``."""
    return publish_group(group, privacy, threshold)


def _view_groups(report: Report, attribute: GroupName) -> list[GroupKey]:
    names = group_key(attribute, "")[0]
    return [
        group_key(g.attribute, g.group)
        for g in report.groups
        if group_key(g.attribute, "")[0] == names
    ]


def _reference(report: Report, attribute: GroupName) -> GroupKey | None:
    names = group_key(attribute, "")[0]
    for a in report.attributes:
        if group_key(a.name, "")[0] == names and a.reference is not None:
            return group_key(a.name, a.reference)
    return None


def _aggregate_excluded(report: Report, result: PolicyResult) -> set[GroupKey] | None:
    """Groups the full measurement left out of a per-attribute result (None: not found)."""
    assert result.attribute is not None and result.metric is not None
    names = group_key(result.attribute, "")[0]
    if result.group == "worst_case":
        for d in report.disparities:
            same = d.group == "worst_case" and d.metric == result.metric
            if same and group_key(d.attribute, "")[0] == names:
                return {group_key(d.attribute, g) for g in d.excluded_groups}
        return None
    for f in report.fairness_metrics:
        if f.name == result.metric and group_key(f.attribute, "")[0] == names:
            return {group_key(f.attribute, g) for g in f.excluded_groups}
    return None


def _result_withheld(report: Report, plan: PublishPlan, result: PolicyResult) -> str | None:
    """Why a result's value involves a number privacy withholds, or None."""
    if result.attribute is None:
        return None
    if result.group is not None and result.group != "worst_case":
        key = group_key(result.attribute, result.group)
        why = plan.hidden(key, result.metric)
        if why is None and result.check == "disparity":
            reference = _reference(report, result.attribute)
            if reference is not None:
                why = plan.hidden(reference, result.metric)
        return why
    if result.check != "disparity" or result.metric is None:
        return None
    excluded = _aggregate_excluded(report, result)
    if excluded is None:
        return None
    metric = result.metric
    definition = task_def(report.task).lookup(metric)
    label_free = metric in FAIRNESS_LABEL_FREE or (
        definition is not None and not definition.label_dependent
    )
    involved = [
        key
        for key in _view_groups(report, result.attribute)
        if key not in excluded and plan.hidden(key, "n" if label_free else None) is not None
    ]
    if not involved:
        return None
    return WITHHELD_AGGREGATE.format(groups=", ".join(" × ".join(k[1]) for k in involved))


def _subject(result: PolicyResult) -> str:
    title = result.rule_title or result.rule_id
    if result.group is None or result.attribute is None:
        return title
    if result.group == "worst_case":
        return f"{title}, {' × '.join(group_key(result.attribute, '')[0])}"
    names, values = group_key(result.attribute, result.group)
    where = " and ".join(f"{a} = {v}" for a, v in zip(names, values, strict=False))
    return f"{title}, {where}"


def _rule_reason(result: PolicyResult) -> str | None:
    """What of the judge's reason may stay: that the group is below the rule's own
    minimum (the status says as much), never the group's size."""
    match = _MIN_N.search(result.reason or "")
    if match is None or result.status != "not_evaluable":
        return None
    return WITHHELD_BELOW_MIN_N


def withhold_result(result: PolicyResult, why: str) -> PolicyResult:
    """A result with its status kept and every number that depends on the data removed."""
    rule_reason = _rule_reason(result)
    if rule_reason is not None:
        why = f"{why}; {rule_reason}"
    message = WITHHELD_MESSAGE.format(
        subject=_subject(result), status=STATUS_WORDS[result.status], reason=why
    )
    return result.model_copy(
        update={
            "observed": None,
            "ci_low": None,
            "ci_high": None,
            "precision": None,
            "message": message,
            "reason": why,
            "value_withheld": why,
        }
    )


PRECISION_WITHHELD = (
    "sample size withheld: the group's counts are not all published (small-cell privacy)"
)


def _precision_published(result: PolicyResult, plan: PublishPlan) -> PolicyResult:
    """A sample-size estimate is derived from the group's counts: it is shown only for
    groups whose counts are all published (the width always)."""
    prec = result.precision
    if prec is None or result.attribute is None or result.group is None:
        return result
    if (
        result.group == "worst_case"
        or plan.privacy.get(group_key(result.attribute, result.group)) is None
    ):
        return result
    kept = prec.model_copy(
        update={
            "n": None,
            "n_events": None,
            "more_patients": None,
            "more_events": None,
            "statement": None,
            "reason": PRECISION_WITHHELD if prec.more_patients is not None else prec.reason,
        }
    )
    return result.model_copy(update={"precision": kept})


def publish(report: Report, plan: PublishPlan) -> Report:
    """The report as it may be written or shown (see the module docstring)."""
    t0 = plan.threshold if plan.threshold is not None else report.threshold
    groups = [
        published_group(g, plan.privacy.get(group_key(g.attribute, g.group)), t0)
        for g in report.groups
    ]
    overall = published_group(
        report.overall,
        plan.privacy.get(group_key(report.overall.attribute, report.overall.group)),
        t0,
    )
    results = []
    for r in report.policy_results:
        why = None if r.value_withheld is not None else _result_withheld(report, plan, r)
        r = withhold_result(r, why) if why is not None else _precision_published(r, plan)
        results.append(r)
    update = {
        "groups": groups,
        "overall": overall,
        "attributes": list(plan.attributes) or report.attributes,
        "disparities": list(plan.disparities),
        "fairness_metrics": list(plan.fairness_metrics),
        "policy_results": results,
    }
    # A deep copy, validated again: the report model's privacy floor then holds, and
    # nothing of the unpublished report is shared with (or changed by) the published one.
    return Report.model_validate(report.model_copy(update=update, deep=True).model_dump())
