#!/usr/bin/env python3
"""Benchmark: `mlrel validate` on a 10M-row log with 30 features, next to pyarrow reading the same columns.

Makes its data (cached in benchmarks/data/), then runs each as a whole
process, three times, and prints the median wall time and the peak RSS:

    python benchmarks/bench_validate.py [--rows 10000000] [--repeat 3]

Target (issue 2): validate within 3x of the read time, peak memory under 2 GiB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from measure import measure

HERE = Path(__file__).resolve().parent
ROW_GROUP = 1_000_000
N_NUMERIC = 22
N_CATEGORICAL = 8
T0_US = 1_795_392_000 * 1_000_000


def make_log(path: Path, rows: int, seed: int) -> None:
    writer = None
    for start in range(0, rows, ROW_GROUP):
        n = min(ROW_GROUP, rows - start)
        rng = np.random.default_rng([seed, start])
        cols: dict[str, pa.Array] = {}
        ts = T0_US + (np.arange(start, start + n, dtype=np.int64) * 86_400_000_000) // rows
        cols["timestamp"] = pa.array(ts, type=pa.timestamp("us", tz="UTC"))
        ids = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
        cols["prediction_id"] = pc.binary_join_element_wise(pa.scalar(f"req-{seed}-"), ids, "")
        for i in range(N_NUMERIC):
            values = rng.normal(i, 1 + i % 3, n)
            mask = rng.random(n) < 0.01 if i % 4 == 0 else None
            cols[f"num_{i:02d}"] = pa.array(values, mask=mask)
        for i in range(N_CATEGORICAL):
            k = (5, 12, 40, 200)[i % 4]
            codes = rng.integers(0, k, n).astype(np.int32)
            dictionary = pa.array([f"cat{i}_{j}" for j in range(k)])
            cols[f"cat_{i}"] = pa.DictionaryArray.from_arrays(pa.array(codes), dictionary).dictionary_decode()
        score = 1 / (1 + np.exp(-rng.normal(-1, 1.5, n)))
        cols["prediction"] = pa.array(score)
        cols["label"] = pa.array((rng.random(n) < score).astype(np.int8))
        cols["latency_ms"] = pa.array(rng.lognormal(3, 0.4, n))
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=ROW_GROUP)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    log = args.data / f"validate_{args.rows}.parquet"
    if not log.exists():
        t = time.perf_counter()
        make_log(log, args.rows, seed=1)
        print(f"generated {log} ({log.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f}s")
    columns = pq.read_schema(log).names
    read_cmd = [
        sys.executable,
        "-c",
        "import sys, pyarrow.parquet as pq; pq.read_table(sys.argv[1], columns=sys.argv[2].split(','))",
        str(log),
        ",".join(columns),
    ]
    validate_cmd = [sys.executable, "-m", "mlrel_cli", "validate", str(log), "-q"]
    results = {}
    for name, cmd in (("pyarrow read (same columns)", read_cmd), ("mlrel validate", validate_cmd)):
        runs = [measure(cmd)[:2] for _ in range(args.repeat)]
        results[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
    print(f"rows={args.rows:,} columns={len(columns)} cores={os.cpu_count()}")
    for name, (wall, rss) in results.items():
        print(f"{name:32s} {wall:7.2f} s   peak RSS {rss:7.0f} MiB")
    ratio = results["mlrel validate"][0] / results["pyarrow read (same columns)"][0]
    print(f"validate / read = {ratio:.2f}x (target <= 3x; peak RSS target < 2048 MiB)")


if __name__ == "__main__":
    main()
