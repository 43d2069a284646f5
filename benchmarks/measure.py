"""Run a command as a whole process and measure it: wall seconds and the child's peak RSS."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "w = time.perf_counter() - t;"
    "sys.stderr.write(r.stderr[-2000:]);"
    "print(r.stdout);"
    "print('MEASURED', w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)"
)


def measure(argv: list[str], allowed: tuple[int, ...] = (0, 1, 3)) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (measured in a fresh helper process, so only this child counts), stdout."""
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    lines = out.stdout.rstrip().splitlines()
    _, wall, rss, code = lines[-1].split()
    if int(code) not in allowed:
        raise SystemExit(f"{' '.join(argv[:4])} ... exited {code}: {out.stderr[-2000:]}")
    return float(wall), float(rss), "\n".join(lines[:-1]).strip()
