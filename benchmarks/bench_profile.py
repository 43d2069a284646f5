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
        [--cron-only --cron-repeat 15 [--base TREE]]  # only that, as variants interleaved (below)
        [--size-rows 10000000] # the sketch profile's size of a reference of that many rows (target < 5 MB)
        [--size-engine dask]   # build that one on the Dask engine (a local cluster)
        [--size-against FILE]  # a profile of the same reference built otherwise: drift's statuses must be equal

The cron window's variants, each a whole process, interleaved `--cron-repeat` times: mlrel as this environment
runs it (here PYTHONDONTWRITEBYTECODE=1: every mlrel module compiled at each start), with its bytecode cached
as an installed mlrel has it (`pip install` compiles it; here a PYTHONPYCACHEPREFIX under DATA), the same with
pandas blocked (a diagnostic, not a way to run mlrel: what pyarrow's import of pandas costs), and the bare read
of the window's columns; with `--base TREE` (for example a worktree of main) the cached variant of that tree too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from measure import measure_cpu

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


# pyarrow imports pandas on its first Arrow -> NumPy conversion (docs/profiles.md, "A cron job"); this runs mlrel as
# if pandas were not installed, to measure what that import costs. A diagnostic only: mlrel depends on pandas.
WITHOUT_PANDAS = """
import runpy, sys
class NoPandas:
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the benchmark)")
sys.meta_path.insert(0, NoPandas())
sys.argv = ["mlrel", *sys.argv[1:]]
runpy.run_module("mlrel_cli", run_name="__main__")
"""

# A Dask-built profile: the client's and the workers' CPU and peak RSS apart (the workers are the client's children).
DASK_PROBE = """
import resource, sys, time
if __name__ == "__main__":
    from mlrel_cli.cli.app import app
    start, code = time.perf_counter(), 0
    try:
        app(sys.argv[1:], prog_name="mlrel")
    except SystemExit as exc:
        code = exc.code
    wall = time.perf_counter() - start
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print("MEASURED", wall, own.ru_utime + own.ru_stime, workers.ru_utime + workers.ru_stime, own.ru_maxrss / 1024,
          workers.ru_maxrss / 1024, code)
"""


def _timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system of the child) and peak RSS in MiB of one whole process."""
    wall, rss, cpu, _ = measure_cpu(argv, env=env)
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


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def _spread(values: list[float]) -> str:
    """Median, quartiles and range: on a shared machine the spread is part of the figure."""
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else (values[0],) * 3
    return f"{median:.2f} s (quartiles {q1:.2f}-{q3:.2f}, range {min(values):.2f}-{max(values):.2f})"


def _cron(window: Path, profile: Path, policy: Path, data: Path, repeat: int, base: Path | None) -> None:
    """The cron job's run (a 10,000-row window against the sketch profile), as variants interleaved."""
    import pyarrow.parquet as pq

    drift = ["drift", "-r", str(profile), "-c", str(window), "-p", str(policy), "--format", "json", "-o",
             str(data / "drift-cron.json"), "--quiet", "--force"]  # fmt: skip
    here = str(HERE.parent)
    as_run = dict(os.environ, PYTHONPATH=here)
    cached = {k: v for k, v in as_run.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(data / "pycache")
    variants: dict[str, tuple[list[str], dict[str, str]]] = {
        "as run here (no bytecode cache)": ([*MLREL, *drift], as_run),
        "bytecode cached (as installed)": ([*MLREL, *drift], cached),
        "bytecode cached, pandas blocked (diagnostic)": ([sys.executable, "-c", WITHOUT_PANDAS, *drift], cached),
    }
    if base is not None:
        variants[f"{base}: bytecode cached"] = ([*MLREL, *drift], dict(cached, PYTHONPATH=str(base)))
    columns = ",".join(n for n in pq.read_schema(window).names if n not in ("request_id", "model_version", "latency_ms"))
    variants["bare read of the window's columns"] = ([sys.executable, "-c", BARE_READ, str(window), columns], cached)
    for argv, env in variants.values():  # warm: the bytecode written, the files in the page cache
        _timed(argv, env)
    print(f"10k-row window against the sketch profile, {repeat} runs each interleaved; {_load()} before")
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in variants}
    for _ in range(repeat):
        for label, (argv, env) in variants.items():
            runs[label].append(_timed(argv, env))
    for label, measured in runs.items():
        walls, cpus = [w for w, _, _ in measured], [c for _, c, _ in measured]
        print(f"  {label}: wall {_spread(walls)}; CPU {_spread(cpus)}; {max(r for _, _, r in measured):.0f} MiB")
    print(f"  {_load()} after")


def _size(rows: int, data: Path, engine: str | None, against: Path | None, currents: list[Path]) -> None:
    ref = data / "reference.parquet"
    if not ref.exists():
        _logs(rows, data)
    (data / "policy.yaml").write_text("columns: {id: request_id}\n")
    target = data / f"reference-{rows}-{engine or 'local'}.mlrel-profile"
    policy = data / "policy.yaml"
    target.unlink(missing_ok=True)
    print(f"building a sketch profile of {rows:,} rows ({engine or 'local'}); {_load()} before")
    if engine == "dask":
        argv = [sys.executable, "-c", DASK_PROBE, "profile", str(ref), "-p", str(policy), "--engine", "dask", "-o",
                str(target)]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        _, wall, own_cpu, workers_cpu, own_rss, workers_rss, code = out.stdout.rstrip().splitlines()[-1].split()
        if code != "0":
            raise SystemExit(f"mlrel profile --engine dask exited {code}: {out.stderr[-2000:]}")
        built = (f"{float(wall):.1f} s wall; CPU {float(own_cpu):.1f} s the client, {float(workers_cpu):.1f} s the "
                 f"workers; peak {float(own_rss):.0f} MiB the client, {float(workers_rss):.0f} MiB a worker at most")  # fmt: skip
    else:
        wall, cpu, rss = _timed([*MLREL, "profile", str(ref), "-p", str(policy), "-o", str(target)])
        built = f"{wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB peak"
    print(f"  {target.stat().st_size / 1e6:.2f} MB; built in {built}; {_load()} after")
    if against is not None:
        _same_statuses(target, against, policy, data, currents)


def _same_statuses(profile: Path, other: Path, policy: Path, data: Path, currents: list[Path]) -> None:
    """Drift of each current log against two profiles of one reference: the same statuses (in any order: checks
    are listed by score, and near-equal scores may swap), and the largest difference of their values."""
    for current in currents:
        reports = []
        for reference in (profile, other):
            out = data / f"drift-against-{reference.stem}.json"
            argv = [*MLREL, "drift", "-r", str(reference), "-c", str(current), "-p", str(policy), "--format", "json",
                    "-o", str(out), "--quiet", "--force"]  # fmt: skip
            subprocess.run(argv, capture_output=True, check=True)
            reports.append({c["name"]: c for c in json.loads(out.read_text())["checks"]})
        mine, theirs = reports
        same = {n: c["status"] for n, c in mine.items()} == {n: c["status"] for n, c in theirs.items()}
        values = [abs(c["value"] - theirs[n]["value"]) for n, c in mine.items() if isinstance(c["value"], float)]
        print(f"  drift of {current.name} against {profile.name} and {other.name}: statuses "
              f"{'the same' if same else 'DIFFERENT'} ({len(mine)} checks); largest value difference "
              f"{max(values):.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="Where the logs are (made there if absent).")
    parser.add_argument("--cron", action="store_true", help="Time a 10,000-row window against the sketch profile.")
    parser.add_argument("--size-rows", type=int, default=None, help="Build a sketch profile of a reference this long.")
    parser.add_argument("--size-data", type=Path, default=None, help="Where that reference is (made there if absent).")
    parser.add_argument("--size-engine", choices=["local", "dask"], default=None)
    parser.add_argument("--size-against", type=Path, default=None, help="A profile of that reference to compare.")
    parser.add_argument("--skip-exact", action="store_true", help="No exact profile (quicker).")
    parser.add_argument("--cron-only", action="store_true", help="Only the cron window's variants (and --size-*).")
    parser.add_argument("--cron-repeat", type=int, default=15)
    parser.add_argument("--base", type=Path, default=None, help="Another mlrel tree (main) for the cron variants.")
    args = parser.parse_args()
    data = args.data or Path(f"/tmp/mlrel-bench-{args.rows}")
    ref, cur = _logs(args.rows, data)
    policy = data / "policy.yaml"
    if args.cron_only:
        profile = data / "reference-sketch.mlrel-profile"
        if not profile.exists():
            _profile(ref, policy, profile)
        _cron(_cron_window(cur, data), profile, policy, data, args.cron_repeat, args.base)
        if args.size_rows:
            size_data = args.size_data or Path(f"/tmp/mlrel-bench-{args.size_rows}")
            _size(args.size_rows, size_data, args.size_engine, args.size_against, [_cron_window(cur, data), cur])
        return

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
        _size(args.size_rows, args.size_data or Path(f"/tmp/mlrel-bench-{args.size_rows}"), args.size_engine,
              args.size_against, [_cron_window(cur, data), cur])  # fmt: skip


if __name__ == "__main__":
    main()
