"""How numbers, groups, bounds and statuses are written, once for every renderer.

Renderers do no statistics: these helpers only turn what the report holds into text.
Metric display names come from the metric registry (``auditor.measure.metrics.METRICS``),
never from a second list here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from auditor.measure.metrics import COUNT_METRICS, METRICS
from auditor.privacy.suppression import (
    SUPPRESSED_COMPLEMENTARY,
    WITHHELD_BOTH,
    WITHHELD_COMPLEMENTARY,
    WITHHELD_NEGATIVES,
    WITHHELD_POSITIVES,
)
from auditor.tasks import find_metric
from reports.model import (
    Bound,
    Estimate,
    GroupName,
    PolicyResult,
    Report,
    Severity,
    Status,
    below_minimum,
)

NO_VALUE = "—"
"""Shown where a number is undefined or withheld."""
INTERVAL_SEP = "–"
MINUS = "−"
"""U+2212: negative numbers read unambiguously next to the en dash of intervals."""

STATUS_LABELS: dict[Status, str] = {
    "fail": "Fail",
    "inconclusive": "Inconclusive",
    "not_evaluable": "Not evaluable",
    "pass": "Pass",
}
STATUS_ORDER: dict[Status, int] = {"fail": 0, "inconclusive": 1, "not_evaluable": 2, "pass": 3}
SEVERITY_LABELS: dict[Severity, str] = {"block": "Blocking", "warn": "Warning", "info": "Info"}
SEVERITY_ORDER: dict[Severity, int] = {"block": 0, "warn": 1, "info": 2}
VERDICT_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
VERDICT_MEANING = {
    "pass": "Every rule that could be evaluated passed.",
    "warn": "No blocking rule failed, but some results need the committee's attention.",
    "fail": "At least one blocking rule failed: the model should not be released as it is.",
}


NAMES_OUTSIDE_REGISTRY = {"proxy_strength": "Proxy strength"}
"""Judged quantities measured outside the metric registry, by their display names."""


def metric_name(metric_id: str | None) -> str:
    """Display name of a registry metric; never a raw id (``proxy_strength`` -> Proxy strength)."""
    if metric_id is None:
        return ""
    definition = METRICS.get(metric_id) or find_metric(metric_id)
    if definition is not None:
        return str(definition.name)
    if metric_id in NAMES_OUTSIDE_REGISTRY:
        return NAMES_OUTSIDE_REGISTRY[metric_id]
    return metric_id.replace("_", " ").capitalize()


def metric_meaning(metric_id: str) -> str:
    definition = METRICS.get(metric_id) or find_metric(metric_id)
    return str(definition.meaning) if definition is not None else ""


def attribute_label(attribute: GroupName | None) -> str:
    """``race`` or ``race × sex``; empty for audit-wide results."""
    if attribute is None:
        return ""
    if isinstance(attribute, str):
        return attribute
    return " × ".join(attribute) if attribute else "all patients"


def group_label(group: GroupName | None) -> str:
    """``Black`` or ``Black × Female``; ``worst case`` for a worst-case comparison."""
    if group is None:
        return ""
    if isinstance(group, str):
        return "worst case" if group == "worst_case" else group
    return " × ".join(group) if group else "all patients"


def fewer_than(min_cell_size: int) -> str:
    return f"fewer than {min_cell_size}"


SAMPLE_WITHHELD = "fewer than {m} rows in the SHAP sample"
"""Why a reportable group has no importances (the explanation's own floor)."""
SUPPRESSED_WORD = "suppressed"
"""Where a suppressed group's size would be, when it is not itself below the minimum."""


def suppressed_size(reason: str | None, min_cell_size: int) -> str:
    """``fewer than 11`` only for a group below the minimum; ``suppressed`` otherwise.

    A group hidden to protect a smaller one (complementary suppression) may be large.
    """
    return fewer_than(min_cell_size) if below_minimum(reason, min_cell_size) else SUPPRESSED_WORD


SHORT_REASONS = {
    SUPPRESSED_COMPLEMENTARY: "suppressed to protect a smaller group",
    WITHHELD_COMPLEMENTARY: "event count withheld to protect another group's count",
}
"""Plain short words for the long reasons of complementary suppression (report.json keeps
the full text)."""


WITHHELD_TAG = "withheld"
"""Badge of a group whose outcome-based measures are withheld for another group's sake."""
FEW_EVENTS_TAGS = (
    (WITHHELD_POSITIVES, "few events"),
    (WITHHELD_NEGATIVES, "few non-events"),
    (WITHHELD_BOTH, "few events"),
)
"""Badges of a group withheld for its own small counts: only these say "few"."""


def withheld_tag(reason: str | None, min_cell_size: int) -> str:
    """``few events`` for a group with few events of its own, ``withheld`` otherwise.

    Complementary suppression withholds groups with hundreds of events; calling them
    "few events" would be false.
    """
    for template, tag in FEW_EVENTS_TAGS:
        if reason == template.format(m=min_cell_size):
            return tag
    return WITHHELD_TAG


def suppression_text(reason: str | None, min_cell_size: int) -> str:
    """Why a group's numbers are withheld, in its own words (``suppressed`` if none given)."""
    if below_minimum(reason, min_cell_size):
        return small_group_text(min_cell_size)
    if reason is None:
        return SUPPRESSED_WORD
    return SHORT_REASONS.get(reason, reason)


def small_group_text(min_cell_size: int) -> str:
    """``fewer than 11 patients``: why a group below the minimum is suppressed."""
    return f"{fewer_than(min_cell_size)} patients"


def listing_by_reason(items: Iterable[tuple[str, str]], limit: int | None = None) -> str:
    """``A, B (fewer than 11 patients); C (suppressed so that ...)``: names grouped by reason.

    ``items`` are (name, reason) pairs; at most ``limit`` names are listed, then
    ``and N more``.
    """
    pairs = list(items)
    shown = pairs if limit is None else pairs[:limit]
    by_reason: dict[str, list[str]] = {}
    for name, why in shown:
        by_reason.setdefault(why, []).append(name)
    text = "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())
    if len(pairs) > len(shown):
        text += f" and {len(pairs) - len(shown)} more"
    return text


def digits_for(value: float) -> int:
    """Two decimals, three for small magnitudes so they keep two significant digits."""
    return 3 if 0 < abs(value) < 0.1 else 2


def number(value: float | None, digits: int | None = None) -> str:
    """``0.81``, ``0.081``, ``−0.12``; whole numbers of 10 or more without decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NO_VALUE
    if float(value).is_integer() and abs(value) >= 10:
        text = f"{int(value):,}"
    else:
        d = digits_for(value) if digits is None else digits
        text = f"{value:.{d}f}"
        if float(text) == 0:
            text = text.lstrip("-")
    return text.replace("-", MINUS)


def count(value: float | int | None) -> str:
    if value is None:
        return NO_VALUE
    return f"{round(value):,}"


def interval(low: float | None, high: float | None, digits: int) -> str:
    """``0.77–0.85``; ``−0.16 to 0.22`` when a bound is negative (a dash would confuse)."""
    if low is None or high is None:
        return ""
    sep = " to " if low < 0 or high < 0 else INTERVAL_SEP
    return f"{number(low, digits)}{sep}{number(high, digits)}"


def estimate_parts(e: Estimate | None) -> tuple[str, str]:
    """(value, interval) of an estimate, with the same number of decimals for both."""
    if e is None or e.estimate is None:
        return NO_VALUE, ""
    d = digits_for(e.estimate)
    return number(e.estimate, d), interval(e.ci_low, e.ci_high, d)


def estimate_text(e: Estimate | None) -> str:
    """``0.81 (0.77–0.85)``."""
    value, ci = estimate_parts(e)
    return f"{value} ({ci})" if ci else value


def value_with_ci(
    value: float | None, low: float | None, high: float | None, digits: int | None = None
) -> str:
    if digits is None:
        return estimate_text(Estimate(estimate=value, ci_low=low, ci_high=high))
    if value is None:
        return NO_VALUE
    ci = interval(low, high, digits)
    return f"{number(value, digits)} ({ci})" if ci else number(value, digits)


MAX_DIGITS = 6
"""Most decimals a result is shown with to keep it apart from its bound."""


def result_digits(result: PolicyResult) -> int:
    """Decimals that keep a result's estimate and interval visibly apart from its bound.

    AUROC 0.849 against "at least 0.85" must not read "0.85 ... required at least 0.85 →
    Fail": as many decimals as it takes for every number that differs from the bound to
    read differently from it.
    """
    values = [v for v in (result.observed, result.ci_low, result.ci_high) if v is not None]
    bounds = [] if result.bound is None else [result.bound.min, result.bound.max]
    limits = [b for b in bounds if b is not None]
    d = max((digits_for(v) for v in [*values, *limits]), default=2)
    while d < MAX_DIGITS and any(
        v != b and number(v, d) == number(b, d) for v in values for b in limits
    ):
        d += 1
    return d


def bound_text(bound: Bound | None, digits: int | None = None) -> str:
    """``at least 0.70``, ``at most 0.10``, ``between 0.80 and 1.20``; '(on the interval)'."""
    if bound is None:
        return ""
    if bound.min is not None and bound.max is not None:
        text = f"between {number(bound.min, digits)} and {number(bound.max, digits)}"
    elif bound.min is not None:
        text = f"at least {number(bound.min, digits)}"
    elif bound.max is not None:
        text = f"at most {number(bound.max, digits)}"
    else:
        return ""
    return f"{text} (whole interval)" if bound.on == "interval" else text


COUNT_NOUNS = {
    "n": "patients",
    "n_positive": "patients with the outcome",
    "n_negative": "patients without the outcome",
}
"""What a count metric counts, for gaps worded as counts ("88 patients short")."""


def gap_text(result: PolicyResult) -> str:
    """How far the observed value lies outside its bound, in words (empty when inside)."""
    bound, observed = result.bound, result.observed
    if bound is None or observed is None:
        return ""
    if result.metric in COUNT_METRICS:
        noun = COUNT_NOUNS.get(result.metric or "", "patients")
        if bound.min is not None and observed < bound.min:
            return f"{count(bound.min - observed)} {noun} short of the minimum"
        if bound.max is not None and observed > bound.max:
            return f"{count(observed - bound.max)} {noun} over the maximum"
        return ""
    d = result_digits(result)
    if bound.min is not None and observed < bound.min:
        gap = bound.min - observed
        return f"{number(gap, max(d, digits_for(gap)))} below the minimum"
    if bound.max is not None and observed > bound.max:
        gap = observed - bound.max
        return f"{number(gap, max(d, digits_for(gap)))} above the maximum"
    return ""


def result_subject(result: PolicyResult) -> str:
    """``race: Black`` / ``race`` / ``audit`` for a policy result."""
    attr, group = attribute_label(result.attribute), group_label(result.group)
    if attr and group:
        return f"{attr}: {group}"
    return attr or "whole audit"


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(*parts: str) -> str:
    """A stable HTML id from text (non-ASCII and punctuation collapse to '-')."""
    text = "-".join(parts).lower()
    return _SLUG.sub("-", text).strip("-") or "section"


def plain_text(value: Any) -> str:
    """A model-card value as one line: text as is, lists joined, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


NOT_STATED = "not stated"
"""Shown for a model card field that is missing, empty or still marked TODO."""


def card_text(value: Any) -> str:
    """A model card value as text; ``not stated`` when missing, empty or a TODO placeholder."""
    from auditor.judge.engine import TODO_MARK

    if value is None or (isinstance(value, str | list | dict) and not value):
        return NOT_STATED
    text = plain_text(value).strip()
    if not text or text.upper().startswith(TODO_MARK):
        return NOT_STATED
    return text


def computation_rows(report: Report) -> list[tuple[str, str]]:
    """(what, how) rows saying how the numbers were computed (report key computation)."""
    c = report.computation
    if c is None:
        return []
    engines = {
        "pandas": "pandas, every row in memory",
        "streaming": "streaming, files read in batches",
        "spark": "Spark",
    }
    rows = [("Engine", engines.get(c.engine, c.engine))]
    if c.files is not None:
        rows.append(("Files read", f"{c.files:,}"))
    if c.batches is not None:
        rows.append(("Batches", f"{c.batches:,}"))
    rows.append(
        (
            "Score tables",
            "exact (every distinct score)"
            if c.score_table == "exact"
            else f"binned at a resolution of {c.score_resolution:g}",
        )
    )
    rows.append(("Metrics, intervals, data checks", "every audited row"))
    if c.sample_rows is not None:
        rows.append(("Explanations and proxies", f"a stratified sample of {c.sample_rows:,} rows"))
    if c.proxy_sample_rows is not None:
        rows.append(("Proxy models fitted on", f"{c.proxy_sample_rows:,} sampled rows"))
    return rows


def input_hashes(report: Report) -> list[tuple[str, str]]:
    """(input, SHA-256) rows from the provenance; policies are listed one by one."""
    rows: list[tuple[str, str]] = []
    for name, value in report.provenance.sha256.items():
        if isinstance(value, dict):
            rows.extend((f"{name}: {k}", str(h)) for k, h in value.items())
        elif value is not None:
            rows.append((name, str(value)))
    return rows


def patients(n: int | None, encounters: int | None = None) -> str:
    """``1,234``; when the audit counts patients (spec ``cluster``) ``1,234 (3,456 encounters)``."""
    text = count(n)
    if n is not None and encounters is not None:
        text += f" ({count(encounters)} encounters)"
    return text


def flagged_at(report: Report) -> str:
    """What a decision threshold compares, in words: the score of a binary model, the
    predicted risk by the horizon of a survival model (not a score of unknown meaning)."""
    at = number(report.threshold)
    if report.task == "survival":
        horizon = report.task_settings.get("horizon")
        by = f"by the horizon {number(float(horizon))}" if horizon is not None else "by the horizon"
        return f"predicted risk {by} ≥ {at} flags a patient"
    return f"score ≥ {at} flags a patient"
