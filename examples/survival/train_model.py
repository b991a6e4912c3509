"""Train the survival example's one-year mortality model and write the audit inputs.

Run: ``python examples/survival/train_model.py`` (needs scikit-survival, a dev extra).

- Data: the Worcester Heart Attack Study (WHAS500, Hosmer, Lemeshow & May 2008), as
  shipped by scikit-survival (``sksurv.datasets.load_whas500``): 500 patients after an
  acute myocardial infarction, follow-up ``lenfol`` in days, death ``fstat``.
- Split with a fixed seed, stratified by sex and death: 40% trains a Cox proportional
  hazards model (``CoxPHSurvivalAnalysis`` on scaled clinical inputs: age, heart rate,
  blood pressure, BMI, heart failure, atrial fibrillation, shock, AV block,
  cardiovascular disease, MI order and type, length of stay); 60% is the audit cohort.
  Sex is not a model input; age is (so the age band is audited as a proxy-laden
  attribute).
- Writes ``audit_cohort.csv`` (with ``risk_365``, the predicted probability of death
  within 365 days, 1 − S(365)), ``model.skops`` (the fitted pipeline; the spec
  trusts the scikit-survival types it needs) and copies the example into
  ``auditor/example_data/survival/`` so an installed package ships it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

HERE = Path(__file__).resolve().parent
PACKAGE_COPY = HERE.parents[1] / "auditor" / "example_data" / "survival"
SHIPPED = ("audit_cohort.csv", "model.skops", "spec.yaml")
SEED = 0
HORIZON = 365
FEATURES = [
    "age",
    "hr",
    "sysbp",
    "diasbp",
    "bmi",
    "chf",
    "afb",
    "sho",
    "av3",
    "cvd",
    "miord",
    "mitype",
    "los",
]


def cohort() -> pd.DataFrame:
    x, y = load_whas500()
    frame = x.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(int)
    frame["sex"] = np.where(frame.pop("gender") == 1, "female", "male")
    frame["age_band"] = pd.cut(
        frame["age"], [0, 65, 80, 200], right=False, labels=["<65", "65-79", "80+"]
    ).astype(str)
    frame["lenfol"] = y["lenfol"]
    frame["fstat"] = y["fstat"].astype(int)
    return frame


def main() -> None:
    frame = cohort()
    train, audit = train_test_split(
        frame,
        test_size=0.6,
        random_state=SEED,
        stratify=frame["sex"] + frame["fstat"].astype(str),
    )
    model = Pipeline([("scale", StandardScaler()), ("cox", CoxPHSurvivalAnalysis(alpha=1e-4))])
    model.fit(train[FEATURES], Surv.from_arrays(train["fstat"] == 1, train["lenfol"]))
    audit = audit.sort_index().copy()
    functions = model.predict_survival_function(audit[FEATURES])
    audit["risk_365"] = np.round(1.0 - np.array([fn(HORIZON) for fn in functions]), 6)
    columns = [*FEATURES, "sex", "age_band", "lenfol", "fstat", "risk_365"]
    audit[columns].to_csv(HERE / "audit_cohort.csv", index=False)
    sio.dump(model, HERE / "model.skops")
    print("untrusted types:", sio.get_untrusted_types(file=HERE / "model.skops"))
    PACKAGE_COPY.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(HERE / name, PACKAGE_COPY / name)


if __name__ == "__main__":
    main()
