"""The typed audit report: the one input of every renderer, the dashboard and CI.

The JSON keys are a public contract (CI pipelines and dashboards read them):
siblings may be added, none renamed. Bump :data:`SCHEMA_VERSION` on any change
and regenerate ``reports/schema/report.schema.json`` with
``python -m reports.model``; a test checks the shipped schema matches.

Privacy: nothing row-level is ever stored here. A suppressed group keeps its
name only; ``n`` is then absent from its JSON entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_serializer,
    model_validator,
)

SCHEMA_VERSION = "1.3.0"
SCHEMA_PATH = Path(__file__).parent / "schema" / "report.schema.json"

Verdict = Literal["pass", "warn", "fail"]
Severity = Literal["block", "warn", "info"]
Status = Literal["pass", "fail", "inconclusive", "not_evaluable"]
GroupName = str | list[str]
"""A group of one attribute is a string; a group of an intersection is a list."""
GroupKey = tuple[tuple[str, ...], tuple[str, ...]]
"""Hashable identity of a group: (attribute names, group values)."""

SMALL_GROUP_REASON = "fewer than {m} patients"
"""The suppression reason of a group below min_cell_size (the measure stage writes it)."""
SUPPRESSED_RESULT_MESSAGE = (
    "{group} has fewer than {min_cell_size} patients; its numbers are withheld."
)
SUPPRESSED_OTHER_RESULT_MESSAGE = "{group}: numbers withheld, {reason}."
"""For a group suppressed for another reason (e.g. to protect a smaller group)."""
SUPPRESSED_UNKNOWN_RESULT_MESSAGE = "{group} is suppressed; its numbers are withheld."
SUPPRESSED_PROXY_REASON = "groups with fewer than {min_cell_size} patients are left out"


def group_key(attribute: GroupName, group: GroupName) -> GroupKey:
    """One identity for a group whether it was written as a string or a one-item list."""
    names = (attribute,) if isinstance(attribute, str) else tuple(attribute)
    values = (group,) if isinstance(group, str) else tuple(group)
    return names, values


def below_minimum(reason: str | None, min_cell_size: int) -> bool:
    """Whether a suppression reason says the group itself is below the minimum size.

    Only then may text say "fewer than N"; a group suppressed to protect another
    (complementary suppression) or because a coarser group is suppressed may be larger.
    """
    return reason == SMALL_GROUP_REASON.format(m=min_cell_size)


def suppressed_result_message(group: str, reason: str | None, min_cell_size: int) -> str:
    """What a policy result on a suppressed group says instead of its numbers."""
    if below_minimum(reason, min_cell_size):
        return SUPPRESSED_RESULT_MESSAGE.format(group=group, min_cell_size=min_cell_size)
    if reason:
        return SUPPRESSED_OTHER_RESULT_MESSAGE.format(group=group, reason=reason)
    return SUPPRESSED_UNKNOWN_RESULT_MESSAGE.format(group=group)


def _has_count(text: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether free text holds digits other than those of the allowed strings."""
    if not text:
        return False
    for word in sorted(allowed, key=len, reverse=True):
        text = text.replace(word, "")
    return any(ch.isdigit() for ch in text)


class _Model(BaseModel):
    # NaN/inf are refused at construction: an undefined number is ``null`` with a
    # reason (docs/design.md), and ``Report.to_json`` could not write them anyway.
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class Estimate(_Model):
    """One number with its confidence interval, or the reason it has none."""

    estimate: float | None = Field(
        None, description="Point estimate from the exact distinct-score table; null if undefined."
    )
    ci_low: float | None = Field(None, description="Lower bound of the 95% interval.")
    ci_high: float | None = Field(None, description="Upper bound of the 95% interval.")
    ci_method: Literal["wilson", "bootstrap"] | None = Field(
        None, description="How the interval was computed (bootstrap uses the binned table)."
    )
    reason: str | None = Field(
        None, description="Why the estimate or its interval is missing (undefined, suppressed)."
    )
    joint_low: float | None = Field(
        None,
        description="Lower bound of the simultaneous interval: with the other groups' joint "
        "intervals of this metric it covers every group at 95% jointly (docs/statistics.md).",
    )
    joint_high: float | None = Field(None, description="Upper bound of the simultaneous interval.")


class GroupResult(_Model):
    """Metrics of one group of one attribute or intersection (or of everyone)."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    n: int | None = Field(None, description="Number of patients; absent when suppressed.")
    n_encounters: int | None = Field(
        None,
        description="Number of encounters (rows) when the audit counts patients (spec "
        "`cluster`); absent otherwise and when suppressed.",
    )
    suppressed: bool = Field(False, description="True when the group is below min_cell_size.")
    suppression_reason: str | None = Field(None, description="Why numbers are withheld.")
    label_metrics_withheld: bool = Field(
        False, description="True when positives or negatives are below min_cell_size."
    )
    metrics: dict[str, Estimate] = Field(
        default_factory=dict, description="metric id -> estimate at the primary threshold."
    )
    by_threshold: dict[str, dict[str, Estimate]] = Field(
        default_factory=dict,
        description="Threshold-dependent metrics at every threshold, keyed by the threshold.",
    )
    _slope_information: tuple[float, float, float] | None = PrivateAttr(default=None)
    """Riley et al.'s information terms of the calibration slope (in memory only, for the
    judge's sample-size estimate; never written)."""

    @model_validator(mode="after")
    def _privacy_floor(self) -> GroupResult:
        """A suppressed group keeps its name only, whatever the producer passed in."""
        if self.suppressed:
            self.n = None
            self.n_encounters = None
            self.metrics = {}
            self.by_threshold = {}
        return self

    @model_serializer(mode="wrap")
    def _drop_suppressed_n(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.suppressed or data.get("n") is None:
            data.pop("n", None)
        if data.get("n_encounters") is None:
            data.pop("n_encounters", None)
        return data


class DisparityResult(_Model):
    """A between-group comparison of one metric."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    metric: str = Field(description="Metric id from the registry.")
    kind: Literal["difference", "ratio"] = Field(
        description="group minus reference (max - min for worst case), or group / reference."
    )
    reference: GroupName | None = Field(
        None, description="Reference group; null for worst-case (max-min, min/max)."
    )
    group: GroupName = Field(description="Compared group, or the string 'worst_case'.")
    estimate: float | None = Field(None, description="Point estimate; null if undefined.")
    ci_low: float | None = Field(None, description="Lower bound of the 95% bootstrap interval.")
    ci_high: float | None = Field(None, description="Upper bound of the 95% bootstrap interval.")
    joint_low: float | None = Field(
        None,
        description="Lower bound of the simultaneous interval over the attribute's comparisons "
        "of this metric and kind (docs/statistics.md).",
    )
    joint_high: float | None = Field(None, description="Upper bound of the simultaneous interval.")
    ci_method: str | None = Field(
        None,
        description="How the interval was computed: 'bootstrap' (percentile), or for the "
        "worst case 'simultaneous pairwise band' (from simultaneous intervals of every "
        "pairwise difference or ratio; docs/statistics.md).",
    )
    reason: str | None = Field(None, description="Why the estimate is missing.")
    excluded_groups: list[GroupName] = Field(
        default_factory=list, description="Suppressed groups left out of this comparison."
    )


class FairnessMetric(_Model):
    """A named fairness metric users know from fairlearn (equal to it to 1e-9)."""

    name: str = Field(description="e.g. demographic_parity_difference.")
    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    estimate: float | None = Field(None, description="Point estimate; null if undefined.")
    ci_low: float | None = Field(None, description="Lower bound of the 95% bootstrap interval.")
    ci_high: float | None = Field(None, description="Upper bound of the 95% bootstrap interval.")
    reference_implementation: str = Field(description="The fairlearn function it equals.")
    reason: str | None = Field(None, description="Why the estimate is missing.")
    excluded_groups: list[GroupName] = Field(
        default_factory=list,
        description="Groups left out: suppressed, or with an undefined rate (fairlearn would "
        "count that rate as 0). With none left out the estimate equals fairlearn's.",
    )


class RocCurve(_Model):
    """ROC curve of one reportable group (never of a suppressed one)."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    fpr: list[float] = Field(description="False positive rate at each operating point.")
    tpr: list[float] = Field(description="True positive rate (sensitivity) at the same points.")
    auroc: float | None = Field(None, description="Area under this curve.")


class CalibrationBin(_Model):
    """One bin of a calibration (reliability) curve."""

    mean_predicted: float = Field(description="Mean predicted probability in the bin.")
    observed: float = Field(description="Observed event rate in the bin.")


class CalibrationCurve(_Model):
    """Calibration curve of one reportable group."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    bins: list[CalibrationBin] = Field(
        description="Equal-width bins holding at least min_cell_size patients only."
    )


class KaplanMeierCurve(_Model):
    """Kaplan–Meier event-free survival of one group whose event count may be shown."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    time: list[float] = Field(
        description="Times of the steps, up to the horizon; at least min_cell_size events "
        "between two steps, so no small count can be read off the curve."
    )
    survival: list[float] = Field(description="Event-free survival at each time.")


class ResidualBin(_Model):
    """One prediction-quantile bin of a regression residual plot (>= min_cell_size patients)."""

    mean_predicted: float = Field(description="Mean prediction in the bin.")
    mean_residual: float = Field(description="Mean of observed − predicted in the bin.")


class ResidualCurve(_Model):
    """Residuals against predictions of one reportable group (regression)."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    bins: list[ResidualBin] = Field(description="Bins of at least min_cell_size patients.")


class ConfusionMatrix(_Model):
    """Patients by true class (rows) and predicted class (columns) of one group (multiclass).

    A cell is null when withheld for privacy: fewer than min_cell_size patients, or
    withheld so that such a cell cannot be recovered from its row or column.
    """

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    classes: list[str] = Field(description="Classes in label.classes order.")
    counts: list[list[int | None]] = Field(description="counts[true][predicted]; null = withheld.")


class Curves(_Model):
    """Curves per group, for the report's charts."""

    roc: list[RocCurve] = Field(default_factory=list, description="ROC curves per group.")
    calibration: list[CalibrationCurve] = Field(
        default_factory=list,
        description="Calibration curves per group (survival: observed 1 − KM at the horizon "
        "against mean predicted risk, per risk bin).",
    )
    kaplan_meier: list[KaplanMeierCurve] = Field(
        default_factory=list, description="survival: Kaplan–Meier curves per group."
    )
    residuals: list[ResidualCurve] = Field(
        default_factory=list, description="regression: binned residuals per group."
    )
    confusion: list[ConfusionMatrix] = Field(
        default_factory=list, description="multiclass: confusion matrices per group."
    )


class Bound(_Model):
    """The allowed range of a rule's observed value."""

    min: float | None = Field(None, description="Lowest allowed value; null for no minimum.")
    max: float | None = Field(None, description="Highest allowed value; null for no maximum.")
    on: Literal["estimate", "interval"] = Field(
        "estimate",
        description="Whether the bound applies to the estimate or to its confidence interval.",
    )


class Waiver(_Model):
    """A committee-approved exception to one rule for one group (or all), until a date."""

    rule: str = Field(description="Rule id, or policy_id/rule_id.")
    attribute: GroupName | None = Field(None, description="Attribute of the group, if given.")
    group: GroupName = Field(description="The group, or 'all'.")
    reason: str = Field(description="Why the committee accepts the result.")
    approved_by: str = Field(description="Who approved the waiver.")
    expires: str = Field(description="Last day the waiver applies (YYYY-MM-DD).")
    status: Literal["active", "expired"] = Field(
        "active", description="expired waivers are ignored (and reported with a warning)."
    )
    results: int = Field(0, description="Policy results this waiver covers in this audit.")


class Precision(_Model):
    """Precision of a judged interval and the sample size that would decide it."""

    width: float | None = Field(None, description="Width of the interval the decision used.")
    target_width: float | None = Field(
        None,
        description="Width that would decide it: twice the distance from the estimate to the "
        "nearest bound (the interval then just clears the bound).",
    )
    n: int | None = Field(None, description="Patients now (of the group, or of both groups).")
    n_events: int | None = Field(None, description="Patients with the outcome now.")
    more_patients: int | None = Field(
        None, description="About how many more patients would decide it (null: decided)."
    )
    more_events: int | None = Field(
        None, description="Of them, about how many with the outcome (at the same prevalence)."
    )
    formula: str | None = Field(None, description="The sample-size formula used (named).")
    reason: str | None = Field(None, description="Why no estimate of the sample size is given.")
    statement: str | None = Field(
        None,
        description="The estimate in one sentence, e.g. 'About 140 more patients with the "
        "outcome (about 900 more patients in all) would decide the calibration slope for age band "
        "= 85-94.'",
    )


class PolicyResult(_Model):
    """One rule judged on one group (or on the whole audit)."""

    policy: str = Field(description="Id of the policy the rule belongs to.")
    rule_id: str = Field(description="Id of the rule within its policy.")
    rule_title: str = Field("", description="The rule's title.")
    severity: Severity = Field(description="block fails the verdict; warn makes it warn.")
    status: Status = Field(description="Outcome of the rule on this group.")
    check: str = Field(description="metric, disparity, calibration, regression, ...")
    metric: str | None = Field(None, description="Metric id from the registry, if any.")
    attribute: GroupName | None = Field(None, description="Attribute; null for audit-wide rules.")
    group: GroupName | None = Field(None, description="Group; null for audit-wide rules.")
    observed: float | None = Field(None, description="The value judged against the bound.")
    ci_low: float | None = Field(None, description="Lower bound of its 95% interval.")
    ci_high: float | None = Field(None, description="Upper bound of its 95% interval.")
    intervals: Literal["per_result", "simultaneous"] | None = Field(
        None,
        description="Which interval the decision used: the result's own 95% interval, or the "
        "simultaneous interval covering all of the rule's groups jointly (policy `intervals`); "
        "null when judged on the estimate.",
    )
    precision: Precision | None = Field(
        None,
        description="For a result judged on an interval: the width achieved and, when "
        "undecided, about how many more patients would decide it.",
    )
    bound: Bound | None = Field(None, description="The allowed range.")
    message: str = Field(description="One line a clinician can read.")
    reason: str | None = Field(None, description="Why not evaluable / inconclusive.")
    rationale: str | None = Field(None, description="Why the rule exists.")
    source: str | None = Field(None, description="Regulation, guideline or paper it cites.")
    value_withheld: str | None = Field(
        None,
        description="Why the observed value, interval and evidence are withheld for privacy; "
        "the status was judged on the unsuppressed value.",
    )
    undecided: Literal["warn", "block"] | None = Field(
        None,
        description="For a blocking result that is inconclusive or not evaluable: whether it "
        "makes the verdict warn or fail (the policy's or the spec's `undecided`).",
    )
    waiver: Waiver | None = Field(
        None, description="The active waiver that covers this result (it then does not count)."
    )


class PolicyInfo(_Model):
    """A policy the audit was judged against."""

    id: str = Field(description="Policy id.")
    title: str = Field(description="Policy title.")
    version: str = Field(description="Policy version.")
    source: str = Field(description="Shipped pack name or file name.")
    sha256: str | None = Field(None, description="SHA-256 of the policy file.")
    rule_count: int = Field(description="Number of rules after extends/overrides.")
    description: str | None = Field(None, description="What the policy is for.")
    intervals: Literal["per_result", "simultaneous"] = Field(
        "per_result",
        description="Which intervals the policy's rules on intervals use (policy `intervals`).",
    )


class ResultCounts(_Model):
    """Counts of policy results by outcome."""

    passed: int = Field(0, description="Results with status pass.")
    failed: int = Field(0, description="Results with status fail (any severity), not waived.")
    inconclusive: int = Field(0, description="Results whose interval reaches the bound.")
    not_evaluable: int = Field(0, description="Results that could not be judged.")
    blocking_failures: int = Field(0, description="Failed results of severity block, not waived.")
    warnings: int = Field(0, description="Failed or inconclusive results of severity warn.")
    rules_failed_blocking: int = Field(
        0, description="Distinct blocking rules with at least one failed result."
    )
    rules_failed_warning: int = Field(
        0, description="Distinct warning rules with at least one failed result."
    )
    info_findings: int = Field(0, description="Failed results of severity info (not warnings).")
    undecided_blocking: int = Field(
        0, description="Blocking results that are inconclusive or not evaluable (not waived)."
    )
    waived: int = Field(0, description="Results covered by an active waiver.")


class FeatureImportance(_Model):
    """Mean absolute SHAP value of one feature, in the data's own column names."""

    feature: str = Field(description="Feature (column) name.")
    mean_abs_shap: float = Field(description="Mean |SHAP value| on the explainer's output scale.")
    rank: int = Field(description="1 = most important.")


class RankShift(_Model):
    """How a feature's importance rank in a group differs from the whole population."""

    feature: str = Field(description="Feature (column) name.")
    rank: int = Field(description="Rank in the group.")
    overall_rank: int = Field(description="Rank in the whole population.")
    shift: int = Field(description="rank - overall_rank (positive: less important here).")


class GroupExplanation(_Model):
    """SHAP importance of one group."""

    attribute: GroupName = Field(description="Attribute name, or a list for an intersection.")
    group: GroupName = Field(description="Group value, or a list of values for an intersection.")
    n_sample: int | None = Field(None, description="Rows explained; absent when suppressed.")
    suppressed: bool = Field(False, description="True when the group is below min_cell_size.")
    importance: list[FeatureImportance] = Field(
        default_factory=list, description="Features by importance in this group."
    )
    kendall_tau: float | None = Field(
        None, description="Rank agreement with the whole population's importance."
    )
    top_shifts: list[RankShift] = Field(
        default_factory=list, description="Features whose rank moved most."
    )

    @model_validator(mode="after")
    def _privacy_floor(self) -> GroupExplanation:
        """A suppressed group keeps its name only."""
        if self.suppressed:
            self.n_sample = None
            self.importance = []
            self.kendall_tau = None
            self.top_shifts = []
        return self


class ProxyResult(_Model):
    """How well features predict a sensitive attribute."""

    attribute: str = Field(description="Sensitive attribute.")
    feature: str = Field(description="A feature, or '(all features)' for the joint model.")
    nmi: float | None = Field(None, description="Normalized mutual information.")
    auroc: float | None = Field(None, description="Cross-validated AUROC (one-vs-rest macro).")
    strength: float | None = Field(None, description="proxy_strength = max(0, 2*AUROC - 1).")
    is_proxy: bool = Field(False, description="strength reaches the proxy threshold.")
    excluded_groups: list[str] = Field(
        default_factory=list,
        description="Groups left out of the AUROC target (suppressed, or too few rows for "
        "cross-validation).",
    )
    reason: str | None = Field(
        None, description="Why groups were left out, or why nmi, auroc and strength are null."
    )


class ClassExplanation(_Model):
    """SHAP importance of one class's predicted probability (multiclass and ordinal audits).

    The same sample, background, privacy restriction and exactness rules as the top-level
    explanation; only the explained output differs.
    """

    label: str = Field(description="The class whose predicted probability is explained.")
    explainer: str | None = Field(None, description="LinearExplainer, TreeExplainer, ...")
    output_scale: Literal["probability", "log_odds", "logit"] | None = Field(
        None,
        description="Scale of the SHAP values: probability, or logit (a multinomial model's "
        "linear score of the class: log P(class) up to a constant shared by every class).",
    )
    global_importance: list[FeatureImportance] = Field(
        default_factory=list, description="Importance in the whole population."
    )
    by_group: list[GroupExplanation] = Field(
        default_factory=list, description="Importance per group."
    )
    differing_features: list[dict[str, Any]] = Field(
        default_factory=list, description="Features whose importance differs most between groups."
    )


class Explanations(_Model):
    """SHAP importance overall and per group, and proxy features."""

    status: Literal["ok", "not_evaluable"] = Field(
        description="not_evaluable when there is no model to explain (score column only)."
    )
    reason: str | None = Field(None, description="Why explanations are not evaluable.")
    explainer: str | None = Field(None, description="LinearExplainer, TreeExplainer, ...")
    output_scale: Literal["probability", "log_odds", "logit"] | None = Field(
        None,
        description="Scale of the SHAP values (logit: a multinomial model's linear score of "
        "the class).",
    )
    background_size: int | None = Field(None, description="Rows in the background sample.")
    sample_size: int | None = Field(None, description="Rows explained in total.")
    sample_per_group: list[dict[str, Any]] = Field(
        default_factory=list, description="Rows explained per group (reportable groups only)."
    )
    global_importance: list[FeatureImportance] = Field(
        default_factory=list, description="Importance in the whole population."
    )
    by_group: list[GroupExplanation] = Field(
        default_factory=list, description="Importance per group."
    )
    differing_features: list[dict[str, Any]] = Field(
        default_factory=list, description="Features whose importance differs most between groups."
    )
    by_class: list[ClassExplanation] = Field(
        default_factory=list,
        description="Multiclass and ordinal audits: the explanation of each class's predicted "
        "probability, in the order of the declared classes; the top-level importance is the "
        "first (most acute) class's. Empty for other tasks (absent before 1.3.0).",
    )
    sensitive_inputs: list[str] = Field(
        default_factory=list, description="Sensitive attributes that are model inputs."
    )
    proxies: list[ProxyResult] = Field(default_factory=list, description="Proxy strengths.")
    proxy_threshold: float | None = Field(
        None, description="Strength above which a feature is a strong proxy."
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Plain-language findings (sensitive input, proxy in top k).",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Plain-language caveats: what the background is, how the sample was "
        "drawn and weighted, explainer fallbacks.",
    )


class RepresentationRow(_Model):
    """Size and share of one group in the data, against a reference population."""

    attribute: str = Field(description="Sensitive attribute.")
    group: str = Field(description="Group value.")
    n: int | None = Field(None, description="Number of patients; absent when suppressed.")
    share: float | None = Field(None, description="Share of the audited rows.")
    reference_share: float | None = Field(
        None, description="Share in the reference population given in the spec."
    )
    suppressed: bool = Field(False, description="True when the group is below min_cell_size.")

    @model_validator(mode="after")
    def _privacy_floor(self) -> RepresentationRow:
        """A suppressed group's size (and its share, which reveals it) is withheld."""
        if self.suppressed:
            self.n = None
            self.share = None
        return self


class MissingnessRow(_Model):
    """Missingness of one feature in one group."""

    attribute: str = Field(description="Sensitive attribute.")
    group: str = Field(description="Group value.")
    feature: str = Field(description="Feature (column) name.")
    missing_rate: float | None = Field(None, description="Share of rows with the value missing.")
    reason: str | None = Field(None, description="Why the rate is withheld (privacy).")


class DataChecks(_Model):
    """Representation and data quality per group."""

    rows_total: int | None = Field(
        description="Rows in the data file; null when withheld (fewer than min_cell_size "
        "rows were dropped, and the difference would give their number)."
    )
    rows_dropped_missing_label: int | None = Field(
        0, description="Rows dropped for a missing label; null when fewer than min_cell_size."
    )
    representation: list[RepresentationRow] = Field(
        default_factory=list, description="Size and share per group."
    )
    missingness: list[MissingnessRow] = Field(
        default_factory=list, description="Missingness rate per feature and group."
    )
    missingness_disparities: list[dict[str, Any]] = Field(
        default_factory=list, description="Features whose missingness differs most between groups."
    )
    notes: list[str] = Field(default_factory=list, description="Plain-language findings.")


class Computation(_Model):
    """How the numbers were computed: on all rows or on a sample, exact or binned scores."""

    engine: Literal["pandas", "streaming", "spark"] = Field(
        "pandas",
        description="pandas: every row in memory; streaming: files read in batches; spark: "
        "reduced in a Spark cluster (or local Spark).",
    )
    files: int | None = Field(None, description="Data files read (streaming).")
    batches: int | None = Field(None, description="Batches read, scored and reduced (streaming).")
    score_table: Literal["exact", "binned"] = Field(
        "exact",
        description="exact: every distinct score kept, so point estimates equal a pass over "
        "all rows; binned: scores cut at score_resolution because the exact tables would "
        "exceed the memory budget (decision thresholds are bin edges, so threshold metrics "
        "stay exact; AUROC, AUPRC and calibration are computed on bin midpoints). For "
        "survival, multiclass and regression audits, binned means the continuous columns "
        "of the distinct-row tables were coarsened at score_resolution (probabilities "
        "binned, survival times rounded up without crossing the horizon, regression "
        "values rounded to that relative resolution; the notes say which).",
    )
    score_resolution: float | None = Field(
        None, description="Width of a score bin when score_table is binned."
    )
    metrics_rows: Literal["all"] = Field(
        "all", description="Metrics, intervals and data checks use every audited row."
    )
    sample_rows: int | None = Field(
        None,
        description="Rows of the seeded, stratified sample (proportional to the finest "
        "cells) that explanations and proxies read when the data is not in memory; null: "
        "they read the data in memory.",
    )
    proxy_sample_rows: int | None = Field(
        None, description="Rows the proxy models were fitted on (a seeded random sample)."
    )
    notes: list[str] = Field(default_factory=list, description="What this means, in words.")


class ModelInfo(_Model):
    """The audited model."""

    name: str | None = Field(None, description="Model name (default: the spec's name).")
    version: str | None = Field(None, description="Model version or release.")
    kind: str = Field(description="score_column, skops, onnx, mlflow, pickle, estimator.")
    path: str | None = Field(None, description="Model file or folder as given.")
    score_column: str | None = Field(None, description="Score column, when scores were given.")
    output: Literal["probability", "label"] = Field(
        "probability",
        description="probability: every metric; label: class labels (0/1), threshold "
        "metrics only (model.output in the spec).",
    )


class AttributeInfo(_Model):
    """A sensitive attribute or intersection and its groups."""

    name: GroupName = Field(description="Attribute name, or a list for an intersection.")
    groups: list[GroupName] = Field(description="Every group, suppressed ones included.")
    reference: GroupName | None = Field(None, description="Reference group for disparities.")
    suppressed_groups: list[GroupName] = Field(
        default_factory=list, description="Groups below min_cell_size."
    )


class Provenance(_Model):
    """What produced the report, so it can be reproduced and verified."""

    tool: str = Field(description="Tool name.")
    tool_version: str = Field(description="Tool version.")
    python: str = Field(description="Python version.")
    platform: str = Field(description="Operating system and machine.")
    libraries: dict[str, str] = Field(description="Library name -> version.")
    runtimes: dict[str, str] = Field(
        default_factory=dict,
        description="Runtime that scored the model -> version (onnxruntime, mlflow, lightgbm, "
        "xgboost, catboost); empty for scores given as a column or a plain scikit-learn model.",
    )
    sha256: dict[str, Any] = Field(
        description="SHA-256 of spec, data, model and each policy (policies: {name: hash})."
    )
    seed: int = Field(description="Seed of every random draw.")
    bootstrap_replicates: int = Field(description="Bootstrap replicates for intervals.")
    bootstrap_bins: int = Field(
        description="Score bins per cell of the bootstrap table (0 when no bootstrap ran)."
    )
    thresholds: list[float] = Field(description="Decision thresholds; the first is primary.")
    generated_at: str = Field(description="UTC ISO 8601; SOURCE_DATE_EPOCH when set.")
    spec: dict[str, Any] = Field(description="The spec as given.")
    point_estimates: str = Field(
        "exact distinct-score table", description="Which resolution produced point estimates."
    )
    interval_methods: str = Field(
        "Wilson for proportions; percentile bootstrap otherwise",
        description="Which methods produced intervals.",
    )
    bootstrap_cluster: str | None = Field(
        None,
        description="Patient id column the bootstrap resampled by (spec `cluster`); null "
        "when encounters were resampled as independent rows.",
    )


class DiscoveredCohort(_Model):
    """One cohort the search found and the confirmation half confirmed."""

    id: str = Field(description="C1, C2, ... in report order.")
    description: str = Field(description='The cohort in words ("age ≥ 80 and site = B").')
    conditions: list[dict[str, Any]] = Field(
        description="Its conditions as named_groups[].where entries {column, op, value} of a "
        "spec (empty when a condition is 'is missing', which a spec cannot name)."
    )
    depth: int = Field(description="Number of conditions joined by 'and'.")
    metric: str = Field(
        description="The task's metric registry id: auroc, fnr, oe_ratio (binary); c_index, "
        "oe_ratio_t, sensitivity_t (survival); under_triage_rate, over_triage_rate, accuracy "
        "(multiclass); mae, mean_error (regression)."
    )
    direction: str | None = Field(
        None,
        description="For oe_ratio and oe_ratio_t: under-predicted or over-predicted relative "
        "to the rest; for mean_error: over-estimated or under-estimated.",
    )
    estimate: float = Field(description="The cohort's value, on the confirmation half only.")
    ci_low: float = Field(description="Lower end of its 95% interval (confirmation half).")
    ci_high: float = Field(description="Upper end of its 95% interval (confirmation half).")
    rest: float = Field(description="The same metric on the rest of the confirmation half.")
    difference: float = Field(description="Cohort minus rest.")
    p_value: float = Field(description="One-sided p-value on the confirmation half.")
    q_value: float = Field(description="FDR-adjusted p-value across every hypothesis tested.")
    n: int | None = Field(None, description="Patients of the cohort in the confirmation half.")
    n_events: int | None = Field(
        None,
        description="Of them, patients with the outcome (see DiscoverySearch.min_events); "
        "None when withheld or when the task has no such count.",
    )
    counts_withheld: str | None = Field(
        None, description="Why n and n_events are not shown (privacy), if they are not."
    )
    found_by: str = Field(description="How it was found (search, test, correction).")


class DiscoverySearch(_Model):
    """What the cohort search looked at, so a report that found nothing says so."""

    features: list[str] = Field(description="Columns searched.")
    features_skipped: list[str] = Field(
        default_factory=list, description="Columns not searched, each with the reason."
    )
    metrics: list[str] = Field(description="Metrics searched on.")
    max_depth: int = Field(description="Most conditions joined by 'and'.")
    min_size: int = Field(description="Fewest patients of a cohort in each half.")
    min_events: int = Field(
        description="Fewest patients with the outcome in each half (survival: events by the "
        "horizon; ordered multiclass: patients not of the least acute class); 0 when the "
        "task has no such count (regression, unordered multiclass)."
    )
    fdr: float = Field(description="False discovery rate controlled.")
    correction: str = Field(description="by (Benjamini-Yekutieli) or bh (Benjamini-Hochberg).")
    seed: int = Field(description="Seed of the search/confirm split.")
    rows_search: int = Field(description="Rows of the search half.")
    rows_confirm: int = Field(description="Rows of the confirmation half.")
    cohorts_evaluated: int = Field(description="Distinct cohorts scored on the search half.")
    hypotheses_tested: int = Field(description="(cohort, metric) pairs tested on confirmation.")
    max_candidates: int = Field(description="The cap on hypotheses carried to confirmation.")
    cap_reached: bool = Field(description="More hypotheses passed screening than the cap.")
    confirmed_before_pruning: int = Field(description="Rejections of the FDR procedure.")
    pruned: int = Field(description="Confirmed cohorts explained by a simpler confirmed parent.")


class CohortsFound(_Model):
    """The "Cohorts found" section: underperforming cohorts nobody named."""

    status: Literal["found", "none_found"] = Field(description="Whether any cohort was confirmed.")
    summary: str = Field(description="One paragraph: what was searched and what was found.")
    searched: DiscoverySearch = Field(description="What the search looked at.")
    cohorts: list[DiscoveredCohort] = Field(default_factory=list, description="Confirmed cohorts.")


class Report(_Model):
    """One audit of one model on one dataset, judged against its policies."""

    schema_version: str = Field(SCHEMA_VERSION, description="Version of this report schema.")
    name: str = Field(description="Audit name from the spec.")
    verdict: Verdict = Field(
        description="fail: a blocking rule failed (or a blocking check is undecided with "
        "undecided: block); warn: a warning rule failed or is inconclusive, or a blocking "
        "check is undecided; else pass. Waived results do not count."
    )
    counts: ResultCounts = Field(
        default_factory=ResultCounts, description="Policy results by outcome."
    )
    model: ModelInfo = Field(description="The audited model: name, version and format.")
    task: Literal["binary", "survival", "multiclass", "regression"] = Field(
        "binary", description="What kind of model was audited; its registry names the metrics."
    )
    task_settings: dict[str, Any] = Field(
        default_factory=dict,
        description="What the task's metrics were measured with (survival: horizon; "
        "multiclass: classes, ordered).",
    )
    label: dict[str, Any] = Field(description="{column, positive}")
    threshold: float = Field(description="Primary decision threshold (score >= t is positive).")
    thresholds: list[float] = Field(description="Every decision threshold; the first is primary.")
    min_cell_size: int = Field(description="Groups with fewer patients are suppressed.")
    attributes: list[AttributeInfo] = Field(description="Attributes and intersections audited.")
    overall: GroupResult = Field(description="The whole population.")
    groups: list[GroupResult] = Field(
        description="Every group of every attribute and intersection."
    )
    disparities: list[DisparityResult] = Field(
        default_factory=list, description="Differences and ratios between groups."
    )
    fairness_metrics: list[FairnessMetric] = Field(
        default_factory=list, description="Named fairness metrics (fairlearn's)."
    )
    curves: Curves = Field(default_factory=Curves, description="ROC and calibration curves.")
    policies: list[PolicyInfo] = Field(default_factory=list, description="Policies applied.")
    policy_results: list[PolicyResult] = Field(
        default_factory=list, description="One result per rule and group."
    )
    waivers: list[Waiver] = Field(
        default_factory=list, description="Waivers given in the spec, active or expired."
    )
    explanations: Explanations = Field(description="SHAP importance and proxy features.")
    data_checks: DataChecks = Field(description="Representation and missingness.")
    computation: Computation | None = Field(
        None,
        description="How the numbers were computed: engine, exact or binned scores, and which "
        "parts read a sample (absent in reports of versions before 1.2.0).",
    )
    model_card: dict[str, Any] = Field(
        default_factory=dict, description="Model-card fields as given in the spec."
    )
    notes: list[str] = Field(default_factory=list, description="Plain-language caveats.")
    privacy_notice: str | None = Field(
        None,
        description="Stamped on every page and file when complementary suppression is off "
        "(privacy.complementary: false): the report is for internal use only.",
    )
    provenance: Provenance = Field(description="Hashes, versions, seed, time and the spec.")
    cohorts_found: CohortsFound | None = Field(
        None,
        description="Cohorts found by the discovery search (spec discover:), confirmed on a "
        "held-out half with the false discovery rate controlled; null when no search ran.",
    )
    _unpublished: Any = PrivateAttr(default=None)
    """In memory only (never serialized): the unsuppressed report and its publish plan,
    so :func:`auditor.audit.rejudge` can judge again on the full measurement."""

    def attribute_order(self) -> list[tuple[GroupName, tuple[str, ...]]]:
        """Attributes and intersections in report order, each with its key (names tuple)."""
        out: list[tuple[GroupName, tuple[str, ...]]] = []
        seen: set[tuple[str, ...]] = set()
        for name in [a.name for a in self.attributes] + [g.attribute for g in self.groups]:
            key = group_key(name, "")[0]
            if key not in seen:
                seen.add(key)
                out.append((name, key))
        return out

    def suppressed_keys(self) -> set[GroupKey]:
        """Groups below min_cell_size, by :func:`group_key`."""
        keys = {group_key(g.attribute, g.group) for g in self.groups if g.suppressed}
        for attr in self.attributes:
            keys.update(group_key(attr.name, g) for g in attr.suppressed_groups)
        return keys

    def suppression_reasons(self) -> dict[GroupKey, str | None]:
        """Every suppressed group with its own reason (None when the report gives none)."""
        reasons: dict[GroupKey, str | None] = {key: None for key in self.suppressed_keys()}
        for g in self.groups:
            if g.suppressed and g.suppression_reason:
                reasons[group_key(g.attribute, g.group)] = g.suppression_reason
        return reasons

    def label_withheld_keys(self) -> set[GroupKey]:
        """Reportable groups with too few positives or negatives for label metrics."""
        return {
            group_key(g.attribute, g.group)
            for g in self.groups
            if g.label_metrics_withheld and not g.suppressed
        }

    @model_validator(mode="after")
    def _privacy_floor(self) -> Report:
        """Withhold every number of a suppressed group wherever a producer put one.

        Producers should not emit them; this is the floor every consumer (renderers,
        dashboard, registry) can rely on. Curves of label-withheld groups go too: their
        steps would reveal a count of positives below the minimum.
        """
        hidden = self.suppressed_keys()
        if not hidden and not self.label_withheld_keys():
            return self
        no_curves = hidden | self.label_withheld_keys()
        self.curves.roc = [
            c for c in self.curves.roc if group_key(c.attribute, c.group) not in no_curves
        ]
        self.curves.calibration = [
            c for c in self.curves.calibration if group_key(c.attribute, c.group) not in no_curves
        ]
        self.curves.kaplan_meier = [
            c for c in self.curves.kaplan_meier if group_key(c.attribute, c.group) not in no_curves
        ]
        self.curves.residuals = [
            c for c in self.curves.residuals if group_key(c.attribute, c.group) not in hidden
        ]
        self.curves.confusion = [
            c for c in self.curves.confusion if group_key(c.attribute, c.group) not in hidden
        ]
        if not hidden:
            return self
        for group in self.groups:
            if group_key(group.attribute, group.group) in hidden:
                group.suppressed = True
                group.n, group.metrics, group.by_threshold = None, {}, {}
        self.disparities = [
            d
            for d in self.disparities
            if group_key(d.attribute, d.group) not in hidden
            and (d.reference is None or group_key(d.attribute, d.reference) not in hidden)
        ]
        allowed = (str(self.min_cell_size),)
        reasons = self.suppression_reasons()
        for result in self.policy_results:
            if result.attribute is None or result.group is None:
                continue
            key = group_key(result.attribute, result.group)
            if key not in hidden:
                continue
            result.observed = result.ci_low = result.ci_high = None
            if result.value_withheld:
                continue  # written by the publish step: the rule's own words, no data
            names = (*allowed, *key[0], *key[1])
            if _has_count(result.message, names) or _has_count(result.reason, names):
                result.message = suppressed_result_message(
                    " × ".join(key[1]), reasons.get(key), self.min_cell_size
                )
                result.reason = result.message
        for expl in self.explanations.by_group:
            if group_key(expl.attribute, expl.group) in hidden:
                expl.suppressed = True
                expl.n_sample = expl.kendall_tau = None
                expl.importance, expl.top_shifts = [], []
        hidden_names = {value for _, values in hidden for value in values}
        for proxy in self.explanations.proxies:
            reason = proxy.reason or ""
            names_hidden = any(name in reason for name in hidden_names)
            if names_hidden and _has_count(reason, (*allowed, *hidden_names)):
                proxy.reason = SUPPRESSED_PROXY_REASON.format(min_cell_size=self.min_cell_size)
        self.explanations.sample_per_group = drop_hidden_rows(
            self.explanations.sample_per_group, hidden
        )
        self.explanations.differing_features = drop_hidden_rows(
            self.explanations.differing_features, hidden
        )
        checks = self.data_checks
        for row in checks.representation:
            if group_key(row.attribute, row.group) in hidden:
                row.suppressed, row.n, row.share = True, None, None
        checks.missingness = [
            m for m in checks.missingness if group_key(m.attribute, m.group) not in hidden
        ]
        checks.missingness_disparities = drop_hidden_rows(checks.missingness_disparities, hidden)
        checks.notes = [n for n in checks.notes if not _names_hidden_count(n, hidden, allowed)]
        return self

    def to_json(self) -> str:
        """Deterministic JSON (stable key order, no NaN)."""
        return (
            json.dumps(
                self.model_dump(mode="json"),
                indent=2,
                sort_keys=False,
                ensure_ascii=False,
                allow_nan=False,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Parse and validate a report.json (the privacy floor applies on the way in)."""
        return cls.model_validate_json(text)


def _is_group_field(name: str) -> bool:
    return name == "group" or name.endswith("_group")


def drop_hidden_rows(rows: list[dict[str, Any]], hidden: set[GroupKey]) -> list[dict[str, Any]]:
    """Free-form rows naming a hidden group are dropped.

    A row names a group by its 'attribute' and any group-valued field: 'group',
    or one ending in '_group' ('max_group', 'min_group' of the rows that compare groups).
    """
    kept = []
    for row in rows:
        attribute = row.get("attribute")
        if isinstance(attribute, str | list) and any(
            _is_group_field(name)
            and isinstance(value, str | list)
            and group_key(attribute, value) in hidden
            for name, value in row.items()
        ):
            continue
        kept.append(row)
    return kept


def _names_hidden_count(note: str, hidden: set[GroupKey], allowed: tuple[str, ...]) -> bool:
    """Whether a data-check note names a hidden group ('payer = Self') next to a number."""
    for names, values in hidden:
        if len(names) != 1:
            continue
        if f"{names[0]} = {values[0]}" in note and _has_count(note, (*allowed, *names, *values)):
            return True
    return False


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of report.json, generated from the model (the one definition)."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # 2020-12 forbids a non-empty fragment in $id, so the version is a path segment.
    schema["$id"] = f"urn:clinical-fairness-auditor:schema:report:{SCHEMA_VERSION}"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> None:
    """Write the shipped schema file; run ``python -m reports.model`` after changing the model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_json_schema(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_schema()
