"""Run a command as a whole process and measure it: wall seconds, the child's peak RSS and CPU seconds."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "w = time.perf_counter() - t;"
    "sys.stderr.write(r.stderr[-2000:]);"
    "print(r.stdout);"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print('MEASURED', w, u.ru_maxrss / 1024, r.returncode, u.ru_utime + u.ru_stime)"
)


def measure(argv: list[str], allowed: tuple[int, ...] = (0, 1, 3), env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB (measured in a fresh helper process, so only this child counts), stdout."""
    wall, rss, _, stdout = measure_cpu(argv, allowed, env)
    return wall, rss, stdout


def measure_cpu(
    argv: list[str], allowed: tuple[int, ...] = (0, 1, 3), env: dict[str, str] | None = None
) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS in MiB, CPU seconds (user + system of the child alone, not the helper's) and stdout;
    ``env`` replaces the environment of the helper and the child."""
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, env=env)
    lines = out.stdout.rstrip().splitlines()
    _, wall, rss, code, cpu = lines[-1].split()
    if int(code) not in allowed:
        raise SystemExit(f"{' '.join(argv[:4])} ... exited {code}: {out.stderr[-2000:]}")
    return float(wall), float(rss), float(cpu), "\n".join(lines[:-1]).strip()
