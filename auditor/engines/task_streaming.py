"""The streaming engine for survival, multiclass and regression audits.

The same flow as binary streaming (:mod:`auditor.engines.streaming`): each batch is
checked as the in-memory loader checks the whole file (columns, plain values, the
task's outcome, :func:`auditor.load.task_data.outcome_rows`), scored (score columns,
or the model file on the batch), reduced to per-cell distinct-row tables and merged
(:class:`auditor.reduce.task_streaming.TaskStreamReducer`), counted for the data
checks, and offered to the stratified reservoir. The checks that need every row (an
event somewhere, follow-up reaching the horizon) run on merged summaries at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from auditor.engines.streaming import needed_columns, refuse_too_many_groups
from auditor.errors import DataError
from auditor.load.data import (
    DATA_EMPTY,
    LoadedData,
    _sensitive_groups,
    check_columns,
    check_plain_values,
    resolve_features,
)
from auditor.load.identifiers import refuse_identifier_like_sizes
from auditor.load.named_groups import named_group_columns
from auditor.load.spec import AuditSpec, display_path
from auditor.load.stream import FileBatches, combined_sha256, data_files, relative_name
from auditor.load.task_data import (
    OutcomeSummary,
    TaskScorer,
    check_whole_outcome,
    load_task_scorer,
    outcome_rows,
)
from auditor.reduce.reservoir import StratifiedReservoir, UniformRows
from auditor.reduce.task_streaming import TaskStreamReducer
from reports.model import Computation

if TYPE_CHECKING:
    from auditor.audit import Prepared

LABEL = "__auditor_label"
GROUP = "__auditor_group::"

NOTE_STREAMED = (
    "Read in {batches} batches from {files} file(s); metrics, intervals and data checks "
    "are computed from statistics of every row, merged batch by batch."
)
NOTE_SAMPLE = (
    "Explanations and proxies read a seeded sample of {sample:,} rows, stratified by the "
    "finest cells in proportion to their size."
)
NOTE_COARSENED = {
    "survival": (
        "The exact tables of distinct (time, event, risk) rows would exceed the memory "
        "budget ({budget} MB), so risks were binned at {resolution:g} (every threshold an "
        "edge: who is predicted positive at each threshold is unchanged) and times rounded "
        "up to multiples of {resolution:g} x the horizon, never across it (every patient's "
        "status at the horizon is unchanged); the metrics are computed on these values."
    ),
    "multiclass": (
        "The exact tables of distinct (class, probabilities) rows would exceed the memory "
        "budget ({budget} MB), so each class probability was binned at {resolution:g} and "
        "the metrics are computed on bin midpoints (a predicted class can change where two "
        "probabilities were within one bin)."
    ),
    "regression": (
        "The exact tables of distinct (outcome, prediction) rows would exceed the memory "
        "budget ({budget} MB), so outcomes and predictions were replaced by the midpoints "
        "of bins {resolution:g} x their order of magnitude wide (a relative resolution) "
        "and the metrics are computed on these values."
    ),
}
NOTE_OVER_BUDGET = (
    "Even at the coarsest resolution ({resolution:g}) the tables exceed the memory budget; "
    "they were kept at that resolution."
)
NOTE_EXACT = "Every distinct row was kept: point estimates equal one pass over all rows."


def attributes_of(spec: AuditSpec) -> list[str]:
    """The sensitive attributes, then one per named group."""
    return [*spec.sensitive, *(g.name for g in spec.named_groups)]


def batch_groups(spec: AuditSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Group names of every attribute (named groups included) for one batch."""
    groups: dict[str, object] = {n: _sensitive_groups(frame[n]) for n in spec.sensitive}
    groups.update(named_group_columns(spec, frame))
    return pd.DataFrame(groups, index=frame.index)


def prepare_task_streaming(
    spec: AuditSpec, *, progress: Callable[[str], None], scorer: TaskScorer | None = None
) -> Prepared:
    """Read ``spec.data`` in batches and reduce it: statistics of every row, a sample."""
    from auditor.audit import Prepared, check_reference_groups

    spec_name = display_path(spec.source) if spec.source is not None else "the spec"
    data = Path(spec.data)
    shown = display_path(data)
    files = data_files(data, spec_name=spec_name)
    engine = spec.engine
    progress(f"streaming {len(files)} data file(s) in batches of {engine.batch_rows:,} rows")
    if scorer is None:
        scorer = load_task_scorer(spec)
    attributes = attributes_of(spec)
    reservoir = StratifiedReservoir(engine.sample_rows, seed=spec.seed)
    summary = OutcomeSummary()
    reducer: TaskStreamReducer | None = None
    features: tuple[str, ...] = ()
    hashes: dict[str, str] = {}
    rows_read = rows_dropped = 0
    for path in files:
        file = display_path(path)
        batches = FileBatches(path, columns=needed_columns(spec), batch_rows=engine.batch_rows)
        for number, batch in enumerate(batches):
            frame = batch.frame
            frame.columns = [str(c) for c in frame.columns]
            if number == 0:
                check_columns(replace(spec, data=path), batch.names)
            check_plain_values(spec, frame)
            rows_read += len(frame)
            frame, outcome, dropped = outcome_rows(spec, frame, file)
            rows_dropped += dropped
            summary.add(OutcomeSummary.of(spec, frame, outcome))
            if reducer is None:
                features = resolve_features(spec, batch.names)
                reducer = TaskStreamReducer(
                    attributes,
                    features,
                    task=spec.task.id,
                    thresholds=spec.thresholds,
                    horizon=spec.task.horizon,
                    memory_budget_bytes=engine.memory_budget_mb * 2**20,
                    resolution=engine.score_resolution,
                    views=len(attributes) + len(spec.intersections),
                )
            if len(frame) == 0:
                continue
            outputs = scorer.outputs(frame)
            sensitive = batch_groups(spec, frame)
            missing = (
                frame[list(features)].isna().to_numpy()
                if features
                else np.zeros((len(frame), 0), bool)
            )
            labels = outcome.event_by_horizon
            cells = reducer.add_rows(sensitive, {**outcome.columns, **outputs}, missing, labels)
            refuse_too_many_groups(spec, reducer._cells, shown)
            kept = frame.copy()
            kept[LABEL] = labels if labels is not None else np.zeros(len(frame), np.int8)
            for name in attributes:
                kept[GROUP + name] = sensitive[name].astype(str).to_numpy()
            reservoir.add(kept, cells)
            progress(f"reduced {reducer.rows:,} rows")
        assert batches.sha256 is not None
        hashes[relative_name(path, data)] = batches.sha256
    if reducer is None or reducer.rows == 0:
        raise DataError(DATA_EMPTY.format(file=shown))
    check_whole_outcome(spec, summary, shown)
    stats, counts = reducer.task_result()
    refuse_identifier_like_sizes(
        {a: g.sizes for a, g in counts.attributes.items()},
        min_cell_size=spec.min_cell_size,
        max_groups=spec.privacy.max_groups,
        file=shown,
    )
    sample = reservoir.sample(reducer.cell_rows())
    frame = sample.frame
    sensitive = pd.DataFrame(
        {
            name: pd.Categorical(
                frame[GROUP + name].to_numpy(dtype=object),
                categories=reducer.group_order(name),
            )
            for name in attributes
        },
        index=frame.index,
    )
    loaded = LoadedData(
        frame=frame.drop(columns=[LABEL, *(GROUP + n for n in attributes)]),
        labels=frame[LABEL].to_numpy(dtype=np.int8),
        sensitive=sensitive,
        features=features,
        rows_total=rows_read,
        rows_dropped_missing_label=rows_dropped,
        path=data,
        sha256=hashes[next(iter(hashes))] if len(files) == 1 else combined_sha256(hashes),
    )
    check_reference_groups(spec, loaded)
    prepared_hashes: dict[str, object] = {"data": loaded.sha256}
    if len(files) > 1:
        prepared_hashes["data_files"] = dict(sorted(hashes.items()))
    if spec.source is not None:
        prepared_hashes["spec"] = spec.source_sha256
    if spec.model.path is not None:
        prepared_hashes["model"] = scorer.sha256
    scores = scorer.scores(loaded.frame) if len(loaded.frame) else np.zeros(0, dtype=np.float64)
    return Prepared(
        spec=spec,
        data=loaded,
        scorer=scorer,  # type: ignore[arg-type]
        search_rows=task_search_rows(
            spec, reservoir.uniform, scorer, LABEL, rows=reducer.rows, engine="streaming"
        ),
        scores=np.asarray(scores, dtype=np.float64),
        stats=stats,  # type: ignore[arg-type]
        hashes=prepared_hashes,
        check_counts=counts,
        computation=task_computation(
            spec.task.id,
            engine="streaming",
            notes=[
                NOTE_STREAMED.format(batches=reducer.batches, files=len(files)),
                NOTE_SAMPLE.format(sample=len(frame)),
            ],
            coarsened=reducer.binned,
            budget_mb=engine.memory_budget_mb,
            resolution=reducer.resolution or engine.score_resolution,
            over_budget=reducer.over_budget,
            files=len(files),
            batches=reducer.batches,
            sample_rows=len(frame),
        ),
    )


def task_search_rows(
    spec: AuditSpec,
    uniform: Callable[[int], pd.DataFrame],
    scorer: TaskScorer,
    label: str,
    *,
    rows: int,
    engine: str,
) -> UniformRows | None:
    """Discovery's rows (a simple random sample of every row, see
    :meth:`StratifiedReservoir.uniform`), when the spec asks for discovery."""
    if spec.discover is None:
        return None
    sample = uniform(spec.engine.sample_rows)
    frame = sample.drop(columns=[c for c in sample.columns if c.startswith("__auditor_")])
    scores = scorer.scores(frame) if len(frame) else np.zeros(0)
    # the statistic's columns per sampled row, as the in-memory audit keeps them for
    # discovery (the sample's rows already passed every row check)
    _, outcome, _ = outcome_rows(spec, frame, f"the {engine} sample")
    outputs = scorer.outputs(frame) if len(frame) else {}
    return UniformRows(
        frame=frame,
        labels=sample[label].to_numpy(dtype=np.int8),
        scores=np.asarray(scores, dtype=np.float64),
        rows_total=rows,
        engine=engine,
        columns={**outcome.columns, **outputs},
    )


def task_computation(
    task: str,
    *,
    engine: str,
    notes: list[str],
    coarsened: bool,
    budget_mb: int,
    resolution: float,
    files: int | None = None,
    batches: int | None = None,
    sample_rows: int,
    over_budget: bool = False,
) -> Computation:
    """The report's ``computation`` of a task audit on the streaming or Spark engine:
    ``score_table`` says whether the distinct-row tables were exact or coarsened."""
    notes = [
        *notes,
        NOTE_COARSENED[task].format(budget=budget_mb, resolution=resolution)
        if coarsened
        else NOTE_EXACT,
        *([NOTE_OVER_BUDGET.format(resolution=resolution)] if over_budget else []),
    ]
    return Computation(
        engine=engine,  # type: ignore[arg-type]
        files=files,
        batches=batches,
        score_table="binned" if coarsened else "exact",
        score_resolution=resolution if coarsened else None,
        sample_rows=sample_rows,
        notes=notes,
    )
