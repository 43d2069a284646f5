#!/usr/bin/env python3
"""Benchmark: `mlrel compare` canary on 2M baseline and 2M candidate rows, 3 segment columns, 1,000 resamples.

    python benchmarks/bench_compare.py [--rows 2000000] [--repeat 3]

Target (issue 4): under 20 s wall and 2 GiB peak, as a whole process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from measure import measure

HERE = Path(__file__).resolve().parent


def make(path: Path, rows: int) -> None:
    writer = None
    for version, noise, seed in (("v41", 1.0, 1), ("v42", 1.1, 2)):
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            rng = np.random.default_rng([seed, start])
            x = rng.normal(size=n)
            ids = pc.binary_join_element_wise(
                pa.scalar(f"{version}-"), pc.cast(pa.array(np.arange(start, start + n)), pa.string()), ""
            )
            table = pa.table({
                "prediction_id": ids,
                "model_version": pa.array([version] * n),
                "prediction": 1 / (1 + np.exp(-(2 * x + rng.normal(0, noise, n)))),
                "label": (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8),
                "latency_ms": rng.lognormal(3, 0.3, n),
                "country": rng.choice([f"c{i}" for i in range(8)], n),
                "device": rng.choice(["mobile", "desktop", "tablet"], n),
                "plan": rng.choice(["free", "pro", "team", "enterprise"], n),
            })  # fmt: skip
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    log = data / f"compare_{args.rows}.parquet"
    if not log.exists():
        make(log, args.rows)
    policy = data / "compare-policy.yaml"
    policy.write_text("segments: [country, device, plan]\ncompare: {bootstrap: {resamples: 1000}}\n")
    argv = [sys.executable, "-m", "mlrel_cli", "compare", "--log", str(log), "--baseline", "v41", "--candidate", "v42",
            "-p", str(policy), "-q"]  # fmt: skip
    runs = []
    for _ in range(args.repeat):
        wall, rss, verdict = measure(argv)
        runs.append((wall, rss))
    print(f"rows: {args.rows:,} baseline + {args.rows:,} candidate, 3 segment columns (15 segments), 1,000 resamples")
    print(f"mlrel compare: median {statistics.median(r[0] for r in runs):.2f} s, peak RSS {max(r[1] for r in runs):.0f} MiB")
    print(verdict)


if __name__ == "__main__":
    main()
