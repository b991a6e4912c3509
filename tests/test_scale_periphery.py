"""The vectorised periphery (data checks, proxies' group counts) equals the plain definition."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.measure.data_checks import data_checks
from auditor.reduce.sampling import group_codes


def test_group_codes_match_string_values() -> None:
    column = pd.Series([1, "1", 2.5, "b", "a", 2.5, "b"], dtype=object)
    codes, names = group_codes(column)
    as_text = column.astype(str).to_numpy()
    assert [names[c] for c in codes] == list(as_text)
    assert names == sorted(set(as_text))
    categorical = pd.Series(pd.Categorical(["x", "z", "x"], categories=["z", "y", "x"]))
    codes, names = group_codes(categorical)
    assert [names[c] for c in codes] == ["x", "z", "x"]


def _reference_counts(frame, features, sensitive):
    """Sizes and missing counts per group, by masks (the definition)."""
    out = {}
    for attribute in sensitive.columns:
        values = sensitive[attribute].astype(str).to_numpy()
        for group in sorted(set(values)):
            mask = values == group
            out[(attribute, group)] = (
                int(mask.sum()),
                frame.loc[mask, features].isna().sum().tolist(),
            )
    return out


def test_data_checks_equal_masks_on_random_data() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    frame = pd.DataFrame(
        {
            "lab": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
            "note": np.where(rng.random(n) < 0.1, None, "x"),
        }
    )
    sensitive = pd.DataFrame(
        {
            "race": pd.Categorical(
                rng.choice(["A", "B", "C"], n, p=[0.7, 0.25, 0.05]), categories=["C", "B", "A", "D"]
            ),
            "site": rng.choice([1, 2, 3], n).astype(object),
        }
    )
    labels = (rng.random(n) < 0.3).astype(int)
    checks = data_checks(
        frame,
        features=["lab", "note"],
        sensitive=sensitive,
        labels=labels,
        min_cell_size=11,
        rows_total=n,
    )
    reference = _reference_counts(frame, ["lab", "note"], sensitive)
    for row in checks.representation:
        assert row.n == reference[(row.attribute, row.group)][0]
    for row in checks.missingness:
        size, missing = reference[(row.attribute, row.group)]
        k = missing[["lab", "note"].index(row.feature)]
        if row.missing_rate is not None:
            assert row.missing_rate == k / size
    assert [r.group for r in checks.representation if r.attribute == "race"] == ["C", "B", "A"]
