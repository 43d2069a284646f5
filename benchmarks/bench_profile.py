#!/usr/bin/env python3
"""Benchmark: `mlrel drift` with a reference profile against the same run with the raw reference.

On the shared logs (../shared/bench/make_logs.py): builds a sketch and an
exact profile of the reference (timed, and their sizes), then runs drift as a
whole process with each reference `--repeat` times, interleaved (raw, sketch,
exact, raw, ...: the machine's load hits each alike), and prints the median
wall time, the CPU time, the peak RSS and the columns each flags; the flagged
columns must be the same for the three. Also a bare read of the current log's
columns (pyarrow, the floor the issue compares with: at most 2x it).

    python benchmarks/bench_profile.py --rows 1000000 [--repeat 3] [--data DIR]
        [--cron]               # a 15-minute window of 10,000 rows against the sketch profile (target < 0.8 s)
        [--size-rows 10000000] # the sketch profile's size of a reference of that many rows (target < 5 MB)
        [--size-engine dask]   # build that one on the Dask engine (a local cluster)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
MLREL = [sys.executable, "-m", "mlrel_cli"]
BARE_READ = "import sys, pyarrow.parquet as pq; pq.read_table(sys.argv[1], columns=sys.argv[2].split(','))"


def _flagged(report: Path) -> list[str]:
    return [f["name"] for f in json.loads(report.read_text())["features"] if f["status"] == "fail"]


def _logs(rows: int, data: Path) -> tuple[Path, Path]:
    ref, cur = data / "reference.parquet", data / "current.parquet"
    if not ref.exists() or not cur.exists():
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(SHARED / "make_logs.py"), "--rows", str(rows), "--out", str(data)], check=True)
    (data / "policy.yaml").write_text("columns: {id: request_id}\n")  # the shared logs name their id column request_id
    return ref, cur


def _timed(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system of the child) and peak RSS in MiB of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, rss, _ = measure(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the measuring helper and its child are both children
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, rss


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def _profile(ref: Path, policy: Path, target: Path, *flags: str) -> None:
    target.unlink(missing_ok=True)
    wall, cpu, rss = _timed([*MLREL, "profile", str(ref), "-p", str(policy), *flags, "-o", str(target)])
    print(f"mlrel profile {' '.join(flags) or '(sketch)'}: {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB peak, "
          f"file {target.stat().st_size / 1e6:.2f} MB")  # fmt: skip


def _drift_runs(references: dict[str, Path], cur: Path, policy: Path, repeat: int, data: Path, tag: str) -> None:
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in references}
    columns = None
    for _ in range(repeat):
        for label, reference in references.items():
            report = data / f"drift-{tag}-{label.replace(' ', '-')}.json"
            argv = [*MLREL, "drift", "-r", str(reference), "-c", str(cur), "-p", str(policy), "--format", "json",
                    "-o", str(report), "--quiet", "--force"]  # fmt: skip
            runs[label].append(_timed(argv))
        if columns is None:
            import pyarrow.parquet as pq

            names = pq.read_schema(cur).names
            columns = ",".join(n for n in names if n not in ("request_id", "model_version", "latency_ms"))
        runs.setdefault("bare read of the current's columns", []).append(
            _timed([sys.executable, "-c", BARE_READ, str(cur), columns])
        )
    flagged = {}
    base = statistics.median(w for w, _, _ in runs[next(iter(references))])
    for label, measured in runs.items():
        walls, cpus = [w for w, _, _ in measured], [c for _, c, _ in measured]
        ratio = statistics.median(walls) / base
        line = (
            f"{tag} {label}: wall {_median(walls)} = {ratio:.2f}x; CPU {_median(cpus)}; {max(r for _, _, r in measured):.0f} MiB"
        )
        if label in references:
            flagged[label] = _flagged(data / f"drift-{tag}-{label.replace(' ', '-')}.json")
            line += f"; flagged {','.join(flagged[label]) or 'none'}"
        print(line)
    same = len({tuple(f) for f in flagged.values()}) == 1
    print("same columns flagged:", "yes" if same else f"NO: {flagged}")


def _cron_window(cur: Path, data: Path, rows: int = 10_000) -> Path:
    """The current log's newest ``rows`` rows (about 15 minutes of the shared logs' day), as a cron job reads."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    window = data / f"window-{rows}.parquet"
    if not window.exists():
        table = pq.read_table(cur)
        newest = pc.sort_indices(table.column("timestamp"), sort_keys=[("timestamp", "descending")])[:rows]
        pq.write_table(table.take(pc.sort_indices(newest)), window)
    return window


def _size(rows: int, data: Path, engine: str | None) -> None:
    ref, _ = _logs(rows, data)
    target = data / f"reference-{rows}.mlrel-profile"
    flags = ["--engine", engine] if engine else []
    target.unlink(missing_ok=True)
    wall, cpu, rss = _timed([*MLREL, "profile", str(ref), "-p", str(data / "policy.yaml"), *flags, "-o", str(target)])
    print(f"sketch profile of {rows:,} rows ({engine or 'local'}): {target.stat().st_size / 1e6:.2f} MB; built in "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB peak")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="Where the logs are (made there if absent).")
    parser.add_argument("--cron", action="store_true", help="Time a 10,000-row window against the sketch profile.")
    parser.add_argument("--size-rows", type=int, default=None, help="Build a sketch profile of a reference this long.")
    parser.add_argument("--size-data", type=Path, default=None, help="Where that reference is (made there if absent).")
    parser.add_argument("--size-engine", choices=["local", "dask"], default=None)
    parser.add_argument("--skip-exact", action="store_true", help="No exact profile (quicker).")
    args = parser.parse_args()
    data = args.data or Path(f"/tmp/mlrel-bench-{args.rows}")
    ref, cur = _logs(args.rows, data)
    policy = data / "policy.yaml"

    references: dict[str, Path] = {"raw reference": ref}
    for mode in ("sketch",) if args.skip_exact else ("sketch", "exact"):
        target = data / f"reference-{mode}.mlrel-profile"
        _profile(ref, policy, target, *(["--exact"] if mode == "exact" else []))
        references[f"{mode} profile"] = target
    _drift_runs(references, cur, policy, args.repeat, data, "whole log")
    if args.cron:
        window = _cron_window(cur, data)
        _drift_runs({"raw reference": ref, "sketch profile": references["sketch profile"]}, window, policy, args.repeat,
                    data, "10k-row window")  # fmt: skip
    if args.size_rows:
        _size(args.size_rows, args.size_data or Path(f"/tmp/mlrel-bench-{args.size_rows}"), args.size_engine)


if __name__ == "__main__":
    main()
