"""Stage 3, measure: every registry metric for every group, with intervals,
disparities, named fairness metrics, curves and the small-cell suppression plan.

Point estimates come from the exact distinct-score tables of
:class:`auditor.reduce.stats.SubgroupStats`; proportions get Wilson intervals; the other
metrics, the disparities and the fairness metrics get percentile intervals from one
seeded bootstrap over the binned tables (:mod:`auditor.measure.bootstrap`).

Every number is computed for every group, suppressed or not, and held in memory:
the judge decides on the full measurement. Suppression (:mod:`auditor.privacy.suppression`)
is decided from counts; the measurement carries that plan, with the comparisons
recomputed over the groups that may be shown, and :mod:`auditor.privacy.publish` applies it
to what is written or shown.

Re-measuring cached statistics at another threshold is cheap: merged group tables,
their levels and every threshold-free metric are memoized on the statistics, so a
dashboard slider can call ``measure(stats, ..., bootstrap=0)`` repeatedly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from auditor.errors import AuditInputError
from auditor.measure.bootstrap import resample
from auditor.measure.curves import calibration_points, roc_points
from auditor.measure.disparities import (
    GroupValue,
    compare_metric,
    comparison_replicates,
    fairness_metrics,
)
from auditor.measure.intervals import (
    NO_INTERVAL_BOOTSTRAP_OFF,
    percentile_interval,
    wilson_interval,
)
from auditor.measure.metrics import (
    COUNT_METRICS,
    METRICS,
    Levels,
    MetricDef,
    calibration_bins,
    compute,
    format_threshold,
    get_metric,
)
from auditor.measure.simultaneous import joint_level, stretched_interval
from auditor.privacy.disclosure import grid_bands
from auditor.privacy.publish import PublishPlan, published_group
from auditor.privacy.suppression import (
    DEFAULT_MIN_CELL_SIZE,
    DEFAULT_ROUNDING,
    THRESHOLD_OFF_GRID,
    Counts,
    Privacy,
    check_min_cell_size,
    plan_suppression,
)
from auditor.reduce.clusters import PatientClusters
from auditor.reduce.stats import ScoreTable, SubgroupStats, bin_stats
from reports.model import (
    AttributeInfo,
    CalibrationBin,
    CalibrationCurve,
    Curves,
    DisparityResult,
    Estimate,
    FairnessMetric,
    GroupName,
    GroupResult,
    RocCurve,
    group_key,
)

OVERALL_ATTRIBUTE = "overall"
OVERALL_GROUP = "all patients"

THRESHOLDS_EMPTY = "thresholds: at least one decision threshold is required."
THRESHOLD_INVALID = "thresholds: {value!r} is not a number between 0 and 1."
BOOTSTRAP_INVALID = "bootstrap: expected a whole number of replicates >= 0, got {value!r}."
BINS_INVALID = "bins: expected a whole number of bins >= 10, got {value!r}."
VIEW_EMPTY = "views: a view must name at least one sensitive attribute, got {value!r}."
REFERENCE_UNKNOWN = (
    "reference_groups: {group!r} is not a group of {attribute}; its groups are: {groups}."
)

NOTE_EXACT = (
    "Point estimates come from the exact table of distinct scores; a patient is "
    "predicted positive when the score is >= the threshold (primary threshold {t})."
)
NOTE_INTERVALS = (
    "95% intervals: Wilson for proportions; percentile bootstrap ({r} replicates, seed "
    "{seed}, resampling each group's counts over {bins} score bins) for the other "
    "metrics, the disparities and the fairness metrics."
)
NOTE_CLUSTERS = (
    "Patients, not encounters: {patients:,} patients with {encounters:,} encounters "
    "(column {column}); every bootstrap replicate resamples patients within their primary "
    "cell, keeping each patient's encounters together, and every size figure and the "
    "small-cell floor count patients (encounters are shown beside them)."
)
NOTE_SPANNING = (
    "{count:,} patients have encounters in more than one group of the sensitive "
    "attributes; each is counted in every group holding one of their encounters and is "
    "resampled as a whole."
)
NOTE_NO_BOOTSTRAP = (
    "95% intervals: Wilson for proportions only; no bootstrap was run, so the other "
    "metrics, the disparities and the fairness metrics have no interval."
)
NOTE_SUPPRESSED = (
    "{attribute}: {groups} shown by name only (fewer than {m} patients, or "
    "suppressed so that a small group's size cannot be recovered by subtraction)."
)
NOTE_WITHHELD = (
    "{attribute}: only size and selection rate are shown for {groups} (too few patients "
    "with or without the outcome to report label-based metrics safely, or withheld so "
    "that another group's event count cannot be recovered by subtraction)."
)
NOTE_EVENTS = (
    "{reason} (withheld: n with and without the outcome, prevalence, O/E ratio, and the "
    "outcome figures at each threshold)"
)
NOTE_FIGURES = "{attribute}: {groups}: {reason}."
NOTE_REFERENCE_FALLBACK = (
    "{attribute}: the requested reference group {group} is suppressed; the largest "
    "group whose label metrics are shown, {fallback}, is the reference instead."
)
NOTE_REFERENCE_WITHHELD = (
    "{attribute}: the requested reference group {group} has its label metrics withheld; "
    "the largest group whose label metrics are shown, {fallback}, is the reference instead."
)
NOTE_REFERENCE_DEFAULT = (
    "{attribute}: the reference group is {group}, the largest group whose label metrics "
    "are shown (set reference_groups in the spec to choose another)."
)
NOTE_REFERENCE_DEFAULT_NO_LABELS = (
    "{attribute}: the reference group is {group}, the largest group shown; no group has "
    "its label metrics shown, so label-based disparities are not available."
)
NOTE_MIN_CELL = (
    "min_cell_size is {m}, below the usual {default}: groups this small may be identifiable."
)
NOTE_FAIRNESS = (
    "Fairness metrics follow fairlearn's definitions (between groups, worst case) over "
    "the groups whose rates are shown; suppressed groups are left out."
)

Key = tuple[str, ...]
View = tuple[str, ...]


@dataclass
class Measurement:
    """Everything stage 3 produces from the statistics (reports.model types).

    ``overall``, ``groups``, ``disparities`` and ``fairness_metrics`` are unsuppressed
    (judge on these, never write them); ``plan`` says what may be shown. ``curves``
    and ``attributes`` are drawn for the groups that may be shown only (no rule
    judges a curve), ``attributes`` without their suppressed groups listed.
    """

    overall: GroupResult
    groups: list[GroupResult]
    disparities: list[DisparityResult]
    fairness_metrics: list[FairnessMetric]
    curves: Curves
    attributes: list[AttributeInfo]
    notes: list[str]
    thresholds: list[float] = field(default_factory=list)
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    bootstrap: int = 0
    bootstrap_bins: int | None = None
    """Number of score bins the bootstrap resampled (None when it did not run)."""
    seed: int = 0
    plan: PublishPlan = field(default_factory=PublishPlan)
    """What may be shown (:func:`auditor.privacy.publish.publish` applies it); the fields above
    hold every group's numbers unsuppressed, for the judge."""

    def privacy(self, attribute: GroupName, group: GroupName) -> Privacy | None:
        """The privacy of one group (None: fully shown)."""
        return self.plan.privacy.get(group_key(attribute, group))

    def published(self) -> Measurement:
        """The measurement as it may be shown (the notebook API reads this): the plan's
        privacy applied to every group, the comparisons over the shown groups."""
        return replace(
            self,
            overall=published_group(
                self.overall,
                self.privacy(self.overall.attribute, self.overall.group),
                self.plan.threshold,
            ),
            groups=[
                published_group(g, self.privacy(g.attribute, g.group), self.plan.threshold)
                for g in self.groups
            ],
            disparities=list(self.plan.disparities),
            fairness_metrics=list(self.plan.fairness_metrics),
            attributes=list(self.plan.attributes),
        )


def attribute_name(view: View) -> GroupName:
    """An attribute is named by a string; an intersection by the list of attributes."""
    if not view:
        return OVERALL_ATTRIBUTE
    return view[0] if len(view) == 1 else list(view)


def group_name(view: View, key: Key) -> GroupName:
    if not view:
        return OVERALL_GROUP
    return key[0] if len(key) == 1 else list(key)


def _label(name: GroupName) -> str:
    return name if isinstance(name, str) else " x ".join(name)


def _check_thresholds(thresholds: Sequence[float]) -> list[float]:
    if isinstance(thresholds, (int, float)):
        thresholds = [thresholds]
    out = []
    for t in thresholds:
        ok = isinstance(t, (int, float, np.floating, np.integer)) and not isinstance(t, bool)
        if not ok or not math.isfinite(float(t)) or not 0.0 <= float(t) <= 1.0:
            raise AuditInputError(THRESHOLD_INVALID.format(value=t))
        out.append(float(t))
    if not out:
        raise AuditInputError(THRESHOLDS_EMPTY)
    return list(dict.fromkeys(out))


def _check_views(stats: SubgroupStats, views: Sequence[Sequence[str] | str]) -> list[View]:
    out: list[View] = []
    for v in views:
        view = (v,) if isinstance(v, str) else tuple(v)
        if not view:
            raise AuditInputError(VIEW_EMPTY.format(value=v))
        for a in view:
            stats._index(a)
        if view not in out:
            out.append(view)
    return out


def _reference_lookup(
    reference_groups: Mapping[Any, str | Sequence[str]] | None, view: View
) -> Key | None:
    if not reference_groups:
        return None
    for k in (view, view[0] if len(view) == 1 else None, " x ".join(view)):
        if k is not None and k in reference_groups:
            value = reference_groups[k]
            return (value,) if isinstance(value, str) else tuple(value)
    return None


def _estimate(
    metric: MetricDef,
    lv: Levels,
    t: float,
    reps: Mapping[tuple[str, float], np.ndarray] | None,
    bootstrap: int,
) -> Estimate:
    out = compute(metric, lv, t)
    value = float(out.value)
    if math.isnan(value):
        reason = (out.reason_at() or "undefined").format(threshold=format_threshold(t))
        return Estimate(reason=f"{metric.id} is undefined: {reason}")
    if metric.id in COUNT_METRICS:
        return Estimate(estimate=value)
    fraction = metric.fraction(lv, t) if metric.proportion and metric.fraction else None
    series = reps.get((metric.id, t)) if reps else None
    return interval_estimate(value, fraction=fraction, series=series, bootstrap=bootstrap)


def interval_estimate(
    value: float,
    *,
    fraction: tuple[Any, Any] | None,
    series: np.ndarray | None,
    bootstrap: int,
) -> Estimate:
    """An estimate with its 95% interval: Wilson when the metric is a proportion
    (``fraction`` = successes, trials), else the percentile bootstrap of ``series``.
    Every task's estimates go through here, so the interval rules are stated once."""
    est = Estimate(estimate=value)
    if fraction is not None:
        lo, hi = wilson_interval(*fraction)
        est.ci_low, est.ci_high, est.ci_method = float(lo), float(hi), "wilson"
        return est
    if bootstrap <= 0 or series is None:
        est.reason = NO_INTERVAL_BOOTSTRAP_OFF
        return est
    iv = percentile_interval(series, value)
    if iv.low is None:
        est.reason = iv.reason
    else:
        est.ci_low, est.ci_high, est.ci_method = iv.low, iv.high, "bootstrap"
    return est


def _group_result(
    view: View,
    key: Key,
    lv: Levels,
    n: int,
    metrics: Sequence[MetricDef],
    thresholds: list[float],
    reps: Mapping[tuple[str, float], np.ndarray] | None,
    bootstrap: int,
) -> GroupResult:
    """Every metric of one group, unsuppressed (publish applies privacy)."""
    res = GroupResult(attribute=attribute_name(view), group=group_name(view, key), n=n)
    t0 = thresholds[0]
    res.metrics = {m.id: _estimate(m, lv, t0, reps, bootstrap) for m in metrics}
    if len(thresholds) > 1:
        res.by_threshold = {
            format_threshold(t): {
                m.id: _estimate(m, lv, t, reps, bootstrap) for m in metrics if m.needs_threshold
            }
            for t in thresholds
        }
    return res


def measure(
    stats: SubgroupStats,
    *,
    views: Sequence[Sequence[str] | str],
    thresholds: Sequence[float] = (0.5,),
    reference_groups: Mapping[Any, str | Sequence[str]] | None = None,
    bootstrap: int = 1000,
    bins: int = 2000,
    seed: int = 0,
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE,
    metrics: Sequence[str] | None = None,
    complementary: bool = True,
    rounding: int = DEFAULT_ROUNDING,
    grid: Sequence[float] | None = None,
    clusters: PatientClusters | None = None,
) -> Measurement:
    """Measure every group of every view.

    Parameters
    ----------
    stats : the reduced statistics (:func:`auditor.reduce.stats.reduce_frame`).
    views : attributes and intersections, e.g. ``[("race",), ("sex",), ("race", "sex")]``.
    thresholds : decision thresholds (``score >= t`` is positive); the first is primary.
    reference_groups : per view (attribute name, or tuple for an intersection) the
        reference group; default the largest shown group.
    bootstrap : replicates for percentile intervals (0: Wilson intervals only).
    bins : score quantile bins of the binned table the bootstrap resamples.
    seed : seed of every random draw.
    min_cell_size : small-cell suppression floor (default 11).
    metrics : metric ids to compute (default: the whole registry).
    complementary : complementary suppression (default on; off marks the audit internal).
    rounding : decimals of label metrics shown while the group's event count is withheld.
    grid : the declared threshold grid, in priority order (default ``thresholds``): the
        plan is made over it, and figures at a threshold off it are withheld, so the
        figures of every threshold any face may show are planned together.
    clusters : the patients behind the rows (:func:`auditor.reduce.clusters.reduce_clusters`):
        the bootstrap resamples patients, and sizes and the small-cell floor count patients.
    """
    ts = _check_thresholds(thresholds)
    m = check_min_cell_size(min_cell_size)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise AuditInputError(BOOTSTRAP_INVALID.format(value=bootstrap))
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 10:
        raise AuditInputError(BINS_INVALID.format(value=bins))
    chosen = [get_metric(mid) for mid in (metrics if metrics is not None else METRICS)]
    chosen = [METRICS[mid] for mid in METRICS if any(c.id == mid for c in chosen)]
    view_list = _check_views(stats, views)
    all_views: list[View] = [(), *view_list]

    tables = dict(zip(all_views, _parallel(stats.groups, all_views)))
    declared = _check_thresholds(list(grid)) if grid is not None else ts
    ascending = sorted(declared)
    counts = {
        v: clusters.counts(v, list(tables[v]), ascending)
        if clusters is not None
        else {
            k: Counts(
                t.n, t.n_positive, t.n_negative, grid_bands(t.scores, t.pos, t.neg, ascending)
            )
            for k, t in tables[v].items()
        }
        for v in all_views
    }
    plan = plan_suppression(
        counts, m, thresholds=declared, complementary=complementary, rounding=rounding
    )
    off_grid = [t for t in ts if t not in declared]
    if off_grid:
        plan = {
            v: {k: _off_grid(p, off_grid, declared, m) for k, p in groups.items()}
            for v, groups in plan.items()
        }

    binned = bin_stats(stats, bins=int(bins), thresholds=ts) if bootstrap > 0 else None
    resampled = [mt for mt in chosen if mt.id not in COUNT_METRICS]
    reps: dict[View, dict[Key, dict[tuple[str, float], np.ndarray]]] = {}
    if binned is not None:
        wanted = {v: {k: resampled for k in tables[v]} for v in all_views}
        reps = resample(binned, wanted, ts, int(bootstrap), seed=seed, clusters=clusters)

    # The numeric work, group by group in threads (numpy releases the GIL); the
    # results are memoized on each group's Levels and assembled below.
    tasks = [(v, k) for v in all_views for k in tables[v]]
    tasks.sort(key=lambda vk: -tables[vk[0]][vk[1]].scores.size)

    def work(task: tuple[View, Key]) -> tuple[Levels, tuple[list[float], list[float]]]:
        v, k = task
        return _compute_group(tables[v][k], plan[v][k], chosen, ts, m)

    done = dict(zip(tasks, _parallel(work, tasks)))
    results: dict[View, dict[Key, GroupResult]] = {}
    shown_results: dict[View, dict[Key, GroupResult]] = {}
    for v in all_views:
        results[v] = {}
        shown_results[v] = {}
        for k, table in tables[v].items():
            lv = done[(v, k)][0]
            full = _group_result(
                v, k, lv, counts[v][k].n, chosen, ts, reps.get(v, {}).get(k), int(bootstrap)
            )
            if clusters is not None:
                full.n_encounters = table.n
            full._slope_information = _riley_information(table)
            results[v][k] = full
            shown_results[v][k] = published_group(full, plan[v][k], ts[0])

    notes = [NOTE_EXACT.format(t=format_threshold(ts[0]))]
    notes.append(
        NOTE_INTERVALS.format(r=bootstrap, seed=seed, bins=binned.bins)
        if binned is not None
        else NOTE_NO_BOOTSTRAP
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

    disparities: list[DisparityResult] = []
    fairness: list[FairnessMetric] = []
    shown_disparities: list[DisparityResult] = []
    shown_fairness: list[FairnessMetric] = []
    attributes: list[AttributeInfo] = []
    published_attributes: list[AttributeInfo] = []
    compared: dict[str, list[tuple[View, Key, Key, dict[Key, GroupValue]]]] = {}
    for v in view_list:
        attr = attribute_name(v)
        name = lambda k, v=v: group_name(v, k)  # noqa: E731
        shown = [k for k, p in plan[v].items() if not p.suppressed]
        suppressed = [k for k, p in plan[v].items() if p.suppressed]
        # The statistical floor (not privacy): a group below min_cell_size on its own
        # counts is judged by its own interval, but left out of worst cases and fairness
        # metrics, where its noise alone would decide the comparison.
        floor = [k for k in tables[v] if _below_floor(counts[v][k], m)]
        reference = _choose_reference(v, reference_groups, tables[v], plan[v], notes)
        info, published = view_attributes(
            v, list(tables[v]), plan[v], reference, notes, NOTE_WITHHELD, m=m
        )
        attributes.append(info)
        published_attributes.append(published)
        for source, keys, left_out, out_d, out_f in (
            (results[v], list(tables[v]), [], disparities, fairness),
            (shown_results[v], shown, suppressed, shown_disparities, shown_fairness),
        ):
            values = {
                mt.id: {
                    k: _group_value(source[k], mt, reps.get(v, {}).get(k), ts[0], done[(v, k)][0])
                    for k in keys
                }
                for mt in resampled
            }
            unsuppressed = source is results[v]
            if unsuppressed and reference is not None:
                for mt in resampled:
                    compared.setdefault(mt.id, []).append((v, reference, (), values[mt.id]))
            for mt in resampled:
                out_d.extend(
                    compare_metric(
                        mt.id,
                        attr,
                        values[mt.id],
                        reference,
                        left_out,
                        name,
                        worst_excluded=floor if unsuppressed else (),
                    )
                )
            if all(x in values for x in ("selection_rate", "sensitivity", "fpr")):
                aggregated = values
                if unsuppressed:
                    aggregated = {
                        mid: {k: g for k, g in vals.items() if k not in floor}
                        for mid, vals in values.items()
                    }
                out_f.extend(
                    fairness_metrics(attr, aggregated, floor if unsuppressed else left_out, name)
                )
    if fairness:
        notes.append(NOTE_FAIRNESS)
    _joint_group_intervals(results, reps, done, chosen, ts, all_views)
    _joint_disparity_intervals(disparities, compared)
    shown_disparities = [_with_joint(d, disparities) for d in shown_disparities]

    curves = Curves()
    for v in all_views:
        for k in tables[v]:
            if not plan[v][k].curves_shown:
                continue
            lv, (fpr, tpr) = done[(v, k)]
            auroc = results[v][k].metrics.get("auroc")
            curves.roc.append(
                RocCurve(
                    attribute=attribute_name(v),
                    group=group_name(v, k),
                    fpr=fpr,
                    tpr=tpr,
                    auroc=auroc.estimate if auroc is not None else None,
                )
            )
            curves.calibration.append(
                CalibrationCurve(
                    attribute=attribute_name(v),
                    group=group_name(v, k),
                    bins=[
                        CalibrationBin(mean_predicted=a, observed=b)
                        for a, b in calibration_points(lv, m)
                    ],
                )
            )

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
        fairness_metrics=fairness,
        curves=curves,
        attributes=attributes,
        notes=notes,
        thresholds=ts,
        min_cell_size=m,
        bootstrap=int(bootstrap),
        bootstrap_bins=binned.bins if binned is not None else None,
        seed=seed,
        plan=PublishPlan(
            privacy=privacy,
            threshold=ts[0],
            disparities=shown_disparities,
            fairness_metrics=shown_fairness,
            attributes=published_attributes,
        ),
    )


def _estimates_at(res: GroupResult, metric_id: str, t: float, primary: float) -> list[Estimate]:
    """Every Estimate object holding ``metric_id`` at ``t`` (metrics and by_threshold)."""
    out = []
    if t == primary and metric_id in res.metrics:
        out.append(res.metrics[metric_id])
    at = res.by_threshold.get(format_threshold(t), {}).get(metric_id)
    if at is not None:
        out.append(at)
    return [e for e in out if e.estimate is not None]


def _joint_group_intervals(
    results: Mapping[View, Mapping[Key, GroupResult]],
    reps: Mapping[View, Mapping[Key, Mapping[tuple[str, float], np.ndarray]]],
    done: Mapping[tuple[View, Key], tuple[Levels, Any]],
    metrics: Sequence[MetricDef],
    thresholds: Sequence[float],
    views: Sequence[View],
) -> None:
    """Simultaneous intervals (:mod:`auditor.measure.simultaneous`): one family per metric
    and threshold over every group of every view; each group's own method at its level."""
    t0 = thresholds[0]
    for mt in metrics:
        if mt.id in COUNT_METRICS:
            continue
        for t in thresholds if mt.needs_threshold else thresholds[:1]:
            members = [
                (v, k)
                for v in views
                for k in results[v]
                if _estimates_at(results[v][k], mt.id, t, t0)
            ]
            series = [reps.get(v, {}).get(k, {}).get((mt.id, t)) for v, k in members]
            level = joint_level(series)
            for (v, k), s in zip(members, series):
                for est in _estimates_at(results[v][k], mt.id, t, t0):
                    if mt.proportion and mt.fraction is not None:
                        hits, trials = mt.fraction(done[(v, k)][0], t)
                        lo, hi = wilson_interval(hits, trials, level)
                        est.joint_low, est.joint_high = float(lo), float(hi)
                    elif s is not None and est.ci_low is not None and est.ci_high is not None:
                        assert est.estimate is not None
                        est.joint_low, est.joint_high = stretched_interval(
                            est.estimate, est.ci_low, est.ci_high, level
                        )


def _joint_disparity_intervals(
    disparities: Sequence[DisparityResult],
    compared: Mapping[str, Sequence[tuple[View, Key, Key, Mapping[Key, GroupValue]]]],
) -> None:
    """Simultaneous intervals of the comparisons with the reference group: one family per
    metric and kind over every group of every view."""
    index = {
        (d.metric, d.kind, _label(d.attribute), _label(d.group)): d
        for d in disparities
        if d.reference is not None and d.estimate is not None and d.ci_low is not None
    }
    for metric, entries in compared.items():
        for kind in ("difference", "ratio"):
            members: list[tuple[DisparityResult, np.ndarray | None]] = []
            for v, reference, _, values in entries:
                ref = values.get(reference)
                if ref is None or ref.value is None:
                    continue
                for k, g in values.items():
                    d = index.get(
                        (metric, kind, _label(attribute_name(v)), _label(group_name(v, k)))
                    )
                    if k == reference or d is None:
                        continue
                    members.append((d, comparison_replicates(kind, g, ref)))
            level = joint_level([r for _, r in members])
            for d, r in members:
                if r is not None and d.estimate is not None:
                    assert d.ci_low is not None and d.ci_high is not None
                    d.joint_low, d.joint_high = stretched_interval(
                        d.estimate, d.ci_low, d.ci_high, level
                    )


def _with_joint(shown: DisparityResult, full: Sequence[DisparityResult]) -> DisparityResult:
    """A published comparison keeps the joint interval of the same comparison, unsuppressed."""
    if shown.estimate is None or shown.reference is None:
        return shown
    for d in full:
        same = (d.metric, d.kind, d.attribute, d.group, d.reference) == (
            shown.metric,
            shown.kind,
            shown.attribute,
            shown.group,
            shown.reference,
        )
        if same and d.estimate == shown.estimate:
            return shown.model_copy(update={"joint_low": d.joint_low, "joint_high": d.joint_high})
    return shown


def view_attributes(
    view: View,
    keys: Sequence[Key],
    plan: Mapping[Key, Privacy],
    reference: Key | None,
    notes: list[str],
    withheld_note: str,
    **words: Any,
) -> tuple[AttributeInfo, AttributeInfo]:
    """A view's attribute, as measured and as published, with its privacy notes appended
    (suppressed groups, groups whose outcome figures are withheld, withheld figures).
    ``withheld_note`` is the task's wording; ``words`` fill its other fields."""
    attr = attribute_name(view)
    suppressed = [k for k, p in plan.items() if p.suppressed]
    withheld = [k for k, p in plan.items() if p.status == "label_withheld"]
    for keys_noted, note in ((suppressed, NOTE_SUPPRESSED), (withheld, withheld_note)):
        if keys_noted:
            notes.append(
                note.format(
                    attribute=_label(attr),
                    groups=", ".join(_label(group_name(view, k)) for k in keys_noted),
                    **words,
                )
            )
    notes.extend(_figure_notes(_label(attr), view, plan))
    info = AttributeInfo(
        name=attr,
        groups=[group_name(view, k) for k in keys],
        reference=group_name(view, reference) if reference is not None else None,
    )
    published = info.model_copy(
        update={"suppressed_groups": [group_name(view, k) for k in suppressed]}
    )
    return info, published


def _figure_notes(attribute: str, view: View, privacy: Mapping[Key, Privacy]) -> list[str]:
    """Which figures of shown groups are withheld, and why, one note per reason."""
    by_reason: dict[str, list[str]] = {}
    for k, p in privacy.items():
        if p.status != "shown":
            continue
        name = _label(group_name(view, k))
        if p.events is not None:
            by_reason.setdefault(NOTE_EVENTS.format(reason=p.events), []).append(name)
        labels = [] if p.events is not None else list(p.label_thresholds.values())
        for reason in dict.fromkeys([*p.thresholds.values(), *labels]):
            by_reason.setdefault(reason, []).append(name)
    return [
        NOTE_FIGURES.format(attribute=attribute, groups=", ".join(groups), reason=reason)
        for reason, groups in by_reason.items()
    ]


def _off_grid(p: Privacy, off: Sequence[float], grid: Sequence[float], m: int) -> Privacy:
    """Withhold a group's figures at thresholds off the declared grid."""
    if p.suppressed:
        return p
    listed = ", ".join(format_threshold(t) for t in grid)
    extra = {t: THRESHOLD_OFF_GRID.format(t=format_threshold(t), grid=listed, m=m) for t in off}
    return replace(p, thresholds={**p.thresholds, **extra})


def _riley_information(table: ScoreTable) -> tuple[float, float, float] | None:
    """(I_a, I_ab, I_b) of Riley et al. 2021 for the calibration slope's variance: means of
    p(1-p), LP p(1-p) and LP^2 p(1-p) over the group's patients, LP = logit(score)."""
    w = (table.pos + table.neg).astype(np.float64)
    if w.sum() <= 0:
        return None
    p = np.clip(table.scores, 1e-6, 1 - 1e-6)
    lp = np.log(p / (1 - p))
    v = p * (1 - p) * w
    total = w.sum()
    return (
        float(v.sum() / total),
        float((lp * v).sum() / total),
        float((lp * lp * v).sum() / total),
    )


def _below_floor(counts: Counts, m: int) -> bool:
    """Too few patients, or too few with or without the outcome, to estimate reliably."""
    return counts.n < m or counts.n_positive < m or counts.n_negative < m


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _compute_group(
    table: ScoreTable,
    privacy: Privacy,
    metrics: Sequence[MetricDef],
    thresholds: list[float],
    min_cell_size: int,
) -> tuple[Levels, tuple[list[float], list[float]]]:
    """Fill the memo of one group's Levels; return them with the group's ROC points
    (drawn only for a group whose label metrics may be shown)."""
    lv = Levels.exact(table)
    for mt in metrics:
        for t in thresholds if mt.needs_threshold else thresholds[:1]:
            compute(mt, lv, t)
    if not privacy.curves_shown:
        return lv, ([], [])
    calibration_bins(lv)
    return lv, roc_points(lv, min_cell_size)


def _group_value(
    res: GroupResult,
    metric: MetricDef,
    reps: Mapping[tuple[str, float], np.ndarray] | None,
    t: float,
    lv: Levels,
) -> GroupValue:
    est = res.metrics.get(metric.id)
    if est is None or est.estimate is None:
        return GroupValue(None, None, est.reason if est is not None else res.suppression_reason)
    series = reps.get((metric.id, t)) if reps else None
    fraction = None
    if metric.proportion and metric.fraction is not None:
        k, n = metric.fraction(lv, t)
        fraction = (float(k), float(n))
    return GroupValue(est.estimate, series, fraction=fraction)


def _choose_reference(
    view: View,
    reference_groups: Mapping[Any, str | Sequence[str]] | None,
    tables: Mapping[Key, ScoreTable],
    privacy: Mapping[Key, Privacy],
    notes: list[str],
) -> Key | None:
    """The requested reference group, else the largest group whose label metrics are
    shown (a reference whose metrics are withheld would leave every disparity null);
    the report's notes say which and why."""
    keys = list(tables)
    labelled = [k for k in keys if privacy[k].labels_shown]
    candidates = labelled or [k for k in keys if not privacy[k].suppressed]
    if not candidates:
        return None
    largest = max(candidates, key=lambda k: (tables[k].n, -keys.index(k)))
    attribute = _label(attribute_name(view))
    wanted = _reference_lookup(reference_groups, view)
    if wanted is None:
        template = NOTE_REFERENCE_DEFAULT if labelled else NOTE_REFERENCE_DEFAULT_NO_LABELS
        notes.append(template.format(attribute=attribute, group=_label(group_name(view, largest))))
        return largest
    if wanted not in tables:
        raise AuditInputError(
            REFERENCE_UNKNOWN.format(
                group=_label(list(wanted) if len(wanted) > 1 else wanted[0]),
                attribute=attribute,
                groups=", ".join(_label(group_name(view, k)) for k in tables),
            )
        )
    if not privacy[wanted].labels_shown and wanted != largest:
        template = (
            NOTE_REFERENCE_FALLBACK if privacy[wanted].suppressed else NOTE_REFERENCE_WITHHELD
        )
        notes.append(
            template.format(
                attribute=attribute,
                group=_label(group_name(view, wanted)),
                fallback=_label(group_name(view, largest)),
            )
        )
        return largest
    return wanted
