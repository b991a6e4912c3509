"""Spark engine (local[2]): the same report numbers as the pandas path, to 1e-12."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from auditor.audit import build_report, prepare
from auditor.errors import DataError
from auditor.load.spec_loader import parse_spec
from tests.test_streaming import SAME_KEYS, cohort

# Under CI (which installs both) a missing PySpark or Java fails instead of skipping.
if not os.environ.get("CI"):
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark", allow_module_level=True)

LOCAL = {"kind": "spark", "master": "local[2]"}


@pytest.fixture(scope="module")
def spark():
    from auditor.engines.spark import spark_session
    from auditor.load.spec import EngineSpec

    session = spark_session(EngineSpec(kind="spark", master="local[2]"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("spark")
    frame = cohort(4000, seed=7)
    frame.loc[frame.index[:40], "sex"] = None  # a (missing) group
    frame.to_parquet(base / "cohort.parquet", index=False)
    return base


def _spec(base: Path, engine: dict, **extra: object):
    raw = {
        "name": "spark test",
        "data": "cohort.parquet",
        "label": {"column": "outcome", "positive": 1},
        "model": {"score_column": "risk"},
        "features": ["age", "lab"],
        "sensitive": ["race", "sex"],
        "intersections": [["race", "sex"]],
        "threshold": [0.2, 0.35],
        "bootstrap": 40,
        "seed": 3,
        "engine": engine,
        **extra,
    }
    return parse_spec(raw, base_dir=base)


def _numbers(value, other, path="") -> None:
    """Equal structure; floats equal to 1e-12."""
    if isinstance(value, dict):
        assert value.keys() == other.keys(), path
        for k in value:
            _numbers(value[k], other[k], f"{path}.{k}")
    elif isinstance(value, list):
        assert len(value) == len(other), path
        for i, (a, b) in enumerate(zip(value, other)):
            _numbers(a, b, f"{path}[{i}]")
    elif isinstance(value, float) and isinstance(other, float):
        assert other == pytest.approx(value, abs=1e-12, nan_ok=True), path
    else:
        assert value == other, path


def test_spark_equals_pandas(spark, data: Path) -> None:
    pandas_report = json.loads(build_report(prepare(_spec(data, {"kind": "pandas"}))).to_json())
    prepared = prepare(_spec(data, LOCAL))
    spark_report = json.loads(build_report(prepared).to_json())
    for key in SAME_KEYS:
        _numbers(pandas_report[key], spark_report[key], key)
    computation = spark_report["computation"]
    assert computation["engine"] == "spark"
    assert computation["score_table"] == "exact"
    assert computation["sample_rows"] == 4000  # the sample budget exceeds the data
    assert prepared.hashes["data"] == pandas_report["provenance"]["sha256"]["data"]


def test_spark_scores_a_model_on_the_executors(spark, tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = cohort(1500, seed=2)
    frame["lab"] = frame["lab"].fillna(1.0)
    model = LogisticRegression().fit(frame[["age", "lab"]], frame["outcome"])
    sio.dump(model, tmp_path / "model.skops")
    frame.to_parquet(tmp_path / "cohort.parquet", index=False)
    raw = {
        "name": "model on executors",
        "data": "cohort.parquet",
        "label": {"column": "outcome", "positive": 1},
        "model": {"path": "model.skops"},
        "features": ["age", "lab"],
        "sensitive": ["race"],
        "threshold": 0.2,
        "bootstrap": 0,
        "explain": {"enabled": False},
    }
    pandas_stats = prepare(
        parse_spec({**raw, "engine": {"kind": "pandas"}}, base_dir=tmp_path)
    ).stats
    spark_stats = prepare(parse_spec({**raw, "engine": LOCAL}, base_dir=tmp_path)).stats
    assert spark_stats.cells.keys() == pandas_stats.cells.keys()
    for key, table in pandas_stats.cells.items():
        other = spark_stats.cells[key]
        np.testing.assert_allclose(other.scores, table.scores, rtol=0, atol=1e-12)
        assert np.array_equal(other.pos, table.pos) and np.array_equal(other.neg, table.neg)


def test_spark_bad_path_is_a_clear_error(spark, tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        prepare(_spec(tmp_path, LOCAL))
    assert str(caught.value).startswith(f"{tmp_path / 'cohort.parquet'}: Spark cannot read it (")


@pytest.mark.parametrize("task", ["survival", "multiclass", "regression"])
def test_spark_task_equals_pandas(spark, tmp_path: Path, task: str) -> None:
    """groupBy(cells, outcome, outputs).count() is the per-cell distinct-row table: the
    report's numbers equal the pandas engine's (the example's model scored on the
    executors)."""
    import pandas as pd

    from tests.test_engines_tasks import EXAMPLE_DIR, numbers_equal, task_spec

    pd.read_csv(EXAMPLE_DIR / task / "audit_cohort.csv").to_parquet(
        tmp_path / "c.parquet", index=False
    )
    memory = json.loads(build_report(prepare(task_spec(task, tmp_path, "c.parquet"))).to_json())
    prepared = prepare(task_spec(task, tmp_path, "c.parquet", **LOCAL))
    distributed = json.loads(build_report(prepared).to_json())
    for key in SAME_KEYS:
        numbers_equal(memory[key], distributed[key], key)
    assert distributed["computation"]["engine"] == "spark"
    assert distributed["computation"]["score_table"] == "exact"
    assert prepared.hashes.get("model") == memory["provenance"]["sha256"].get("model")


def test_spark_coarsens_past_the_budget_as_streaming_does(spark, tmp_path: Path) -> None:
    import dataclasses

    import pandas as pd

    from tests.test_engines_tasks import EXAMPLE_DIR, task_spec

    pd.read_csv(EXAMPLE_DIR / "regression" / "audit_cohort.csv").to_parquet(
        tmp_path / "c.parquet", index=False
    )
    tables = {}
    for engine in (LOCAL, {"kind": "streaming"}):
        spec = task_spec("regression", tmp_path, "c.parquet", **engine)
        spec = dataclasses.replace(
            spec, engine=dataclasses.replace(spec.engine, memory_budget_mb=0)
        )
        prepared = prepare(spec)
        assert prepared.computation is not None
        assert prepared.computation.score_table == "binned"
        tables[engine["kind"]] = prepared.stats.cells  # type: ignore[union-attr]
    assert tables["spark"].keys() == tables["streaming"].keys()
    for key, table in tables["streaming"].items():
        other = tables["spark"][key]
        assert np.array_equal(other.count, table.count)
        for c in table.columns:
            np.testing.assert_allclose(other.columns[c], table.columns[c], rtol=1e-12)


def test_spark_named_groups_and_discovery(spark, tmp_path: Path) -> None:
    """Named groups are Spark column expressions (the pandas engine's groups); discovery
    searches a uniform random sample of every row and finds the planted cohort."""
    from auditor.audit import discover_prepared
    from auditor.discover.synthetic import synthetic_cohort

    frame, labels, scores = synthetic_cohort(
        6000, seed=1, planted="age ≥ 80 and site = B", strength=0.8
    )
    frame["outcome"] = labels
    frame["score"] = scores
    frame.to_parquet(tmp_path / "planted.parquet", index=False)
    raw = {
        "name": "planted",
        "data": "planted.parquet",
        "label": {"column": "outcome", "positive": 1},
        "model": {"score_column": "score"},
        "features": ["age", "comorbidity", "language", "bmi"],
        "sensitive": ["sex", "site"],
        "threshold": 0.2,
        "bootstrap": 20,
        "explain": {"enabled": False},
        "discover": {"max_depth": 2},
        "named_groups": [
            {
                "name": "old in B",
                "where": [
                    {"column": "age", "op": ">=", "value": 80},
                    {"column": "site", "op": "==", "value": "B"},
                ],
            },
            {"name": "not es", "where": [{"column": "language", "op": "!=", "value": "es"}]},
        ],
    }
    memory = json.loads(build_report(prepare(parse_spec(raw, base_dir=tmp_path))).to_json())
    engine = {**LOCAL, "sample_rows": 4000}
    prepared = prepare(parse_spec({**raw, "engine": engine}, base_dir=tmp_path))
    assert "old in B" in prepared.stats.attributes
    memory_groups = [g for g in memory["groups"] if g["attribute"] in ("old in B", "not es")]
    spark_report = json.loads(build_report(prepared).to_json())
    spark_groups = [g for g in spark_report["groups"] if g["attribute"] in ("old in B", "not es")]
    assert len(memory_groups) == 4
    _numbers(memory_groups, spark_groups)
    found = discover_prepared(prepared)
    assert found is not None
    assert "age ≥ 80 and site = B" in [c.description for c in found.cohorts]
    assert "uniform random sample of 4,000 of 6,000 rows" in found.summary
