#!/usr/bin/env python3
"""Benchmark: `mlrel drill` of 12 faults on a 1M-row healthy log, as a whole process.

The log is a day of the checkout-fraud sample model (``mlrel_cli.samples.make_day``)
at 1M rows, labels inline, cached in benchmarks/data/. The policy is
configs/fraud.yaml with the drill's defaults (checks every 5m, a 1h horizon of
12 windows, the 99.95 % weekly budget); the 12 faults are every fault of
mlrel_cli.faults that applies to a non-ranking log without proxy metrics.

    python benchmarks/bench_drill.py [--rows 1000000] [--repeat 1]

Target (issue 21): under 60 s wall on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from measure import measure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FAULTS = [
    "shift_feature", "null_burst", "unseen_categories", "out_of_range", "nan_predictions", "constant_predictions",
    "out_of_unit_predictions", "label_flip", "latency_spike", "traffic_gap", "duplicated_ids", "segment_degradation",
]  # fmt: skip


def make_log(path: Path, rows: int) -> None:
    sys.path.insert(0, str(ROOT))
    from mlrel_cli.samples import REFERENCE_DAY_US, SEED, make_day

    day = make_day(np.random.default_rng(SEED), rows, REFERENCE_DAY_US, "h", "v41")
    pq.write_table(pa.table(day), path, row_group_size=100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    log = data / f"drill-healthy-{args.rows}.parquet"
    if not log.exists():
        make_log(log, args.rows)
    argv = [sys.executable, "-m", "mlrel_cli", "drill", "--log", str(log), "-p", str(ROOT / "configs" / "fraud.yaml"),
            "--faults", ",".join(FAULTS), "--format", "json"]  # fmt: skip
    walls, rss, cpus, report = [], [], [], {}
    for _ in range(args.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, peak, out = measure(argv)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append(wall)
        rss.append(peak)
        # CPU seconds of the run (user + system): on a shared machine the wall time also counts waiting for a core
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        report = json.loads(out)
    load = os.getloadavg()[0]
    print(f"mlrel drill, {len(FAULTS)} faults, {args.rows:,} rows: median wall {statistics.median(walls):.1f} s, "
          f"CPU {statistics.median(cpus):.1f} s, peak RSS {max(rss):.0f} MiB ({args.repeat} run(s), "
          f"load average {load:.1f} on {os.cpu_count()} cores)")  # fmt: skip
    print(report["summary"])
    for fault in report["faults"]:
        print(f"  {fault['fault']:<24} {fault['check'] or 'missed':<24} delay {fault['delay_s']} s, "
              f"{fault['rows_until_detection']} rows")  # fmt: skip


if __name__ == "__main__":
    main()
