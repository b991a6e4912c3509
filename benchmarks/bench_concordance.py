"""One call of the survival concordance sums: quadratic blocks vs the sorted path.

Usage: python benchmarks/bench_concordance.py 20000 200000 [--blocks-up-to 20000]
(distinct rows per call; the quadratic path runs only up to ``--blocks-up-to`` rows,
it grows with the square). Synthetic, seeded: continuous exponential times, about 40%
censored, continuous risks (every row distinct), unit weights (Harrell's C).
"""

import argparse
import time

import numpy as np

from auditor.tasks import survival as S
from auditor.tasks.base import RowTable

parser = argparse.ArgumentParser()
parser.add_argument("rows", type=int, nargs="+")
parser.add_argument("--blocks-up-to", type=int, default=20000)
args = parser.parse_args()
rng = np.random.default_rng(0)
for n in args.rows:
    t, c = rng.exponential(600, n), rng.exponential(900, n)
    table = RowTable.from_arrays({"time": np.minimum(t, c), "event": t <= c, "risk": rng.random(n)})
    w = np.ones(table.count.size)
    methods = ["sorted"] + (["blocks"] if n <= args.blocks_up_to else [])
    for per_row in (False, True):
        for method in methods:
            t0 = time.perf_counter()
            num, den, _, _ = S.concordance_parts(table, w, per_row, method=method)
            dt = time.perf_counter() - t0
            print(f"rows={n:,} per_row={per_row} {method}: {dt:.3f}s C={num / den:.12f}")
