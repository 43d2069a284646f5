"""mlrel demo: the whole story runs on a fresh folder and leaves its files."""

from __future__ import annotations

import subprocess
import sys


def test_demo_walks_through_the_incident(tmp_path) -> None:
    folder = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", "demo", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout
    for command in ("mlrel registry history", "mlrel validate", "mlrel drift", "mlrel compare", "mlrel rollback",
                    "mlrel postmortem", "mlrel drill"):  # fmt: skip
        assert f"$ cd {folder} && {command}" in out
    assert "amount (since 2026-11-25 13:00)" in out
    assert "reject: v42" in out and "rolled back from v42 to v41" in out
    assert "3 of 3 faults caught" in out and "fault:traffic_gap" in out
    for name in ("POSTMORTEM.md", "POSTMORTEM.png", "drift.html", "compare.html", "validate.md", "registry.yaml",
                 "drill.html"):  # fmt: skip
        assert (folder / name).exists(), name
    assert "v42 promoted to production" in (folder / "POSTMORTEM.md").read_text()
