"""Models that misbehave on purpose, pickled by the bad-input tests (importable by name)."""

from __future__ import annotations

from typing import Any

import numpy as np


class StringScores:
    """A "classifier" whose probabilities are text."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: Any) -> np.ndarray:
        return np.array([["low", "high"]] * len(frame))


class ThreeColumns:
    """Claims two classes but returns three columns of probabilities."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: Any) -> np.ndarray:
        return np.full((len(frame), 3), 1 / 3)


class ConstantModel:
    """A well-behaved model: P(positive) = ``value`` for every row."""

    classes_ = np.array([0, 1])

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, frame: Any) -> np.ndarray:
        return np.column_stack(
            [np.full(len(frame), 1 - self.value), np.full(len(frame), self.value)]
        )
