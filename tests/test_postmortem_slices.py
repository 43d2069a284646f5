"""`mlrel postmortem`: the slice where the errors rose at the onset is a root-cause candidate."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from tests.conftest import T0_US

INCIDENT = """id: INC-1
title: web checkouts mis-scored
started: 2026-11-23T08:00:00Z
mitigated: 2026-11-23T11:00:00Z
"""


def test_the_slice_whose_errors_rose_is_a_root_cause_candidate(mlrel, write_log, tmp_path) -> None:
    n = 24 * 3600 // 2  # a day, one prediction every 2 s
    rng = np.random.default_rng(0)
    ts = T0_US + np.arange(n, dtype=np.int64) * 2_000_000
    x = rng.normal(size=n)
    device = rng.choice(["ios", "android", "web"], n)
    p = 1 / (1 + np.exp(-2 * x))
    y = (rng.random(n) < p).astype(np.int8)
    score = 1 / (1 + np.exp(-(2 * x + rng.normal(0, 0.5, n))))
    hours = (ts - T0_US) / 3.6e9
    broken = (hours >= 8) & (hours < 11) & (device == "web") & (x >= 0.8416) & (rng.random(n) < 0.6)
    score[broken] = 1 - score[broken]
    log = write_log({
        "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")), "prediction_id": [f"r{i}" for i in range(n)],
        "x": x, "device": device.tolist(), "prediction": score, "label": y,
    })  # fmt: skip
    incident = tmp_path / "incident.yaml"
    incident.write_text(INCIDENT)
    result = mlrel("postmortem", "--incident", incident, "--log", log, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    facts = report["postmortem"]
    assert facts["onset"].startswith("2026-11-23T08:")
    top = facts["weak_segments"][0]
    assert {(c["column"], c["op"]) for c in top["conditions"]} == {("device", "=="), ("x", ">=")}
    assert top["inside"] > top["outside"]  # during vs before
    causes = [c for c in facts["root_causes"] if c["kind"] == "weak_segment"]
    assert causes and "device == web" in causes[0]["summary"]
    assert report["weak_segments"] == facts["weak_segments"]
