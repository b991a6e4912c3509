"""Charts of a report, made once per render from the report model (matplotlib, SVG).

Every chart is drawn at the size it is printed (the HTML sets its width in inches),
so 9 pt text stays 9 pt on paper. Colours are Okabe-Ito; every series also differs
by marker and line style so the charts read in greyscale. Suppressed groups are
never drawn, and label-withheld groups never get curves. SVG output is made
deterministic (fixed ``svg.hashsalt``, no date) so the same report gives the same
bytes. Text stays text (``svg.fonttype: none``): searchable in the PDF, smaller, and
about twice as fast for WeasyPrint to draw as glyph paths. The matplotlib object API
is used, so no global pyplot state is touched.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D

from auditor.tasks import task_hints
from reports import format as fmt
from reports.model import Bound, GroupResult, Report, group_key

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
SERIES_LINES: tuple[str | tuple[int, tuple[int, ...]], ...] = (
    "-",
    "--",
    "-.",
    ":",
    (0, (5, 1)),
    (0, (3, 1, 1, 1, 1, 1)),
    (0, (1, 2)),
)
MAX_SERIES = len(SERIES_COLOURS)
"""Groups per curve chart; more groups are split over several charts."""
MAX_ROWS = 30
"""Groups per dot-plot chart; more groups are split over several charts."""
MAX_METRIC_PANELS = 6
DEFAULT_CHART_METRICS = task_hints("binary").chart_metrics
"""The binary task's; a report of another task charts its own (auditor.tasks)."""
MAX_CURVE_POINTS = 400
SHAP_FEATURES = 8
FULL_WIDTH = 6.6
"""Inches; fits an A4 page with 18 mm margins."""
HALF_WIDTH = 3.25
BOUND_COLOUR = OKABE_ITO["vermillion"]
ESTIMATE_COLOUR = OKABE_ITO["blue"]
REFERENCE_COLOUR = OKABE_ITO["black"]
OVERALL_COLOUR = "#666666"

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "figure.titlesize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "lines.linewidth": 1.6,
    "svg.fonttype": "none",
    "svg.hashsalt": "clinical-fairness-auditor",
    "svg.image_inline": True,
    "xtick.bottom": False,
    "ytick.left": False,
}
"""Applied with ``rc_context`` for each chart only. Grid lines replace tick marks (fewer
SVG elements for WeasyPrint to draw)."""
LABEL_CHARS = 30
"""Group and feature names longer than this are shortened in charts (alt text keeps them)."""
LINE_IN = 0.2
"""Height of one 9 pt text line with its spacing, in inches."""


@dataclass(frozen=True)
class Chart:
    """One figure: SVG text plus what a reader without sight of it needs."""

    id: str
    kind: str
    attribute: tuple[str, ...] | None
    title: str
    caption: str
    alt: str
    svg: str
    width_in: float
    height_in: float

    @property
    def data_uri(self) -> str:
        encoded = base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        return f"data:image/svg+xml;base64,{encoded}"

    @property
    def width_px(self) -> int:
        """CSS pixels (1/96 in), so the print size equals the drawn size."""
        return round(self.width_in * 96)

    @property
    def half(self) -> bool:
        return self.width_in <= HALF_WIDTH + 0.01


@dataclass
class ChartSet:
    charts: list[Chart] = field(default_factory=list)

    def for_attribute(self, kind: str, key: tuple[str, ...]) -> list[Chart]:
        return [c for c in self.charts if c.kind == kind and c.attribute == key]

    def get(self, chart_id: str) -> Chart | None:
        return next((c for c in self.charts if c.id == chart_id), None)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.charts)

    def __len__(self) -> int:
        return len(self.charts)


# ------------------------------------------------------------------ helpers


def _chart_style() -> Any:
    """The chart rcParams, for one figure only (no global matplotlib state changes)."""
    return matplotlib.rc_context(RC)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _measurer() -> RendererAgg:
    return RendererAgg(10, 10, 72)


def text_width(texts: Sequence[str], size: float = 9.0) -> float:
    """Width in inches of the widest text, as matplotlib will draw it (72 dpi: px = pt)."""
    prop = FontProperties(family="DejaVu Sans", size=size)  # the first of RC["font.sans-serif"]
    renderer = _measurer()
    widths = [renderer.get_text_width_height_descent(t, prop, ismath=False)[0] for t in texts]
    return max(widths, default=0.0) / 72.0


def _label(text: str) -> str:
    """Chart-safe text: shortened, and '$' escaped so it is never read as mathtext."""
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _wrapped(title: str, width: float) -> str:
    """``title`` broken at spaces into lines that fit ``width`` inches at title size
    (lines already given are kept; a single word too long is shortened)."""
    size = float(str(RC["axes.titlesize"]))
    out: list[str] = []
    for given in title.split("\n"):
        line = ""
        for word in given.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and text_width([candidate], size) > width:
                out.append(line)
                line = word
            else:
                line = candidate
        out.append(line)
    return "\n".join(_label(line) for line in out)


def _feature_bars_axes(
    names: Sequence[str], legend_labels: Sequence[str]
) -> tuple[Figure, Any, int, float]:
    """A full-width figure with one axes for horizontal bars, one row per feature name,
    and room for a legend of ``legend_labels`` underneath: (figure, axes, legend
    columns, height in inches). Call inside :func:`_chart_style`."""
    legend_cols, legend_h = _legend_layout(legend_labels, FULL_WIDTH, 6)
    plot_h = 0.3 * len(names)
    height = CURVE_TOP + plot_h + CURVE_XLABEL + legend_h
    left = text_width(names) + 0.14
    fig = Figure(figsize=(FULL_WIDTH, height))
    ax = fig.add_axes(
        (
            left / FULL_WIDTH,
            (CURVE_XLABEL + legend_h) / height,
            (FULL_WIDTH - left - 0.2) / FULL_WIDTH,
            plot_h / height,
        )
    )
    return fig, ax, legend_cols, height


def _legend_layout(labels: Sequence[str], width: float, max_cols: int) -> tuple[int, float]:
    """Columns and height (inches) of a legend that fits the width."""
    handle = 0.5
    for cols in range(min(max_cols, len(labels)), 0, -1):
        rows = math.ceil(len(labels) / cols)
        widest = [text_width(labels[c::cols]) + handle for c in range(cols)]
        if sum(widest) <= width - 0.2:
            return cols, rows * LINE_IN + 0.1
    return 1, len(labels) * LINE_IN + 0.1


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _attr_key(attribute: object) -> tuple[str, ...]:
    return group_key(attribute, "")[0]  # type: ignore[arg-type]


def _style(i: int) -> dict[str, object]:
    return {
        "color": SERIES_COLOURS[i % len(SERIES_COLOURS)],
        "marker": SERIES_MARKERS[i % len(SERIES_MARKERS)],
        "linestyle": SERIES_LINES[i % len(SERIES_LINES)],
    }


def _chunks(items: Sequence, size: int) -> list[Sequence]:  # type: ignore[type-arg]
    if len(items) <= size:
        return [items]
    parts = math.ceil(len(items) / size)
    step = math.ceil(len(items) / parts)
    return [items[i : i + step] for i in range(0, len(items), step)]


def _thin(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_CURVE_POINTS points, endpoints kept (drawing only)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xa) <= MAX_CURVE_POINTS:
        return xa, ya
    idx = np.unique(np.linspace(0, len(xa) - 1, MAX_CURVE_POINTS).round().astype(int))
    return xa[idx], ya[idx]


def _part(title: str, index: int, total: int) -> str:
    return title if total == 1 else f"{title} (part {index + 1} of {total})"


def _visible_groups(report: Report, key: tuple[str, ...]) -> list[GroupResult]:
    hidden = report.suppressed_keys()
    return [
        g
        for g in report.groups
        if _attr_key(g.attribute) == key
        and not g.suppressed
        and group_key(g.attribute, g.group) not in hidden
    ]


def _reference_key(report: Report, key: tuple[str, ...]) -> tuple[str, ...] | None:
    for info in report.attributes:
        if _attr_key(info.name) == key and info.reference is not None:
            return group_key(info.name, info.reference)[1]
    return None


def _bounds_for(report: Report, key: tuple[str, ...], metric: str, checks: set[str]) -> list[Bound]:
    seen: list[Bound] = []
    for r in report.policy_results:
        if r.metric != metric or r.check not in checks or r.bound is None or r.attribute is None:
            continue
        if _attr_key(r.attribute) != key:
            continue
        if r.bound.min is None and r.bound.max is None:
            continue
        if all((b.min, b.max) != (r.bound.min, r.bound.max) for b in seen):
            seen.append(r.bound)
    return seen


def _legend_handles(has_bound: bool, has_overall: bool, has_reference: bool) -> list[Line2D]:
    handles = [
        Line2D(
            [], [], color=ESTIMATE_COLOUR, marker="o", linestyle="-", label="estimate, 95% interval"
        )
    ]
    if has_reference:
        handles.append(
            Line2D(
                [], [], color=REFERENCE_COLOUR, marker="D", linestyle="", label="reference group"
            )
        )
    if has_overall:
        handles.append(
            Line2D([], [], color=OVERALL_COLOUR, linestyle=":", linewidth=1.2, label="all patients")
        )
    if has_bound:
        handles.append(
            Line2D([], [], color=BOUND_COLOUR, linestyle="--", linewidth=1.4, label="policy bound")
        )
    return handles


# ------------------------------------------------------------------ dot plots


Panel = tuple[str, list["_Point"], list[Bound], float | None, float | None]
"""(title, points, bounds, overall value, neutral line at 0 or 1 or None)."""


@dataclass(frozen=True)
class _Point:
    label: str
    estimate: float | None
    low: float | None
    high: float | None
    reference: bool


def _dot_plot(
    panels: list[Panel],
    *,
    legend_reference: bool,
) -> tuple[Figure, float]:
    """Small multiples: one panel per metric, groups on the y axis, shared between panels.

    Each panel: (title, points, bounds, overall value, neutral line (0 or 1) or None).
    """
    n = len(panels)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    rows = len(panels[0][1])
    labels = [_label(p.label) for p in panels[0][1]]
    handles = _legend_handles(
        any(p[2] for p in panels),
        any(p[3] is not None for p in panels),
        legend_reference,
    )
    legend_cols, legend_h = _legend_layout([str(h.get_label()) for h in handles], FULL_WIDTH, 4)
    tick_h = 0.26
    panel_h = 0.25 * rows + 0.1
    left = text_width(labels) + 0.14
    right, gap = 0.15, 0.3
    panel_w = (FULL_WIDTH - left - right - (ncols - 1) * gap) / ncols
    # a long metric name is wrapped to its panel, never drawn over the next panel's title
    titles = [_wrapped(p[0], panel_w + gap * 0.8) for p in panels]
    title_h = LINE_IN * max(t.count("\n") + 1 for t in titles) + 0.08
    height = nrows * (title_h + panel_h + tick_h) + legend_h + 0.04
    fig = Figure(figsize=(FULL_WIDTH, height))
    axes = fig.subplots(
        nrows,
        ncols,
        sharey=True,
        squeeze=False,
        gridspec_kw={
            "left": left / FULL_WIDTH,
            "right": 1 - right / FULL_WIDTH,
            "top": 1 - title_h / height,
            "bottom": (legend_h + tick_h) / height,
            "wspace": gap / panel_w,
            "hspace": (tick_h + title_h) / panel_h,
        },
    )
    y = np.arange(rows)[::-1].astype(float)
    for ax, title, (_, points, bounds, overall, neutral) in zip(axes.flat, titles, panels):
        xs: list[float] = []
        for is_ref in (False, True):
            chosen = [
                (yi, p)
                for yi, p in zip(y, points)
                if p.reference == is_ref and p.estimate is not None
            ]
            if not chosen:
                continue
            est = np.array([p.estimate for _, p in chosen], dtype=float)
            lo = np.array([p.estimate if p.low is None else p.low for _, p in chosen], dtype=float)
            hi = np.array(
                [p.estimate if p.high is None else p.high for _, p in chosen], dtype=float
            )
            colour = REFERENCE_COLOUR if is_ref else ESTIMATE_COLOUR
            ax.errorbar(
                est,
                [yi for yi, _ in chosen],
                xerr=[np.maximum(est - lo, 0.0), np.maximum(hi - est, 0.0)],
                fmt="D" if is_ref else "o",
                color=colour,
                ecolor=colour,
                elinewidth=1.4,
                capsize=2.5,
                markersize=5,
            )
            xs.extend([*est, *lo, *hi])
        for yi, p in zip(y, points):
            if p.estimate is None:  # on a white box above the lines, so no line crosses it
                ax.text(
                    0.02,
                    yi,
                    NOT_AVAILABLE,
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    color="#555555",
                    zorder=10,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                )
        if neutral is not None:
            ax.axvline(neutral, color="#999999", linewidth=0.8)
            xs.append(neutral)
        if overall is not None:
            ax.axvline(overall, color=OVERALL_COLOUR, linestyle=":", linewidth=1.2)
            xs.append(overall)
        for b in bounds:
            for v in (b.min, b.max):
                if v is not None:
                    ax.axvline(v, color=BOUND_COLOUR, linestyle="--", linewidth=1.4)
                    xs.append(v)
        if xs:
            lo_x, hi_x = min(xs), max(xs)
            pad = max((hi_x - lo_x) * 0.08, 0.02)
            ax.set_xlim(lo_x - pad, hi_x + pad)
        ax.set_title(title)
        ax.grid(axis="y", visible=False)
        ax.set_ylim(-0.6, rows - 0.4)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for r in range(nrows):
        axes[r][0].set_yticks(y, labels)
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=legend_cols,
        frameon=False,
        borderaxespad=0.2,
    )
    return fig, height


NOT_AVAILABLE = "not available"
"""Written in a panel where a shown group has no estimate (withheld or undefined)."""


def _drawn_words(*, bounds: bool, overall: bool, reference: bool, missing: bool) -> list[str]:
    """Caption clauses for exactly what a dot plot draws: no promise of a line not drawn."""
    words = []
    if bounds:
        words.append("dashed lines are policy bounds")
    if overall:
        words.append("the dotted line is all patients")
    if reference:
        words.append("the diamond is the reference group")
    if missing:
        words.append(f"'{NOT_AVAILABLE}' marks a group whose estimate is withheld or undefined")
    return words


def _chart_metrics(report: Report, key: tuple[str, ...], groups: list[GroupResult]) -> list[str]:
    judged = [
        r.metric
        for r in report.policy_results
        if r.check in ("metric", "calibration")
        and r.metric
        and r.attribute is not None
        and _attr_key(r.attribute) == key
        and r.metric not in ("n", "n_positive", "n_negative")
    ]
    wanted = list(dict.fromkeys(judged))
    for m in task_hints(report.task).chart_metrics:
        if len(wanted) >= 3:
            break
        if m not in wanted:
            wanted.append(m)
    present = {m for g in groups for m, e in g.metrics.items() if e.estimate is not None}
    return [m for m in wanted if m in present][:MAX_METRIC_PANELS]


def metric_charts(report: Report, name: object, key: tuple[str, ...], index: int) -> list[Chart]:
    """Metric by group with 95% interval bars and the policy bound drawn in."""
    groups = _visible_groups(report, key)
    metrics = _chart_metrics(report, key, groups)
    if not metrics or not groups:
        return []
    ref = _reference_key(report, key)
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    charted = [g for g in groups if any(m in g.metrics for m in metrics)]
    out = []
    parts = _chunks(charted, MAX_ROWS)
    for part_index, part in enumerate(parts):
        panels: list[Panel] = []
        alt_parts = []
        for m in metrics:
            points = []
            for g in part:
                e = g.metrics.get(m)
                points.append(
                    _Point(
                        fmt.group_label(g.group),
                        e.estimate if e else None,
                        e.ci_low if e else None,
                        e.ci_high if e else None,
                        ref is not None and group_key(g.attribute, g.group)[1] == ref,
                    )
                )
            bounds = _bounds_for(report, key, m, {"metric", "calibration"})
            overall = report.overall.metrics.get(m)
            panels.append(
                (fmt.metric_name(m), points, bounds, overall.estimate if overall else None, None)
            )
            values = ", ".join(
                f"{p.label} {fmt.value_with_ci(p.estimate, p.low, p.high)}" for p in points
            )
            bound_words = "; ".join(fmt.bound_text(b) for b in bounds)
            alt_parts.append(
                f"{fmt.metric_name(m)}: {values}"
                + (f"; policy bound {bound_words}" if bound_words else "")
            )
        with _chart_style():
            fig, height = _dot_plot(panels, legend_reference=ref is not None)
            svg = _svg(fig)
        names = ", ".join(fmt.metric_name(m) for m in metrics)
        title = _part(f"{names} by {label} group", part_index, len(parts))
        drawn = _drawn_words(
            bounds=any(p[2] for p in panels),
            overall=any(p[3] is not None for p in panels),
            reference=ref is not None and any(pt.reference for p in panels for pt in p[1]),
            missing=any(pt.estimate is None for p in panels for pt in p[1]),
        )
        hidden_groups = len(groups) < len(
            [g for g in report.groups if _attr_key(g.attribute) == key]
        )
        out.append(
            Chart(
                id=f"metric-{index}-{part_index}",
                kind="metric",
                attribute=key,
                title=title,
                caption=f"{title}. Points are estimates and bars 95% intervals"
                + "".join(f"; {w}" for w in drawn)
                + (". Suppressed groups are not shown." if hidden_groups else "."),
                alt=f"Dot plot. {'. '.join(alt_parts)}.",
                svg=svg,
                width_in=FULL_WIDTH,
                height_in=height,
            )
        )
    return out


def disparity_charts(report: Report, name: object, key: tuple[str, ...], index: int) -> list[Chart]:
    """Differences or ratios vs the reference for every judged disparity, with bounds."""
    hidden = report.suppressed_keys()
    pairs: list[tuple[str, str]] = []  # (metric, kind)
    for r in report.policy_results:
        if r.check != "disparity" or not r.metric or r.attribute is None or r.group is None:
            continue
        if _attr_key(r.attribute) != key:
            continue
        rkey = group_key(r.attribute, r.group)
        kinds = {
            d.kind
            for d in report.disparities
            if d.metric == r.metric
            and group_key(d.attribute, d.group) == rkey
            and d.estimate is not None
            and r.observed is not None
            and abs(d.estimate - r.observed) < 1e-9
        }
        for judged_kind in sorted(kinds):
            if (r.metric, judged_kind) not in pairs:
                pairs.append((r.metric, judged_kind))
    if not pairs:
        return []
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    ref_key = _reference_key(report, key)
    ref_label = fmt.group_label(list(ref_key)) if ref_key else "reference"
    panels: list[Panel] = []
    alt_parts = []
    row_labels: list[str] | None = None
    for metric, kind in pairs:
        items = [
            d
            for d in report.disparities
            if _attr_key(d.attribute) == key
            and d.metric == metric
            and d.kind == kind
            and d.group != "worst_case"
            and group_key(d.attribute, d.group) not in hidden
        ]
        labels = [fmt.group_label(d.group) for d in items]
        if row_labels is None:
            row_labels = labels
        by_label = {fmt.group_label(d.group): d for d in items}
        points = []
        for lab in row_labels:
            d = by_label.get(lab)
            points.append(
                _Point(
                    lab,
                    d.estimate if d else None,
                    d.ci_low if d else None,
                    d.ci_high if d else None,
                    False,
                )
            )
        # Bounds of disparity rules apply to the judged kind only.
        bounds = [
            r.bound
            for r in report.policy_results
            if r.check == "disparity"
            and r.metric == metric
            and r.bound is not None
            and r.attribute is not None
            and _attr_key(r.attribute) == key
            and any(
                d.kind == kind
                and d.estimate is not None
                and r.observed is not None
                and abs(d.estimate - r.observed) < 1e-9
                for d in items
                if fmt.group_label(d.group) == fmt.group_label(r.group)
            )
        ]
        unique: list[Bound] = []
        for b in bounds:
            if all((u.min, u.max) != (b.min, b.max) for u in unique):
                unique.append(b)
        sign = "−" if kind == "difference" else "/"
        title = f"{fmt.metric_name(metric)} {kind}\n(group {sign} {ref_label})"
        panels.append((title, points, unique, None, 0.0 if kind == "difference" else 1.0))
        values = ", ".join(
            f"{p.label} {fmt.value_with_ci(p.estimate, p.low, p.high)}" for p in points
        )
        bound_words = "; ".join(fmt.bound_text(b) for b in unique)
        alt_parts.append(
            f"{fmt.metric_name(metric)} {kind} vs {ref_label}: {values}"
            + (f"; policy bound {bound_words}" if bound_words else "")
        )
    if not row_labels:
        return []
    with _chart_style():
        fig, height = _dot_plot(panels[:MAX_METRIC_PANELS], legend_reference=False)
        svg = _svg(fig)
    title = f"Disparities judged by the policies, {label}"
    drawn = _drawn_words(
        bounds=any(p[2] for p in panels),
        overall=False,
        reference=False,
        missing=any(pt.estimate is None for p in panels for pt in p[1]),
    )
    neutral = "the grey line is no difference"
    hidden_groups = any(
        group_key(d.attribute, d.group) in hidden for d in report.disparities if d.group
    )
    return [
        Chart(
            id=f"disparity-{index}",
            kind="disparity",
            attribute=key,
            title=title,
            caption=f"{title}: each group against {ref_label}, with 95% intervals"
            + "".join(f"; {w}" for w in [*drawn, neutral])
            + (". Suppressed groups are not shown." if hidden_groups else "."),
            alt=f"Dot plot. {'. '.join(alt_parts)}.",
            svg=svg,
            width_in=FULL_WIDTH,
            height_in=height,
        )
    ]


# ------------------------------------------------------------------ curves


CURVE_LEFT, CURVE_RIGHT, CURVE_TOP, CURVE_XLABEL = 0.58, 0.12, 0.1, 0.5


def _curve_figure(labels: Sequence[str], title: str) -> tuple[Figure, Any, float]:
    """A square plot with its legend (one group a line, with a title) underneath."""
    side = HALF_WIDTH - CURVE_LEFT - CURVE_RIGHT
    legend_h = (len(labels) + 1) * LINE_IN + 0.12
    height = CURVE_TOP + side + CURVE_XLABEL + legend_h
    fig = Figure(figsize=(HALF_WIDTH, height))
    ax = fig.add_axes(
        (
            CURVE_LEFT / HALF_WIDTH,
            (CURVE_XLABEL + legend_h) / height,
            side / HALF_WIDTH,
            side / height,
        )
    )
    return fig, ax, height


def _curve_legend(fig: Figure, title: str) -> None:
    fig.legend(
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=1,
        frameon=False,
        title=title,
        borderaxespad=0.2,
    )


def roc_charts(report: Report, name: object, key: tuple[str, ...], index: int) -> list[Chart]:
    hidden = report.suppressed_keys() | report.label_withheld_keys()
    curves = [
        c
        for c in report.curves.roc
        if _attr_key(c.attribute) == key and group_key(c.attribute, c.group) not in hidden
    ]
    if not curves:
        return []
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    parts = _chunks(curves, MAX_SERIES)
    out = []
    for part_index, part in enumerate(parts):
        with _chart_style():
            fig, ax, height = _curve_figure([fmt.group_label(c.group) for c in part], "")
            ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle="-")
            for i, c in enumerate(part):
                x, y = _thin(c.fpr, c.tpr)
                auc = f" ({fmt.number(c.auroc)})" if c.auroc is not None else ""
                ax.plot(
                    x,
                    y,
                    label=f"{_label(fmt.group_label(c.group))}{auc}",
                    markevery=(0.04 + 0.03 * i, 0.22),
                    markersize=4.5,
                    **_style(i),  # type: ignore[arg-type]
                )
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.01)
            ax.set_xlabel("False positive rate (1 − specificity)")
            ax.set_ylabel("Sensitivity")
            _curve_legend(fig, "Group (AUROC)")
            svg = _svg(fig)
        title = _part(f"ROC curves by {label} group", part_index, len(parts))
        out.append(
            Chart(
                id=f"roc-{index}-{part_index}",
                kind="roc",
                attribute=key,
                title=title,
                caption=f"{title}. The grey diagonal is chance; AUROC in brackets.",
                alt="ROC curves. "
                + "; ".join(
                    f"{fmt.group_label(c.group)}: AUROC {fmt.number(c.auroc)}" for c in part
                )
                + ".",
                svg=svg,
                width_in=HALF_WIDTH,
                height_in=height,
            )
        )
    return out


def calibration_charts(
    report: Report, name: object, key: tuple[str, ...], index: int
) -> list[Chart]:
    hidden = report.suppressed_keys() | report.label_withheld_keys()
    curves = [
        c
        for c in report.curves.calibration
        if _attr_key(c.attribute) == key
        and group_key(c.attribute, c.group) not in hidden
        and c.bins
    ]
    if not curves:
        return []
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    groups = {group_key(g.attribute, g.group): g for g in report.groups}
    hints = task_hints(report.task)
    summary_id, summary_word, summary_name = hints.calibration_summary
    parts = _chunks(curves, MAX_SERIES)
    out = []
    for part_index, part in enumerate(parts):
        top = max(max(max(b.mean_predicted, b.observed) for b in c.bins) for c in part)
        lim = min(1.0, max(0.1, top * 1.08))
        with _chart_style():
            fig, ax, height = _curve_figure([fmt.group_label(c.group) for c in part], "")
            ax.plot([0, lim], [0, lim], color="#999999", linewidth=0.8)
            for i, c in enumerate(part):
                g = groups.get(group_key(c.attribute, c.group))
                slope = g.metrics.get(summary_id) if g else None
                extra = (
                    f" ({summary_word} {fmt.number(slope.estimate)})"
                    if slope and slope.estimate is not None
                    else ""
                )
                ax.plot(
                    [b.mean_predicted for b in c.bins],
                    [b.observed for b in c.bins],
                    label=f"{_label(fmt.group_label(c.group))}{extra}",
                    markersize=4.5,
                    **_style(i),  # type: ignore[arg-type]
                )
            ax.set_xlim(0, lim)
            ax.set_ylim(0, lim)
            ax.set_xlabel(hints.calibration_axes[0])
            ax.set_ylabel(hints.calibration_axes[1])
            _curve_legend(fig, f"Group ({summary_name})")
            svg = _svg(fig)
        title = _part(f"Calibration by {label} group", part_index, len(parts))
        out.append(
            Chart(
                id=f"calibration-{index}-{part_index}",
                kind="calibration",
                attribute=key,
                title=title,
                caption=f"{title}. Points are risk bins holding at least {report.min_cell_size} "
                "patients; on the grey diagonal predicted risk equals observed.",
                alt="Calibration curves. "
                + "; ".join(
                    f"{fmt.group_label(c.group)}: "
                    + ", ".join(
                        f"predicted {fmt.number(b.mean_predicted)} "
                        f"observed {fmt.number(b.observed)}"
                        for b in c.bins
                    )
                    for c in part
                )
                + ".",
                svg=svg,
                width_in=HALF_WIDTH,
                height_in=height,
            )
        )
    return out


# ------------------------------------------------------------------ task views


def task_charts(report: Report, name: object, key: tuple[str, ...], index: int) -> list[Chart]:
    """The task's own views: Kaplan–Meier by group (survival), binned residuals by group
    (regression), confusion matrices by group (multiclass). Drawn from the report only."""
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    hidden = report.suppressed_keys()
    out: list[Chart] = []
    km = [
        c
        for c in report.curves.kaplan_meier
        if _attr_key(c.attribute) == key
        and group_key(c.attribute, c.group) not in hidden | report.label_withheld_keys()
    ]
    km_parts = _chunks(km, MAX_SERIES) if km else []
    for part_index, part in enumerate(km_parts):
        with _chart_style():
            fig, ax, height = _curve_figure([fmt.group_label(c.group) for c in part], "")
            for i, c in enumerate(part):
                ax.step(
                    c.time,
                    c.survival,
                    where="post",
                    label=_label(fmt.group_label(c.group)),
                    **_style(i),  # type: ignore[arg-type]
                )
            horizon = report.task_settings.get("horizon")
            if horizon is not None:
                ax.axvline(float(horizon), color="#999999", linewidth=0.8, linestyle="--")
            ax.set_ylim(0, 1.01)
            ax.set_xlabel("Time (the horizon dashed)")
            ax.set_ylabel("Event-free survival (Kaplan–Meier)")
            _curve_legend(fig, "Group")
            svg = _svg(fig)
        title = _part(f"Kaplan–Meier by {label} group", part_index, len(km_parts))
        out.append(
            Chart(
                id=f"km-{index}-{part_index}",
                kind="task",
                attribute=key,
                title=title,
                caption=f"{title}, up to the horizon. Each step holds at least "
                f"{report.min_cell_size} events, so no small count can be read off a curve.",
                alt="Kaplan–Meier curves. "
                + "; ".join(
                    f"{fmt.group_label(c.group)}: survival {fmt.number(c.survival[-1])} at "
                    f"time {fmt.number(c.time[-1])}"
                    for c in part
                    if c.time
                )
                + ".",
                svg=svg,
                width_in=HALF_WIDTH,
                height_in=height,
            )
        )
    residuals = [
        c
        for c in report.curves.residuals
        if _attr_key(c.attribute) == key
        and group_key(c.attribute, c.group) not in hidden
        and c.bins
    ]
    residual_parts = _chunks(residuals, MAX_SERIES) if residuals else []
    for part_index, part in enumerate(residual_parts):
        with _chart_style():
            fig, ax, height = _curve_figure([fmt.group_label(c.group) for c in part], "")
            ax.axhline(0.0, color="#999999", linewidth=0.8)
            for i, c in enumerate(part):
                ax.plot(
                    [b.mean_predicted for b in c.bins],
                    [b.mean_residual for b in c.bins],
                    label=_label(fmt.group_label(c.group)),
                    markersize=4.5,
                    **_style(i),  # type: ignore[arg-type]
                )
            ax.set_xlabel("Predicted value")
            ax.set_ylabel("Mean residual (observed − predicted)")
            _curve_legend(fig, "Group")
            svg = _svg(fig)
        title = _part(f"Residuals by {label} group", part_index, len(residual_parts))
        out.append(
            Chart(
                id=f"residuals-{index}-{part_index}",
                kind="task",
                attribute=key,
                title=title,
                caption=f"{title}. Points are prediction bins of at least "
                f"{report.min_cell_size} patients; above the grey line the model "
                "under-predicts.",
                alt="Residual plot. "
                + "; ".join(
                    f"{fmt.group_label(c.group)}: "
                    + ", ".join(
                        f"predicted {fmt.number(b.mean_predicted)} residual "
                        f"{fmt.number(b.mean_residual)}"
                        for b in c.bins
                    )
                    for c in part
                )
                + ".",
                svg=svg,
                width_in=HALF_WIDTH,
                height_in=height,
            )
        )
    for j, c in enumerate(
        c
        for c in report.curves.confusion
        if _attr_key(c.attribute) == key and group_key(c.attribute, c.group) not in hidden
    ):
        k = len(c.classes)
        with _chart_style():
            fig = Figure(figsize=(HALF_WIDTH, HALF_WIDTH * 0.85))
            ax = fig.add_subplot(1, 1, 1)
            grid = np.array([[np.nan if v is None else v for v in row] for row in c.counts])
            totals = np.nansum(grid, axis=1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(totals > 0, grid / totals, np.nan)
            ax.imshow(np.nan_to_num(share, nan=0.0), cmap="Blues", vmin=0, vmax=1)
            for r in range(k):
                for q in range(k):
                    v = c.counts[r][q]
                    # never "<m": a cell withheld to protect another may hold more
                    text = "—" if v is None else str(v)
                    dark = bool(np.nan_to_num(share[r, q]) > 0.55)
                    ax.text(
                        q,
                        r,
                        text,
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if dark else "black",
                    )
            ax.set_xticks(range(k), c.classes)
            ax.set_yticks(range(k), c.classes)
            ax.set_xlabel("Predicted class")
            ax.set_ylabel("True class")
            svg = _svg(fig)
        group = fmt.group_label(c.group)
        title = f"Confusion matrix, {label} = {group}"
        out.append(
            Chart(
                id=f"confusion-{index}-{j}",
                kind="task",
                attribute=key,
                title=title,
                caption=f"{title}. Rows are true classes, columns predicted; a dash is a "
                f"withheld cell: under {report.min_cell_size} patients, or withheld so that "
                "such a cell cannot be recovered (from its row or column, or another group).",
                alt=f"{title}: "
                + "; ".join(
                    f"true {cls}: "
                    + ", ".join(
                        f"{p} {'withheld' if v is None else v}"
                        for p, v in zip(c.classes, row, strict=True)
                    )
                    for cls, row in zip(c.classes, c.counts, strict=True)
                ),
                svg=svg,
                width_in=HALF_WIDTH,
                height_in=HALF_WIDTH * 0.85,
            )
        )
    return out


# ------------------------------------------------------------------ SHAP


def shap_overall_chart(report: Report) -> Chart | None:
    e = report.explanations
    if e.status != "ok" or not e.global_importance:
        return None
    ranked = sorted(e.global_importance, key=lambda i: i.rank)
    items = ranked[:MAX_ROWS]  # every feature, so "ranks 4 of 14" can be seen in the figure
    scale = {"log_odds": "log-odds", "logit": "logit"}.get(e.output_scale or "", "probability")
    names = [_label(i.feature) for i in items]
    plot_h = 0.24 * len(items)
    height = CURVE_TOP + plot_h + CURVE_XLABEL
    left = text_width(names) + 0.14
    with _chart_style():
        fig = Figure(figsize=(FULL_WIDTH, height))
        ax = fig.add_axes(
            (
                left / FULL_WIDTH,
                CURVE_XLABEL / height,
                (FULL_WIDTH - left - 0.2) / FULL_WIDTH,
                plot_h / height,
            )
        )
        y = np.arange(len(items))[::-1]
        ax.barh(y, [i.mean_abs_shap for i in items], color=ESTIMATE_COLOUR, height=0.6)
        ax.set_yticks(y, names)
        ax.set_ylim(-0.6, len(items) - 0.4)
        ax.set_xlabel(f"Mean |SHAP value| ({scale} scale)")
        ax.grid(axis="y", visible=False)
        svg = _svg(fig)
    title = "Feature importance, all patients"
    return Chart(
        id="shap-overall",
        kind="shap-overall",
        attribute=None,
        title=title,
        caption=f"{title}: mean absolute SHAP value "
        + (
            f"of all {len(items)} features"
            if len(items) == len(ranked)
            else f"of the {len(items)} most important of {len(ranked)} features (all are in "
            "report.json)"
        )
        + f", ranked ({e.explainer or 'explainer'}, {scale} scale).",
        alt="Bar chart. "
        + ", ".join(f"{i.feature} {fmt.number(i.mean_abs_shap, 3)}" for i in items)
        + ".",
        svg=svg,
        width_in=FULL_WIDTH,
        height_in=height,
    )


def shap_charts(report: Report, name: object, key: tuple[str, ...], index: int) -> list[Chart]:
    """Mean |SHAP| per feature for each group of an attribute, all patients for comparison."""
    e = report.explanations
    if e.status != "ok":
        return []
    hidden = report.suppressed_keys()
    groups = [
        g
        for g in e.by_group
        if _attr_key(g.attribute) == key
        and not g.suppressed
        and group_key(g.attribute, g.group) not in hidden
        and g.importance
    ]
    if not groups:
        return []
    features = [i.feature for i in sorted(e.global_importance, key=lambda i: i.rank)][
        :SHAP_FEATURES
    ]
    if not features:
        features = [i.feature for i in sorted(groups[0].importance, key=lambda i: i.rank)][
            :SHAP_FEATURES
        ]
    overall = {i.feature: i.mean_abs_shap for i in e.global_importance}
    label = fmt.attribute_label(name)  # type: ignore[arg-type]
    scale = {"log_odds": "log-odds", "logit": "logit"}.get(e.output_scale or "", "probability")
    parts = _chunks(groups, MAX_SERIES - 1)
    out = []
    for part_index, part in enumerate(parts):
        legend_labels = (["all patients"] if overall else []) + [
            _label(fmt.group_label(g.group)) for g in part
        ]
        names = [_label(f) for f in features]
        with _chart_style():
            fig, ax, legend_cols, height = _feature_bars_axes(names, legend_labels)
            y = np.arange(len(features))[::-1].astype(float)
            n_groups = len(part)
            offsets = np.linspace(0.25, -0.25, n_groups) if n_groups > 1 else np.zeros(1)
            if overall:
                ax.barh(
                    y,
                    [overall.get(f, 0.0) for f in features],
                    height=0.8,
                    color="#d9d9d9",
                    label="all patients",
                )
            for i, g in enumerate(part):
                values = {imp.feature: imp.mean_abs_shap for imp in g.importance}
                style = _style(i)
                ax.scatter(
                    [values.get(f, np.nan) for f in features],
                    y + offsets[i],
                    marker=style["marker"],  # type: ignore[arg-type]
                    color=style["color"],
                    s=26,
                    label=_label(fmt.group_label(g.group)),
                )
            ax.set_yticks(y, names)
            ax.set_ylim(-0.6, len(features) - 0.4)
            ax.set_xlim(left=0)
            ax.set_xlabel(f"Mean |SHAP value| ({scale} scale)")
            ax.grid(axis="y", visible=False)
            fig.legend(
                loc="lower center",
                bbox_to_anchor=(0.5, 0.0),
                ncols=legend_cols,
                frameon=False,
                borderaxespad=0.2,
            )
            svg = _svg(fig)
        title = _part(f"Feature importance by {label} group", part_index, len(parts))
        out.append(
            Chart(
                id=f"shap-{index}-{part_index}",
                kind="shap",
                attribute=key,
                title=title,
                caption=f"{title}: mean absolute SHAP value of the {len(features)} most important "
                "features; the grey bar is all patients. Suppressed groups are not shown.",
                alt="Dot plot of feature importance. "
                + "; ".join(
                    f"{fmt.group_label(g.group)}: "
                    + ", ".join(
                        f"{i.feature} {fmt.number(i.mean_abs_shap, 3)}"
                        for i in sorted(g.importance, key=lambda i: i.rank)[:5]
                    )
                    for g in part
                )
                + ".",
                svg=svg,
                width_in=FULL_WIDTH,
                height_in=height,
            )
        )
    return out


def shap_classes_chart(report: Report) -> Chart | None:
    """Mean |SHAP| per feature of each class's probability, all patients (multiclass)."""
    e = report.explanations
    classes = [c for c in e.by_class if c.global_importance]
    if e.status != "ok" or len(classes) < 2:
        return None
    total: dict[str, float] = {}
    for c in classes:
        for i in c.global_importance:
            total[i.feature] = total.get(i.feature, 0.0) + i.mean_abs_shap
    features = sorted(total, key=lambda f: (-total[f], f))[:SHAP_FEATURES]
    scale = {"log_odds": "log-odds", "logit": "logit"}.get(e.output_scale or "", "probability")
    legend_labels = [_label(f"class {c.label}") for c in classes]
    names = [_label(f) for f in features]
    with _chart_style():
        fig, ax, legend_cols, height = _feature_bars_axes(names, legend_labels)
        y = np.arange(len(features))[::-1].astype(float)
        offsets = np.linspace(0.3, -0.3, len(classes))
        for series, c in enumerate(classes):
            values = {imp.feature: imp.mean_abs_shap for imp in c.global_importance}
            style = _style(series)
            ax.scatter(
                [values.get(f, np.nan) for f in features],
                y + offsets[series],
                marker=style["marker"],  # type: ignore[arg-type]
                color=style["color"],
                s=26,
                label=legend_labels[series],
            )
        ax.set_yticks(y, names)
        ax.set_ylim(-0.6, len(features) - 0.4)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"Mean |SHAP value| ({scale} scale)")
        ax.grid(axis="y", visible=False)
        fig.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 0.0),
            ncols=legend_cols,
            frameon=False,
            borderaxespad=0.2,
        )
        svg = _svg(fig)
    title = "Feature importance by class, all patients"
    return Chart(
        id="shap-classes",
        kind="shap-classes",
        attribute=None,
        title=title,
        caption=f"{title}: mean absolute SHAP value of each class's predicted "
        f"{'probability' if scale == 'probability' else 'linear score (softmax input)'}, "
        f"for the {len(features)} features that matter most over all classes "
        f"({e.explainer or 'explainer'}, {scale} scale).",
        alt="Dot plot of feature importance per class. "
        + "; ".join(
            f"class {c.label}: "
            + ", ".join(
                f"{i.feature} {fmt.number(i.mean_abs_shap, 3)}"
                for i in sorted(c.global_importance, key=lambda i: i.rank)[:5]
            )
            for c in classes
        )
        + ".",
        svg=svg,
        width_in=FULL_WIDTH,
        height_in=height,
    )


# ------------------------------------------------------------------ all


def make_charts(report: Report) -> ChartSet:
    """Every chart of the report, once, in document order."""
    charts = ChartSet()
    attributes = report.attribute_order()
    for index, (name, key) in enumerate(attributes):
        charts.charts.extend(metric_charts(report, name, key, index))
        charts.charts.extend(disparity_charts(report, name, key, index))
        charts.charts.extend(roc_charts(report, name, key, index))
        charts.charts.extend(calibration_charts(report, name, key, index))
        charts.charts.extend(task_charts(report, name, key, index))
    overall = shap_overall_chart(report)
    if overall is not None:
        charts.charts.append(overall)
    by_class = shap_classes_chart(report)
    if by_class is not None:
        charts.charts.append(by_class)
    for index, (name, key) in enumerate(attributes):
        charts.charts.extend(shap_charts(report, name, key, index))
    return charts
