"""Stage 2 (reduce): score tables, subgroup statistics, merges and binning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.errors import DataError
from auditor.reduce.stats import (
    ECE_EDGES,
    LABELS_NOT_BINARY,
    LENGTH_MISMATCH,
    MISSING_GROUP,
    SCORES_NOT_FINITE,
    SCORES_OUT_OF_RANGE,
    UNKNOWN_ATTRIBUTE,
    WEIGHTS_NOT_COUNTS,
    ScoreTable,
    SubgroupStats,
    bin_stats,
    reduce_frame,
)


def cohort(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "race": rng.choice(["Asian", "Black", "White", "Other"], n, p=[0.2, 0.2, 0.5, 0.1]),
            "sex": rng.choice(["F", "M"], n),
            "age": rng.choice(["18-44", "45-64", "65+"], n),
        }
    )
    scores = np.round(rng.random(n), 2)
    labels = (rng.random(n) < scores).astype(np.int8)
    return frame, labels, scores


def brute_table(scores: np.ndarray, labels: np.ndarray) -> ScoreTable:
    u = np.unique(scores)
    pos = np.array([int(labels[scores == v].sum()) for v in u])
    neg = np.array([int((scores == v).sum()) for v in u]) - pos
    return ScoreTable(u, pos, neg)


def test_from_arrays_counts_ties():
    t = ScoreTable.from_arrays([0.3, 0.1, 0.3, 0.9, 0.3], [1, 0, 0, 1, 1])
    assert t.scores.tolist() == [0.1, 0.3, 0.9]
    assert t.pos.tolist() == [0, 2, 1]
    assert t.neg.tolist() == [1, 1, 0]
    assert (t.n, t.n_positive, t.n_negative) == (5, 3, 2)


def test_from_arrays_frequency_weights_equal_repeated_rows():
    w = ScoreTable.from_arrays([0.2, 0.4, 0.4], [1, 0, 1], weights=[3, 2, 0])
    r = ScoreTable.from_arrays([0.2, 0.2, 0.2, 0.4, 0.4], [1, 1, 1, 0, 0])
    assert w == r


@pytest.mark.parametrize(
    ("scores", "labels", "weights", "message"),
    [
        ([0.1, np.nan, 0.3], [0, 1, 0], None, SCORES_NOT_FINITE.format(count=1, row=1)),
        ([0.1, 1.5, 0.3], [0, 1, 0], None, SCORES_OUT_OF_RANGE.format(count=1, row=1, value=1.5)),
        ([0.1, 0.2, 0.3], [0, 2, 1], None, LABELS_NOT_BINARY.format(values="2", row=1)),
        ([0.1, 0.2], [0, 1, 1], None, LENGTH_MISMATCH.format(what="labels", expected=2, got=3)),
        ([0.1, 0.2], [0, 1], [1, 0.5], WEIGHTS_NOT_COUNTS.format(value=0.5)),
    ],
)
def test_from_arrays_rejects_bad_input_with_a_precise_message(scores, labels, weights, message):
    with pytest.raises(DataError) as err:
        ScoreTable.from_arrays(np.array(scores), np.array(labels), weights)
    assert str(err.value) == message


def test_score_table_invariants():
    with pytest.raises(ValueError, match="strictly increasing"):
        ScoreTable(np.array([0.2, 0.2]), np.array([1, 0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="equal length"):
        ScoreTable(np.array([0.2]), np.array([1, 0]), np.array([0, 1]))


def test_merge_equals_table_of_union():
    _, y, s = cohort(500, 1)
    parts = np.array_split(np.arange(s.size), 4)
    merged = ScoreTable.merge(*(ScoreTable.from_arrays(s[p], y[p]) for p in parts))
    assert merged == ScoreTable.from_arrays(s, y) == brute_table(s, y)
    assert ScoreTable.merge() == ScoreTable.empty()
    assert ScoreTable.merge(ScoreTable.empty(), merged) == merged


def test_reduce_frame_cells_equal_their_rows():
    frame, y, s = cohort()
    stats = reduce_frame(frame, y, s)
    assert stats.attributes == ("race", "sex", "age")
    assert len(stats.cells) == 4 * 2 * 3
    for key, table in stats.cells.items():
        mask = (frame[["race", "sex", "age"]] == list(key)).all(axis=1).to_numpy()
        assert table == brute_table(s[mask], y[mask]), key


def test_views_and_selections_are_merges_of_cells():
    frame, y, s = cohort()
    stats = reduce_frame(frame, y, s)
    assert stats.table() == brute_table(s, y)
    race = stats.groups(("race",))
    assert list(race) == [("Asian",), ("Black",), ("Other",), ("White",)]
    for (value,), table in race.items():
        mask = (frame.race == value).to_numpy()
        assert table == brute_table(s[mask], y[mask])
    both = stats.groups(("sex", "race"))
    mask = ((frame.sex == "M") & (frame.race == "Black")).to_numpy()
    assert both[("M", "Black")] == brute_table(s[mask], y[mask])
    assert stats.table({"sex": "M", "race": "Black"}) == both[("M", "Black")]
    assert stats.groups(()) == {(): stats.table()}
    assert stats.table({"race": "Nobody"}) == ScoreTable.empty()


def test_unknown_attribute_message():
    frame, y, s = cohort(50)
    stats = reduce_frame(frame, y, s)
    with pytest.raises(DataError) as err:
        stats.groups(("ethnicity",))
    assert str(err.value) == UNKNOWN_ATTRIBUTE.format(name="ethnicity", known="race, sex, age")


def test_group_names_missing_values_and_category_order():
    frame = pd.DataFrame(
        {
            "band": pd.Categorical(
                ["65+", "18-44", None, "65+", "18-44"], categories=["18-44", "45-64", "65+"]
            ),
            "code": [1, "1", 2.0, None, 2.0],
        }
    )
    stats = reduce_frame(frame, np.array([0, 1, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    # categorical order kept, unused category dropped, missing last
    assert stats.values["band"] == ("18-44", "65+", MISSING_GROUP)
    # 1 and "1" print the same: one group
    assert stats.values["code"] == ("1", "2.0", MISSING_GROUP)
    assert stats.groups(("code",))[("1",)].n == 2


def test_reduce_frame_length_mismatch():
    frame, y, s = cohort(20)
    with pytest.raises(DataError) as err:
        reduce_frame(frame.iloc[:10], y, s)
    assert str(err.value) == LENGTH_MISMATCH.format(what="sensitive", expected=20, got=10)


def test_subgroup_stats_merge_equals_reduce_of_union():
    frame, y, s = cohort(2000, 3)
    half = 1100
    a = reduce_frame(frame.iloc[:half], y[:half], s[:half])
    b = reduce_frame(frame.iloc[half:], y[half:], s[half:])
    whole = reduce_frame(frame, y, s)
    merged = a.merge(b)
    assert set(merged.cells) == set(whole.cells)
    for key in whole.cells:
        assert merged.cells[key] == whole.cells[key]
    assert merged.table() == whole.table()
    for view in [("race",), ("sex", "age")]:
        assert merged.groups(view) == whole.groups(view)
    with pytest.raises(ValueError, match="attributes differ"):
        a.merge(reduce_frame(frame[["race"]], y, s))


def test_from_aggregates_matches_reduce_frame():
    frame, y, s = cohort(1500, 4)
    agg = (
        frame.assign(score=s, pos=y, neg=1 - y)
        .groupby(["race", "sex", "age", "score"], as_index=False)[["pos", "neg"]]
        .sum()
    )
    # split into partial aggregates, as partitions of a distributed job deliver them
    agg = pd.concat([agg.assign(pos=agg.pos, neg=0), agg.assign(pos=0, neg=agg.neg)])
    stats = SubgroupStats.from_aggregates(
        ["race", "sex", "age"], agg, agg.score.to_numpy(), agg.pos.to_numpy(), agg.neg.to_numpy()
    )
    whole = reduce_frame(frame, y, s)
    assert set(stats.cells) == set(whole.cells)
    for key, table in whole.cells.items():
        assert stats.cells[key] == table
    assert stats.table() == whole.table()


def test_bin_stats_keeps_counts_and_exact_edges():
    frame, y, s = cohort(3000, 5)
    s = np.clip(s + np.random.default_rng(5).normal(0, 0.001, s.size), 0, 1)
    stats = reduce_frame(frame, y, s)
    binned = bin_stats(stats, bins=100, thresholds=[0.123456])
    edges = binned.edges
    assert 0.123456 in edges
    for e in ECE_EDGES[1:-1]:
        assert e in edges and np.nextafter(e, 1) in edges
    assert np.all(np.diff(edges) > 0)
    assert bin_stats(stats, bins=100, thresholds=[0.123456]) is binned  # cached
    for key, cell in stats.cells.items():
        b = binned.cells[key]
        assert b.pos.sum() == cell.n_positive and b.neg.sum() == cell.n_negative
        assert b.pos_sums[0].sum() == pytest.approx((cell.pos * cell.scores).sum())
    race = binned.groups(("race",))
    for key, table in stats.groups(("race",)).items():
        assert race[key].n == table.n
    assert binned.groups(()).popitem()[1].n == s.size


def test_reduce_frame_is_vectorized_at_scale():
    """One million rows reduce without a Python loop over rows (smoke test)."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({"g": rng.integers(0, 6, n).astype(str)})
    stats = reduce_frame(frame, rng.integers(0, 2, n), rng.random(n))
    assert sum(t.n for t in stats.cells.values()) == n
    assert stats.table().n == n


def test_from_aggregates_rejects_negative_counts_and_drops_empty_rows():
    with pytest.raises(DataError) as err:
        SubgroupStats.from_aggregates(["g"], {"g": ["a"]}, [0.5], [-1], [2])
    assert str(err.value) == WEIGHTS_NOT_COUNTS.format(value=-1)
    stats = SubgroupStats.from_aggregates(
        ["g"], {"g": ["a", "a", "b"]}, [0.5, 0.7, 0.2], [0, 1, 0], [0, 2, 3]
    )
    assert stats.cells[("a",)] == ScoreTable(np.array([0.7]), np.array([1]), np.array([2]))
    assert stats.cells[("b",)].n == 3
