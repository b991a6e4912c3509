"""Benchmark: the whole audit at scale, against fairlearn and aequitas, streamed and in Spark.

One command per table row group (run from the repository root):

    python benchmarks/bench_scale.py compare --rows 1000000   # audit vs fairlearn vs aequitas
    python benchmarks/bench_scale.py memory --rows 10000000   # in-memory audit, 10M rows
    python benchmarks/bench_scale.py stream --rows 100000000  # streamed from a Parquet folder
    python benchmarks/bench_scale.py spark --rows 10000000    # Spark local[2] vs pandas

Each measured run is its own process (peak memory = that process's maximum resident
set). Data files are written once under ``--work`` (default: a folder in the system
temporary directory) by ``cohort_files.py``. aequitas pins pandas < 3, so it runs
from its own virtual environment: set ``AEQUITAS_PYTHON`` to its interpreter.
Results are appended as JSON lines to ``--results`` and the README section is
rebuilt from them (``python benchmarks/bench_scale.py readme``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from cohort_files import spec_text, write  # noqa: E402

README = HERE / "README.md"
START = "<!-- bench_scale:start -->"
END = "<!-- bench_scale:end -->"
THRESHOLD = 0.2


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------- measured runs


def run_audit(spec: str, extra: list[str]) -> dict:
    """The CLI, in this process: ``auditor audit SPEC --formats json``."""
    from auditor.cli import main

    out = str(Path(tempfile.mkdtemp(prefix="bench-out-")) / "audit")
    start, cpu = time.perf_counter(), _cpu()
    code = main(["audit", spec, "--out", out, "--formats", "json", "--quiet", "--force", *extra])
    wall = time.perf_counter() - start
    report = json.loads((Path(out) / "report.json").read_text())
    return {
        "wall": wall,
        "cpu": _cpu() - cpu,
        "peak_mb": _peak_mb(),
        "exit": code,
        "computation": report.get("computation"),
        "overall_auroc": report["overall"]["metrics"]["auroc"]["estimate"],
    }


def run_fairlearn(data: str) -> dict:
    """fairlearn MetricFrame: 6 metrics, one attribute (race), no intervals."""
    import warnings

    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import brier_score_loss, precision_score, roc_auc_score

    frame = pd.read_parquet(data, columns=["outcome", "risk_score", "race"])
    y, s = frame["outcome"].to_numpy(), frame["risk_score"].to_numpy()
    t = THRESHOLD
    metrics = {
        "selection_rate": lambda y, s: selection_rate(y, s >= t),
        "sensitivity": lambda y, s: true_positive_rate(y, s >= t),
        "fpr": lambda y, s: false_positive_rate(y, s >= t),
        "ppv": lambda y, s: precision_score(y, s >= t, zero_division=0),
        "auroc": roc_auc_score,
        "brier": brier_score_loss,
    }
    start, cpu = time.perf_counter(), _cpu()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(metrics=metrics, y_true=y, y_pred=s, sensitive_features=frame["race"])
        mf.difference()
    return {"wall": time.perf_counter() - start, "cpu": _cpu() - cpu, "peak_mb": _peak_mb()}


AEQUITAS_SCRIPT = r"""
import json, resource, sys, time, warnings
import pandas as pd
warnings.simplefilter("ignore")
from aequitas.group import Group
from aequitas.bias import Bias
frame = pd.read_parquet(sys.argv[1], columns=["outcome", "risk_score", "race"])
df = pd.DataFrame({"score": (frame["risk_score"] >= 0.2).astype(int),
                   "label_value": frame["outcome"].astype(int), "race": frame["race"]})
start = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF); cpu = usage.ru_utime + usage.ru_stime
xtab, _ = Group().get_crosstabs(df, attr_cols=["race"])
Bias().get_disparity_predefined_groups(xtab, original_df=df, ref_groups_dict={"race": "White"})
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - start,
                  "cpu": usage.ru_utime + usage.ru_stime - cpu,
                  "peak_mb": usage.ru_maxrss / 1024}))
"""


def run_aequitas(data: str) -> dict:
    """aequitas Group crosstabs + Bias disparities, one attribute (its own interpreter)."""
    python = os.environ.get("AEQUITAS_PYTHON")
    if not python:
        return {"error": "AEQUITAS_PYTHON is not set (aequitas needs pandas < 3)"}
    done = subprocess.run(
        [python, "-c", AEQUITAS_SCRIPT, data], capture_output=True, text=True, check=False
    )
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_passes(rows: int) -> dict:
    """Reduce + measure only (no bootstrap), from arrays in memory: the metric passes."""
    from bench_metrics import cohort

    from auditor.measure.measurement import measure
    from auditor.reduce.stats import reduce_frame

    sensitive, labels, scores = cohort(rows)
    sensitive = sensitive[["race", "sex", "age_band"]]
    start, cpu = time.perf_counter(), _cpu()
    stats = reduce_frame(sensitive, labels, scores)
    views = [("race",), ("sex",), ("age_band",), ("race", "sex")]
    measure(stats, views=views, thresholds=[THRESHOLD], bootstrap=0, seed=0)
    return {"wall": time.perf_counter() - start, "cpu": _cpu() - cpu, "peak_mb": _peak_mb()}


def measured(kind: str, *args: str) -> dict:
    """Run one measured case in a fresh process and return its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, __file__, "_run", kind, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{kind} {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- scenarios


def _data(work: Path, rows: int, *, files: int = 1) -> Path:
    name = f"cohort-{rows}" + (f"-{files}files" if files > 1 else ".parquet")
    path = work / name
    if not path.exists():
        print(f"writing {rows:,} rows to {path}", file=sys.stderr)
        write(rows, path, files=files)
    return path


def _spec(work: Path, data: Path, name: str, *, bootstrap: int = 1000, extra: str = "") -> str:
    spec = work / f"{name}.yaml"
    spec.write_text(spec_text(str(data), bootstrap=bootstrap, extra=extra))
    return str(spec)


def _record(results: Path, row: dict) -> None:
    row = {**row, "machine": _machine()}
    with results.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row))


def _machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }


def scenario(args: argparse.Namespace) -> None:
    work, rows, results = Path(args.work), args.rows, Path(args.results)
    work.mkdir(parents=True, exist_ok=True)
    limits = {"AUDITOR_MAX_ROWS": str(10 * rows), "AUDITOR_MAX_DATA_BYTES": str(2**32)}
    os.environ.update(limits)
    if args.command in ("compare", "memory"):
        data = _data(work, rows)
        for boot in (1000, 0):
            spec = _spec(work, data, f"memory-{rows}-{boot}", bootstrap=boot)
            row = measured("audit", spec, "--engine", "pandas")
            _record(
                results,
                {"case": "audit", "engine": "pandas", "rows": rows, "bootstrap": boot, **row},
            )
        if args.command == "compare":
            _record(
                results, {"case": "fairlearn", "rows": rows, **measured("fairlearn", str(data))}
            )
            _record(results, {"case": "aequitas", "rows": rows, **run_aequitas(str(data))})
    elif args.command == "passes":
        _record(
            results,
            {
                "case": "reduce+measure",
                "rows": rows,
                "bootstrap": 0,
                **measured("passes", str(rows)),
            },
        )
    elif args.command == "stream":
        data = _data(work, rows, files=max(1, rows // 5_000_000))
        spec = _spec(work, data, f"stream-{rows}", bootstrap=args.bootstrap)
        row = measured("audit", spec, "--engine", "streaming")
        _record(
            results,
            {
                "case": "audit",
                "engine": "streaming",
                "rows": rows,
                "bootstrap": args.bootstrap,
                **row,
            },
        )
    elif args.command == "spark":
        data = _data(work, rows)
        extra = "engine: {kind: spark, master: 'local[2]', conf: {spark.driver.memory: 4g}}\n"
        for engine, text in (("pandas", "engine: {kind: pandas}\n"), ("spark", extra)):
            spec = _spec(work, data, f"{engine}-{rows}", bootstrap=args.bootstrap, extra=text)
            row = measured("audit", spec)
            _record(
                results,
                {
                    "case": "audit",
                    "engine": engine,
                    "rows": rows,
                    "bootstrap": args.bootstrap,
                    **row,
                },
            )


# ------------------------------------------------------------------------ README


def _s(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def readme(results: Path) -> None:
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    latest: dict[tuple, dict] = {}
    for r in rows:
        latest[(r["case"], r.get("engine"), r["rows"], r.get("bootstrap"))] = r
    lines = [
        START,
        "## The whole audit at scale (issue 19)",
        "",
        "Reproduce (repository root; data files are written once under the system temporary "
        "folder): `python benchmarks/bench_scale.py compare --rows 1000000`, "
        "`... memory --rows 10000000`, `... stream --rows 100000000`, "
        "`... spark --rows 10000000 --bootstrap 0`; `... readme` rebuilds this table from "
        "`benchmarks/scale-results.jsonl`. aequitas runs from its own virtual environment "
        "(`AEQUITAS_PYTHON=.../bin/python`; it pins pandas < 3).",
        "",
        "Same synthetic admissions cohort as above, as Parquet: 3 sensitive attributes "
        "(race, sex, age band) + race × sex, a continuous score column, 5 features; "
        "`auditor audit --formats json` end to end (CLI start, load, reduce, bootstrap, "
        "data checks, proxies, judge, JSON). Wall and CPU seconds of the process, peak "
        "resident memory of the process (Spark: of the Python driver; the JVM is another "
        "process).",
        "",
        "| case | rows | bootstrap | wall s | CPU s | peak MB | how computed |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for key in sorted(latest, key=lambda k: (k[2], k[0], str(k[1]), -(k[3] or 0))):
        r = latest[key]
        if "error" in r:
            lines.append(f"| {r['case']} | {r['rows']:,} | – | not run: {r['error']} | | | |")
            continue
        comp = r.get("computation") or {}
        how = ""
        if comp:
            how = f"{comp.get('engine')}, {comp.get('score_table')} scores"
            if comp.get("batches"):
                how += f", {comp['batches']} batches"
        name = r["case"] if r["case"] != "audit" else f"audit ({r.get('engine')})"
        boot = "–" if r.get("bootstrap") is None else f"{r['bootstrap']:,}"
        lines.append(
            f"| {name} | {r['rows']:,} | {boot} | {_s(r['wall'])} | {_s(r['cpu'])} | "
            f"{r['peak_mb']:,.0f} | {how} |"
        )
    lines += ["", "<!-- bench_scale:notes -->", END]
    text = README.read_text()
    notes = ""
    if START in text:
        before, rest = text.split(START, 1)
        old, after = rest.split(END, 1)
        if "<!-- bench_scale:notes -->" in old:
            notes = old.split("<!-- bench_scale:notes -->", 1)[1]
        section = "\n".join(lines).replace(
            "<!-- bench_scale:notes -->",
            "<!-- bench_scale:notes -->" + notes.rstrip("\n")
            if notes
            else "<!-- bench_scale:notes -->",
        )
        README.write_text(before + section + after)
    else:
        README.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_run":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "audit":
            print(json.dumps(run_audit(rest[0], rest[1:])))
        elif kind == "fairlearn":
            print(json.dumps(run_fairlearn(rest[0])))
        elif kind == "passes":
            print(json.dumps(run_passes(int(rest[0]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=("compare", "memory", "stream", "spark", "passes", "readme")
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "auditor-bench"))
    parser.add_argument("--results", default=str(HERE / "scale-results.jsonl"))
    args = parser.parse_args()
    if args.command == "readme":
        readme(Path(args.results))
    else:
        scenario(args)
        readme(Path(args.results))


if __name__ == "__main__":
    main()
