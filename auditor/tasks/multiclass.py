"""Multiclass and ordinal task: one true class, a probability per class.

The statistic of a cell is a :class:`RowTable` of distinct ``(label, p_0, ..., p_{K-1})``
rows with patient counts; ``label`` is the index of the true class in the spec's
``classes`` list and the predicted class is the one with the highest probability
(the first on ties, as ``numpy.argmax`` and scikit-learn's ``predict``).

For an ordinal scale (``ordered: true``) the ``classes`` list runs from the most
acute (first) to the least acute (last), as triage scales do (ESI 1 = resuscitation).
``under_triage_rate`` is the share of patients predicted *less* acute than they were
(the dangerous error: a sick patient waits); ``over_triage_rate`` the share predicted
*more* acute (resources spent, less danger).

References (``tests/test_tasks_multiclass.py``, 1e-9): ``accuracy`` =
``sklearn.metrics.accuracy_score``, ``balanced_accuracy`` = ``balanced_accuracy_score``
(mean recall over the classes present in the group), ``macro_f1`` =
``f1_score(average="macro")`` (over the classes observed or predicted in the group,
0 for a class never predicted), ``auroc_ovr_macro`` = ``roc_auc_score(multi_class="ovr",
average="macro")`` when every class is present in the group; with a class missing,
the mean of the one-vs-rest AUROCs of the classes present (scikit-learn would fail).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditor.tasks.base import RendererHints, RowTable, TaskDef, TaskMetric, Value

EMPTY = "the group has no patients"
NOT_ORDERED = "the classes are not declared ordered (label.ordered: true)"
NO_CLASS = "the group has no patient of class {cls}"
NOT_PREDICTED = "no patient of the group is predicted class {cls}"
ONE_CLASS = "the group has patients of fewer than two classes"


@dataclass(frozen=True)
class MulticlassContext:
    classes: tuple[str, ...]
    ordered: bool


def prob_columns(k: int) -> tuple[str, ...]:
    return tuple(f"p_{i}" for i in range(k))


def _arrays(table: RowTable, ctx: MulticlassContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true class index, predicted class index, counts)."""
    y = table.columns["label"].astype(int)
    proba = np.column_stack([table.columns[c] for c in prob_columns(len(ctx.classes))])
    pred = np.argmax(proba, axis=1) if proba.size else np.zeros(0, dtype=int)
    return y, pred, table.count


def confusion(table: RowTable, ctx: MulticlassContext) -> np.ndarray:
    """Patients by true class (rows) and predicted class (columns)."""
    y, pred, w = _arrays(table, ctx)
    k = len(ctx.classes)
    return np.bincount(y * k + pred, weights=w, minlength=k * k).reshape(k, k)


def _frac(k: float, n: float, why: str = EMPTY) -> Value:
    return (k / n, None) if n > 0 else (np.nan, why)


def accuracy_fraction(table: RowTable, ctx: MulticlassContext) -> tuple[float, float]:
    cm = confusion(table, ctx)
    return float(np.trace(cm)), float(cm.sum())


def accuracy(table: RowTable, ctx: MulticlassContext) -> Value:
    return _frac(*accuracy_fraction(table, ctx))


def balanced_accuracy(table: RowTable, ctx: MulticlassContext) -> Value:
    cm = confusion(table, ctx)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return np.nan, EMPTY
    return float(np.mean(np.diag(cm)[present] / support[present])), None


def macro_f1(table: RowTable, ctx: MulticlassContext) -> Value:
    cm = confusion(table, ctx)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    seen = (support > 0) | (predicted > 0)
    if not seen.any():
        return np.nan, EMPTY
    tp = np.diag(cm)
    f1 = 2 * tp[seen] / (support[seen] + predicted[seen])
    return float(np.mean(f1)), None


def _binary_auc(
    pos_scores: np.ndarray, pos_w: np.ndarray, neg_scores: np.ndarray, neg_w: np.ndarray
) -> float:
    order = np.argsort(neg_scores, kind="mergesort")
    ns, nw = neg_scores[order], neg_w[order]
    cum = np.r_[0.0, np.cumsum(nw)]
    below = cum[np.searchsorted(ns, pos_scores, side="left")]
    upto = cum[np.searchsorted(ns, pos_scores, side="right")]
    return float(pos_w @ (below + 0.5 * (upto - below))) / (float(pos_w.sum()) * float(nw.sum()))


def auroc_ovr_macro(table: RowTable, ctx: MulticlassContext) -> Value:
    y, _, w = _arrays(table, ctx)
    aucs = []
    for c in range(len(ctx.classes)):
        p = table.columns[f"p_{c}"]
        pos = y == c
        if w[pos].sum() > 0 and w[~pos].sum() > 0:
            aucs.append(_binary_auc(p[pos], w[pos], p[~pos], w[~pos]))
    if len(aucs) < 2 and not (len(aucs) == 1 and len(ctx.classes) == 2):
        return np.nan, ONE_CLASS
    return float(np.mean(aucs)), None


def _triage(table: RowTable, ctx: MulticlassContext, under: bool) -> tuple[float, float]:
    y, pred, w = _arrays(table, ctx)
    wrong = pred > y if under else pred < y
    return float(w[wrong].sum()), float(w.sum())


def under_triage_fraction(table: RowTable, ctx: MulticlassContext) -> tuple[float, float]:
    return _triage(table, ctx, under=True)


def over_triage_fraction(table: RowTable, ctx: MulticlassContext) -> tuple[float, float]:
    return _triage(table, ctx, under=False)


def under_triage_rate(table: RowTable, ctx: MulticlassContext) -> Value:
    if not ctx.ordered:
        return np.nan, NOT_ORDERED
    return _frac(*under_triage_fraction(table, ctx))


def over_triage_rate(table: RowTable, ctx: MulticlassContext) -> Value:
    if not ctx.ordered:
        return np.nan, NOT_ORDERED
    return _frac(*over_triage_fraction(table, ctx))


def n_patients(table: RowTable, ctx: Any) -> Value:
    return table.n, None


def _class_fraction(c: int, *, ppv: bool) -> Any:
    def fraction(table: RowTable, ctx: MulticlassContext) -> tuple[float, float]:
        cm = confusion(table, ctx)
        return float(cm[c, c]), float(cm[:, c].sum() if ppv else cm[c, :].sum())

    return fraction


def _class_metric(c: int, cls: str, *, ppv: bool) -> Any:
    fraction = _class_fraction(c, ppv=ppv)
    why = NOT_PREDICTED.format(cls=cls) if ppv else NO_CLASS.format(cls=cls)

    def fn(table: RowTable, ctx: MulticlassContext) -> Value:
        k, n = fraction(table, ctx)
        return _frac(k, n, why)

    return fn


PER_CLASS = ("ovr_sensitivity", "ovr_ppv")


def class_metrics(ctx: MulticlassContext) -> dict[str, TaskMetric]:
    """The per-class one-vs-rest metrics of this audit's classes (``ovr_sensitivity_<class>``)."""
    out: dict[str, TaskMetric] = {}
    for c, cls in enumerate(ctx.classes):
        for base, ppv in (("ovr_sensitivity", False), ("ovr_ppv", True)):
            template = METRICS[base]
            out[f"{base}_{cls}"] = TaskMetric(
                f"{base}_{cls}",
                f"{template.name}, class {cls}",
                template.direction,
                template.reference,
                template.meaning,
                _class_metric(c, cls, ppv=ppv),
                fraction=_class_fraction(c, ppv=ppv),
            )
    return out


def _template(table: RowTable, ctx: Any) -> Value:
    return np.nan, "measured per class (ovr_sensitivity_<class>)"


METRICS: Mapping[str, TaskMetric] = {
    m.id: m
    for m in (
        TaskMetric(
            "n",
            "Patients",
            "none",
            "len(y_true)",
            "Number of patients in the group.",
            n_patients,
            label_dependent=False,
            count=True,
        ),
        TaskMetric(
            "accuracy",
            "Accuracy",
            "higher",
            "sklearn.metrics.accuracy_score",
            "Share of patients assigned their true class.",
            accuracy,
            fraction=accuracy_fraction,
        ),
        TaskMetric(
            "balanced_accuracy",
            "Balanced accuracy",
            "higher",
            "sklearn.metrics.balanced_accuracy_score",
            "Mean over classes of the share of each class recognised (rare classes count "
            "as much as common ones).",
            balanced_accuracy,
        ),
        TaskMetric(
            "macro_f1",
            "Macro F1",
            "higher",
            'sklearn.metrics.f1_score(average="macro")',
            "Mean over classes of the harmonic mean of sensitivity and PPV.",
            macro_f1,
        ),
        TaskMetric(
            "auroc_ovr_macro",
            "AUROC (one-vs-rest, macro)",
            "higher",
            'sklearn.metrics.roc_auc_score(multi_class="ovr", average="macro")',
            "Mean over classes of how well that class's probability ranks its patients "
            "above the others.",
            auroc_ovr_macro,
        ),
        TaskMetric(
            "under_triage_rate",
            "Under-triage rate",
            "lower",
            "numpy.mean(rank(y_pred) > rank(y_true)) on the ordered classes",
            "Share of patients predicted less acute than they were: the clinically "
            "dangerous error (a sick patient waits). Ordered classes only.",
            under_triage_rate,
            fraction=under_triage_fraction,
        ),
        TaskMetric(
            "over_triage_rate",
            "Over-triage rate",
            "lower",
            "numpy.mean(rank(y_pred) < rank(y_true)) on the ordered classes",
            "Share of patients predicted more acute than they were: resources spent on "
            "patients who did not need them. Ordered classes only.",
            over_triage_rate,
            fraction=over_triage_fraction,
        ),
        TaskMetric(
            "ovr_sensitivity",
            "One-vs-rest sensitivity",
            "higher",
            "sklearn.metrics.recall_score(average=None)",
            "Per class: share of the class's patients predicted as that class.",
            _template,
        ),
        TaskMetric(
            "ovr_ppv",
            "One-vs-rest PPV",
            "higher",
            "sklearn.metrics.precision_score(average=None)",
            "Per class: share of patients predicted as the class who belong to it.",
            _template,
        ),
    )
}

HINTS = RendererHints(
    summary_metrics=("accuracy", "balanced_accuracy", "under_triage_rate", "auroc_ovr_macro"),
    chart_metrics=("balanced_accuracy", "under_triage_rate", "auroc_ovr_macro"),
    disparity_metrics=("under_triage_rate", "over_triage_rate", "balanced_accuracy", "macro_f1"),
    outcome_words="patients",
    outcome_text=lambda label, number: (
        f"{label.get('column', '')} (classes "
        f"{', '.join(str(c) for c in label.get('classes') or [])}; "
        f"{'ordered, first most acute' if label.get('ordered') else 'unordered'})"
    ),
)


def _context(overall: RowTable, settings: Mapping[str, Any]) -> MulticlassContext:
    classes: Sequence[Any] = settings["classes"]
    return MulticlassContext(tuple(str(c) for c in classes), bool(settings.get("ordered")))


def _curves(
    curves: Any,
    attribute: Any,
    group: Any,
    table: RowTable,
    ctx: MulticlassContext,
    m: int,
    privacy: Any,
) -> None:
    """The confusion matrix of a shown group, small cells protected."""
    if privacy.suppressed:
        return
    from auditor.tasks.measure import protected_confusion
    from reports.model import ConfusionMatrix

    curves.confusion.append(
        ConfusionMatrix(
            attribute=attribute,
            group=group,
            classes=list(ctx.classes),
            counts=protected_confusion(confusion(table, ctx), m, set(privacy.cells)),
        )
    )


def _outcome_counts(table: RowTable, ctx: Any) -> tuple[int, int]:
    n = round(table.n)
    return n, n


TASK = TaskDef(
    id="multiclass",
    title="Multiclass and ordinal (e.g. triage level)",
    columns=("label", "p_<class>"),
    metrics=METRICS,
    hints=HINTS,
    context=_context,
    outcome_counts=_outcome_counts,
    per_class=PER_CLASS,
    curves=_curves,
    class_metrics=class_metrics,
    description="One true class among several (ordered for triage) and a probability per class.",
)
