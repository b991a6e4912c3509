"""Discovery of underperforming cohorts: this search vs SliceLine and DivExplorer.

Synthetic clinical cohorts (``auditor.discover.synthetic``) with one planted weak
cohort (the model's score blended towards noise with weight ``strength``) at several
strengths and sizes, and null data sets where nothing is planted. Every method gets
the same columns; numeric columns are cut at the same readable quartile edges for the
two peers (they need categories). Recall: a reported cohort with at least half of its
rows in the planted cohort, covering at least 40% of it. False discoveries: on null
data, searched over columns unrelated to outcome and score, any reported cohort is
false; the table gives the share of runs with at least one, and the mean number.

* this search: ``discover`` with its defaults (AUROC, FNR, O/E; depth 3; 100 patients
  and 20 events; Benjamini-Yekutieli at 5%); reported = confirmed.
* SliceLine (``sliceline.Slicefinder``): per-row error = squared error of the score
  (Brier), ``k=5, max_l=3, min_sup=100``; reported = its top slices (it has no test).
* DivExplorer (``divexplorer.DivergenceExplorer``): boolean outcome = false negative
  (among patients with the outcome), ``min_support=100/n``; reported = patterns of
  depth at most 3 with positive divergence and Welch t of at least 2 (its significance
  cut; no correction for the number of patterns).

Run from the repository root: ``python benchmarks/bench_discovery.py`` (writes the
table between the markers in benchmarks/README.md; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import re
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.discover import discover
from auditor.discover.conditions import numeric_edges
from auditor.discover.synthetic import PLANTED, synthetic_cohort
from auditor.load.spec import DiscoverSpec

THRESHOLD = 0.2
FEATURES = ["age", "site", "comorbidity", "language", "sex", "bmi"]
NULL_FEATURES = ["site", "language", "sex", "bmi"]
README = Path(__file__).with_name("README.md")
START, END = "<!-- bench_discovery:start -->", "<!-- bench_discovery:end -->"


def binned(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Categories for the peers: numeric columns cut at the same readable edges."""
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        x = frame[c]
        if pd.api.types.is_numeric_dtype(x) and x.nunique() > 8:
            edges = numeric_edges(x.to_numpy(dtype=float), 4)
            cut = np.searchsorted(edges, x.to_numpy(dtype=float), side="right")
            names = [f"<{edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)]
            names.append(f">={edges[-1]:g}")
            out[c] = [names[i] for i in cut]
        else:
            out[c] = x.astype(str)
    return out


def _matches(rows: np.ndarray, planted: np.ndarray) -> bool:
    inside = (rows & planted).sum()
    return bool(rows.sum() and inside / rows.sum() >= 0.5 and inside / planted.sum() >= 0.4)


def ours(frame, labels, scores, columns, seed) -> list[np.ndarray]:
    found = discover(
        frame,
        labels,
        scores,
        features=columns,
        spec=DiscoverSpec(),
        threshold=THRESHOLD,
        seed=seed,
    ).section
    out = []
    for c in found.cohorts:
        rows = np.ones(len(frame), dtype=bool)
        for w in c.conditions:
            col = frame[w["column"]]
            if w["op"] == "==":
                rows &= (col.astype(str) == str(w["value"])).to_numpy()
            elif w["op"] == ">=":
                rows &= (col >= w["value"]).to_numpy()
            else:
                rows &= (col < w["value"]).to_numpy()
        out.append(rows)
    return out


def sliceline(frame, labels, scores, columns, seed) -> list[np.ndarray]:
    from sliceline.slicefinder import Slicefinder

    x = binned(frame, columns)
    errors = (scores - labels) ** 2
    finder = Slicefinder(k=5, max_l=3, min_sup=100, alpha=0.95, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder.fit(x.to_numpy(dtype=object), errors)
    out = []
    values = x.to_numpy(dtype=object)
    for top in finder.top_slices_ if finder.top_slices_ is not None else []:
        rows = np.ones(len(frame), dtype=bool)
        for j, v in enumerate(top):
            if v is not None:
                rows &= values[:, j] == v
        out.append(rows)
    return out


def divexplorer(frame, labels, scores, columns, seed) -> list[np.ndarray]:
    from divexplorer import DivergenceExplorer

    x = binned(frame, columns)
    fn = np.full(len(frame), np.nan)
    fn[labels == 1] = (scores[labels == 1] < THRESHOLD).astype(float)
    x["fn"] = fn
    known = x[~np.isnan(fn)].reset_index(drop=True)
    explorer = DivergenceExplorer(known)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patterns = explorer.get_pattern_divergence(
            min_support=min(1.0, 20 / len(known)), boolean_outcomes=["fn"]
        )
    if patterns is None or len(patterns) == 0:
        return []
    keep = patterns[(patterns["fn_div"] > 0) & (patterns["fn_t"] >= 2)]
    keep = keep[keep["itemset"].map(len) <= 3]
    out = []
    for itemset in keep["itemset"]:
        rows = np.ones(len(frame), dtype=bool)
        for item in itemset:
            col, _, value = item.partition("=")
            rows &= x[col].to_numpy(dtype=object) == value
        out.append(rows)
    return out


METHODS = {"this search": ours, "SliceLine": sliceline, "DivExplorer": divexplorer}


def run(quick: bool) -> str:
    sizes = [4000] if quick else [4000, 10000]
    strengths = [0.6, 1.0] if quick else [0.4, 0.7, 1.0]
    reps = 2 if quick else 5
    null_reps = 4 if quick else 20
    rows = []
    seconds = {m: 0.0 for m in METHODS}
    for planted in PLANTED:
        for n in sizes:
            for strength in strengths:
                hits = {m: 0 for m in METHODS}
                reported = {m: 0 for m in METHODS}
                for r in range(reps):
                    frame, labels, scores = synthetic_cohort(
                        n, seed=10_000 + r, planted=planted, strength=strength
                    )
                    truth = np.asarray(PLANTED[planted](frame), dtype=bool)
                    for name, method in METHODS.items():
                        start = time.perf_counter()
                        found = method(frame, labels, scores, FEATURES, r)
                        seconds[name] += time.perf_counter() - start
                        hits[name] += any(_matches(f, truth) for f in found)
                        reported[name] += len(found)
                rows.append(
                    f"| {planted} | {n:,} ({int(truth.sum()):,} planted) | {strength:g} | "
                    + " | ".join(f"{hits[m]}/{reps} ({reported[m] / reps:.1f})" for m in METHODS)
                    + " |"
                )
    null_any = {m: 0 for m in METHODS}
    null_count = {m: 0 for m in METHODS}
    for r in range(null_reps):
        frame, labels, scores = synthetic_cohort(4000, seed=20_000 + r)
        for name, method in METHODS.items():
            found = method(frame, labels, scores, NULL_FEATURES, r)
            null_any[name] += bool(found)
            null_count[name] += len(found)
    versions = {p: metadata.version(p) for p in ("numpy", "pandas", "sliceline", "divexplorer")}
    head = "| planted cohort | rows | strength | " + " | ".join(METHODS) + " |"
    lines = [
        START,
        "## Discovery of underperforming cohorts: this search vs SliceLine and DivExplorer",
        "",
        "Reproduce: `python benchmarks/bench_discovery.py` (from the repository root; about "
        "ten minutes on 2 cores).",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ". Method and definitions: the docstring of `benchmarks/bench_discovery.py` and "
        "[docs/discovery.md](../docs/discovery.md).",
        "",
        f"Recall of the planted cohort: runs where it was found / {reps} seeded runs "
        "(mean number of cohorts reported per run in brackets). Strength is the weight of "
        "noise blended into the model's score inside the planted cohort.",
        "",
        head,
        "|---|---:|---:|" + "---:|" * len(METHODS),
        *rows,
        "",
        f"False discoveries on {null_reps} null data sets (4,000 rows; searched columns "
        "unrelated to outcome and score, so every reported cohort is false):",
        "",
        "| method | runs with any reported cohort | mean cohorts reported per run |",
        "|---|---:|---:|",
        *(
            f"| {m} | {null_any[m]}/{null_reps} | {null_count[m] / null_reps:.1f} |"
            for m in METHODS
        ),
        "",
        "Total search time over the planted runs: "
        + ", ".join(f"{m} {s:.1f} s" for m, s in seconds.items())
        + ".",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    table = run(args.quick)
    print(table)
    if not args.no_write:
        text = README.read_text(encoding="utf-8")
        if START in text:
            text = re.sub(
                re.escape(START) + ".*?" + re.escape(END), lambda _: table, text, flags=re.S
            )
        else:
            text = text.rstrip("\n") + "\n\n" + table + "\n"
        README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
