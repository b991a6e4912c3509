"""Named fairness metrics say which groups they left out, and equal fairlearn on the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from auditor.measure.measurement import measure
from auditor.reduce.stats import reduce_frame


def _cohort() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    sizes = {"A": 600, "B": 400, "D": 300, "C": 6}
    race = np.repeat(list(sizes), list(sizes.values()))
    scores = rng.uniform(size=race.size)
    labels = (rng.uniform(size=race.size) < scores).astype(np.int8)
    sensitive = pd.DataFrame({"race": pd.Categorical(race)})
    return sensitive, labels, scores


def test_suppressed_group_is_listed_and_the_rest_equals_fairlearn() -> None:
    sensitive, labels, scores = _cohort()
    m = measure(
        reduce_frame(sensitive, labels, scores),
        views=[("race",)],
        thresholds=[0.5],
        bootstrap=0,
        min_cell_size=11,
    )
    by_name = {f.name: f for f in m.published().fairness_metrics}  # as written or shown
    shown = sensitive["race"].isin(["A", "B"]).to_numpy()
    y, pred, groups = labels[shown], (scores[shown] >= 0.5).astype(int), sensitive["race"][shown]
    dpd = by_name["demographic_parity_difference"]
    eod = by_name["equalized_odds_difference"]
    # C is too small; D is hidden too so that C cannot be recovered by subtraction
    assert sorted(dpd.excluded_groups) == sorted(eod.excluded_groups) == ["C", "D"]
    assert dpd.estimate == pytest_approx(
        demographic_parity_difference(y, pred, sensitive_features=groups.astype(str))
    )
    assert eod.estimate == pytest_approx(
        equalized_odds_difference(y, pred, sensitive_features=groups.astype(str))
    )


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, abs=1e-9)
