"""Builders for load-stage tests: small cohorts, specs and fitted models in a temp folder.

General on purpose so other tests can import them::

    from load_helpers import make_cohort, write_cohort, write_spec, fit_pipeline
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC_FEATURES = ("age", "lactate")
CATEGORICAL_FEATURES = ("unit",)
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES


def make_cohort(n: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """A synthetic cohort: label ``died`` (0/1), score ``risk``, sensitive race/sex, features.

    Columns: died (int), risk (float in [0, 1]), race (3 groups), sex (2 groups),
    age (int), lactate (float), unit (str categorical feature).
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 95, size=n)
    lactate = np.round(rng.gamma(2.0, 1.0, size=n), 2)
    unit = rng.choice(["icu", "ward", "ed"], size=n)
    logit = -4.0 + 0.03 * age + 0.5 * lactate + (unit == "icu") * 0.8
    risk = 1.0 / (1.0 + np.exp(-logit))
    died = (rng.random(n) < risk).astype("int64")
    return pd.DataFrame(
        {
            "died": died,
            "risk": np.round(risk, 6),
            "race": rng.choice(["White", "Black", "Asian"], size=n, p=[0.6, 0.3, 0.1]),
            "sex": rng.choice(["female", "male"], size=n),
            "age": age.astype("int64"),
            "lactate": lactate,
            "unit": unit,
        }
    )


def write_cohort(folder: Path, frame: pd.DataFrame, name: str = "cohort.csv") -> Path:
    """Write ``frame`` as CSV or Parquet (by the suffix of ``name``) without an index."""
    path = Path(folder) / name
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def base_spec(**overrides: Any) -> dict[str, Any]:
    """A minimal valid spec for :func:`make_cohort` data; ``None`` removes a key."""
    spec: dict[str, Any] = {
        "name": "Test audit",
        "data": "cohort.csv",
        "label": {"column": "died", "positive": 1},
        "model": {"score_column": "risk"},
        "sensitive": ["race", "sex"],
    }
    for key, value in overrides.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def write_spec(folder: Path, filename: str = "spec.yaml", /, **overrides: Any) -> Path:
    """Write :func:`base_spec` (with ``overrides``) as YAML, or JSON when ``filename`` ends .json.

    ``overrides`` are spec keys (``name=...`` sets the audit's name); ``None`` removes a key.
    """
    path = Path(folder) / filename
    spec = base_spec(**overrides)
    if filename.endswith(".json"):
        import json

        path.write_text(json.dumps(spec, indent=2))
    else:
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def build_pipeline() -> Pipeline:
    """An unfitted scikit-learn Pipeline over :data:`FEATURES` (scaler, one-hot, logistic)."""
    columns = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ]
    )
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=1000))])


def fit_pipeline(frame: pd.DataFrame, label: str = "died") -> Pipeline:
    """:func:`build_pipeline` fitted on ``frame[FEATURES]``."""
    return build_pipeline().fit(frame[list(FEATURES)], frame[label])
