"""Streaming engine: the same report numbers as the in-memory path, from files in batches."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.audit import build_report, prepare
from auditor.errors import DataError
from auditor.load.spec_loader import parse_spec
from auditor.load.stream import (
    DATA_FOLDER_EMPTY,
    DATA_MIXED_FORMATS,
    DATA_NO_MATCH,
    LABEL_MISSING_STREAMED,
    combined_sha256,
)
from auditor.reduce.reservoir import StratifiedReservoir
from auditor.reduce.stats import reduce_frame
from auditor.reduce.streaming import ScoreBinning, StreamReducer

ROOT = Path(__file__).resolve().parents[1]
SAME_KEYS = (
    "overall",
    "groups",
    "attributes",
    "disparities",
    "fairness_metrics",
    "curves",
    "data_checks",
)


def cohort(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["White", "Black", "Asian", "Other"], rows, p=[0.6, 0.2, 0.15, 0.05])
    sex = rng.choice(["F", "M"], rows)
    logit = -1.5 + (race == "Black") * 0.4 + rng.normal(0, 1, rows)
    outcome = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    score = np.round(1 / (1 + np.exp(-(0.8 * logit + rng.normal(0, 0.5, rows)))), 4)
    lab = rng.normal(1, 0.3, rows)
    lab[rng.random(rows) < np.where(race == "Black", 0.3, 0.1)] = np.nan
    return pd.DataFrame(
        {
            "outcome": outcome,
            "risk": score,
            "race": race,
            "sex": sex,
            "age": rng.integers(18, 90, rows),
            "lab": lab,
        }
    )


def spec_for(data: str, base: Path, **engine: object):
    raw = {
        "name": "stream test",
        "data": data,
        "label": {"column": "outcome", "positive": 1},
        "model": {"score_column": "risk"},
        "features": ["age", "lab"],
        "sensitive": ["race", "sex"],
        "intersections": [["race", "sex"]],
        "threshold": [0.2, 0.35],
        "bootstrap": 40,
        "seed": 3,
    }
    if engine:
        raw["engine"] = engine
    return parse_spec(raw, base_dir=base)


def report_json(spec) -> dict:
    return json.loads(build_report(prepare(spec)).to_json())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("stream")
    frame = cohort(5000)
    frame.to_parquet(base / "all.parquet", index=False)
    frame.to_csv(base / "all.csv", index=False)
    (base / "parts").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(base / "parts" / f"p{i}.parquet", index=False)
    return base


@pytest.fixture(scope="module")
def in_memory(files: Path) -> dict:
    return report_json(spec_for("all.parquet", files, kind="pandas"))


@pytest.mark.parametrize(
    "data",
    ["all.parquet", "all.csv", "parts", "parts/p*.parquet"],
    ids=["parquet", "csv", "folder", "glob"],
)
def test_streamed_numbers_equal_in_memory(files: Path, in_memory: dict, data: str) -> None:
    streamed = report_json(spec_for(data, files, kind="streaming", batch_rows=1000))
    for key in SAME_KEYS:
        assert streamed[key] == in_memory[key], key
    computation = streamed["computation"]
    assert computation["engine"] == "streaming"
    assert computation["score_table"] == "exact"
    assert computation["batches"] >= 3
    assert in_memory["computation"]["engine"] == "pandas"


def test_folder_streams_by_default_and_hashes_every_file(files: Path) -> None:
    spec = spec_for("parts", files)
    prepared = prepare(spec)
    assert prepared.computation is not None and prepared.computation.engine == "streaming"
    expected = {
        f"p{i}.parquet": hashlib.sha256(
            (files / "parts" / f"p{i}.parquet").read_bytes()
        ).hexdigest()
        for i in range(3)
    }
    assert prepared.hashes["data_files"] == expected
    assert prepared.hashes["data"] == combined_sha256(expected)
    line = "".join(f"{k}\0{v}\n" for k, v in sorted(expected.items())).encode()
    assert prepared.hashes["data"] == hashlib.sha256(line).hexdigest()


def test_single_file_streamed_keeps_the_file_hash(files: Path) -> None:
    prepared = prepare(spec_for("all.parquet", files, kind="streaming", batch_rows=1000))
    assert (
        prepared.hashes["data"] == hashlib.sha256((files / "all.parquet").read_bytes()).hexdigest()
    )


def test_sample_is_stratified_and_stated(files: Path) -> None:
    spec = spec_for("all.parquet", files, kind="streaming", batch_rows=1000, sample_rows=500)
    prepared = prepare(spec)
    assert len(prepared.data.frame) == 500
    assert prepared.computation is not None and prepared.computation.sample_rows == 500
    full = cohort(5000)
    share = full.groupby(["race", "sex"]).size() / len(full)
    got = prepared.data.sensitive.astype(str).groupby(["race", "sex"]).size()
    for cell, expected in share.items():
        assert abs(int(got.get(cell, 0)) - 500 * expected) <= 1


def test_binned_when_over_the_memory_budget(files: Path, in_memory: dict) -> None:
    data = files / "cont.parquet"
    frame = cohort(5000)
    frame["risk"] = np.random.default_rng(1).random(5000)  # continuous: all distinct
    frame.to_parquet(data, index=False)
    exact = report_json(spec_for("cont.parquet", files, kind="pandas"))
    spec = spec_for(
        "cont.parquet",
        files,
        kind="streaming",
        batch_rows=1000,
        memory_budget_mb=1,
        score_resolution=0.001,
    )
    binned = report_json(spec)  # 5,000 distinct scores x 4 copies x 96 B > 1 MB
    assert binned["computation"]["score_table"] == "binned"
    assert binned["computation"]["score_resolution"] == 0.001
    by_key = {(str(g["attribute"]), str(g["group"])): g for g in exact["groups"]}
    for group in binned["groups"]:
        reference = by_key[(str(group["attribute"]), str(group["group"]))]
        for metric in ("sensitivity", "specificity", "ppv", "selection_rate"):
            assert group["metrics"][metric]["estimate"] == reference["metrics"][metric]["estimate"]
        assert group["metrics"]["auroc"]["estimate"] == pytest.approx(
            reference["metrics"]["auroc"]["estimate"], abs=0.01
        )


def test_reducer_equals_one_pass() -> None:
    frame = cohort(3000, seed=5)
    sensitive = frame[["race", "sex"]].astype("category")
    labels = frame["outcome"].to_numpy()
    scores = frame["risk"].to_numpy()
    reducer = StreamReducer(["race", "sex"], ["lab"], thresholds=[0.5])
    for part in np.array_split(np.arange(3000), 7):
        missing = frame[["lab"]].iloc[part].isna().to_numpy()
        reducer.add(sensitive.iloc[part], labels[part], scores[part], missing)
    result = reducer.result()
    whole = reduce_frame(sensitive, labels, scores)
    assert result.stats.cells.keys() == whole.cells.keys()
    for key, table in whole.cells.items():
        assert result.stats.cells[key] == table
    assert result.stats.values == whole.values
    assert not result.binned


def test_binning_keeps_thresholds_exact() -> None:
    binning = ScoreBinning(0.01, [0.2, 0.333])
    scores = np.random.default_rng(0).random(10_000)
    scores[:3] = [0.333, 0.33299999, 1.0]
    binned = binning.apply(scores)
    for t in (0.2, 0.333):
        assert np.array_equal(binned >= t, scores >= t)
    assert np.abs(binned - scores).max() <= 0.005 + 1e-12
    assert binned[2] == 1.0


def test_reservoir_is_a_proportional_sample_of_every_cell() -> None:
    rng = np.random.default_rng(0)
    cells = rng.choice(4, 20_000, p=[0.7, 0.2, 0.09, 0.01])
    frame = pd.DataFrame({"row": np.arange(20_000)})
    reservoir = StratifiedReservoir(1000, seed=1, per_cell=20)
    for part in np.array_split(np.arange(20_000), 9):
        reservoir.add(frame.iloc[part], cells[part])
    counts = np.bincount(cells)
    sample = reservoir.sample({i: int(k) for i, k in enumerate(counts)})
    got = np.bincount(sample.cells, minlength=4)
    assert got.sum() == 1000
    assert np.abs(got - 1000 * counts / counts.sum()).max() <= 1
    assert sample.short_cells == 0
    rows = sample.frame["row"].to_numpy()
    assert len(set(rows)) == 1000
    assert np.array_equal(cells[rows], sample.cells)
    again = StratifiedReservoir(1000, seed=1, per_cell=20)
    for part in np.array_split(np.arange(20_000), 9):
        again.add(frame.iloc[part], cells[part])
    assert again.sample({i: int(k) for i, k in enumerate(counts)}).frame.equals(sample.frame)


def _cli(spec: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "audit",
            str(spec),
            "--out",
            str(out),
            "--formats",
            "json",
            "--engine",
            "streaming",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=spec.parent,
    )


def _write_spec(base: Path, data: str) -> Path:
    spec = base / "spec.yaml"
    spec.write_text(
        f"name: t\ndata: {data}\nlabel: {{column: outcome, positive: 1}}\n"
        "model: {score_column: risk}\nsensitive: [race, sex]\nbootstrap: 20\n"
    )
    return spec


def test_glob_matching_nothing_is_exit_2(tmp_path: Path) -> None:
    done = _cli(_write_spec(tmp_path, "nothing/*.parquet"), tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: " + DATA_NO_MATCH.format(
        pattern="nothing/*.parquet", spec="spec.yaml"
    )


def test_empty_folder_and_mixed_formats_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    spec = _write_spec(tmp_path, "empty")
    done = _cli(spec, tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: " + DATA_FOLDER_EMPTY.format(
        folder="empty", spec="spec.yaml"
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cohort(50).to_parquet(mixed / "a.parquet", index=False)
    cohort(50).to_csv(mixed / "b.csv", index=False)
    with pytest.raises(DataError) as caught:
        prepare(spec_for("mixed", tmp_path))
    assert str(caught.value) == DATA_MIXED_FORMATS.format(
        data=str(mixed), first="a.parquet", other="b.csv"
    )


def test_missing_label_in_a_later_batch_names_file_and_row(tmp_path: Path) -> None:
    frame = cohort(3000)
    frame["outcome"] = frame["outcome"].astype("float")
    frame.loc[2500, "outcome"] = np.nan
    frame.to_parquet(tmp_path / "gap.parquet", index=False)
    with pytest.raises(DataError) as caught:
        prepare(spec_for("gap.parquet", tmp_path, kind="streaming", batch_rows=1000))
    assert str(caught.value) == LABEL_MISSING_STREAMED.format(
        file=str(tmp_path / "gap.parquet"), column="outcome", rows="2501"
    )
    dropped = prepare(
        parse_spec(
            {
                **spec_for("gap.parquet", tmp_path).raw,
                "drop_missing_label": True,
                "engine": {"kind": "streaming", "batch_rows": 1000},
            },
            base_dir=tmp_path,
        )
    )
    assert dropped.data.rows_dropped_missing_label == 1
    assert dropped.stats.table().n == 2999


def test_auto_streams_a_large_parquet_file_and_keeps_small_ones_in_memory(files: Path) -> None:
    large = prepare(spec_for("all.parquet", files, batch_rows=1000))  # 5,000 rows > 2 batches
    assert large.computation is not None and large.computation.engine == "streaming"
    small = prepare(spec_for("all.parquet", files))  # default batch: one batch
    assert small.computation is None
    assert len(small.data.frame) == 5000
