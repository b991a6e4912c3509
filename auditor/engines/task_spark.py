"""The Spark engine for survival, multiclass and regression audits.

What runs where (as for binary audits, :mod:`auditor.engines.spark`):

* executors: read the data; map the outcome (survival: time and event, the event
  values decided on the driver from the distinct values; multiclass: the class index
  of each label; regression: the number) and the sensitive and named groups; score a
  model file with ``mapInPandas`` (the scorer loaded and hash-checked on the driver);
  ``groupBy(cells..., outcome and output columns).count()``, which is the per-cell
  distinct-row table (:class:`auditor.tasks.base.RowTable`); rows and missing values
  per cell; the candidate sample.
* driver: collects those tables, checks the memory budget (past it the executors
  coarsen the continuous columns as :class:`auditor.reduce.task_streaming.RowCoarsening`
  states and group again), and continues exactly as the pandas engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditor.engines.spark import (
    GROUP,
    KEY,
    NOTE_SAMPLE,
    NOTE_SPARK_HASH,
    NOTE_SPARK_UNHASHED,
    add_group_columns,
    check_counts,
    draw_sample,
    group_order,
    read_source,
    spark_hashes,
)
from auditor.engines.task_streaming import task_computation, task_search_rows
from auditor.errors import DataError, ModelError
from auditor.load.data import DATA_EMPTY, LoadedData
from auditor.load.identifiers import refuse_identifier_like_sizes
from auditor.load.spec import AuditSpec, group_label
from auditor.load.task_data import (
    HORIZON_BEYOND,
    NO_EVENT_VALUE,
    TaskScorer,
    load_task_scorer,
)
from auditor.reduce.task_streaming import COARSEST, ROW_COLUMN_BYTES, RowCoarsening, coarser
from auditor.tasks.base import RowTable, TaskStats

if TYPE_CHECKING:
    from auditor.audit import Prepared

PREFIX = "__auditor_t_"
EVENT_BY_HORIZON = "__auditor_event_by_horizon"
SPARK_OUTCOME_MISSING = (
    "{source}: column {column!r} ({path}) has {count} row(s) with no value; fill them in, or "
    "set drop_missing_label: true in the spec to drop them (the report records how many)"
)
SPARK_NOT_NUMBERS = (
    "{source}: column {column!r} ({path}) has {count} value(s) that are not numbers; "
    "expected {expected}"
)
SPARK_NEGATIVE_TIME = (
    "{source}: time column {column!r} has {count} negative value(s); expected a follow-up time >= 0"
)
SPARK_UNKNOWN_CLASSES = (
    "{source}: label column {column!r} has {count} row(s) whose value is not one of "
    "label.classes ({classes}): values {values}"
)
SPARK_OUTPUT_BAD = (
    "{source}: {count} {what} missing or outside {expected}; expected {expected} for every patient"
)
SPARK_SCORING_FAILED = "{source}: scoring the model on the Spark executors failed: {reason}"
NOTE_SPARK_TASK = (
    "Reduced in Spark: executors grouped rows by (cell, outcome, model output) and counted "
    "missing values; the driver collected only those tables and a candidate sample."
)


def _path_of(spec: AuditSpec, column: str) -> str:
    if column == spec.task.event:
        return "$.label.event"
    return "$.label.time" if spec.task.id == "survival" else "$.label.column"


def _present(df: Any, column: str) -> Any:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    col = F.col(column)
    if isinstance(df.schema[column].dataType, T.FractionalType):
        return col.isNotNull() & ~F.isnan(col)
    return col.isNotNull()


def _as_number(
    df: Any, column: str, *, source: str, path: str, expected: str, error: type = DataError
) -> Any:
    """The column as a double, refusing values that are present but not numbers."""
    from pyspark.sql import functions as F

    number = F.col(column).cast("double")
    bad = df.where(_present(df, column) & number.isNull()).count()
    if bad:
        raise error(
            SPARK_NOT_NUMBERS.format(
                source=source, column=column, path=path, count=bad, expected=expected
            )
        )
    return number


def _outcome(spec: AuditSpec, df: Any, source: str) -> tuple[Any, list[str]]:
    """The task's outcome columns (named ``PREFIX + name``) computed on the executors."""
    from pyspark.sql import functions as F

    task = spec.task
    column = spec.label.column
    if task.id == "survival":
        time = _as_number(
            df, column, source=source, path="$.label.time", expected="a follow-up time >= 0"
        )
        df = df.withColumn(PREFIX + "time", time)
        negative = df.where(F.col(PREFIX + "time") < 0).count()
        if negative:
            raise DataError(
                SPARK_NEGATIVE_TIME.format(source=source, column=column, count=negative)
            )
        event_col = str(task.event)
        values = [r[0] for r in df.select(event_col).distinct().limit(1000).collect()]
        wanted = group_label(task.event_value)
        hits = [v for v in values if group_label(v) == wanted]
        if not hits:
            shown = ", ".join(sorted({group_label(v) for v in values})[:10])
            raise DataError(
                NO_EVENT_VALUE.format(
                    file=source, column=event_col, value=task.event_value, values=shown
                )
            )
        df = df.withColumn(PREFIX + "event", F.col(event_col).isin(hits).cast("double"))
        horizon = float(task.horizon or 0.0)
        longest = df.agg(F.max(PREFIX + "time")).collect()[0][0]
        if longest is not None and horizon > float(longest):
            raise DataError(
                HORIZON_BEYOND.format(
                    file=source, horizon=horizon, longest=float(longest), column=column
                )
            )
        df = df.withColumn(
            EVENT_BY_HORIZON,
            ((F.col(PREFIX + "event") == 1) & (F.col(PREFIX + "time") <= horizon)).cast("int"),
        )
        return df, ["time", "event"]
    if task.id == "multiclass":
        classes = [group_label(c) for c in task.classes]
        index = {c: i for i, c in enumerate(classes)}
        values = [r[0] for r in df.select(column).distinct().limit(len(classes) + 100).collect()]
        unknown = [v for v in values if group_label(v) not in index]
        if unknown:
            count = df.where(F.col(column).isin(unknown)).count()
            raise DataError(
                SPARK_UNKNOWN_CLASSES.format(
                    source=source,
                    column=column,
                    count=count,
                    classes=", ".join(classes),
                    values=", ".join(sorted({group_label(v) for v in unknown})[:10]),
                )
            )
        pairs = [x for v in values for x in (F.lit(v), F.lit(float(index[group_label(v)])))]
        df = df.withColumn(PREFIX + "label", F.create_map(*pairs)[F.col(column)])
        return df, ["label"]
    number = _as_number(
        df, column, source=source, path="$.label.column", expected="a number per patient"
    )
    return df.withColumn(PREFIX + "label", number), ["label"]


def _outputs(spec: AuditSpec, df: Any, scorer: TaskScorer, source: str) -> tuple[Any, list[str]]:
    """The model's outputs (survival ``risk``, multiclass ``p_i``, regression
    ``prediction``): score columns cast, or the model on the executors."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    task = spec.task
    if task.id == "survival":
        names = ["risk"]
    elif task.id == "multiclass":
        names = [f"p_{i}" for i in range(len(task.classes))]
    else:
        names = ["prediction"]
    if spec.model.path is None:
        columns = (
            [c for _, c in task.score_columns]
            if task.id == "multiclass"
            else [str(spec.model.score_column)]
        )
        for name, column in zip(names, columns, strict=True):
            number = _as_number(
                df,
                column,
                source=source,
                path="$.model.score_column",
                expected="a number per patient",
                error=ModelError,
            )
            df = df.withColumn(PREFIX + name, number)
    else:
        fields = [T.StructField(PREFIX + n, T.DoubleType()) for n in names]
        schema = T.StructType([*df.schema.fields, *fields])
        model = scorer

        def score_batches(batches: Any) -> Any:
            for batch in batches:
                outputs = model.outputs(batch)
                for name in names:
                    batch[PREFIX + name] = np.asarray(outputs[name], dtype=np.float64)
                yield batch

        df = df.mapInPandas(score_batches, schema=schema)
    if task.id == "regression":
        bad = ~F.col(PREFIX + "prediction").isNotNull() | F.isnan(PREFIX + "prediction")
        bad = bad | (F.abs(F.col(PREFIX + "prediction")) == float("inf"))
        what, expected = "prediction(s) are", "a finite number"
    else:
        bad = F.lit(False)
        for name in names:
            col = F.col(PREFIX + name)
            bad = bad | col.isNull() | F.isnan(col) | (col < 0) | (col > 1)
        what, expected = "probability value(s) are", "[0, 1]"
    try:
        count = df.where(bad).count()
    except Exception as exc:  # the model failed on an executor: say so, without a traceback
        reason = next((line for line in str(exc).splitlines() if "Error" in line), str(exc))
        raise ModelError(SPARK_SCORING_FAILED.format(source=source, reason=reason[:500])) from exc
    if count:
        raise ModelError(
            SPARK_OUTPUT_BAD.format(source=source, count=count, what=what, expected=expected)
        )
    return df, names


def prepare_task_spark(
    spec: AuditSpec, *, progress: Callable[[str], None], scorer: TaskScorer | None = None
) -> Prepared:
    """Reduce a survival, multiclass or regression audit in Spark to the statistics the
    pandas engine computes."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from auditor.audit import Prepared, check_reference_groups

    engine = spec.engine
    source, df, features = read_source(spec, progress)
    if scorer is None:
        scorer = load_task_scorer(spec)
    task = spec.task
    rows_total = df.count()
    if rows_total == 0:
        raise DataError(DATA_EMPTY.format(file=source))
    outcome_cols = [spec.label.column] + ([str(task.event)] if task.event else [])
    dropped = 0
    for column in outcome_cols:
        absent = df.where(~_present(df, column)).count()
        if absent and not spec.drop_missing_label:
            raise DataError(
                SPARK_OUTCOME_MISSING.format(
                    source=source, column=column, path=_path_of(spec, column), count=absent
                )
            )
    if spec.drop_missing_label:
        kept = F.lit(True)
        for column in outcome_cols:
            kept = kept & _present(df, column)
        df = df.where(kept)
        dropped = rows_total - df.count()
    df, attributes, groups = add_group_columns(spec, df, source)
    df, outcome_names = _outcome(spec, df, source)
    df, output_names = _outputs(spec, df, scorer, source)
    names = [*outcome_names, *output_names]
    stat_cols = [PREFIX + n for n in names]
    label = EVENT_BY_HORIZON if task.id == "survival" else None
    df = df.withColumn(KEY, F.rand(seed=int(spec.seed))).cache()
    try:
        progress("reducing in Spark: groupBy(cells, outcome, outputs).count()")
        table = df.groupBy(*groups, *stat_cols).count()
        entries = table.count()
        copies = 1 + len(attributes) + len(spec.intersections)
        per_row = ROW_COLUMN_BYTES * (len(names) + 1)
        budget = engine.memory_budget_mb * 2**20
        coarsened = entries * per_row * copies > budget
        resolution = engine.score_resolution
        over_budget = False
        while coarsened:
            coarsening = RowCoarsening(
                task.id, resolution=resolution, thresholds=spec.thresholds, horizon=task.horizon
            )
            for name in coarsening.columns(names):
                udf = F.pandas_udf(_coarsen_column(coarsening, name), T.DoubleType())  # type: ignore[call-overload]
                table = table.withColumn(PREFIX + name, udf(F.col(PREFIX + name)))
            table = table.groupBy(*groups, *stat_cols).agg(F.sum("count").alias("count"))
            if table.count() * per_row * copies <= budget:
                break
            if resolution >= COARSEST:
                over_budget = True
                break
            resolution = coarser(resolution)  # bins nest: coarsening the coarsened table
        aggregates = table.toPandas()
        if aggregates.empty:
            raise DataError(DATA_EMPTY.format(file=source))
        values = {a: group_order(aggregates[GROUP + a].unique()) for a in attributes}
        cells, cell_rows, counts = check_counts(df, attributes, groups, values, features, label)
        refuse_identifier_like_sizes(
            {a: g.sizes for a, g in counts.attributes.items()},
            min_cell_size=spec.min_cell_size,
            max_groups=spec.privacy.max_groups,
            file=source,
        )
        sample, reservoir = draw_sample(spec, df, groups, cells, cell_rows, progress)
    finally:
        df.unpersist()
    stats = _task_stats(aggregates, attributes, groups, names, values)
    frame = sample.frame
    sensitive = pd.DataFrame(
        {
            a: pd.Categorical(frame[GROUP + a].to_numpy(dtype=object), categories=values[a])
            for a in attributes
        },
        index=frame.index,
    )
    labels = (
        frame[EVENT_BY_HORIZON].to_numpy(dtype=np.int8)
        if label is not None
        else np.zeros(len(frame), dtype=np.int8)
    )
    internal = [c for c in frame.columns if c.startswith("__auditor_")]
    sha, hashes = spark_hashes(spec, source)
    loaded = LoadedData(
        frame=frame.drop(columns=internal),
        labels=labels,
        sensitive=sensitive,
        features=features,
        rows_total=rows_total,
        rows_dropped_missing_label=dropped,
        path=Path(spec.data),
        sha256=sha or "",
    )
    check_reference_groups(spec, loaded)
    if spec.model.path is not None:
        hashes["model"] = scorer.sha256
    notes = [
        NOTE_SPARK_TASK,
        NOTE_SPARK_HASH if sha else NOTE_SPARK_UNHASHED.format(source=source),
        NOTE_SAMPLE.format(sample=len(frame)),
    ]
    if label is None:
        for part in (frame, reservoir._kept):
            if part is not None:
                part[EVENT_BY_HORIZON] = 0
    return Prepared(
        spec=spec,
        data=loaded,
        scorer=scorer,  # type: ignore[arg-type]
        search_rows=task_search_rows(
            spec,
            reservoir.uniform,
            scorer,
            EVENT_BY_HORIZON,
            rows=rows_total - dropped,
            engine="spark",
        ),
        scores=frame[PREFIX + output_names[0]].to_numpy(dtype=np.float64),
        stats=stats,  # type: ignore[arg-type]
        hashes=hashes,
        check_counts=counts,
        computation=task_computation(
            task.id,
            engine="spark",
            notes=notes,
            coarsened=coarsened,
            budget_mb=engine.memory_budget_mb,
            resolution=resolution,
            over_budget=over_budget,
            sample_rows=len(frame),
        ),
    )


def _coarsen_column(coarsening: RowCoarsening, name: str) -> Callable[[pd.Series], pd.Series]:
    """A pandas UDF body coarsening one column (a plain one-argument function: Spark
    reads the UDF's signature)."""

    def coarsen(values: pd.Series) -> pd.Series:
        return pd.Series(coarsening.apply(name, values.to_numpy(dtype=np.float64)))

    return coarsen


def _task_stats(
    aggregates: pd.DataFrame,
    attributes: list[str],
    groups: list[str],
    names: list[str],
    values: dict[str, tuple[str, ...]],
) -> TaskStats:
    """The collected ``groupBy(cells, columns).count()`` as per-cell distinct-row tables."""
    cells: dict[tuple[str, ...], RowTable] = {}
    for key, part in aggregates.groupby(groups, sort=False):
        k = key if isinstance(key, tuple) else (key,)
        cells[tuple(str(x) for x in k)] = RowTable.from_arrays(
            {n: part[PREFIX + n].to_numpy(dtype=np.float64) for n in names},
            part["count"].to_numpy(dtype=np.float64),
        )
    order = {a: {g: i for i, g in enumerate(values[a])} for a in attributes}
    return TaskStats(tuple(attributes), cells, tuple(names), category_order=order)
