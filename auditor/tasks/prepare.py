"""Stage 1 in memory for every task: load, score once, reduce once to per-cell statistics.

Each task's :meth:`~auditor.tasks.base.Task.prepare` calls one of these two
functions; they differ only in the statistic (binary score tables, or distinct-row
tables) and the loader. Named groups (spec ``named_groups``) become attributes, and
the patient records of the cluster bootstrap (spec ``cluster``) are reduced, the same
way for every task. The streaming and Spark engines (:mod:`auditor.engines`) build
the same :class:`auditor.audit.Prepared` from data that does not fit in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit import Prepared, Progress, check_reference_groups
from auditor.load.data import LoadedData
from auditor.load.hashing import sha256_path
from auditor.load.identifiers import refuse_identifier_like
from auditor.load.spec import AuditSpec, display_path
from auditor.reduce.clusters import PatientClusters, reduce_clusters

if TYPE_CHECKING:
    from auditor.tasks.base import TaskDef


def _with_named_groups(data: LoadedData, spec: AuditSpec) -> LoadedData:
    if not spec.named_groups:
        return data
    from auditor.load.named_groups import with_named_groups

    return with_named_groups(data, spec)


def _checked(data: LoadedData, spec: AuditSpec) -> None:
    refuse_identifier_like(
        data.sensitive,
        min_cell_size=spec.min_cell_size,
        max_groups=spec.privacy.max_groups,
        file=display_path(spec.data),
    )
    check_reference_groups(spec, data)


def _clusters(
    spec: AuditSpec,
    data: LoadedData,
    scores: np.ndarray,
    columns: dict[str, np.ndarray] | None = None,
) -> PatientClusters | None:
    """Encounter records of the spec's ``cluster`` column (None without one)."""
    if spec.cluster is None:
        return None
    clusters = reduce_clusters(
        data.sensitive,
        data.labels,
        scores,
        data.frame[spec.cluster],
        column=spec.cluster,
        file=display_path(spec.data),
    )
    if columns is None:
        return clusters
    from dataclasses import replace

    return replace(clusters, columns={k: np.asarray(v) for k, v in columns.items()})


def _hashes(spec: AuditSpec, data: LoadedData, model_sha256: str | None) -> dict[str, Any]:
    hashes: dict[str, Any] = {"data": data.sha256}
    if spec.source is not None:
        # the hash of the bytes load_spec parsed, not of the file as it is now
        hashes["spec"] = spec.source_sha256 or sha256_path(spec.source)
    if spec.model.path is not None:
        # the scorer hashed the file before loading it (and checked a pinned hash)
        hashes["model"] = model_sha256
    return hashes


def score_source(spec: AuditSpec) -> str:
    if spec.model.score_column is not None:
        return f"score column {spec.model.score_column!r}"
    name = spec.model.path.name if spec.model.path is not None else "the model"
    return f"model {name}"


def prepare_scores(spec: AuditSpec, progress: Progress) -> Prepared:
    """A binary audit in memory: scores reduced to score tables per finest cell."""
    from auditor.load.data import load_data
    from auditor.load.evidence import check_evidence
    from auditor.load.scorers import load_scorer
    from auditor.reduce.stats import reduce_frame

    progress(f"loading data {spec.data.name}")
    data = _with_named_groups(load_data(spec), spec)
    _checked(data, spec)
    progress("loading model")
    scorer = load_scorer(spec)
    progress(f"scoring {len(data.frame):,} patients")
    scores = scorer.scores(data.frame)
    check_evidence(
        scores,
        data.labels,
        output=spec.model.output,
        source=score_source(spec),
        label_column=spec.label.column,
        positive=spec.label.positive,
    )
    progress("reducing to subgroup statistics")
    stats = reduce_frame(data.sensitive, data.labels, scores)
    return Prepared(
        spec=spec,
        data=data,
        scorer=scorer,
        scores=scores,
        stats=stats,
        hashes=_hashes(spec, data, getattr(scorer, "sha256", None)),
        clusters=_clusters(spec, data, scores),
    )


def prepare_rows(task: TaskDef, spec: AuditSpec, progress: Progress) -> Prepared:
    """A survival, multiclass or regression audit in memory: the task's outcome and
    model outputs reduced to distinct-row tables per finest cell."""
    from auditor.load.task_data import load_task_data, load_task_scorer
    from auditor.tasks.base import reduce_rows

    progress(f"loading data {spec.data.name}")
    data, outcome = load_task_data(spec)
    data = _with_named_groups(data, spec)
    _checked(data, spec)
    progress("loading model")
    scorer = load_task_scorer(spec)
    progress(f"scoring {len(data.frame):,} patients")
    outputs = scorer.outputs(data.frame)
    progress("reducing to subgroup statistics")
    columns = {**outcome.columns, **outputs}
    stats = reduce_rows(data.sensitive, columns)
    scores = next(iter(outputs.values()))
    return Prepared(
        spec=spec,
        data=data,
        scorer=scorer,  # type: ignore[arg-type]
        scores=scores,
        stats=stats,  # type: ignore[arg-type]
        hashes=_hashes(spec, data, scorer.sha256),
        clusters=_clusters(spec, data, np.zeros(len(data.frame)), columns),
    )
