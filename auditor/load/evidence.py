"""Bad evidence is refused, not audited: scores that are class labels, one-class labels.

A model whose scores take only the values 0 and 1 is a classifier's predicted class,
not a probability: AUROC, calibration, Brier and log loss computed from it are
meaningless numbers. The audit refuses it unless the spec declares it
(``model.output: label``); then only threshold metrics are measured. A label with one
class in the audited rows leaves every label metric undefined: refused too.
"""

from __future__ import annotations

import numpy as np

from auditor.errors import DataError, ModelError
from auditor.measure.metrics import COUNT_METRICS, METRICS

OUTPUT_PROBABILITY = "probability"
OUTPUT_LABEL = "label"

SCORES_ARE_LABELS = (
    "{source}: the scores take only the values 0 and 1: they are class labels, not "
    "probabilities, so AUROC and calibration would be meaningless. Give the model's "
    "predicted probability of the positive class (predict_proba, or a probability "
    "column), or declare a class-label model with `model.output: label` in the spec "
    "(then only threshold metrics are measured)."
)
LABEL_OUTPUT_NOT_LABELS = (
    "{source}: the spec declares `model.output: label`, but the scores take values other "
    "than 0 and 1 (for example {example}); remove `output: label` for a model that gives "
    "probabilities."
)
ONE_CLASS_LABEL = (
    "label: column {column!r} has only one class in the {n:,} audited rows ({which}); "
    "every label-based metric would be undefined. Audit data with patients both with "
    "and without the outcome."
)
NOTE_LABEL_OUTPUT = (
    "The model gives class labels (model.output: label), not probabilities: only "
    "threshold metrics (sensitivity, specificity, predictive values, selection rate, ...) "
    "are measured; AUROC, AUPRC, calibration, Brier score, log loss and ECE need "
    "probabilities and are not reported."
)


def threshold_metrics() -> list[str]:
    """The metrics a class-label model can be measured by."""
    return [
        m
        for m, d in METRICS.items()
        if d.needs_threshold or m in COUNT_METRICS or m == "prevalence"
    ]


def check_evidence(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    output: str,
    source: str,
    label_column: str,
    positive: object,
) -> None:
    """Raise when the scores or the labels cannot support the audit asked for."""
    check_score_values(np.unique(scores), output=output, source=source)
    check_label_balance(
        int(labels.size),
        int(np.count_nonzero(labels)),
        label_column=label_column,
        positive=positive,
    )


def check_score_values(values: np.ndarray, *, output: str, source: str) -> None:
    """The distinct scores (all of them, or the first three seen) fit the model's output."""
    binary = values.size <= 2 and bool(np.isin(values, (0.0, 1.0)).all())
    if output == OUTPUT_LABEL:
        if not binary:
            other = next(float(v) for v in values if v not in (0.0, 1.0))
            raise ModelError(LABEL_OUTPUT_NOT_LABELS.format(source=source, example=f"{other:g}"))
    elif binary and values.size == 2:
        raise ModelError(SCORES_ARE_LABELS.format(source=source))


def check_label_balance(n: int, positives: int, *, label_column: str, positive: object) -> None:
    """Both classes occur (from counts, so a stream can check it at the end)."""
    if n and positives in (0, n):
        which = (
            f"every row is the positive class {positive!r}"
            if positives == n
            else f"no row is the positive class {positive!r}"
        )
        raise DataError(ONE_CLASS_LABEL.format(column=label_column, n=n, which=which))
