#!/usr/bin/env python3
"""Benchmark: `mlrel drift` against Evidently, NannyML and a bare pyarrow + numpy floor.

The data and the floor are the shared ones (../shared/bench, beside the
repository): 25 features, drift injected in f0..f4 and c0. Each tool runs as
a whole process, one after another, `--repeat` times; the median wall time,
the peak RSS and the columns each flags are printed.

    python benchmarks/bench_drift.py --rows 1000000 [--repeat 3] [--others]

`--others` also runs Evidently (0.7.23, DataDriftPreset) and NannyML
(UnivariateDriftCalculator, KS and chi-square, one chunk) from their own
virtual environment (`--venv`, created on first use; they are not project
dependencies).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "bench"
FEATURES = [f"f{i}" for i in range(20)] + [f"c{i}" for i in range(5)]
TRUE_DRIFT = {"f0", "f1", "f2", "f3", "f4", "c0"}

EVIDENTLY = textwrap.dedent(
    """
    import sys, pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset
    cols = sys.argv[3].split(",")
    ref = pd.read_parquet(sys.argv[1], columns=cols)
    cur = pd.read_parquet(sys.argv[2], columns=cols)
    result = Report([DataDriftPreset(columns=cols)]).run(cur, ref).dict()
    flagged = []
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            test = "p_value" in config["method"].lower() or "test" in config["method"].lower()
            value, threshold = metric["value"], config["threshold"]
            if (value < threshold) if test else (value >= threshold):
                flagged.append(config["column"])
    print("FLAGGED", ",".join(flagged))
    """
)

NANNYML = textwrap.dedent(
    """
    import sys, warnings, pandas as pd, nannyml as nml
    warnings.simplefilter("ignore")
    cols = sys.argv[3].split(",")
    ref = pd.read_parquet(sys.argv[1], columns=cols)
    cur = pd.read_parquet(sys.argv[2], columns=cols)
    calc = nml.UnivariateDriftCalculator(column_names=cols, continuous_methods=["kolmogorov_smirnov"],
                                         categorical_methods=["chi2"], chunk_number=1)
    calc.fit(ref)
    out = calc.calculate(cur).filter(period="analysis").to_df()
    flagged = [c for c in cols
               for m in (["chi2"] if c.startswith("c") else ["kolmogorov_smirnov"])
               if bool(out[(c, m, "alert")].any())]
    print("FLAGGED", ",".join(flagged))
    """
)

MLREL_FLAGS = textwrap.dedent(
    """
    import json, sys
    report = json.load(open(sys.argv[1]))
    print("FLAGGED", ",".join(f["name"] for f in report["features"] if f["status"] == "fail"))
    """
)


def score(flagged: set[str]) -> str:
    tp, fp = flagged & TRUE_DRIFT, flagged - TRUE_DRIFT
    missed = TRUE_DRIFT - flagged
    return f"TP={len(tp)}/6 FP={len(fp)}/19 fp={','.join(sorted(fp)) or '-'} missed={','.join(sorted(missed)) or '-'}"


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "evidently==0.7.23", "pandas<3", "nannyml"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--others", action="store_true", help="also run Evidently and NannyML")
    parser.add_argument("--venv", type=Path, default=HERE / "data" / "venv-others")
    parser.add_argument("--data", type=Path, default=HERE / "data")
    args = parser.parse_args()

    data = args.data / f"drift_{args.rows}"
    ref, cur = data / "reference.parquet", data / "current.parquet"
    if not (ref.exists() and cur.exists()):
        subprocess.run([sys.executable, str(SHARED / "make_logs.py"), "--rows", str(args.rows), "--out", str(data)],
                       check=True)  # fmt: skip
    policy = data / "policy.yaml"
    policy.write_text("columns: {id: request_id}\n")  # the shared logs name their id column request_id
    report = data / "mlrel-drift.json"

    runs: dict[str, list[str]] = {
        "mlrel drift": [sys.executable, "-m", "mlrel_cli", "drift", "-r", str(ref), "-c", str(cur), "-p", str(policy),
                        "-q", "-o", str(report)],
        "floor (bare pyarrow+numpy)": [sys.executable, str(SHARED / "floor_fast.py"), str(ref), str(cur)],
    }  # fmt: skip
    if args.others:
        python = str(ensure_venv(args.venv))
        cols = ",".join(FEATURES)
        runs["nannyml (ks/chi2, 1 chunk)"] = [python, "-c", NANNYML, str(ref), str(cur), cols]
        runs["evidently (DataDriftPreset)"] = [python, "-c", EVIDENTLY, str(ref), str(cur), cols]

    print(f"rows per side={args.rows:,}  features=25  repeat={args.repeat}")
    for name, argv in runs.items():
        results = [measure(argv) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in results)
        rss = max(r[1] for r in results)
        stdout = results[-1][2]
        if name == "mlrel drift":
            stdout = subprocess.run([sys.executable, "-c", MLREL_FLAGS, str(report)], capture_output=True,
                                    text=True, check=True).stdout  # fmt: skip
        flagged_line = next((line for line in stdout.splitlines() if line.startswith("FLAGGED")), None)
        if flagged_line is not None:
            flagged = {c for c in flagged_line.removeprefix("FLAGGED").strip().split(",") if c}
            verdict = score(flagged)
        else:
            verdict = stdout.strip().splitlines()[-1][-120:] if stdout.strip() else ""
        print(f"{name:30s} {wall:7.2f} s  peak {rss:7.0f} MiB  {verdict}")


if __name__ == "__main__":
    main()
