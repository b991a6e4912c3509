"""Binary task: a yes/no outcome and a predicted probability of it.

The statistic is :class:`auditor.reduce.stats.ScoreTable` (distinct scores with
positive and negative counts) built by :func:`auditor.reduce.stats.reduce_frame`; the
registry is :data:`auditor.measure.metrics.METRICS`; measurement, bootstrap and
suppression are :func:`auditor.measure.measurement.measure`. This module makes them
one :class:`~auditor.tasks.base.Task` among four: the same methods orchestration
calls for every task, and the capabilities only a binary classifier has (threshold
curves, the mitigation what-if, fairlearn's named metrics, the streaming and Spark
engines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.measure.metrics import METRICS as _METRICS
from auditor.measure.metrics import MetricDef
from auditor.tasks.base import Capabilities, RendererHints

if TYPE_CHECKING:
    from auditor.audit import Prepared, Progress
    from auditor.load.spec import AuditSpec
    from auditor.measure.measurement import Measurement

ID = "binary"
TITLE = "Binary (probability of an outcome)"
DESCRIPTION = "A yes/no outcome and a predicted probability of it."

METRICS: Mapping[str, MetricDef] = _METRICS
"""The binary registry itself (:data:`auditor.measure.metrics.METRICS`)."""

HINTS = RendererHints(
    summary_metrics=("prevalence", "auroc", "sensitivity", "calibration_slope"),
    chart_metrics=("auroc", "sensitivity", "calibration_slope"),
    disparity_metrics=("sensitivity", "fnr", "fpr", "selection_rate", "ppv", "auroc"),
    outcome_words="patients with and without the outcome",
    threshold_subject="score",
    overview_metrics=(
        "prevalence",
        "selection_rate",
        "sensitivity",
        "specificity",
        "ppv",
        "auroc",
        "calibration_slope",
        "oe_ratio",
    ),
    threshold_metrics=("selection_rate", "sensitivity", "specificity", "ppv", "npv"),
)

CAPABILITIES = Capabilities(
    threshold_curves=True,
    mitigation=True,
    fairness_metrics=True,
    engines=("pandas", "streaming", "spark"),
)


class BinaryTask:
    """The binary task (see the module docstring)."""

    id = ID
    title = TITLE
    description = DESCRIPTION
    metrics: Mapping[str, MetricDef] = _METRICS
    hints = HINTS
    capabilities = CAPABILITIES

    def lookup(self, metric_id: str) -> MetricDef | None:
        return self.metrics.get(metric_id)

    def prepare(self, spec: AuditSpec, progress: Progress) -> Prepared:
        from auditor.tasks.prepare import prepare_scores

        return prepare_scores(spec, progress)

    def measure(
        self,
        prepared: Prepared,
        *,
        thresholds: Sequence[float],
        reference_groups: Mapping[Any, str | Sequence[str]],
        bootstrap: int,
        seed: int,
    ) -> Measurement:
        from auditor.audit import views_for
        from auditor.load.evidence import OUTPUT_LABEL, threshold_metrics
        from auditor.measure.measurement import measure

        spec = prepared.spec
        labels_only = spec.model.output == OUTPUT_LABEL
        return measure(
            prepared.stats,  # type: ignore[arg-type]
            metrics=threshold_metrics() if labels_only else None,
            views=views_for(spec),
            thresholds=list(thresholds),
            reference_groups=reference_groups,
            bootstrap=bootstrap,
            bins=spec.bootstrap_bins,
            seed=seed,
            min_cell_size=spec.min_cell_size,
            complementary=spec.privacy.complementary,
            rounding=spec.privacy.rounding,
            grid=spec.thresholds,
            clusters=prepared.clusters,
        )

    def outcome_labels(self, prepared: Prepared) -> np.ndarray | None:
        return prepared.data.labels

    def report_label(self, spec: AuditSpec) -> dict[str, Any]:
        return {"column": spec.label.column, "positive": spec.label.positive}


TASK = BinaryTask()
