"""The Spark engine: data that lives in a cluster, reduced where it lies.

What runs where:

* executors: read the table, Parquet or Delta path; map labels to 0/1 and sensitive
  values to group names (mappings computed on the driver from the distinct values);
  score model files with ``mapInPandas`` (the scorer loaded, and its hash checked,
  on the driver, then shipped); ``groupBy(cells..., score)`` to positive and
  negative counts; missing values per (cell, feature) and per outcome; a seeded,
  stratified candidate sample (each row's uniform key, kept when among the smallest
  of its cell or of all rows).
* driver: collects only those aggregates and candidates, builds the same
  :class:`SubgroupStats` and check counts as the pandas path
  (:meth:`SubgroupStats.from_aggregates`), draws the proportional sample from the
  candidates (:class:`StratifiedReservoir`), and continues exactly as pandas.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.load.data import (
    DATA_EMPTY,
    LABEL_ALL_MISSING,
    LABEL_NO_POSITIVE,
    LoadedData,
    _show,
    check_columns,
    resolve_features,
)
from auditor.load.evidence import check_label_balance, check_score_values
from auditor.load.identifiers import TOO_MANY_GROUPS, refuse_identifier_like_sizes
from auditor.load.named_groups import IN_GROUP, NAMED_NOT_NUMERIC, OUT_GROUP
from auditor.load.scorers import Scorer, load_scorer
from auditor.load.spec import (
    MISSING_GROUP,
    AuditSpec,
    EngineSpec,
    NamedGroup,
    display_path,
    group_label,
)
from auditor.load.stream import combined_sha256, data_files, relative_name
from auditor.reduce.check_counts import CheckCounts, counts_from_cells
from auditor.reduce.reservoir import PER_CELL, SLACK, ReservoirSample, StratifiedReservoir
from auditor.reduce.stats import SubgroupStats
from auditor.reduce.streaming import TABLE_ENTRY_BYTES, ScoreBinning
from reports.model import Computation

if TYPE_CHECKING:
    from auditor.audit import Prepared

SPARK_MISSING = (
    "engine kind spark needs PySpark and a Java runtime: pip install "
    "'clinical-fairness-auditor[spark]' (and a JRE, e.g. Debian's default-jre-headless)"
)
SPARK_UNREADABLE = "{source}: Spark cannot read it ({reason})"
SPARK_LABEL_MISSING = (
    "{source}: label column {column!r} has {count} row(s) with no value; fill them in, or "
    "set drop_missing_label: true in the spec to drop them (the report records how many)"
)
SPARK_LABEL_OTHER = (
    "{source}: label column {column!r} has {count} row(s) whose value is neither the positive "
    "value {positive} nor the negative value {negative}: {values}; expected exactly two "
    "label values"
)
NOTE_SPARK = (
    "Reduced in Spark: executors grouped rows by (cell, score) and counted missing values; "
    "the driver collected only those statistics and a candidate sample."
)
NOTE_SPARK_HASH = (
    "The data files were hashed by the driver before Spark read them (Spark reads the files "
    "itself, so a file replaced during the audit would not be detected)."
)
NOTE_SPARK_UNHASHED = (
    "The data ({source}) was read by Spark; the auditor did not hash its bytes, so the "
    "provenance names the source but cannot vouch for its content."
)
NOTE_SAMPLE = (
    "Explanations and proxies read a seeded sample of {sample:,} rows, stratified by the "
    "finest cells in proportion to their size."
)
NOTE_BINNED = (
    "The exact score tables would exceed the memory budget ({budget} MB), so scores were "
    "binned at a resolution of {resolution:g}: threshold metrics are exact, AUROC, AUPRC "
    "and calibration are computed on bin midpoints."
)
NOTE_EXACT = "Every distinct score was kept: point estimates equal one pass over all rows."

LABEL = "__auditor_label"
SCORE = "__auditor_score"
KEY = "__auditor_key"
GROUP = "__auditor_group_"
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
"""Settings for a local master (tests, one machine); a cluster keeps its own."""


def spark_session(engine: EngineSpec) -> Any:
    """The active session (spark-submit, Databricks), else one built from the spec."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError(SPARK_MISSING) from exc
    active = SparkSession.getActiveSession()
    if active is not None and engine.master is None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("clinical-fairness-auditor")
    if engine.master is not None:
        builder = builder.master(engine.master)
        if engine.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            for key, value in LOCAL_CONF.items():
                builder = builder.config(key, value)
    for key, value in engine.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _source(spec: AuditSpec) -> str:
    if spec.engine.table:
        return f"table {spec.engine.table}"
    return display_path(spec.data)


def read_frame(spark: Any, spec: AuditSpec) -> Any:
    engine = spec.engine
    try:
        if engine.table:
            return spark.table(engine.table)
        if engine.format == "delta":
            return spark.read.format("delta").load(str(spec.data))
        return spark.read.parquet(str(spec.data))
    except Exception as exc:  # AnalysisException and friends: a message for the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(SPARK_UNREADABLE.format(source=_source(spec), reason=reason)) from exc


def _label_mapping(spec: AuditSpec, values: pd.DataFrame, source: str) -> tuple[list[Any], int]:
    """Original label values meaning 1, and rows without a label (from distinct values)."""
    column = spec.label.column
    present = values[values["value"].notna()]
    missing = int(values.loc[values["value"].isna(), "count"].sum())
    positive = group_label(spec.label.positive)
    positive_shown = _show(spec.label.positive)
    if present.empty:
        raise DataError(
            LABEL_ALL_MISSING.format(file=source, column=column, positive=positive_shown)
        )
    keys = [group_label(v) for v in present["value"]]
    positives = [v for v, k in zip(present["value"], keys) if k == positive]
    if not positives:
        shown = ", ".join(sorted({_show(v) for v in present["value"]}))
        raise DataError(
            LABEL_NO_POSITIVE.format(
                file=source, column=column, positive=positive_shown, values=shown
            )
        )
    others = present[[k != positive for k in keys]]
    other_keys = [group_label(v) for v in others["value"]]
    if spec.label.negative is not None:
        negative = group_label(spec.label.negative)
        negative_shown = _show(spec.label.negative)
    elif len(others):
        top = others["count"].max()
        negative = sorted(k for k, c in zip(other_keys, others["count"]) if c == top)[0]
        negative_shown = _show(others["value"].iloc[other_keys.index(negative)])
    else:
        negative, negative_shown = "", "(none found)"
    third = others[[k != negative for k in other_keys]]
    if len(third):
        third_shown = sorted({_show(v) for v in third["value"]})
        raise DataError(
            SPARK_LABEL_OTHER.format(
                source=source,
                column=column,
                count=int(third["count"].sum()),
                positive=positive_shown,
                negative=negative_shown,
                values=", ".join(third_shown[:5]) + (", ..." if len(third_shown) > 5 else ""),
            )
        )
    return positives, missing


def _group_names(values: list[Any]) -> dict[Any, str]:
    return {v: group_label(v) for v in values if v is not None and not _is_nan(v)}


def add_group_columns(spec: AuditSpec, df: Any, source: str) -> tuple[Any, list[str], list[str]]:
    """Group names of every attribute as columns: the in-memory loader's names of the
    sensitive values (mapped on the executors from the distinct values), then each
    named group's ``in`` / ``out`` as a column expression. Returns the frame, the
    attributes and their group columns."""
    from pyspark.sql import functions as F

    limit = spec.privacy.max_groups
    for name in spec.sensitive:
        distinct = [r[0] for r in df.select(name).distinct().limit(limit + 2).collect()]
        if len(distinct) > limit + 1:
            raise DataError(
                TOO_MANY_GROUPS.format(
                    file=source, column=name, count=f"more than {limit}", limit=limit
                )
            )
        mapping = _group_names(distinct)
        pairs = [x for v, g in mapping.items() for x in (F.lit(v), F.lit(g))]
        mapped = F.create_map(*pairs)[F.col(name)] if pairs else F.lit(None)
        group = (
            F.when(F.col(name).isNull() | F.isnan(F.col(name)), F.lit(MISSING_GROUP))
            if _numeric(df, name)
            else F.when(F.col(name).isNull(), F.lit(MISSING_GROUP))
        )
        df = df.withColumn(GROUP + name, group.otherwise(mapped))
    for index, named in enumerate(spec.named_groups):
        rows = named_group_rows(spec, df, named, index)
        df = df.withColumn(
            GROUP + named.name, F.when(rows, F.lit(IN_GROUP)).otherwise(F.lit(OUT_GROUP))
        )
    attributes = [*spec.sensitive, *(g.name for g in spec.named_groups)]
    return df, attributes, [GROUP + a for a in attributes]


def named_group_rows(spec: AuditSpec, df: Any, group: NamedGroup, index: int) -> Any:
    """A named group's rows as a Spark condition, with the pandas path's meaning
    (:func:`auditor.load.named_groups.group_rows`): values compared by their group
    label, missing values never in the group."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    rows = F.lit(True)
    for j, cond in enumerate(group.where):
        column, op, value = str(cond["column"]), cond["op"], cond["value"]
        kind = df.schema[column].dataType
        col = F.col(column)
        present = col.isNotNull()
        if isinstance(kind, T.FractionalType):
            present = present & ~F.isnan(col)
        if op in ("==", "!="):
            label = group_label(value)
            if isinstance(kind, T.NumericType) and not isinstance(kind, T.BooleanType):
                try:
                    number = float(label)
                except ValueError:
                    number = None
                hit = (
                    col.cast("double") == F.lit(number)
                    if number is not None and group_label(number) == label
                    else F.lit(False)
                )
            elif isinstance(kind, T.BooleanType):
                hit = col == F.lit(label == "True") if label in ("True", "False") else F.lit(False)
            else:
                hit = col.cast("string") == F.lit(label)
            hit = F.coalesce(hit, F.lit(False))
            rows = rows & (hit if op == "==" else (present & ~hit))
            continue
        x = col.cast("double")
        numeric = df.where(x.isNotNull() & ~F.isnan(x)).limit(1).count() > 0
        if isinstance(value, bool) or not isinstance(value, int | float) or not numeric:
            raise DataError(
                NAMED_NOT_NUMERIC.format(
                    spec=display_path(spec.source) if spec.source else "the spec",
                    i=index,
                    j=j,
                    op=op,
                    column=column,
                    value=value,
                )
            )
        compared = {"<": x < value, "<=": x <= value, ">": x > value, ">=": x >= value}[op]
        rows = rows & F.coalesce(compared & ~F.isnan(x), F.lit(False))
    return rows


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def read_source(
    spec: AuditSpec, progress: Callable[[str], None]
) -> tuple[str, Any, tuple[str, ...]]:
    """The data in Spark, checked against the spec: (shown name, DataFrame, features)."""
    source = _source(spec)
    spark = spark_session(spec.engine)
    progress(f"reading {source} in Spark")
    df = read_frame(spark, spec)
    check_columns(spec, list(df.columns))
    return source, df, resolve_features(spec, df.columns)


def prepare_spark(
    spec: AuditSpec, *, progress: Callable[[str], None], scorer: Scorer | None = None
) -> Prepared:
    """Reduce the data in Spark to the statistics the pandas path computes.

    A survival, multiclass or regression audit is reduced by
    :func:`auditor.engines.task_spark.prepare_task_spark`.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from auditor.audit import Prepared, check_reference_groups

    if spec.task.id != "binary":
        from auditor.engines.task_spark import prepare_task_spark

        return prepare_task_spark(spec, progress=progress)

    engine = spec.engine
    source, df, features = read_source(spec, progress)
    if scorer is None:
        scorer = load_scorer(spec)

    # labels: the mapping is decided on the driver from the distinct values
    label_counts = df.groupBy(spec.label.column).count().toPandas()
    label_counts.columns = ["value", "count"]
    positives, missing_labels = _label_mapping(spec, label_counts, source)
    if missing_labels and not spec.drop_missing_label:
        raise DataError(
            SPARK_LABEL_MISSING.format(
                source=source, column=spec.label.column, count=missing_labels
            )
        )
    rows_total = int(label_counts["count"].sum())
    df = df.where(F.col(spec.label.column).isNotNull())
    df = df.withColumn(LABEL, F.col(spec.label.column).isin(positives).cast("int"))

    df, attributes, groups = add_group_columns(spec, df, source)

    # scores: a column, or the model on the executors
    if spec.model.score_column is not None:
        df = df.withColumn(SCORE, F.col(spec.model.score_column).cast("double"))
    else:
        schema = T.StructType([*df.schema.fields, T.StructField(SCORE, T.DoubleType())])
        model = scorer

        def score_batches(batches: Any) -> Any:
            for batch in batches:
                batch[SCORE] = np.asarray(model.scores(batch), dtype=np.float64)
                yield batch

        df = df.mapInPandas(score_batches, schema=schema)
    df = df.withColumn(KEY, F.rand(seed=int(spec.seed))).cache()
    try:
        reduced = _reduce(spec, df, attributes, groups, features, source, progress)
    finally:
        df.unpersist()
    stats, counts, sample, binned, reservoir = reduced
    frame = sample.frame
    sensitive = pd.DataFrame(
        {
            n: pd.Categorical(frame[GROUP + n].to_numpy(dtype=object), categories=stats.values[n])
            for n in attributes
        },
        index=frame.index,
    )
    sha, hashes = spark_hashes(spec, source)
    loaded = LoadedData(
        frame=frame.drop(columns=[LABEL, SCORE, *groups]),
        labels=frame[LABEL].to_numpy(dtype=np.int8),
        sensitive=sensitive,
        features=features,
        rows_total=rows_total,
        rows_dropped_missing_label=missing_labels,
        path=Path(spec.data),
        sha256=sha or "",
    )
    check_reference_groups(spec, loaded)
    if spec.model.path is not None:
        hashes["model"] = scorer.sha256  # type: ignore[attr-defined]
    notes = [NOTE_SPARK, NOTE_SPARK_HASH if sha else NOTE_SPARK_UNHASHED.format(source=source)]
    notes.append(NOTE_SAMPLE.format(sample=len(frame)))
    notes.append(
        NOTE_BINNED.format(budget=engine.memory_budget_mb, resolution=engine.score_resolution)
        if binned
        else NOTE_EXACT
    )
    computation = Computation(
        engine="spark",
        score_table="binned" if binned else "exact",
        score_resolution=engine.score_resolution if binned else None,
        sample_rows=len(frame),
        notes=notes,
    )
    from auditor.engines.streaming import search_rows

    return Prepared(
        spec=spec,
        data=loaded,
        scorer=scorer,
        scores=frame[SCORE].to_numpy(dtype=np.float64),
        stats=stats,
        hashes=hashes,
        check_counts=counts,
        computation=computation,
        search_rows=search_rows(
            spec,
            reservoir,
            [LABEL, SCORE, *groups],
            rows=rows_total - missing_labels,
            engine="spark",
        ),
    )


def spark_hashes(spec: AuditSpec, source: str) -> tuple[str | None, dict[str, Any]]:
    """The data's SHA-256 (local files only) and the provenance hashes of a Spark audit."""
    data_hashes = _hash_local_files(spec)
    sha: str | None = None
    if data_hashes:
        only = next(iter(data_hashes.values()))
        sha = only if len(data_hashes) == 1 else combined_sha256(data_hashes)
    hashes: dict[str, Any] = {"data": sha, "data_source": f"spark {source}"}
    if data_hashes is not None and len(data_hashes) > 1:
        hashes["data_files"] = dict(sorted(data_hashes.items()))
    if spec.source is not None:
        hashes["spec"] = spec.source_sha256
    return sha, hashes


def _numeric(df: Any, name: str) -> bool:
    from pyspark.sql import types as T

    return isinstance(df.schema[name].dataType, T.FractionalType)


def _reduce(
    spec: AuditSpec,
    df: Any,
    attributes: list[str],
    groups: list[str],
    features: tuple[str, ...],
    source: str,
    progress: Callable[[str], None],
) -> tuple[SubgroupStats, CheckCounts, ReservoirSample, bool, StratifiedReservoir]:
    """Statistics, check counts and the sample, from the cached, scored frame."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    engine = spec.engine
    progress("reducing in Spark: groupBy(cells, score)")
    bad = df.where(F.col(SCORE).isNull() | F.isnan(SCORE) | (F.col(SCORE) < 0) | (F.col(SCORE) > 1))
    bad_count = bad.count()
    if bad_count:
        raise DataError(
            f"{source}: scores: {bad_count} value(s) are missing, not finite or outside [0, 1]; "
            "scores must be probabilities of the positive class."
        )
    table = df.groupBy(*groups, SCORE).agg(
        F.sum(LABEL).alias("pos"), F.sum(1 - F.col(LABEL)).alias("neg")
    )
    entries = table.count()
    copies = 1 + len(attributes) + len(spec.intersections)  # see StreamReducer
    binned = entries * TABLE_ENTRY_BYTES * copies > engine.memory_budget_mb * 2**20
    if binned:
        binning = ScoreBinning(engine.score_resolution, spec.thresholds)

        def bin_scores(scores: pd.Series) -> pd.Series:
            return pd.Series(binning.apply(scores.to_numpy(dtype=np.float64)))

        to_bin = F.pandas_udf(bin_scores, T.DoubleType())  # type: ignore[call-overload]

        table = (
            table.withColumn(SCORE, to_bin(F.col(SCORE)))
            .groupBy(*groups, SCORE)
            .agg(F.sum("pos").alias("pos"), F.sum("neg").alias("neg"))
        )
    aggregates = table.toPandas()
    if aggregates.empty:
        raise DataError(DATA_EMPTY.format(file=source))
    scores = aggregates[SCORE].to_numpy(dtype=np.float64)
    stats = SubgroupStats.from_aggregates(
        attributes,
        {n: aggregates[GROUP + n].to_numpy(dtype=object) for n in attributes},
        scores,
        aggregates["pos"].to_numpy(dtype=np.int64),
        aggregates["neg"].to_numpy(dtype=np.int64),
    )
    values = {n: group_order(stats.values[n]) for n in attributes}
    stats = SubgroupStats(stats.attributes, stats.cells, values)

    cells, cell_rows, counts = check_counts(df, attributes, groups, values, features, LABEL)
    refuse_identifier_like_sizes(
        {a: g.sizes for a, g in counts.attributes.items()},
        min_cell_size=spec.min_cell_size,
        max_groups=spec.privacy.max_groups,
        file=source,
    )
    check_score_values(np.unique(scores)[:3], output=spec.model.output, source=_score_source(spec))
    overall = stats.table()
    check_label_balance(
        overall.n, overall.n_positive, label_column=spec.label.column, positive=spec.label.positive
    )

    sample, reservoir = draw_sample(spec, df, groups, cells, cell_rows, progress)
    return stats, counts, sample, binned, reservoir


def group_order(seen: Any) -> tuple[str, ...]:
    """Groups as the in-memory loader orders them: sorted, ``(missing)`` last."""
    names = [str(g) for g in seen]
    return tuple(sorted(g for g in names if g != MISSING_GROUP)) + (
        (MISSING_GROUP,) if MISSING_GROUP in names else ()
    )


def check_counts(
    df: Any,
    attributes: list[str],
    groups: list[str],
    values: dict[str, tuple[str, ...]],
    features: tuple[str, ...],
    label: str | None,
) -> tuple[list[tuple[str, ...]], np.ndarray, CheckCounts]:
    """Rows and missing values per finest cell (and per 0/1 outcome in column ``label``,
    when there is one), counted on the executors: the data checks of every row."""
    from pyspark.sql import functions as F

    missing_exprs = [
        F.sum(F.col(f).isNull().cast("long")).alias(f"m{j}") for j, f in enumerate(features)
    ]
    per_cell = df.groupBy(*groups).agg(F.count(F.lit(1)).alias("rows"), *missing_exprs).toPandas()
    cells = [tuple(str(x) for x in row) for row in per_cell[groups].itertuples(index=False)]
    m_cols = [f"m{j}" for j in range(len(features))]
    label_rows: np.ndarray | None = None
    label_missing: np.ndarray | None = None
    if label is not None:
        per_label = (
            df.groupBy(label).agg(F.count(F.lit(1)).alias("rows"), *missing_exprs).toPandas()
        )
        label_rows = np.zeros(2, dtype=np.int64)
        label_missing = np.zeros((2, len(features)), dtype=np.int64)
        for _, row in per_label.iterrows():
            label_rows[int(row[label])] = int(row["rows"])
            label_missing[int(row[label])] = [int(row[c]) for c in m_cols]
    cell_rows = per_cell["rows"].to_numpy(dtype=np.int64)
    counts = counts_from_cells(
        attributes,
        values,
        cells,
        cell_rows,
        per_cell[m_cols].to_numpy(dtype=np.int64).reshape(len(cells), len(features)),
        label_rows=label_rows,
        label_missing=label_missing,
    )
    return cells, cell_rows, counts


def draw_sample(
    spec: AuditSpec,
    df: Any,
    groups: list[str],
    cells: list[tuple[str, ...]],
    cell_rows: np.ndarray,
    progress: Callable[[str], None],
) -> tuple[ReservoirSample, StratifiedReservoir]:
    """The stratified sample: candidates chosen on the executors (each row's uniform
    key among the smallest of its cell or of all rows), the proportional draw on the
    driver. The reservoir also holds the uniform sample discovery reads."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    engine = spec.engine
    progress("collecting the stratified sample")
    capacity = int(np.ceil(SLACK * engine.sample_rows))
    bar_rows = df.select(KEY).orderBy(KEY).limit(capacity).agg(F.max(KEY)).collect()
    bar = bar_rows[0][0] if bar_rows and bar_rows[0][0] is not None else 1.0
    rank = F.row_number().over(Window.partitionBy(*groups).orderBy(KEY))
    wanted = list(dict.fromkeys([*df.columns]))
    candidates = (
        df.withColumn("__rank", rank)
        .where((F.col("__rank") <= PER_CELL) | (F.col(KEY) <= F.lit(bar)))
        .select(*wanted)
        .toPandas()
    )
    cell_ids = {key: i for i, key in enumerate(cells)}
    candidate_cells = np.array(
        [
            cell_ids[tuple(str(x) for x in row)]
            for row in candidates[groups].itertuples(index=False)
        ],
        dtype=np.int64,
    )
    reservoir = StratifiedReservoir(engine.sample_rows, seed=spec.seed)
    reservoir.add(candidates.drop(columns=[KEY]), candidate_cells, candidates[KEY].to_numpy())
    sample = reservoir.sample({i: int(k) for i, k in enumerate(cell_rows.tolist())})
    return sample, reservoir


def _score_source(spec: AuditSpec) -> str:
    if spec.model.score_column is not None:
        return f"score column {spec.model.score_column!r}"
    name = spec.model.path.name if spec.model.path is not None else "the model"
    return f"model {name}"


def _hash_local_files(spec: AuditSpec) -> dict[str, str] | None:
    """SHA-256 of the data files when they are on this machine (not a table, not remote)."""
    if spec.engine.table or "://" in str(spec.data):
        return None
    data = Path(spec.data)
    try:
        files = data_files(data)
    except DataError:
        return None
    if spec.engine.format == "delta":
        files = sorted(p for p in data.rglob("*") if p.is_file())
    return {relative_name(path, data): _sha256_of(path) for path in files}


def _sha256_of(path: Path) -> str:
    import hashlib

    from auditor.load.hashing import open_regular_file

    digest = hashlib.sha256()
    with open_regular_file(path, error=DataError) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
