"""An attacker reads a multiclass (and a survival) audit's published figures (every
group of every view: sizes, rates × sizes, shown confusion cells, event counts) and
solves for each group's hidden small counts by linear programming; no count from 1 to
m − 1 is pinned. A control run with complementary suppression off shows the same attack
does recover one."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from auditor.privacy.publish import published_group
from auditor.tasks import task_def
from auditor.tasks.base import reduce_rows
from auditor.tasks.measure import measure_task, published_groups

M = 11
CLASSES = ["1", "2", "3"]


def cohort(seed: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    n = 420
    sex = rng.choice(["f", "m"], n, p=[0.45, 0.55])
    band = rng.choice(["young", "old"], n, p=[0.6, 0.4])
    y = rng.choice(3, n, p=[0.08, 0.5, 0.42])
    noise = rng.random(n)
    pred = np.where(noise < 0.7, y, rng.choice(3, n))
    proba = np.full((n, 3), 0.1)
    proba[np.arange(n), pred] = 0.8
    sensitive = pd.DataFrame({"sex": pd.Categorical(sex), "band": pd.Categorical(band)})
    columns = {"label": y.astype(float), **{f"p_{i}": proba[:, i] for i in range(3)}}
    return sensitive, columns


def measured(seed: int, complementary: bool):
    sensitive, columns = cohort(seed)
    stats = reduce_rows(sensitive, columns)
    task = task_def("multiclass")
    return stats, measure_task(
        task,
        stats,
        settings={"classes": CLASSES, "ordered": True},
        views=[("sex",), ("band",), ("sex", "band")],
        bootstrap=0,
        min_cell_size=M,
        complementary=complementary,
    )


Figures = list[tuple[object, object, int | None, dict[str, float]]]
Matrices = list[tuple[object, object, list[list[int | None]]]]


def from_measurement(measurement) -> tuple[Figures, Matrices]:
    """What the in-memory published measurement shows (the notebook API)."""
    overall = measurement.overall
    shown_overall = published_group(
        overall, measurement.privacy(overall.attribute, overall.group), measurement.plan.threshold
    )
    figures = [
        (
            g.attribute,
            g.group,
            None if g.suppressed else g.n,
            {m: e.estimate for m, e in g.metrics.items() if e.estimate is not None},
        )
        for g in [shown_overall, *published_groups(measurement)]
    ]
    matrices = [(c.attribute, c.group, c.counts) for c in measurement.curves.confusion]
    return figures, matrices


def from_report(report: dict) -> tuple[Figures, Matrices]:
    """What report.json shows (every other face renders this published report)."""
    figures = [
        (
            g["attribute"],
            g["group"],
            None if g.get("suppressed") else g.get("n"),
            {
                m: e["estimate"]
                for m, e in g.get("metrics", {}).items()
                if e.get("estimate") is not None
            },
        )
        for g in [report["overall"], *report["groups"]]
    ]
    matrices = [(c["attribute"], c["group"], c["counts"]) for c in report["curves"]["confusion"]]
    return figures, matrices


def attack(
    truth: dict[tuple[str, ...], np.ndarray],
    attrs: list[str],
    figures: Figures,
    matrices: Matrices,
    classes: list[str],
) -> list[tuple[str, int, float, float]]:
    """(what, true count, low, high) of every small count 1..M-1 the reader can pin.

    Unknowns: each finest cell's (true, predicted) counts; every published size,
    rate × size and confusion cell is an equation. ``truth``: each finest cell's
    confusion matrix (to know which counts are small, never used as an equation)."""
    fine = list(truth)
    k = len(classes)
    n_vars = len(fine) * k * k

    def vec(attribute, group, pairs):
        if attribute in (None, "all patients") or group in (None, "all patients"):
            names, values = [], []
        else:
            names = [attribute] if isinstance(attribute, str) else list(attribute)
            values = [group] if isinstance(group, str) else list(group)
        row = np.zeros(n_vars)
        for c, key in enumerate(fine):
            if all(key[attrs.index(a)] == v for a, v in zip(names, values)):
                for i, j in pairs:
                    row[(c * k + i) * k + j] = 1
        return row

    every = [(i, j) for i in range(k) for j in range(k)]
    diag = [(i, i) for i in range(k)]
    under = [p for p in every if p[1] > p[0]]
    over = [p for p in every if p[1] < p[0]]
    sets = {
        "accuracy": (diag, every),
        "under_triage_rate": (under, every),
        "over_triage_rate": (over, every),
    }
    for c, cls in enumerate(classes):
        sets[f"ovr_sensitivity_{cls}"] = ([(c, c)], [(c, j) for j in range(k)])
        sets[f"ovr_ppv_{cls}"] = ([(c, c)], [(i, c) for i in range(k)])
    a_eq, b_eq = [], []
    for attribute, group, n, metrics in figures:
        if n is None:
            continue
        a_eq.append(vec(attribute, group, every))
        b_eq.append(float(n))
        for metric, value in metrics.items():
            if metric in sets:
                num, den = sets[metric]
                a_eq.append(vec(attribute, group, num) - value * vec(attribute, group, den))
                b_eq.append(0.0)
    for attribute, group, counts in matrices:
        for i, row in enumerate(counts):
            for j, v in enumerate(row):
                if v is not None:
                    a_eq.append(vec(attribute, group, [(i, j)]))
                    b_eq.append(float(v))
    a, b = np.array(a_eq), np.array(b_eq)
    found = []
    views = [()] + [(x,) for x in attrs] + ([tuple(attrs)] if len(attrs) > 1 else [])
    for v in views:
        index = [attrs.index(x) for x in v]
        keys = sorted({tuple(key[i] for i in index) for key in fine})
        for key in keys:
            cm = sum(truth[f] for f in fine if all(f[i] == x for i, x in zip(index, key)))
            attribute = list(v) if len(v) > 1 else (v[0] if v else None)
            group = list(key) if len(key) > 1 else (key[0] if key else None)
            named = [
                ("correct", diag),
                ("under", under),
                ("over", over),
                *((f"class {c}", [(c, j) for j in range(k)]) for c in range(k)),
                *((f"predicted {c}", [(i, c) for i in range(k)]) for c in range(k)),
                *((f"cell {p}", [p]) for p in every),
            ]
            for what, pairs in named:
                true = int(sum(cm[i, j] for i, j in pairs))
                if not 0 < true < M:
                    continue
                target = vec(attribute, group, pairs)
                lo = linprog(target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
                hi = linprog(-target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
                assert lo.status == 0 and hi.status == 0, what  # the figures are consistent
                low, high = lo.fun, -hi.fun
                assert low <= true + 1e-6 and high >= true - 1e-6, what
                if math.floor(high + 1e-6) - math.ceil(low - 1e-6) < 1:
                    found.append((f"{v}={key}: {what}", true, low, high))
    return found


def truth_of(stats) -> dict[tuple[str, ...], np.ndarray]:
    from auditor.tasks.multiclass import confusion

    ctx = task_def("multiclass").context(
        stats.groups(())[()], {"classes": CLASSES, "ordered": True}
    )
    return {key: np.rint(confusion(t, ctx)).astype(int) for key, t in stats.cells.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_small_multiclass_count_is_recovered_across_views(seed):
    stats, measurement = measured(seed, complementary=True)
    figures, matrices = from_measurement(measurement)
    assert attack(truth_of(stats), list(stats.attributes), figures, matrices, CLASSES) == []
    # what is withheld says why
    reasons = {
        why
        for g in published_groups(measurement)
        for why in measurement.privacy(g.attribute, g.group).withheld.values()
    }
    assert any("subtraction" in r for r in reasons)


def test_control_without_complementary_suppression_leaks():
    leaks = []
    for seed in (0, 1, 2):
        stats, measurement = measured(seed, complementary=False)
        figures, matrices = from_measurement(measurement)
        leaks += attack(truth_of(stats), list(stats.attributes), figures, matrices, CLASSES)
    assert leaks, "the attack should recover a small count when only primary suppression runs"


def test_no_small_count_is_recovered_from_the_example_report_faces(tmp_path):
    """The bundled ordinal example, audited end to end: report.json (which every other
    face renders) gives no small count back; the Markdown and HTML confusion matrices show
    no cell that report.json withholds."""
    import json

    import yaml

    from auditor.load.examples import EXAMPLE_DIR
    from tests.test_cli import run

    source = EXAMPLE_DIR / "multiclass"
    raw = yaml.safe_load((source / "spec.yaml").read_text())
    raw["data"] = str(source / "audit_cohort.csv")
    raw["model"]["path"] = str(source / "model.skops")
    raw.update(bootstrap=0, explain={"enabled": False}, intersections=[["sex", "age_band"]])
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = tmp_path / "out"
    result = run("audit", spec, "--out", out, "--formats", "json,md")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads((out / "report.json").read_text())
    data = pd.read_csv(source / "audit_cohort.csv")
    proba = data[[f"p{c}" for c in range(1, 6)]].to_numpy()
    pred = proba.argmax(axis=1)
    y = data["y"].to_numpy() - 1
    attrs = ["sex", "age_band"]
    truth: dict[tuple[str, ...], np.ndarray] = {}
    for key, rows in data.groupby(attrs).groups.items():
        cm = np.zeros((5, 5), dtype=int)
        np.add.at(cm, (y[rows], pred[rows]), 1)
        truth[tuple(str(x) for x in key)] = cm
    figures, matrices = from_report(report)
    assert attack(truth, attrs, figures, matrices, ["1", "2", "3", "4", "5"]) == []
    # the Markdown summary shows exactly report.json's confusion cells, withheld ones as a
    # dash (never "<11": a cell withheld to protect another may hold more)
    summary = (out / "summary.md").read_text()
    for attribute, group, counts in matrices:
        for row in counts:
            cells = " | ".join("—" if v is None else str(v) for v in row)
            assert cells in summary, (attribute, group, row)
    assert f"<{report['min_cell_size']}" not in summary.split("Confusion matrix", 1)[1]


def survival_pins(complementary: bool) -> tuple[list[tuple[object, object]], int]:
    """(pinned small counts, small counts checked) of a survival audit's published
    patients and events by the horizon, attacked across views."""
    rng = np.random.default_rng(4)
    n = 360
    sex = rng.choice(["f", "m"], n, p=[0.4, 0.6])
    band = rng.choice(["young", "old"], n, p=[0.7, 0.3])
    rate = np.where(band == "old", 0.45, 0.04)  # few events among the young
    time = np.where(rng.random(n) < rate, rng.uniform(1, 19, n), rng.uniform(21, 40, n))
    event = time < 20
    sensitive = pd.DataFrame({"sex": pd.Categorical(sex), "band": pd.Categorical(band)})
    stats = reduce_rows(
        sensitive, {"time": time, "event": event.astype(float), "risk": rng.random(n)}
    )
    measurement = measure_task(
        task_def("survival"),
        stats,
        settings={"horizon": 20.0},
        views=[("sex",), ("band",), ("sex", "band")],
        thresholds=[0.5],
        bootstrap=0,
        min_cell_size=M,
        complementary=complementary,
    )
    fine = list(stats.cells)
    attrs = list(stats.attributes)
    n_vars = 2 * len(fine)  # per finest cell: events by the horizon, the others

    def vec(attribute, group, which):
        if attribute in (None, "all patients") or group in (None, "all patients"):
            names, values = [], []
        else:
            names = [attribute] if isinstance(attribute, str) else list(attribute)
            values = [group] if isinstance(group, str) else list(group)
        row = np.zeros(n_vars)
        for c, key in enumerate(fine):
            if all(key[attrs.index(a)] == v for a, v in zip(names, values)):
                for w in which:
                    row[2 * c + w] = 1
        return row

    overall = measurement.overall
    shown = [
        published_group(
            overall,
            measurement.privacy(overall.attribute, overall.group),
            measurement.plan.threshold,
        ),
        *published_groups(measurement),
    ]
    a_eq, b_eq = [], []
    for g in shown:
        if g.suppressed or g.n is None:
            continue
        a_eq.append(vec(g.attribute, g.group, [0, 1]))
        b_eq.append(float(g.n))
        events = g.metrics.get("n_events")
        if events is not None and events.estimate is not None:
            a_eq.append(vec(g.attribute, g.group, [0]))
            b_eq.append(float(events.estimate))
    a, b = np.array(a_eq), np.array(b_eq)
    early = event & (time <= 20.0)
    checked = 0
    pins = []
    for v in [(), ("sex",), ("band",), ("sex", "band")]:
        columns = [sensitive[x].astype(str).to_numpy() for x in v]
        keys = sorted(set(zip(*columns))) if v else [()]
        for key in keys:
            rows = np.ones(n, dtype=bool)
            for col, value in zip(columns, key):
                rows &= col == value
            attribute = list(v) if len(v) > 1 else (v[0] if v else None)
            group = list(key) if len(key) > 1 else (key[0] if key else None)
            for which, true in (
                ([0], int((early & rows).sum())),
                ([1], int((~early & rows).sum())),
            ):
                if not 0 < true < M:
                    continue
                target = vec(attribute, group, which)
                lo = linprog(target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
                hi = linprog(-target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
                assert lo.status == 0 and hi.status == 0
                if math.floor(-hi.fun + 1e-6) - math.ceil(lo.fun - 1e-6) < 1:
                    pins.append((v, key))
                checked += 1
    return pins, checked


def test_no_small_survival_event_count_is_recovered_across_views():
    """Survival publishes patients and events by the horizon per group (the binary plan's
    programme protects them); the attacker subtracts across attributes, intersections
    and everyone, and pins no event or event-free count from 1 to m − 1."""
    pins, checked = survival_pins(complementary=True)
    assert checked > 0 and pins == []
    control, _ = survival_pins(complementary=False)
    assert control, "with primary suppression only, the same attack recovers a count"


def survival_threshold_pins(
    complementary: bool, seed: int, bands: bool = True
) -> tuple[list[object], int]:
    """(pinned small counts, small counts checked): the attacker reads every shown
    group's patients, events by the horizon, sensitivity, specificity and PPV at the
    threshold (each rate a linear constraint on the flagged and unflagged cases and
    non-cases; no censoring before the horizon, so the IPCW rates are plain ratios) and
    solves for each group's flagged/unflagged case and non-case counts."""
    rng = np.random.default_rng(seed)
    n = 420
    sex = rng.choice(["f", "m"], n, p=[0.4, 0.6])
    band = rng.choice(["young", "mid", "old"], n, p=[0.5, 0.3, 0.2])
    rate = np.select([band == "old", band == "mid"], [0.5, 0.25], 0.08)
    time = np.where(rng.random(n) < rate, rng.uniform(1, 19, n), rng.uniform(21, 40, n))
    event = time < 20
    risk = np.clip(rng.normal(np.where(event, 0.45, 0.3), 0.2), 0, 1)
    sensitive = pd.DataFrame({"sex": pd.Categorical(sex), "band": pd.Categorical(band)})
    stats = reduce_rows(sensitive, {"time": time, "event": event.astype(float), "risk": risk})
    threshold = 0.5
    task = task_def("survival")
    measurement = measure_task(
        task if bands else dataclasses.replace(task, threshold_bands=None),
        stats,
        settings={"horizon": 20.0},
        views=[("sex",), ("band",), ("sex", "band")],
        thresholds=[threshold],
        bootstrap=0,
        min_cell_size=M,
        complementary=complementary,
    )
    fine = list(stats.cells)
    attrs = list(stats.attributes)
    width = 4  # per finest cell: flagged case, unflagged case, flagged non-case, unflagged non-case
    n_vars = width * len(fine)

    def vec(attribute, group, which):
        if attribute in (None, "all patients") or group in (None, "all patients"):
            names, values = [], []
        else:
            names = [attribute] if isinstance(attribute, str) else list(attribute)
            values = [group] if isinstance(group, str) else list(group)
        row = np.zeros(n_vars)
        for c, key in enumerate(fine):
            if all(key[attrs.index(a)] == v for a, v in zip(names, values)):
                for w in which:
                    row[width * c + w] = 1
        return row

    overall = measurement.overall
    shown = [
        published_group(
            overall,
            measurement.privacy(overall.attribute, overall.group),
            measurement.plan.threshold,
        ),
        *published_groups(measurement),
    ]
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    rates = {"sensitivity_t": ([0], [0, 1]), "specificity_t": ([3], [2, 3]), "ppv_t": ([0], [0, 2])}
    for g in shown:
        if g.suppressed or g.n is None:
            continue
        a_eq.append(vec(g.attribute, g.group, [0, 1, 2, 3]))
        b_eq.append(float(g.n))
        events = g.metrics.get("n_events")
        if events is not None and events.estimate is not None:
            a_eq.append(vec(g.attribute, g.group, [0, 1]))
            b_eq.append(float(events.estimate))
        for metric, (top, bottom) in rates.items():
            est = g.metrics.get(metric)
            if est is None or est.estimate is None:
                continue
            value = est.estimate
            tol = 5e-4 if abs(value * 1000 - round(value * 1000)) < 1e-9 else 1e-9
            num, den = vec(g.attribute, g.group, top), vec(g.attribute, g.group, bottom)
            a_ub.append(num - (value + tol) * den)  # num <= (value + tol) den
            b_ub.append(0.0)
            a_ub.append((value - tol) * den - num)  # num >= (value - tol) den
            b_ub.append(0.0)
    flagged = risk >= threshold
    cells = [event & flagged, event & ~flagged, ~event & flagged, ~event & ~flagged]
    checked, pins = 0, []
    for v in [(), ("sex",), ("band",), ("sex", "band")]:
        columns = [sensitive[x].astype(str).to_numpy() for x in v]
        keys = sorted(set(zip(*columns))) if v else [()]
        for key in keys:
            rows = np.ones(n, dtype=bool)
            for col, value in zip(columns, key):
                rows &= col == value
            attribute = list(v) if len(v) > 1 else (v[0] if v else None)
            group = list(key) if len(key) > 1 else (key[0] if key else None)
            for w, cell in enumerate(cells):
                true = int((cell & rows).sum())
                if not 0 < true < M:
                    continue
                target = vec(attribute, group, [w])
                kw = {"A_eq": np.array(a_eq), "b_eq": np.array(b_eq), "bounds": (0, None)}
                if a_ub:
                    kw |= {"A_ub": np.array(a_ub), "b_ub": np.array(b_ub)}
                lo = linprog(target, method="highs", **kw)
                hi = linprog(-target, method="highs", **kw)
                assert lo.status == 0 and hi.status == 0
                if math.floor(-hi.fun + 1e-6) - math.ceil(lo.fun - 1e-6) < 1:
                    pins.append((v, key, w, true))
                checked += 1
    return pins, checked


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_small_survival_threshold_count_is_recovered_across_views(seed):
    """Sensitivity, specificity and PPV at the threshold count flagged and missed
    patients; the plan checks them across views as it does a binary audit's."""
    pins, checked = survival_threshold_pins(complementary=True, seed=seed)
    assert checked > 0 and pins == []


def test_survival_threshold_control_leaks_without_the_cross_view_check():
    """Without the threshold bands in the plan (each group checked on its own counts
    only), the same attack recovers a count."""
    leaked = [survival_threshold_pins(True, seed=s, bands=False)[0] for s in (1, 2, 3)]
    assert any(leaked), "without the cross-view check, the attack recovers a count"
