"""Proxy detection: planted proxies are found, independent features are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score

from auditor.errors import SpecError
from auditor.measure.proxies import ALL_FEATURES, proxy_strengths
from reports.model import ProxyResult


def planted(n: int = 900, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Race with three groups; features that copy it with noise, and ones that do not."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["Asian", "Black", "White"], size=n, p=[0.2, 0.3, 0.5])
    code = np.searchsorted(["Asian", "Black", "White"], race)
    noisy_copy = np.where(rng.random(n) < 0.15, rng.choice(["Asian", "Black", "White"], n), race)
    frame = pd.DataFrame(
        {
            "neighbourhood_index": code + rng.normal(scale=0.4, size=n),
            "neighbourhood": pd.Series(noisy_copy).map(
                {"Asian": "n1", "Black": "n2", "White": "n3"}
            ),
            "independent_lab": rng.normal(size=n),
            "independent_category": rng.choice(["a", "b", "c", "d"], size=n),
            "race": race,
        }
    )
    sensitive = pd.DataFrame({"race": pd.Categorical(race)})
    return frame, sensitive


@pytest.fixture(scope="module")
def results() -> list[ProxyResult]:
    frame, sensitive = planted()
    features = ["neighbourhood_index", "neighbourhood", "independent_lab", "independent_category"]
    return proxy_strengths(frame, features=features, sensitive=sensitive, seed=0)


def by_feature(results: list[ProxyResult]) -> dict[str, ProxyResult]:
    return {r.feature: r for r in results}


def test_planted_proxies_are_found(results: list[ProxyResult]) -> None:
    found = by_feature(results)
    for name in ("neighbourhood_index", "neighbourhood"):
        proxy = found[name]
        assert proxy.is_proxy
        assert proxy.auroc is not None and proxy.auroc > 0.85
        assert proxy.strength == pytest.approx(max(0.0, 2 * proxy.auroc - 1))
        assert proxy.nmi is not None and proxy.nmi > 0.3
    joint = found[ALL_FEATURES]
    assert joint.is_proxy and joint.strength is not None and joint.strength > 0.7


def test_independent_features_are_not_flagged(results: list[ProxyResult]) -> None:
    found = by_feature(results)
    for name in ("independent_lab", "independent_category"):
        proxy = found[name]
        assert not proxy.is_proxy
        assert proxy.strength is not None and proxy.strength < 0.15
        assert proxy.nmi is not None and proxy.nmi < 0.02


def test_results_come_joint_first_then_in_feature_order(results: list[ProxyResult]) -> None:
    assert [r.feature for r in results] == [
        ALL_FEATURES,
        "neighbourhood_index",
        "neighbourhood",
        "independent_lab",
        "independent_category",
    ]
    assert all(r.attribute == "race" and r.excluded_groups == [] for r in results)


def test_nmi_of_a_categorical_feature_equals_scikit_learn(results: list[ProxyResult]) -> None:
    frame, sensitive = planted()
    expected = normalized_mutual_info_score(sensitive["race"], frame["neighbourhood"])
    assert by_feature(results)["neighbourhood"].nmi == pytest.approx(expected)


def test_an_exact_copy_is_a_perfect_proxy_and_the_attribute_is_not_its_own_proxy() -> None:
    frame, sensitive = planted(n=300)
    frame["race_copy"] = frame["race"].map({"Asian": "x", "Black": "y", "White": "z"})
    found = proxy_strengths(frame, features=["race", "race_copy"], sensitive=sensitive)
    assert [r.feature for r in found] == [ALL_FEATURES, "race_copy"]
    assert found[1].auroc == pytest.approx(1.0)
    assert found[1].strength == pytest.approx(1.0)
    assert found[1].nmi == pytest.approx(1.0)


def test_missing_values_are_their_own_bin() -> None:
    rng = np.random.default_rng(1)
    group = np.repeat(["a", "b"], 200)
    lab = np.where(group == "a", np.nan, rng.normal(size=400))
    frame = pd.DataFrame({"lab": lab})
    found = proxy_strengths(frame, features=["lab"], sensitive=pd.DataFrame({"g": group}))
    assert found[1].strength == pytest.approx(1.0)


def test_small_groups_are_left_out_of_the_target_and_named() -> None:
    frame, sensitive = planted(n=600)
    race = sensitive["race"].astype(str).to_numpy().copy()
    race[:8] = "Pacific"  # 8 patients: below min_cell_size
    found = proxy_strengths(
        frame, features=["neighbourhood_index"], sensitive=pd.DataFrame({"race": race})
    )
    assert all(r.excluded_groups == ["Pacific"] for r in found)
    assert found[0].reason == (
        "left out of the AUROC target: 'Pacific' (fewer than 11 patients, or fewer than 10 rows "
        "in the sample, needed for 5-fold cross-validation)"
    )
    assert found[1].auroc is not None


def test_one_reportable_group_is_not_evaluable() -> None:
    frame = pd.DataFrame({"x": np.arange(60.0)})
    group = np.array(["big"] * 55 + ["small"] * 5)
    found = proxy_strengths(frame, features=["x"], sensitive=pd.DataFrame({"g": group}))
    assert [r.auroc for r in found] == [None, None]
    assert not any(r.is_proxy for r in found)
    assert found[1].reason == (
        "not evaluable: fewer than two groups of 'g' have at least 11 patients and 10 sampled rows"
    )


def test_proxy_strengths_are_deterministic_by_seed_with_a_sample() -> None:
    frame, sensitive = planted(n=700)
    features = ["neighbourhood_index", "independent_lab"]
    first = proxy_strengths(frame, features=features, sensitive=sensitive, seed=5, sample_size=400)
    again = proxy_strengths(frame, features=features, sensitive=sensitive, seed=5, sample_size=400)
    other = proxy_strengths(frame, features=features, sensitive=sensitive, seed=6, sample_size=400)
    assert first == again
    assert first != other


def test_threshold_must_be_a_share() -> None:
    frame, sensitive = planted(n=100)
    with pytest.raises(SpecError) as error:
        proxy_strengths(frame, features=["independent_lab"], sensitive=sensitive, threshold=1.5)
    assert str(error.value) == "explain.proxy_threshold must be between 0 and 1; got 1.5"


def test_the_threshold_decides_what_is_a_proxy(results: list[ProxyResult]) -> None:
    frame, sensitive = planted()
    strict = proxy_strengths(
        frame, features=["neighbourhood_index"], sensitive=sensitive, threshold=1.0
    )
    assert not strict[1].is_proxy
    assert strict[1].strength == by_feature(results)["neighbourhood_index"].strength
