"""Coverage of the audit's 95% intervals against simulated cohorts with known truth.

Regenerate the table in docs/statistics.md with one command (from the repository root):

    python scripts/coverage_study.py --write            # 200 cohorts per cell (~20 min)
    python scripts/coverage_study.py --sims 40          # quicker look, prints only

Design. Each cohort has four groups of ``n`` patients. A patient's true risk is
``p = expit(eta)``, ``eta ~ N(mu, 1.2)`` with ``mu`` set for the prevalence; the outcome is
Bernoulli(p). The model's score is ``expit(0.2 + beta * eta)``: ``beta = 0.8`` in groups
A, C, D (so the calibration slope is 1/0.8 = 1.25 and O/E differs from 1) and
``beta = 1.2`` in group B. True values come from 4 million draws per group model (the
calibration slope is exactly 1/beta). Every interval is the audit's own
(:func:`auditor.measure.measurement.measure`: Wilson for proportions, the binned
percentile bootstrap otherwise, 500 replicates). A second design with four identical
groups has a true worst-case difference of 0, the case where the bootstrap of
max - min never covers.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "statistics.md"
START = "<!-- coverage:start -->"
END = "<!-- coverage:end -->"

SIZES = (50, 200, 1000, 10000)
PREVALENCES = (0.05, 0.30)
GROUP_METRICS = (
    "sensitivity",
    "specificity",
    "ppv",
    "auroc",
    "brier",
    "calibration_slope",
    "oe_ratio",
)
DIFFERENCES = ("sensitivity", "auroc")
"""Group B - group A (the reference)."""
WORST = "sensitivity"
"""The worst-case difference (max - min over four groups) is studied for this metric."""
BETAS = {"A": 0.8, "B": 1.2, "C": 0.8, "D": 0.8}
SD_ETA = 1.2
ALPHA = 0.2


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def mean_for(prevalence: float) -> float:
    """The mean of eta that gives this prevalence (bisection on fixed normal draws)."""
    z = np.random.default_rng(0).normal(size=200_000) * SD_ETA
    lo, hi = -10.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _expit(mid + z).mean() < prevalence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def threshold_for(prevalence: float) -> float:
    return round(prevalence, 2)


def draw(rng: np.random.Generator, n: int, mu: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    eta = rng.normal(mu, SD_ETA, n)
    y = (rng.random(n) < _expit(eta)).astype(np.int8)
    return y, _expit(ALPHA + beta * eta)


def truth(prevalence: float, beta: float, draws: int = 4_000_000) -> dict[str, float]:
    """True values of one group model (large Monte Carlo; the slope exactly 1/beta)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(12345)
    mu = mean_for(prevalence)
    eta = rng.normal(mu, SD_ETA, draws)
    p = _expit(eta)
    y = rng.random(draws) < p
    s = _expit(ALPHA + beta * eta)
    t = threshold_for(prevalence)
    flag = s >= t
    return {
        "sensitivity": float((p * flag).sum() / p.sum()),
        "specificity": float(((1 - p) * ~flag).sum() / (1 - p).sum()),
        "ppv": float((p * flag).sum() / flag.sum()),
        "auroc": float(roc_auc_score(y, s)),
        "brier": float(np.mean(s * s - 2 * s * p + p)),
        "calibration_slope": 1.0 / beta,
        "oe_ratio": float(p.mean() / s.mean()),
    }


def truths_for(prevalence: float, draws: int = 4_000_000) -> dict[str, dict[str, float]]:
    """True values of every group (one Monte Carlo per distinct model)."""
    by_beta = {b: truth(prevalence, b, draws) for b in set(BETAS.values())}
    return {g: by_beta[b] for g, b in BETAS.items()}


@dataclass
class Tally:
    """Intervals given and intervals that contained the truth, per quantity."""

    given: dict[str, int] = field(default_factory=dict)
    covered: dict[str, int] = field(default_factory=dict)
    cohorts: int = 0

    def add(self, name: str, low: float | None, high: float | None, true: float) -> None:
        if low is None or high is None:
            return
        self.given[name] = self.given.get(name, 0) + 1
        hit = low - 1e-12 <= true <= high + 1e-12
        self.covered[name] = self.covered.get(name, 0) + int(hit)

    def coverage(self, name: str) -> float | None:
        g = self.given.get(name, 0)
        return self.covered.get(name, 0) / g if g else None


def run_cell(
    n: int,
    prevalence: float,
    sims: int,
    *,
    replicates: int = 500,
    seed: int = 0,
    truths: dict[str, dict[str, float]] | None = None,
    null_truths: dict[str, float] | None = None,
) -> tuple[Tally, Tally]:
    """Coverage in one cell: (main design, null design for the worst case)."""
    from auditor.measure.bootstrap import resample
    from auditor.measure.intervals import percentile_interval
    from auditor.measure.measurement import measure
    from auditor.measure.metrics import METRICS
    from auditor.reduce.stats import bin_stats, reduce_frame

    truths = truths or truths_for(prevalence)
    null_truths = null_truths or truths["A"]
    mu = mean_for(prevalence)
    t = threshold_for(prevalence)
    rng = np.random.default_rng(seed)
    main, null = Tally(), Tally()
    wanted = [*GROUP_METRICS]
    for _ in range(sims):
        for design, tally in (("main", main), ("null", null)):
            ys, ss, gs = [], [], []
            for g, beta in BETAS.items():
                y, s = draw(rng, n, mu, beta if design == "main" else BETAS["A"])
                ys.append(y)
                ss.append(s)
                gs += [g] * n
            y, s = np.concatenate(ys), np.concatenate(ss)
            frame = pd.DataFrame({"g": gs})
            stats = reduce_frame(frame, y, s)
            m = measure(
                stats,
                views=["g"],
                thresholds=[t],
                bootstrap=replicates,
                seed=int(rng.integers(2**31)),
                min_cell_size=1,
                reference_groups={"g": "A"},
                metrics=wanted,
            )
            tally.cohorts += 1
            true_g = truths if design == "main" else dict.fromkeys(BETAS, null_truths)
            if design == "main":
                a = next(x for x in m.groups if x.group == "A")
                for metric in GROUP_METRICS:
                    e = a.metrics[metric]
                    tally.add(metric, e.ci_low, e.ci_high, true_g["A"][metric])
                for metric in DIFFERENCES:
                    d = next(
                        (
                            x
                            for x in m.disparities
                            if x.metric == metric
                            and x.kind == "difference"
                            and x.group == "B"
                            and x.reference == "A"
                        ),
                        None,
                    )
                    if d is not None:
                        tally.add(
                            f"{metric} difference B - A",
                            d.ci_low,
                            d.ci_high,
                            true_g["B"][metric] - true_g["A"][metric],
                        )
            values = [true_g[g][WORST] for g in BETAS]
            true_worst = max(values) - min(values)
            w = next(
                x
                for x in m.disparities
                if x.metric == WORST and x.kind == "difference" and x.group == "worst_case"
            )
            if w.excluded_groups:  # a group's value undefined: not the four-group worst case
                continue
            tally.add("worst case (simultaneous pairwise band)", w.ci_low, w.ci_high, true_worst)
            # the former method: percentile interval of the replicates of max - min
            binned = bin_stats(stats, bins=2000, thresholds=[t])
            reps = resample(
                binned,
                {("g",): {(g,): [METRICS[WORST]] for g in BETAS}},
                [t],
                replicates,
                seed=int(rng.integers(2**31)),
            )[("g",)]
            stack = np.vstack([reps[(g,)][(WORST, t)] for g in BETAS])
            if w.estimate is not None:
                old = percentile_interval(stack.max(axis=0) - stack.min(axis=0), w.estimate)
                former = "worst case (former: bootstrap of max - min)"
                tally.add(former, old.low, old.high, true_worst)
    return main, null


ROWS = (
    *GROUP_METRICS,
    *(f"{m} difference B - A" for m in DIFFERENCES),
    "worst case (simultaneous pairwise band)",
    "worst case (former: bootstrap of max - min)",
)
METHOD = {
    "sensitivity": "Wilson",
    "specificity": "Wilson",
    "ppv": "Wilson",
}


def table(results: dict[tuple[int, float], tuple[Tally, Tally]]) -> str:
    cols = [(n, p) for p in PREVALENCES for n in SIZES if (n, p) in results]
    head = "| quantity (interval) | " + " | ".join(f"n={n:,}, {p:.0%}" for n, p in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    for row in ROWS:
        cells = []
        for key in cols:
            main, null = results[key]
            tallies = [("", main)] if not row.startswith("worst") else [("", main), ("0: ", null)]
            parts = []
            for prefix, tally in tallies:
                c = tally.coverage(row)
                given = tally.given.get(row, 0)
                if c is None:
                    parts.append(f"{prefix}no interval")
                else:
                    share = "" if given == tally.cohorts else f" ({given}/{tally.cohorts})"
                    mark = "**" if c < 0.93 else ""
                    parts.append(f"{prefix}{mark}{c:.1%}{mark}{share}")
            cells.append("; ".join(parts))
        method = METHOD.get(row, "bootstrap" if not row.startswith("worst") else "")
        label = f"{row} ({method})" if method else row
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(
        "| cohorts simulated | " + " | ".join(str(results[k][0].cohorts) for k in cols) + " |"
    )
    return "\n".join(lines)


CACHE = ROOT / "benchmarks" / "coverage_cells.json"
"""Per-cell results, written as each cell finishes, so runs can be split and resumed."""


def _save(key: tuple[int, float], cell: tuple[Tally, Tally], sims: int, replicates: int) -> None:
    import json

    data = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    data[f"{key[0]}|{key[1]}"] = {
        "sims": sims,
        "replicates": replicates,
        "main": [cell[0].given, cell[0].covered, cell[0].cohorts],
        "null": [cell[1].given, cell[1].covered, cell[1].cohorts],
    }
    CACHE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _load() -> dict[tuple[int, float], tuple[Tally, Tally]]:
    import json

    if not CACHE.exists():
        return {}
    out = {}
    for key, v in json.loads(CACHE.read_text()).items():
        n, p = key.split("|")
        out[(int(n), float(p))] = (Tally(*v["main"]), Tally(*v["null"]))
    return out


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sims", type=int, default=200, help="cohorts per cell (default 200)")
    ap.add_argument("--replicates", type=int, default=500)
    ap.add_argument("--prevalence", type=float, action="append", help="only these (repeatable)")
    ap.add_argument("--n", type=int, action="append", help="only these group sizes (repeatable)")
    ap.add_argument("--write", action="store_true", help="rewrite the table in docs/statistics.md")
    ap.add_argument("--table-only", action="store_true", help="render the saved cells only")
    args = ap.parse_args(list(argv) if argv is not None else None)
    start = time.time()
    if not args.table_only:
        for p in args.prevalence or PREVALENCES:
            truths = truths_for(p)
            for n in args.n or SIZES:
                cell = run_cell(n, p, args.sims, replicates=args.replicates, seed=n, truths=truths)
                _save((n, p), cell, args.sims, args.replicates)
                print(f"n={n} prevalence={p}: done ({time.time() - start:.0f} s)", file=sys.stderr)
    results = _load()
    text = (
        f"{START}\n"
        f"Coverage of nominal 95% intervals: simulated cohorts per cell as stated in the last "
        f"row (bootstrap replicates: {args.replicates}), group A of four groups of n patients; "
        "in parentheses, how many cohorts had an interval when not all did (the rest: "
        "undefined, e.g. no patient flagged, or more than 5% undefined replicates). Worst "
        "case: over the four groups, in the main design and (after '0:') with four identical "
        "groups (true worst case 0). Bold: below 93%. Regenerate: "
        "`python scripts/coverage_study.py --write --sims 200` (cells are saved to "
        "benchmarks/coverage_cells.json as they finish).\n\n"
        f"{table(results)}\n{END}"
    )
    print(text)
    if args.write:
        doc = DOC.read_text()
        doc = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: text, doc, flags=re.S)
        DOC.write_text(doc)


if __name__ == "__main__":
    main()
