#!/usr/bin/env python3
"""Benchmark: `mlrel rollback --yes` on a registry of 1,000 versions and 10,000 history events.

Rollback is on the incident's critical path; the target is under 1 s wall
as a whole process, import time included.

    python benchmarks/bench_rollback.py [--versions 1000] [--events 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def make_registry(path: Path, versions: int, events: int) -> None:
    history = []
    names = [f"v{i}" for i in range(versions)]
    for i in range(events):
        a, b = names[i % versions], names[(i + 1) % versions]
        history.append(
            {"time": f"2026-{1 + i // 900 % 12:02d}-01T00:00:{i % 60:02d}.{i:06d}Z", "actor": "ci", "action": "promote",
             "from": a, "to": b, "stage": "production", "reason": f"release {i}"}
        )  # fmt: skip
    production = history[-1]["to"]
    ledger = path.with_name(path.stem + ".history.jsonl")
    ledger.write_text("".join(json.dumps({"model": "fraud", **event}) + "\n" for event in history))
    record = {
        "production": production,
        "fallback": names[0],
        "versions": [
            {"version": n, "artifact": f"s3://models/fraud/{n}", "code_version": f"{i:040x}",
             "created": "2026-01-01T00:00:00Z", "status": "production" if n == production else "retired"}
            for i, n in enumerate(names)
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump({"version": 1, "models": {"fraud": record}, "events": events}, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    original = data / "original" / "registry.yaml"
    original.parent.mkdir(exist_ok=True)
    make_registry(original, args.versions, args.events)
    work = data / "registry.yaml"
    times = []
    for _ in range(args.repeat):
        shutil.copy(original, work)
        shutil.copy(original.with_name("registry.history.jsonl"), data / "registry.history.jsonl")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mlrel_cli", "rollback", "fraud", "--reason", "bench", "--yes", "-q",
             "--registry", str(work)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlrel_cli", "--version"], check=True, stdout=subprocess.DEVNULL)
    startup = time.perf_counter() - start
    size = (original.stat().st_size + original.with_name("registry.history.jsonl").stat().st_size) / 2**20
    print(f"registry: {args.versions:,} versions, {args.events:,} events, {size:.1f} MiB")
    print(f"mlrel rollback --yes: median {statistics.median(times):.3f} s, max {max(times):.3f} s (target < 1 s)")
    print(f"mlrel --version (interpreter + CLI start-up): {startup:.3f} s")


if __name__ == "__main__":
    main()
