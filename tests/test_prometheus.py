"""The docs' recipes against real servers: a Pushgateway, a Prometheus scraping it with the alert rule, and an
Alertmanager routing to a local webhook receiver; the cron line runs twice, failing then passing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webhook_receiver
import yaml
from conftest import binary_log

pytest.importorskip("prometheus_client", reason="the metrics extra (prometheus_client) is not installed")
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "alerting.md").read_text()
BINARIES = {"pushgateway": "prometheus-pushgateway", "prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}


def doc_block(language: str, containing: str) -> str:
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S) if containing in b]
    assert len(blocks) == 1, f"docs/alerting.md: one ```{language} block with {containing!r}"
    return blocks[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    pushgateway: str
    prometheus: str
    receiver: webhook_receiver.Receiver

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return get_json(url)["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return get_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = [pkg for pkg in BINARIES.values() if shutil.which(pkg) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (Debian packages; .ci/run installs them as root)")
    work = tmp_path_factory.mktemp("prometheus")
    receiver = webhook_receiver.start()
    ports = {name: free_port() for name in BINARIES}

    rules = work / "rules.yml"
    rules.write_text(doc_block("yaml", "MlrelCheckFailed"))
    route = yaml.safe_load(doc_block("yaml", "webhook_configs"))
    route["receivers"][1]["webhook_configs"][0]["url"] = receiver.url("/alerts")
    # the docs' waits suit production; the test cannot wait 30 s per step
    route["route"].update(group_wait="1s", group_interval="1s")
    (work / "alertmanager.yml").write_text(yaml.safe_dump(route))
    scrape = yaml.safe_load(doc_block("yaml", "honor_labels"))
    scrape["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{ports['pushgateway']}"]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        **scrape,
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))

    commands = {
        "pushgateway": [BINARIES["pushgateway"], f"--web.listen-address=127.0.0.1:{ports['pushgateway']}"],
        "alertmanager": [
            BINARIES["alertmanager"],
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'am'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",
        ],
        "prometheus": [
            BINARIES["prometheus"],
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--rules.alert.resend-delay=1s",
        ],
    }
    processes = []
    try:
        for name, argv in commands.items():
            log = open(work / f"{name}.log", "w")  # noqa: SIM115 (closed with the process below)
            processes.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))
        for name, port in ports.items():
            url = f"http://127.0.0.1:{port}/-/ready"
            wait_for(f"{name} to be ready", lambda url=url: urllib.request.urlopen(url, timeout=2).status == 200, 30)
        yield Stack(f"http://127.0.0.1:{ports['pushgateway']}", f"http://127.0.0.1:{ports['prometheus']}", receiver)
    finally:
        for process, _ in processes:
            process.terminate()
        for process, log in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
        receiver.server.shutdown()


def cron_argv(pushgateway: str, textfile_dir: Path) -> tuple[str, list[str]]:
    """The docs' crontab line: its directory and its mlrel command, with this test's Pushgateway and textfile dir."""
    line = doc_block("crontab", "mlrel validate").strip()
    fields = line.split(None, 5)
    assert len(fields) == 6 and fields[0] == "*/15", "five schedule fields, then the command"
    cd, _, command = fields[5].partition(" && ")
    argv = shlex.split(command)
    assert cd.startswith("cd ") and argv[0] == "mlrel"
    argv[argv.index("--pushgateway") + 1] = pushgateway
    out = argv.index("-o") + 1
    argv[out] = str(textfile_dir / Path(argv[out]).name)
    return cd[3:], [sys.executable, "-m", "mlrel_cli", *argv[1:]]


def write_logs(directory: Path, newest_s: float) -> None:
    cols = binary_log()
    n = len(cols["x"])
    start_us = int((newest_s - n) * 1_000_000)
    cols["timestamp"] = pa.array(start_us + np.arange(n, dtype=np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC"))
    (directory / "logs").mkdir(exist_ok=True)
    pq.write_table(pa.table(cols), directory / "logs" / "current.parquet")
    pq.write_table(pa.table(binary_log(seed=5)), directory / "logs" / "reference.parquet")


def test_cron_runs_reach_prometheus_and_alertmanager(stack: Stack, tmp_path: Path) -> None:
    docs_dir, argv = cron_argv(stack.pushgateway, tmp_path / "textfile")
    assert docs_dir == "/srv/fraud"
    job = tmp_path / "srv-fraud"
    job.mkdir()
    (tmp_path / "textfile").mkdir()
    (job / "policy.yaml").write_text(
        "model: checkout-fraud\ncolumns: {id: prediction_id, latency: latency_ms}\nvalidate:\n  freshness: {max_age: 30m}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    model = '{model="checkout-fraud",command="validate",job="mlrel"}'

    write_logs(job, time.time() - 86_400)  # yesterday's log: stale, freshness fails
    failing = subprocess.run(argv, cwd=job, env=env, capture_output=True, text=True, timeout=120)
    assert failing.returncode == 1, failing.stderr
    assert failing.stderr == ""  # pushed: no warning
    wait_for("exit code 1 in Prometheus", lambda: [r for r in stack.query(f"mlrel_run_exit_code{model}") if r["value"][1] == "1"])
    (series,) = stack.query('mlrel_check_status{model="checkout-fraud",check="freshness"}')
    assert series["metric"]["status"] == "fail" and series["value"][1] == "4"
    prom = (tmp_path / "textfile" / "mlrel_validate.prom").read_text()
    assert any(f.name == "mlrel_check_status" for f in text_string_to_metric_families(prom))
    firing = wait_for(
        "the alert rule to fire",
        lambda: [a for a in stack.alerts() if a["labels"]["alertname"] == "MlrelCheckFailed" and a["state"] == "firing"],
    )
    assert firing[0]["labels"]["model"] == "checkout-fraud" and firing[0]["labels"]["severity"] == "page"
    sent = wait_for("Alertmanager's notification", lambda: stack.receiver.requests("/alerts"))
    assert sent[0].body["status"] == "firing" and sent[0].body["alerts"][0]["labels"]["alertname"] == "MlrelCheckFailed"

    write_logs(job, time.time())  # fresh rows arrived: the next run passes
    passing = subprocess.run(argv, cwd=job, env=env, capture_output=True, text=True, timeout=120)
    assert passing.returncode == 0, passing.stderr
    wait_for("exit code 0 in Prometheus", lambda: [r for r in stack.query(f"mlrel_run_exit_code{model}") if r["value"][1] == "0"])
    (series,) = stack.query('mlrel_check_status{model="checkout-fraud",check="freshness"}')
    assert series["metric"]["status"] == "pass"  # the group was replaced: no stale "fail" series
    wait_for("the alert to resolve", lambda: not [a for a in stack.alerts() if a["labels"]["alertname"] == "MlrelCheckFailed"])
    wait_for("Alertmanager's resolve", lambda: [r for r in stack.receiver.requests("/alerts") if r.body["status"] == "resolved"])
    history = [json.loads(line) for line in (job / "runs.jsonl").read_text().splitlines()]
    assert [h["alerting"]["pushgateway"]["delivered"] for h in history] == [True, True]
