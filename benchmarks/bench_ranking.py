#!/usr/bin/env python3
"""Benchmark: `mlrel validate` on a ranking log of 10M results in 1M queries, NDCG@10, MRR and two proxy metrics.

    python benchmarks/bench_ranking.py [--queries 1000000]

Target (issue 9): under 20 s wall and 2 GiB peak, as a whole process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from measure import measure

HERE = Path(__file__).resolve().parent
PER = 10


def make(path: Path, queries: int) -> None:
    writer = None
    for start in range(0, queries, 100_000):
        n = min(100_000, queries - start)
        rng = np.random.default_rng([7, start])
        rows = n * PER
        query = np.repeat(np.arange(start, start + n), PER)
        relevance = rng.beta(0.6, 2.0, rows)
        score = relevance + rng.normal(0, 0.3, rows)
        order = np.lexsort((-score, query))
        position = np.empty(rows, dtype=np.int16)
        position[order] = np.tile(np.arange(1, PER + 1), n)
        clicked = rng.random(rows) < relevance * 1.6 / position
        purchased = clicked & (rng.random(rows) < relevance)
        ts = 1_795_392_000 * 1_000_000 + np.repeat(np.sort(rng.integers(0, 86_400_000_000, n)), PER)
        table = pa.table({
            "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "query_id": pc.binary_join_element_wise("q", pc.cast(pa.array(query), pa.string()), ""),
            "position": pa.array(position),
            "score": pa.array(score),
            "clicked": pa.array(clicked.astype(np.int8)),
            "purchased": pa.array(purchased.astype(np.int8)),
            "revenue": pa.array(np.where(purchased, rng.lognormal(3.5, 0.6, rows), 0.0)),
            "device": pa.array(rng.choice(["mobile", "desktop"], size=rows)),
        })  # fmt: skip
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


POLICY = """\
task: ranking
columns: {timestamp: timestamp, query: query_id, position: position, prediction: score, label: clicked}
ignore: [purchased, revenue]
validate:
  performance: {k: 10, metrics: {ndcg: {min: 0.3}, mrr: {min: 0.2}}}
proxy_metrics:
  conversion: {kind: rate, column: purchased, per: query, min: 0.01}
  revenue_per_result: {kind: mean, column: revenue}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=1_000_000)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    log = data / f"ranking_{args.queries}.parquet"
    if not log.exists():
        make(log, args.queries)
    policy = data / "ranking-policy.yaml"
    policy.write_text(POLICY)
    argv = [sys.executable, "-m", "mlrel_cli", "validate", str(log), "-p", str(policy), "-q"]
    wall, rss, verdict = measure(argv)
    print(f"{args.queries * PER:,} results in {args.queries:,} queries; NDCG@10, MRR and two proxy metrics")
    print(f"mlrel validate: {float(wall):.1f} s wall, peak RSS {float(rss):.0f} MiB")
    print(verdict)


if __name__ == "__main__":
    main()
