"""--format html: one self-contained file, checked in a real headless browser where one is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    from typer.testing import CliRunner

    from mlrel_cli.cli.app import app

    folder = tmp_path_factory.mktemp("html")
    from mlrel_cli.samples import write_demo

    write_demo(folder)
    runner = CliRunner()
    commands = {
        "validate": ["validate", "current.parquet", "--labels", "labels.parquet", "-p", "policy.yaml",
                     "--now", "2026-11-24T23:59:00Z"],
        "drift": ["drift", "-r", "reference.parquet", "-c", "incident.parquet", "-p", "policy.yaml", "-w", "15m"],
        "compare": ["compare", "--log", "incident.parquet", "--baseline", "v41", "--candidate", "v42", "-p", "policy.yaml"],
        "postmortem": ["postmortem", "--incident", "incident.yaml", "-p", "policy.yaml", "--log", "incident.parquet",
                       "--registry", "registry.yaml"],
    }  # fmt: skip
    out = {}
    import os

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for name, args in commands.items():
            path = folder / f"{name}.html"
            result = runner.invoke(app, [*args, "-o", str(path)])
            assert result.exit_code in (0, 1), result.stderr
            out[name] = path
    finally:
        os.chdir(cwd)
    return out


@pytest.mark.parametrize("name", ["validate", "drift", "compare", "postmortem"])
def test_html_is_self_contained(reports, name) -> None:
    text = reports[name].read_text()
    assert text.startswith("<!DOCTYPE html>") and "</html>" in text
    assert "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "nothing may be fetched"
    assert "<table>" in text
    if name != "validate":
        assert "<svg" in text


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed (CI installs Debian's chromium)")
@pytest.mark.parametrize("name", ["drift", "compare", "postmortem"])
def test_html_renders_in_a_real_browser(reports, name, tmp_path) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([BROWSER, *flags, "--dump-dom", reports[name].as_uri()], capture_output=True, text=True,
                         timeout=90, check=False)  # fmt: skip
    assert "<svg" in dom.stdout and "mlrel " + name in dom.stdout
    shot = tmp_path / f"{name}.png"
    subprocess.run([BROWSER, *flags, "--window-size=1200,1400", f"--screenshot={shot}", reports[name].as_uri()],
                   capture_output=True, timeout=90, check=False)  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
