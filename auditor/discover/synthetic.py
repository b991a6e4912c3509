"""Synthetic clinical cohorts with planted weak cohorts, for tests and the benchmark.

Columns: ``age`` (60-99), ``site`` (A-D), ``comorbidity`` (yes/no), ``language``
(en/es/other), ``sex`` and ``bmi`` (the last four unrelated to the outcome, so a
search over them alone is a null search); the outcome follows a logistic risk of age
and comorbidity, and the model's score is that risk (well calibrated, AUROC about
0.75). In a planted
cohort the score is blended towards noise with weight ``strength`` (0: none, 1: pure
noise), so the model discriminates worse there and misses more of its events.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Planted = Callable[[pd.DataFrame], np.ndarray]

PLANTED: dict[str, Planted] = {
    "age ≥ 80 and site = B": lambda f: (f["age"] >= 80) & (f["site"] == "B"),
    "comorbidity = yes and language = es": lambda f: (
        (f["comorbidity"] == "yes") & (f["language"] == "es")
    ),
}


def synthetic_cohort(
    n: int, *, seed: int, planted: str | None = None, strength: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(frame, labels, scores); ``planted`` names a key of :data:`PLANTED`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(60, 100, n),
            "site": rng.choice(list("ABCD"), n),
            "comorbidity": rng.choice(["yes", "no"], n, p=[0.35, 0.65]),
            "language": rng.choice(["en", "es", "other"], n, p=[0.6, 0.25, 0.15]),
            "sex": rng.choice(["female", "male"], n),
            "bmi": np.round(rng.normal(27, 5, n), 1),
        }
    )
    logit = -2.2 + 0.05 * (frame["age"].to_numpy() - 75) + 1.0 * (frame["comorbidity"] == "yes")
    logit = logit + rng.normal(0, 1.0, n)
    risk = 1 / (1 + np.exp(-np.asarray(logit, dtype=np.float64)))
    labels = (rng.random(n) < risk).astype(np.int64)
    scores = risk.copy()
    if planted is not None and strength > 0:
        rows = np.asarray(PLANTED[planted](frame), dtype=bool)
        noise = rng.permutation(risk[rows])
        scores[rows] = (1 - strength) * risk[rows] + strength * noise
    return frame, labels, np.round(scores, 4)
