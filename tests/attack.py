"""A determined reader's attack on a published report.json, written independently of
the planner (it reads only what was published, and solves with scipy's linprog).

Unknowns: patients of every finest cell (one value of each attribute) per score band
of the published thresholds, with and without the outcome. Every published count,
and every count that follows from a published rate times a published count (rate x
n), is an equation; every reason is a bound ("fewer than 11 patients": 1 to 10).
A count is *recovered* when its smallest and largest values under all of that admit
a single whole number between 1 and ``min_cell_size - 1``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linprog

EPS = 1e-6


def _names(attribute: Any, group: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if attribute == "overall":
        return (), ()
    if isinstance(attribute, str):
        return (attribute,), (group,)
    return tuple(attribute), tuple(group)


def _integer(x: float) -> int | None:
    r = round(x)
    return r if abs(x - r) < 1e-6 else None


@dataclass
class Reader:
    report: dict[str, Any]
    m: int = 0
    thresholds: list[float] = field(default_factory=list)
    equations: list[tuple[np.ndarray, float]] = field(default_factory=list)
    bounds: list[tuple[np.ndarray, float, float]] = field(default_factory=list)
    derived: list[tuple[str, str, int]] = field(default_factory=list)
    """Every count read or derived by rate x n: (group, what, value)."""

    def __post_init__(self) -> None:
        r = self.report
        self.m = int(r["min_cell_size"])
        self.thresholds = sorted(float(t) for t in r["thresholds"])
        self.n_bands = len(self.thresholds) + 1
        groups = [r["overall"], *r["groups"]]
        attrs: list[str] = []
        values: dict[str, list[str]] = {}
        for g in groups:
            names, keys = _names(g["attribute"], g["group"])
            for a, v in zip(names, keys):
                if a not in attrs:
                    attrs.append(a)
                values.setdefault(a, [])
                if v not in values[a]:
                    values[a].append(v)
        self.attrs = attrs
        self.cells = list(itertools.product(*(values[a] for a in attrs)))
        self.n_vars = len(self.cells) * self.n_bands * 2
        self.groups = groups
        for g in groups:
            self._read(g)

    # -- forms ---------------------------------------------------------------------
    def members(self, g: dict[str, Any]) -> np.ndarray:
        names, keys = _names(g["attribute"], g["group"])
        cols = [self.attrs.index(a) for a in names]
        return np.array(
            [i for i, c in enumerate(self.cells) if all(c[j] == v for j, v in zip(cols, keys))],
            dtype=int,
        )

    def form(self, g: dict[str, Any], cls: int, lo: int, hi: int) -> np.ndarray:
        row = np.zeros(self.n_vars)
        for cell in self.members(g):
            for b in range(lo, hi + 1):
                for c in (0, 1) if cls == 2 else (cls,):
                    row[(cell * self.n_bands + b) * 2 + c] = 1.0
        return row

    def label(self, g: dict[str, Any]) -> str:
        return " x ".join(_names(g["attribute"], g["group"])[1]) or "everyone"

    # -- what is published ----------------------------------------------------------
    def _eq(self, g: dict[str, Any], what: str, cls: int, lo: int, value: float) -> None:
        top = self.n_bands - 1
        v = _integer(value)
        assert v is not None, f"{self.label(g)}: {what} = {value} is not a whole number"
        self.equations.append((self.form(g, cls, lo, top), v))
        self.derived.append((self.label(g), what, v))

    def _read(self, g: dict[str, Any]) -> None:
        m, top = self.m, self.n_bands - 1
        reason = g.get("suppression_reason") or ""
        if g.get("suppressed"):
            if reason == f"fewer than {m} patients":
                self.bounds.append((self.form(g, 2, 0, top), 1, m - 1))
            return
        n = g.get("n")
        if n is None:
            return
        self._eq(g, "n", 2, 0, n)
        both = "with and fewer than" in reason
        if both or ("with the outcome" in reason and "fewer than" in reason):
            self.bounds.append((self.form(g, 1, 0, top), 0, m - 1))
        if "fewer than" in reason and "without the outcome" in reason:
            self.bounds.append((self.form(g, 0, 0, top), 0, m - 1))
        metrics = g.get("metrics", {})

        def est(ms: dict[str, Any], mid: str) -> float | None:
            e = ms.get(mid)
            return None if e is None else e.get("estimate")

        pos = est(metrics, "n_positive")
        if pos is None and est(metrics, "prevalence") is not None:
            pos = est(metrics, "prevalence") * n
        if pos is None and est(metrics, "n_negative") is not None:
            pos = n - est(metrics, "n_negative")
        if pos is not None:
            self._eq(g, "events", 1, 0, pos)
        per_t = {float(self.report["threshold"]): metrics}
        for t, ms in g.get("by_threshold", {}).items():
            per_t[float(t)] = ms
        for t, ms in per_t.items():
            i = self.thresholds.index(t)
            sr = est(ms, "selection_rate")
            pp = sr * n if sr is not None else None
            if pp is not None:
                self._eq(g, f"flagged at {t}", 2, i + 1, pp)
            tp = fp = None
            if pos is not None:
                sens, fnr = est(ms, "sensitivity"), est(ms, "fnr")
                if sens is not None:
                    tp = sens * pos
                elif fnr is not None:
                    tp = (1 - fnr) * pos
                spec, fpr = est(ms, "specificity"), est(ms, "fpr")
                if fpr is not None:
                    fp = fpr * (n - pos)
                elif spec is not None:
                    fp = (1 - spec) * (n - pos)
            if pp is not None and tp is None and est(ms, "ppv") is not None:
                tp = est(ms, "ppv") * pp
            if tp is not None:
                self._eq(g, f"true positives at {t}", 1, i + 1, tp)
            if fp is not None:
                self._eq(g, f"false positives at {t}", 0, i + 1, fp)

    # -- the attack -------------------------------------------------------------------
    def range(self, row: np.ndarray) -> tuple[float, float]:
        a_eq = np.array([e[0] for e in self.equations]) if self.equations else None
        b_eq = np.array([e[1] for e in self.equations]) if self.equations else None
        ub_rows, ub_b = [], []
        for f, lo, hi in self.bounds:
            ub_rows += [f, -f]
            ub_b += [hi, -lo]
        a_ub = np.array(ub_rows) if ub_rows else None
        b_ub = np.array(ub_b) if ub_b else None
        out = []
        for sign in (1.0, -1.0):
            res = linprog(sign * row, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, None))
            if res.status == 3:
                return (-math.inf, math.inf)
            assert res.status == 0, res.message
            out.append(sign * res.fun)
        return out[0], out[1]

    def recovered(self) -> list[tuple[str, str, int]]:
        """Every count from 1 to m - 1 a reader can pin from the report."""
        found = [(g, w, v) for g, w, v in self.derived if 1 <= v < self.m]
        top = self.n_bands - 1
        for g in self.groups:
            for lo in range(self.n_bands):
                for hi in range(lo, top + 1):
                    for cls, word in ((2, "patients"), (1, "with the outcome"), (0, "without")):
                        low, high = self.range(self.form(g, cls, lo, hi))
                        if math.isinf(low) or math.isinf(high):
                            continue
                        a, b = math.ceil(low - EPS), math.floor(high + EPS)
                        if a == b and 1 <= a < self.m:
                            found.append((self.label(g), f"{word} in bands {lo}..{hi}", a))
        return found


def curve_steps(report: dict[str, Any]) -> list[tuple[str, float]]:
    """Curve-step reconstruction: patients in each ROC step (from the published event
    count); a step of 1 to m - 1 with or without the outcome is a recovered count."""
    m = int(report["min_cell_size"])
    groups = {str((g["attribute"], g["group"])): g for g in [report["overall"], *report["groups"]]}
    bad = []
    for c in report["curves"]["roc"]:
        g = groups[str((c["attribute"], c["group"]))]
        pos = g["metrics"].get("n_positive", {}).get("estimate")
        assert pos is not None, "a curve is published only with its event count"
        neg = g["n"] - pos
        for (f0, t0), (f1, t1) in itertools.pairwise(zip(c["fpr"], c["tpr"])):
            for d in ((t1 - t0) * pos, (f1 - f0) * neg):
                if 0.5 < d < m - 0.5:
                    bad.append((str(c["group"]), d))
    return bad


def data_check_cells(report: dict[str, Any]) -> list[tuple[str, str, float]]:
    """Rate x n on missingness, and the rows dropped by subtraction."""
    m = int(report["min_cell_size"])
    checks = report["data_checks"]
    sizes = {(r["attribute"], r["group"]): r["n"] for r in checks["representation"]}
    bad = []
    for row in checks["missingness"]:
        rate, n = row.get("missing_rate"), sizes.get((row["attribute"], row["group"]))
        if rate is None or n is None:
            continue
        for k in (rate * n, n - rate * n):
            if 0.5 < k < m - 0.5:
                bad.append((row["group"], row["feature"], k))
    by_attribute: dict[str, list[dict[str, Any]]] = {}
    for row in checks["missingness"]:
        by_attribute.setdefault(f"{row['attribute']}/{row['feature']}", []).append(row)
    for key, rows in by_attribute.items():
        hidden = [r for r in rows if r.get("missing_rate") is None]
        if len(hidden) == 1:
            bad.append((hidden[0]["group"], key, -1))
    total, dropped = checks.get("rows_total"), checks.get("rows_dropped_missing_label")
    if total is not None and dropped is not None and 0 < dropped < m:
        bad.append(("rows", "dropped", dropped))
    if total is not None and report["overall"].get("n") is not None:
        d = total - report["overall"]["n"]
        if 0 < d < m:
            bad.append(("rows", "dropped by subtraction", d))
    return bad


RATE_BASES = {
    "selection_rate": ("n", 2, True),
    "prevalence": ("n", 1, False),
    "sensitivity": ("events", 1, True),
    "fnr": ("events", 1, True),
    "specificity": ("non-events", 0, True),
    "fpr": ("non-events", 0, True),
}
"""A shown rate's denominator, the class it counts, and whether it depends on the threshold."""


def add_shown(
    reader: Reader,
    group: dict[str, Any],
    what: str,
    value: float,
    digits: int,
    threshold: float | None = None,
) -> None:
    """Add one figure another face shows (a dashboard cell) to the reader's system.

    ``value`` was shown with ``digits`` decimals, so it bounds the count it stands for
    to an interval: a count is an equation, a rate times its denominator (when the
    reader can pin the denominator) is a bound on the count it was made from.
    """
    top = reader.n_bands - 1
    half = 0.5 * 10.0**-digits
    if what in ("n", "events", "non-events"):
        cls = {"n": 2, "events": 1, "non-events": 0}[what]
        reader.bounds.append((reader.form(group, cls, 0, top), value - half, value + half))
        if digits == 0:
            reader.derived.append((reader.label(group), f"shown {what}", round(value)))
        return
    base = RATE_BASES.get(what)
    if base is None:
        return
    name, cls, by_threshold = base
    lo = 0
    if by_threshold:
        assert threshold is not None, what
        lo = reader.thresholds.index(threshold) + 1
    den_cls = {"n": 2, "events": 1, "non-events": 0}[name]
    low, high = reader.range(reader.form(group, den_cls, 0, top))
    if math.isinf(low) or math.isinf(high) or math.ceil(low - EPS) != math.floor(high + EPS):
        return  # the denominator is not pinned: a linear reader cannot use the rate
    den = math.ceil(low - EPS)
    if what in ("fnr", "specificity"):
        value, lo_cls = 1 - value, cls
    else:
        lo_cls = cls
    reader.bounds.append(
        (
            reader.form(group, lo_cls, lo, top),
            (value - half) * den - EPS,
            (value + half) * den + EPS,
        )
    )
