"""An attacker reads a multiclass audit's published figures (every group of every view:
sizes, rates × sizes, shown confusion cells) and solves for each group's hidden small
counts by linear programming; no count from 1 to m − 1 is pinned. A control run with
complementary suppression off shows the same attack does recover one."""

from __future__ import annotations

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
    sensitive = pd.DataFrame(
        {"sex": pd.Categorical(sex), "band": pd.Categorical(band)}
    )
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


def attack(stats, measurement) -> list[tuple[str, int, float, float]]:
    """(what, true count, low, high) of every hidden small count the reader can pin."""
    from auditor.tasks.multiclass import confusion

    ctx = task_def("multiclass").context(
        stats.groups(())[()], {"classes": CLASSES, "ordered": True}
    )
    fine = list(stats.cells)
    k = len(CLASSES)
    n_vars = len(fine) * k * k
    attrs = list(stats.attributes)

    def vec(attribute, group, pairs):
        names = [attribute] if isinstance(attribute, str) else list(attribute or [])
        values = [group] if isinstance(group, str) else list(group or [])
        if attribute is None or attribute == "all patients" or group == "all patients":
            names, values = [], []
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
    sets = {"accuracy": diag, "under_triage_rate": under, "over_triage_rate": over}
    for c, cls in enumerate(CLASSES):
        sets[f"ovr_sensitivity_{cls}"] = ([(c, c)], [(c, j) for j in range(k)])
        sets[f"ovr_ppv_{cls}"] = ([(c, c)], [(i, c) for i in range(k)])
    a_eq, b_eq = [], []
    overall = measurement.overall
    shown_overall = published_group(
        overall, measurement.privacy(overall.attribute, overall.group), measurement.plan.threshold
    )
    groups = [shown_overall, *published_groups(measurement)]
    for g in groups:
        if g.suppressed or g.n is None:
            continue
        a_eq.append(vec(g.attribute, g.group, every))
        b_eq.append(float(g.n))
        for metric, est in g.metrics.items():
            if metric not in sets or est.estimate is None:
                continue
            num, den = sets[metric] if isinstance(sets[metric], tuple) else (sets[metric], every)
            a_eq.append(vec(g.attribute, g.group, num) - est.estimate * vec(g.attribute, g.group, den))
            b_eq.append(0.0)
    for cm in measurement.curves.confusion:
        for i, row in enumerate(cm.counts):
            for j, v in enumerate(row):
                if v is not None:
                    a_eq.append(vec(cm.attribute, cm.group, [(i, j)]))
                    b_eq.append(float(v))
    found = []
    targets = []
    views = [(), ("sex",), ("band",), ("sex", "band")]
    for v in views:
        for key, table in stats.groups(v).items():
            attribute = list(v) if len(v) > 1 else (v[0] if v else "all patients")
            group = list(key) if len(key) > 1 else (key[0] if key else "all patients")
            cm = np.rint(confusion(table, ctx)).astype(int)
            cells = [((i, j), cm[i, j]) for i in range(k) for j in range(k)]
            named = [
                ("correct", diag), ("under", under), ("over", over),
                *((f"class {c}", [(c, j) for j in range(k)]) for c in range(k)),
                *((f"predicted {c}", [(i, c) for i in range(k)]) for c in range(k)),
                *((f"cell {p}", [p]) for p, _ in cells),
            ]
            for what, pairs in named:
                true = int(sum(cm[i, j] for i, j in pairs))
                if 0 < true < M:
                    targets.append((f"{v}={key}: {what}", true, vec(attribute, group, pairs)))
    a = np.array(a_eq)
    b = np.array(b_eq)
    for what, true, target in targets:
        lo = linprog(target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        hi = linprog(-target, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        assert lo.status == 0 and hi.status == 0, what  # the published figures are consistent
        low, high = lo.fun, -hi.fun
        assert low <= true + 1e-6 and high >= true - 1e-6, what
        if math.floor(high + 1e-6) - math.ceil(low - 1e-6) < 1:
            found.append((what, true, low, high))
    return found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_small_multiclass_count_is_recovered_across_views(seed):
    stats, measurement = measured(seed, complementary=True)
    assert attack(stats, measurement) == []
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
        leaks += attack(stats, measurement)
    assert leaks, "the attack should recover a small count when only primary suppression runs"
