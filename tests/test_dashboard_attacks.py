"""The attack suite against the dashboard: every view's published numbers, read as an attacker.

The dashboard is opened headless (``streamlit.testing.v1.AppTest``) on the bundled
example and on a generated cohort with groups of 1 to 12 patients and a declared
threshold grid. The walk finds the views by the app's own navigation (its tabs), and
in every view moves every choice widget over every option (and, for a view choice,
every other widget under each view), at every value of the threshold slider. From
each page it collects every shown number: table cells, metric widgets, text and chart
data. Then, as a reader would:

1. a group the published report suppresses appears with no number;
2. every count shown (patients, events, flagged, confusion cells) is 0 or at least
   the floor;
3. the counts and rates shown, added to report.json's published figures, pin no
   count from 1 to ``min_cell_size - 1`` under the linear-programming attack of
   tests/attack.py;
4. every figure shown for a group is report.json's own at the page's threshold (to
   the shown precision), and none the report withholds;
5. the ROC curves the charts draw have no step of 1 to ``min_cell_size - 1`` patients;
   and the Export view's report.json survives the report attack suite.

The default form visits, under view choices other than the first, every third option
of a many-option widget (rotating, so each option is still seen); the slow variants
visit every combination of a view choice with every option.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from attack import Reader, add_shown, curve_steps, data_check_cells
from streamlit.testing.v1 import AppTest

from auditor.audit import run_audit
from auditor.dashboard import display, export, inputs
from auditor.load.examples import demo_spec_path
from auditor.load.spec_loader import load_spec
from auditor.measure.metrics import METRICS
from reports.render import render

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
SKIP_WIDGETS = {"source"}
"""The input picker changes what is audited, not how it is shown."""
NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w.])")
COUNT_WORDS = re.compile(
    r"(?i)(patients|\bn\b|count|events|people|rows|flagged|predicted (positive|negative)s?\b|"
    r"true positives|false positives|true negatives|false negatives|\b(tp|fp|tn|fn)\b)"
)
NOT_COUNT = re.compile(r"(?i)(rate|value|share|proportion|%|score|mean|ratio|prevalence)")
COUNT_IN_TEXT = re.compile(
    r"(?<![\w.])(\d[\d,]*)\s+(patients|people|rows|events|positives|negatives|"
    r"patients with|flagged)\b"
)
SHOWN_RATES = {display.metric_label(m): m for m in METRICS} | {
    display.metric_label(m): m for m in ("n", "n_positive", "n_negative")
}
COUNT_IDS = {"n": "n", "n_positive": "events", "n_negative": "non-events"}
RATE_IDS = ("selection_rate", "prevalence", "sensitivity", "fnr", "specificity", "fpr")


@dataclass
class Shown:
    """What one page state put on screen."""

    where: str
    threshold: float | None
    tables: list[pd.DataFrame] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def _dashboard_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUDITOR_DASHBOARD_BOOTSTRAP", "0")
    monkeypatch.setenv("AUDITOR_DASHBOARD_FULL_BOOTSTRAP", "0")
    monkeypatch.delenv(inputs.ENV_SPEC, raising=False)
    monkeypatch.setenv("AUDITOR_REGISTRY", str(tmp_path / "registry.db"))
    monkeypatch.setattr(sys, "argv", ["streamlit_app.py"])


# -- the cohort ---------------------------------------------------------------------------
def write_cohort(folder: Path, seed: int, small: list[int], thresholds: list[float]) -> Path:
    """Two large groups and several of 1 to 12 patients, crossed with sex (as in
    tests/test_attacks.py), written as a score-column audit with a threshold grid."""
    rng = np.random.default_rng(seed)
    sizes = {"A": 400, "B": 150, **{f"s{i}": k for i, k in enumerate(small)}}
    race = np.concatenate([[g] * k for g, k in sizes.items()])
    n = race.size
    score = np.round(rng.beta(2, 3, n), 3)
    frame = pd.DataFrame(
        {
            "race": race,
            "sex": rng.choice(["F", "M"], n),
            "age": rng.integers(40, 90, n),
            "risk": score,
            "died": (rng.random(n) < score).astype(int),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "cohort.csv", index=False)
    spec = {
        "name": "Generated cohort audit",
        "data": "cohort.csv",
        "label": {"column": "died", "positive": 1},
        "model": {"score_column": "risk"},
        "sensitive": ["race", "sex"],
        "intersections": [["race", "sex"]],
        "threshold": thresholds,
        "bootstrap": 0,
        "seed": 0,
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder / "spec.yaml"


def published(spec_path: Path, out: Path) -> dict[str, Any]:
    """report.json as the CLI publishes it for this spec."""
    report = run_audit(load_spec(spec_path)).report
    files = render(report, out, ["json"])
    payload: dict[str, Any] = json.loads(files["json"].read_text(encoding="utf-8"))
    return payload


# -- the walk -----------------------------------------------------------------------------
def _frames(at: AppTest) -> Iterator[pd.DataFrame]:
    from streamlit import dataframe_util

    for d in (*at.dataframe, *at.table):
        yield d.value
    for kind in ("vega_lite_chart", "arrow_vega_lite_chart"):
        for chart in at.get(kind):
            proto = chart.proto
            for dataset in getattr(proto, "datasets", []):
                yield dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data)
            spec = json.loads(getattr(proto, "spec", "") or "{}")
            for data in _inline_data(spec):
                yield pd.DataFrame(data)


def _inline_data(spec: Any) -> Iterator[list[dict[str, Any]]]:
    if isinstance(spec, dict):
        values = spec.get("values")
        if isinstance(values, list) and values and isinstance(values[0], dict):
            yield values
        for v in spec.values():
            yield from _inline_data(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _inline_data(v)


def _texts(at: AppTest) -> Iterator[str]:
    for kind in ("markdown", "caption", "text", "info", "warning", "error", "success", "title"):
        for el in at.get(kind):
            yield str(el.value)
    for kind in ("header", "subheader"):
        for el in at.get(kind):
            yield str(el.value)
    for m in at.get("metric"):
        yield f"{m.label}: {m.value} {getattr(m.proto, 'delta', '')}"
    for kind in ("vega_lite_chart", "arrow_vega_lite_chart"):
        for chart in at.get(kind):
            yield str(getattr(chart.proto, "spec", ""))


def _snapshot(at: AppTest, where: str, threshold: float | None) -> Shown:
    assert not at.exception, (where, at.exception)
    # text as the reader sees it: the page escapes markdown in untrusted text
    texts = [re.sub(r"\\(.)", r"\1", t).replace("\u2060", "") for t in _texts(at)]
    return Shown(where, threshold, list(_frames(at)), texts)


def _choices(at: AppTest) -> list[Any]:
    """The choice widgets of the open view (main area), found on the page, not by name."""
    found = []
    for kind in ("selectbox", "radio", "select_slider", "toggle", "checkbox"):
        for w in at.main.get(kind):
            if w.key in SKIP_WIDGETS or getattr(w, "disabled", False):
                continue
            found.append(w)
    return found


def _current(w: Any) -> Any:
    """The shown label of the current choice (raw values differ when format_func is used)."""
    if w.type in ("selectbox", "radio"):
        return None if w.index is None else list(w.options)[w.index]
    return w.value


def _options(w: Any) -> list[Any]:
    if w.type in ("toggle", "checkbox"):
        return [True, False]
    return list(w.options)


def _set(at: AppTest, kind: str, key: str, option: Any) -> None:
    """Choose an option by its shown label, as the browser does (it sends the label)."""
    from streamlit.runtime.state.common import TESTING_KEY

    widget = next(w for w in at.main.get(kind) if w.key == key)
    if kind in ("selectbox", "radio"):
        # AppTest formats the value again with the app's format_func; a label is
        # already formatted, so format it as itself for this one run
        widget.root.session_state[TESTING_KEY][widget.id] = str
    widget.set_value(option)
    at.run()


def _expand_multiselects(at: AppTest) -> None:
    """Show every metric a multiselect offers."""
    for w in at.main.get("multiselect"):
        if w.key in SKIP_WIDGETS or set(w.value) == set(w.options):
            continue
        for option in w.options:
            if option not in w.value:
                w.select(option)
        at.run()


def _is_view_choice(w: Any, view_labels: set[str]) -> bool:
    return w.type == "selectbox" and bool(set(w.options) & view_labels)


def walk_view(
    at: AppTest, tab: str, threshold: float | None, views: set[str], stride: int = 1
) -> list[Shown]:
    """Every option of every choice widget in one view: under each value of the view's
    attribute choice, every other widget over all of its options.

    With ``stride`` > 1, under the view choices other than the first, a widget of many
    options (a chart's metric) visits every ``stride``-th option, rotating with the view,
    so every option is still seen under several views.
    """
    at.session_state["view"] = tab
    at.run()
    _expand_multiselects(at)
    shown = [_snapshot(at, tab, threshold)]
    outer = [w for w in _choices(at) if _is_view_choice(w, views)]
    outer_states: list[tuple[str, str, Any] | None] = [None]
    for w in outer:
        outer_states += [(w.type, w.key, o) for o in _options(w) if o != _current(w)]
    start = {w.key: (w.type, _current(w)) for w in _choices(at)}
    for turn, state in enumerate(outer_states):
        if state is not None:
            _set(at, *state)
            _expand_multiselects(at)
            shown.append(_snapshot(at, f"{tab}: {state[1]}={state[2]}", threshold))
        inner = [(w.type, w.key, _current(w), _options(w)) for w in _choices(at)]
        for kind, key, value, options in inner:
            if _is_view_choice(next(w for w in _choices(at) if w.key == key), views):
                continue
            for i, option in enumerate(options):
                if option == value:
                    continue
                if state is not None and len(options) > 6 and (i + turn) % stride:
                    continue
                _set(at, kind, key, option)
                _expand_multiselects(at)
                shown.append(_snapshot(at, f"{tab}: {state} {key}={option}", threshold))
                # deeper choices a change reveals (e.g. the optimizer's objective)
                for w in _choices(at):
                    if w.key in start or w.key == key:
                        continue
                    for extra in _options(w):
                        if extra != _current(w):
                            _set(at, w.type, w.key, extra)
                            shown.append(
                                _snapshot(at, f"{tab}: {key}={option} {w.key}={extra}", threshold)
                            )
            _set(at, kind, key, value)
        if state is not None:
            kind, key, _ = state
            _set(at, kind, key, start[key][1])
    return shown


def walk(
    at: AppTest, *, views: set[str], stride: int = 1
) -> tuple[list[Shown], dict[str, Any] | None]:
    """Every view at every threshold of the slider; also the Export view's report.json."""
    at.run()
    assert not at.exception
    tabs = [t.label for t in at.tabs]
    assert len(tabs) >= 8, tabs
    sliders = [s for s in at.sidebar.get("select_slider")]
    grid: list[float | None] = [float(o) for o in sliders[0].options] if sliders else [None]
    shown: list[Shown] = []
    for t in grid:
        if t is not None:
            at.sidebar.get("select_slider")[0].set_value(t).run()
        for tab in tabs:
            shown += walk_view(at, tab, t, views, stride)
    exported = _export_json(at, tabs)
    return shown, exported


def _export_json(at: AppTest, tabs: list[str]) -> dict[str, Any] | None:
    tab = next((t for t in tabs if t.lower().startswith("export")), None)
    if tab is None:
        return None
    at.session_state["view"] = tab
    at.run()
    buttons = [b for b in at.main.get("button") if "Prepare" in str(b.label)]
    if buttons:
        buttons[0].click().run()
    files = (
        at.session_state[export.RESULT_KEY]["files"]
        if export.RESULT_KEY in at.session_state
        else {}
    )
    data = files.get("report.json")
    return None if data is None else json.loads(data)


# -- reading the pages as an attacker ------------------------------------------------------
def _label(g: dict[str, Any]) -> str:
    if g["attribute"] == "overall":
        return "Everyone"
    return g["group"] if isinstance(g["group"], str) else " × ".join(g["group"])


def _attribute(g: dict[str, Any]) -> str:
    a = g["attribute"]
    return a if isinstance(a, str) else " × ".join(a)


def suppressed_labels(payload: dict[str, Any]) -> set[str]:
    return {_label(g) for g in payload["groups"] if g.get("suppressed")}


def _strip_floor(text: str, m: int) -> str:
    """The floor itself ("fewer than 11 patients") is not a figure of the group."""
    return re.sub(rf"(?i)(fewer than|at least|below|under|min_cell_size\W*)\s*{m}\b", "", text)


def _numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _metric_column(frame: pd.DataFrame) -> str | None:
    for c in frame.columns:
        if str(c).lower() in ("metric", "item", "measure"):
            return str(c)
    return None


def _group_column(frame: pd.DataFrame) -> str | None:
    for c in frame.columns:
        if str(c).lower() in ("group", "subgroup"):
            return str(c)
    return None


def _is_count_label(label: str) -> bool:
    return bool(COUNT_WORDS.search(label)) and not NOT_COUNT.search(label)


def _as_count(text: str) -> int | None:
    t = text.strip().replace(",", "")
    if re.fullmatch(r"\d+(\.0+)?", t):
        return int(float(t))
    return None


def suppressed_with_numbers(shown: list[Shown], payload: dict[str, Any]) -> list[str]:
    """(1): a hidden group next to any number, in a table row or column, chart or text."""
    m = int(payload["min_cell_size"])
    hidden = suppressed_labels(payload)
    bad = []
    for s in shown:
        for frame in s.tables:
            for col in frame.columns:
                if str(col) in hidden:
                    for v in frame[col]:
                        if _numbers(_strip_floor(_cell(v), m)):
                            bad.append(f"{s.where}: column {col}: {v}")
            for _, row in frame.iterrows():
                cells = [_cell(v) for v in row]
                if not any(c in hidden for c in cells):
                    continue
                names = [c for c in cells if c in hidden]
                for col, c in zip(frame.columns, cells):
                    if c in hidden or _is_attribute_column(str(col)):
                        continue
                    if _numbers(_strip_floor(c, m)):
                        bad.append(f"{s.where}: {names[0]} / {col}: {c}")
        for text in s.texts:
            for clause in re.split(r"[;\n]|\. ", text):
                for name in hidden:
                    if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", clause) and re.search(
                        rf"{re.escape(name)}\W{{0,4}}(n\s*=\s*)?\d", clause
                    ):
                        bad.append(f"{s.where}: text: {clause[:160]}")
    return sorted(set(bad))


def _is_attribute_column(col: str) -> bool:
    return col.lower() in ("attribute", "view", "feature", "group")


def small_counts_shown(shown: list[Shown], m: int) -> list[str]:
    """(2): every count-like figure is 0 or at least the floor."""
    bad = []
    for s in shown:
        for frame in s.tables:
            metric_col = _metric_column(frame)
            for _, row in frame.iterrows():
                row_label = _cell(row[metric_col]) if metric_col else ""
                for col in frame.columns:
                    label = str(col)
                    if not (_is_count_label(label) or _is_count_label(row_label)):
                        continue
                    if col == metric_col:
                        continue
                    k = _as_count(_cell(row[col]).split(" ")[0])
                    if k is not None and 0 < k < m:
                        bad.append(f"{s.where}: {row_label or ''} {label} = {k}")
        for text in s.texts:
            for number, _word in COUNT_IN_TEXT.findall(_strip_floor(text, m)):
                k = int(number.replace(",", ""))
                if 0 < k < m:
                    bad.append(f"{s.where}: text: {number} {_word}")
    return sorted(set(bad))


def _figure(text: str) -> tuple[float, int] | None:
    """The leading number of a cell ("0.632 (0.55–0.70)", "2,644") and its decimals."""
    t = text.strip().split(" ")[0].replace(",", "")
    if not re.fullmatch(r"-?\d+(\.\d+)?", t):
        return None
    digits = len(t.split(".")[1]) if "." in t else 0
    return float(t), digits


def shown_figures(
    shown: list[Shown], payload: dict[str, Any]
) -> set[tuple[str, str, str, float, int, float | None]]:
    """(attribute, group label, what, value, decimals, threshold) of every count and rate
    the pages show for a group the report publishes."""
    groups = [payload["overall"], *payload["groups"]]
    by_label: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        by_label.setdefault(_label(g), []).append(g)
    primary = float(payload["threshold"])
    out = set()

    def add(label: str, attribute: str | None, header: str, text: str, t: float | None) -> None:
        what = SHOWN_RATES.get(header.split(": ")[0].strip())
        if header.endswith("what-if") or what is None:
            return
        what = COUNT_IDS.get(what, what)
        candidates = by_label.get(label, [])
        if attribute is not None:
            candidates = [g for g in candidates if _attribute(g) == attribute] or candidates
        if len(candidates) != 1:
            return
        fig = _figure(text)
        if fig is None:
            return
        g = candidates[0]
        out.add((_attribute(g), label, what, fig[0], fig[1], t))

    for s in shown:
        t = s.threshold if s.threshold is not None else primary
        for frame in s.tables:
            metric_col, group_col = _metric_column(frame), _group_column(frame)
            t_col = next((c for c in frame.columns if str(c).lower() == "threshold"), None)
            attr_col = next((c for c in frame.columns if str(c).lower() == "attribute"), None)
            for _, row in frame.iterrows():
                tt = t
                if t_col is not None and (f := _figure(_cell(row[t_col]))) is not None:
                    tt = f[0]
                if metric_col is not None:
                    header = _cell(row[metric_col])
                    for col in frame.columns:
                        if col != metric_col and str(col) in by_label:
                            add(str(col), None, header, _cell(row[col]), tt)
                if group_col is not None:
                    attribute = _cell(row[attr_col]) if attr_col is not None else None
                    for col in frame.columns:
                        add(_cell(row[group_col]), attribute, str(col), _cell(row[col]), tt)
    return out


def unpublished_figures(shown: list[Shown], payload: dict[str, Any]) -> list[str]:
    """(4): every figure shown for a group is the report's own, at the page's threshold,
    to the shown precision; a figure the report withholds is never shown."""
    groups = {(_attribute(g), _label(g)): g for g in [payload["overall"], *payload["groups"]]}
    ids = {v: k for k, v in COUNT_IDS.items()}
    bad = []
    for attribute, label, what, value, digits, t in sorted(shown_figures(shown, payload)):
        g = groups[(attribute, label)]
        mid = ids.get(what, what)
        by_t = {float(k): v for k, v in (g.get("by_threshold") or {}).items()}
        metrics = by_t.get(t) if t is not None else None
        if metrics is None or mid not in metrics:
            metrics = g["metrics"]
        pub = g.get("n") if mid == "n" else (metrics.get(mid) or {}).get("estimate")
        if pub is None:
            bad.append(f"{label}: {mid} at {t} = {value} is withheld in the report")
        elif abs(pub - value) > 0.5 * 10.0**-digits + 1e-9:
            bad.append(f"{label}: {mid} at {t} = {value}, the report publishes {pub}")
    return bad


def chart_curve_steps(shown: list[Shown], payload: dict[str, Any]) -> list[str]:
    """(5): curve-step reconstruction on the ROC curves the charts draw: every step
    between consecutive shown points holds 0 or at least the floor of patients with,
    and of patients without, the outcome (the published event count sizes the steps)."""
    m = int(payload["min_cell_size"])
    by_label: dict[str, list[dict[str, Any]]] = {}
    for g in [payload["overall"], *payload["groups"]]:
        by_label.setdefault(_label(g), []).append(g)
    bad = []
    for s in shown:
        for frame in s.tables:
            if not {"fpr", "tpr", "group"} <= set(frame.columns) or len(frame) < 2:
                continue
            if "order" in frame.columns:
                frame = frame.sort_values("order")
            for name, points in frame.groupby("group", sort=False):
                label = re.sub(r" \(.*\)$", "", str(name))
                groups = by_label.get(label, [])
                if len(groups) != 1:
                    continue
                g = groups[0]
                pos = (g["metrics"].get("n_positive") or {}).get("estimate")
                if g.get("suppressed") or pos is None or g.get("n") is None:
                    bad.append(f"{s.where}: a curve for {label}, whose event count is withheld")
                    continue
                neg = g["n"] - pos
                f, t = points["fpr"].to_numpy(float), points["tpr"].to_numpy(float)
                for d in (*(np.diff(t) * pos), *(np.diff(f) * neg)):
                    if 0.5 < abs(d) < m - 0.5:
                        bad.append(f"{s.where}: {label}: a step of {abs(d):.1f} patients")
    return sorted(set(bad))


def pinned_with_dashboard(shown: list[Shown], payload: dict[str, Any]) -> list[Any]:
    """(3): the report's figures plus every count and rate the pages show, attacked."""
    reader = Reader(payload)
    groups = {(_attribute(g), _label(g)): g for g in [payload["overall"], *payload["groups"]]}
    figures = shown_figures(shown, payload)
    counts = [f for f in figures if f[2] in COUNT_IDS.values()]
    rates = [f for f in figures if f[2] not in COUNT_IDS.values()]
    for attribute, label, what, value, digits, t in [*counts, *rates]:
        if t is not None and t not in reader.thresholds:
            continue
        add_shown(reader, groups[(attribute, label)], what, value, digits, t)
    return reader.recovered()


# -- the tests -----------------------------------------------------------------------------
def _views(payload: dict[str, Any]) -> set[str]:
    """The labels of attributes and intersections, by which a view choice is recognised."""
    return {_attribute(g) for g in payload["groups"]}


def _attack_dashboard(
    payload: dict[str, Any], stride: int = 3
) -> tuple[list[Shown], dict[str, Any] | None]:
    at = AppTest.from_file(APP, default_timeout=180)
    shown, exported = walk(at, views=_views(payload), stride=stride)
    m = int(payload["min_cell_size"])
    assert shown and sum(len(s.tables) for s in shown) > 20, "the walk saw the pages"
    assert suppressed_with_numbers(shown, payload) == []
    assert small_counts_shown(shown, m) == []
    figures = shown_figures(shown, payload)
    assert len(figures) > 20, "the walk read the figures it attacks"
    assert unpublished_figures(shown, payload) == []
    assert chart_curve_steps(shown, payload) == []
    assert pinned_with_dashboard(shown, payload) == []
    if exported is not None:  # the Export view's report.json, at the slider's last value
        assert Reader(exported).recovered() == []
        assert curve_steps(exported) == []
        assert data_check_cells(exported) == []
    return shown, exported


def test_every_example_view_publishes_only_the_report(tmp_path: Path) -> None:
    payload = published(demo_spec_path(), tmp_path / "out")
    assert suppressed_labels(payload), "the example hides some groups"
    _attack_dashboard(payload)


@pytest.fixture
def cohort_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    spec = write_cohort(tmp_path / "cohort", 0, [1, 5, 9, 12], [0.4, 0.3, 0.5])
    monkeypatch.setenv(inputs.ENV_SPEC, str(spec))
    return spec


def test_every_view_of_a_small_group_cohort_at_every_threshold(
    cohort_spec: Path, tmp_path: Path
) -> None:
    payload = published(cohort_spec, tmp_path / "out")
    hidden = suppressed_labels(payload)
    assert {"s0", "s1", "s2"} <= hidden
    shown, _ = _attack_dashboard(payload)
    thresholds = {s.threshold for s in shown}
    assert thresholds == {0.3, 0.4, 0.5}, "the slider was moved over its whole grid"


@pytest.mark.exhaustive
@pytest.mark.parametrize(("seed", "small"), [(2, [3, 10, 11]), (4, [2, 7, 11, 12])])
def test_more_generated_cohorts(
    seed: int, small: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_cohort(tmp_path / "cohort", seed, small, [0.35, 0.25, 0.45, 0.55])
    monkeypatch.setenv(inputs.ENV_SPEC, str(spec))
    _attack_dashboard(published(spec, tmp_path / "out"), stride=1)


@pytest.mark.exhaustive
def test_every_example_view_with_every_option_under_every_view(tmp_path: Path) -> None:
    _attack_dashboard(published(demo_spec_path(), tmp_path / "out"), stride=1)


def test_the_checks_catch_what_a_careless_view_would_show(
    cohort_spec: Path, tmp_path: Path
) -> None:
    """The checks can fail: a hidden group's size, and a rate that pins a withheld count."""
    payload = published(cohort_spec, tmp_path / "out")
    data = pd.read_csv(cohort_spec.parent / "cohort.csv")
    size = int((data["race"] == "s1").sum())
    assert "s1" in suppressed_labels(payload) and 1 <= size < 11
    leak = Shown(
        "a view measuring outside the plan",
        None,
        [pd.DataFrame({"Group": ["A", "s1"], "Patients": ["400", str(size)]})],
        [f"s1: {size} patients"],
    )
    assert len(suppressed_with_numbers([leak], payload)) == 2
    assert small_counts_shown([leak], 11) == [
        f"a view measuring outside the plan:  Patients = {size}",
        f"a view measuring outside the plan: text: {size} patients",
    ]
    # a published group whose event count the report withholds: its prevalence pins it
    for g in payload["groups"]:
        if g.get("suppressed") or g["metrics"].get("n_positive", {}).get("estimate") is not None:
            continue
        names, keys = (
            ([g["attribute"]], [g["group"]])
            if isinstance(g["group"], str)
            else (
                g["attribute"],
                g["group"],
            )
        )
        rows = data[np.logical_and.reduce([data[a] == k for a, k in zip(names, keys)])]
        events = int(rows["died"].sum())
        if 1 <= events < 11 or 1 <= len(rows) - events < 11:
            break
    else:
        raise AssertionError("the cohort has a group whose event count is withheld")
    label = _label(g)
    careless = Shown(
        "a view showing a withheld prevalence",
        None,
        [
            pd.DataFrame(
                {
                    "Group": [label],
                    display.metric_label("prevalence"): [f"{events / len(rows):.3f}"],
                }
            )
        ],
        [],
    )
    assert suppressed_with_numbers([careless], payload) == []
    assert any(found[0] == label for found in pinned_with_dashboard([careless], payload))
    # a chart drawing the ROC curve at every score: a step of 3 patients with the outcome
    a = next(g for g in payload["groups"] if _label(g) == "A")
    pos = a["metrics"]["n_positive"]["estimate"]
    curve = pd.DataFrame({"group": ["A (AUROC 0.7)"] * 2, "fpr": [0.0, 0.0], "tpr": [0.0, 3 / pos]})
    steps = chart_curve_steps([Shown("a fine-grained chart", None, [curve], [])], payload)
    assert steps == ["a fine-grained chart: A: a step of 3.0 patients"]
