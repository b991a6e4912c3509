"""One audit, end to end: the library call behind the CLI, the CI gate and the dashboard.

``prepare`` does the expensive, input-bound work once (load, score, reduce);
``build_report`` measures, explains and judges from what ``prepare`` returned,
so a dashboard can re-measure at another threshold without reloading anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.errors import ReportInputError, SpecError
from auditor.load.data import LoadedData
from auditor.load.evidence import NOTE_LABEL_OUTPUT, OUTPUT_LABEL
from auditor.load.hashing import read_regular_file, sha256_bytes
from auditor.load.scorers import Scorer
from auditor.load.spec import AuditSpec, Waiver
from auditor.reduce.clusters import PatientClusters
from auditor.reduce.stats import SubgroupStats

# Measure, judge, publish and the report model are imported where they are used:
# `auditor validate-spec` only loads, scores and reduces, and should start fast.
if TYPE_CHECKING:
    from auditor.judge.policy import Policy
    from auditor.measure.measurement import Measurement
    from auditor.privacy.publish import PublishPlan
    from auditor.reduce.check_counts import CheckCounts
    from reports.model import (
        CohortsFound,
        Computation,
        DataChecks,
        Explanations,
        GroupKey,
        ModelInfo,
        PolicyInfo,
        Report,
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
NOTE_BASELINE_UNUSED = (
    "A baseline report was given, but no policy rule compares with it (no regression "
    "rule), so the baseline changed nothing in this verdict."
)
NOTE_WAIVER_EXPIRED_PREFIX = "Expired waiver ignored"
NOTE_WAIVER_EXPIRED = (
    NOTE_WAIVER_EXPIRED_PREFIX + ": rule {rule}, group {group}, expired on {expires}; "
    "the results it covered count again."
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
    check_counts: CheckCounts | None = None
    """Data-check counts of every row, when the frame is only a sample (streaming, Spark)."""
    computation: Computation | None = None
    """How the statistics were computed (engine, exact or binned scores, sample size)."""
    clusters: PatientClusters | None = None
    """The patients behind the rows (spec ``cluster``), for the cluster bootstrap."""


def tool_version() -> str:
    try:
        return metadata.version(TOOL_NAME)
    except metadata.PackageNotFoundError:
        from auditor import __version__

        return __version__


def views_for(spec: AuditSpec) -> list[tuple[str, ...]]:
    """Every sensitive attribute alone, then every intersection, in spec order, then
    every named group (an attribute with the groups in and out)."""
    views: list[tuple[str, ...]] = [(a,) for a in spec.sensitive]
    views.extend(tuple(i) for i in spec.intersections)
    views.extend((g.name,) for g in spec.named_groups)
    return views


def engine_kind(spec: AuditSpec) -> str:
    """The engine that reads the data: the spec's, else (``auto``) streaming for a folder,
    a glob or a Parquet file of more than two batches when the task can be streamed
    (its ``capabilities.engines``), pandas otherwise."""
    from auditor.load.stream import is_multi_file
    from auditor.tasks import task_capabilities

    kind = spec.engine.kind
    if kind == "auto":
        if "streaming" not in task_capabilities(spec.task.id).engines:
            return "pandas"
        data = Path(spec.data)
        large = parquet_rows(data) > AUTO_STREAM_BATCHES * spec.engine.batch_rows
        return "streaming" if is_multi_file(data) or large else "pandas"
    return kind


def prepare_on_engine(kind: str, spec: AuditSpec, progress: Progress) -> Prepared:
    """Stage 1 on an engine that does not hold every row in memory (``kind`` from
    :func:`engine_kind`); the one place an engine is chosen."""
    if kind == "streaming":
        from auditor.engines.streaming import prepare_streaming

        return prepare_streaming(spec, progress=progress)
    if kind == "spark":
        from auditor.engines.spark import prepare_spark

        return prepare_spark(spec, progress=progress)
    raise ValueError(f"unknown engine {kind!r}")


AUTO_STREAM_BATCHES = 2
"""``engine: auto`` streams a single Parquet file holding more than this many batches."""


def parquet_rows(path: Path) -> int:
    """Rows a Parquet file declares in its footer (0 if it is not a readable Parquet file)."""
    if not path.name.lower().endswith((".parquet", ".pq")) or not path.is_file():
        return 0
    try:
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    except Exception:  # the loader reports a corrupt file with its own message
        return 0


DISCOVER_NEEDS_MEMORY = (
    "{spec}: $.{key}: needs every row in memory, and this audit runs on the {engine} "
    "engine, which keeps only a sample of the rows; remove the {key} block or audit "
    "the data in memory"
)


def prepare(spec: AuditSpec, *, progress: Progress = _silent) -> Prepared:
    """Load data and model, score once, reduce once to per-cell statistics.

    The engine (see :func:`engine_kind`) decides how: all rows in memory (the task's
    own ``prepare``), streamed in batches, or in Spark (:func:`prepare_on_engine`);
    every engine returns the same :class:`Prepared`.
    """
    from auditor.tasks import task_def

    kind = engine_kind(spec)
    if kind == "pandas":
        return task_def(spec.task.id).prepare(spec, progress)
    if spec.discover is not None or spec.named_groups:
        key = "discover" if spec.discover is not None else "named_groups"
        raise SpecError(
            DISCOVER_NEEDS_MEMORY.format(
                spec=spec.source.name if spec.source else "the spec", key=key, engine=kind
            )
        )
    return prepare_on_engine(kind, spec, progress)


def discover_features(spec: AuditSpec, data: LoadedData) -> list[str]:
    """The columns to search: the spec's, else the model's features and the sensitive
    attributes (named groups are already named, so never searched)."""
    if spec.discover is not None and spec.discover.features is not None:
        return list(spec.discover.features)
    return list(dict.fromkeys([*data.features, *spec.sensitive]))


def discover_prepared(
    prepared: Prepared, *, threshold: float | None = None, seed: int | None = None
) -> CohortsFound | None:
    """The "Cohorts found" section (None when the spec has no discover: block), with
    the small-cell rules applied to every count it shows."""
    spec = prepared.spec
    if spec.discover is None:
        return None
    from auditor.discover import discover
    from auditor.privacy.cohorts import protect_cohorts

    threshold = spec.threshold if threshold is None else threshold
    seed = (
        spec.discover.seed
        if spec.discover.seed is not None
        else (spec.seed if seed is None else seed)
    )
    found = discover(
        prepared.data.frame,
        prepared.data.labels,
        prepared.scores,
        features=discover_features(spec, prepared.data),
        spec=spec.discover,
        threshold=threshold,
        seed=seed,
    )
    return protect_cohorts(
        found.section,
        found.masks,
        np.asarray(prepared.data.labels, dtype=np.int64),
        prepared.scores,
        threshold=threshold,
        min_cell_size=spec.min_cell_size,
        rounding=spec.privacy.rounding,
    )


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


def proxy_threshold(spec: AuditSpec, policies: Sequence[Policy] | None = None) -> float:
    """One proxy threshold for the table and the rule: the spec's, else the policies' bound.

    A feature is a strong proxy above it, exactly where a ``proxy`` rule's
    ``max_strength`` fails, so the report never calls a number a proxy in one place
    and a pass in another.
    """
    from auditor.judge.policy import ProxyCheck
    from auditor.measure.proxies import PROXY_THRESHOLD

    if spec.explain.proxy_threshold is not None:
        return spec.explain.proxy_threshold
    bounds = [
        rule.check.max_strength
        for policy in policies or ()
        for rule in policy.rules
        if isinstance(rule.check, ProxyCheck)
    ]
    return min(bounds) if bounds else PROXY_THRESHOLD


def explain_prepared(
    prepared: Prepared, *, seed: int | None = None, policies: Sequence[Policy] | None = None
) -> Explanations:
    """SHAP and proxies on a seeded, stratified sample (independent of thresholds)."""
    from auditor.measure.explain import explain
    from auditor.measure.proxies import proxy_strengths
    from reports.model import Explanations

    spec = prepared.spec
    seed = spec.seed if seed is None else seed
    threshold = proxy_threshold(spec, policies)
    features = list(prepared.data.features)
    proxies = proxy_strengths(
        prepared.data.frame,
        features=features,
        sensitive=prepared.data.sensitive,
        seed=seed,
        threshold=threshold,
        min_cell_size=spec.min_cell_size,
    )
    if not spec.explain.enabled:
        return Explanations(
            status="not_evaluable",
            reason="explanations were turned off in the spec (explain.enabled: false)",
            proxies=proxies,
            proxy_threshold=threshold,
        )
    return explain(
        prepared.scorer,
        prepared.data.frame,
        features=features,
        sensitive=prepared.data.sensitive,
        labels=_outcome_labels(prepared),
        sample_size=spec.explain.sample_size,
        background_size=spec.explain.background_size,
        top_k=spec.explain.top_k,
        proxy_threshold=threshold,
        seed=seed,
        min_cell_size=spec.min_cell_size,
        proxies=proxies,
        intersections=spec.intersections,
    )


def _outcome_labels(prepared: Prepared) -> np.ndarray | None:
    """0/1 outcomes for stratified samples and missingness by outcome (the task's:
    the binary label, the event by the horizon for survival; none otherwise)."""
    from auditor.tasks import task_def

    return task_def(prepared.spec.task.id).outcome_labels(prepared)


def check_data(prepared: Prepared) -> DataChecks:
    from auditor.measure.data_checks import data_checks, data_checks_from_counts

    spec = prepared.spec
    if prepared.check_counts is not None:  # counts of every row (the frame is a sample)
        return data_checks_from_counts(
            prepared.check_counts,
            features=list(prepared.data.features),
            min_cell_size=spec.min_cell_size,
            reference_shares=spec.reference_shares or None,
            rows_total=prepared.data.rows_total,
            rows_dropped_missing_label=prepared.data.rows_dropped_missing_label,
        )
    return data_checks(
        prepared.data.frame,
        features=list(prepared.data.features),
        sensitive=prepared.data.sensitive,
        labels=_outcome_labels(prepared),
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
    from auditor.tasks import task_def

    spec = prepared.spec
    return task_def(spec.task.id).measure(
        prepared,
        thresholds=list(thresholds or spec.thresholds),
        reference_groups=reference_groups
        if reference_groups is not None
        else spec.reference_groups,
        bootstrap=spec.bootstrap if bootstrap is None else bootstrap,
        seed=spec.seed if seed is None else seed,
    )


def suppressed_groups(measurement: Measurement) -> dict[GroupKey, str | None]:
    """Every group the measurement's plan suppresses, by :func:`group_key`, with its reason."""
    return {key: p.reason for key, p in measurement.plan.privacy.items() if p.suppressed}


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
    from reports.model import ModelInfo

    return ModelInfo(
        name=spec.model.name or spec.name,
        version=spec.model.version,
        kind=scorer.kind,
        path=spec.model.path.name if spec.model.path else None,
        score_column=spec.model.score_column,
        output=spec.model.output,
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
    from auditor.judge.policy import load_policies
    from auditor.privacy.suppression import INTERNAL_STAMP
    from reports.model import Provenance, Report

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
        explanations = explain_prepared(prepared, seed=seed, policies=policies)
    if data_checks is None:
        progress("checking representation and missingness")
        data_checks = check_data(prepared)
    # Every stage shows exactly the groups the measurement shows: its suppression
    # plan (complementary suppression included) is stricter than a size floor alone.
    from auditor.measure.data_checks import restrict_to_reportable as data_checks_reportable
    from auditor.measure.explain import restrict_to_reportable as explanations_reportable

    suppressed = suppressed_groups(measurement)
    explanations = explanations_reportable(
        explanations,
        suppressed,
        top_k=spec.explain.top_k,
        min_cell_size=spec.min_cell_size,
    )
    data_checks = data_checks_reportable(data_checks, suppressed)
    cohorts_found = None
    if spec.discover is not None:
        progress("searching for underperforming cohorts (discover)")
        cohorts_found = discover_prepared(prepared, threshold=thresholds[0], seed=seed)
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
        bootstrap_cluster=spec.cluster if n_boot > 0 else None,
        thresholds=thresholds,
        generated_at=generated_at(),
        spec=spec.raw,
    )
    report = Report(
        name=spec.name,
        verdict="pass",
        model=_model_info(spec, prepared.scorer),
        task=spec.task.id,  # type: ignore[arg-type]
        task_settings=spec.task.settings(),
        label=_report_label(spec),
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
        computation=computation_of(prepared),
        model_card=dict(spec.model_card),
        notes=[
            *measurement.notes,
            *([NOTE_LABEL_OUTPUT] if spec.model.output == OUTPUT_LABEL else []),
        ],
        privacy_notice=None if spec.privacy.complementary else INTERNAL_STAMP,
        provenance=provenance,
        cohorts_found=cohorts_found,
    )
    progress("judging against the policies")
    return _judge_and_publish(
        report,
        measurement.plan,
        policies,
        baseline,
        waivers=spec.waivers,
        undecided=spec.undecided,
    )


def _report_label(spec: AuditSpec) -> dict[str, Any]:
    from auditor.tasks import task_def

    return task_def(spec.task.id).report_label(spec)


NOTE_IN_MEMORY = (
    "Every row was read into memory: metrics, intervals and data checks use all rows, "
    "with every distinct score kept (point estimates equal scikit-learn's)."
)
NOTE_PROXY_SAMPLE = (
    "Proxy strengths are cross-validated models fitted on a seeded random sample of "
    "{rows:,} rows; a sample answers how well a feature predicts a group."
)


def computation_of(prepared: Prepared) -> Computation:
    """What the report says about how its numbers were computed (report key computation)."""
    from auditor.measure.proxies import PROXY_SAMPLE_ROWS
    from reports.model import Computation

    proxy_rows = min(len(prepared.data.frame), PROXY_SAMPLE_ROWS)
    base = prepared.computation or Computation(engine="pandas", notes=[NOTE_IN_MEMORY])
    return base.model_copy(
        update={
            "proxy_sample_rows": proxy_rows,
            "notes": [*base.notes, NOTE_PROXY_SAMPLE.format(rows=proxy_rows)],
        }
    )


def _judge_and_publish(
    full: Report,
    plan: PublishPlan | None,
    policies: Sequence[Policy],
    baseline: Report | None,
    *,
    waivers: Sequence[Waiver] | None = None,
    undecided: str | None = None,
) -> Report:
    """Judge the unsuppressed report, then publish it under the plan (the one place
    privacy is applied); the published report keeps the judged one in memory."""
    from auditor.judge.engine import judge
    from auditor.privacy.publish import publish

    spec = full.provenance.spec
    if waivers is None:
        waivers = spec_waivers(spec)
    judgement = judge(
        full,
        policies,
        baseline=baseline,
        undecided=undecided or spec.get("undecided"),
        waivers=waivers,
        today=date.fromisoformat(full.provenance.generated_at[:10]),
    )
    sha256 = {**full.provenance.sha256, "policies": policy_hashes(policies)}
    if waivers:
        sha256["waivers"] = sha256_bytes(
            json.dumps(
                [dataclasses.asdict(w) for w in waivers], sort_keys=True, ensure_ascii=False
            ).encode("utf-8")
        )
    provenance = full.provenance.model_copy(update={"sha256": sha256})
    judged = full.model_copy(
        update={
            "policy_results": judgement.results,
            "counts": judgement.counts,
            "verdict": judgement.verdict,
            "policies": [_policy_info(p) for p in policies],
            "waivers": judgement.waivers,
            "provenance": provenance,
        }
    )
    if baseline is not None and not any(r.kind == "regression" for p in policies for r in p.rules):
        judged.notes = [*judged.notes, NOTE_BASELINE_UNUSED]
    expired = [w for w in judgement.waivers if w.status == "expired"]
    if expired:
        judged.notes = [
            *[n for n in judged.notes if not n.startswith(NOTE_WAIVER_EXPIRED_PREFIX)],
            *[
                NOTE_WAIVER_EXPIRED.format(
                    rule=w.rule, group=_group_text(w.group), expires=w.expires
                )
                for w in expired
            ],
        ]
    if plan is None:
        return judged
    published = publish(judged, plan)
    published._unpublished = (judged, plan)
    return published


def spec_waivers(raw_spec: dict[str, Any]) -> tuple[Waiver, ...]:
    """The waivers of a spec as given (a report keeps its spec in its provenance)."""
    from auditor.load.spec_loader import waiver_from

    return tuple(waiver_from(w) for w in raw_spec.get("waivers") or ())


def _group_text(group: Any) -> str:
    return group if isinstance(group, str) else " × ".join(group)


def rejudge(
    report: Report, policies: Sequence[Policy], *, baseline: Report | None = None
) -> Report:
    """Judge a report (again) against policies: what the dashboard's policy editor calls.

    A report built in this process is judged again on its full, unsuppressed
    measurement (held in memory) and published again; a report read from a file
    has only its published numbers, so a rule on a withheld value is not evaluable.
    """
    unpublished = report._unpublished
    if unpublished is not None:
        full, plan = unpublished
        return _judge_and_publish(full, plan, policies, baseline)
    return _judge_and_publish(report, None, policies, baseline)


def policy_hashes(policies: Sequence[Policy]) -> dict[str, str]:
    """SHA-256 of every policy file that shaped the rules, inherited packs included."""
    hashes: dict[str, str] = {}
    for policy in policies:
        hashes[policy.id] = policy.sha256
        for parent, digest in zip(policy.extends, policy.extends_sha256, strict=True):
            hashes.setdefault(f"{parent} (extended by {policy.id})", digest)
    return hashes


def _policy_info(policy: Policy) -> PolicyInfo:
    return policy.info().model_copy(update={"version": str(policy.version)})


def _spec_dir(spec: AuditSpec) -> Path | None:
    return spec.source.parent if spec.source is not None else None


def load_report(path: str | Path) -> Report:
    """Read a report.json written by an earlier audit (baseline, compare, dashboard)."""
    return read_report(path)[0]


def read_report(path: str | Path) -> tuple[Report, str]:
    """A report.json and the SHA-256 of the very bytes it was parsed from (read once)."""
    from pydantic import ValidationError

    from reports.model import Report

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
    engine: str | None = None,
) -> AuditSpec:
    """A copy of the spec with command-line overrides; the spec file is never touched."""
    changes: dict[str, Any] = {}
    if engine is not None:
        changes["engine"] = replace(spec.engine, kind=engine)
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
    from auditor.judge.policy import load_policies

    prepared = prepare(spec, progress=progress)
    policies = load_policies(spec.policies, base_dir=_spec_dir(spec))
    report = build_report(prepared, policies=policies, baseline=baseline, progress=progress)
    return AuditResult(report=report, prepared=prepared)


def python_version() -> str:
    return sys.version.split()[0]
