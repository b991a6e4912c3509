"""ROC and calibration curves of reportable groups, as aggregates only.

No curve can be read back into patients: every step between two consecutive
published points holds, with and without the outcome separately, either no
patient or at least ``min_cell_size`` (:func:`safe_steps`). ROC points come from
the exact table (every distinct score is a candidate threshold, high to low, from
(0, 0) to (1, 1)); calibration points from the registry's 10 equal-width bins (see
:func:`auditor.measure.metrics.calibration_bins`), adjacent bins merged until each holds
enough patients. Curves carry no score thresholds, and only groups whose event
count is published get curves (:attr:`auditor.privacy.suppression.Privacy.curves_shown`).
"""

from __future__ import annotations

import numpy as np

from auditor.measure.metrics import Levels, calibration_bins

MAX_ROC_POINTS = 200


def safe_steps(pos: np.ndarray, neg: np.ndarray, min_cell_size: int) -> list[int]:
    """End indices (exclusive) of consecutive runs of ``pos``/``neg`` whose sums are
    each 0 or at least ``min_cell_size``; the last run ends at ``len(pos)``.

    Greedy: close a run as soon as it is safe; an unsafe remainder is merged into the
    runs before it. The whole is one run when nothing smaller is safe.
    """
    m = min_cell_size

    def safe(p: float, q: float) -> bool:
        return not (0 < p < m) and not (0 < q < m)

    ends: list[int] = []
    acc_p = acc_q = 0.0
    for i, (p, q) in enumerate(zip(pos.tolist(), neg.tolist())):
        acc_p += p
        acc_q += q
        if (acc_p or acc_q) and safe(acc_p, acc_q):
            ends.append(i + 1)
            acc_p = acc_q = 0.0
    size = len(pos)
    if not ends or ends[-1] != size:
        # merge the unsafe tail into the runs before it until the last run is safe
        while ends:
            start = ends[-2] if len(ends) > 1 else 0
            p = float(np.sum(pos[start:])) if size else 0.0
            q = float(np.sum(neg[start:])) if size else 0.0
            ends.pop()
            if safe(p, q):
                break
        ends.append(size)
    return ends


def roc_points(
    lv: Levels, min_cell_size: int = 1, max_points: int = MAX_ROC_POINTS
) -> tuple[list[float], list[float]]:
    """(fpr, tpr) at thresholds whose steps each hold 0 or >= the floor; empty if undefined."""
    n_pos, n_neg = float(lv.n_pos), float(lv.n_neg)
    if n_pos <= 0 or n_neg <= 0:
        return [], []
    pos, neg = lv.pos[::-1], lv.neg[::-1]
    ends = safe_steps(pos, neg, min_cell_size)
    tp = np.concatenate([[0], np.cumsum(pos)[np.asarray(ends) - 1]])
    fp = np.concatenate([[0], np.cumsum(neg)[np.asarray(ends) - 1]])
    fpr, tpr = fp / n_neg, tp / n_pos
    if fpr.size > max_points:
        idx = np.unique(np.round(np.linspace(0, fpr.size - 1, max_points)).astype(np.int64))
        fpr, tpr = fpr[idx], tpr[idx]
    return fpr.tolist(), tpr.tolist()


def calibration_points(lv: Levels, min_cell_size: int) -> list[tuple[float, float]]:
    """(mean predicted, observed) per run of adjacent calibration bins holding, with
    and without the outcome, 0 or at least ``min_cell_size`` patients."""
    n_b, events, predicted = (np.asarray(a, dtype=float) for a in calibration_bins(lv))
    keep = n_b > 0
    n_b, events, predicted = n_b[keep], events[keep], predicted[keep]
    if not n_b.size:
        return []
    out = []
    start = 0
    for end in safe_steps(events, n_b - events, min_cell_size):
        nb = float(n_b[start:end].sum())
        if nb > 0:
            out.append(
                (float(predicted[start:end].sum()) / nb, float(events[start:end].sum()) / nb)
            )
        start = end
    return out
