"""Train the example's hospital-admission risk model and write the audit inputs.

Run after ``prepare_data.py``: ``python examples/hospital_use/train_model.py``.

- Splits ``cohort.csv`` with a fixed seed, stratified by age band and outcome:
  40% trains the model, 60% is the audit cohort. The audit share is the larger
  one on purpose: the 95+ band has only 19 people, and a 40% audit split would
  leave 7 of them (fully suppressed); with 60% the band keeps 12 people and 4
  admissions, so it shows the *label-metric* suppression (n and selection rate
  only), while Black x 95+ (3 people) shows full suppression.
- Fits a scikit-learn Pipeline (one-hot categoricals, scaled numerics, logistic
  regression) on clinical and utilisation features only: race, sex and payer
  are not model inputs (age is, so age_band is audited as a proxy-laden attribute).
- Saves ``model.skops`` with skops and ``audit_cohort.csv``, then copies the
  example (cohort, model, spec, model card) into ``auditor/example_data/`` so an
  installed package (``pip install .``) ships it.

Deterministic: the CSV bytes and the model's predictions are identical on every
run (skops' zip entry names differ between runs, the model inside does not).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
PACKAGE_COPY = HERE.parents[1] / "auditor" / "example_data"
COHORT = HERE / "cohort.csv"
AUDIT_COHORT = HERE / "audit_cohort.csv"
MODEL = HERE / "model.skops"
SHIPPED = ("audit_cohort.csv", "model.skops", "spec.yaml", "model_card.md")

SEED = 0
AUDIT_FRACTION = 0.6
LABEL = "hospitalized"
SENSITIVE = ["race", "sex", "age_band", "payer"]
CATEGORICAL = ["hlth", "employed", "maried", "region"]
NUMERIC = ["age", "numchron", "adldiff", "ofp", "ofnp", "opp", "opnp", "emr", "school", "faminc"]
FEATURES = NUMERIC + CATEGORICAL


def split(cohort: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, audit rows), seeded and stratified by age band x outcome."""
    strata = cohort["age_band"] + "|" + cohort[LABEL].astype(str)
    train, audit = train_test_split(
        cohort, test_size=AUDIT_FRACTION, random_state=SEED, stratify=strata
    )
    return train.sort_index(), audit.sort_index()


def build_model() -> Pipeline:
    """The unfitted pipeline: one-hot categoricals, standardised numerics, logistic regression."""
    columns = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numeric", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline(
        [
            ("columns", columns),
            ("classifier", LogisticRegression(max_iter=1000, random_state=SEED)),
        ]
    )


def train(cohort: pd.DataFrame) -> tuple[Pipeline, pd.DataFrame]:
    """Fit the model on the training split; return it with the audit cohort."""
    training, audit = split(cohort)
    model = build_model().fit(training[FEATURES], training[LABEL])
    return model, audit.reset_index(drop=True)


def main() -> None:
    cohort = pd.read_csv(COHORT)
    model, audit = train(cohort)
    audit.to_csv(AUDIT_COHORT, index=False, lineterminator="\n")
    sio.dump(model, MODEL)

    needed = sio.get_untrusted_types(file=MODEL)
    spec = yaml.safe_load((HERE / "spec.yaml").read_text())
    trusted = set(spec["model"].get("trusted_types", []))
    if not set(needed) <= trusted:
        raise SystemExit(
            f"model.skops needs types the spec does not trust: {sorted(set(needed) - trusted)}; "
            "review them and add them to model.trusted_types in spec.yaml"
        )

    PACKAGE_COPY.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        shutil.copyfile(HERE / name, PACKAGE_COPY / name)

    scores = model.predict_proba(audit[FEATURES])[:, 1]
    print(f"trained on {len(cohort) - len(audit)} people, audit cohort {len(audit)} people")
    print(f"skops types beyond the defaults: {needed or 'none'}")
    print(f"mean predicted risk on the audit cohort: {np.mean(scores):.6f}")
    oldest = audit.loc[audit["age_band"] == "95+", LABEL]
    print(f"95+ band in the audit cohort: {len(oldest)} people, {int(oldest.sum())} admitted")
    print(f"copied {', '.join(SHIPPED)} to {PACKAGE_COPY}")


if __name__ == "__main__":
    main()
