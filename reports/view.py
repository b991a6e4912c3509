"""The technical report's view model: sections, facts, explanations, data checks, provenance.

Built once per render from the :class:`~reports.model.Report` (and its charts). Only
selection, ordering and wording happen here; every number comes from the report.
Suppressed groups appear by name only, whatever the report object holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.tasks import task_hints
from reports import format as fmt
from reports.charts import Chart, ChartSet
from reports.cohorts import cohort_rows, cohorts_summary, method_text
from reports.findings import (
    ResultRow,
    RuleBlock,
    Summary,
    build_summary,
    counts_text,
    hidden_keys,
    not_evaluable_text,
    result_row,
    rule_blocks,
    sorted_results,
)
from reports.model import (
    SMALL_GROUP_REASON,
    Estimate,
    ProxyResult,
    Report,
    drop_hidden_rows,
    group_key,
)
from reports.tables import (
    MISSING_COLUMNS,
    Table,
    disparity_tables,
    groups_of,
    metric_tables,
    overall_rows,
    reference_of,
    threshold_table,
    withheld_note,
)


@dataclass
class AttributeSection:
    label: str
    anchor: str
    reference: str
    tables: list[Table]
    threshold_table: Table | None
    disparity_tables: list[Table]
    fairness_rows: list[tuple[str, str, str, str]]
    findings: list[ResultRow]
    suppressed: list[str]
    withheld: list[str]
    suppressed_text: str
    """The suppressed groups with why: ``A, B (fewer than 11 patients); C (reason)``."""
    withheld_text: str
    """The label-withheld groups with their own reasons."""
    metric_charts: list[Chart]
    disparity_charts: list[Chart]
    roc_charts: list[Chart]
    calibration_charts: list[Chart]
    shap_charts: list[Chart]
    task_charts: list[Chart] = field(default_factory=list)
    """The task's own views (Kaplan–Meier, residuals, confusion matrices)."""

    @property
    def curve_charts(self) -> list[Chart]:
        """ROC and calibration charts interleaved, so each pair prints side by side;
        the task's own views after them."""
        out: list[Chart] = []
        for i in range(max(len(self.roc_charts), len(self.calibration_charts))):
            out.extend(self.roc_charts[i : i + 1])
            out.extend(self.calibration_charts[i : i + 1])
        return [*out, *self.task_charts]

    @property
    def curves_heading(self) -> str:
        kinds = {c.id.split("-")[0] for c in self.curve_charts}
        names = {
            "roc": "ROC",
            "calibration": "calibration",
            "km": "Kaplan–Meier",
            "residuals": "residual",
            "confusion": "confusion matrices",
        }
        words = [names[k] for k in names if k in kinds]
        text = " and ".join(w for w in words if w != "confusion matrices")
        text = f"{text} curves" if text else ""
        if "confusion" in kinds:
            text = f"{text} and confusion matrices" if text else "Confusion matrices"
        return text[:1].upper() + text[1:]


@dataclass
class ReportView:
    report: Report
    name: str
    model_name: str
    model_version: str
    date: str
    generated_at: str
    summary: Summary
    sections: list[AttributeSection]
    overall_rows: list[tuple[str, str, str]]
    results: list[ResultRow]
    rule_blocks: list[RuleBlock]
    policies: list[dict[str, str]]
    explanations: dict[str, Any]
    data_checks: dict[str, Any]
    provenance: dict[str, Any]
    model_card: list[tuple[str, str]]
    notes: list[str]
    facts: list[tuple[str, str]]
    min_cell_size: int
    fewer_than: str
    counts_text: str
    not_evaluable_text: str
    threshold_text: str
    extra: dict[str, Any] = field(default_factory=dict)
    cohorts: dict[str, Any] = field(default_factory=dict)
    """The "Cohorts found" section: ``ran``, ``summary`` and ``rows`` (text only)."""


def build_view(report: Report, charts: ChartSet) -> ReportView:
    hidden = hidden_keys(report)
    summary = build_summary(report)
    results = [result_row(report, r, hidden) for r in sorted_results(report)]
    sections: list[AttributeSection] = []
    for index, (name, key) in enumerate(report.attribute_order()):
        label = fmt.attribute_label(name)
        ref = reference_of(report, key)
        groups = groups_of(report, key)
        findings = [
            row
            for r, row in zip(sorted_results(report), results)
            if r.attribute is not None
            and group_key(r.attribute, "")[0] == key
            and r.status in ("fail", "inconclusive")
        ]
        fairness = [
            (
                f.name.replace("_", " ").capitalize(),
                *fmt.estimate_parts(_fairness_estimate(f)),
                f.reference_implementation,
            )
            for f in report.fairness_metrics
            if group_key(f.attribute, "")[0] == key
        ]
        sections.append(
            AttributeSection(
                label=label,
                anchor=f"attribute-{index + 1}-{fmt.slug(label)}",
                reference=fmt.group_label(ref) if ref is not None else "",
                tables=metric_tables(report, key, label),
                threshold_table=threshold_table(report, key, label),
                disparity_tables=disparity_tables(report, key, label),
                fairness_rows=fairness,  # type: ignore[arg-type]
                findings=findings,
                suppressed=[fmt.group_label(g.group) for g in groups if g.suppressed],
                withheld=[
                    fmt.group_label(g.group)
                    for g in groups
                    if g.label_metrics_withheld and not g.suppressed
                ],
                suppressed_text=fmt.listing_by_reason(
                    (
                        fmt.group_label(g.group),
                        fmt.suppression_text(g.suppression_reason, report.min_cell_size),
                    )
                    for g in groups
                    if g.suppressed
                ),
                withheld_text=fmt.listing_by_reason(
                    (fmt.group_label(g.group), withheld_note(g, report.min_cell_size))
                    for g in groups
                    if g.label_metrics_withheld and not g.suppressed
                ),
                metric_charts=charts.for_attribute("metric", key),
                disparity_charts=charts.for_attribute("disparity", key),
                roc_charts=charts.for_attribute("roc", key),
                calibration_charts=charts.for_attribute("calibration", key),
                shap_charts=charts.for_attribute("shap", key),
                task_charts=charts.for_attribute("task", key),
            )
        )
    date = report.provenance.generated_at[:10]
    return ReportView(
        report=report,
        name=report.name,
        model_name=report.model.name or report.name,
        model_version=report.model.version or "",
        date=date,
        generated_at=report.provenance.generated_at,
        summary=summary,
        sections=sections,
        overall_rows=overall_rows(report),
        results=results,
        rule_blocks=rule_blocks(report),
        policies=[
            {
                "id": p.id,
                "title": p.title,
                "version": p.version,
                "source": p.source,
                "rules": str(p.rule_count),
                "description": p.description or "",
                "sha256": p.sha256 or "",
            }
            for p in report.policies
        ],
        explanations=_explanations(report, charts),
        data_checks=_data_checks(report),
        provenance=_provenance(report),
        model_card=[
            (k.replace("_", " ").capitalize(), fmt.card_text(v))
            for k, v in report.model_card.items()
        ],
        notes=list(report.notes),
        facts=_facts(report),
        min_cell_size=report.min_cell_size,
        fewer_than=fmt.fewer_than(report.min_cell_size),
        counts_text=counts_text(report),
        not_evaluable_text=not_evaluable_text(report),
        threshold_text=fmt.number(report.threshold),
        cohorts={
            "ran": report.cohorts_found is not None,
            "summary": cohorts_summary(report),
            "rows": cohort_rows(report),
            "method": method_text(report),
        },
    )


def _fairness_estimate(f: Any) -> Estimate:
    return Estimate(estimate=f.estimate, ci_low=f.ci_low, ci_high=f.ci_high)


def _outcome(report: Report) -> str:
    """The outcome in the words of the report's task (from the report's own label)."""
    return task_hints(report.task).outcome_text(report.label, fmt.number)


def _threshold_fact(report: Report) -> tuple[str, str] | None:
    others = [fmt.number(t) for t in report.thresholds if t != report.threshold]
    also = f" (also reported: {', '.join(others)})" if others else ""
    what = task_hints(report.task).threshold_subject
    if what is None:
        return None
    return ("Decision threshold", f"{fmt.flagged_at(report)}{also}")


def _facts(report: Report) -> list[tuple[str, str]]:
    outcome = _outcome(report)
    spec = report.provenance.spec
    data = spec.get("data") if isinstance(spec, dict) else None
    facts = [
        (
            "Model",
            " ".join(
                x for x in (report.model.name or report.name, report.model.version or "") if x
            ),
        ),
        ("Model format", report.model.kind),
        ("Audit", report.name),
        ("Outcome", outcome),
        ("Patients", fmt.patients(report.overall.n, report.overall.n_encounters)),
        *([t] if (t := _threshold_fact(report)) else []),
        (
            "Policies",
            ", ".join(f"{p.title} ({p.id} v{p.version})" for p in report.policies) or "none",
        ),
        (
            "Small-cell minimum",
            f"groups with {fmt.fewer_than(report.min_cell_size)} patients, and groups "
            "whose size would reveal theirs, are named only",
        ),
        ("Date", report.provenance.generated_at),
    ]
    if isinstance(data, str):
        facts.insert(3, ("Data", data))
    return facts


def _explanations(report: Report, charts: ChartSet) -> dict[str, Any]:
    e = report.explanations
    hidden = hidden_keys(report)
    reasons = report.suppression_reasons()
    groups = []
    for g in e.by_group:
        key = group_key(g.attribute, g.group)
        secret = g.suppressed or key in hidden
        groups.append(
            {
                "attribute": fmt.attribute_label(g.attribute),
                "group": fmt.group_label(g.group),
                "suppressed": secret,
                "why": fmt.suppression_text(reasons[key], report.min_cell_size)
                if key in reasons
                else fmt.SAMPLE_WITHHELD.format(m=report.min_cell_size),
                "n_sample": "" if secret else fmt.count(g.n_sample),
                "tau": "" if secret else fmt.number(g.kendall_tau),
                "top": ""
                if secret
                else ", ".join(i.feature for i in sorted(g.importance, key=lambda i: i.rank)[:5]),
                "shifts": ""
                if secret
                else "; ".join(f"{s.feature} {s.overall_rank}→{s.rank}" for s in g.top_shifts),
            }
        )
    samples = drop_hidden_rows(e.sample_per_group, hidden)
    return {
        "status": e.status,
        "reason": e.reason or "",
        "explainer": e.explainer or "",
        "output_scale": (e.output_scale or "").replace("_", "-"),
        "background_size": fmt.count(e.background_size) if e.background_size is not None else "",
        "sample_size": fmt.count(e.sample_size) if e.sample_size is not None else "",
        "global": [
            (i.rank, i.feature, fmt.number(i.mean_abs_shap, 3))
            for i in sorted(e.global_importance, key=lambda i: i.rank)
        ],
        "groups": groups,
        "samples": _generic_table(samples),
        "differing": _generic_table(drop_hidden_rows(e.differing_features, hidden)),
        "sensitive_inputs": list(e.sensitive_inputs),
        "proxies": [
            {
                "attribute": p.attribute,
                "feature": p.feature,
                "nmi": fmt.number(p.nmi, 3),
                "auroc": fmt.number(p.auroc),
                "strength": fmt.number(p.strength),
                "is_proxy": p.is_proxy,
            }
            for p in _strongest_proxies(e.proxies)
        ],
        "proxies_left_out": len(e.proxies) - len(_strongest_proxies(e.proxies)),
        "proxy_notes": _proxy_notes(report),
        "notes": list(e.notes),
        "proxy_threshold": fmt.number(e.proxy_threshold) if e.proxy_threshold is not None else "",
        "flags": list(e.flags),
        "global_chart": charts.get("shap-overall"),
        "classes": _class_explanations(report, hidden),
        "classes_chart": charts.get("shap-classes"),
    }


def _class_explanations(report: Report, hidden: set[Any]) -> list[dict[str, Any]]:
    """Each class's explanation (multiclass): its top features overall and per shown group."""
    out = []
    for c in report.explanations.by_class:
        groups = [
            {
                "attribute": fmt.attribute_label(g.attribute),
                "group": fmt.group_label(g.group),
                "tau": fmt.number(g.kendall_tau),
                "top": ", ".join(i.feature for i in sorted(g.importance, key=lambda i: i.rank)[:3]),
            }
            for g in c.by_group
            if not g.suppressed and group_key(g.attribute, g.group) not in hidden and g.importance
        ]
        out.append(
            {
                "label": c.label,
                "scale": (c.output_scale or "").replace("_", "-"),
                "top": ", ".join(
                    f"{i.feature} ({fmt.number(i.mean_abs_shap, 3)})"
                    for i in sorted(c.global_importance, key=lambda i: i.rank)[:5]
                ),
                "groups": groups,
            }
        )
    return out


def _generic_table(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Free-form rows (list of dicts) as a table: columns in first-seen order."""
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    body = [[_generic_value(k, row.get(k)) for k in columns] for row in rows]
    return {"columns": [c.replace("_", " ") for c in columns], "rows": body}


def _generic_value(key: str, value: Any) -> str:
    if value is None:
        return fmt.NO_VALUE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return fmt.count(value)
    if isinstance(value, float):
        return fmt.number(value)
    if isinstance(value, list):
        return " × ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if key == "metric":
        return fmt.metric_name(str(value))
    return str(value)


PROXIES_PER_ATTRIBUTE = 5
JOINT_FEATURE = "(all features)"
"""Features listed per sensitive attribute besides proxies and the joint model."""


def _strongest_proxies(proxies: list[ProxyResult]) -> list[ProxyResult]:
    """Per attribute: the joint model, every proxy, and the strongest other features."""
    out: list[ProxyResult] = []
    for attribute in dict.fromkeys(p.attribute for p in proxies):
        rows = [p for p in proxies if p.attribute == attribute]
        rows.sort(key=lambda p: (p.strength is None, -(p.strength or 0.0), p.feature))
        kept = [p for p in rows if p.is_proxy or p.feature == JOINT_FEATURE]
        kept += [p for p in rows if p not in kept][: max(0, PROXIES_PER_ATTRIBUTE - len(kept))]
        out.extend(p for p in rows if p in kept)
    return out


def _proxy_notes(report: Report) -> list[str]:
    """Groups left out of each attribute's proxy target, once per attribute and reason.

    A reason that could carry a suppressed group's size is replaced by a generic one.
    """
    hidden_names = {v for _, values in hidden_keys(report) for v in values}
    allowed = (str(report.min_cell_size), *hidden_names)
    notes: list[str] = []
    for p in report.explanations.proxies:
        if not p.excluded_groups and not p.reason:
            continue
        reason = p.reason or ""
        if any(name in reason for name in hidden_names) and _has_digits(reason, allowed):
            reason = f"groups with {fmt.fewer_than(report.min_cell_size)} patients are left out"
        left_out = f"left out: {', '.join(p.excluded_groups)}" if p.excluded_groups else ""
        text = f"{p.attribute}: " + "; ".join(x for x in (left_out, reason) if x)
        if text not in notes:
            notes.append(text)
    return notes


def _has_digits(text: str, allowed: tuple[str, ...]) -> bool:
    for word in sorted(allowed, key=len, reverse=True):
        text = text.replace(word, "")
    return any(ch.isdigit() for ch in text)


def _data_checks(report: Report) -> dict[str, Any]:
    d = report.data_checks
    hidden = hidden_keys(report)
    reasons = report.suppression_reasons()
    rep = []
    for r in d.representation:
        key = group_key(r.attribute, r.group)
        secret = r.suppressed or key in hidden
        # A group the data checks hid themselves is below the minimum (or absent).
        why = (
            reasons.get(key)
            if key in reasons
            else SMALL_GROUP_REASON.format(m=report.min_cell_size)
        )
        rep.append(
            {
                "attribute": r.attribute,
                "group": r.group,
                "suppressed": secret,
                "n": fmt.suppressed_size(why, report.min_cell_size) if secret else fmt.count(r.n),
                "share": "" if secret or r.share is None else _percent(r.share),
                "reference_share": _percent(r.reference_share)
                if r.reference_share is not None
                else fmt.NO_VALUE,
            }
        )
    features: list[str] = []
    groups: list[tuple[str, str]] = []
    rates: dict[tuple[str, str, str], str] = {}
    some_missing: set[str] = set()
    for m in d.missingness:
        if group_key(m.attribute, m.group) in hidden:
            continue
        if m.missing_rate:
            some_missing.add(m.feature)
        if m.feature not in features:
            features.append(m.feature)
        if (m.attribute, m.group) not in groups:
            groups.append((m.attribute, m.group))
        rates[(m.attribute, m.group, m.feature)] = (
            _percent(m.missing_rate) if m.missing_rate is not None else fmt.NO_VALUE
        )
    complete = [f for f in features if f not in some_missing]
    features = [f for f in features if f in some_missing]
    tables = []
    for attribute in dict.fromkeys(a for a, _ in groups):
        names = [g for a, g in groups if a == attribute]
        for start in range(0, len(names), MISSING_COLUMNS):
            part = names[start : start + MISSING_COLUMNS]
            rows = [
                (f, [rates.get((attribute, g, f), fmt.NO_VALUE) for g in part])
                for f in features
                if any((attribute, g, f) in rates for g in part)
            ]
            if rows:  # a table with a header and no row says nothing
                tables.append({"attribute": attribute, "groups": part, "rows": rows})
    return {
        "rows_total": fmt.count(d.rows_total),
        "rows_dropped": fmt.count(d.rows_dropped_missing_label),
        "representation": rep,
        "has_reference_shares": any(r.reference_share is not None for r in d.representation),
        "missing_tables": tables,
        "complete_features": complete,
        "missing_disparities": _generic_table(drop_hidden_rows(d.missingness_disparities, hidden)),
        "notes": list(d.notes),
    }


def _percent(x: float) -> str:
    return f"{x * 100:.1f}%"


def _provenance(report: Report) -> dict[str, Any]:
    p = report.provenance
    hashes = fmt.input_hashes(report)
    return {
        "tool": f"{p.tool} {p.tool_version}",
        "python": p.python,
        "platform": p.platform,
        "libraries": sorted(p.libraries.items()),
        "hashes": hashes,
        "seed": str(p.seed),
        "bootstrap": (
            f"{p.bootstrap_replicates:,} replicates over {p.bootstrap_bins:,} score bins per cell"
            + (
                f", resampling patients (column {p.bootstrap_cluster}) within strata"
                if p.bootstrap_cluster
                else ""
            )
        ),
        "thresholds": ", ".join(fmt.number(t) for t in p.thresholds),
        "generated_at": p.generated_at,
        "point_estimates": p.point_estimates,
        "interval_methods": p.interval_methods,
        "computation": fmt.computation_rows(report),
        "computation_notes": list(report.computation.notes) if report.computation else [],
        "schema_version": report.schema_version,
        "spec": json.dumps(p.spec, indent=2, ensure_ascii=False, default=str),
    }
