"""ROC and calibration curves of reportable groups, as aggregates only.

ROC points come from the exact table (every distinct score is a threshold, high
to low, from (0, 0) to (1, 1)), downsampled to at most ``max_points`` with both
endpoints kept. Calibration curves use the registry's 10 equal-width bins (see
:func:`auditor.metrics.calibration_bins`) and keep only bins holding at least
``min_cell_size`` patients.
"""

from __future__ import annotations

import numpy as np

from auditor.metrics import Levels, calibration_bins

MAX_ROC_POINTS = 200


def roc_points(lv: Levels, max_points: int = MAX_ROC_POINTS) -> tuple[list[float], list[float]]:
    """(fpr, tpr) at every distinct threshold, downsampled; empty if undefined."""
    n_pos, n_neg = float(lv.n_pos), float(lv.n_neg)
    if n_pos <= 0 or n_neg <= 0:
        return [], []
    tp = np.concatenate([[0], np.cumsum(lv.pos[::-1])])
    fp = np.concatenate([[0], np.cumsum(lv.neg[::-1])])
    fpr, tpr = fp / n_neg, tp / n_pos
    if fpr.size > max_points:
        idx = np.unique(np.round(np.linspace(0, fpr.size - 1, max_points)).astype(np.int64))
        fpr, tpr = fpr[idx], tpr[idx]
    return fpr.tolist(), tpr.tolist()


def calibration_points(lv: Levels, min_cell_size: int) -> list[tuple[float, float]]:
    """(mean predicted, observed) per calibration bin with enough patients."""
    n_b, events, predicted = calibration_bins(lv)
    out = []
    for nb, ev, pr in zip(n_b.tolist(), events.tolist(), predicted.tolist()):
        if nb >= min_cell_size and nb > 0:
            out.append((pr / nb, ev / nb))
    return out
