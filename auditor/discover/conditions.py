"""Conditions a cohort is made of, in words a clinician reads ("age ≥ 80", "site = B").

A numeric column is cut at quantile edges of the search half, rounded to readable
numbers (two significant digits, whole numbers for whole-number columns); each cut
gives the conditions "x < e" and "x ≥ e", and each bin "a ≤ x < b". A column with
few distinct values is categorical: one "x = v" per value (missing values are the
group ``(missing)``, never dropped). Edges use only the feature values of the search
half, never the outcome, so the confirmation half stays untouched by the search.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.load.spec import MISSING_GROUP, group_label

MAX_CATEGORIES = 30
"""A column with more distinct values than this (and not numeric) is not searched."""
NUMERIC_MIN_DISTINCT = 8
"""A numeric column with fewer distinct values is searched value by value."""

OPS = ("==", "<", ">=", "between", "missing")


@dataclass(frozen=True, order=True)
class Condition:
    """One condition on one column; ``between`` is ``low ≤ x < high``."""

    feature: str
    op: str
    value: str | float
    high: float | None = None

    def text(self) -> str:
        """The condition in words: ``age ≥ 80``, ``70 ≤ age < 80``, ``site = B``."""
        if self.op == "==":
            return f"{self.feature} = {self.value}"
        if self.op == "missing":
            return f"{self.feature} is missing"
        if self.op == "<":
            return f"{self.feature} < {_num(self.value)}"
        if self.op == ">=":
            return f"{self.feature} ≥ {_num(self.value)}"
        return f"{_num(self.value)} ≤ {self.feature} < {_num(self.high)}"

    def spec_where(self) -> list[dict[str, object]]:
        """The same condition as ``named_groups[].where`` entries of an audit spec."""
        if self.op == "==":
            return [{"column": self.feature, "op": "==", "value": self.value}]
        if self.op == "<":
            return [{"column": self.feature, "op": "<", "value": self.value}]
        if self.op == ">=":
            return [{"column": self.feature, "op": ">=", "value": self.value}]
        if self.op == "between":
            return [
                {"column": self.feature, "op": ">=", "value": self.value},
                {"column": self.feature, "op": "<", "value": self.high},
            ]
        raise ValueError(f"a missing-value condition cannot be named: {self.text()}")


def cohort_text(conditions: Sequence[Condition]) -> str:
    """A cohort in words: its conditions joined by "and"."""
    return " and ".join(c.text() for c in conditions)


def _num(x: object) -> str:
    v = float(x)  # type: ignore[arg-type]
    if v.is_integer():
        return str(int(v))
    return f"{v:g}"


def readable(x: float, whole: bool) -> float:
    """``x`` rounded to two significant digits (a whole number for whole-number data)."""
    if x == 0 or not math.isfinite(x):
        return x
    digits = 1 - math.floor(math.log10(abs(x)))
    out = round(x, digits)
    return float(round(out)) if whole else float(out)


NICE_STEPS = (1.0, 2.0, 5.0)


def nice_step(spread: float) -> float:
    """The largest of 1, 2, 5 times a power of ten not above ``spread``."""
    if spread <= 0 or not math.isfinite(spread):
        return 0.0
    power = 10.0 ** math.floor(math.log10(spread))
    return max(s * power for s in NICE_STEPS if s * power <= spread)


def _round_to(x: float, step: float, whole: bool) -> float:
    if step <= 0:
        return readable(x, whole)
    out = round(round(x / step) * step, 10)
    return float(round(out)) if whole and step >= 1 else out


def numeric_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner quantile edges of ``values`` (finite only), readable and distinct.

    Each edge is rounded to a multiple of a "nice" step (1, 2 or 5 times a power of
    ten) about an eighth of the interquartile range for four bins, so ages cut at
    70, 80 and 90 rather than 69.75, 79.5 and 89.25.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    whole = bool(np.all(finite == np.round(finite)))
    qs = np.quantile(finite, np.arange(1, bins) / bins)
    q1, q3 = np.quantile(finite, [0.25, 0.75])
    step = nice_step(float(q3 - q1) / (2 * bins))
    lo, hi = float(finite.min()), float(finite.max())
    edges = [e for e in sorted({_round_to(float(q), step, whole) for q in qs}) if lo < e <= hi]
    if not edges:  # mostly one value (e.g. zero visits): cut the values above it
        above = finite[finite > lo]
        if above.size:
            qs = np.quantile(above, np.arange(0, bins - 1) / (bins - 1))
            edges = [e for e in sorted({readable(float(q), whole) for q in qs}) if lo < e <= hi]
    return edges


@dataclass(frozen=True)
class Item:
    """A condition and the rows it holds (a boolean mask over every audited row)."""

    condition: Condition
    mask: np.ndarray


def column_items(name: str, column: pd.Series, search_rows: np.ndarray, *, bins: int) -> list[Item]:
    """Every condition of one column; an empty list when the column cannot be searched."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    values = column.to_numpy()
    if numeric:
        x = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(x)
        distinct = np.unique(x[finite & search_rows])
        if distinct.size >= NUMERIC_MIN_DISTINCT:
            edges = numeric_edges(x[search_rows], bins)
            items: list[Item] = []
            with np.errstate(invalid="ignore"):
                for e in edges:
                    items.append(Item(Condition(name, "<", e), finite & (x < e)))
                    items.append(Item(Condition(name, ">=", e), finite & (x >= e)))
                for lo, hi in itertools.pairwise(edges):
                    items.append(
                        Item(Condition(name, "between", lo, hi), finite & (x >= lo) & (x < hi))
                    )
            if not finite.all():
                items.append(Item(Condition(name, "missing", MISSING_GROUP), ~finite))
            return items
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    names = np.array([group_label(u) for u in uniques] + [MISSING_GROUP], dtype=object)
    labels = names[np.where(codes < 0, len(uniques), codes)]
    distinct_labels = sorted(set(labels[search_rows].tolist()))
    if len(distinct_labels) > MAX_CATEGORIES or len(distinct_labels) < 2:
        return []
    out = []
    for v in distinct_labels:
        cond = (
            Condition(name, "missing", MISSING_GROUP)
            if v == MISSING_GROUP
            else Condition(name, "==", v)
        )
        out.append(Item(cond, labels == v))
    return out
