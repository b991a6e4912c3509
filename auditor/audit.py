"""One audit, end to end: the library call behind the CLI, the CI gate and the dashboard.

``prepare`` does the expensive, input-bound work once (load, score, reduce);
``build_report`` measures, explains and judges from what ``prepare`` returned,
so a dashboard can re-measure at another threshold without reloading anything.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from auditor.data import LoadedData, load_data
from auditor.errors import ReportInputError, SpecError
from auditor.hashing import read_regular_file, sha256_bytes, sha256_path
from auditor.judge import judge
from auditor.measure import Measurement, measure
from auditor.policy import Policy, load_policies
from auditor.scorers import Scorer, load_scorer
from auditor.spec import AuditSpec
from auditor.stats import SubgroupStats, reduce_frame
from reports.model import (
    DataChecks,
    Explanations,
    GroupKey,
    ModelInfo,
    PolicyInfo,
    Provenance,
    Report,
    group_key,
)

Progress = Callable[[str], None]

TOOL_NAME = "clinical-fairness-auditor"
LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "fairlearn",
    "shap",
    "scipy",
    "skops",
    "pyarrow",
    "jsonschema",
    "pydantic",
    "matplotlib",
    "weasyprint",
)
REFERENCE_NOT_IN_DATA = (
    "{spec}: $.reference_groups.{attribute}: {group!r} is not a group of {attribute} in "
    "{data}; its groups are: {groups}"
)
REPORT_UNREADABLE = "{path}: not a report.json of this tool: {error}"
REPORT_MISSING = "{path}: report not found (expected the report.json of an earlier audit)"


def _silent(_: str) -> None:
    return None


@dataclass
class Prepared:
    """Everything that depends only on the inputs, not on thresholds or policies."""

    spec: AuditSpec
    data: LoadedData
    scorer: Scorer
    scores: np.ndarray
    stats: SubgroupStats
    hashes: dict[str, Any]


def tool_version() -> str:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        from auditor import __version__

        return __version__


def views_for(spec: AuditSpec) -> list[tuple[str, ...]]:
    """Every sensitive attribute alone, then every intersection, in spec order."""
    views: list[tuple[str, ...]] = [(a,) for a in spec.sensitive]
    views.extend(tuple(i) for i in spec.intersections)
    return views


def prepare(spec: AuditSpec, *, progress: Progress = _silent) -> Prepared:
    """Load data and model, score once, reduce once to per-cell statistics."""
    progress(f"loading data {spec.data.name}")
    data = load_data(spec)
    check_reference_groups(spec, data)
    progress("loading model")
    scorer = load_scorer(spec)
    progress(f"scoring {len(data.frame):,} patients")
    scores = scorer.scores(data.frame)
    progress("reducing to subgroup statistics")
    stats = reduce_frame(data.sensitive, data.labels, scores)
    hashes: dict[str, Any] = {"data": data.sha256}
    if spec.source is not None:
        # the hash of the bytes load_spec parsed, not of the file as it is now
        hashes["spec"] = spec.source_sha256 or sha256_path(spec.source)
    if spec.model.path is not None:
        # load_scorer hashed the file before loading it (and checked a pinned hash)
        hashes["model"] = scorer.sha256  # type: ignore[attr-defined]
    return Prepared(spec=spec, data=data, scorer=scorer, scores=scores, stats=stats, hashes=hashes)


def check_reference_groups(spec: AuditSpec, data: LoadedData) -> None:
    """A reference group must exist in the data: say so against the spec, not deep inside."""
    for attribute, group in spec.reference_groups.items():
        if attribute not in data.sensitive.columns:
            continue  # an intersection's reference: checked when it is measured
        groups = [str(g) for g in data.sensitive[attribute].cat.categories]
        if str(group) not in groups:
            raise SpecError(
                REFERENCE_NOT_IN_DATA.format(
                    spec=spec.source.name if spec.source else "the spec",
                    attribute=attribute,
                    group=group,
                    data=spec.data.name,
                    groups=", ".join(groups),
                )
            )


def explain_prepared(prepared: Prepared, *, seed: int | None = None) -> Explanations:
    """SHAP and proxies on a seeded, stratified sample (independent of thresholds)."""
    from auditor.explain import explain
    from auditor.proxies import proxy_strengths

    spec = prepared.spec
    seed = spec.seed if seed is None else seed
    features = list(prepared.data.features)
    proxies = proxy_strengths(
        prepared.data.frame,
        features=features,
        sensitive=prepared.data.sensitive,
        seed=seed,
        threshold=spec.explain.proxy_threshold,
        min_cell_size=spec.min_cell_size,
    )
    if not spec.explain.enabled:
        return Explanations(
            status="not_evaluable",
            reason="explanations were turned off in the spec (explain.enabled: false)",
            proxies=proxies,
            proxy_threshold=spec.explain.proxy_threshold,
        )
    return explain(
        prepared.scorer,
        prepared.data.frame,
        features=features,
        sensitive=prepared.data.sensitive,
        labels=prepared.data.labels,
        sample_size=spec.explain.sample_size,
        background_size=spec.explain.background_size,
        top_k=spec.explain.top_k,
        proxy_threshold=spec.explain.proxy_threshold,
        seed=seed,
        min_cell_size=spec.min_cell_size,
        proxies=proxies,
        intersections=spec.intersections,
    )


def check_data(prepared: Prepared) -> DataChecks:
    from auditor.data_checks import data_checks

    spec = prepared.spec
    return data_checks(
        prepared.data.frame,
        features=list(prepared.data.features),
        sensitive=prepared.data.sensitive,
        labels=prepared.data.labels,
        min_cell_size=spec.min_cell_size,
        reference_shares=spec.reference_shares or None,
        rows_total=prepared.data.rows_total,
        rows_dropped_missing_label=prepared.data.rows_dropped_missing_label,
    )


def measure_prepared(
    prepared: Prepared,
    *,
    thresholds: Sequence[float] | None = None,
    reference_groups: dict[str, str] | None = None,
    bootstrap: int | None = None,
    seed: int | None = None,
) -> Measurement:
    spec = prepared.spec
    return measure(
        prepared.stats,
        views=views_for(spec),
        thresholds=list(thresholds or spec.thresholds),
        reference_groups=reference_groups
        if reference_groups is not None
        else spec.reference_groups,
        bootstrap=spec.bootstrap if bootstrap is None else bootstrap,
        bins=spec.bootstrap_bins,
        seed=spec.seed if seed is None else seed,
        min_cell_size=spec.min_cell_size,
    )


def suppressed_groups(measurement: Measurement) -> dict[GroupKey, str | None]:
    """Every group the measurement suppressed, by :func:`group_key`, with its reason."""
    return {
        group_key(g.attribute, g.group): g.suppression_reason
        for g in measurement.groups
        if g.suppressed
    }


def generated_at() -> str:
    """UTC time of the audit; SOURCE_DATE_EPOCH makes it reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.fromtimestamp(int(epoch), tz=UTC)
        if epoch and epoch.isdigit()
        else datetime.now(UTC)
    )
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _libraries() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _model_info(spec: AuditSpec, scorer: Scorer) -> ModelInfo:
    return ModelInfo(
        name=spec.model.name or spec.name,
        version=spec.model.version,
        kind=scorer.kind,
        path=spec.model.path.name if spec.model.path else None,
        score_column=spec.model.score_column,
    )


def build_report(
    prepared: Prepared,
    *,
    policies: Sequence[Policy] | None = None,
    thresholds: Sequence[float] | None = None,
    reference_groups: dict[str, str] | None = None,
    baseline: Report | None = None,
    seed: int | None = None,
    bootstrap: int | None = None,
    explanations: Explanations | None = None,
    data_checks: DataChecks | None = None,
    baseline_sha256: str | None = None,
    progress: Progress = _silent,
) -> Report:
    """Measure, explain and judge; the result is the one input of every renderer."""
    spec = prepared.spec
    seed = spec.seed if seed is None else seed
    thresholds = list(thresholds or spec.thresholds)
    n_boot = spec.bootstrap if bootstrap is None else bootstrap
    if policies is None:
        policies = load_policies(spec.policies, base_dir=_spec_dir(spec))
    progress(f"measuring metrics with {n_boot} bootstrap replicates")
    measurement = measure_prepared(
        prepared,
        thresholds=thresholds,
        reference_groups=reference_groups,
        bootstrap=n_boot,
        seed=seed,
    )
    if explanations is None:
        progress("explaining the model (SHAP) and looking for proxies")
        explanations = explain_prepared(prepared, seed=seed)
    if data_checks is None:
        progress("checking representation and missingness")
        data_checks = check_data(prepared)
    # Every stage shows exactly the groups the measurement shows: its suppression
    # plan (complementary suppression included) is stricter than a size floor alone.
    from auditor.data_checks import restrict_to_reportable as data_checks_reportable
    from auditor.explain import restrict_to_reportable as explanations_reportable

    suppressed = suppressed_groups(measurement)
    explanations = explanations_reportable(
        explanations,
        suppressed,
        top_k=spec.explain.top_k,
        min_cell_size=spec.min_cell_size,
    )
    data_checks = data_checks_reportable(data_checks, suppressed)
    hashes = dict(prepared.hashes)
    if baseline_sha256 is not None:
        hashes["baseline"] = baseline_sha256
    provenance = Provenance(
        tool=TOOL_NAME,
        tool_version=tool_version(),
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        libraries=_libraries(),
        runtimes=dict(getattr(prepared.scorer, "runtime", None) or {}),
        sha256=hashes,
        seed=seed,
        bootstrap_replicates=n_boot,
        bootstrap_bins=measurement.bootstrap_bins or 0,
        thresholds=thresholds,
        generated_at=generated_at(),
        spec=spec.raw,
    )
    report = Report(
        name=spec.name,
        verdict="pass",
        model=_model_info(spec, prepared.scorer),
        label={"column": spec.label.column, "positive": spec.label.positive},
        threshold=thresholds[0],
        thresholds=thresholds,
        min_cell_size=spec.min_cell_size,
        attributes=measurement.attributes,
        overall=measurement.overall,
        groups=measurement.groups,
        disparities=measurement.disparities,
        fairness_metrics=measurement.fairness_metrics,
        curves=measurement.curves,
        explanations=explanations,
        data_checks=data_checks,
        model_card=dict(spec.model_card),
        notes=list(measurement.notes),
        provenance=provenance,
    )
    progress("judging against the policies")
    return rejudge(report, policies, baseline=baseline)


def rejudge(
    report: Report, policies: Sequence[Policy], *, baseline: Report | None = None
) -> Report:
    """Judge a report (again) against policies: what the dashboard's policy editor calls."""
    judgement = judge(report, policies, baseline=baseline)
    sha256 = {**report.provenance.sha256, "policies": policy_hashes(policies)}
    provenance = report.provenance.model_copy(update={"sha256": sha256})
    return report.model_copy(
        update={
            "policy_results": judgement.results,
            "counts": judgement.counts,
            "verdict": judgement.verdict,
            "policies": [_policy_info(p) for p in policies],
            "provenance": provenance,
        }
    )


def policy_hashes(policies: Sequence[Policy]) -> dict[str, str]:
    """SHA-256 of every policy file that shaped the rules, inherited packs included."""
    hashes: dict[str, str] = {}
    for policy in policies:
        hashes[policy.id] = policy.sha256
        for parent, digest in zip(policy.extends, policy.extends_sha256, strict=True):
            hashes.setdefault(f"{parent} (extended by {policy.id})", digest)
    return hashes


def _policy_info(policy: Policy) -> PolicyInfo:
    return PolicyInfo(
        id=policy.id,
        title=policy.title,
        version=str(policy.version),
        source=policy.source,
        sha256=policy.sha256,
        rule_count=len(policy.rules),
        description=policy.description,
    )


def _spec_dir(spec: AuditSpec) -> Path | None:
    return spec.source.parent if spec.source is not None else None


def load_report(path: str | Path) -> Report:
    """Read a report.json written by an earlier audit (baseline, compare, dashboard)."""
    return read_report(path)[0]


def read_report(path: str | Path) -> tuple[Report, str]:
    """A report.json and the SHA-256 of the very bytes it was parsed from (read once)."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.exists():
        raise ReportInputError(REPORT_MISSING.format(path=path))
    content = read_regular_file(path, error=ReportInputError)
    try:
        return Report.from_json(content.decode("utf-8")), sha256_bytes(content)
    except ValidationError as exc:
        problems = [
            f"$.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:3]
        ]
        more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
        detail = "; ".join(problems) + more
        raise ReportInputError(REPORT_UNREADABLE.format(path=path, error=detail)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportInputError(REPORT_UNREADABLE.format(path=path, error=exc)) from None


def with_overrides(
    spec: AuditSpec,
    *,
    policies: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
    seed: int | None = None,
) -> AuditSpec:
    """A copy of the spec with command-line overrides; the spec file is never touched."""
    changes: dict[str, Any] = {}
    if policies:
        changes["policies"] = tuple(policies)
    if thresholds:
        changes["thresholds"] = tuple(thresholds)
    if seed is not None:
        changes["seed"] = seed
    return replace(spec, **changes) if changes else spec


@dataclass
class AuditResult:
    report: Report
    prepared: Prepared


def run_audit(
    spec: AuditSpec,
    *,
    baseline: Report | None = None,
    progress: Progress = _silent,
) -> AuditResult:
    """Load, reduce, measure, explain and judge one audit spec."""
    prepared = prepare(spec, progress=progress)
    policies = load_policies(spec.policies, base_dir=_spec_dir(spec))
    report = build_report(prepared, policies=policies, baseline=baseline, progress=progress)
    return AuditResult(report=report, prepared=prepared)


def python_version() -> str:
    return sys.version.split()[0]
