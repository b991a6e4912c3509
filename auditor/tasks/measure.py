"""Stage 3 for survival, multiclass and regression: every metric of the task's registry
for every group, with intervals, disparities, curves and the suppression plan.

The same contract as :func:`auditor.measure.measurement.measure` (the binary path):
every number is computed for every group and held unsuppressed for the judge; the
plan (:func:`auditor.privacy.suppression.plan_suppression`, from the counts the task
protects: patients, and for survival events by the horizon, with the same floor)
says what may be shown, and :mod:`auditor.privacy.publish` applies it.

Intervals: Wilson for a task's proportions (accuracy, under-triage, per-class
sensitivity and PPV); otherwise a percentile bootstrap that resamples each group's
distinct-row table (multinomial counts over its rows, seeded per view and group);
the disparities pair each group's replicates with the reference group's. For
survival the censoring distribution stays the whole cohort's in every replicate.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from auditor.measure.bootstrap import MIN_BLOCK, cell_rng
from auditor.measure.disparities import GroupValue, compare_metric
from auditor.measure.intervals import (
    wilson_interval,
)
from auditor.measure.measurement import (
    NOTE_CLUSTERS,
    NOTE_MIN_CELL,
    NOTE_SPANNING,
    Measurement,
    _below_floor,
    _choose_reference,
    _joint_disparity_intervals,
    _with_joint,
    attribute_name,
    group_name,
    interval_estimate,
    view_attributes,
)
from auditor.measure.metrics import format_threshold
from auditor.measure.simultaneous import joint_level, stretched_interval
from auditor.privacy.publish import PublishPlan, published_group
from auditor.privacy.suppression import (
    DEFAULT_MIN_CELL_SIZE,
    DEFAULT_ROUNDING,
    Counts,
    Privacy,
    check_min_cell_size,
    plan_suppression,
)
from auditor.reduce.clusters import PatientClusters
from auditor.tasks.base import Key, RowTable, TaskDef, TaskMetric, TaskStats, View, patient_counts
from reports.model import (
    AttributeInfo,
    Curves,
    DisparityResult,
    Estimate,
    GroupResult,
    group_key,
)

NOTE_TASK = (
    "Task: {title}. Point estimates come from each group's exact table of distinct "
    "outcome and prediction rows."
)
NOTE_TASK_INTERVALS = (
    "95% intervals: Wilson for proportions; percentile bootstrap otherwise ({r} replicates, "
    "seed {seed}, resampling each group's distinct-row table)."
)
NOTE_TASK_CLUSTER_INTERVALS = (
    "95% intervals: Wilson for proportions; percentile bootstrap otherwise ({r} replicates, "
    "seed {seed}, resampling patients within strata and every encounter of each drawn "
    "patient)."
)
NOTE_TASK_NO_BOOTSTRAP = (
    "95% intervals: Wilson for proportions only; no bootstrap was run, so the other metrics "
    "and the disparities have no interval."
)
NOTE_TASK_WITHHELD = (
    "{attribute}: only the size and the figures that do not use the outcome are shown for "
    "{groups} (fewer than {m} {words}, or withheld so that another group's count cannot be "
    "recovered by subtraction)."
)
SMALL_COUNT = (
    "withheld: it counts fewer than {m} patients (or all but fewer than {m}), so the count "
    "would follow from it"
)
SMALL_CLASS = "withheld: the class has fewer than {m} patients in this group"


def _seed(seed: int, view: View, key: Key) -> np.random.Generator:
    label = "\x1f".join(view) + "\x1e" + "\x1f".join(key)
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def measured_metrics(task: TaskDef, ctx: Any) -> list[TaskMetric]:
    """The registry as measured in this audit (multiclass: one metric per class)."""
    return task.measured_metrics(ctx)


def _at(ctx: Any, threshold: float) -> Any:
    return replace(ctx, threshold=threshold) if hasattr(ctx, "threshold") else ctx


def _estimate(
    metric: TaskMetric, table: RowTable, ctx: Any, reps: np.ndarray | None, bootstrap: int
) -> Estimate:
    value, why = metric.fn(table, ctx)
    if value is None or not math.isfinite(value):
        return Estimate(reason=f"{metric.id} is undefined: {why or 'undefined'}")
    if metric.count:
        return Estimate(estimate=float(value))
    fraction = metric.fraction(table, ctx) if metric.fraction is not None else None
    return interval_estimate(float(value), fraction=fraction, series=reps, bootstrap=bootstrap)


Series = dict[tuple[str, float], np.ndarray]


def _empty_series(
    metrics: Sequence[TaskMetric], ctxs: Mapping[float, Any], bootstrap: int
) -> Series:
    return {
        (m.id, t): np.full(bootstrap, np.nan)
        for m in metrics
        if not m.count
        for t in (ctxs if m.needs_threshold else list(ctxs)[:1])
    }


def _replicates(
    table: RowTable,
    metrics: Sequence[TaskMetric],
    ctxs: Mapping[float, Any],
    bootstrap: int,
    rng: np.random.Generator,
) -> Series:
    """Bootstrap series of every non-count metric at every threshold (NaN = undefined)."""
    out = _empty_series(metrics, ctxs, bootstrap)
    if bootstrap <= 0 or table.n == 0:
        return out
    by_id = {m.id: m for m in metrics}
    with np.errstate(all="ignore"):
        for b in range(bootstrap):
            sample = table.resample(rng)
            for (mid, t), series in out.items():
                series[b] = by_id[mid].fn(sample, ctxs[t])[0]
    return out


def _encounter_rows(
    clusters: PatientClusters, names: Sequence[str], view: View, key: Key, table: RowTable
) -> tuple[np.ndarray, np.ndarray]:
    """The group's encounters as (row of ``table``, patient code), rows found exactly as
    :meth:`RowTable.from_arrays` sorts and merges them."""
    assert clusters.columns is not None
    index = [clusters.attributes.index(a) for a in view]
    member = [i for i, c in enumerate(clusters.cells) if tuple(c[j] for j in index) == key]
    enc = np.flatnonzero(np.isin(clusters.cell, member))
    data = np.column_stack(
        [np.asarray(clusters.columns[c], dtype=np.float64)[enc] for c in names]
    ).reshape(enc.size, len(names))
    order = np.lexsort(data.T[::-1])
    ordered = data[order]
    new = np.ones(enc.size, dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    rows = np.empty(enc.size, dtype=np.int64)
    rows[order] = np.cumsum(new) - 1
    if int(new.sum()) != table.count.size:
        raise ValueError("patient clusters do not match the group's distinct-row table")
    return rows, clusters.patient[enc]


def _patient_weights(clusters: PatientClusters, block: int, r: int, seed: int) -> np.ndarray:
    """(patients, r) draw counts: each stratum (primary cell) redraws its own patients."""
    order, strata = clusters.patient_order()
    weights = np.zeros((clusters.n_patients, r))
    for cell, lo, hi in strata:
        size = hi - lo
        rng = cell_rng(seed, block, clusters.cells[cell], "patients")
        idx = rng.integers(0, size, size=(r, size)) + (np.arange(r) * size)[:, None]
        drawn = np.bincount(idx.ravel(), minlength=r * size).reshape(r, size)
        weights[order[lo:hi]] = drawn.T
    return weights


def _cluster_replicates(
    tables: Mapping[View, Mapping[Key, RowTable]],
    names: Sequence[str],
    metrics: Sequence[TaskMetric],
    ctxs: Mapping[float, Any],
    bootstrap: int,
    seed: int,
    clusters: PatientClusters,
) -> dict[View, dict[Key, Series]]:
    """The cluster bootstrap: one draw of patients within strata per replicate, shared by
    every group of every view; a group's replicate is its distinct-row table with each
    row counted as often as its encounters' patients were drawn (a patient spanning
    cells comes along whole). Seeded per block of replicates and stratum, as the
    binary cluster bootstrap is (:mod:`auditor.measure.bootstrap`)."""
    out = {
        v: {k: _empty_series(metrics, ctxs, bootstrap) for k in groups}
        for v, groups in tables.items()
    }
    if bootstrap <= 0 or clusters.n_patients == 0:
        return out
    layout = {
        (v, k): (table, *_encounter_rows(clusters, names, v, k, table))
        for v, groups in tables.items()
        for k, table in groups.items()
    }
    by_id = {m.id: m for m in metrics}
    with np.errstate(all="ignore"):
        for block, start in enumerate(range(0, bootstrap, MIN_BLOCK)):
            r = min(MIN_BLOCK, bootstrap - start)
            weights = _patient_weights(clusters, block, r, seed)
            for j in range(r):
                w = weights[:, j]
                for (v, k), (table, rows, patient) in layout.items():
                    counts = np.bincount(rows, weights=w[patient], minlength=table.count.size)
                    sample = table.with_counts(counts)
                    for (mid, t), series in out[v][k].items():
                        series[start + j] = by_id[mid].fn(sample, ctxs[t])[0]
    return out


def _small_figures(
    metrics: Sequence[TaskMetric],
    table: RowTable,
    ctx: Any,
    m: int,
    task: TaskDef,
    thresholds: Sequence[float] = (),
) -> dict[str, str]:
    """Figures of a shown group that would reveal a count from 1 to m − 1 (survival
    threshold figures: at any declared threshold)."""
    out: dict[str, str] = {}
    if task.id == "survival":
        from auditor.tasks.survival import threshold_counts

        for t in thresholds or (ctx.threshold,):
            for metric_id, (k, n) in threshold_counts(table, _at(ctx, t)).items():
                if 0 < k < m or 0 < n - k < m:
                    out.setdefault(metric_id, SMALL_COUNT.format(m=m))
    for metric in metrics:
        if metric.fraction is None:
            continue
        k, n = metric.fraction(table, ctx)
        if 0 < n < m and metric.id not in task.metrics:  # a per-class figure
            out[metric.id] = SMALL_CLASS.format(m=m)
        elif 0 < k < m or 0 < n - k < m:
            out[metric.id] = SMALL_COUNT.format(m=m)
    return out


def confusion_hidden(cm: np.ndarray, m: int) -> set[tuple[int, int]]:
    """The cells :func:`protected_confusion` withholds."""
    shown = protected_confusion(cm, m)
    return {(i, j) for i, row in enumerate(shown) for j, v in enumerate(row) if v is None}


def protected_confusion(
    cm: np.ndarray, m: int, also: set[tuple[int, int]] | None = None
) -> list[list[int | None]]:
    """A confusion matrix as it may be shown: cells 1..m−1 withheld, and enough other
    cells that no withheld cell follows from its row or column total (each row and
    column with a withheld cell has at least two, the smallest others first); ``also``:
    cells withheld to protect other groups (complementary suppression)."""
    counts = np.rint(cm).astype(int)
    hidden = (counts > 0) & (counts < m)
    for i, j in also or ():
        hidden[i, j] = True
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            lines = hidden if axis == 1 else hidden.T
            values = counts if axis == 1 else counts.T
            for i in range(lines.shape[0]):
                if lines[i].sum() == 1:
                    candidates = [
                        j for j in np.argsort(values[i], kind="mergesort") if not lines[i, j]
                    ]
                    if not candidates:
                        continue
                    j = candidates[0]
                    if axis == 1:
                        hidden[i, j] = True
                    else:
                        hidden[j, i] = True
                    changed = True
    if hidden.sum() == 1:  # the total n would give it
        flat = np.argsort(np.where(hidden, np.iinfo(int).max, counts), axis=None)
        hidden.flat[flat[0]] = True
    return [
        [None if hidden[i, j] else int(counts[i, j]) for j in range(counts.shape[1])]
        for i in range(counts.shape[0])
    ]


def measure_task(
    task: TaskDef,
    stats: TaskStats,
    *,
    settings: Mapping[str, Any],
    views: Sequence[Sequence[str]],
    thresholds: Sequence[float] = (0.5,),
    reference_groups: Mapping[Any, str | Sequence[str]] | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
    complementary: bool = True,
    rounding: int = DEFAULT_ROUNDING,
    clusters: PatientClusters | None = None,
) -> Measurement:
    """Measure every group of every view for a survival, multiclass or regression task
    (see the module doc). With ``clusters`` (spec ``cluster``) the bootstrap resamples
    patients within strata, and sizes and the small-cell floor count patients, as for
    binary audits; point estimates are unchanged."""
    m = check_min_cell_size(min_cell_size)
    ts = list(dict.fromkeys(float(t) for t in thresholds)) or [0.5]
    view_list: list[View] = []
    for v in views:
        view = (v,) if isinstance(v, str) else tuple(v)
        if view not in view_list:
            view_list.append(view)
    all_views: list[View] = [(), *view_list]
    tables = {v: stats.groups(v) for v in all_views}
    base_ctx = task.context(tables[()][()], {**settings, "threshold": ts[0], "min_cell_size": m})
    ctxs = {t: _at(base_ctx, t) for t in ts}
    metrics = measured_metrics(task, base_ctx)

    # threshold figures that count patients are checked across views, as binary ones are
    grid = sorted(ts)
    bands = task.threshold_bands
    banded = bands is not None
    counts = {
        v: patient_counts(clusters, v, list(tables[v]), task.binary_outcome)
        if clusters is not None
        else {
            k: Counts(
                round(t.n),
                *task.outcome_counts(t, base_ctx),
                bands=bands(t, base_ctx, grid) if bands is not None else (),
            )
            for k, t in tables[v].items()
        }
        for v in all_views
    }
    raw_plan = plan_suppression(
        counts,
        m,
        thresholds=ts if banded and clusters is None else (),
        complementary=complementary,
        rounding=rounding,
    )
    plan: dict[View, dict[Key, Privacy]] = {}
    for v in all_views:
        plan[v] = {}
        for k, p in raw_plan[v].items():
            small = (
                {} if p.suppressed else _small_figures(metrics, tables[v][k], base_ctx, m, task, ts)
            )
            plan[v][k] = replace(p, task=task.id, withheld=small)

    if task.id == "multiclass" and complementary:
        _protect_multiclass(stats, tables, plan, base_ctx, m, all_views)

    results: dict[View, dict[Key, GroupResult]] = {}
    reps: dict[View, dict[Key, Series]] = (
        _cluster_replicates(tables, stats.names, metrics, ctxs, int(bootstrap), seed, clusters)
        if clusters is not None
        else {
            v: {
                k: _replicates(table, metrics, ctxs, int(bootstrap), _seed(seed, v, k))
                for k, table in tables[v].items()
            }
            for v in all_views
        }
    )
    for v in all_views:
        results[v] = {}
        for k, table in tables[v].items():
            series = reps[v][k]
            res = GroupResult(attribute=attribute_name(v), group=group_name(v, k), n=counts[v][k].n)
            if clusters is not None:
                res.n_encounters = round(table.n)
            res.metrics = {
                mt.id: _estimate(mt, table, ctxs[ts[0]], series.get((mt.id, ts[0])), int(bootstrap))
                for mt in metrics
            }
            if len(ts) > 1 and any(mt.needs_threshold for mt in metrics):
                res.by_threshold = {
                    format_threshold(t): {
                        mt.id: _estimate(mt, table, ctxs[t], series.get((mt.id, t)), int(bootstrap))
                        for mt in metrics
                        if mt.needs_threshold
                    }
                    for t in ts
                }
            results[v][k] = res

    notes = [NOTE_TASK.format(title=task.title)]
    if task.notes is not None:
        notes.extend(task.notes(settings))
    notes.append(
        (NOTE_TASK_CLUSTER_INTERVALS if clusters is not None else NOTE_TASK_INTERVALS).format(
            r=bootstrap, seed=seed
        )
        if bootstrap > 0
        else NOTE_TASK_NO_BOOTSTRAP
    )
    if clusters is not None:
        notes.append(
            NOTE_CLUSTERS.format(
                patients=clusters.n_patients,
                encounters=clusters.n_encounters,
                column=clusters.column,
            )
        )
        spanning = clusters.spanning()
        if spanning:
            notes.append(NOTE_SPANNING.format(count=spanning))
    if m < DEFAULT_MIN_CELL_SIZE:
        notes.append(NOTE_MIN_CELL.format(m=m, default=DEFAULT_MIN_CELL_SIZE))

    compared = [mt for mt in metrics if not mt.count]
    _joint_task_intervals(results, reps, tables, ctxs, compared, ts, all_views)
    families: dict[str, list[tuple[View, Key, Key, dict[Key, GroupValue]]]] = {}
    disparities: list[DisparityResult] = []
    shown_disparities: list[DisparityResult] = []
    attributes: list[AttributeInfo] = []
    published_attributes: list[AttributeInfo] = []
    for v in view_list:
        attr = attribute_name(v)
        name = lambda k, v=v: group_name(v, k)  # noqa: E731
        shown = [k for k, p in plan[v].items() if not p.suppressed]
        suppressed = [k for k, p in plan[v].items() if p.suppressed]
        floor = [k for k in tables[v] if _below_floor(counts[v][k], m)]
        reference = _choose_reference(v, reference_groups, tables[v], plan[v], notes)  # type: ignore[arg-type]
        info, published = view_attributes(
            v,
            list(tables[v]),
            plan[v],
            reference,
            notes,
            NOTE_TASK_WITHHELD,
            m=m,
            words=task.hints.outcome_words,
        )
        attributes.append(info)
        published_attributes.append(published)
        for unsuppressed, keys, left_out, out in (
            (True, list(tables[v]), [], disparities),
            (False, shown, suppressed, shown_disparities),
        ):
            for mt in compared:
                values: dict[Key, GroupValue] = {}
                for k in keys:
                    full = results[v][k]
                    est = full.metrics.get(mt.id)
                    hidden = None if unsuppressed else plan[v][k].metric_reason(mt.id, ts[0])
                    if est is None or est.estimate is None or hidden is not None:
                        why = hidden or (est.reason if est is not None else None)
                        values[k] = GroupValue(None, None, why)
                    else:
                        values[k] = GroupValue(est.estimate, reps[v][k].get((mt.id, ts[0])))
                if unsuppressed and reference is not None:
                    families.setdefault(mt.id, []).append((v, reference, (), values))
                out.extend(
                    compare_metric(
                        mt.id,
                        attr,
                        values,
                        reference,
                        left_out,
                        name,
                        worst_excluded=floor if unsuppressed else (),
                    )
                )

    _joint_disparity_intervals(disparities, families)
    shown_disparities = [_with_joint(d, disparities) for d in shown_disparities]
    curves = _curves(task, tables, plan, base_ctx, m, all_views)
    privacy = {
        group_key(attribute_name(v), group_name(v, k)): p
        for v in all_views
        for k, p in plan[v].items()
        if not p.fully_shown
    }
    return Measurement(
        overall=results[()][()],
        groups=[g for v in view_list for g in results[v].values()],
        disparities=disparities,
        fairness_metrics=[],
        curves=curves,
        attributes=attributes,
        notes=notes,
        thresholds=ts,
        min_cell_size=m,
        bootstrap=int(bootstrap),
        bootstrap_bins=None,
        seed=seed,
        plan=PublishPlan(
            privacy=privacy,
            threshold=ts[0],
            disparities=shown_disparities,
            fairness_metrics=[],
            attributes=published_attributes,
        ),
    )


def _protect_multiclass(
    stats: TaskStats,
    tables: Mapping[View, Mapping[Key, RowTable]],
    plan: dict[View, dict[Key, Privacy]],
    ctx: Any,
    m: int,
    views: Sequence[View],
) -> None:
    """Complementary suppression of multiclass counts across views
    (:mod:`auditor.privacy.multiclass_disclosure`): the plan's withheld figures grow in
    place, and a confusion matrix the check changed keeps every cell it saw withheld
    (``Privacy.cells``, read by the task's chart data)."""
    from auditor.privacy.multiclass_disclosure import MulticlassAttack, protect_multiclass
    from auditor.tasks.multiclass import confusion

    attack = MulticlassAttack(
        {key: confusion(table, ctx) for key, table in stats.cells.items()},
        stats.attributes,
        ctx.classes,
    )
    suppressed = {(v, k): p.suppressed for v in views for k, p in plan[v].items()}
    withheld = {(v, k): dict(p.withheld) for v in views for k, p in plan[v].items()}
    own = {
        (v, k): confusion_hidden(confusion(tables[v][k], ctx), m)
        for v in views
        for k, p in plan[v].items()
        if not p.suppressed
    }
    cells = {g: set(c) for g, c in own.items()}
    protect_multiclass(
        attack,
        {v: list(plan[v]) for v in views},
        class_ids=ctx.classes,
        ordered=ctx.ordered,
        suppressed=suppressed,
        withheld=withheld,
        hidden_cells=cells,
        m=m,
    )
    for v in views:
        for k, p in plan[v].items():
            # every cell the check saw withheld (not only the extra ones): the matrix's
            # own rule, started from more withheld cells, could otherwise choose differently
            changed = cells.get((v, k), set()) - own.get((v, k), set())
            if withheld[(v, k)] != dict(p.withheld) or changed:
                plan[v][k] = replace(
                    p,
                    withheld=withheld[(v, k)],
                    cells=frozenset(cells[(v, k)]) if changed else p.cells,
                )


def _joint_task_intervals(
    results: Mapping[View, Mapping[Key, GroupResult]],
    reps: Mapping[View, Mapping[Key, Mapping[tuple[str, float], np.ndarray]]],
    tables: Mapping[View, Mapping[Key, RowTable]],
    ctxs: Mapping[float, Any],
    metrics: Sequence[TaskMetric],
    thresholds: Sequence[float],
    views: Sequence[View],
) -> None:
    """Simultaneous intervals, as for binary tasks (one family per metric and threshold
    over every group of every view; Wilson at the joint level for proportions, the
    percentile interval stretched to it otherwise)."""
    t0 = thresholds[0]
    for mt in metrics:
        for t in thresholds if mt.needs_threshold else thresholds[:1]:
            members: list[tuple[View, Key, Estimate]] = []
            for v in views:
                for k, res in results[v].items():
                    est = (
                        res.metrics.get(mt.id)
                        if t == t0
                        else res.by_threshold.get(format_threshold(t), {}).get(mt.id)
                    )
                    if est is not None and est.estimate is not None:
                        members.append((v, k, est))
            series = [reps.get(v, {}).get(k, {}).get((mt.id, t)) for v, k, _ in members]
            level = joint_level(series)
            for (v, k, est), s in zip(members, series):
                same = [est]
                if t == t0 and mt.needs_threshold:
                    extra = results[v][k].by_threshold.get(format_threshold(t), {}).get(mt.id)
                    same += [extra] if extra is not None and extra is not est else []
                for e in same:
                    if mt.fraction is not None:
                        hits, trials = mt.fraction(tables[v][k], ctxs[t])
                        lo, hi = wilson_interval(hits, trials, level)
                        e.joint_low, e.joint_high = float(lo), float(hi)
                    elif s is not None and e.ci_low is not None and e.ci_high is not None:
                        assert e.estimate is not None
                        e.joint_low, e.joint_high = stretched_interval(
                            e.estimate, e.ci_low, e.ci_high, level
                        )


def _curves(
    task: TaskDef,
    tables: Mapping[View, Mapping[Key, RowTable]],
    plan: Mapping[View, Mapping[Key, Privacy]],
    ctx: Any,
    m: int,
    views: Sequence[View],
) -> Curves:
    """Per-group chart data, for groups whose figures may be shown (never a suppressed one)."""
    curves = Curves()
    for v in views:
        for k, table in tables[v].items():
            p = plan[v][k]
            attribute, group = attribute_name(v), group_name(v, k)
            if task.curves is not None:
                task.curves(curves, attribute, group, table, ctx, m, p)
    return curves


def published_groups(measurement: Measurement) -> list[GroupResult]:
    """The groups as they may be shown (for notebooks and tests)."""
    return [
        published_group(g, measurement.privacy(g.attribute, g.group), measurement.plan.threshold)
        for g in measurement.groups
    ]
