"""The attack suite: a determined reader against every published number.

Linear-programming subtraction over all published counts and rates (rate x n,
differences across views and across thresholds), curve-step reconstruction and the
data checks, on the bundled example and on generated cohorts with groups of 1 to 12
patients. No count from 1 to ``min_cell_size - 1`` may be recovered (see tests/attack.py).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from attack import Reader, curve_steps, data_check_cells

from auditor.audit import run_audit
from auditor.load.examples import demo_spec_path
from auditor.load.spec_loader import load_spec
from auditor.measure.measurement import measure
from auditor.privacy.suppression import WITHHELD_COMPLEMENTARY, WITHHELD_POSITIVES
from auditor.reduce.stats import reduce_frame
from reports.render import render


def _attack(payload: dict) -> None:
    reader = Reader(payload)
    assert reader.recovered() == []
    assert curve_steps(payload) == []
    assert data_check_cells(payload) == []


@pytest.fixture(scope="module")
def example_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    spec = dataclasses.replace(load_spec(demo_spec_path()), bootstrap=0, thresholds=(0.2, 0.1, 0.3))
    report = run_audit(spec).report
    return render(report, tmp_path_factory.mktemp("attack"), ["json", "md", "junit", "html"])


def test_example_report_json_recovers_nothing(example_outputs: dict[str, Path]) -> None:
    payload = json.loads(example_outputs["json"].read_text(encoding="utf-8"))
    reader = Reader(payload)
    # the reader does see a lot: sizes, event counts and confusion cells of most groups
    assert len(reader.derived) > 50
    _attack(payload)


def _cohort(seed: int, small: list[int]) -> pd.DataFrame:
    """Two large groups and several of 1 to 12 patients, crossed with sex."""
    rng = np.random.default_rng(seed)
    sizes = {"A": 400, "B": 150, **{f"s{i}": k for i, k in enumerate(small)}}
    race = np.concatenate([[g] * k for g, k in sizes.items()])
    n = race.size
    score = np.round(rng.beta(2, 3, n), 3)
    return pd.DataFrame(
        {
            "race": race,
            "sex": rng.choice(["F", "M"], n),
            "score": score,
            "y": (rng.random(n) < score).astype(int),
        }
    )


@pytest.mark.parametrize(
    ("seed", "small"),
    [(0, [1, 5, 12]), (1, [11, 12]), (2, [3, 9, 10]), (3, [12]), (4, [2, 7, 11, 12])],
)
def test_generated_cohorts_recover_nothing(seed: int, small: list[int]) -> None:
    frame = _cohort(seed, small)
    stats = reduce_frame(frame[["race", "sex"]], frame["y"].to_numpy(), frame["score"].to_numpy())
    m = measure(
        stats,
        views=[("race",), ("sex",), ("race", "sex")],
        thresholds=[0.4, 0.3, 0.5],
        bootstrap=0,
    ).published()
    payload = _payload(m)
    reader = Reader(payload)
    assert reader.derived, "the large groups are published"
    _attack(payload)


def test_kidtran_like_larger_group_keeps_discrimination_and_calibration() -> None:
    """Two groups, the smaller with 6 events: the larger group's AUROC and calibration
    are published; the figure withheld instead says which and why."""
    rng = np.random.default_rng(7)
    n_white, n_black = 302, 40
    race = np.array(["White"] * n_white + ["Black"] * n_black)
    score = rng.beta(2, 5, race.size)
    y = (rng.random(race.size) < score).astype(int)
    black = np.flatnonzero(race == "Black")
    y[black] = 0
    y[black[:6]] = 1
    stats = reduce_frame(pd.DataFrame({"race": race}), y, score)
    m = measure(stats, views=[("race",)], thresholds=[0.3], bootstrap=0).published()
    groups = {g.group: g for g in m.groups}
    white, black_g = groups["White"], groups["Black"]
    assert black_g.label_metrics_withheld
    assert black_g.suppression_reason == WITHHELD_POSITIVES.format(m=11)
    for metric in ("auroc", "calibration_slope", "calibration_intercept", "brier", "ece"):
        assert white.metrics[metric].estimate is not None, metric
    # exactly one event count is withheld in its stead, with its reason
    withheld = [
        g for g in (m.overall, white) if g.metrics["n_positive"].reason == WITHHELD_COMPLEMENTARY
    ]
    assert len(withheld) == 1
    assert withheld[0].metrics["prevalence"].estimate is None
    assert withheld[0].suppression_reason == WITHHELD_COMPLEMENTARY
    # rounded to the privacy rounding (3 decimals), so the exact AUROC cannot pin the count
    if withheld[0] is white:
        assert white.metrics["auroc"].estimate == round(white.metrics["auroc"].estimate, 3)


def test_complementary_off_is_primary_only() -> None:
    frame = _cohort(0, [5, 12])
    stats = reduce_frame(frame[["race"]], frame["y"].to_numpy(), frame["score"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on = measure(stats, views=[("race",)], thresholds=[0.4], bootstrap=0).published()
        off = measure(
            stats, views=[("race",)], thresholds=[0.4], bootstrap=0, complementary=False
        ).published()
    hidden_on = {g.group for g in on.groups if g.suppressed}
    hidden_off = {g.group for g in off.groups if g.suppressed}
    assert hidden_off == {"s0"} and hidden_on > hidden_off


def _payload(m) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(
        json.dumps(
            {
                "min_cell_size": 11,
                "threshold": m.thresholds[0],
                "thresholds": m.thresholds,
                "overall": m.overall.model_dump(mode="json"),
                "groups": [g.model_dump(mode="json") for g in m.groups],
                "curves": m.curves.model_dump(mode="json"),
                "data_checks": {"representation": [], "missingness": []},
            }
        )
    )


def test_the_attack_finds_what_primary_suppression_alone_leaks() -> None:
    """The suite can fail: without complementary suppression the reader recovers counts."""
    frame = _cohort(0, [5, 12])
    stats = reduce_frame(frame[["race", "sex"]], frame["y"].to_numpy(), frame["score"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        off = measure(
            stats,
            views=[("race",), ("sex",)],
            thresholds=[0.4],
            bootstrap=0,
            complementary=False,
        ).published()
    found = Reader(_payload(off)).recovered()
    # the 5-patient group's size is everyone minus the others
    assert ("s0", "patients in bands 0..1", 5) in found


def test_mitigation_what_if_shows_no_more_than_the_report() -> None:
    """Cross-view subtraction: the what-if's figures now are the report's own, a group
    the report hides has none, and what-if figures appear only where differencing
    them with the report isolates no small count."""
    from auditor.audit import build_report, prepare
    from auditor.measure.mitigation import REPORTED_METRICS, publish_what_if, what_if
    from reports.model import group_key

    spec = dataclasses.replace(load_spec(demo_spec_path()), bootstrap=0)
    prepared = prepare(spec)
    report = build_report(prepared)
    view = ("race", "age_band")
    for method in ("threshold_optimizer", "per_group_thresholds"):
        raw = what_if(prepared.stats, view=view, threshold=0.2, method=method, min_cell_size=11)
        shown = publish_what_if(raw, report, prepared.stats, view=view)
        published = {group_key(g.attribute, g.group): g for g in report.groups}
        for g in shown.groups:
            key = group_key(list(view), g.group.split(" × "))
            pub = published[key]
            if pub.suppressed:
                assert g.n is None and g.current == {} and g.mitigated == {}
                continue
            for mid in REPORTED_METRICS:
                est = pub.metrics[mid].estimate
                assert g.current[mid] == est, (g.group, mid)
                if est is None:
                    assert g.mitigated[mid] is None, (g.group, mid)
        # the raw what-if would show the hidden groups' figures: the gate matters
        hidden = [g for g in shown.groups if g.suppressed]
        assert hidden and all(
            any(v is not None for v in r.current.values())
            for r in raw.groups
            if r.group in {h.group for h in hidden} and not r.suppressed
        )
