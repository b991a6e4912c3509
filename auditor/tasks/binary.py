"""Binary task: the existing path, wrapped (its statistic and registry are not copied).

The statistic is :class:`auditor.reduce.stats.ScoreTable` (distinct scores with
positive and negative counts) built by :func:`auditor.reduce.stats.reduce_frame`; the
registry is :data:`auditor.measure.metrics.METRICS`; measurement, bootstrap and
suppression are :func:`auditor.measure.measurement.measure`. This module only names
them as one task among four, with the renderer hints the faces read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.measure.metrics import METRICS as _METRICS
from auditor.tasks.base import RendererHints

ID = "binary"
TITLE = "Binary (probability of an outcome)"
DESCRIPTION = "A yes/no outcome and a predicted probability of it."

METRICS: Mapping[str, Any] = _METRICS
"""The binary registry itself (:data:`auditor.measure.metrics.METRICS`)."""

HINTS = RendererHints(
    summary_metrics=("prevalence", "auroc", "sensitivity", "calibration_slope"),
    chart_metrics=("auroc", "sensitivity", "calibration_slope"),
    disparity_metrics=("sensitivity", "fnr", "fpr", "selection_rate", "ppv", "auroc"),
    outcome_words="patients with and without the outcome",
)
