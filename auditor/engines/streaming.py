"""The streaming engine: data larger than memory, read, scored and reduced in batches.

Rows flow once through: read a batch (:mod:`auditor.load.stream`), check it as the
in-memory loader would, score it, reduce it to per-cell statistics and data-check
counts and merge (:mod:`auditor.reduce.streaming`), and offer it to a stratified
reservoir (:mod:`auditor.reduce.reservoir`). What comes out is the same
:class:`auditor.audit.Prepared` as the in-memory path: the statistics and counts
cover every row, and the frame is the stratified sample that explanations and
proxies read. Memory is bounded by cells x distinct scores plus the sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.load.data import DATA_EMPTY, LoadedData, resolve_features
from auditor.load.evidence import check_label_balance, check_score_values
from auditor.load.identifiers import refuse_identifier_like_sizes
from auditor.load.named_groups import named_group_columns, named_group_columns_used
from auditor.load.scorers import Scorer, load_scorer
from auditor.load.spec import AuditSpec, display_path
from auditor.load.stream import (
    FileBatches,
    LabelMapper,
    check_batch,
    combined_sha256,
    data_files,
    relative_name,
)
from auditor.reduce.reservoir import StratifiedReservoir, UniformRows
from auditor.reduce.streaming import StreamReducer, StreamResult
from reports.model import Computation

if TYPE_CHECKING:
    from auditor.audit import Prepared

LABEL = "__auditor_label"
SCORE = "__auditor_score"
GROUP = "__auditor_group::"

NOTE_STREAMED = (
    "Read in {batches} batches from {files} file(s); metrics, intervals and data checks "
    "are computed from statistics of every row, merged batch by batch."
)
NOTE_SAMPLE = (
    "Explanations and proxies read a seeded sample of {sample:,} rows, stratified by the "
    "finest cells in proportion to their size."
)
NOTE_SHORT = (
    "{cells} cell(s) got fewer sample rows than their proportional share (the data's row "
    "order left too few candidates); the sample slightly over-represents other cells."
)
NOTE_BINNED = (
    "The exact score tables would exceed the memory budget ({budget} MB), so scores were "
    "binned at a resolution of {resolution:g}: threshold metrics are exact, AUROC, AUPRC "
    "and calibration are computed on bin midpoints."
)
NOTE_EXACT = "Every distinct score was kept: point estimates equal one pass over all rows."


def needed_columns(spec: AuditSpec) -> list[str] | None:
    """Columns to read: every named one (all columns when features are implicit), for
    every task (survival adds its event column, multiclass its score columns)."""
    if spec.features is None:
        return None
    task = spec.task
    named = [spec.label.column, *([str(task.event)] if task.event else [])]
    named += [*spec.sensitive, *spec.features]
    if spec.model.score_column is not None:
        named.append(spec.model.score_column)
    named += [c for _, c in task.score_columns]
    named += [c for view in spec.intersections for c in view]
    named += named_group_columns_used(spec)
    if spec.discover is not None and spec.discover.features is not None:
        named += list(spec.discover.features)
    return list(dict.fromkeys(named))


def _score_source(spec: AuditSpec) -> str:
    if spec.model.score_column is not None:
        return f"score column {spec.model.score_column!r}"
    name = spec.model.path.name if spec.model.path is not None else "the model"
    return f"model {name}"


def prepare_streaming(
    spec: AuditSpec, *, progress: Callable[[str], None], scorer: Scorer | None = None
) -> Prepared:
    """Read ``spec.data`` in batches and reduce it: statistics of every row, a sample.

    A survival, multiclass or regression audit is read by
    :func:`auditor.engines.task_streaming.prepare_task_streaming`.
    """
    from auditor.audit import Prepared, check_reference_groups

    if spec.task.id != "binary":
        from auditor.engines.task_streaming import prepare_task_streaming

        return prepare_task_streaming(spec, progress=progress)
    attributes = [*spec.sensitive, *(g.name for g in spec.named_groups)]

    spec_name = display_path(spec.source) if spec.source is not None else "the spec"
    data = Path(spec.data)
    files = data_files(data, spec_name=spec_name)
    progress(f"streaming {len(files)} data file(s) in batches of {spec.engine.batch_rows:,} rows")
    if scorer is None:
        scorer = load_scorer(spec)
    engine = spec.engine
    reservoir = StratifiedReservoir(engine.sample_rows, seed=spec.seed)
    labels_of = LabelMapper(spec)
    checked: set[Path] = set()
    reducer: StreamReducer | None = None
    features: tuple[str, ...] = ()
    hashes: dict[str, str] = {}
    rows_read = rows_dropped = 0
    score_values = np.zeros(0)
    for path in files:
        batches = FileBatches(path, columns=needed_columns(spec), batch_rows=engine.batch_rows)
        for batch in batches:
            checked_batch = check_batch(spec, batch, labels_of, checked_columns=checked)
            rows_read += checked_batch.rows_read
            rows_dropped += checked_batch.rows_dropped
            frame = checked_batch.frame
            if reducer is None:
                features = resolve_features(spec, batch.names)
                reducer = StreamReducer(
                    attributes,
                    features,
                    thresholds=spec.thresholds,
                    memory_budget_bytes=engine.memory_budget_mb * 2**20,
                    resolution=engine.score_resolution,
                    views=len(attributes) + len(spec.intersections),
                )
            if len(frame) == 0:
                continue
            scores = np.asarray(scorer.scores(frame), dtype=np.float64)
            if score_values.size <= 2:
                score_values = np.unique(np.concatenate([score_values, np.unique(scores)[:3]]))
            missing = (
                frame[list(features)].isna().to_numpy()
                if features
                else np.zeros((len(frame), 0), bool)
            )
            sensitive = checked_batch.sensitive
            if spec.named_groups:
                sensitive = sensitive.assign(**named_group_columns(spec, frame))
            cells = reducer.add(sensitive, checked_batch.labels, scores, missing)
            refuse_too_many_groups(spec, reducer._cells, display_path(data))
            kept = frame.copy()
            kept[LABEL] = checked_batch.labels
            kept[SCORE] = scores
            for name in attributes:
                kept[GROUP + name] = sensitive[name].astype(str).to_numpy()
            reservoir.add(kept, cells)
            progress(f"reduced {reducer.rows:,} rows")
        assert batches.sha256 is not None
        hashes[relative_name(path, data)] = batches.sha256
    labels_of.finish(display_path(data))
    if reducer is None or reducer.rows == 0:
        raise DataError(DATA_EMPTY.format(file=display_path(data)))
    result = reducer.result()
    refuse_identifier_like_sizes(
        {a: g.sizes for a, g in result.counts.attributes.items()},
        min_cell_size=spec.min_cell_size,
        max_groups=spec.privacy.max_groups,
        file=display_path(data),
    )
    source = _score_source(spec)
    check_score_values(score_values, output=spec.model.output, source=source)
    overall = result.stats.table()
    check_label_balance(
        overall.n, overall.n_positive, label_column=spec.label.column, positive=spec.label.positive
    )
    sample = reservoir.sample(result.cell_rows)
    frame = sample.frame
    groups = {
        name: pd.Categorical(
            frame[GROUP + name].to_numpy(dtype=object), categories=result.stats.values[name]
        )
        for name in attributes
    }
    sensitive = pd.DataFrame(groups, index=frame.index)
    internal = [LABEL, SCORE, *(GROUP + n for n in attributes)]
    loaded = LoadedData(
        frame=frame.drop(columns=internal),
        labels=frame[LABEL].to_numpy(dtype=np.int8),
        sensitive=sensitive,
        features=features,
        rows_total=rows_read,
        rows_dropped_missing_label=rows_dropped,
        path=data,
        sha256=hashes[next(iter(hashes))] if len(files) == 1 else combined_sha256(hashes),
    )
    check_reference_groups(spec, loaded)  # the sample's categories: every group of the data
    prepared_hashes: dict[str, object] = {"data": loaded.sha256}
    if len(files) > 1:
        prepared_hashes["data_files"] = dict(sorted(hashes.items()))
    if spec.source is not None:
        prepared_hashes["spec"] = spec.source_sha256
    if spec.model.path is not None:
        prepared_hashes["model"] = scorer.sha256  # type: ignore[attr-defined]
    return Prepared(
        spec=spec,
        data=loaded,
        scorer=scorer,
        scores=frame[SCORE].to_numpy(dtype=np.float64),
        stats=result.stats,
        hashes=prepared_hashes,
        check_counts=result.counts,
        search_rows=search_rows(spec, reservoir, internal, rows=reducer.rows, engine="streaming"),
        computation=streamed_computation(
            result,
            files=len(files),
            sample_rows=len(frame),
            short=sample.short_cells,
            budget_mb=engine.memory_budget_mb,
        ),
    )


def search_rows(
    spec: AuditSpec,
    reservoir: StratifiedReservoir,
    internal: list[str],
    *,
    rows: int,
    engine: str,
) -> UniformRows | None:
    """Discovery's rows: ``sample_rows`` rows drawn uniformly from every row (the
    stratified sample over-represents small cells, which would bias a search for
    cohorts), when the spec asks for discovery."""
    if spec.discover is None:
        return None
    frame = reservoir.uniform(spec.engine.sample_rows)
    return UniformRows(
        frame=frame.drop(columns=internal),
        labels=frame[LABEL].to_numpy(dtype=np.int8),
        scores=frame[SCORE].to_numpy(dtype=np.float64),
        rows_total=rows,
        engine=engine,
    )


def refuse_too_many_groups(spec: AuditSpec, cells: Iterable[tuple[str, ...]], shown: str) -> None:
    """Stop early on an identifier-like column: its cells would fill memory first
    (``cells``: the finest-cell keys a streaming reducer holds so far)."""
    limit = spec.privacy.max_groups
    keys = list(cells)
    for i, attribute in enumerate(spec.sensitive):
        groups = {key[i] for key in keys}
        if len(groups) > limit:
            refuse_identifier_like_sizes(
                {attribute: np.ones(len(groups), dtype=np.int64) * spec.min_cell_size},
                min_cell_size=spec.min_cell_size,
                max_groups=limit,
                file=shown,
            )


def streamed_computation(
    result: StreamResult, *, files: int, sample_rows: int, short: int, budget_mb: int
) -> Computation:
    notes = [
        NOTE_STREAMED.format(batches=result.batches, files=files),
        NOTE_SAMPLE.format(sample=sample_rows),
    ]
    if short:
        notes.append(NOTE_SHORT.format(cells=short))
    notes.append(
        NOTE_BINNED.format(budget=budget_mb, resolution=result.resolution)
        if result.binned
        else NOTE_EXACT
    )
    return Computation(
        engine="streaming",
        files=files,
        batches=result.batches,
        score_table="binned" if result.binned else "exact",
        score_resolution=result.resolution,
        sample_rows=sample_rows,
        notes=notes,
    )
