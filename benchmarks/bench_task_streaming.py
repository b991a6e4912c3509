"""Streaming a survival or regression audit: time and peak memory, exact vs coarsened.

Usage: python benchmarks/bench_task_streaming.py regression 1000000 1024 /tmp/bench
(task, rows, memory_budget_mb (0: coarsen at once), a folder for the generated Parquet
file). Synthetic data, seeded: six sites x two sexes, continuous outcomes and outputs
(every row distinct), score columns (no model), no bootstrap, no explanations.
"""

import dataclasses
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.audit import measure_prepared, prepare
from auditor.load.spec_loader import parse_spec

task, rows, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = Path(sys.argv[4])
base.mkdir(exist_ok=True)
data = base / f"{task}_{rows}.parquet"
rng = np.random.default_rng(0)
if not data.exists():
    site = rng.choice(list("ABCDEF"), rows)
    sex = rng.choice(["F", "M"], rows)
    if task == "regression":
        y = rng.lognormal(1.5, 0.8, rows)
        pred = y * np.exp(rng.normal(0, 0.3, rows))
        frame = pd.DataFrame(
            {"los": y, "pred": pred, "site": site, "sex": sex, "age": rng.integers(18, 95, rows)}
        )
    else:
        t = rng.exponential(600, rows)
        c = rng.exponential(900, rows)
        frame = pd.DataFrame(
            {
                "time": np.minimum(t, c),
                "event": (t <= c).astype(int),
                "risk": 1 - np.exp(-365 / 600 * np.exp(rng.normal(0, 0.5, rows))),
                "site": site,
                "sex": sex,
                "age": rng.integers(18, 95, rows),
            }
        )
    frame.to_parquet(data, index=False)
raw = {
    "name": "bench",
    "data": str(data),
    "task": task,
    "features": ["age"],
    "sensitive": ["site", "sex"],
    "intersections": [["site", "sex"]],
    "bootstrap": 0,
    "explain": {"enabled": False},
    "engine": {"kind": "streaming", "memory_budget_mb": max(budget, 1)},
}
if task == "regression":
    raw.update(label={"column": "los"}, model={"score_column": "pred"})
else:
    raw.update(
        label={"time": "time", "event": "event", "event_value": 1, "horizon": 365},
        model={"score_column": "risk"},
        threshold=0.3,
    )
spec = parse_spec(raw, base_dir=base)
if budget == 0:
    spec = dataclasses.replace(spec, engine=dataclasses.replace(spec.engine, memory_budget_mb=0))
t0 = time.perf_counter()
p = prepare(spec)
t1 = time.perf_counter()
m = measure_prepared(p, bootstrap=0)
t2 = time.perf_counter()
entries = sum(t.count.size for t in p.stats.cells.values())
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
computation = p.computation
print(
    f"{task} rows={rows:,} budget={budget}MB table={computation.score_table} "
    f"res={computation.score_resolution} entries={entries:,} prepare={t1 - t0:.1f}s "
    f"measure={t2 - t1:.1f}s peakMB={peak_mb:.0f}"
)
