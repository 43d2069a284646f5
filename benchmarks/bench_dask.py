#!/usr/bin/env python3
"""Benchmark: `mlrel drift` with the local engine and with a local Dask cluster of 2 workers.

Data: the shared drift logs (../shared/bench/make_logs.py: 25 features, drift
in f0..f4 and c0), 20M rows a side written as 20 files of 1M rows per side
(40 files), made once and cached in benchmarks/data/dask_<rows>/.

Each run is a fresh process that calls the CLI in-process and reports its
own peak RSS (the client's) and, separately, the largest peak among the
processes it started (the Dask workers), so the client's memory is not
confused with the workers'.

    python benchmarks/bench_dask.py [--rows 20000000] [--files 20] [--repeat 1] [--commands drift,validate,compare]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"

PROBE = """
import resource, sys, time
from mlrel_cli.cli.app import app
start = time.perf_counter()
try:
    app(sys.argv[1:], prog_name="mlrel")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
wall = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("MEASURED", wall, own, children, code)
"""


def make_data(out: Path, rows: int, files: int) -> None:
    """The shared generator's row groups, seeded as for one log of `rows`, written `files` ways."""
    import pyarrow.parquet as pq

    sys.path.insert(0, str(SHARED))
    import make_logs  # type: ignore[import-not-found]

    per_file = rows // files
    for which in ("reference", "current"):
        folder = out / which
        folder.mkdir(parents=True, exist_ok=True)
        version = "v1.3.0" if which == "reference" else "v1.4.0"
        group = 0
        for index in range(files):
            path = folder / f"part-{index:03d}.parquet"
            if path.exists():
                group += -(-per_file // make_logs.ROW_GROUP)
                continue
            partial = path.with_suffix(".tmp")
            writer = None
            for start in range(index * per_file, (index + 1) * per_file, make_logs.ROW_GROUP):
                n = min(make_logs.ROW_GROUP, (index + 1) * per_file - start)
                table = make_logs.make_group(which, group, start, n, rows, version)
                writer = writer or pq.ParquetWriter(partial, table.schema, compression="snappy")
                writer.write_table(table, row_group_size=make_logs.ROW_GROUP)
                group += 1
            assert writer is not None
            writer.close()
            partial.rename(path)
            print(f"wrote {path}", flush=True)


def run(argv: list[str]) -> tuple[float, float, float, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False)
    line = out.stdout.rstrip().splitlines()[-1] if out.stdout.strip() else ""
    if not line.startswith("MEASURED"):
        raise SystemExit(f"mlrel {' '.join(argv[:3])} ... failed: {out.stderr[-2000:]}")
    _, wall, own, children, code = line.split()
    return float(wall), float(own), float(children), int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows a side")
    parser.add_argument("--files", type=int, default=20, help="files a side")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--commands", default="drift", help="comma-separated: drift, validate, compare")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()

    data = args.data / f"dask_{args.rows}_{args.files}"
    started = time.perf_counter()
    make_data(data, args.rows, args.files)
    if time.perf_counter() - started > 1:
        print(f"data made in {time.perf_counter() - started:.0f} s")
    policy = data / "policy.yaml"
    policy.write_text("columns: {id: request_id}\n")

    print(f"rows per side={args.rows:,} in {args.files} files a side, 25 features, repeat={args.repeat}")
    ref, cur = str(data / "reference"), str(data / "current")
    commands = {
        "drift": ["drift", "-r", ref, "-c", cur, "-p", str(policy)],
        "validate": ["validate", cur, "-r", ref, "-p", str(policy)],
        "compare": ["compare", "--baseline-log", ref, "--candidate-log", cur, "-p", str(policy)],
    }
    for command in args.commands.split(","):
        reports = {}
        for engine in ("local", "dask"):
            reports[engine] = data / f"{command}-{engine}.json"
            argv = [*commands[command], "--engine", engine, "-q", "-o", str(reports[engine])]
            results = [run(argv) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in results)
            own = max(r[1] for r in results)
            workers = max(r[2] for r in results)
            worker_text = f"  workers' peak {workers:6.0f} MiB" if engine == "dask" else " " * 27
            print(f"{command:8s} {engine:6s} {wall:7.2f} s  client peak {own:6.0f} MiB{worker_text}  "
                  f"{OUTCOME[command](json.loads(reports[engine].read_text()))}")  # fmt: skip
        local, distributed = (json.loads(r.read_text()) for r in reports.values())
        print(f"{'':15s} dask vs local: {DIFFERENCE[command](local, distributed)}")


def _drift_flagged(report: dict) -> str:
    return "flagged " + ",".join(sorted(f["name"] for f in report["features"] if f["status"] == "fail"))


def _drift_difference(local: dict, distributed: dict) -> str:
    scores = {f["name"]: f["score"] for f in local["features"]}
    worst = max(abs(f["score"] - scores[f["name"]]) for f in distributed["features"] if f["score"] is not None)
    return f"largest score difference {worst:.5f}"


def _validate_outcome(report: dict) -> str:
    return f"{report['status']}: {report['summary']}"


def _validate_difference(local: dict, distributed: dict) -> str:
    a = {c["name"]: c for c in local["checks"]}
    b = {c["name"]: c for c in distributed["checks"]}
    same = [n for n in a if n in b and a[n]["status"] == b[n]["status"]]
    skipped = sorted(n for n in b if b[n]["status"] == "skipped" and a.get(n, {}).get("status") != "skipped")
    values = [abs(a[n]["value"] - b[n]["value"]) / max(abs(a[n]["value"]), 1e-12) for n in same
              if isinstance(a[n]["value"], float) and isinstance(b[n]["value"], float)]  # fmt: skip
    return (f"{len(same)} of {len(a)} checks with the same status, largest relative value difference "
            f"{max(values, default=0):.2e}; not run on dask: {', '.join(skipped) or '-'}")  # fmt: skip


def _compare_outcome(report: dict) -> str:
    (candidate,) = report["candidates"]
    auc = candidate["metrics"].get("roc_auc", {})
    return f"{candidate['verdict']}, roc_auc {auc.get('baseline', float('nan')):.5f} -> {auc.get('candidate', float('nan')):.5f}"


def _compare_difference(local: dict, distributed: dict) -> str:
    (a,), (b,) = local["candidates"], distributed["candidates"]
    worst = max((abs(b["metrics"][n]["candidate"] - m["candidate"]), n) for n, m in a["metrics"].items()
                if m["candidate"] is not None and not n.startswith("latency"))  # fmt: skip
    same = all(b["metrics"][n]["classification"] == m["classification"] for n, m in a["metrics"].items())
    return f"largest metric difference {worst[0]:.2e} ({worst[1]}), every classification the same: {same}"


OUTCOME = {"drift": _drift_flagged, "validate": _validate_outcome, "compare": _compare_outcome}
DIFFERENCE = {"drift": _drift_difference, "validate": _validate_difference, "compare": _compare_difference}

if __name__ == "__main__":
    main()
