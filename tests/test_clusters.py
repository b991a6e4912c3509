"""Patients, not rows: the cluster bootstrap (spec ``cluster``) and patient counts."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from load_helpers import make_cohort, write_cohort, write_spec

from auditor.errors import DataError
from auditor.load.spec_loader import load_spec
from auditor.measure.bootstrap import resample
from auditor.measure.measurement import NOTE_CLUSTERS, NOTE_SPANNING, measure
from auditor.measure.metrics import METRICS
from auditor.reduce.clusters import PATIENT_IDS_MISSING, reduce_clusters
from auditor.reduce.stats import bin_stats, reduce_frame
from reports.model import SCHEMA_VERSION


def _patients(n_patients=600, seed=0, groups=("a",)):
    """Patients with 1-6 encounters whose outcome and score share a patient effect."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(1, 7, n_patients)
    pid = np.repeat(np.arange(n_patients), visits)
    effect = rng.normal(0, 1.5, n_patients)[pid]
    group = rng.choice(list(groups), n_patients)[pid]
    logit = -1.0 + effect
    y = (rng.random(pid.size) < 1 / (1 + np.exp(-logit))).astype(int)
    s = np.round(1 / (1 + np.exp(-(logit + rng.normal(0, 0.7, pid.size)))), 3)
    return pd.DataFrame({"g": group}), y, s, pid


METRICS_USED = [METRICS["brier"], METRICS["sensitivity"], METRICS["prevalence"]]


def test_cluster_bootstrap_has_the_spread_of_a_patient_bootstrap():
    sens, y, s, pid = _patients()
    stats = reduce_frame(sens, y, s)
    binned = bin_stats(stats, bins=2000, thresholds=[0.5])
    clusters = reduce_clusters(sens, y, s, pid)
    wanted = {(): {(): METRICS_USED}}
    clustered = resample(binned, wanted, [0.5], 400, seed=0, clusters=clusters)[()][()]
    rows = resample(binned, wanted, [0.5], 400, seed=0)[()][()]
    rng = np.random.default_rng(1)
    order = np.argsort(pid, kind="stable")
    starts = np.searchsorted(pid[order], np.arange(pid.max() + 1))
    ends = np.r_[starts[1:], pid.size]
    brute = {"brier": [], "sensitivity": [], "prevalence": []}
    for _ in range(400):
        drawn = rng.integers(0, pid.max() + 1, pid.max() + 1)
        idx = np.concatenate([order[starts[p] : ends[p]] for p in drawn])
        yy, ss = y[idx], s[idx]
        brute["brier"].append(np.mean((ss - yy) ** 2))
        brute["sensitivity"].append(((ss >= 0.5) & (yy == 1)).sum() / yy.sum())
        brute["prevalence"].append(yy.mean())
    for metric, values in brute.items():
        sd_cluster = np.std(clustered[(metric, 0.5)])
        assert sd_cluster == pytest.approx(np.std(values), rel=0.2), metric
        # encounters resampled as independent rows understate it
        assert np.std(rows[(metric, 0.5)]) < 0.9 * sd_cluster, metric


def test_a_patient_spanning_cells_is_drawn_whole():
    """Every patient has one encounter in cell x and one in cell y: each replicate draws a
    patient with both, so the two cells always hold the same number of encounters."""
    rng = np.random.default_rng(3)
    p = 400
    pid = np.repeat(np.arange(p), 2)
    cell = np.tile(["x", "y"], p)
    s = np.round(rng.random(2 * p), 3)
    y = (rng.random(2 * p) < s).astype(int)
    sens = pd.DataFrame({"h": cell})
    stats = reduce_frame(sens, y, s)
    clusters = reduce_clusters(sens, y, s, pid)
    assert clusters.spanning() == p
    binned = bin_stats(stats, bins=100, thresholds=[0.5])
    count = [METRICS["n"], METRICS["n_positive"]]
    wanted = {("h",): {("x",): count, ("y",): count}}
    reps = resample(binned, wanted, [0.5], 200, seed=5, clusters=clusters)[("h",)]
    nx, ny = reps[("x",)][("n", 0.5)], reps[("y",)][("n", 0.5)]
    np.testing.assert_array_equal(nx, ny)
    px, py = reps[("x",)][("n_positive", 0.5)], reps[("y",)][("n_positive", 0.5)]
    assert np.std(px) > 0 and not np.array_equal(px, py)
    m = measure(stats, views=["h"], bootstrap=50, clusters=clusters)
    assert NOTE_SPANNING.format(count=p) in m.notes


def test_sizes_count_patients_and_estimates_stay():
    sens, y, s, pid = _patients(groups=("a", "b"))
    stats = reduce_frame(sens, y, s)
    clusters = reduce_clusters(sens, y, s, pid)
    plain = measure(stats, views=["g"], bootstrap=400, seed=2)
    clustered = measure(stats, views=["g"], bootstrap=400, seed=2, clusters=clusters)
    for a, b in zip([plain.overall, *plain.groups], [clustered.overall, *clustered.groups]):
        members = pid if a.group == "all patients" else pid[sens["g"].to_numpy() == a.group]
        assert b.n == np.unique(members).size
        assert b.n_encounters == a.n == members.size
        assert a.n_encounters is None
        for mid, est in a.metrics.items():
            assert b.metrics[mid].estimate == est.estimate, mid
        ours, theirs = b.metrics["brier"], a.metrics["brier"]
        assert ours.ci_high - ours.ci_low > theirs.ci_high - theirs.ci_low
    note = NOTE_CLUSTERS.format(
        patients=np.unique(pid).size, encounters=pid.size, column="patient_id"
    )
    assert note in clustered.notes


def test_the_small_cell_floor_counts_patients():
    """40 encounters of 5 patients: enough rows, too few patients."""
    rng = np.random.default_rng(0)
    pid = np.r_[np.repeat(np.arange(5), 8), np.arange(5, 405)]
    group = np.r_[["rare"] * 40, rng.choice(["c1", "c2"], 400)]
    s = np.round(rng.random(pid.size), 3)
    y = (rng.random(pid.size) < s).astype(int)
    sens = pd.DataFrame({"g": group})
    stats = reduce_frame(sens, y, s)
    plain = measure(stats, views=["g"], bootstrap=0)
    clustered = measure(stats, views=["g"], bootstrap=0, clusters=reduce_clusters(sens, y, s, pid))
    assert plain.privacy("g", "rare") is None or not plain.privacy("g", "rare").suppressed
    privacy = clustered.privacy("g", "rare")
    assert privacy is not None and privacy.suppressed
    assert clustered.published().groups[[g.group for g in clustered.groups].index("rare")].n is None


def test_missing_patient_id_is_a_data_error():
    sens = pd.DataFrame({"g": ["a", "a", "b"]})
    with pytest.raises(DataError) as err:
        reduce_clusters(
            sens,
            np.array([0, 1, 0]),
            np.array([0.1, 0.2, 0.3]),
            pd.Series(["p1", None, "p2"]),
            column="mrn",
            file="cohort.csv",
        )
    assert str(err.value) == PATIENT_IDS_MISSING.format(
        file="cohort.csv", column="mrn", count=1, rows="2"
    )


def _cohort_with_patients(folder: Path) -> Path:
    frame = make_cohort(900, seed=4)
    frame["mrn"] = [f"P{i // 3}" for i in range(len(frame))]
    frame["race"] = frame.groupby("mrn")["race"].transform("first")
    return write_cohort(folder, frame)


def test_audit_with_cluster_writes_patients_and_encounters(tmp_path: Path) -> None:
    _cohort_with_patients(tmp_path)
    spec = write_spec(tmp_path, cluster="mrn", bootstrap=60, threshold=0.2)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "audit",
            str(spec),
            "--out",
            str(out),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 1), run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["provenance"]["bootstrap_cluster"] == "mrn"
    overall = report["overall"]
    assert overall["n"] == 300 and overall["n_encounters"] == 900
    shown = [g for g in report["groups"] if "n" in g]
    assert shown and all(g["n_encounters"] >= g["n"] for g in shown)
    assert any("Patients, not encounters" in note for note in report["notes"])
    assert "mrn" not in (report["explanations"].get("features") or [])
    assert load_spec(spec).cluster == "mrn"


def test_cluster_column_missing_from_data_exits_2(tmp_path: Path) -> None:
    write_cohort(tmp_path, make_cohort(200))
    spec = write_spec(tmp_path, cluster="mrn", bootstrap=0)
    run = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", str(spec), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "'mrn'" in run.stderr and "$.cluster" in run.stderr
    assert "Traceback" not in run.stderr


def test_cluster_on_a_sampling_engine_is_refused_not_ignored(tmp_path: Path) -> None:
    """The streaming and Spark engines keep a sample, not every encounter: a spec asking
    for the patient bootstrap there exits 2 naming $.cluster (it was silently ignored)."""
    _cohort_with_patients(tmp_path)
    spec = write_spec(tmp_path, cluster="mrn", bootstrap=0, engine={"kind": "streaming"})
    run = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", str(spec), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert "$.cluster" in run.stderr and "streaming engine" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "o").exists()


def test_auto_engine_keeps_a_clustered_audit_in_memory(tmp_path: Path) -> None:
    from auditor.audit import engine_kind

    frame = make_cohort(2400, seed=4)  # more than two batches of the schema's smallest
    frame["mrn"] = [f"P{i // 3}" for i in range(len(frame))]
    frame.to_parquet(tmp_path / "cohort.parquet", index=False)
    spec = load_spec(
        write_spec(
            tmp_path,
            data="cohort.parquet",
            cluster="mrn",
            engine={"kind": "auto", "batch_rows": 1000},
        )
    )
    assert engine_kind(spec) == "pandas"
    assert engine_kind(dataclasses.replace(spec, cluster=None)) == "streaming"
