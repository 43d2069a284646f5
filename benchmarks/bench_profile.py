#!/usr/bin/env python3
"""Benchmark: `mlrel drift` with a reference profile against the same run with the raw reference.

On the shared logs (../shared/bench/make_logs.py): builds a sketch and an
exact profile of the reference (timed, and their sizes), then runs drift as a
whole process with each reference `--repeat` times, one after another, and
prints the median wall time, the peak RSS and the columns each flags; the
flagged columns must be the same for the three.

    python benchmarks/bench_profile.py --rows 1000000 [--repeat 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"


def _flagged(report: Path) -> list[str]:
    return [f["name"] for f in json.loads(report.read_text())["features"] if f["status"] == "fail"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="Where the logs are (made there if absent).")
    args = parser.parse_args()
    data = args.data or Path(f"/tmp/mlrel-bench-{args.rows}")
    ref, cur = data / "reference.parquet", data / "current.parquet"
    if not ref.exists() or not cur.exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(SHARED / "make_logs.py"), "--rows", str(args.rows), "--out", str(data)], check=True)
    policy = data / "policy.yaml"
    policy.write_text("columns: {id: request_id}\n")  # the shared logs name their id column request_id
    mlrel = [sys.executable, "-m", "mlrel_cli"]

    references: dict[str, Path] = {"raw reference": ref}
    for mode in ("sketch", "exact"):
        target = data / f"reference-{mode}.mlrel-profile"
        target.unlink(missing_ok=True)
        flag = ["--exact"] if mode == "exact" else []
        wall, rss, _ = measure([*mlrel, "profile", str(ref), "-p", str(policy), *flag, "-o", str(target)], allowed=(0,))
        print(f"mlrel profile ({mode}): {wall:.2f} s, {rss:.0f} MiB peak, file {target.stat().st_size / 1e6:.2f} MB")
        references[f"{mode} profile"] = target

    flagged = {}
    for label, reference in references.items():
        walls, rsses = [], []
        report = data / f"drift-{label.replace(' ', '-')}.json"
        for _ in range(args.repeat):
            argv = [*mlrel, "drift", "-r", str(reference), "-c", str(cur), "-p", str(policy), "--format", "json",
                    "-o", str(report), "--quiet"]  # fmt: skip
            wall, rss, _ = measure(argv)
            walls.append(wall)
            rsses.append(rss)
        flagged[label] = _flagged(report)
        print(f"drift, {label}: median {statistics.median(walls):.2f} s of {', '.join(f'{w:.2f}' for w in walls)}; "
              f"{max(rsses):.0f} MiB peak; flagged {','.join(flagged[label])}")  # fmt: skip
    same = len({tuple(f) for f in flagged.values()}) == 1
    print("same columns flagged:", "yes" if same else f"NO: {flagged}")


if __name__ == "__main__":
    main()
