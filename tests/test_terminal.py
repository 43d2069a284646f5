"""The terminal report: the real width, readable at 80 columns, snapshots at 80 and 120, next steps on a TTY only."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from mlrel_cli.render.table import render_text
from mlrel_cli.report import Check, Report, Status

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).parent / "snapshots"
DRIFT = [
    "drift", "--reference", "samples/reference.parquet", "--current", "samples/incident.parquet",
    "-p", "configs/fraud.yaml", "--window", "15m",
]  # fmt: skip


def _report() -> Report:
    """A fixed report with what makes rows wide: long names, long messages, window scores, offenders."""
    checks = (
        Check("drift:amount", Status.FAIL, 0.876, 0.1,
              "drifted from 2026-11-25 13:00: wasserstein up to 0.876 > 0.1 per window (whole log 0.0406) [critical]",
              {"window_scores": [0.02, 0.03, 0.02, 0.5, 0.88, 0.7], "window_status": ["pass"] * 3 + ["fail"] * 3}),
        Check("unseen:payment_method_with_a_long_name", Status.WARN, 0.012, 0.01,
              "1.20% of rows have categories the reference never had", {"top": [{"value": "crypto", "count": 240}]}),
        Check("performance:roc_auc[country=BR]", Status.INCONCLUSIVE, None, {"min": 0.7},
              "only 40 labelled rows in this segment; at least 200 are needed to judge"),
        Check("latency:p99", Status.PASS, 120.5, 250.0, "p99 120.5 ms <= 250 ms"),
        Check("label_lag", Status.SKIPPED, None, None, "no labels given"),
    )  # fmt: skip
    return Report(
        command="drift", status=Status.FAIL, summary="1 of 7 features drifted: amount (since 2026-11-25 13:00).",
        checks=checks, generated_at="2026-11-25T14:00:00Z",
    )  # fmt: skip


@pytest.mark.parametrize("width", [80, 120])
def test_table_snapshot(width: int) -> None:
    text = render_text(_report(), width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    snapshot = SNAPSHOTS / f"table_{width}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(text)
    assert text == snapshot.read_text(), f"the table at {width} columns changed; UPDATE_SNAPSHOTS=1 to accept"


def test_narrow_table_puts_details_under_the_check() -> None:
    lines = render_text(_report(), width=80).splitlines()
    row = next(i for i, line in enumerate(lines) if "drift:amount" in line)
    assert "details" not in lines[row - 2 if row >= 2 else 0]
    assert "drifted from 2026-11-25 13:00" in lines[row + 1], "the details follow on the next line"
    wide = render_text(_report(), width=120).splitlines()
    assert any("drift:amount" in line and "drifted from" in line for line in wide), "side by side when wide"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run(
        [sys.executable, "-m", "mlrel_cli", *args], capture_output=True, text=True, cwd=ROOT, env=full_env, check=False
    )


@pytest.mark.parametrize("columns", [80, 120])
def test_piped_output_keeps_to_columns(columns: int) -> None:
    for args in (DRIFT, DRIFT[:-2]):
        result = _run(*args, COLUMNS=str(columns))
        assert result.returncode in (0, 1), result.stderr
        widest = max(len(line) for line in result.stdout.splitlines())
        assert widest <= columns, f"a line of {widest} characters at COLUMNS={columns}"


def _pty(columns: int) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return master, slave


def _read_all(master: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode()


def test_piped_stdout_takes_the_width_of_stderrs_terminal() -> None:
    """`mlrel drift ... | less` in an 80-column terminal: laid out for 80, not a forced 120."""
    master, slave = _pty(80)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mlrel_cli", *DRIFT], stdout=subprocess.PIPE, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    # the terminal is read while the run writes its progress to it: a full pty buffer would block the run
    reader = threading.Thread(target=_read_all, args=(master,), daemon=True)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=60)
    lines = stdout.decode().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert max(len(line) for line in lines) > 60, "it uses the width it has"


def _on_a_terminal(*args: str) -> str:
    master, slave = _pty(100)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mlrel_cli", *args], stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    out = _read_all(master)
    proc.wait(timeout=300)
    return out


def test_compare_reject_suggests_the_rollback_on_a_terminal_only() -> None:
    args = ["compare", "--log", "samples/incident.parquet", "--baseline", "v41", "--candidate", "v42", "-p", "configs/fraud.yaml"]
    assert "next: mlrel rollback checkout-fraud --reason" in _on_a_terminal(*args)
    piped = _run(*args)
    assert piped.returncode == 1 and "next:" not in piped.stdout + piped.stderr


def test_drift_fail_suggests_the_html_report_then_nothing() -> None:
    shown = _on_a_terminal(*DRIFT)
    assert "next: the charts: mlrel drift" in shown and "-o drift.html" in shown
    assert "next:" not in _on_a_terminal(*DRIFT, "-o", "/dev/null", "--format", "html")
    for fmt in ("json", "junit"):
        assert "next:" not in _run(*DRIFT, "--format", fmt).stdout


def test_drift_fail_without_a_window_suggests_one(monkeypatch) -> None:
    from mlrel_cli.cli.emit import drift_hint

    monkeypatch.setattr(sys, "argv", ["mlrel", "drift", "-r", "ref.parquet", "-c", "cur.parquet"])
    failed = _report()
    assert drift_hint(None, None)(failed) == "since when: mlrel drift -r ref.parquet -c cur.parquet --window 1h"
    assert drift_hint(None, None)(Report("drift", Status.PASS, "ok", ())) is None
