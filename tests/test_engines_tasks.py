"""Survival, multiclass and regression audits on the streaming engine: the same numbers
as the pandas engine on the same data, batch by batch; coarsened past the memory
budget with the report saying so; named groups and discovery on every engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from auditor.audit import build_report, prepare
from auditor.load.examples import EXAMPLE_DIR
from auditor.load.spec_loader import parse_spec
from auditor.reduce.reservoir import StratifiedReservoir
from auditor.reduce.task_streaming import RowCoarsening, TaskStreamReducer, round_relative
from auditor.tasks.base import RowTable, reduce_rows
from tests.test_streaming import SAME_KEYS, cohort

TASKS = ("survival", "multiclass", "regression")


def numbers_equal(value, other, path="", tol=1e-9) -> None:
    """Equal structure; floats equal to ``tol``."""
    if isinstance(value, dict):
        assert value.keys() == other.keys(), path
        for k in value:
            numbers_equal(value[k], other[k], f"{path}.{k}", tol)
    elif isinstance(value, list):
        assert len(value) == len(other), path
        for i, (a, b) in enumerate(zip(value, other, strict=True)):
            numbers_equal(a, b, f"{path}[{i}]", tol)
    elif isinstance(value, float) and isinstance(other, float):
        assert other == pytest.approx(value, abs=tol, nan_ok=True), path
    else:
        assert value == other, path


def task_raw(task: str, folder: Path, data: str) -> dict:
    """The bundled example's spec (its model file scored per batch) on ``data``."""
    source = EXAMPLE_DIR / task
    raw = yaml.safe_load((source / "spec.yaml").read_text())
    raw["data"] = data
    if "path" in raw["model"]:
        raw["model"]["path"] = str(source / "model.skops")
    raw["bootstrap"] = 30
    raw["explain"] = {"enabled": False}
    return raw


def task_spec(task: str, folder: Path, data: str, *, batch_rows: int | None = None, **engine):
    raw = task_raw(task, folder, data)
    if engine:
        raw["engine"] = engine
    spec = parse_spec(raw, base_dir=folder)
    if batch_rows is not None:  # below the schema's minimum, to get many batches
        spec = dataclasses.replace(
            spec, engine=dataclasses.replace(spec.engine, **_small(batch_rows))
        )
    return spec


def _small(batch_rows: int) -> dict:
    return {"batch_rows": batch_rows}


@pytest.fixture(scope="module")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each example as one Parquet file and as a folder of three."""
    base = tmp_path_factory.mktemp("task_stream")
    for task in TASKS:
        frame = pd.read_csv(EXAMPLE_DIR / task / "audit_cohort.csv")
        frame.to_parquet(base / f"{task}.parquet", index=False)
        (base / task).mkdir()
        for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
            frame.iloc[part].to_parquet(base / task / f"p{i}.parquet", index=False)
    return base


def report_json(spec) -> dict:
    return json.loads(build_report(prepare(spec)).to_json())


@pytest.mark.parametrize("task", TASKS)
def test_streamed_task_equals_the_pandas_engine(task_files: Path, task: str) -> None:
    in_memory = report_json(task_spec(task, task_files, f"{task}.parquet", kind="pandas"))
    streamed = report_json(task_spec(task, task_files, task, batch_rows=61, kind="streaming"))
    for key in SAME_KEYS:
        numbers_equal(in_memory[key], streamed[key], key)
    computation = streamed["computation"]
    assert computation["engine"] == "streaming" and computation["score_table"] == "exact"
    assert computation["files"] == 3 and computation["batches"] >= 4
    assert in_memory["overall"]["n"] == streamed["overall"]["n"]


@pytest.mark.parametrize("task", TASKS)
def test_streamed_task_past_the_budget_is_coarsened_and_says_so(
    task_files: Path, task: str
) -> None:
    """A budget nothing fits: the tables are coarsened down to the coarsest resolution,
    the report says so, no patient is lost and the estimates stay close."""
    from auditor.audit import measure_prepared
    from auditor.reduce.task_streaming import COARSEST

    exact = prepare(task_spec(task, task_files, f"{task}.parquet", kind="pandas"))
    spec = task_spec(task, task_files, f"{task}.parquet", batch_rows=97, kind="streaming")
    spec = dataclasses.replace(spec, engine=dataclasses.replace(spec.engine, memory_budget_mb=0))
    coarse = prepare(spec)
    assert coarse.computation is not None
    assert coarse.computation.score_table == "binned"
    assert coarse.computation.score_resolution == COARSEST
    notes = " ".join(coarse.computation.notes)
    assert "memory budget (0 MB)" in notes and "coarsest resolution (0.01)" in notes
    overall = exact.stats.groups(())[()]  # type: ignore[union-attr]
    shrunk = coarse.stats.groups(())[()]  # type: ignore[union-attr]
    assert shrunk.n == overall.n  # no patient is lost
    assert shrunk.count.size < overall.count.size
    a = measure_prepared(exact, bootstrap=0)
    b = measure_prepared(coarse, bootstrap=0)
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert ga.n == gb.n
        for metric, e in ga.metrics.items():
            x, y = e.estimate, gb.metrics[metric].estimate
            if x is not None and y is not None:
                assert y == pytest.approx(x, rel=0.1, abs=0.05), (ga.group, metric)


@pytest.mark.parametrize("task", ["multiclass", "regression", "survival"])
def test_coarsening_again_equals_coarsening_once(task: str) -> None:
    """Bins nest: a table coarsened at 1e-4 then 1e-3 is the table coarsened at 1e-3."""
    rng = np.random.default_rng(3)
    n = 2000
    if task == "multiclass":
        p = rng.dirichlet(np.ones(3), n)
        columns = {"label": rng.integers(0, 3, n), **{f"p_{i}": p[:, i] for i in range(3)}}
    elif task == "regression":
        columns = {
            "label": rng.lognormal(2, 2, n) * rng.choice([-1, 1], n),
            "prediction": rng.normal(0, 50, n),
        }
    else:
        columns = {
            "time": rng.integers(0, 2000, n) / 7.0,
            "event": rng.integers(0, 2, n),
            "risk": rng.random(n),
        }
    table = RowTable.from_arrays(columns)

    def at(resolution: float) -> RowCoarsening:
        return RowCoarsening(task, resolution=resolution, thresholds=[0.25], horizon=365.0)

    twice = at(1e-3).table(at(1e-4).table(table))
    once = at(1e-3).table(table)
    assert np.array_equal(twice.count, once.count)
    for c in once.columns:
        np.testing.assert_allclose(twice.columns[c], once.columns[c], rtol=1e-12, atol=1e-12)


def test_survival_coarsening_keeps_every_status_at_the_horizon() -> None:
    rng = np.random.default_rng(4)
    horizon = 365.0
    time = np.concatenate([rng.uniform(0, 1000, 5000), [horizon, horizon - 1e-9, 0.0]])
    coarse = RowCoarsening("survival", resolution=1e-3, thresholds=[0.2], horizon=horizon)
    rounded = coarse.apply("time", time)
    assert np.array_equal(rounded <= horizon, time <= horizon)
    assert np.all(rounded >= time - 1e-9 * 1e-3 * horizon)
    assert np.all(rounded - time <= 1e-3 * horizon + 1e-9)
    assert np.unique(rounded).size <= 1000 / (1e-3 * horizon) + 2
    risk = rng.random(5000)
    binned = coarse.apply("risk", risk)
    assert np.array_equal(binned >= 0.2, risk >= 0.2)  # who is predicted positive is kept


def test_regression_rounding_is_relative() -> None:
    x = np.array([0.0, 1234.5678, -0.012345678, 7.0, 99999.99, -10.0])
    rounded = round_relative(x, 1e-3)
    assert rounded[0] == 0.0
    magnitude = 10.0 ** np.floor(np.log10(np.abs(x[1:])))
    assert np.all(np.abs(rounded[1:] - x[1:]) <= 0.5e-3 * magnitude + 1e-12)
    # the midpoint stays in the value's decade, with its sign
    assert np.array_equal(np.floor(np.log10(np.abs(rounded[1:]))), np.log10(magnitude))
    assert np.array_equal(np.sign(rounded), np.sign(x))


def test_task_reducer_merges_batches_into_one_pass() -> None:
    rng = np.random.default_rng(0)
    n = 900
    groups = pd.DataFrame(
        {"site": pd.Categorical(rng.choice(["a", "b", "c"], n)), "sex": rng.choice(["F", "M"], n)}
    )
    columns = {"label": rng.integers(0, 4, n).astype(float), "prediction": rng.integers(0, 5, n)}
    whole = reduce_rows(groups, columns)
    reducer = TaskStreamReducer(
        ["site", "sex"],
        [],
        task="regression",
        thresholds=[0.5],
        memory_budget_bytes=2**30,
    )
    for part in np.array_split(np.arange(n), 7):
        reducer.add_rows(
            groups.iloc[part].reset_index(drop=True),
            {k: v[part] for k, v in columns.items()},
            np.zeros((part.size, 0), bool),
            None,
        )
    stats, counts = reducer.task_result()
    assert stats.cells.keys() == whole.cells.keys()
    for key, table in whole.cells.items():
        other = stats.cells[key]
        assert np.array_equal(other.count, table.count)
        for c in table.columns:
            assert np.array_equal(other.columns[c], table.columns[c])
    assert counts.rows == n and counts.label_rows is None
    assert list(stats.groups(("site",))) == [("a",), ("b",), ("c",)]


def test_coarsening_commutes_with_merging() -> None:
    rng = np.random.default_rng(2)
    coarse = RowCoarsening("multiclass", resolution=1e-2, thresholds=[])

    def table(size: int) -> RowTable:
        p = rng.dirichlet(np.ones(3), size)
        return RowTable.from_arrays(
            {"label": rng.integers(0, 3, size), **{f"p_{i}": p[:, i] for i in range(3)}}
        )

    a, b = table(300), table(200)
    left = coarse.table(a.merge(b))
    right = coarse.table(a).merge(coarse.table(b))
    for c in left.columns:
        assert np.array_equal(left.columns[c], right.columns[c])
    assert np.array_equal(left.count, right.count) and left.n == 500


def test_uniform_sample_is_the_smallest_keys_of_every_row() -> None:
    """The stratified sample keeps small cells whole; the uniform one does not."""
    rng = np.random.default_rng(1)
    reservoir = StratifiedReservoir(100, seed=0, per_cell=64)
    keys_all, cells_all, ids_all = [], [], []
    for start in range(0, 5000, 700):
        size = min(700, 5000 - start)
        ids = np.arange(start, start + size)
        cells = (rng.random(size) < 0.02).astype(np.int64)  # cell 1: about 2% of rows
        keys = rng.random(size)
        reservoir.add(pd.DataFrame({"id": ids}), cells, keys)
        keys_all.append(keys)
        cells_all.append(cells)
        ids_all.append(ids)
    keys = np.concatenate(keys_all)
    ids = np.concatenate(ids_all)
    uniform = reservoir.uniform(100)
    assert list(uniform["id"]) == list(ids[np.argsort(keys)[:100]])
    cells = np.concatenate(cells_all)
    stratified_small = int((reservoir._kept["__reservoir_cell"] == 1).sum())  # type: ignore[index]
    assert stratified_small == min(64, int((cells == 1).sum()))
    assert int(np.isin(uniform["id"], ids[cells == 1]).sum()) < 20


NAMED = [
    {"name": "older", "where": [{"column": "age", "op": ">=", "value": 60}]},
    {
        "name": "black women",
        "where": [
            {"column": "race", "op": "==", "value": "Black"},
            {"column": "sex", "op": "==", "value": "F"},
        ],
    },
]


def test_named_groups_stream_like_in_memory(tmp_path: Path) -> None:
    from tests.test_streaming import spec_for

    frame = cohort(3000, seed=5)
    frame.to_parquet(tmp_path / "c.parquet", index=False)
    memory = spec_for("c.parquet", tmp_path, kind="pandas")
    stream = spec_for("c.parquet", tmp_path, kind="streaming", batch_rows=1000)
    named = parse_spec({**memory.raw, "named_groups": NAMED}, base_dir=tmp_path).named_groups
    a = report_json(dataclasses.replace(memory, named_groups=named))
    b = report_json(dataclasses.replace(stream, named_groups=named))
    for key in SAME_KEYS:
        numbers_equal(a[key], b[key], key)
    shown = {str(g["attribute"]) for g in b["groups"]}
    assert {"older", "black women"} <= shown


def test_streamed_task_keeps_a_uniform_sample_for_discovery(task_files: Path) -> None:
    """Discovery of a task (once the spec allows it) reads a uniform sample, with the
    event by the horizon as its outcome, never the stratified frame."""
    from auditor.load.spec import DiscoverSpec

    spec = task_spec("survival", task_files, "survival.parquet", kind="streaming")
    spec = dataclasses.replace(spec, discover=None)
    assert prepare(spec).search_rows is None  # only kept when asked for
    engine = dataclasses.replace(spec.engine, sample_rows=120, batch_rows=50)
    spec = dataclasses.replace(spec, discover=DiscoverSpec(), engine=engine)
    prepared = prepare(spec)
    rows = prepared.search_rows
    assert rows is not None and rows.engine == "streaming"
    assert len(rows.frame) == 120 and rows.rows_total == prepared.data.rows_total
    assert not any(c.startswith("__auditor_") for c in rows.frame.columns)
    horizon = spec.task.horizon
    frame = rows.frame
    expected = (frame["fstat"] == 1) & (frame["lenfol"] <= horizon)
    assert np.array_equal(rows.labels, expected.to_numpy().astype(np.int8))
    np.testing.assert_array_equal(rows.scores, prepared.scorer.scores(frame))


@pytest.mark.parametrize("task", TASKS)
def test_a_streamed_task_audit_searches_its_sample(task_files: Path, task: str) -> None:
    """Task discovery on the streaming engine: the task's own metrics on the uniform
    sample's statistic columns, and the section says which rows were searched."""
    from auditor.audit import discover_prepared
    from auditor.load.spec import DiscoverSpec, default_discover_metrics

    spec = task_spec(task, task_files, f"{task}.parquet", kind="streaming")
    engine = dataclasses.replace(spec.engine, batch_rows=100)
    metrics = default_discover_metrics(task, bool(spec.task.ordered))
    discover = DiscoverSpec(metrics=metrics, max_depth=1, min_size=40, min_events=5)
    spec = dataclasses.replace(spec, discover=discover, engine=engine)
    prepared = prepare(spec)
    rows = prepared.search_rows
    assert rows is not None and rows.columns is not None
    assert set(rows.columns) == set(prepared.stats.names)
    assert all(len(v) == len(rows.frame) for v in rows.columns.values())
    section = discover_prepared(prepared)
    assert section is not None and section.searched.cohorts_evaluated > 0
    assert section.searched.rows_search + section.searched.rows_confirm == len(rows.frame)
    assert "uniform random sample of" in section.summary
    expected = {"survival": "c_index", "multiclass": "under_triage_rate", "regression": "mae"}
    assert expected[task] in section.searched.metrics
