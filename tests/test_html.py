"""--format html: one self-contained file with the charts each command promises, checked in a real headless
browser (screenshots at a laptop's and a phone's width) where one is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
NAMES = ["validate", "drift", "compare", "postmortem"]


def _broken_log(folder: Path) -> None:
    """The demo's healthy log with a failure in every validate family a chart is drawn for."""
    import pandas as pd

    d = pd.read_parquet(folder / "current.parquet")
    rng = np.random.default_rng(0)
    n = len(d)
    d.loc[rng.random(n) < 0.10, "amount"] = np.nan  # missing: a warning
    d.loc[rng.random(n) < 0.03, "amount"] = -5.0  # out of range
    d["device"] = d["device"].where(rng.random(n) > 0.05, "fridge")  # unseen category
    d["latency_ms"] = d["latency_ms"] * 2.5  # past the p95 and p99 SLO
    us = d["country"] == "US"
    d.loc[us, "prediction"] = rng.random(int(us.sum()))  # a segment's roc_auc below its bound
    d.to_parquet(folder / "broken.parquet")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    from typer.testing import CliRunner

    from mlrel_cli.cli.app import app
    from mlrel_cli.samples import write_demo

    folder = tmp_path_factory.mktemp("html")
    write_demo(folder)
    _broken_log(folder)
    runner = CliRunner()
    commands = {
        "validate": ["validate", "broken.parquet", "--labels", "labels.parquet", "-p", "policy.yaml",
                     "--now", "2026-11-24T23:59:00Z"],
        "drift": ["drift", "-r", "reference.parquet", "-c", "incident.parquet", "-p", "policy.yaml", "-w", "15m"],
        "compare": ["compare", "--log", "incident.parquet", "--baseline", "v41", "--candidate", "v42", "-p", "policy.yaml"],
        "postmortem": ["postmortem", "--incident", "incident.yaml", "-p", "policy.yaml", "--log", "incident.parquet",
                       "--registry", "registry.yaml"],
    }  # fmt: skip
    out = {}
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        for name, args in commands.items():
            for fmt in ("html", "json"):
                path = folder / f"{name}.{fmt}"
                result = runner.invoke(app, [*args, "--format", fmt, "-o", str(path)])
                assert result.exit_code in (0, 1), result.stderr
                out[f"{name}.{fmt}"] = path
    finally:
        os.chdir(cwd)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_html_is_self_contained(reports, name) -> None:
    text = reports[f"{name}.html"].read_text()
    assert text.startswith("<!DOCTYPE html>") and "</html>" in text
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"(https?:)?//[a-z0-9]", text.replace("http://www.w3.org/2000/svg", "")), "no URL at all"
    assert "<table" in text and "<svg" in text


def test_drift_draws_every_feature_and_the_onset_window(reports) -> None:
    text = reports["drift.html"].read_text()
    data = json.loads(reports["drift.json"].read_text())
    features = data["features"] + data["outputs"]
    table = text[text.index("id='features'") :]
    for f in features:
        assert f">{f['name']}</b>" in table
    # a distribution and a per-window strip in every row
    assert table.count('aria-label="reference outlined') == len(features)
    assert table.count('aria-label="score per window"') == len(features)
    # the diluted breach of 'amount': its onset window's shares, drawn beside the reference, differ from the whole log
    amount = next(f for f in features if f["name"] == "amount")
    hist = amount["histogram"]
    assert "onset_window" in hist and len(hist["onset_window"]) == len(hist["reference"])
    assert abs(sum(hist["onset_window"]) - 1) < 1e-9
    gap_onset = sum(abs(a - b) for a, b in zip(hist["onset_window"], hist["reference"], strict=True))
    gap_whole = sum(abs(a - b) for a, b in zip(hist["current"], hist["reference"], strict=True))
    assert gap_onset > 3 * gap_whole
    assert "onset window</text>" in text
    # and every other feature's full distribution, folded
    assert text.count("<details class='card'>") == sum(1 for f in features if f["status"] == "pass" and f["histogram"])
    assert "class='sortable'" in text and "id='features-q'" in text  # sortable, filterable


def test_onset_window_shares_match_a_direct_count(reports) -> None:
    """The onset window's shares are the onset window's rows counted into the reference's bins, checked with numpy."""
    import pandas as pd

    data = json.loads(reports["drift.json"].read_text())
    amount = next(f for f in data["features"] if f["name"] == "amount")
    folder = reports["drift.json"].parent
    log = pd.read_parquet(folder / "incident.parquet", columns=["timestamp", "amount"])
    start = pd.Timestamp(amount["onset"])
    window = log[(log["timestamp"] >= start) & (log["timestamp"] < start + pd.Timedelta("15min"))]["amount"].dropna()
    edges = [float(label[2:]) for label in amount["histogram"]["labels"][:-1]]  # '<=x' labels, 3 significant digits
    counts = np.bincount(np.searchsorted(edges, window.to_numpy(), side="left"), minlength=len(edges) + 1)
    np.testing.assert_allclose(counts / counts.sum(), amount["histogram"]["onset_window"], atol=0.03)


def test_one_status_per_check_in_html(reports) -> None:
    """The prediction's card and row say what its check says in JSON (a non-critical output's drift is a warning)."""
    text = reports["drift.html"].read_text()
    data = json.loads(reports["drift.json"].read_text())
    check = next(c for c in data["checks"] if c["name"] == "drift:prediction")
    card = text[text.index("<b>prediction</b>") :][:200]
    assert f">{check['status']}</span>" in card


def test_compare_forest_has_an_axis_directions_and_allowed_regression(reports) -> None:
    text = reports["compare.html"].read_text()
    assert "candidate − baseline</text>" in text and re.search(r">[+-]0\.\d+</text>", text)  # numeric ticks
    assert "better →" in text and "← better" in text  # recall vs log loss
    assert "worse than the allowed regression" in text
    assert "Segment deltas" in text and "country=US (roc_auc)" in text


def test_validate_draws_each_failing_family(reports) -> None:
    text = reports["validate.html"].read_text()
    for title in ("Missing rates", "Out-of-range share", "Unseen categories", "Latency quantiles against the SLO",
                  "Metrics per segment against their bounds"):  # fmt: skip
        assert f">{title}</text>" in text, title
    assert ">fridge</text>" in text  # the unseen category's top value


def test_postmortem_html_has_the_markdown_drafts_sections(reports) -> None:
    text = reports["postmortem.html"].read_text()
    for heading in ("Impact", "Segments hit hardest", "Timeline (UTC)", "Detection and mitigation",
                    "Root-cause candidates", "Notes from the responders", "What went well", "What went wrong",
                    "Where we got lucky", "Action items"):  # fmt: skip
        assert f">{heading}</h" in text, heading
    assert "promote v42 → production" in text  # the stage in the change's label


def test_marker_labels_never_overlap() -> None:
    from mlrel_cli.render.html.charts import CHAR_PX, stagger

    positions = [100.0, 101.0, 102.0, 300.0, 104.0]
    labels = ["register v42 → candidate", "promote v42 → canary", "onset", "detected", "promote v42 → production"]
    rows = stagger(positions, labels)
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            if rows[i] == rows[j]:
                a, b = sorted((i, j), key=lambda k: positions[k])
                assert positions[a] + len(labels[a]) * CHAR_PX < positions[b]
    assert rows[3] == 0  # far away: back on the first row


def test_forest_shades_the_worse_side_beyond_the_allowed_regression() -> None:
    from mlrel_cli.render.html.charts import forest

    def band(better: str) -> tuple[float, float, float]:
        svg = forest([{"label": "m", "delta": 0.05, "low": -0.1, "high": 0.2, "color": "#000", "better": better,
                       "allowed": 0.1}])  # fmt: skip
        x, w = (float(v) for v in re.search(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg).groups())
        zero = float(re.search(r'<line x1="([\d.]+)"[^>]*stroke="#999"', svg).group(1))
        return x, x + w, zero

    low, high, zero = band("higher")  # worse is left of -0.1
    assert high < zero and low < high
    low, high, zero = band("lower")  # worse is right of +0.1
    assert low > zero


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    from mlrel_cli.render.html.charts import nice_ticks

    assert nice_ticks(-0.23, 0.23) == [-0.2, 0.0, 0.2]
    assert nice_ticks(-0.23, 0.23, 9) == [-0.2, -0.1, 0.0, 0.1, 0.2]
    assert nice_ticks(0, 115, 4) == [0, 50, 100]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed (CI installs Debian's chromium)")
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("name", NAMES)
def test_html_renders_in_a_real_browser(reports, name, width, tmp_path) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    uri = reports[f"{name}.html"].as_uri()
    dom = subprocess.run([BROWSER, *flags, "--dump-dom", uri], capture_output=True, text=True, timeout=90, check=False)
    assert "<svg" in dom.stdout and "mlrel " + name in dom.stdout
    assert 'id="features"' in dom.stdout or name != "drift"
    shot = tmp_path / f"{name}-{width}.png"
    subprocess.run([BROWSER, *flags, f"--window-size={width},1600", f"--screenshot={shot}", uri],
                   capture_output=True, timeout=90, check=False)  # fmt: skip
    assert _png_size(shot) == (width, 1600) and shot.stat().st_size > 20_000
    keep = os.environ.get("MLREL_SCREENSHOTS")  # a folder to keep them in, to look at
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
