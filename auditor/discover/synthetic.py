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


TASK_COLUMNS: dict[str, dict[str, object]] = {
    "survival": {"label": {"time": "days", "event": "died", "event_value": 1, "horizon": 365}},
    "multiclass": {"label": {"column": "acuity", "classes": [1, 2, 3], "ordered": True}},
    "regression": {"label": {"column": "los"}},
}
"""The ``label`` block of a spec over :func:`synthetic_task_cohort`'s frame."""
TASK_MODEL: dict[str, dict[str, object]] = {
    "survival": {"score_column": "risk"},
    "multiclass": {"score_columns": {1: "p1", 2: "p2", 3: "p3"}},
    "regression": {"score_column": "predicted"},
}


def synthetic_task_cohort(
    task: str, n: int, *, seed: int, planted: str | None = None, strength: float = 0.0
) -> pd.DataFrame:
    """The same patients for a survival, multiclass (ordered) or regression model.

    survival: exponential times with a hazard of age and comorbidity, uniform
    censoring, horizon 365 days; the model's risk by the horizon is the true one,
    blended towards a permutation inside a planted cohort (worse ranking there).
    multiclass: acuity 1 (most acute) to 3 from a latent severity; the model's
    probabilities come from that severity, shifted towards less acute by ``2 *
    strength`` inside a planted cohort (under-triage there).
    regression: length of stay with its true mean as the prediction; inside a planted
    cohort the prediction has extra error (standard deviation ``3 * strength``).
    """
    rng = np.random.default_rng(seed)
    frame, _labels, _scores = synthetic_cohort(n, seed=seed)
    lp = 0.05 * (frame["age"].to_numpy() - 75) + 1.0 * (frame["comorbidity"] == "yes").to_numpy()
    rows = (
        np.asarray(PLANTED[planted](frame), dtype=bool)
        if planted is not None and strength > 0
        else np.zeros(n, dtype=bool)
    )
    if task == "survival":
        rate = 0.0015 * np.exp(lp)
        time = rng.exponential(1 / rate)
        censor = rng.uniform(200, 1500, n)
        frame["days"] = np.ceil(np.minimum(time, censor))
        frame["died"] = (time <= censor).astype(int)
        risk = 1 - np.exp(-rate * 365)
        noise = rng.permutation(risk[rows])
        risk[rows] = (1 - strength) * risk[rows] + strength * noise
        frame["risk"] = np.round(risk, 4)
    elif task == "multiclass":
        severity = lp + rng.logistic(0, 1, n)
        frame["acuity"] = np.where(severity > 1.5, 1, np.where(severity > 0.0, 2, 3))
        seen = lp - 2.0 * strength * rows
        cuts = np.array([1.5, 0.0])
        above = 1 / (1 + np.exp(-(seen[:, None] - cuts[None, :])))
        p1 = above[:, 0]
        p2 = above[:, 1] - above[:, 0]
        p3 = 1 - above[:, 1]
        for name, p in (("p1", p1), ("p2", p2), ("p3", p3)):
            frame[name] = np.round(p, 4)
    elif task == "regression":
        mean = (
            5
            + 0.1 * (frame["age"].to_numpy() - 75)
            + 2.0 * (frame["comorbidity"] == "yes").to_numpy()
        )
        frame["los"] = np.round(mean + rng.normal(0, 2, n), 2)
        frame["predicted"] = np.round(mean + rows * rng.normal(0, 3 * strength, n), 2)
    else:
        raise ValueError(f"no synthetic cohort for task {task!r}")
    return frame
