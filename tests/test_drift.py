"""mlrel drift end to end: the right features flagged, windows and onsets, small samples, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import T0_US

N = 20_000


def _log(seed: int, shift: float = 0.0, new_city: float = 0.0, n: int = N, hours: int = 24) -> dict:
    rng = np.random.default_rng(seed)
    cities = rng.choice(["paris", "lyon", "nice"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_city:
        cities[rng.random(n) < new_city] = "lille"
    x = rng.normal(shift, 1, n)
    score = 1 / (1 + np.exp(-(x + rng.normal(0, 1, n))))
    return {
        "timestamp": pa.array(T0_US + np.sort(rng.integers(0, hours * 3_600_000_000, n)), pa.timestamp("us")),
        "x": x,
        "steady": rng.exponential(2.0, n),
        "city": cities.tolist(),
        "prediction": score,
        "label": (rng.random(n) < 1 / (1 + np.exp(-x))).astype(np.int8),
    }


def feature(report: dict, name: str) -> dict:
    return next(f for f in report["features"] if f["name"] == name)


def test_flags_the_shifted_feature_and_not_the_steady_one(mlrel, write_log) -> None:
    ref, cur = write_log(_log(0)), write_log(_log(1, shift=0.3))
    code, report = mlrel.json("drift", "-r", ref, "-c", cur)
    assert report["command"] == "drift"
    x, steady, city = feature(report, "x"), feature(report, "steady"), feature(report, "city")
    assert x["status"] == "fail" and x["method"] == "wasserstein" and x["score"] == pytest.approx(0.3, abs=0.03)
    assert steady["status"] == "pass" and city["status"] == "pass"
    assert set(x) >= {"name", "kind", "method", "score", "threshold", "status", "onset"}
    assert report["features"][0]["name"] == "x"  # ranked: the drifted one first
    assert code == 0 and report["status"] == "warn"  # 1 of 3 drifted, x not critical, share below 0.5


def test_critical_feature_fails_the_run(mlrel, write_log, write_policy) -> None:
    ref, cur = write_log(_log(0)), write_log(_log(1, shift=0.3))
    code, report = mlrel.json("drift", "-r", ref, "-c", cur, "-p", write_policy("drift: {critical: [x]}\n"))
    assert code == 1 and report["status"] == "fail"
    assert "critical: x" in report["summary"]


def test_share_of_drifted_features_fails_the_run(mlrel, write_log, write_policy) -> None:
    ref, cur = write_log(_log(0)), write_log(_log(1, shift=0.3))
    code, _ = mlrel.json("drift", "-r", ref, "-c", cur, "-p", write_policy("drift: {max_drifted_share: 0.2}\n"))
    assert code == 1


def test_unseen_categories_and_missing_change_reported(mlrel, write_log) -> None:
    cols = _log(1, new_city=0.2)
    cols["steady"] = pa.array(cols["steady"], mask=np.arange(N) % 10 == 0)
    _code, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cols))
    city = feature(report, "city")
    assert city["status"] == "fail"
    assert city["unseen"]["top"][0]["value"] == "lille"
    assert city["unseen"]["fraction"] == pytest.approx(0.2, abs=0.01)
    assert feature(report, "steady")["missing_change"] == pytest.approx(0.1)


def test_window_onset_is_when_the_shift_started(mlrel, write_log) -> None:
    cur = _log(1, n=48_000, hours=24)
    late = cur["timestamp"].cast(pa.int64()).to_numpy() >= T0_US + 15 * 3_600_000_000
    cur["x"] = np.where(late, cur["x"] + 1.0, cur["x"])
    _code, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cur), "--window", "1h")
    x = feature(report, "x")
    assert x["onset"] == "2026-11-23T15:00:00Z"
    assert len(x["windows"]) == 24
    assert all(w["status"] == "pass" for w in x["windows"][:15])
    assert feature(report, "steady")["onset"] is None


def test_nanosecond_timestamps_as_pandas_writes_them_are_windowed(mlrel, write_log) -> None:
    """pandas writes timestamp[ns]: sub-microsecond parts are truncated, not refused as 'not a time'."""
    cur = _log(1, n=4_000)
    us = cur["timestamp"].cast(pa.int64()).to_numpy()
    cur["timestamp"] = pa.array(us * 1000 + 123, pa.timestamp("ns", tz="UTC"))
    code, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cur), "--window", "1h")
    assert code in (0, 1, 3), report.get("error")
    assert len(feature(report, "x")["windows"]) == 24


def test_small_samples_pass_below_the_threshold_and_are_inconclusive_within_noise(mlrel, write_log) -> None:
    """150 unchanged rows: x scores 0.151, above the threshold but within the noise (0.237): inconclusive;
    steady and city score below the threshold: pass (the old rule made all three inconclusive)."""
    code, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(_log(1, n=150)))
    x = feature(report, "x")
    assert x["status"] == "inconclusive" and x["threshold"] < x["score"] <= x["noise"] and "too few" in x["message"]
    for name in ("steady", "city"):
        f = feature(report, name)
        assert f["status"] == "pass" and f["score"] <= f["threshold"] < f["noise"]
    assert code == 0 and report["status"] == "warn"


def test_auto_threshold_calibrated_at_the_current_size(mlrel, write_log, write_policy) -> None:
    policy = write_policy("drift:\n  features:\n    x: {fail: auto}\n    steady: {fail: auto}\n")
    _, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(_log(1, shift=0.5, n=400)), "-p", policy)
    assert feature(report, "x")["status"] == "fail"
    assert feature(report, "steady")["status"] == "pass"
    assert feature(report, "x")["threshold"] == pytest.approx(feature(report, "x")["noise"])


def test_opt_in_tests_are_corrected_across_features(mlrel, write_log, write_policy) -> None:
    policy = write_policy("drift:\n  methods: {numeric: ks, categorical: chi2}\n")
    _, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(_log(1, shift=0.2)), "-p", policy)
    x = feature(report, "x")
    assert x["method"] == "ks" and x["status"] == "fail" and x["score"] < 0.05
    assert x["score"] >= x["p_value"]  # the adjusted p-value is never below the raw one
    assert feature(report, "steady")["status"] == "pass"


def test_prediction_label_and_concept_drift(mlrel, write_log) -> None:
    cur = _log(1)
    cur["prediction"] = np.clip(cur["prediction"] + 0.3, 0, 1)
    cur["label"] = np.random.default_rng(9).integers(0, 2, N).astype(np.int8)  # the labels no longer follow x
    _, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cur))
    outputs = {o["role"]: o for o in report["outputs"]}
    assert outputs["prediction"]["status"] == "fail"
    assert report["concept"]["metric"] == "roc_auc" and report["concept"]["status"] == "fail"
    assert report["status"] == "fail"


def test_all_null_feature_is_reported_not_fatal(mlrel, write_log) -> None:
    cur = _log(1)
    cur["steady"] = pa.array([None] * N, type=pa.float64())
    code, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cur))
    steady = feature(report, "steady")  # every value gone: the missing rate drifted, 0 % -> 100 %
    assert steady["status"] == "fail" and "missing rate 0.0% -> 100.0%" in steady["message"]
    assert code == 0  # not critical: a warn check


def test_samples_and_formats(mlrel, samples) -> None:
    args = ("drift", "-r", samples / "reference.parquet", "-c", samples / "current.parquet")
    code, report = mlrel.json(*args, "--labels", samples / "labels.parquet")
    assert code == 0 and report["status"] == "pass"
    assert {o["role"] for o in report["outputs"]} == {"prediction", "label"}
    _, plain = mlrel.json(*args)
    assert mlrel(*args, "--format", "junit").stdout.count("<testcase") == len(plain["checks"])
    assert "| status |" in mlrel(*args, "--format", "markdown").stdout
    table = mlrel(*args, "--window", "6h", "-v").stdout
    assert "drift:amount" in table and "▁" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--window", "1hour"), "--window"),
        (("--window", "1h"), "--window needs a timestamp column"),
    ],
)
def test_window_errors(mlrel, write_log, args, message) -> None:
    cols = _log(0)
    if "needs" in message:
        del cols["timestamp"]
    result = mlrel("drift", "-r", write_log(cols), "-c", write_log(cols), *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr


def test_column_type_mismatch_names_the_column(mlrel, write_log) -> None:
    cur = _log(1)
    cur["steady"] = [str(v) for v in cur["steady"]]
    result = mlrel("drift", "-r", write_log(_log(0)), "-c", write_log(cur))
    assert result.exit_code == 2 and "column 'steady' is double in the reference but string" in result.stderr


def test_method_that_does_not_fit_the_kind(mlrel, write_log, write_policy) -> None:
    policy = write_policy("drift:\n  features:\n    city: {method: ks}\n")
    result = mlrel("drift", "-r", write_log(_log(0)), "-c", write_log(_log(1)), "-p", policy)
    assert result.exit_code == 2 and "drift.features.city.method: method 'ks' does not apply" in result.stderr


def test_missing_current_log(mlrel, write_log, tmp_path) -> None:
    result = mlrel("drift", "-r", write_log(_log(0)), "-c", tmp_path / "nope.parquet")
    assert result.exit_code == 2 and result.stderr.strip() == f"error: current log not found ({tmp_path / 'nope.parquet'})"


def test_empty_window_is_reported(mlrel, write_log) -> None:
    cur = _log(1)
    ts = cur["timestamp"].cast(pa.int64()).to_numpy()
    keep = (ts < T0_US + 5 * 3_600_000_000) | (ts >= T0_US + 8 * 3_600_000_000)  # nothing from 05:00 to 08:00
    cur = {k: (v.filter(pa.array(keep)) if isinstance(v, pa.Array) else np.asarray(v, dtype=object)[keep].tolist()
               if isinstance(v, list) else v[keep]) for k, v in cur.items()}  # fmt: skip
    _, report = mlrel.json("drift", "-r", write_log(_log(0)), "-c", write_log(cur), "--window", "1h")
    windows = feature(report, "x")["windows"]
    assert windows[5]["rows"] == 0 and windows[5]["status"] == "inconclusive" and windows[5]["score"] is None


def test_id_like_strings_are_not_compared_as_categories(mlrel, write_log) -> None:
    ref, cur = _log(0), _log(1)
    ref["session"] = [f"r{i}" for i in range(N)]
    cur["session"] = [f"c{i}" for i in range(N)]
    code, report = mlrel.json("drift", "-r", write_log(ref), "-c", write_log(cur))
    assert "session" in report["inputs"]["not_compared"] and code == 0
    assert all(f["name"] != "session" for f in report["features"])


def test_proxy_metric_windows_onset_and_documented_fields(mlrel, write_log, write_policy) -> None:
    """A purchase rate that falls to zero for the last six hours: each window's rate by hand (numpy), the onset at
    the first window of the drop, and the entry's fields those docs/drift.md lists, in that order."""
    import datetime as dt
    import re
    from pathlib import Path

    rng = np.random.default_rng(7)
    ref, cur = _log(0), _log(1)
    ref["bought"] = (rng.random(N) < 0.3).astype(np.int8)
    hour = (np.asarray(cur["timestamp"].cast(pa.int64())) - T0_US) // 3_600_000_000
    bought = (rng.random(N) < 0.3) & (hour < 18)
    cur["bought"] = bought.astype(np.int8)
    policy = write_policy("proxy_metrics:\n  bought: {kind: rate, column: bought, min: 0.2}\n")
    code, report = mlrel.json("drift", "-r", write_log(ref), "-c", write_log(cur), "-p", policy, "--window", "1h")

    (entry,) = report["proxy_metrics"]
    doc = (Path(__file__).resolve().parent.parent / "docs" / "drift.md").read_text()
    fields = re.search(r"- `proxy_metrics`[^{]*\{([^}]*)\}", doc).group(1)
    assert list(entry) == [f.strip() for f in fields.replace("\n", " ").split(",")]
    assert [list(w) for w in entry["windows"][:1]] == [["start", "end", "rows", "value", "status"]]
    assert entry["reference"] == pytest.approx(ref["bought"].mean(), abs=1e-12)
    assert entry["current"] == pytest.approx(bought.mean(), abs=1e-12)
    assert [w["rows"] for w in entry["windows"]] == np.bincount(hour, minlength=24).tolist()
    assert [w["value"] for w in entry["windows"]] == pytest.approx([bought[hour == h].mean() for h in range(24)])
    assert {w["status"] for w in entry["windows"][18:]} == {"fail"}
    start = dt.datetime.fromtimestamp(T0_US / 1e6, dt.UTC) + dt.timedelta(hours=18)
    assert entry["onset"] == start.isoformat().replace("+00:00", "Z")
    assert entry["status"] == "pass"  # the whole log's rate (0.225) is above the bound; the windows are not
    check = next(c for c in report["checks"] if c["name"] == "proxy:bought")
    assert check["status"] == "fail" and check["threshold"] == {"min": 0.2, "max": None}
    assert check["details"]["window_status"] == [w["status"] for w in entry["windows"]]
    assert f"bought (since {start:%Y-%m-%d %H:%M})" in report["summary"] and code == 1
