"""Coverage of the audit's 95% intervals against simulated cohorts with known truth.

The table in docs/statistics.md comes from ``scripts/coverage_study.py``; these tests run
the same study: a reduced form by default, the full grid with AUDITOR_EXHAUSTIVE=1.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import coverage_study as study

NEW = "worst case (simultaneous pairwise band)"
OLD = "worst case (former: bootstrap of max - min)"


def _floor(nominal: float, cohorts: int) -> float:
    """Nominal coverage less three Monte Carlo standard errors."""
    return nominal - 3 * math.sqrt(nominal * (1 - nominal) / cohorts)


@pytest.fixture(scope="module")
def truths():
    return study.truths_for(0.30, draws=1_000_000)


def test_truths_are_what_the_design_says(truths):
    a, b = truths["A"], truths["B"]
    assert a["calibration_slope"] == pytest.approx(1.25) and b[
        "calibration_slope"
    ] == pytest.approx(1 / 1.2)
    assert 0.5 < a["auroc"] < 1 and a["auroc"] == pytest.approx(b["auroc"], abs=0.01)  # monotone
    assert a["sensitivity"] != pytest.approx(b["sensitivity"], abs=0.01)


def test_coverage_reduced(truths):
    """n = 400 per group, prevalence 30%, 30 cohorts, 150 replicates."""
    main, null = study.run_cell(400, 0.30, 30, replicates=150, seed=1, truths=truths)
    floor = _floor(0.95, 30)
    for name in (*study.GROUP_METRICS, "sensitivity difference B - A", "auroc difference B - A"):
        assert main.given[name] == 30, name
        assert main.coverage(name) >= floor, (name, main.coverage(name))
    # the worst case: honest coverage, including when no group differs (truth 0) ...
    assert main.coverage(NEW) >= floor and null.coverage(NEW) >= floor
    # ... where the former bootstrap of max - min never covers
    assert null.coverage(OLD) == 0.0


@pytest.mark.slow
@pytest.mark.exhaustive
@pytest.mark.parametrize("prevalence", study.PREVALENCES)
@pytest.mark.parametrize("n", [200, 1000, 10000])
def test_coverage_full(n, prevalence):
    """The table's cells with at least 200 patients per group: 200 cohorts, 500 replicates.
    Every interval given covers at least 93% (less Monte Carlo error) except where
    docs/statistics.md says it does not."""
    main, null = study.run_cell(n, prevalence, 200, replicates=500, seed=n)
    floor = _floor(0.93, 200) if n >= 1000 else 0.85
    for name in (*study.GROUP_METRICS, "sensitivity difference B - A", "auroc difference B - A"):
        c = main.coverage(name)
        assert c is None or c >= floor, (name, c)
    assert null.coverage(NEW) >= _floor(0.95, 200)
    assert null.coverage(OLD) == 0.0
