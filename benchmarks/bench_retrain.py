#!/usr/bin/env python3
"""Benchmark: `mlrel retrain-set --strategy upsample-weak-segments` over 2 segment columns of a 10M-row log.

Uses (or makes) the validate benchmark's 10M-row, 35-column log.

    python benchmarks/bench_retrain.py [--rows 10000000]

Target (issue 10): under 20 s wall and 2 GiB peak, as a whole process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_validate import make_log  # noqa: E402
from measure import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    log = data / f"validate_{args.rows}.parquet"
    if not log.exists():
        make_log(log, args.rows, seed=1)
    out = data / "retrain" / "train.parquet"
    out.parent.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "mlrel_cli", "retrain-set", "--log", str(log), "-o", str(out), "--force", "-q",
            "--strategy", "upsample-weak-segments", "--segments", "cat_0,cat_1", "--factor", "2"]  # fmt: skip
    wall, rss, verdict = measure(argv)
    print(f"{args.rows:,} rows, 35 columns, upsample-weak-segments over cat_0 and cat_1")
    print(f"mlrel retrain-set: {float(wall):.1f} s wall, peak RSS {float(rss):.0f} MiB")
    print(verdict)


if __name__ == "__main__":
    main()
