"""Small-cell suppression: thresholds at 10/11/12 patients, one event, complements."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditor.measure.measurement import measure
from auditor.privacy.suppression import (
    MIN_CELL_SIZE_INVALID,
    SUPPRESSED_COMPLEMENTARY,
    SUPPRESSED_OWN,
    SUPPRESSED_PARENT,
    SUPPRESSED_SMALL,
    WITHHELD_COMPLEMENTARY,
    WITHHELD_NEGATIVES,
    WITHHELD_POSITIVES,
    Counts,
    check_min_cell_size,
    plan_suppression,
)
from auditor.reduce.stats import reduce_frame


def c(n: int, pos: int | None = None) -> Counts:
    pos = n // 2 if pos is None else pos
    return Counts(n, pos, n - pos)


def statuses(plan, view):
    return {k: p.status for k, p in plan[view].items()}


@pytest.mark.parametrize(("n", "status"), [(10, "suppressed"), (11, "shown"), (12, "shown")])
def test_group_size_at_the_threshold(n, status):
    # two more small groups so complementary suppression does not interfere
    view = {
        ("A",): c(1000, 400),
        ("B",): c(n, n // 2 if n > 10 else 5),
        ("C",): c(10, 5),
        ("D",): c(10, 5),
        ("E",): c(10, 5),
    }
    plan = plan_suppression({("g",): view}, 11)
    privacy = plan[("g",)][("B",)]
    if status == "suppressed":
        assert privacy.status == "suppressed"
        assert privacy.reason == SUPPRESSED_SMALL.format(m=11) == "fewer than 11 patients"
    else:
        # 11 or 12 patients: shown, but 5-6 positives are too few for label metrics
        assert privacy.status == "label_withheld"


@pytest.mark.parametrize(
    ("pos", "neg", "status", "reason"),
    [
        (1, 500, "label_withheld", WITHHELD_POSITIVES),
        (10, 500, "label_withheld", WITHHELD_POSITIVES),
        (11, 500, "shown", None),
        (500, 10, "label_withheld", WITHHELD_NEGATIVES),
        # 10 and 10 of 20: both bounded by 10 and adding up to 20, so both would be
        # exact: the size is suppressed too, for the group's own sake
        (10, 10, "suppressed", SUPPRESSED_OWN),
    ],
)
def test_events_at_the_threshold(pos, neg, status, reason):
    plan = plan_suppression(
        {
            ("g",): {
                ("A",): Counts(pos + neg, pos, neg),
                ("B",): c(900, 300),
                ("C",): c(800, 6),
                ("D",): c(700, 5),
            }
        },
        11,
    )
    p = plan[("g",)][("A",)]
    assert p.status == status
    assert p.reason == (reason.format(m=11) if reason else None)


def test_complementary_suppression_hides_the_next_smallest():
    view = {("A",): c(500), ("B",): c(40), ("C",): c(8), ("D",): c(300)}
    plan = plan_suppression({("g",): view}, 11)
    assert statuses(plan, ("g",)) == {
        ("A",): "shown",
        ("B",): "suppressed",
        ("C",): "suppressed",
        ("D",): "shown",
    }
    assert plan[("g",)][("B",)].reason == SUPPRESSED_COMPLEMENTARY
    # two small groups whose sizes add up to 11 protect each other's size and events:
    # neither count is exact (only their sums are), so nothing else is hidden
    view2 = {("A",): c(500), ("B",): c(40), ("C",): c(8), ("D",): c(3)}
    plan2 = plan_suppression({("g",): view2}, 11)
    assert plan2[("g",)][("B",)].fully_shown
    # two small groups whose sizes add up to less than 11 reveal their sum: hide one more
    view3 = {("A",): c(500), ("B",): c(40), ("C",): c(6), ("D",): c(3)}
    assert statuses(plan_suppression({("g",): view3}, 11), ("g",))[("B",)] == "suppressed"


def test_intersection_slices_and_coarse_to_fine():
    race = {("X",): c(500), ("Y",): c(300), ("Z",): c(9)}
    inter = {
        ("X", "F"): c(250),
        ("X", "M"): c(250),
        ("Y", "F"): c(295),
        ("Y", "M"): c(5),
        ("Z", "F"): c(4),
        ("Z", "M"): c(5),
    }
    plan = plan_suppression({("race",): race, ("race", "sex"): inter}, 11)
    # race: Z is small, so Y (next smallest) is suppressed too
    assert statuses(plan, ("race",)) == {
        ("X",): "shown",
        ("Y",): "suppressed",
        ("Z",): "suppressed",
    }
    got = statuses(plan, ("race", "sex"))
    # every cell of a suppressed race group is suppressed (else they would add up to it)
    assert got[("Y", "F")] == "suppressed"
    assert plan[("race", "sex")][("Y", "F")].reason == SUPPRESSED_PARENT.format(parent="Y")
    # slices with the X cells: in sex=F, X-F is the only shown cell beside hidden ones
    assert got[("X", "F")] == "shown" and got[("X", "M")] == "shown"


def test_slice_rule_within_an_intersection():
    inter = {
        ("X", "F"): c(250),
        ("X", "M"): c(240),
        ("Y", "F"): c(300),
        ("Y", "M"): c(7),
    }
    margins = {
        ("race",): {("X",): c(490), ("Y",): c(307)},
        ("sex",): {("F",): c(550), ("M",): c(247)},
    }
    plan = plan_suppression({**margins, ("race", "sex"): inter}, 11)
    got = statuses(plan, ("race", "sex"))
    # without the margins no slice total is published, so only the view's own rule applies
    alone = statuses(plan_suppression({("race", "sex"): inter}, 11), ("race", "sex"))
    assert alone[("Y", "M")] == "suppressed" and alone[("X", "F")] == "shown"
    # Y-M alone in slice race=Y and in slice sex=M: Y-F and X-M are hidden too, then
    # X-F alone in its slices: the rule runs until stable
    assert got[("Y", "M")] == "suppressed"
    assert got[("Y", "F")] == "suppressed"
    assert got[("X", "M")] == "suppressed"
    assert got[("X", "F")] == "suppressed"


def test_label_complement_and_parent():
    race = {("X",): c(500, 200), ("Y",): c(300, 100), ("Z",): c(100, 4)}
    inter = {
        ("X", "F"): c(250, 100),
        ("X", "M"): c(250, 100),
        ("Y", "F"): c(150, 50),
        ("Y", "M"): c(150, 50),
        ("Z", "F"): c(50, 2),
        ("Z", "M"): c(50, 2),
    }
    everyone = {(): c(900, 304)}
    plan = plan_suppression({(): everyone, ("race",): race, ("race", "sex"): inter}, 11)
    assert plan[("race",)][("Z",)].reason == WITHHELD_POSITIVES.format(m=11)
    # Z's 4 events = everyone's - X's - Y's; X's and Y's follow from their cells, so the
    # cheapest figure to withhold is the overall event count, not a group's metrics
    overall = plan[()][()]
    assert overall.labels_shown and overall.events == WITHHELD_COMPLEMENTARY
    assert overall.metric_reason("auroc") is None
    assert overall.metric_reason("prevalence") == WITHHELD_COMPLEMENTARY
    assert overall.metric_reason("sensitivity", 0.5) == WITHHELD_COMPLEMENTARY
    assert all(plan[("race",)][k].fully_shown for k in [("X",), ("Y",)])
    assert plan[("race", "sex")][("Z", "F")].reason == WITHHELD_POSITIVES.format(m=11)


def test_min_cell_size_validation():
    for bad in (0, -1, 2.5, True, "11"):
        with pytest.raises(ValueError) as err:
            check_min_cell_size(bad)
        assert str(err.value) == MIN_CELL_SIZE_INVALID.format(value=bad)
    assert check_min_cell_size(1) == 1


def _numbers(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from ((k, x) for _, x in _numbers(v))
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield None, obj


def _counts_in(payload) -> list[tuple[str, float]]:
    """Every count-like number: n fields and the n/n_positive/n_negative estimates."""
    found = []

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("n", "n_positive", "n_negative") and isinstance(v, dict):
                    for field in ("estimate", "ci_low", "ci_high"):
                        if v.get(field) is not None:
                            found.append((k, v[field]))
                elif k == "n" and isinstance(v, (int, float)):
                    found.append((k, v))
                else:
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    walk(payload)
    return found


def test_no_small_count_appears_anywhere_in_a_measurement():
    rng = np.random.default_rng(0)
    sizes = {"A": 900, "B": 400, "C": 10, "D": 12, "E": 60}
    race = np.concatenate([[k] * v for k, v in sizes.items()])
    n = race.size
    sex = rng.choice(["F", "M"], n)
    scores = np.round(rng.random(n), 2)
    labels = (rng.random(n) < scores).astype(int)
    labels[race == "E"] = 0
    labels[np.flatnonzero(race == "E")[:1]] = 1  # exactly one event
    stats = reduce_frame(pd.DataFrame({"race": race, "sex": sex}), labels, scores)
    m = measure(stats, views=[("race",), ("sex",), ("race", "sex")], thresholds=[0.5], bootstrap=20)
    m = m.published()  # what is written or shown (measure itself holds every number)
    payload = json.loads(
        json.dumps(
            {
                "groups": [g.model_dump(mode="json") for g in [m.overall, *m.groups]],
                "attributes": [a.model_dump(mode="json") for a in m.attributes],
                "disparities": [d.model_dump(mode="json") for d in m.disparities],
            }
        )
    )
    counts = _counts_in(payload)
    assert counts, "the sizes of large groups are reported"
    assert all(not (1 <= v <= 10) for _, v in counts), [x for x in counts if 1 <= x[1] <= 10]
    by_name = {(str(g.attribute), str(g.group)): g for g in m.groups}
    c_group = by_name[("race", "C")]
    assert c_group.suppressed and c_group.n is None and c_group.metrics == {}
    assert "n" not in c_group.model_dump(mode="json")
    # D (12 patients) is the next smallest: complementary suppression
    assert by_name[("race", "D")].suppressed
    e = by_name[("race", "E")]
    assert e.n == 60 and e.label_metrics_withheld
    assert e.metrics["n_positive"].estimate is None
    assert e.metrics["prevalence"].estimate is None
    assert e.metrics["selection_rate"].estimate is not None
    # suppressed groups are left out of disparities and listed
    worst = [d for d in m.disparities if d.attribute == "race" and d.group == "worst_case"]
    assert all("C" in d.excluded_groups and "D" in d.excluded_groups for d in worst)
    assert not any(d.group in ("C", "D") for d in m.disparities)
    assert not any(c.group in ("C", "D") for c in m.curves.roc)
    info = next(a for a in m.attributes if a.name == "race")
    assert info.suppressed_groups == ["C", "D"]
    assert any("C, D shown by name only" in note for note in m.notes)
