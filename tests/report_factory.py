"""A realistic, hand-made :class:`reports.model.Report` for tests of renderers and consumers.

The numbers are chosen, not measured: a sepsis early-warning model audited by race,
sex and race × sex, judged against two policies. It holds every case a renderer must
handle: two suppressed groups (one of them given a distinctive size, 7, so privacy
tests can look for it), a label-withheld group, a reference group per attribute,
disparities, failing / inconclusive / not-evaluable policy results, SHAP importances
with a proxy, data checks and a model card.

``make_report(leaky=True)`` hands the suppressed groups' numbers to the model as a
careless producer would (sizes, metrics, curves, policy observations); the report
model and the renderers must withhold all of them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from auditor.judge.engine import count_results, verdict_of
from reports.model import (
    AttributeInfo,
    Bound,
    CalibrationBin,
    CalibrationCurve,
    Curves,
    DataChecks,
    DisparityResult,
    Estimate,
    Explanations,
    FairnessMetric,
    FeatureImportance,
    GroupExplanation,
    GroupResult,
    MissingnessRow,
    ModelInfo,
    PolicyInfo,
    PolicyResult,
    Provenance,
    ProxyResult,
    RankShift,
    Report,
    RepresentationRow,
    RocCurve,
)

THRESHOLD = 0.3
MIN_CELL_SIZE = 11
GENERATED_AT = "2025-03-14T09:30:00Z"

SUPPRESSED_GROUP = "Pacific Islander"
"""Suppressed race group whose (leaked) size is :data:`LEAKY_N`."""
LEAKY_N = 7
LEAKY_VALUES = (0.4286, 0.9166)
"""Distinctive metric values handed in for the suppressed group when ``leaky=True``."""
SECOND_SUPPRESSED_GROUP = "American Indian"
WITHHELD_GROUP = "(missing)"
"""Race group with enough patients but fewer than 11 events: only n and selection rate."""


@dataclass(frozen=True)
class _Truth:
    """The few numbers that define a group; every metric is derived from them."""

    n: int
    prevalence: float
    auroc: float
    sensitivity: float
    specificity: float
    slope: float
    intercept: float


# name -> truth; values chosen so the default policy finds real problems.
RACE: dict[str, _Truth] = {
    "White": _Truth(4210, 0.118, 0.842, 0.81, 0.76, 1.02, 0.03),
    "Black": _Truth(1380, 0.141, 0.781, 0.62, 0.79, 0.91, -0.12),
    "Hispanic": _Truth(960, 0.109, 0.763, 0.74, 0.72, 0.86, 0.08),
    "Asian": _Truth(512, 0.098, 0.802, 0.76, 0.74, 0.74, 0.21),
}
SEX: dict[str, _Truth] = {
    "Female": _Truth(3561, 0.112, 0.826, 0.75, 0.77, 0.97, -0.02),
    "Male": _Truth(3555, 0.131, 0.818, 0.77, 0.75, 1.01, 0.02),
}
RACE_SEX: dict[tuple[str, str], _Truth] = {
    ("White", "Female"): _Truth(2098, 0.112, 0.846, 0.80, 0.77, 1.01, 0.01),
    ("White", "Male"): _Truth(2112, 0.124, 0.838, 0.82, 0.75, 1.03, 0.04),
    ("Black", "Female"): _Truth(702, 0.133, 0.774, 0.58, 0.81, 0.88, -0.15),
    ("Black", "Male"): _Truth(678, 0.149, 0.788, 0.66, 0.77, 0.94, -0.09),
    ("Hispanic", "Female"): _Truth(484, 0.101, 0.757, 0.73, 0.73, 0.84, 0.1),
    ("Hispanic", "Male"): _Truth(476, 0.118, 0.769, 0.75, 0.71, 0.88, 0.06),
    ("Asian", "Female"): _Truth(263, 0.091, 0.809, 0.75, 0.76, 0.71, 0.24),
    ("Asian", "Male"): _Truth(249, 0.104, 0.795, 0.77, 0.72, 0.77, 0.18),
}
OVERALL = _Truth(7116, 0.1215, 0.822, 0.76, 0.76, 0.99, 0.0)
WITHHELD_N = 38
WITHHELD_SELECTION_RATE = 0.2632

FEATURES = (
    "lactate",
    "resp_rate",
    "heart_rate",
    "temperature",
    "wbc_count",
    "systolic_bp",
    "age",
    "insurance_type",
    "creatinine",
    "spo2",
)
GLOBAL_SHAP = (0.412, 0.318, 0.251, 0.187, 0.164, 0.122, 0.098, 0.081, 0.064, 0.041)

_Z = NormalDist().inv_cdf(0.975)


def _r(x: float) -> float:
    return round(x, 4)


def _wilson(p: float, n: int) -> tuple[float, float]:
    n = max(n, 1)
    centre = (p + _Z * _Z / (2 * n)) / (1 + _Z * _Z / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z * _Z / (4 * n * n)) / (1 + _Z * _Z / n)
    return _r(max(0.0, centre - half)), _r(min(1.0, centre + half))


def _prop(p: float, n: int) -> Estimate:
    low, high = _wilson(p, n)
    return Estimate(estimate=_r(p), ci_low=low, ci_high=high, ci_method="wilson")


def _boot(x: float, se: float, low: float = -math.inf, high: float = math.inf) -> Estimate:
    return Estimate(
        estimate=_r(x),
        ci_low=_r(max(low, x - _Z * se)),
        ci_high=_r(min(high, x + _Z * se)),
        ci_method="bootstrap",
    )


def _metrics(t: _Truth) -> dict[str, Estimate]:
    """Every registry metric of a group, consistent with its defining numbers."""
    pos = round(t.n * t.prevalence)
    neg = t.n - pos
    prev = pos / t.n
    sel = t.sensitivity * prev + (1 - t.specificity) * (1 - prev)
    predicted = max(1, round(sel * t.n))
    ppv = t.sensitivity * prev / sel
    npv = t.specificity * (1 - prev) / (1 - sel)
    f1 = 2 * ppv * t.sensitivity / (ppv + t.sensitivity)
    accuracy = t.sensitivity * prev + t.specificity * (1 - prev)
    brier = prev * (1 - prev) * (1.05 - 0.6 * (t.auroc - 0.5))
    auprc = prev + (1 - prev) * (t.auroc - 0.5) ** 1.3
    se_auc = math.sqrt(t.auroc * (1 - t.auroc) / min(pos, neg)) * 0.9
    return {
        "n": Estimate(estimate=t.n),
        "n_positive": Estimate(estimate=pos),
        "n_negative": Estimate(estimate=neg),
        "prevalence": _prop(prev, t.n),
        "selection_rate": _prop(sel, t.n),
        "sensitivity": _prop(t.sensitivity, pos),
        "specificity": _prop(t.specificity, neg),
        "fpr": _prop(1 - t.specificity, neg),
        "fnr": _prop(1 - t.sensitivity, pos),
        "ppv": _prop(ppv, predicted),
        "npv": _prop(npv, t.n - predicted),
        "accuracy": _prop(accuracy, t.n),
        "balanced_accuracy": _boot((t.sensitivity + t.specificity) / 2, 0.6 / math.sqrt(pos)),
        "f1": _boot(f1, 0.9 / math.sqrt(pos), 0, 1),
        "auroc": _boot(t.auroc, se_auc, 0, 1),
        "auprc": _boot(auprc, 1.1 / math.sqrt(pos), 0, 1),
        "brier": _boot(brier, 0.35 / math.sqrt(t.n), 0),
        "log_loss": _boot(3.2 * brier, 1.2 / math.sqrt(t.n), 0),
        "calibration_intercept": _boot(t.intercept, 2.2 / math.sqrt(pos)),
        "calibration_slope": _boot(t.slope, 1.7 / math.sqrt(pos), 0),
        "oe_ratio": _boot(1 + t.intercept * 0.6, 1.0 / math.sqrt(pos), 0),
        "ece": _boot(0.012 + abs(t.intercept) * 0.08, 0.2 / math.sqrt(t.n), 0),
        "net_benefit": _boot(
            t.sensitivity * prev - (1 - t.specificity) * (1 - prev) * THRESHOLD / (1 - THRESHOLD),
            0.3 / math.sqrt(t.n),
        ),
    }


def _roc(attribute: Any, group: Any, auroc: float) -> RocCurve:
    """Binormal ROC curve with the group's AUROC."""
    d = math.sqrt(2) * NormalDist().inv_cdf(auroc)
    fpr = [0.0] + [i / 40 for i in range(1, 40)] + [1.0]
    tpr = [0.0] + [NormalDist().cdf(d + NormalDist().inv_cdf(f)) for f in fpr[1:-1]] + [1.0]
    return RocCurve(
        attribute=attribute,
        group=group,
        fpr=[_r(f) for f in fpr],
        tpr=[_r(x) for x in tpr],
        auroc=_r(auroc),
    )


def _calibration(attribute: Any, group: Any, t: _Truth) -> CalibrationCurve:
    bins = []
    for p in (0.03, 0.08, 0.14, 0.22, 0.33, 0.46, 0.61, 0.78):
        logit = math.log(p / (1 - p))
        observed = 1 / (1 + math.exp(-(t.intercept + t.slope * logit)))
        bins.append(CalibrationBin(mean_predicted=p, observed=_r(observed)))
    return CalibrationCurve(attribute=attribute, group=group, bins=bins)


def _disparities(
    attribute: Any, reference: Any, groups: dict[Any, dict[str, Estimate]], excluded: list[Any]
) -> list[DisparityResult]:
    out: list[DisparityResult] = []
    ref = groups[reference]
    for metric in ("sensitivity", "fnr", "fpr", "selection_rate", "ppv", "auroc"):
        r = ref[metric].estimate
        assert r is not None
        values = {g: m[metric].estimate for g, m in groups.items()}
        for group, value in values.items():
            if group == reference:
                continue
            assert value is not None
            half = 0.045 + 0.02 * abs(value - r)
            out.append(
                DisparityResult(
                    attribute=attribute,
                    metric=metric,
                    kind="difference",
                    reference=reference,
                    group=group,
                    estimate=_r(value - r),
                    ci_low=_r(value - r - half),
                    ci_high=_r(value - r + half),
                    excluded_groups=excluded,
                )
            )
            out.append(
                DisparityResult(
                    attribute=attribute,
                    metric=metric,
                    kind="ratio",
                    reference=reference,
                    group=group,
                    estimate=_r(value / r),
                    ci_low=_r(value / r * 0.9),
                    ci_high=_r(value / r * 1.1),
                    excluded_groups=excluded,
                )
            )
        spread = max(values.values()) - min(values.values())  # type: ignore[type-var,operator]
        out.append(
            DisparityResult(
                attribute=attribute,
                metric=metric,
                kind="difference",
                reference=None,
                group="worst_case",
                estimate=_r(spread),
                ci_low=_r(max(0.0, spread - 0.06)),
                ci_high=_r(spread + 0.06),
                excluded_groups=excluded,
            )
        )
    return out


def _status(value: float, low: float, high: float, bound: Bound) -> str:
    def outside(x: float) -> bool:
        return (bound.min is not None and x < bound.min) or (
            bound.max is not None and x > bound.max
        )

    if not outside(value):
        return "pass"
    if bound.on == "estimate":
        return "fail"
    below = bound.min is not None and high < bound.min
    above = bound.max is not None and low > bound.max
    return "fail" if below or above else "inconclusive"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_report(
    *,
    name: str = "Sepsis early warning",
    renames: dict[str, str] | None = None,
    leaky: bool = False,
    extra_failures: int = 0,
) -> Report:
    """Build the factory report.

    ``renames`` maps race group names to other names (e.g. hostile HTML);
    ``leaky`` hands suppressed groups' numbers in as a careless producer would;
    ``extra_failures`` adds that many blocking failures on synthetic rules (for
    page-budget tests of the governance PDF).
    """
    rn = renames or {}

    def race(g: str) -> str:
        return rn.get(g, g)

    attr_race, attr_sex, attr_x = "race", "sex", ["race", "sex"]
    suppressed_race = [race(SUPPRESSED_GROUP), race(SECOND_SUPPRESSED_GROUP)]
    withheld = race(WITHHELD_GROUP)

    groups: list[GroupResult] = []
    race_metrics = {race(g): _metrics(t) for g, t in RACE.items()}
    sex_metrics = {g: _metrics(t) for g, t in SEX.items()}
    x_metrics = {(race(a), b): _metrics(t) for (a, b), t in RACE_SEX.items()}

    for g, t in RACE.items():
        groups.append(
            GroupResult(attribute=attr_race, group=race(g), n=t.n, metrics=race_metrics[race(g)])
        )
    groups.append(
        GroupResult(
            attribute=attr_race,
            group=withheld,
            n=WITHHELD_N,
            label_metrics_withheld=True,
            metrics={
                "n": Estimate(estimate=WITHHELD_N),
                "selection_rate": _prop(WITHHELD_SELECTION_RATE, WITHHELD_N),
            },
        )
    )
    leak_metrics = {
        "n": Estimate(estimate=LEAKY_N),
        "prevalence": Estimate(estimate=LEAKY_VALUES[0]),
        "auroc": Estimate(estimate=LEAKY_VALUES[1]),
    }
    for g in suppressed_race:
        reason = f"fewer than {MIN_CELL_SIZE} patients"
        if leaky:
            # A careless producer: numbers the model must withhold.
            groups.append(
                GroupResult.model_construct(
                    attribute=attr_race,
                    group=g,
                    n=LEAKY_N,
                    suppressed=True,
                    suppression_reason=reason,
                    label_metrics_withheld=False,
                    metrics=dict(leak_metrics),
                    by_threshold={},
                )
            )
        else:
            groups.append(
                GroupResult(
                    attribute=attr_race, group=g, suppressed=True, suppression_reason=reason
                )
            )
    for g, t in SEX.items():
        groups.append(GroupResult(attribute=attr_sex, group=g, n=t.n, metrics=sex_metrics[g]))
    for (a, b), t in RACE_SEX.items():
        groups.append(
            GroupResult(
                attribute=attr_x, group=[race(a), b], n=t.n, metrics=x_metrics[(race(a), b)]
            )
        )
    x_suppressed = [[g, s] for g in [*suppressed_race, withheld] for s in ("Female", "Male")]
    for grp in x_suppressed:
        groups.append(
            GroupResult(
                attribute=attr_x,
                group=grp,
                suppressed=True,
                suppression_reason=f"fewer than {MIN_CELL_SIZE} patients",
            )
        )

    attributes = [
        AttributeInfo(
            name=attr_race,
            groups=[*race_metrics, withheld, *suppressed_race],
            reference=race("White"),
            suppressed_groups=suppressed_race,
        ),
        AttributeInfo(name=attr_sex, groups=list(SEX), reference="Female"),
        AttributeInfo(
            name=attr_x,
            groups=[[a, b] for a, b in x_metrics] + x_suppressed,
            reference=[race("White"), "Female"],
            suppressed_groups=x_suppressed,
        ),
    ]

    roc: list[RocCurve] = []
    cal: list[CalibrationCurve] = []
    for g, t in RACE.items():
        roc.append(_roc(attr_race, race(g), t.auroc))
        cal.append(_calibration(attr_race, race(g), t))
    for g, t in SEX.items():
        roc.append(_roc(attr_sex, g, t.auroc))
        cal.append(_calibration(attr_sex, g, t))
    if leaky:
        roc.append(_roc(attr_race, race(SUPPRESSED_GROUP), LEAKY_VALUES[1]))

    disparities = (
        _disparities(attr_race, race("White"), race_metrics, suppressed_race)
        + _disparities(attr_sex, "Female", sex_metrics, [])
        + _disparities(
            attr_x,
            (race("White"), "Female"),
            x_metrics,
            x_suppressed,
        )
    )
    for d in disparities:  # intersections are written as lists
        if isinstance(d.group, tuple):
            d.group = list(d.group)
        if isinstance(d.reference, tuple):
            d.reference = list(d.reference)

    fairness = []
    for attr, mets in ((attr_race, race_metrics), (attr_sex, sex_metrics)):
        sel = [m["selection_rate"].estimate for m in mets.values()]
        tpr = [m["sensitivity"].estimate for m in mets.values()]
        fpr = [m["fpr"].estimate for m in mets.values()]
        dpd = max(sel) - min(sel)  # type: ignore[type-var,operator]
        eod = max(max(tpr) - min(tpr), max(fpr) - min(fpr))  # type: ignore[type-var,operator]
        for fname, value, ref in (
            (
                "demographic_parity_difference",
                dpd,
                "fairlearn.metrics.demographic_parity_difference",
            ),
            (
                "demographic_parity_ratio",
                min(sel) / max(sel),
                "fairlearn.metrics.demographic_parity_ratio",
            ),  # type: ignore[type-var,operator]
            ("equalized_odds_difference", eod, "fairlearn.metrics.equalized_odds_difference"),
            (
                "equal_opportunity_difference",
                max(tpr) - min(tpr),
                "fairlearn.metrics.equal_opportunity_difference",
            ),  # type: ignore[type-var,operator]
        ):
            fairness.append(
                FairnessMetric(
                    name=fname,
                    attribute=attr,
                    estimate=_r(value),
                    ci_low=_r(value * 0.7),
                    ci_high=_r(value * 1.3),
                    reference_implementation=ref,
                )
            )

    results = _policy_results(
        race,
        race_metrics,
        sex_metrics,
        x_metrics,
        suppressed_race,
        x_suppressed,
        withheld,
        disparities,
        leaky=leaky,
    )
    spread = [(attr_race, race(g)) for g in RACE] + [(attr_x, [race(a), b]) for a, b in RACE_SEX]
    for i in range(extra_failures):
        attribute, group = spread[i % len(spread)]
        results.append(
            PolicyResult(
                policy="clinical-default",
                rule_id=f"synthetic-{i:03d}",
                rule_title=f"Synthetic blocking rule {i}",
                severity="block",
                status="fail",
                check="metric",
                metric="specificity",
                attribute=attribute,
                group=group,
                observed=0.79,
                ci_low=0.77,
                ci_high=0.81,
                bound=Bound(min=0.9),
                message="specificity 0.79 is below the minimum 0.90",
            )
        )
    counts = count_results(results)  # the one way of counting (auditor.judge.verdict)
    verdict = verdict_of(results)

    overall = GroupResult(attribute=[], group=[], n=OVERALL.n, metrics=_metrics(OVERALL))
    return Report(
        name=name,
        verdict=verdict,
        counts=counts,
        model=ModelInfo(name=name, version="2.3.1", kind="skops", path="sepsis-ews.skops"),
        label={"column": "sepsis_48h", "positive": 1},
        threshold=THRESHOLD,
        thresholds=[THRESHOLD, 0.5],
        min_cell_size=MIN_CELL_SIZE,
        attributes=attributes,
        overall=overall,
        groups=groups,
        disparities=disparities,
        fairness_metrics=fairness,
        curves=Curves(roc=roc, calibration=cal),
        policies=[
            PolicyInfo(
                id="clinical-default",
                title="Clinical release gate",
                version="1.0",
                source="clinical-default",
                sha256=_hash("clinical-default"),
                rule_count=7,
                description="Discrimination and calibration per group, sensitivity and "
                "FNR parity, minimum group sizes.",
            ),
            PolicyInfo(
                id="four-fifths",
                title="Four-fifths rule",
                version="1.0",
                source="four-fifths",
                sha256=_hash("four-fifths"),
                rule_count=1,
                description="Selection rate of every group at least 80% of the reference's.",
            ),
        ],
        policy_results=results,
        explanations=_explanations(race, suppressed_race, leaky=leaky),
        data_checks=_data_checks(race, suppressed_race, withheld, leaky=leaky),
        model_card={
            "intended_use": "Flag adult inpatients at risk of sepsis within 48 hours for "
            "rapid-response nurse review.",
            "out_of_scope": "Paediatric patients; emergency department triage.",
            "limitations": "Trained on two academic hospitals, 2019-2022.",
            "developer": "Clinical AI team",
        },
        notes=[
            "Two race groups have fewer than 11 patients and are reported by name only.",
            "The (missing) race group has fewer than 11 events; only its size and selection "
            "rate are reported.",
        ],
        provenance=Provenance(
            tool="clinical-fairness-auditor",
            tool_version="0.1.0",
            python="3.11.2",
            platform="Linux x86_64",
            libraries={"numpy": "2.4.0", "scikit-learn": "1.9.0", "fairlearn": "0.15.0"},
            sha256={
                "spec": _hash("spec"),
                "data": _hash("data"),
                "model": _hash("model"),
                "policies": {
                    "clinical-default": _hash("clinical-default"),
                    "four-fifths": _hash("four-fifths"),
                },
            },
            seed=20250314,
            bootstrap_replicates=1000,
            bootstrap_bins=2000,
            thresholds=[THRESHOLD, 0.5],
            generated_at=GENERATED_AT,
            spec={
                "name": name,
                "data": "sepsis_cohort.parquet",
                "label": {"column": "sepsis_48h", "positive": 1},
                "model": {"path": "sepsis-ews.skops", "version": "2.3.1"},
                "sensitive": ["race", "sex"],
                "intersections": [["race", "sex"]],
                "thresholds": [THRESHOLD, 0.5],
                "seed": 20250314,
            },
        ),
    )


def _policy_results(
    race: Any,
    race_metrics: dict[Any, dict[str, Estimate]],
    sex_metrics: dict[Any, dict[str, Estimate]],
    x_metrics: dict[Any, dict[str, Estimate]],
    suppressed_race: list[str],
    x_suppressed: list[list[str]],
    withheld: str,
    disparities: list[DisparityResult],
    *,
    leaky: bool,
) -> list[PolicyResult]:
    out: list[PolicyResult] = []
    views: list[tuple[Any, dict[Any, dict[str, Estimate]], list[Any]]] = [
        ("race", race_metrics, [*suppressed_race, withheld]),
        ("sex", sex_metrics, []),
        (["race", "sex"], {list_key: m for list_key, m in x_metrics.items()}, x_suppressed),
    ]
    rules = (
        (
            "auroc-min",
            "AUROC at least 0.70 in every group",
            "block",
            "metric",
            "auroc",
            Bound(min=0.7, on="interval"),
        ),
        (
            "sensitivity-min",
            "Sensitivity at least 0.70 in every group",
            "block",
            "metric",
            "sensitivity",
            Bound(min=0.7),
        ),
        (
            "calibration-slope",
            "Calibration slope between 0.8 and 1.2",
            "warn",
            "calibration",
            "calibration_slope",
            Bound(min=0.8, max=1.2, on="interval"),
        ),
    )
    for rule_id, title, severity, check, metric, bound in rules:
        for attr, mets, small in views:
            for group, m in mets.items():
                e = m[metric]
                assert e.estimate is not None and e.ci_low is not None and e.ci_high is not None
                status = _status(e.estimate, e.ci_low, e.ci_high, bound)
                verb = {"pass": "meets", "fail": "fails", "inconclusive": "may fail"}[status]
                out.append(
                    PolicyResult(
                        policy="clinical-default",
                        rule_id=rule_id,
                        rule_title=title,
                        severity=severity,  # type: ignore[arg-type]
                        status=status,  # type: ignore[arg-type]
                        check=check,
                        metric=metric,
                        attribute=attr,
                        group=list(group) if isinstance(group, tuple) else group,
                        observed=e.estimate,
                        ci_low=e.ci_low,
                        ci_high=e.ci_high,
                        bound=bound,
                        message=f"{metric} {e.estimate:.2f} {verb} the bound",
                        reason="the interval reaches the bound"
                        if status == "inconclusive"
                        else None,
                        rationale="A release gate for clinical risk models.",
                        source="TRIPOD+AI item 23a",
                    )
                )
            for group in small:
                out.append(
                    PolicyResult(
                        policy="clinical-default",
                        rule_id=rule_id,
                        rule_title=title,
                        severity=severity,  # type: ignore[arg-type]
                        status="not_evaluable",
                        check=check,
                        metric=metric,
                        attribute=attr,
                        group=group,
                        bound=bound,
                        message=f"{metric} not evaluable: too few patients or events",
                        reason=f"fewer than {MIN_CELL_SIZE} patients or events",
                    )
                )
    # FNR parity (difference vs reference, on the estimate) for race and sex.
    for d in disparities:
        if d.metric != "fnr" or d.kind != "difference" or d.group == "worst_case":
            continue
        if not isinstance(d.attribute, str):
            continue
        bound = Bound(max=0.1)
        assert d.estimate is not None and d.ci_low is not None and d.ci_high is not None
        status = _status(d.estimate, d.ci_low, d.ci_high, bound)
        out.append(
            PolicyResult(
                policy="clinical-default",
                rule_id="fnr-parity",
                rule_title="False negative rate within 0.10 of the reference group",
                severity="block",
                status=status,  # type: ignore[arg-type]
                check="disparity",
                metric="fnr",
                attribute=d.attribute,
                group=d.group,
                observed=d.estimate,
                ci_low=d.ci_low,
                ci_high=d.ci_high,
                bound=bound,
                message=f"FNR difference {d.estimate:+.2f} vs {d.reference}",
                rationale="Missed sepsis must not fall more on some groups.",
            )
        )
    # Minimum group size: suppressed groups fail; a leaky judge puts their size in.
    for g in suppressed_race:
        out.append(
            PolicyResult(
                policy="clinical-default",
                rule_id="min-group-size",
                rule_title="At least 100 patients per group",
                severity="warn",
                status="fail",
                check="representation",
                metric="n",
                attribute="race",
                group=g,
                observed=float(LEAKY_N) if leaky else None,
                bound=Bound(min=100),
                message=f"{LEAKY_N} patients, fewer than 100"
                if leaky
                else "fewer than 100 patients",
            )
        )
    out.append(
        PolicyResult(
            policy="clinical-default",
            rule_id="intended-use-documented",
            rule_title="Intended use documented in the model card",
            severity="block",
            status="pass",
            check="documentation",
            message="model_card.intended_use is present",
        )
    )
    out.append(
        PolicyResult(
            policy="clinical-default",
            rule_id="proxy-strength",
            rule_title="No feature is a strong proxy for race",
            severity="warn",
            status="pass",
            check="proxy",
            attribute="race",
            observed=0.41,
            bound=Bound(max=0.5),
            message="strongest proxy insurance_type at 0.41",
        )
    )
    for d in disparities:
        if d.metric != "selection_rate" or d.kind != "ratio" or d.group == "worst_case":
            continue
        if not isinstance(d.attribute, str):
            continue
        bound = Bound(min=0.8)
        assert d.estimate is not None and d.ci_low is not None and d.ci_high is not None
        status = _status(d.estimate, d.ci_low, d.ci_high, bound)
        out.append(
            PolicyResult(
                policy="four-fifths",
                rule_id="selection-rate-ratio",
                rule_title="Selection rate at least four fifths of the reference",
                severity="warn",
                status=status,  # type: ignore[arg-type]
                check="disparity",
                metric="selection_rate",
                attribute=d.attribute,
                group=d.group,
                observed=d.estimate,
                ci_low=d.ci_low,
                ci_high=d.ci_high,
                bound=bound,
                message=f"selection rate ratio {d.estimate:.2f} vs {d.reference}",
                source="EEOC Uniform Guidelines, 29 CFR 1607.4(D)",
            )
        )
    return out


def _explanations(race: Any, suppressed_race: list[str], *, leaky: bool) -> Explanations:
    # A careless producer names the suppressed groups' sizes in the reason.
    proxy_reason = (
        f"{suppressed_race[0]}: {LEAKY_N} rows; {suppressed_race[1]}: 9 rows"
        if leaky
        else "groups too small to cross-validate are left out"
    )
    global_imp = [
        FeatureImportance(feature=f, mean_abs_shap=v, rank=i + 1)
        for i, (f, v) in enumerate(zip(FEATURES, GLOBAL_SHAP))
    ]
    # Per group: a few features swap places; insurance_type climbs for Black patients.
    orders = {
        "White": FEATURES,
        "Black": (
            "lactate",
            "resp_rate",
            "insurance_type",
            "heart_rate",
            "temperature",
            "wbc_count",
            "systolic_bp",
            "age",
            "creatinine",
            "spo2",
        ),
        "Hispanic": (
            "lactate",
            "heart_rate",
            "resp_rate",
            "temperature",
            "wbc_count",
            "age",
            "systolic_bp",
            "insurance_type",
            "creatinine",
            "spo2",
        ),
        "Asian": (
            "resp_rate",
            "lactate",
            "heart_rate",
            "wbc_count",
            "temperature",
            "systolic_bp",
            "age",
            "creatinine",
            "insurance_type",
            "spo2",
        ),
        "Female": FEATURES,
        "Male": (
            "lactate",
            "heart_rate",
            "resp_rate",
            "temperature",
            "wbc_count",
            "systolic_bp",
            "age",
            "insurance_type",
            "creatinine",
            "spo2",
        ),
    }
    taus = {
        "White": 1.0,
        "Black": 0.82,
        "Hispanic": 0.87,
        "Asian": 0.82,
        "Female": 1.0,
        "Male": 0.96,
    }
    by_group: list[GroupExplanation] = []
    sample = {
        "White": 760,
        "Black": 420,
        "Hispanic": 330,
        "Asian": 240,
        "Female": 990,
        "Male": 1010,
    }
    for g, order in orders.items():
        attribute = "sex" if g in ("Female", "Male") else "race"
        scale = 1.0 + 0.05 * (len(g) % 3)
        importance = [
            FeatureImportance(feature=f, mean_abs_shap=_r(GLOBAL_SHAP[i] * scale), rank=i + 1)
            for i, f in enumerate(order)
        ]
        shifts = sorted(
            (
                RankShift(
                    feature=f,
                    rank=i + 1,
                    overall_rank=FEATURES.index(f) + 1,
                    shift=i - FEATURES.index(f),
                )
                for i, f in enumerate(order)
                if i != FEATURES.index(f)
            ),
            key=lambda s: (-abs(s.shift), s.feature),
        )[:3]
        by_group.append(
            GroupExplanation(
                attribute=attribute,
                group=race(g) if attribute == "race" else g,
                n_sample=sample[g],
                importance=importance,
                kendall_tau=taus[g],
                top_shifts=shifts,
            )
        )
    for g in suppressed_race:
        if leaky:
            by_group.append(
                GroupExplanation.model_construct(
                    attribute="race",
                    group=g,
                    n_sample=LEAKY_N,
                    suppressed=True,
                    importance=[
                        FeatureImportance(feature="lactate", mean_abs_shap=LEAKY_VALUES[0], rank=1)
                    ],
                    kendall_tau=LEAKY_VALUES[1],
                    top_shifts=[],
                )
            )
        else:
            by_group.append(GroupExplanation(attribute="race", group=g, suppressed=True))
    sample_per_group: list[dict[str, Any]] = [
        {
            "attribute": "sex" if g in ("Female", "Male") else "race",
            "group": race(g) if g not in ("Female", "Male") else g,
            "n": n,
        }
        for g, n in sample.items()
    ]
    differing: list[dict[str, Any]] = [
        {"feature": "insurance_type", "attribute": "race", "max_rank_shift": 5},
        {"feature": "heart_rate", "attribute": "sex", "max_rank_shift": 1},
    ]
    if leaky:
        sample_per_group.append({"attribute": "race", "group": suppressed_race[0], "n": LEAKY_N})
        # Rows that compare groups name a suppressed one in a field of their own.
        differing.append(
            {
                "attribute": "race",
                "feature": "lactate",
                "max_group": suppressed_race[0],
                "min_group": race("White"),
                "max_minus_min": LEAKY_VALUES[1],
            }
        )
    return Explanations(
        status="ok",
        explainer="LinearExplainer",
        output_scale="log_odds",
        background_size=100,
        sample_size=2000,
        sample_per_group=sample_per_group,
        global_importance=global_imp,
        by_group=by_group,
        differing_features=differing,
        sensitive_inputs=[],
        proxies=[
            ProxyResult(
                attribute="race",
                feature="insurance_type",
                nmi=0.083,
                auroc=0.705,
                strength=0.41,
                is_proxy=True,
                excluded_groups=suppressed_race,
                reason=proxy_reason,
            ),
            ProxyResult(
                attribute="race",
                feature="creatinine",
                nmi=0.012,
                auroc=0.561,
                strength=0.122,
                is_proxy=False,
            ),
            ProxyResult(
                attribute="race",
                feature="(all features)",
                nmi=None,
                auroc=0.748,
                strength=0.496,
                is_proxy=True,
            ),
            ProxyResult(
                attribute="sex",
                feature="creatinine",
                nmi=0.051,
                auroc=0.652,
                strength=0.304,
                is_proxy=True,
            ),
            ProxyResult(
                attribute="sex",
                feature="(all features)",
                nmi=None,
                auroc=0.681,
                strength=0.362,
                is_proxy=True,
            ),
        ],
        proxy_threshold=0.3,
        flags=[
            "insurance_type is a proxy for race (strength 0.41) and ranks 3rd for Black patients.",
        ],
        notes=[
            "The background is 100 patients drawn at random from the audited rows.",
        ],
    )


def _data_checks(
    race: Any, suppressed_race: list[str], withheld: str, *, leaky: bool
) -> DataChecks:
    shares = {"White": 0.60, "Black": 0.13, "Hispanic": 0.19, "Asian": 0.06}
    rows = [
        RepresentationRow(
            attribute="race",
            group=race(g),
            n=t.n,
            share=_r(t.n / OVERALL.n),
            reference_share=shares[g],
        )
        for g, t in RACE.items()
    ]
    rows.append(
        RepresentationRow(
            attribute="race", group=withheld, n=WITHHELD_N, share=_r(WITHHELD_N / OVERALL.n)
        )
    )
    for g in suppressed_race:
        if leaky:
            rows.append(
                RepresentationRow.model_construct(
                    attribute="race",
                    group=g,
                    n=LEAKY_N,
                    share=LEAKY_VALUES[0],
                    reference_share=0.002,
                    suppressed=True,
                )
            )
        else:
            rows.append(
                RepresentationRow(attribute="race", group=g, suppressed=True, reference_share=0.002)
            )
    rows += [
        RepresentationRow(
            attribute="sex", group=g, n=t.n, share=_r(t.n / OVERALL.n), reference_share=0.5
        )
        for g, t in SEX.items()
    ]
    missing = []
    rates = {"White": 0.082, "Black": 0.196, "Hispanic": 0.121, "Asian": 0.064, "(missing)": 0.263}
    for g, rate in rates.items():
        missing.append(
            MissingnessRow(attribute="race", group=race(g), feature="lactate", missing_rate=rate)
        )
        missing.append(
            MissingnessRow(
                attribute="race", group=race(g), feature="wbc_count", missing_rate=_r(rate / 3)
            )
        )
    gaps: list[dict[str, Any]] = [
        {
            "feature": "lactate",
            "attribute": "race",
            "max_difference": 0.114,
            "highest_group": race("Black"),
        },
    ]
    if leaky:
        missing.append(
            MissingnessRow(
                attribute="race",
                group=suppressed_race[0],
                feature="lactate",
                missing_rate=LEAKY_VALUES[0],
            )
        )
        gaps.append(
            {
                "feature": "wbc_count",
                "attribute": "race",
                "max_difference": LEAKY_VALUES[0],
                "highest_group": race("White"),
                "lowest_group": suppressed_race[0],
            }
        )
    return DataChecks(
        rows_total=7180,
        rows_dropped_missing_label=64,
        representation=rows,
        missingness=missing,
        missingness_disparities=gaps,
        notes=[
            "Black patients are missing lactate 2.4 times as often as White patients.",
        ],
    )
