"""Patients, not rows, for the survival, multiclass and regression tasks (spec ``cluster``):
the bootstrap resamples patients within strata, and sizes and the floor count patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.measure.measurement import NOTE_CLUSTERS, NOTE_SPANNING
from auditor.reduce.clusters import reduce_clusters
from auditor.tasks import task_def
from auditor.tasks.base import reduce_rows
from auditor.tasks.measure import _cluster_replicates, _replicates, _seed, measure_task

REGRESSION = task_def("regression")
SURVIVAL = task_def("survival")


def _clusters(sens, columns, pid, labels=None):
    n = len(pid)
    y = np.zeros(n, dtype=np.int8) if labels is None else labels
    from dataclasses import replace

    return replace(reduce_clusters(sens, y, np.zeros(n), pid), columns=columns)


def _regression_patients(n_patients=500, seed=0, groups=("a",)):
    """Patients with 1-6 encounters whose outcome and error share a patient effect."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(1, 7, n_patients)
    pid = np.repeat(np.arange(n_patients), visits)
    effect = rng.normal(0, 3.0, n_patients)[pid]
    bias = rng.normal(0, 2.0, n_patients)[pid]
    y = np.round(5 + effect + rng.normal(0, 1, pid.size), 1)
    p = np.round(5 + 0.8 * effect + bias + rng.normal(0, 0.5, pid.size), 1)
    group = rng.choice(list(groups), n_patients)[pid]
    return pd.DataFrame({"g": group}), {"label": y, "prediction": p}, pid


def _metrics(task, names):
    return [task.metrics[m] for m in names]


def test_regression_cluster_bootstrap_has_the_spread_of_a_patient_bootstrap():
    sens, cols, pid = _regression_patients()
    stats = reduce_rows(sens, cols)
    clusters = _clusters(sens, cols, pid)
    metrics = _metrics(REGRESSION, ("mae", "mean_error", "mean_label"))
    ctxs = {0.5: None}
    tables = {(): stats.groups(())}
    clustered = _cluster_replicates(tables, stats.names, metrics, ctxs, 400, 0, clusters)[()][()]
    rows = _replicates(tables[()][()], metrics, ctxs, 400, _seed(0, (), ()))
    rng = np.random.default_rng(1)
    order = np.argsort(pid, kind="stable")
    starts = np.searchsorted(pid[order], np.arange(pid.max() + 1))
    ends = np.r_[starts[1:], pid.size]
    y, p = cols["label"], cols["prediction"]
    brute: dict[str, list[float]] = {"mae": [], "mean_error": [], "mean_label": []}
    for _ in range(400):
        drawn = rng.integers(0, pid.max() + 1, pid.max() + 1)
        idx = np.concatenate([order[starts[i] : ends[i]] for i in drawn])
        brute["mae"].append(np.mean(np.abs(p[idx] - y[idx])))
        brute["mean_error"].append(np.mean(p[idx] - y[idx]))
        brute["mean_label"].append(np.mean(y[idx]))
    for metric, values in brute.items():
        sd_cluster = np.std(clustered[(metric, 0.5)])
        assert sd_cluster == pytest.approx(np.std(values), rel=0.2), metric
        # encounters resampled as independent rows understate it
        assert np.std(rows[(metric, 0.5)]) < 0.8 * sd_cluster, metric


def test_survival_cluster_bootstrap_has_the_spread_of_a_patient_bootstrap():
    """Observed risk by the horizon (1 − Kaplan–Meier) over patients with repeated
    episodes sharing a frailty: the clustered spread matches a brute-force one."""
    rng = np.random.default_rng(4)
    n_patients = 400
    visits = rng.integers(1, 5, n_patients)
    pid = np.repeat(np.arange(n_patients), visits)
    frailty = np.exp(rng.normal(0, 1.0, n_patients))[pid]
    time = np.round(rng.exponential(400 / frailty), 0)
    censor = np.round(rng.uniform(50, 900, pid.size), 0)
    event = (time <= censor).astype(float)
    t = np.minimum(time, censor)
    risk = np.round(1 - np.exp(-frailty * 365 / 400), 3)
    cols = {"time": t, "event": event, "risk": risk}
    sens = pd.DataFrame({"g": np.array(["a"] * pid.size)})
    stats = reduce_rows(sens, cols)
    labels = ((event == 1) & (t <= 365)).astype(np.int8)
    clusters = _clusters(sens, cols, pid, labels)
    overall = stats.groups(())[()]
    ctx = SURVIVAL.context(overall, {"horizon": 365.0, "threshold": 0.5, "min_cell_size": 11})
    metrics = _metrics(SURVIVAL, ("observed_risk_t", "brier_t"))
    tables = {(): stats.groups(())}
    clustered = _cluster_replicates(tables, stats.names, metrics, {0.5: ctx}, 300, 0, clusters)
    series = clustered[()][()]
    order = np.argsort(pid, kind="stable")
    starts = np.searchsorted(pid[order], np.arange(n_patients))
    ends = np.r_[starts[1:], pid.size]
    brute: dict[str, list[float]] = {"observed_risk_t": [], "brier_t": []}
    rng = np.random.default_rng(2)
    from auditor.tasks.base import RowTable

    for _ in range(300):
        drawn = rng.integers(0, n_patients, n_patients)
        idx = np.concatenate([order[starts[i] : ends[i]] for i in drawn])
        table = RowTable.from_arrays({c: v[idx] for c, v in cols.items()})
        for m in metrics:
            brute[m.id].append(m.fn(table, ctx)[0])
    for metric, values in brute.items():
        assert np.std(series[(metric, 0.5)]) == pytest.approx(np.std(values), rel=0.2), metric


def test_a_patient_spanning_cells_is_drawn_whole():
    """Every patient has the same encounter in cell x and in cell y: a replicate draws
    both or neither, so the two cells' replicate means are always equal."""
    rng = np.random.default_rng(3)
    p = 300
    pid = np.repeat(np.arange(p), 2)
    y = np.repeat(np.round(rng.normal(5, 2, p), 1), 2)
    pred = np.repeat(np.round(rng.normal(5, 2, p), 1), 2)
    sens = pd.DataFrame({"h": np.tile(["x", "y"], p)})
    cols = {"label": y, "prediction": pred}
    stats = reduce_rows(sens, cols)
    clusters = _clusters(sens, cols, pid)
    assert clusters.spanning() == p
    metrics = _metrics(REGRESSION, ("mean_label", "mae"))
    tables = {("h",): stats.groups(("h",))}
    reps = _cluster_replicates(tables, stats.names, metrics, {0.5: None}, 100, 5, clusters)
    x, yy = reps[("h",)][("x",)], reps[("h",)][("y",)]
    np.testing.assert_array_equal(x[("mean_label", 0.5)], yy[("mean_label", 0.5)])
    assert np.std(x[("mae", 0.5)]) > 0
    m = measure_task(REGRESSION, stats, settings={}, views=["h"], bootstrap=20, clusters=clusters)
    assert NOTE_SPANNING.format(count=p) in m.notes


def test_sizes_count_patients_and_estimates_stay():
    sens, cols, pid = _regression_patients(groups=("a", "b"))
    stats = reduce_rows(sens, cols)
    clusters = _clusters(sens, cols, pid)
    plain = measure_task(REGRESSION, stats, settings={}, views=["g"], bootstrap=200, seed=2)
    clustered = measure_task(
        REGRESSION, stats, settings={}, views=["g"], bootstrap=200, seed=2, clusters=clusters
    )
    for a, b in zip([plain.overall, *plain.groups], [clustered.overall, *clustered.groups]):
        members = pid if a.group == "all patients" else pid[sens["g"].to_numpy() == a.group]
        assert b.n == np.unique(members).size
        assert b.n_encounters == a.n == members.size
        assert a.n_encounters is None
        for mid, est in a.metrics.items():
            if mid == "n":
                continue
            assert b.metrics[mid].estimate == est.estimate, mid
        ours, theirs = b.metrics["mae"], a.metrics["mae"]
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
    cols = {
        "label": np.round(rng.normal(5, 2, pid.size), 1),
        "prediction": np.round(rng.normal(5, 2, pid.size), 1),
    }
    sens = pd.DataFrame({"g": group})
    stats = reduce_rows(sens, cols)
    plain = measure_task(REGRESSION, stats, settings={}, views=["g"], bootstrap=0)
    clustered = measure_task(
        REGRESSION,
        stats,
        settings={},
        views=["g"],
        bootstrap=0,
        clusters=_clusters(sens, cols, pid),
    )
    assert plain.privacy("g", "rare") is None or not plain.privacy("g", "rare").suppressed
    privacy = clustered.privacy("g", "rare")
    assert privacy is not None and privacy.suppressed


def test_survival_events_are_counted_by_patient():
    """A group whose events by the horizon come from 4 patients (with 3 episodes each)
    has its outcome figures withheld, although it holds 12 event rows."""
    rng = np.random.default_rng(7)
    n = 600
    pid = np.r_[np.repeat(np.arange(4), 3), np.arange(4, 4 + n)]
    group = np.r_[["b"] * 12, rng.choice(["a", "b"], n, p=[0.5, 0.5])]
    event = np.r_[np.ones(12), np.zeros(n)]
    time = np.r_[np.full(12, 100.0), rng.uniform(400, 900, n).round()]
    other = rng.random(n) < 0.3
    event[12:][other & (group[12:] == "a")] = 1
    time[12:][other & (group[12:] == "a")] = 200
    risk = np.round(rng.random(pid.size), 3)
    cols = {"time": time, "event": event, "risk": risk}
    sens = pd.DataFrame({"g": group})
    stats = reduce_rows(sens, cols)
    labels = ((event == 1) & (time <= 365)).astype(np.int8)
    clusters = _clusters(sens, cols, pid, labels)
    settings = {"horizon": 365.0}
    plain = measure_task(SURVIVAL, stats, settings=settings, views=["g"], bootstrap=0)
    clustered = measure_task(
        SURVIVAL, stats, settings=settings, views=["g"], bootstrap=0, clusters=clusters
    )
    assert plain.privacy("g", "b") is None or plain.privacy("g", "b").labels_shown
    privacy = clustered.privacy("g", "b")
    assert privacy is not None and privacy.status == "label_withheld"
