"""Patients behind the rows: the reduction a cluster bootstrap and patient counts need.

Clinical data often hold several encounters per patient. With the spec's
``cluster: <patient id column>`` the audit keeps, besides the per-cell score tables,
one small record per encounter (patient code, finest cell, score, label: 21 bytes)
so that

* the bootstrap resamples patients, not encounters (:mod:`auditor.measure.bootstrap`),
  within strata: a patient's stratum is their *primary cell*, the finest cell holding
  most of their encounters (ties: the first cell in group order). A patient whose
  encounters fall in several cells is drawn as a whole, with every encounter in
  every cell, so the dependence between those cells is kept;
* every size figure and the small-cell floor count patients (:meth:`PatientClusters.counts`).

A patient counts in a group when any of their encounters is in it; "with the
outcome" when any of those encounters has the outcome, otherwise "without";
at a threshold, a patient is flagged when their highest score in the group is at
or above it. So each group's patient counts add up (with + without = size), as the
suppression plan expects. Across groups they add up only when no patient spans
cells: the audit notes how many patients do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.privacy.suppression import Counts
from auditor.reduce.stats import LENGTH_MISMATCH, _codes, _validate_labels, _validate_scores

PATIENT_IDS_MISSING = (
    "{file}: column {column!r} (spec key cluster) has no patient id in {count} row(s) "
    "(data rows {rows}); every encounter must name its patient."
)

Key = tuple[str, ...]
View = tuple[str, ...]


@dataclass(frozen=True, eq=False)
class PatientClusters:
    """Encounters with their patient (codes 0..P-1) and finest cell (codes into ``cells``)."""

    attributes: tuple[str, ...]
    cells: tuple[Key, ...]
    patient: np.ndarray
    cell: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    column: str = "patient_id"
    columns: Mapping[str, np.ndarray] | None = None
    """Survival, multiclass and regression audits: each encounter's outcome and model
    output columns (as in :func:`auditor.tasks.base.reduce_rows`), so a replicate can
    rebuild every group's distinct-row table from the drawn patients. ``labels`` are
    then the task's 0/1 outcome (survival: the event by the horizon; else 0) and
    ``scores`` are unused."""

    @property
    def n_patients(self) -> int:
        return int(self.patient.max()) + 1 if self.patient.size else 0

    @property
    def n_encounters(self) -> int:
        return int(self.patient.size)

    def primary_cell(self) -> np.ndarray:
        """Per patient, the cell code holding most of their encounters (ties: lowest)."""
        p, c = self.n_patients, len(self.cells)
        pair = self.patient.astype(np.int64) * c + self.cell
        uniq, n = np.unique(pair, return_counts=True)
        pat, cel = np.divmod(uniq, c)
        # sort by patient, then count descending, then cell ascending: first row wins
        order = np.lexsort((cel, -n, pat))
        first = np.ones(order.size, dtype=bool)
        first[1:] = pat[order][1:] != pat[order][:-1]
        out = np.empty(p, dtype=np.int64)
        out[pat[order][first]] = cel[order][first]
        return out

    def spanning(self) -> int:
        """Patients whose encounters fall in more than one finest cell."""
        c = len(self.cells)
        pairs = np.unique(self.patient.astype(np.int64) * c + self.cell)
        per_patient = np.bincount(pairs // c, minlength=self.n_patients)
        return int((per_patient > 1).sum())

    def patient_order(self) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Patients sorted by stratum (primary cell), and each stratum's (cell, lo, hi)."""
        primary = self.primary_cell()
        order = np.argsort(primary, kind="stable")
        sorted_cells = primary[order]
        starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
        ends = np.r_[starts[1:], order.size]
        strata = [(int(sorted_cells[a]), int(a), int(b)) for a, b in zip(starts, ends)]
        return order, strata

    def counts(self, view: View, groups: Sequence[Key], grid: Sequence[float]) -> dict[Key, Counts]:
        """Patient counts of each group of ``view`` (see the module docstring)."""
        idx = [self.attributes.index(a) for a in view]
        gid_of: dict[Key, int] = {g: i for i, g in enumerate(groups)}
        cell_group = np.array(
            [gid_of.get(tuple(c[i] for i in idx), -1) for c in self.cells], dtype=np.int64
        )
        g = cell_group[self.cell] if self.cells else np.zeros(0, dtype=np.int64)
        ok = g >= 0
        ng = max(len(groups), 1)
        pair = self.patient[ok].astype(np.int64) * ng + g[ok]
        uniq, inv = np.unique(pair, return_inverse=True)
        gids = uniq % ng
        any_pos = np.zeros(uniq.size, dtype=bool)
        any_pos[inv[self.labels[ok] == 1]] = True
        top = np.full(uniq.size, -np.inf)
        np.maximum.at(top, inv, self.scores[ok])
        asc = np.asarray(sorted(grid), dtype=np.float64)
        band = np.searchsorted(asc, top, side="right")
        nb = asc.size + 1
        n = np.bincount(gids, minlength=ng)
        npos = np.bincount(gids[any_pos], minlength=ng)
        bpos = np.bincount(gids[any_pos] * nb + band[any_pos], minlength=ng * nb).reshape(ng, nb)
        neg = ~any_pos
        bneg = np.bincount(gids[neg] * nb + band[neg], minlength=ng * nb).reshape(ng, nb)
        out: dict[Key, Counts] = {}
        for key, i in gid_of.items():
            bands = tuple((int(a), int(b)) for a, b in zip(bpos[i], bneg[i])) if len(grid) else ()
            out[key] = Counts(int(n[i]), int(npos[i]), int(n[i] - npos[i]), bands)
        return out


def reduce_clusters(
    sensitive: pd.DataFrame,
    labels: np.ndarray,
    scores: np.ndarray,
    patients: pd.Series | np.ndarray,
    *,
    column: str = "patient_id",
    file: str = "the data",
) -> PatientClusters:
    """Encounter records for the cluster bootstrap (cells named as :func:`reduce_frame` does)."""
    s = _validate_scores(np.asarray(scores))
    n = s.size
    y = _validate_labels(labels, n)
    ids = patients if isinstance(patients, pd.Series) else pd.Series(np.asarray(patients))
    if len(ids) != n:
        raise DataError(LENGTH_MISMATCH.format(what="cluster", expected=n, got=len(ids)))
    missing = ids.isna().to_numpy()
    if missing.any():
        at = np.flatnonzero(missing)
        index = np.asarray(ids.index)
        rows = [
            int(index[i]) + 1 if pd.api.types.is_integer_dtype(ids.index.dtype) else int(i) + 1
            for i in at[:5]
        ]
        raise DataError(
            PATIENT_IDS_MISSING.format(
                file=file,
                column=column,
                count=int(at.size),
                rows=", ".join(map(str, rows)) + (", ..." if at.size > 5 else ""),
            )
        )
    patient, _ = pd.factorize(ids.astype(str), sort=False)
    attrs = tuple(str(c) for c in sensitive.columns)
    cell = np.zeros(n, dtype=np.int64)
    names: list[tuple[str, ...]] = []
    for col in sensitive.columns:
        codes, uniq = _codes(sensitive[col])
        cell = cell * max(len(uniq), 1) + codes
        names.append(uniq)
    used, cell = np.unique(cell, return_inverse=True)
    keys: list[Key] = []
    sizes = [max(len(u), 1) for u in names]
    for cid in used.tolist():
        rem, key = cid, []
        for size, uniq in zip(reversed(sizes), reversed(names)):
            rem, r = divmod(rem, size)
            key.append(uniq[r])
        keys.append(tuple(reversed(key)))
    return PatientClusters(
        attrs,
        tuple(keys),
        np.asarray(patient, dtype=np.int64),
        np.asarray(cell, dtype=np.int64).ravel(),
        s,
        y,
        column,
    )
