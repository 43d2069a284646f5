"""Reports that never contradict themselves: one status and one breaching value everywhere."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
from conftest import T0_US, binary_log, check


def _windowed(n: int, seed: int, shift_from: int | None) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    if shift_from is not None:
        x[shift_from:] += 0.5  # the last hours move by half an sd: diluted by the hours before in the whole log
    return {
        "timestamp": pa.array(T0_US + np.arange(n, dtype=np.int64) * 3_600_000_000 * 12 // n, type=pa.timestamp("us", tz="UTC")),
        "x": x,
        "prediction": rng.random(n),
    }


def test_breaching_windows_make_one_fail_story(mlrel, write_log) -> None:
    """12 hours, x moved by 0.5 sd in the last 1.5: whole-log score under 0.1, windows far above it."""
    n = 48_000
    ref, cur = write_log(_windowed(n, 1, None)), write_log(_windowed(n, 2, n - n // 8))
    args = ("drift", "-r", ref, "-c", cur, "--window", "1h", "-p", write_log({"a": [1]}).with_suffix(".yaml"))
    args[-1].write_text("drift:\n  critical: [x]\n")
    code, report = mlrel.json(*args)
    feature = next(f for f in report["features"] if f["name"] == "x")
    found = check(report, "drift:x")
    assert code == 1 and feature["onset"] is not None
    assert feature["status"] == found["status"] == "fail"
    assert found["value"] == feature["score"] > found["threshold"]  # the breaching window's value
    assert found["value"] == max(w["score"] for w in feature["windows"] if w["status"] == "fail")
    assert found["details"]["whole_log_score"] == feature["whole_log_score"] < found["threshold"]
    import xml.etree.ElementTree as ET

    cases = {c.get("name"): c for c in ET.fromstring(mlrel(*args, "--format", "junit").stdout).iter("testcase")}
    assert cases["drift:x"].find("failure") is not None


def test_compare_positive_rate_is_two_sided_and_no_nan_interval(mlrel, write_log) -> None:
    base = binary_log(3000, seed=1)
    cand = binary_log(3000, seed=2)
    cand["prediction"] = np.clip(np.asarray(cand["prediction"]) + 0.15, 0, 1)  # more positives
    _, report = mlrel.json("compare", "--baseline-log", write_log(base), "--candidate-log", write_log(cand))
    metrics = report["candidates"][0]["metrics"]
    assert metrics["positive_rate"]["higher_is_better"] is None
    assert metrics["positive_rate"]["classification"] == "fail" and not metrics["positive_rate"]["gating"]
    assert "nan" not in json.dumps(report).lower().replace("nan_", "")


def test_a_freshness_slo_without_timestamps_is_inconclusive(mlrel, write_log, write_policy) -> None:
    log = binary_log(500)
    log["timestamp"] = pa.array([None] * 500, type=pa.timestamp("us", tz="UTC"))
    policy = write_policy("validate:\n  freshness: {max_age: 30m}\n")
    code, report = mlrel.json("validate", write_log(log), "-p", policy)
    assert code == 3 and check(report, "freshness")["status"] == "inconclusive"
    assert "cannot be judged" in check(report, "freshness")["message"]


def test_timestamps_in_the_future_beyond_the_clock_skew_fail(mlrel, write_log) -> None:
    log = binary_log(500)  # served from 2026-11-23T00:00Z on
    code, report = mlrel.json("validate", write_log(log), "--now", "2026-04-23T00:00:00Z")  # 214 days before
    found = check(report, "freshness")
    assert code == 1 and found["status"] == "fail" and "clock-skew allowance" in found["message"]
    code, report = mlrel.json("validate", write_log(log), "--now", "2026-11-23T00:06:00Z")  # 2 minutes early: skew
    assert check(report, "freshness")["status"] == "pass"


def test_a_latency_slo_without_latencies_is_inconclusive(mlrel, write_log, write_policy) -> None:
    log = binary_log(500)
    log["latency_ms"] = pa.array([None] * 500, type=pa.float64())
    code, report = mlrel.json("validate", write_log(log), "-p", write_policy("validate:\n  latency: {p99_ms: 100}\n"),
                              "--now", "2026-11-23T00:10:00Z")  # fmt: skip
    assert code == 3 and check(report, "latency:p99")["status"] == "inconclusive"
