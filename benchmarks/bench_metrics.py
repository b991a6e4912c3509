"""Benchmark: subgroup metrics of this library vs fairlearn MetricFrame, side by side.

Run from the repository root:

    python benchmarks/bench_metrics.py            # full run (a few minutes), writes README
    python benchmarks/bench_metrics.py --quick    # 100k rows only, no README update

Every case runs in its own subprocess on the same synthetic, clinical-like cohort
(seeded), so peak memory (``ru_maxrss``) belongs to that case alone. The timed step
starts from a loaded frame (categorical sensitive columns, 0/1 labels, float scores)
and ends with the results: for this library ``reduce_frame`` + ``measure``; for
fairlearn the ``MetricFrame`` constructor (which computes everything).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = Path(__file__).with_name("README.md")
START = "<!-- bench_metrics:start -->"
END = "<!-- bench_metrics:end -->"

RACE = ["White", "Black", "Hispanic", "Asian", "Native American", "Other"]
RACE_P = [0.60, 0.13, 0.15, 0.06, 0.01, 0.05]
AGE = ["18-34", "35-49", "50-64", "65-79", "80+"]
INSURANCE = ["Private", "Medicare", "Medicaid", "Uninsured"]
THRESHOLD = 0.2
FAIRLEARN_BOOT = 10
"""fairlearn replicates actually run (at 100k rows); its time is scaled to 1000."""


def cohort(rows: int, seed: int = 0):
    """Synthetic admissions: outcome risk depends on age, sex and race; the score is a
    noisy, slightly miscalibrated model of it (continuous, nearly all distinct)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    race = rng.choice(len(RACE), rows, p=RACE_P)
    sex = rng.integers(0, 2, rows)
    age = rng.choice(len(AGE), rows, p=[0.25, 0.25, 0.25, 0.17, 0.08])
    ins = rng.choice(len(INSURANCE), rows, p=[0.5, 0.25, 0.2, 0.05])
    logit = -2.6 + 0.45 * age + 0.15 * sex + np.array([0, 0.3, 0.1, -0.2, 0.4, 0.0])[race]
    logit += rng.normal(0, 0.9, rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    bias = np.array([0, -0.25, -0.1, 0.1, -0.3, 0.0])[race]
    scores = 1 / (1 + np.exp(-(0.85 * logit + bias + rng.normal(0, 0.6, rows))))

    def cat(codes, names):
        return pd.Categorical.from_codes(codes, categories=names)

    sensitive = pd.DataFrame(
        {
            "race": cat(race, RACE),
            "sex": cat(sex, ["Female", "Male"]),
            "age_band": cat(age, AGE),
            "insurance": cat(ins, INSURANCE),
        }
    )
    return sensitive, labels, scores


# --------------------------------------------------------------------------- cases


def _ours(sensitive, labels, scores, *, views, metrics, bootstrap):
    from auditor.measure.measurement import measure
    from auditor.reduce.stats import reduce_frame

    attrs = sorted({a for v in views for a in v}, key=list(sensitive.columns).index)
    stats = reduce_frame(sensitive[attrs], labels, scores)
    return measure(stats, views=views, thresholds=[THRESHOLD], bootstrap=bootstrap, metrics=metrics)


SIX = ["selection_rate", "sensitivity", "fpr", "ppv", "auroc", "brier"]
CELLS = ("race", "sex", "age_band")


def _fairlearn_metrics():
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import brier_score_loss, precision_score, roc_auc_score

    t = THRESHOLD
    return {
        "selection_rate": lambda y, s: selection_rate(y, s >= t),
        "sensitivity": lambda y, s: true_positive_rate(y, s >= t),
        "fpr": lambda y, s: false_positive_rate(y, s >= t),
        "ppv": lambda y, s: precision_score(y, s >= t, zero_division=0),
        "auroc": roc_auc_score,
        "brier": brier_score_loss,
    }


def _fairlearn(sensitive, labels, scores, *, features, n_boot=None):
    import warnings

    from fairlearn.metrics import MetricFrame

    sf = sensitive[list(features)] if len(features) > 1 else sensitive[features[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {}
        if n_boot:
            kw = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0}
        mf = MetricFrame(
            metrics=_fairlearn_metrics(), y_true=labels, y_pred=scores, sensitive_features=sf, **kw
        )
        mf.difference()
    return mf


CASES = {
    # name: (label, function)
    "ours_six_race": lambda d: _ours(*d, views=[("race",)], metrics=SIX, bootstrap=0),
    "fairlearn_six_race": lambda d: _fairlearn(*d, features=("race",)),
    "ours_six_cells": lambda d: _ours(*d, views=[CELLS], metrics=SIX, bootstrap=0),
    "fairlearn_six_cells": lambda d: _fairlearn(*d, features=CELLS),
    "ours_all": lambda d: _ours(
        *d,
        views=[("race",), ("sex",), ("age_band",), ("insurance",), CELLS],
        metrics=None,
        bootstrap=0,
    ),
    "ours_boot_race": lambda d: _ours(*d, views=[("race",)], metrics=None, bootstrap=1000),
    "fairlearn_boot_race": lambda d: _fairlearn(*d, features=("race",), n_boot=FAIRLEARN_BOOT),
}


def run_case(name: str, rows: int, repeat: int) -> dict[str, float]:
    """Child process: build the cohort, time the case, report time and peak memory."""
    sys.path.insert(0, str(ROOT))
    data = cohort(rows)
    import fairlearn.metrics  # noqa: F401

    import auditor.measure.measurement  # noqa: F401  (imports are not timed)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times, cpus = [], []
    for _ in range(repeat):
        c0 = _cpu()
        t0 = time.perf_counter()
        CASES[name](data)
        times.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(times), "cpu": min(cpus), "peak_mb": peak, "data_mb": rss_before}


def _cpu() -> float:
    """CPU seconds of this process, all threads (independent of other jobs' load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def spawn(name: str, rows: int, repeat: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--case", name, "--rows", str(rows), "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    print(
        f"  {name:22s} {rows:>10,d} rows  {result['seconds']:8.3f} s  cpu {result['cpu']:8.3f} s  "
        f"peak {result['peak_mb']:7.0f} MB  (load {load:.1f})",
        flush=True,
    )
    result["load"] = load
    return result


# --------------------------------------------------------------------------- report


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def _mb(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def build_table(results: dict[tuple[str, int], dict[str, float]], sizes: list[int]) -> str:
    def get(name, rows):
        return results.get((name, rows))

    lines = [
        "| rows | what | this library: wall s (CPU s) | fairlearn MetricFrame: wall s (CPU s) "
        "| fairlearn / ours (wall) | peak MB ours | peak MB fairlearn |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    specs = [
        ("6 metrics, race (6 groups)", "ours_six_race", "fairlearn_six_race", 1.0),
        (
            "6 metrics, race × sex × age band (60 cells)",
            "ours_six_cells",
            "fairlearn_six_cells",
            1.0,
        ),
        (
            "all 23 metrics, 4 attributes + race × sex × age band, Wilson intervals",
            "ours_all",
            None,
            1.0,
        ),
        (
            "1000 bootstrap replicates: all 23 metrics + disparities + fairness metrics, race "
            f"(fairlearn: 6 metrics, n_boot={FAIRLEARN_BOOT} run, time × {1000 // FAIRLEARN_BOOT}"
            " = extrapolated to 1000)",
            "ours_boot_race",
            "fairlearn_boot_race",
            1000 / FAIRLEARN_BOOT,
        ),
    ]
    for rows in sizes:
        for label, ours, theirs, scale in specs:
            o = get(ours, rows)
            f = get(theirs, rows) if theirs else None
            if o is None:
                continue
            f_s = f["seconds"] * scale if f else None
            ratio = f"{f_s / o['seconds']:,.0f}×" if f_s else "–"
            f_txt = ""
            if f is not None:
                f_txt = f"{_fmt_s(f_s)} ({_fmt_s(f['cpu'] * scale)})"
                f_txt += " extrapolated" if scale != 1.0 else ""
            if f is None and theirs is None:
                f_txt = "not comparable (fairlearn has no calibration/interval metrics)"
            elif f is None:
                f_txt = "not run (too slow; see note)"
            lines.append(
                f"| {rows:,} | {label} | {_fmt_s(o['seconds'])} ({_fmt_s(o['cpu'])}) "
                f"| {f_txt} | {ratio} "
                f"| {_mb(o['peak_mb'])} | {_mb(f['peak_mb'] if f else None)} |"
            )
    return "\n".join(lines)


def targets(results: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    out = []
    a = results.get(("ours_all", 1_000_000))
    b = results.get(("ours_boot_race", 1_000_000))
    if a:
        ok = "met" if a["seconds"] <= 1.0 else "NOT met in wall time on this loaded machine"
        out.append(
            f"- All 23 metrics, 4 attributes + 1 intersection, 1M rows: "
            f"{a['seconds']:.2f} s wall, {a['cpu']:.2f} s CPU (target ≤ 1 s: {ok})."
        )
    if b:
        ok = "met" if b["seconds"] <= 5.0 else "NOT met in wall time on this loaded machine"
        out.append(
            f"- 1000 bootstrap replicates, all metrics and disparities, race, 1M rows: "
            f"{b['seconds']:.2f} s wall, {b['cpu']:.2f} s CPU (target ≤ 5 s: {ok})."
        )
    peaks = [
        r["peak_mb"]
        for (n, rows), r in results.items()
        if rows == 1_000_000 and n.startswith("ours")
    ]
    if peaks:
        ok = "met" if max(peaks) < 2048 else "NOT met"
        out.append(
            f"- Peak memory at 1M rows (whole process, data included): "
            f"{max(peaks):,.0f} MB (target < 2 GB: {ok})."
        )
    big = [r for (n, rows), r in results.items() if rows == 10_000_000]
    if big:
        ok = "met" if max(r["peak_mb"] for r in big) < 24 * 1024 else "NOT met"
        out.append(
            f"- 10M rows: completed, peak {max(r['peak_mb'] for r in big):,.0f} MB "
            f"(target < 24 GB: {ok})."
        )
    for name in ("ours_all", "ours_six_race"):
        t = [results.get((name, n)) for n in (100_000, 1_000_000, 10_000_000)]
        if all(t):
            step = t[2]["seconds"] / t[1]["seconds"]
            ok = "met" if step <= 12 else "NOT met from 1M to 10M; see the note below"
            out.append(
                f"- Scaling of `{name}`: 100k → 1M ×{t[1]['seconds'] / t[0]['seconds']:.1f}"
                f", 1M → 10M ×{step:.1f} (target: linear, ×10: {ok})."
            )
    return out


def write_readme(section: str) -> None:
    block = f"{START}\n{section}\n{END}"
    if README.exists():
        text = README.read_text()
        if START in text and END in text:
            text = re.sub(
                re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S
            )
        else:  # first section under the title; other benchmarks' sections follow
            head, sep, rest = text.partition("\n\n")
            text = f"{head}\n\n{block}\n\n{rest}" if sep else f"{text.rstrip()}\n\n{block}\n"
    else:
        text = "# Benchmarks\n\n" + block + "\n"
    README.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="100k rows only; no README")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.rows, args.repeat)))
        return

    sizes = [100_000] if args.quick else [100_000, 1_000_000, 10_000_000]
    plan: list[tuple[str, int, int]] = []
    for rows in sizes:
        for name in CASES:
            fair = name.startswith("fairlearn")
            if fair and rows > 1_000_000:
                continue  # fairlearn at 10M: minutes per metric; not run
            if name == "fairlearn_boot_race" and rows > 100_000:
                continue  # n_boot at 1M takes over half an hour
            repeat = 1 if fair or rows > 1_000_000 else 3
            plan.append((name, rows, repeat))
    load0 = os.getloadavg()
    print(f"{len(plan)} cases; load average {load0[0]:.1f}", flush=True)
    results = {(name, rows): spawn(name, rows, repeat) for name, rows, repeat in plan}
    if args.quick:
        print(build_table(results, sizes))
        return
    import fairlearn
    import sklearn

    loads = [r["load"] for r in results.values()]
    section = "\n".join(
        [
            "## Subgroup metrics: this library vs fairlearn `MetricFrame`",
            "",
            "Reproduce: `python benchmarks/bench_metrics.py` (from the repository root; "
            "a few minutes).",
            "",
            f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, fairlearn "
            f"{fairlearn.__version__}, scikit-learn {sklearn.__version__}. Load average "
            f"during the run: {min(loads):.1f}–{max(loads):.1f} (a shared machine: other "
            "jobs ran at the same time, so times are upper bounds).",
            "",
            "Synthetic admissions cohort (seeded): race (6 groups, 1% to 60%), sex, age band "
            "(5), insurance (4); race × sex × age band has 60 cells; continuous scores, "
            f"outcome rate about 12%; threshold {THRESHOLD}. Each case runs in its own process; "
            "times cover the computation from a loaded frame to the results (our "
            "`reduce_frame` + `measure`; fairlearn's `MetricFrame`), best of 3 runs for ours "
            "up to 1M rows, one run otherwise. Peak MB is the process's maximum resident "
            "memory, data and interpreter included.",
            "",
            build_table(results, sizes),
            "",
            "Targets (issue 3):",
            "",
            *targets(results),
            "",
            "Notes: fairlearn is not run at 10M rows (its 1M times grow linearly, so tens of "
            "minutes), and its bootstrap only at 100k rows with "
            f"n_boot={FAIRLEARN_BOOT}, scaled to 1000 replicates (its cost is linear in "
            "n_boot; at 1M rows it would take hours). fairlearn's rows compute 6 metrics; "
            "ours compute the same 6, or all 23 where stated. Our bootstrap resamples "
            "per-group count tables over about 2,000 score bins, so its cost hardly "
            "depends on the number of rows.",
            "",
            "CPU s is the process's CPU time over all its threads, which other jobs on the "
            "machine do not inflate; the work runs in up to two threads, so on an idle "
            "2-core machine the wall time lies between CPU s / 2 and CPU s. Where the time "
            "goes (cProfile): without bootstrap, the two sorts of `reduce_frame` and the "
            "logistic recalibration fits (Newton iterations over every distinct score) "
            "dominate; with bootstrap, numpy's multinomial draws (one binomial per "
            "(bin, label) cell per replicate) take about half, the metric functions on "
            "the resampled tables the rest (the recalibration fits the largest part). "
            "Every step is O(n) after one O(n log n) score sort, but at 10M rows each "
            "array is 80 MB, far beyond the CPU caches, so every pass over it (the sort, "
            "the gathers that follow it, the merges and cumulative sums per group) costs "
            "two to three times more per row than at 1M: that, not the algorithm, is the "
            "superlinear step. Processing in cache-sized blocks (done for the "
            "recalibration fits and the loss terms) is the remedy to extend.",
        ]
    )
    write_readme(section)
    print(f"wrote {README}")


if __name__ == "__main__":
    main()
