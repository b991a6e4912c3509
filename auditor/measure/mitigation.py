"""Mitigation what-if: per-group decision thresholds under a fairness constraint.

This is analysis, not a change to the model: it answers "if each group had its
own threshold, chosen to satisfy this constraint, what would the groups' error
rates be?". Two methods:

* ``threshold_optimizer``: fairlearn's ``ThresholdOptimizer`` (Hardt et al.),
  prefit on the model's scores. Its rule may be randomized between two
  thresholds per group; the metrics reported are their expectation over that
  randomization.
* ``per_group_thresholds``: one deterministic threshold per group, the one whose
  constrained rate comes closest to everyone's rate at the current threshold.

Both work from the reduced statistics (:class:`auditor.reduce.stats.SubgroupStats`),
and every number comes from the metric registry (:mod:`auditor.measure.metrics`)
evaluated on the decision counts. Results are aggregates only. Groups under the
small-cell threshold, or with too few patients with or without the outcome,
keep the current threshold and are not post-processed; suppressed groups are
never given a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator

from auditor.errors import AuditInputError
from auditor.measure.metrics import METRICS, Levels, metric_value
from auditor.reduce.stats import ScoreTable, SubgroupStats

Constraint = Literal[
    "demographic_parity",
    "equalized_odds",
    "true_positive_rate_parity",
    "false_negative_rate_parity",
]
Method = Literal["threshold_optimizer", "per_group_thresholds"]
Objective = Literal["accuracy_score", "balanced_accuracy_score"]

CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "demographic_parity": ("selection_rate",),
    "equalized_odds": ("sensitivity", "fpr"),
    "true_positive_rate_parity": ("sensitivity",),
    "false_negative_rate_parity": ("fnr",),
}
"""Each constraint and the registry metrics it equalizes across groups."""
CONSTRAINT_WORDS = {
    "demographic_parity": "equal selection rates (demographic parity)",
    "equalized_odds": "equal sensitivity and false positive rate (equalized odds)",
    "true_positive_rate_parity": "equal sensitivity (true positive rate parity)",
    "false_negative_rate_parity": "equal false negative rate (false negative rate parity)",
}
METHODS = ("threshold_optimizer", "per_group_thresholds")
OBJECTIVES = ("accuracy_score", "balanced_accuracy_score")
REPORTED_METRICS = (
    "selection_rate",
    "sensitivity",
    "specificity",
    "fpr",
    "fnr",
    "ppv",
    "npv",
    "accuracy",
    "balanced_accuracy",
)
"""Threshold metrics of the registry that depend only on the decision counts."""
LABEL_FREE = ("selection_rate",)
GRID = np.round(np.linspace(0.001, 0.999, 999), 6)
"""Candidate thresholds of the deterministic method."""
ANALYSIS_NOTE = (
    "Analysis only: the model and the audited report are unchanged. Per-group thresholds "
    "use the sensitive attribute at decision time, which may be unlawful or inappropriate "
    "in some settings; discuss with the governance committee before acting on them."
)

UNKNOWN_CONSTRAINT = "mitigation: unknown constraint {value!r}; expected one of {choices}"
UNKNOWN_METHOD = "mitigation: unknown method {value!r}; expected one of {choices}"
UNKNOWN_OBJECTIVE = "mitigation: unknown objective {value!r}; expected one of {choices}"
TOO_FEW_GROUPS = (
    "mitigation: {view} needs at least two groups with {min_cell_size} or more patients "
    "with and without the outcome; found {count}"
)
THRESHOLD_RANGE = "mitigation: threshold {value} is not strictly between 0 and 1"
FAIRLEARN_FAILED = "mitigation: fairlearn's ThresholdOptimizer could not fit {view}: {error}"
NOT_POSTPROCESSED = (
    "keeps the current threshold: fewer than {n} patients with or without the outcome"
)


@dataclass(frozen=True)
class Rule:
    """A group's decision rule: flag when score > threshold[i] with probability[i].

    ``random_rate`` (equalized odds only): with probability ``ignore`` the rule is
    replaced by flagging a random ``random_rate`` share of the group.
    """

    thresholds: tuple[float, ...]
    probabilities: tuple[float, ...]
    operator: Literal[">", ">="]
    ignore: float = 0.0
    random_rate: float | None = None

    def describe(self) -> str:
        parts = []
        for t, p in zip(self.thresholds, self.probabilities, strict=True):
            if p <= 0:
                continue
            cut = (
                "every patient"
                if t == -np.inf
                else ("no patient" if t == np.inf else f"score {self.operator} {t:.4f}")
            )
            parts.append(cut if p >= 1 else f"{cut} with probability {p:.3g}")
        text = " or ".join(parts) if parts else "no patient"
        if self.ignore > 0 and self.random_rate is not None:
            text = (
                f"with probability {1 - self.ignore:.3g}: {text}; otherwise flag at random "
                f"{self.random_rate:.1%} of patients"
            )
        return "flag " + text


@dataclass(frozen=True)
class GroupWhatIf:
    """One group: its rule and its metrics now and under the rule (None when withheld)."""

    group: str
    n: int | None
    suppressed: bool
    post_processed: bool
    rule: Rule | None
    current: dict[str, float | None]
    mitigated: dict[str, float | None]
    note: str | None = None


@dataclass(frozen=True)
class WhatIf:
    """The result of :func:`what_if`, aggregates only."""

    method: Method
    constraint: Constraint
    objective: Objective
    view: tuple[str, ...]
    threshold: float
    min_cell_size: int
    groups: list[GroupWhatIf]
    overall_current: dict[str, float | None]
    overall_mitigated: dict[str, float | None]
    gaps: dict[str, tuple[float | None, float | None]]
    """Constrained metric -> (largest minus smallest group value now, under the rule)."""
    notes: list[str] = field(default_factory=list)
    analysis_note: str = ANALYSIS_NOTE


def _decision_levels(tp: float, fp: float, fn: float, tn: float) -> Levels:
    """Decision counts as a two-level table (not flagged, flagged) for the registry.

    Evaluated at threshold 0.5, every metric of :data:`REPORTED_METRICS` reads
    exactly these (possibly expected, hence fractional) counts.
    """
    no_terms = [np.zeros(2) for _ in range(4)]  # score terms: unused by threshold metrics
    return Levels(
        np.array([0.0, 1.0]),
        np.array([fn, tp], dtype=np.float64),
        np.array([tn, fp], dtype=np.float64),
        no_terms,
        [t.copy() for t in no_terms],
        np.zeros(2, dtype=np.int64),
    )


def _metrics(counts: tuple[float, float, float, float], *, withheld: bool) -> dict[str, Any]:
    levels = _decision_levels(*counts)
    out: dict[str, float | None] = {}
    for m in REPORTED_METRICS:
        if withheld and m not in LABEL_FREE:
            out[m] = None
            continue
        out[m] = metric_value(m, levels, 0.5).value
    return out


def _counts_at(table: ScoreTable, rule: Rule) -> tuple[float, float, float, float]:
    """Expected (tp, fp, fn, tn) of a group under a (possibly randomized) rule."""
    flag = np.zeros(table.scores.size)
    for t, p in zip(rule.thresholds, rule.probabilities, strict=True):
        hit = table.scores > t if rule.operator == ">" else table.scores >= t
        flag += p * hit
    if rule.ignore > 0 and rule.random_rate is not None:
        flag = rule.ignore * rule.random_rate + (1 - rule.ignore) * flag
    tp = float(np.dot(table.pos, flag))
    fp = float(np.dot(table.neg, flag))
    return tp, fp, float(table.n_positive) - tp, float(table.n_negative) - fp


def _as_counts(total: np.ndarray) -> tuple[float, float, float, float]:
    tp, fp, fn, tn = (float(x) for x in total)
    return tp, fp, fn, tn


def _fixed(threshold: float) -> Rule:
    return Rule((threshold,), (1.0,), ">=")


def _eligible(table: ScoreTable, min_cell_size: int) -> bool:
    return table.n_positive >= min_cell_size and table.n_negative >= min_cell_size


def _group_name(key: tuple[str, ...]) -> str:
    return " × ".join(key)


class _Scores(BaseEstimator):
    """A fitted pass-through 'estimator' whose prediction is the score column itself."""

    def fit(self, X: Any, y: Any = None) -> _Scores:
        self.fitted_ = True
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]


def _rows(tables: dict[str, ScoreTable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (score, label, group) rebuilt from the tables, for fairlearn (never shown)."""
    scores, labels, groups = [], [], []
    for name, t in tables.items():
        for counts, y in ((t.pos, 1), (t.neg, 0)):
            scores.append(np.repeat(t.scores, counts))
            labels.append(np.full(int(counts.sum()), y, dtype=np.int64))
            groups.append(np.full(int(counts.sum()), name, dtype=object))
    return np.concatenate(scores), np.concatenate(labels), np.concatenate(groups)


def _optimizer_rules(
    tables: dict[str, ScoreTable], constraint: str, objective: str, view: str
) -> dict[str, Rule]:
    from fairlearn.postprocessing import ThresholdOptimizer

    scores, labels, groups = _rows(tables)
    optimizer = ThresholdOptimizer(
        estimator=_Scores().fit(None),
        constraints=constraint,
        objective=objective,
        prefit=True,
        predict_method="predict",
    )
    try:
        optimizer.fit(scores.reshape(-1, 1), labels, sensitive_features=groups)
    except (ValueError, ZeroDivisionError) as exc:
        raise AuditInputError(FAIRLEARN_FAILED.format(view=view, error=exc)) from None
    rules = {}
    for name, bunch in optimizer.interpolated_thresholder_.interpolation_dict.items():
        ops = (bunch.operation0, bunch.operation1)
        probs = (float(bunch.p0), float(bunch.p1))
        for op in ops:
            if op.operator != ">":
                raise AuditInputError(
                    FAIRLEARN_FAILED.format(view=view, error="a flipped (score <) rule was chosen")
                )
        ignore = float(bunch.get("p_ignore", 0.0))
        rate = bunch.get("prediction_constant")
        rules[str(name)] = Rule(
            tuple(float(op.threshold) for op in ops),
            probs,
            ">",
            ignore=ignore,
            random_rate=None if rate is None else float(rate),
        )
    return rules


def _closest_rules(
    tables: dict[str, ScoreTable], constraint: str, threshold: float, everyone: ScoreTable
) -> dict[str, Rule]:
    """Per group, the grid threshold whose constrained rates are closest to everyone's now."""
    metrics = CONSTRAINTS[constraint]
    target = {m: metric_value(m, everyone, threshold).value for m in metrics}
    candidates = np.union1d(GRID, [threshold])
    rules = {}
    for name, table in tables.items():
        gaps = np.zeros(candidates.size)
        for m in metrics:
            goal = target[m]
            values = np.array(
                [metric_value(m, table, float(t)).value for t in candidates], dtype=float
            )
            gap = np.abs(values - goal) if goal is not None else np.zeros(candidates.size)
            gaps = np.maximum(gaps, np.where(np.isnan(gap), np.inf, gap))
        best = np.flatnonzero(gaps == gaps.min())
        choice = best[np.argmin(np.abs(candidates[best] - threshold))]
        rules[name] = _fixed(float(candidates[choice]))
    return rules


def _gap(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) - min(present) if len(present) >= 2 else None


def what_if(
    stats: SubgroupStats,
    *,
    view: Sequence[str],
    threshold: float,
    constraint: Constraint = "true_positive_rate_parity",
    method: Method = "threshold_optimizer",
    objective: Objective = "balanced_accuracy_score",
    min_cell_size: int = 11,
) -> WhatIf:
    """Per-group thresholds satisfying ``constraint`` and the metrics they would give.

    Parameters
    ----------
    stats : the audit's reduced statistics (``Prepared.stats``).
    view : attributes whose groups get their own thresholds, e.g. ``("race",)``.
    threshold : the model's current decision threshold (``score >= threshold``).
    constraint, method, objective : see the module docstring; ``objective`` is
        what ThresholdOptimizer maximizes subject to the constraint.
    min_cell_size : small-cell threshold of the audit.

    Returns
    -------
    WhatIf with one :class:`GroupWhatIf` per group (suppressed groups carry no
    numbers), everyone's metrics now and under the rules, and the between-group
    gap of each constrained metric now and under the rules.
    """
    if constraint not in CONSTRAINTS:
        raise AuditInputError(
            UNKNOWN_CONSTRAINT.format(value=constraint, choices=", ".join(CONSTRAINTS))
        )
    if method not in METHODS:
        raise AuditInputError(UNKNOWN_METHOD.format(value=method, choices=", ".join(METHODS)))
    if objective not in OBJECTIVES:
        raise AuditInputError(
            UNKNOWN_OBJECTIVE.format(value=objective, choices=", ".join(OBJECTIVES))
        )
    if not 0.0 < threshold < 1.0:
        raise AuditInputError(THRESHOLD_RANGE.format(value=threshold))
    view = tuple(view)
    view_name = " × ".join(view)
    all_groups = {_group_name(k): t for k, t in stats.groups(view).items()}
    eligible = {
        k: t for k, t in all_groups.items() if t.n >= min_cell_size and _eligible(t, min_cell_size)
    }
    if len(eligible) < 2:
        raise AuditInputError(
            TOO_FEW_GROUPS.format(view=view_name, min_cell_size=min_cell_size, count=len(eligible))
        )
    everyone = stats.table()
    if method == "threshold_optimizer":
        rules = _optimizer_rules(eligible, constraint, objective, view_name)
    else:
        rules = _closest_rules(eligible, constraint, threshold, everyone)

    current_rule = _fixed(threshold)
    groups: list[GroupWhatIf] = []
    now_total = np.zeros(4)
    then_total = np.zeros(4)
    for name, table in all_groups.items():
        rule = rules.get(name)
        now = _counts_at(table, current_rule)
        then = _counts_at(table, rule) if rule is not None else now
        now_total += now
        then_total += then
        if table.n < min_cell_size:
            groups.append(GroupWhatIf(name, None, True, False, None, {}, {}, note="suppressed"))
            continue
        withheld = not _eligible(table, min_cell_size)
        groups.append(
            GroupWhatIf(
                group=name,
                n=table.n,
                suppressed=False,
                post_processed=rule is not None,
                rule=rule,
                current=_metrics(now, withheld=withheld),
                mitigated=_metrics(then, withheld=withheld),
                note=NOT_POSTPROCESSED.format(n=min_cell_size) if rule is None else None,
            )
        )
    shown = [g for g in groups if g.post_processed]
    gaps = {
        m: (_gap([g.current.get(m) for g in shown]), _gap([g.mitigated.get(m) for g in shown]))
        for m in CONSTRAINTS[constraint]
    }
    notes = []
    if method == "threshold_optimizer" and any(
        sum(p > 0 for p in r.probabilities) > 1 or r.ignore > 0 for r in rules.values()
    ):
        notes.append(
            "Some rules are randomized between two thresholds (as ThresholdOptimizer "
            "prescribes); their metrics are the expected values."
        )
    if method == "per_group_thresholds":
        names = ", ".join(METRICS[m].name for m in CONSTRAINTS[constraint])
        notes.append(
            f"Each group's threshold is the one (on a 0.001 grid) whose {names} comes closest "
            f"to everyone's at the current threshold {threshold:g}."
        )
    return WhatIf(
        method=method,
        constraint=constraint,
        objective=objective,
        view=view,
        threshold=threshold,
        min_cell_size=min_cell_size,
        groups=groups,
        overall_current=_metrics(_as_counts(now_total), withheld=False),
        overall_mitigated=_metrics(_as_counts(then_total), withheld=False),
        gaps=gaps,
        notes=notes,
    )


WHAT_IF_WITHHELD = (
    "what-if figures withheld: between this group's rule and a published threshold fewer "
    "than {m} patients with or without the outcome would be counted"
)
WHAT_IF_CURRENT_WITHHELD = "what-if figures withheld: the report withholds this group's figures"
RULE_DIGITS = 2
"""Decimals of the rule thresholds shown (a threshold is often a patient's own score)."""


def _band_safe(table: ScoreTable, a: float, b: float, m: int) -> bool:
    lo, hi = min(a, b), max(a, b)
    inside = (table.scores >= lo) & (table.scores < hi)
    pos, neg = int(table.pos[inside].sum()), int(table.neg[inside].sum())
    return not (0 < pos < m) and not (0 < neg < m)


def publish_what_if(
    result: WhatIf, report: Any, stats: SubgroupStats, *, view: Sequence[str]
) -> WhatIf:
    """The what-if as it may be shown: never more than the published report.

    "Now" figures are the report's own published values (so a group the report hides,
    or a figure it withholds, stays hidden here). A group's what-if figures are shown
    only when its figures are published now and every stretch of scores between its
    rule thresholds and the thresholds the report publishes for it holds, with and
    without the outcome, 0 or at least ``min_cell_size`` patients (differencing the two
    views isolates no fewer); everyone's what-if figures only when every group's are.
    Rule thresholds are shown to :data:`RULE_DIGITS` decimals.
    """
    from reports.model import group_key

    m = result.min_cell_size
    view = tuple(view)
    names = list(view) if len(view) > 1 else view[0]
    published = {group_key(g.attribute, g.group): g for g in report.groups}
    tables = {_group_name(k): (k, t) for k, t in stats.groups(view).items()}
    t0 = float(report.threshold)
    groups: list[GroupWhatIf] = []
    all_published = True
    for g in result.groups:
        key, table = tables[g.group]
        shown = published.get(group_key(names, list(key) if len(key) > 1 else key[0]))
        if shown is None or shown.suppressed:
            groups.append(
                GroupWhatIf(
                    g.group,
                    None,
                    True,
                    False,
                    None,
                    {},
                    {},
                    note=shown.suppression_reason if shown is not None else "suppressed",
                )
            )
            all_published = all_published and not g.post_processed
            continue
        current = {
            mid: (shown.metrics[mid].estimate if mid in shown.metrics else None)
            for mid in REPORTED_METRICS
        }
        note = g.note
        mitigated: dict[str, float | None] = {mid: None for mid in REPORTED_METRICS}
        if g.post_processed and g.rule is not None:
            grid = [
                float(t)
                for t, ms in shown.by_threshold.items()
                if any(e.estimate is not None for e in ms.values())
            ] or [t0]
            cuts = [*g.rule.thresholds, *grid]
            safe = all(_band_safe(table, a, b, m) for a in g.rule.thresholds for b in cuts)
            labelled = all(current[mid] is not None for mid in REPORTED_METRICS)
            if safe and labelled and g.rule.ignore == 0:
                mitigated = dict(g.mitigated)
            else:
                note = (WHAT_IF_WITHHELD if labelled else WHAT_IF_CURRENT_WITHHELD).format(m=m)
                all_published = False
        else:
            mitigated = dict(current)
        rule = g.rule
        if rule is not None:
            rule = Rule(
                tuple(round(t, RULE_DIGITS) for t in rule.thresholds),
                rule.probabilities,
                rule.operator,
                rule.ignore,
                rule.random_rate,
            )
        groups.append(
            GroupWhatIf(g.group, shown.n, False, g.post_processed, rule, current, mitigated, note)
        )
    overall_current = {
        mid: (report.overall.metrics[mid].estimate if mid in report.overall.metrics else None)
        for mid in REPORTED_METRICS
    }
    overall_mitigated: dict[str, float | None] = (
        dict(result.overall_mitigated)
        if all_published and all(v is not None for v in overall_current.values())
        else {mid: None for mid in REPORTED_METRICS}
    )
    post = [g for g in groups if g.post_processed]
    gaps = {
        mid: (_gap([g.current.get(mid) for g in post]), _gap([g.mitigated.get(mid) for g in post]))
        for mid in result.gaps
    }
    return replace(
        result,
        groups=groups,
        overall_current=overall_current,
        overall_mitigated=overall_mitigated,
        gaps=gaps,
    )
