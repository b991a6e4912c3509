"""The synthetic admissions cohort of ``bench_metrics.py``, as files an audit reads.

Same design (race, sex, age band, insurance; outcome risk by age, sex and race; a
noisy, slightly miscalibrated continuous score), plus a few features with
group-dependent missingness so data checks and proxies have work to do. Written
in chunks, so 100M rows never sit in memory at once:

    python benchmarks/cohort_files.py --rows 1000000 --out /tmp/cohort-1m.parquet
    python benchmarks/cohort_files.py --rows 100000000 --out /tmp/cohort-100m --files 20
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metrics import AGE, INSURANCE, RACE, RACE_P, THRESHOLD

CHUNK = 2_000_000
FEATURES = ("age", "lactate", "creatinine", "prior_visits", "insurance")
SENSITIVE = ("race", "sex", "age_band")
INTERSECTIONS = (("race", "sex"),)


def chunk_frame(rows: int, seed: int):
    """One chunk of the cohort as a pandas frame (string groups, float score)."""
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
    lactate = rng.gamma(2.0, 0.8, rows) + 0.3 * labels
    # a lab measured less often for some groups: missingness differs by group
    lactate[rng.random(rows) < np.array([0.1, 0.25, 0.18, 0.1, 0.3, 0.15])[race]] = np.nan
    creatinine = rng.lognormal(0.0, 0.3, rows)
    creatinine[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "outcome": labels,
            "risk_score": scores,
            "race": np.asarray(RACE, dtype=object)[race],
            "sex": np.asarray(["Female", "Male"], dtype=object)[sex],
            "age_band": np.asarray(AGE, dtype=object)[age],
            "age": 18 + 15 * age + rng.integers(0, 15, rows),
            "lactate": lactate,
            "creatinine": creatinine,
            "prior_visits": rng.poisson(1.0 + 0.5 * age),
            "insurance": np.asarray(INSURANCE, dtype=object)[ins],
        }
    )


def write(rows: int, out: Path, *, files: int = 1, seed: int = 0, kind: str = "parquet") -> None:
    """Write ``rows`` rows to one file (``files == 1``) or a folder of ``files`` files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    targets = [out] if files == 1 else [out / f"part-{i:04d}.{kind}" for i in range(files)]
    if files > 1:
        out.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    written, chunk_seed = 0, seed
    for target in targets:
        left = min(per_file, rows - written)
        writer = None
        first = True
        while left > 0:
            size = min(CHUNK, left)
            frame = chunk_frame(size, chunk_seed)
            chunk_seed += 1
            if kind == "csv":
                frame.to_csv(target, mode="w" if first else "a", header=first, index=False)
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(target, table.schema)
                writer.write_table(table, row_group_size=1_000_000)
            first = False
            left -= size
            written += size
        if writer is not None:
            writer.close()


def spec_text(data: str, *, bootstrap: int = 1000, extra: str = "") -> str:
    """The audit spec of the benchmarks: 3 attributes + 1 intersection, score column."""
    return (
        "name: synthetic admissions cohort\n"
        f"data: {data}\n"
        "label: {column: outcome, positive: 1}\n"
        "model: {score_column: risk_score}\n"
        f"features: [{', '.join(FEATURES)}]\n"
        f"sensitive: [{', '.join(SENSITIVE)}]\n"
        f"intersections: [[{', '.join(INTERSECTIONS[0])}]]\n"
        f"threshold: {THRESHOLD}\n"
        "policy: clinical-default\n"
        f"bootstrap: {bootstrap}\n"
        "seed: 0\n" + extra
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--csv", action="store_true")
    args = parser.parse_args()
    write(args.rows, args.out, files=args.files, kind="csv" if args.csv else "parquet")


if __name__ == "__main__":
    main()
