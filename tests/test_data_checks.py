"""Representation and missingness per group, with small-cell suppression."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditor.errors import SpecError
from auditor.measure.data_checks import (
    DROPPED_FEW_NOTE,
    MISSING_COMPLEMENTARY,
    MISSING_WITHHELD,
    data_checks,
    restrict_to_reportable,
)
from auditor.privacy.suppression import (
    SUPPRESSED_COMPLEMENTARY,
    SUPPRESSED_SMALL,
    Counts,
    plan_suppression,
)
from reports.model import group_key


def cohort() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """100 patients: payer 60 Private / 32 Medicaid / 8 Self (suppressed)."""
    payer = np.array(["Private"] * 60 + ["Medicaid"] * 32 + ["Self"] * 8)
    sex = np.array(["female", "male"] * 50)
    lab = np.arange(100, dtype=float)
    lab[60:76] = np.nan  # half of Medicaid lacks the lab
    lab[:12] = np.nan  # 12 of 60 Private
    frame = pd.DataFrame({"lab": lab, "age": np.arange(100.0), "payer": payer})
    sensitive = pd.DataFrame(
        {
            "payer": pd.Categorical(payer, categories=["Private", "Medicaid", "Self"]),
            "sex": pd.Categorical(sex),
        }
    )
    labels = np.zeros(100, dtype=np.int8)
    labels[::2] = 1
    return frame, sensitive, labels


def test_representation_counts_shares_and_suppression() -> None:
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame,
        features=["lab", "age"],
        sensitive=sensitive,
        labels=labels,
        rows_total=112,
        rows_dropped_missing_label=12,
        reference_shares={"payer": {"Medicaid": 0.5}},
    )
    rows = {(r.attribute, r.group): r for r in checks.representation}
    assert [(r.attribute, r.group) for r in checks.representation] == [
        ("payer", "Private"),
        ("payer", "Medicaid"),
        ("payer", "Self"),
        ("sex", "female"),
        ("sex", "male"),
    ]
    assert (rows["payer", "Private"].n, rows["payer", "Private"].share) == (60, 0.6)
    assert rows["payer", "Medicaid"].reference_share == 0.5
    self_pay = rows["payer", "Self"]
    assert self_pay.suppressed and self_pay.n is None and self_pay.share is None
    assert "n" not in json.loads(self_pay.model_dump_json(exclude_none=True))
    assert checks.rows_total == 112 and checks.rows_dropped_missing_label == 12
    assert checks.notes[:3] == [
        "12 of 112 rows had no label and were left out of the audit; their groups are not "
        "counted below.",
        "payer = Medicaid makes up 32.0% of the audited patients against a reference share of "
        "50.0% (ratio 0.64).",
        "payer: 1 group(s) with fewer than 11 patients are shown without counts (Self).",
    ]


def test_a_few_dropped_rows_are_not_derivable() -> None:
    """4 dropped of 104: publishing both totals would give the 4 by subtraction."""
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame,
        features=["lab"],
        sensitive=sensitive,
        labels=labels,
        rows_total=104,
        rows_dropped_missing_label=4,
    )
    assert checks.rows_total is None and checks.rows_dropped_missing_label is None
    assert checks.notes[0] == DROPPED_FEW_NOTE.format(m=11)


def test_a_small_missing_count_is_withheld_with_its_complement() -> None:
    """3 of 60 Private lack the lab (rate x n = 3): withheld, and Medicaid's rate with
    it, else the overall count minus Medicaid's would give the 3."""
    frame, sensitive, labels = cohort()
    frame.loc[3:11, "lab"] = 1.0  # only 3 of 60 Private missing now
    checks = data_checks(
        frame, features=["lab"], sensitive=sensitive, labels=labels, rows_total=100
    )
    rows = {(m.attribute, m.group): m for m in checks.missingness}
    assert rows["payer", "Private"].missing_rate is None
    assert rows["payer", "Private"].reason == MISSING_WITHHELD.format(m=11)
    assert rows["payer", "Medicaid"].missing_rate is None
    assert rows["payer", "Medicaid"].reason == MISSING_COMPLEMENTARY
    assert [d for d in checks.missingness_disparities if d["attribute"] == "payer"] == []


def test_a_reference_group_absent_from_the_data_is_listed_without_counts() -> None:
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame,
        features=["lab"],
        sensitive=sensitive,
        labels=labels,
        rows_total=100,
        reference_shares={"payer": {"Medicare": 0.2}},
    )
    medicare = [r for r in checks.representation if r.group == "Medicare"]
    assert len(medicare) == 1
    assert medicare[0].suppressed and medicare[0].reference_share == 0.2
    assert medicare[0].n is None
    assert (
        "payer = Medicare has a reference share of 20.0% but fewer than 11 patients in the data."
        in checks.notes
    )


def test_missingness_per_group_matches_pandas_and_skips_suppressed_groups() -> None:
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame, features=["lab", "age"], sensitive=sensitive, labels=labels, rows_total=100
    )
    expected = frame["lab"].isna().groupby(sensitive["payer"].astype(str)).mean()
    rates = {(m.attribute, m.group, m.feature): m.missing_rate for m in checks.missingness}
    assert rates["payer", "Private", "lab"] == pytest.approx(expected["Private"])
    assert rates["payer", "Medicaid", "lab"] == pytest.approx(expected["Medicaid"])
    assert rates["payer", "Medicaid", "age"] == 0.0
    assert not any(m.group == "Self" for m in checks.missingness)
    assert len(checks.missingness) == 2 * 2 + 2 * 2  # 2 features x (2 payer + 2 sex groups)


def test_missingness_disparities_rank_features_by_the_gap_between_groups() -> None:
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame, features=["lab", "age"], sensitive=sensitive, labels=labels, rows_total=100
    )
    payer = [d for d in checks.missingness_disparities if d["attribute"] == "payer"]
    assert payer == [
        {
            "attribute": "payer",
            "feature": "lab",
            "max_group": "Medicaid",
            "max_rate": 0.5,
            "min_group": "Private",
            "min_rate": 0.2,
            "difference": pytest.approx(0.3),
        },
    ]
    assert "lab is missing for 50.0% of payer = Medicaid against 20.0% of payer = Private." in (
        checks.notes
    )


def test_missingness_that_depends_on_the_outcome_is_noted() -> None:
    """In whole percent, and only with 100 or more patients with and without the outcome
    (so the rates cannot give an exact count)."""
    frame, sensitive, _ = cohort()
    big = pd.concat([frame] * 4, ignore_index=True)
    sens = pd.concat([sensitive] * 4, ignore_index=True)
    labels = big["lab"].isna().to_numpy().astype(np.int8)
    labels[::3] = 1
    missing = big["lab"].isna().to_numpy()
    pos, neg = missing[labels == 1].mean(), missing[labels == 0].mean()
    checks = data_checks(big, features=["lab"], sensitive=sens, labels=labels, rows_total=400)
    assert checks.notes[-1] == (
        f"lab is missing for {pos:.0%} of patients with the outcome against {neg:.0%} of those "
        "without: missingness that depends on the outcome can bias the model and its audit."
    )
    small = data_checks(
        frame, features=["lab"], sensitive=sensitive, labels=labels[:100], rows_total=100
    )
    assert not any("patients with the outcome" in n for n in small.notes)


def test_complete_data_says_so() -> None:
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame, features=["age"], sensitive=sensitive, labels=labels, rows_total=100
    )
    assert checks.missingness_disparities == []
    assert checks.notes[-1] == "No feature has missing values."


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        (
            {"ethnicity": {"a": 0.5}},
            "reference_shares.ethnicity: 'ethnicity' is not a sensitive attribute; expected one "
            "of: payer, sex",
        ),
        (
            {"payer": {"Private": 1.4}},
            "reference_shares.payer.Private: expected a share between 0 and 1; got 1.4",
        ),
    ],
)
def test_reference_shares_are_validated(shares: dict, message: str) -> None:
    frame, sensitive, labels = cohort()
    with pytest.raises(SpecError) as error:
        data_checks(
            frame,
            features=["lab"],
            sensitive=sensitive,
            labels=labels,
            rows_total=100,
            reference_shares=shares,
        )
    assert str(error.value) == message


def _measured_plan(sensitive: pd.DataFrame, labels: np.ndarray) -> dict:
    """What the measure stage suppresses, by group key with its reason (one view per column)."""
    views = {}
    for column in sensitive.columns:
        values = sensitive[column].astype(str).to_numpy()
        views[(column,)] = {
            (g,): Counts(
                int((values == g).sum()),
                int(labels[values == g].sum()),
                int((values == g).sum() - labels[values == g].sum()),
            )
            for g in dict.fromkeys(values)
        }
    plan = plan_suppression(views, 11)
    return {
        group_key(view[0], key[0]): privacy.reason
        for view, groups in plan.items()
        for key, privacy in groups.items()
        if privacy.suppressed
    }


def test_groups_the_measurement_suppressed_lose_their_numbers_and_notes() -> None:
    """Self (8) is small; Private (60) and the total (100) would give it away unless
    Medicaid (32) is hidden too (complementary suppression): the data checks follow."""
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame,
        features=["lab", "age"],
        sensitive=sensitive,
        labels=labels,
        rows_total=100,
        reference_shares={"payer": {"Medicaid": 0.5}},
    )
    before = checks.model_copy(deep=True)
    suppressed = _measured_plan(sensitive, labels)
    assert suppressed == {
        group_key("payer", "Self"): SUPPRESSED_SMALL.format(m=11),
        group_key("payer", "Medicaid"): SUPPRESSED_COMPLEMENTARY,
    }
    restricted = restrict_to_reportable(checks, suppressed)

    assert checks == before
    rows = {(r.attribute, r.group): r for r in restricted.representation}
    medicaid = rows["payer", "Medicaid"]
    assert (medicaid.suppressed, medicaid.n, medicaid.share) == (True, None, None)
    assert medicaid.reference_share == 0.5
    assert rows["payer", "Private"].n == 60 and rows["sex", "male"].n == 50
    assert {m.group for m in restricted.missingness if m.attribute == "payer"} == {"Private"}
    assert [d for d in restricted.missingness_disparities if d["attribute"] == "payer"] == []
    assert [d for d in restricted.missingness_disparities if d["attribute"] == "sex"] == [
        d for d in checks.missingness_disparities if d["attribute"] == "sex"
    ]
    assert restricted.notes == [
        "payer: 1 group(s) with fewer than 11 patients are shown without counts (Self).",
        f"payer: Medicaid shown without counts: {SUPPRESSED_COMPLEMENTARY}.",
    ]
    assert restrict_to_reportable(restricted, suppressed) == restricted


def test_a_shown_groups_new_missingness_gap_is_noted_after_restriction() -> None:
    """With three shown groups, hiding one recomputes the largest gap among the other two."""
    frame, sensitive, labels = cohort()
    checks = data_checks(
        frame, features=["lab"], sensitive=sensitive, labels=labels, rows_total=100, min_cell_size=5
    )
    assert "lab is missing for 50.0% of payer = Medicaid against 0.0% of payer = Self." in (
        checks.notes
    )
    restricted = restrict_to_reportable(checks, {group_key("payer", "Self"): None})
    (payer,) = [d for d in restricted.missingness_disparities if d["attribute"] == "payer"]
    assert (payer["max_group"], payer["min_group"]) == ("Medicaid", "Private")
    assert "lab is missing for 50.0% of payer = Medicaid against 20.0% of payer = Private." in (
        restricted.notes
    )
    assert "payer: Self shown without counts: suppressed." in restricted.notes
    assert not [n for n in restricted.notes if "payer = Self" in n]
