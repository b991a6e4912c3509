"""Small hand-made reports for policy and judge tests (others may import these).

``make_report`` builds a valid :class:`reports.model.Report` from a few groups,
with every field a renderer needs filled by plain defaults, so a test states only
the numbers it is about. ``example_report`` is a richer one (race with a
suppressed group, sex, an intersection, disparities, proxies, a model card) on
which every shipped pack can run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from auditor.privacy.suppression import SUPPRESSED_SMALL, WITHHELD_POSITIVES
from reports.model import (
    AttributeInfo,
    DataChecks,
    DisparityResult,
    Estimate,
    Explanations,
    FairnessMetric,
    GroupName,
    GroupResult,
    ModelInfo,
    Provenance,
    ProxyResult,
    Report,
    RepresentationRow,
)

MIN_CELL = 11

MetricValue = float | tuple[float, float, float] | Estimate | None
"""A bare estimate, (estimate, ci_low, ci_high), a ready Estimate, or None (undefined)."""


def est(
    value: float | None, lo: float | None = None, hi: float | None = None, reason: str | None = None
) -> Estimate:
    """An Estimate; with lo and hi a bootstrap interval, without them none."""
    return Estimate(
        estimate=value,
        ci_low=lo,
        ci_high=hi,
        ci_method="bootstrap" if lo is not None else None,
        reason=reason if reason is not None else (None if value is not None else "undefined"),
    )


def _estimate(value: MetricValue) -> Estimate:
    if isinstance(value, Estimate):
        return value
    if value is None:
        return est(None, reason="undefined: only one outcome class in the group")
    if isinstance(value, tuple):
        return est(*value)
    return est(float(value))


def group(
    attribute: GroupName,
    name: GroupName,
    n: int | None,
    metrics: Mapping[str, MetricValue] | None = None,
    *,
    suppressed: bool = False,
    reason: str | None = None,
    withheld: bool = False,
) -> GroupResult:
    """One group; ``suppressed`` hides n and metrics (reason defaults to fewer than 11)."""
    if suppressed:
        return GroupResult(
            attribute=attribute,
            group=name,
            suppressed=True,
            suppression_reason=reason or SUPPRESSED_SMALL.format(m=MIN_CELL),
        )
    values = {k: _estimate(v) for k, v in (metrics or {}).items()}
    if n is not None:
        values.setdefault("n", est(float(n)))
    return GroupResult(
        attribute=attribute,
        group=name,
        n=n,
        metrics=values,
        label_metrics_withheld=withheld,
        suppression_reason=(reason or WITHHELD_POSITIVES.format(m=MIN_CELL)) if withheld else None,
    )


def overall(n: int, metrics: Mapping[str, MetricValue] | None = None) -> GroupResult:
    return group("overall", "all patients", n, metrics)


def disparity(
    attribute: GroupName,
    metric: str,
    kind: str,
    name: GroupName,
    value: float | None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    reference: GroupName | None = None,
    reason: str | None = None,
    excluded: Sequence[GroupName] = (),
) -> DisparityResult:
    """A comparison against ``reference``; worst case: ``name='worst_case'``, no reference."""
    return DisparityResult(
        attribute=attribute,
        metric=metric,
        kind=kind,  # type: ignore[arg-type]
        reference=reference,
        group=name,
        estimate=value,
        ci_low=lo,
        ci_high=hi,
        reason=reason,
        excluded_groups=list(excluded),
    )


def _attributes(
    groups: Iterable[GroupResult], references: Mapping[str, GroupName]
) -> list[AttributeInfo]:
    infos: dict[str, AttributeInfo] = {}
    for g in groups:
        key = g.attribute if isinstance(g.attribute, str) else "\x1f".join(g.attribute)
        info = infos.setdefault(
            key, AttributeInfo(name=g.attribute, groups=[], reference=references.get(key))
        )
        info.groups.append(g.group)
        if g.suppressed:
            info.suppressed_groups.append(g.group)
    return list(infos.values())


def make_report(
    groups: Sequence[GroupResult] = (),
    *,
    overall_group: GroupResult | None = None,
    references: Mapping[str, GroupName] | None = None,
    disparities: Sequence[DisparityResult] = (),
    fairness: Sequence[FairnessMetric] = (),
    proxies: Sequence[ProxyResult] = (),
    explanations_status: str = "ok",
    explanations_reason: str | None = None,
    representation: Sequence[RepresentationRow] = (),
    model_card: Mapping[str, Any] | None = None,
    min_cell_size: int = MIN_CELL,
) -> Report:
    """A valid report holding just these aggregates (references keyed by attribute name)."""
    total = overall_group or overall(sum(g.n or 0 for g in groups if isinstance(g.attribute, str)))
    return Report(
        name="hand-made test report",
        verdict="pass",
        model=ModelInfo(kind="score_column", score_column="risk"),
        label={"column": "died", "positive": 1},
        threshold=0.2,
        thresholds=[0.2],
        min_cell_size=min_cell_size,
        attributes=_attributes(groups, references or {}),
        overall=total,
        groups=list(groups),
        disparities=list(disparities),
        fairness_metrics=list(fairness),
        explanations=Explanations(
            status=explanations_status,  # type: ignore[arg-type]
            reason=explanations_reason,
            proxies=list(proxies),
        ),
        data_checks=DataChecks(rows_total=total.n or 0, representation=list(representation)),
        model_card=dict(model_card or {}),
        provenance=Provenance(
            tool="clinical-fairness-auditor",
            tool_version="0",
            python="3.11",
            platform="test",
            libraries={},
            sha256={},
            seed=0,
            bootstrap_replicates=0,
            bootstrap_bins=0,
            thresholds=[0.2],
            generated_at="2024-01-01T00:00:00Z",
            spec={},
        ),
    )


FULL_CARD = {
    "intended_use": "Estimate 30-day mortality risk at admission to prioritise review.",
    "developer": "Example Health AI team, ai@example.org",
}


def example_report(model_card: Mapping[str, Any] | None = None) -> Report:
    """A small but complete report: every check kind of every shipped pack has data."""
    good = {
        "auroc": (0.80, 0.75, 0.85),
        "sensitivity": (0.78, 0.72, 0.84),
        "fnr": (0.22, 0.16, 0.28),
        "fpr": (0.20, 0.17, 0.23),
        "selection_rate": (0.30, 0.27, 0.33),
        "calibration_slope": (0.95, 0.80, 1.10),
        "calibration_intercept": (0.02, -0.10, 0.14),
        "oe_ratio": (1.02, 0.90, 1.14),
        "n_positive": 120.0,
        "auprc": (0.45, 0.38, 0.52),
        "brier": (0.12, 0.11, 0.13),
    }
    worse = dict(
        good,
        auroc=(0.70, 0.62, 0.78),
        sensitivity=(0.66, 0.55, 0.77),
        fnr=(0.34, 0.23, 0.45),
        calibration_slope=(0.78, 0.60, 0.96),
        n_positive=40.0,
    )
    groups = [
        group("race", "White", 900, good),
        group("race", "Black", 250, worse),
        group("race", "Asian", 60, dict(good, n_positive=None), withheld=True),
        group("race", "Other", None, suppressed=True),
        group("sex", "F", 620, good),
        group("sex", "M", 600, good),
        group(["race", "sex"], ["Black", "F"], 130, worse),
        group(["race", "sex"], ["Black", "M"], 120, worse),
    ]
    disparities = [
        disparity(
            "race", "sensitivity", "difference", "Black", -0.12, -0.25, 0.01, reference="White"
        ),
        disparity(
            "race",
            "sensitivity",
            "difference",
            "Asian",
            None,
            reference="White",
            reason="the group's sensitivity is not available (label metrics withheld)",
        ),
        disparity("race", "fnr", "ratio", "Black", 1.55, 1.02, 2.10, reference="White"),
        disparity("race", "fnr", "difference", "Black", 0.12, -0.01, 0.25, reference="White"),
        disparity(
            "race", "selection_rate", "ratio", "worst_case", 0.85, 0.74, 0.97, excluded=["Other"]
        ),
        disparity(
            "race",
            "sensitivity",
            "difference",
            "worst_case",
            0.12,
            -0.01,
            0.25,
            excluded=["Asian", "Other"],
        ),
        disparity("race", "fpr", "difference", "worst_case", 0.03, 0.0, 0.07, excluded=["Other"]),
        disparity("sex", "sensitivity", "difference", "M", 0.0, -0.05, 0.05, reference="F"),
        disparity("sex", "fnr", "ratio", "M", 1.0, 0.8, 1.25, reference="F"),
        disparity("sex", "fnr", "difference", "M", 0.0, -0.05, 0.05, reference="F"),
        disparity("sex", "selection_rate", "ratio", "worst_case", 0.97, 0.90, 1.0),
        disparity("sex", "sensitivity", "difference", "worst_case", 0.0, 0.0, 0.05),
        disparity("sex", "fpr", "difference", "worst_case", 0.01, 0.0, 0.04),
    ]
    fairness = [
        FairnessMetric(
            name="equalized_odds_difference",
            attribute="race",
            estimate=0.12,
            ci_low=0.02,
            ci_high=0.24,
            reference_implementation="fairlearn.metrics.equalized_odds_difference",
        ),
        FairnessMetric(
            name="equalized_odds_difference",
            attribute="sex",
            estimate=0.01,
            ci_low=0.0,
            ci_high=0.05,
            reference_implementation="fairlearn.metrics.equalized_odds_difference",
        ),
    ]
    proxies = [
        ProxyResult(
            attribute="race", feature="zip3", nmi=0.2, auroc=0.81, strength=0.62, is_proxy=True
        ),
        ProxyResult(attribute="race", feature="age", nmi=0.01, auroc=0.55, strength=0.10),
        ProxyResult(attribute="sex", feature="creatinine", nmi=0.05, auroc=0.66, strength=0.32),
        ProxyResult(attribute="sex", feature="(all features)", auroc=0.8, strength=0.6),
    ]
    representation = [
        RepresentationRow(
            attribute="race", group="White", n=900, share=900 / 1220, reference_share=0.60
        ),
        RepresentationRow(
            attribute="race", group="Black", n=250, share=250 / 1220, reference_share=0.30
        ),
        RepresentationRow(
            attribute="race", group="Asian", n=60, share=60 / 1220, reference_share=0.06
        ),
        RepresentationRow(attribute="race", group="Other", suppressed=True, reference_share=0.04),
        RepresentationRow(attribute="sex", group="F", n=620, share=620 / 1220),
        RepresentationRow(attribute="sex", group="M", n=600, share=600 / 1220),
    ]
    return make_report(
        groups,
        overall_group=overall(1220, good),
        references={"race": "White", "sex": "F"},
        disparities=disparities,
        fairness=fairness,
        proxies=proxies,
        representation=representation,
        model_card=FULL_CARD if model_card is None else model_card,
    )


def write_policy(folder: Path, name: str, doc: Mapping[str, Any] | str) -> Path:
    """Write a policy document (a mapping, or raw text) to ``folder/name``."""
    path = folder / name
    text = doc if isinstance(doc, str) else yaml.safe_dump(dict(doc), sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def rule(
    rule_id: str,
    check: Mapping[str, Any],
    *,
    severity: str = "block",
    selector: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A rule document with the required prose filled in."""
    doc: dict[str, Any] = {
        "id": rule_id,
        "title": title or f"Rule {rule_id}",
        "severity": severity,
        "rationale": "Test rationale.",
        "source": "Test source",
        "check": dict(check),
    }
    if selector is not None:
        doc["selector"] = dict(selector)
    return doc


def policy_doc(
    *rules: Mapping[str, Any], policy_id: str = "test-policy", extends: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": policy_id, "title": "Test policy", "version": "1.0.0"}
    if extends is not None:
        doc["extends"] = extends
    doc["rules"] = [dict(r) for r in rules]
    return doc
