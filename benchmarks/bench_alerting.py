"""Added wall time per run of --notify and --pushgateway, with the targets answering on 127.0.0.1.

Two measures on the sample logs (a validate run that fails freshness, so a notification is sent):
- in process: the alerting step alone (imports, plan, history read, delivery, push), first call in a fresh
  process, so the imports it triggers are counted;
- whole processes: the median wall time of `mlrel validate -q` with and without the options.

    python benchmarks/bench_alerting.py --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "validate",
    str(ROOT / "samples/current.parquet"),
    "--reference",
    str(ROOT / "samples/reference.parquet"),
    "--labels",
    str(ROOT / "samples/labels.parquet"),
    "-p",
    str(ROOT / "configs/fraud.yaml"),
    "-q",
]

IN_PROCESS = """
import sys, time, json
from pathlib import Path
from mlrel_cli.policy import load_policy
from mlrel_cli.logs import open_log
from mlrel_cli.analysis.validate import validate
root, history = sys.argv[1], Path(sys.argv[2])
notify, gateway = sys.argv[3].split(",") if sys.argv[3] else [], sys.argv[4] or None
policy = load_policy(f"{root}/configs/fraud.yaml")
report = validate(open_log(f"{root}/samples/current.parquet", "log"), policy,
                  reference=open_log(f"{root}/samples/reference.parquet", "reference"),
                  labels=open_log(f"{root}/samples/labels.parquet", "labels"))
start, cpu = time.perf_counter(), time.process_time()
from mlrel_cli.alerting import alert, plan
out = alert(report, plan(policy, notify, gateway, history), history)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
section = out.sections.get("alerting", {})
ok = all(d["delivered"] for d in section.get("deliveries", [])) and section.get("pushgateway", {}).get("delivered", True)
print(json.dumps({"seconds": elapsed, "cpu": cpu, "ok": ok, "sent": len(section.get("deliveries", []))}))
"""


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    opts = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "BENCH_HOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/hook"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    gateway = None
    process = None
    if shutil.which("prometheus-pushgateway"):
        port = free_port()
        process = subprocess.Popen(
            ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        gateway = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{gateway}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
    else:
        print("prometheus-pushgateway not installed: --pushgateway not measured")

    modes: dict[str, tuple[list[str], str, str | None]] = {
        "baseline (--history only)": ([], "", None),
        "--notify (a trigger sent)": (["--notify", "webhook:BENCH_HOOK_URL"], "webhook:BENCH_HOOK_URL", None),
    }
    if gateway:
        modes["--pushgateway"] = (["--pushgateway", gateway], "", gateway)
        both = ["--notify", "webhook:BENCH_HOOK_URL", "--pushgateway", gateway]
        modes["--notify and --pushgateway"] = (both, "webhook:BENCH_HOOK_URL", gateway)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"{'mode':30} {'alerting step: wall':>24} {'CPU':>10} {'whole run, median':>20}")
            whole_base = None
            for name, (flags, notify, push) in modes.items():
                steps, cpus, wholes = [], [], []
                for i in range(opts.repeat):
                    history = Path(tmp) / f"{len(steps)}-{name[:4]}-{i}.jsonl"  # fresh: each run is a new incident
                    argv = [sys.executable, "-c", IN_PROCESS, str(ROOT), str(history), notify, push or ""]
                    result = json.loads(subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout)
                    assert result["ok"], result
                    steps.append(result["seconds"])
                    cpus.append(result["cpu"])
                    history = Path(tmp) / f"whole-{name[:4]}-{i}.jsonl"
                    start = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "mlrel_cli", *ARGS, "--history", str(history), *flags], env=env,
                                   capture_output=True)  # fmt: skip
                    wholes.append(time.perf_counter() - start)
                whole = statistics.median(wholes)
                whole_base = whole_base if whole_base is not None else whole
                step = f"{statistics.median(steps) * 1000:.1f} ms (min {min(steps) * 1000:.1f})"
                cpu = f"{statistics.median(cpus) * 1000:.1f} ms"
                print(f"{name:30} {step:>24} {cpu:>10} {whole:>8.3f} s ({(whole - whole_base) * 1000:+.0f} ms)")
    finally:
        server.shutdown()
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
