"""mlrel validate end to end: each check finds what it should, on logs built in the test."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest
from conftest import T0_US, binary_log, check
from sklearn.metrics import roc_auc_score


def test_samples_pass_with_the_example_policy(mlrel, samples) -> None:
    code, report = mlrel.json(
        "validate",
        samples / "current.parquet",
        "--reference",
        samples / "reference.parquet",
        "--labels",
        samples / "labels.parquet",
        "-p",
        "configs/fraud.yaml",
        "--now",
        "2026-11-24T23:59:00Z",
    )
    assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]
    assert report["command"] == "validate" and report["status"] == "pass"
    assert report["schema_version"] == 1
    for c in report["checks"]:
        assert set(c) >= {"name", "status", "value", "threshold", "details"}
    # the threshold's file is named: fraud.yaml overrides org-base.yaml
    assert check(report, "missing:discount")["source"].endswith("fraud.yaml")
    assert check(report, "range:amount")["threshold"] == 0.005
    assert check(report, "range:amount")["source"].endswith("org-base.yaml")


def test_performance_matches_sklearn_and_labels_join(mlrel, write_log, samples) -> None:
    import pyarrow.parquet as pq

    _code, report = mlrel.json("validate", samples / "current.parquet", "--labels", samples / "labels.parquet")
    log = pq.read_table(samples / "current.parquet").to_pandas()
    labels = pq.read_table(samples / "labels.parquet").to_pandas()
    joined = log.merge(labels, on="prediction_id")
    expected = roc_auc_score(joined["label"], joined["prediction"])
    assert check(report, "performance:roc_auc")["value"] == pytest.approx(expected)
    assert check(report, "label_coverage")["value"] == pytest.approx(len(labels) / len(log))
    assert check(report, "label_lag")["status"] == "pass"


def test_missing_values_fail_against_reference_rate(mlrel, write_log) -> None:
    ref = write_log(binary_log())
    x = binary_log()["x"].copy()
    x[:400] = np.nan  # 20 % missing where the reference had none
    cur = write_log(binary_log(x=pa.array(x, from_pandas=True)))
    code, report = mlrel.json("validate", cur, "--reference", ref)
    c = check(report, "missing:x")
    assert c["status"] == "fail" and c["value"] == pytest.approx(0.2)
    assert c["threshold"] == pytest.approx(0.05) and c["source"].startswith("reference")
    assert code == 1 and report["status"] == "fail"


def test_ranges_from_reference_and_top_offenders(mlrel, write_log) -> None:
    ref = write_log(binary_log())
    x = np.clip(binary_log(seed=1)["x"], -3, 3)
    x[:50] = 1000.0 + np.arange(50)
    cur = write_log(binary_log(seed=1, x=x))
    _, report = mlrel.json("validate", cur, "--reference", ref)
    c = check(report, "range:x")
    assert c["status"] == "fail" and c["value"] == pytest.approx(50 / 2000)
    assert c["details"]["top"][0] == 1049.0 and c["details"]["above"] == 50


def test_declared_range_is_used_without_reference(mlrel, write_log, write_policy) -> None:
    cur = write_log(binary_log())
    policy = write_policy("features:\n  x: {min: -1, max: 1}\n  city: {kind: categorical}\n")
    _, report = mlrel.json("validate", cur, "-p", policy)
    expected = np.mean(np.abs(binary_log()["x"]) > 1)
    assert check(report, "range:x")["value"] == pytest.approx(expected)
    assert check(report, "range:x")["details"]["range_from"] == str(policy)


def test_unseen_categories_with_top_examples(mlrel, write_log) -> None:
    ref = write_log(binary_log())
    city = binary_log(seed=2)["city"]
    city[:30] = ["marseille"] * 20 + ["lille"] * 10
    cur = write_log(binary_log(seed=2, city=city))
    _, report = mlrel.json("validate", cur, "--reference", ref)
    c = check(report, "unseen:city")
    assert c["status"] == "fail" and c["value"] == pytest.approx(30 / 2000)
    assert c["details"]["top"] == [{"value": "marseille", "count": 20}, {"value": "lille", "count": 10}]


def test_allowed_set_in_policy(mlrel, write_log, write_policy) -> None:
    cur = write_log(binary_log())
    policy = write_policy("features:\n  city: {allowed: [paris, lyon]}\n  x: {}\n")
    _, report = mlrel.json("validate", cur, "-p", policy)
    assert check(report, "unseen:city")["details"]["top"][0]["value"] == "nice"


def test_mostly_distinct_strings_are_not_judged_as_categories(mlrel, write_log) -> None:
    cols = binary_log(n=3000)
    cols["session"] = [f"s{i}" for i in range(3000)]
    ref = write_log(cols)
    cur = write_log(binary_log(n=3000, seed=1, session=[f"t{i}" for i in range(3000)]))
    _, report = mlrel.json("validate", cur, "--reference", ref)
    assert check(report, "unseen:session")["status"] == "skipped"


def test_duplicate_ids(mlrel, write_log) -> None:
    ids = [f"id-{i}" for i in range(2000)]
    ids[1] = ids[0]
    ids[2] = ids[0]
    code, report = mlrel.json("validate", write_log(binary_log(prediction_id=ids)))
    c = check(report, "duplicates")
    assert c["status"] == "fail" and c["details"]["duplicate_rows"] == 2
    assert c["details"]["top"] == [{"value": "id-0", "count": 3}]
    assert code == 1


@pytest.mark.parametrize(
    ("prediction", "problem"),
    [
        (np.r_[np.full(10, np.nan), np.full(1990, 0.3)], "invalid"),
        (np.r_[np.full(10, 1.5), np.linspace(0, 1, 1990)], "invalid"),
        (np.full(2000, 0.42), "constant"),
        (np.r_[[np.inf], np.linspace(0, 1, 1999)], "invalid"),
    ],
)
def test_prediction_sanity(mlrel, write_log, write_policy, prediction, problem) -> None:
    policy = write_policy("task: binary_classification\n")
    _, report = mlrel.json("validate", write_log(binary_log(prediction=prediction)), "-p", policy)
    c = check(report, "prediction")
    assert c["status"] == "fail"
    assert problem in c["message"]


def test_freshness_against_now(mlrel, write_log, write_policy) -> None:
    log = write_log(binary_log())  # newest row at T0 + 1999 s
    policy = write_policy("validate:\n  freshness: {max_age: 1h}\n")
    _, report = mlrel.json("validate", log, "-p", policy, "--now", "2026-11-23T03:00:00Z")
    c = check(report, "freshness")
    assert c["status"] == "fail" and c["value"] == pytest.approx(3 * 3600 - 1999)
    _code, report = mlrel.json("validate", log, "-p", policy, "--now", "2026-11-23T00:40:00Z")
    assert check(report, "freshness")["status"] == "pass"


def test_downtime_found_in_a_gap(mlrel, write_log) -> None:
    n = 20_000
    ts = T0_US + np.sort(np.random.default_rng(0).integers(0, 86_400_000_000, n))
    gap = (ts > T0_US + 36_000_000_000) & (ts < T0_US + 39_600_000_000)  # 10:00-11:00 nothing served
    cols = binary_log(n=int((~gap).sum()))
    cols["timestamp"] = pa.array(ts[~gap], type=pa.timestamp("us", tz="UTC"))
    _, report = mlrel.json("validate", write_log(cols))
    c = check(report, "downtime")
    assert c["status"] == "fail"
    gap_found = c["details"]["gaps"][0]
    assert gap_found["start"] <= "2026-11-23T10:05:00Z" and gap_found["end"] >= "2026-11-23T10:55:00Z"
    assert gap_found["empty_windows"] >= 10  # of 12 five-minute windows, the edges may hold a row or two


def test_daily_cycle_is_not_downtime(mlrel, samples) -> None:
    _, report = mlrel.json("validate", samples / "reference.parquet")
    assert check(report, "downtime")["status"] == "pass"


def test_latency_percentiles_against_slo(mlrel, write_log, write_policy) -> None:
    latency = np.arange(1, 1001, dtype=float).repeat(2)
    policy = write_policy("validate:\n  latency: {p99_ms: 900}\n")
    _, report = mlrel.json("validate", write_log(binary_log(latency_ms=latency)), "-p", policy)
    assert check(report, "latency:p50")["value"] == pytest.approx(np.percentile(latency, 50))
    assert check(report, "latency:p99")["status"] == "fail"
    assert check(report, "latency:p95")["status"] == "pass"  # no SLO: reported only


def test_small_segments_reported_not_judged(mlrel, write_log, write_policy) -> None:
    city = ["paris"] * 1950 + ["tiny"] * 50
    policy = write_policy(
        "segments: [city]\nvalidate:\n  performance: {min_segment_size: 100, metrics: {roc_auc: {min: 0.99}}}\n"
    )
    _, report = mlrel.json("validate", write_log(binary_log(city=city)), "-p", policy)
    tiny = next(s for s in report["segments"] if s["value"] == "tiny")
    assert tiny["judged"] is False and tiny["rows"] == 50
    assert not [c for c in report["checks"] if "tiny" in c["name"]]
    assert check(report, "performance:roc_auc[city=paris]")["status"] == "fail"


def test_metric_bound_within_noise_warns_not_fails(mlrel, write_log, write_policy) -> None:
    cols = binary_log(n=400)
    auc = roc_auc_score(cols["label"], cols["prediction"])
    policy = write_policy(f"validate:\n  performance: {{metrics: {{roc_auc: {{min: {auc + 0.01:.4f}}}}}}}\n")
    _, report = mlrel.json("validate", write_log(cols), "-p", policy)
    assert check(report, "performance:roc_auc")["status"] == "warn"
    policy = write_policy(f"validate:\n  performance: {{metrics: {{roc_auc: {{min: {auc + 0.2:.4f}}}}}}}\n")
    _, report = mlrel.json("validate", write_log(cols), "-p", policy)
    assert check(report, "performance:roc_auc")["status"] == "fail"


def test_too_few_labels_is_inconclusive(mlrel, write_log) -> None:
    label = pa.array([1, 0] * 25 + [None] * 1950, type=pa.int8())
    code, report = mlrel.json("validate", write_log(binary_log(label=label)))
    assert check(report, "performance")["status"] == "inconclusive"
    assert code == 3 and report["status"] == "inconclusive"


def test_fairness_gap(mlrel, write_log, write_policy) -> None:
    n = 2000
    city = np.array(["paris", "lyon"] * (n // 2))
    score = np.where(city == "paris", 0.9, 0.1)
    policy = write_policy("validate:\n  fairness: {segment: city, max_gap: 0.1}\n")
    _, report = mlrel.json("validate", write_log(binary_log(city=city.tolist(), prediction=score)), "-p", policy)
    c = check(report, "fairness:city")
    assert c["status"] == "fail" and c["value"] == pytest.approx(1.0)


def test_regression_and_multiclass_tasks_inferred(mlrel, write_log) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 10, 1000)
    _, report = mlrel.json("validate", write_log({"prediction": y + rng.normal(0, 1, 1000), "label": y}))
    assert report["inputs"]["task"] == "regression"
    assert check(report, "performance:rmse")["value"] == pytest.approx(1.0, rel=0.1)
    classes = rng.choice(["cat", "dog", "eel"], 1000)
    _, report = mlrel.json("validate", write_log({"prediction": classes, "label": classes}))
    assert report["inputs"]["task"] == "multiclass_classification"
    assert check(report, "performance:accuracy")["value"] == 1.0


def test_schema_finds_dropped_and_retyped_columns(mlrel, write_log) -> None:
    ref = write_log(binary_log())
    cols = binary_log()
    del cols["latency_ms"]
    cols["x"] = [str(v) for v in cols["x"]]
    _, report = mlrel.json("validate", write_log(cols), "--reference", ref)
    problems = check(report, "schema")["details"]["problems"]
    assert any("latency_ms" in p for p in problems) and any(p.startswith("x:") for p in problems)


def test_iso_string_timestamps_and_hive_directory(mlrel, write_log) -> None:
    for day in ("2026-11-23", "2026-11-24"):
        cols = binary_log(n=1000, seed=int(day[-1]))
        cols["timestamp"] = [f"{day}T{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)][:1000]
        write_log(cols, name=f"hive/date={day}/part-0.parquet")
    log_dir = write_log(binary_log(n=10), name="other.parquet").parent / "hive"
    _, report = mlrel.json("validate", log_dir)
    assert report["inputs"]["rows"] == 2000 and report["inputs"]["files"] == 2
    assert "date" in report["inputs"]["not_checked"]
    assert check(report, "freshness")["details"]["newest"].startswith("2026-11-24T16:39")


def test_glob_of_files(mlrel, write_log) -> None:
    a = write_log(binary_log(n=500, seed=1), name="g/a.parquet")
    write_log(binary_log(n=700, seed=2), name="g/b.parquet")
    _, report = mlrel.json("validate", str(a.parent / "*.parquet"))
    assert report["inputs"]["rows"] == 1200


def test_all_formats_and_output_file(mlrel, samples, tmp_path) -> None:
    log = samples / "current.parquet"
    md = mlrel("validate", log, "--format", "markdown")
    assert md.stdout.startswith("## mlrel validate") and "| status |" in md.stdout
    junit = mlrel("validate", log, "--format", "junit")
    root = ET.fromstring(junit.stdout.split("\n", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == int(root.find("testsuite").get("tests")) > 10
    table = mlrel("validate", log, "--no-color")
    assert "mlrel validate" in table.stdout and "\x1b[" not in table.stdout
    quiet = mlrel("validate", log, "-q")
    assert quiet.stdout.count("\n") == 1 and quiet.stdout.startswith("WARN")
    out = tmp_path / "r.json"
    mlrel("validate", log, "-o", out)
    assert json.loads(out.read_text())["command"] == "validate"
    out_md = tmp_path / "r.md"
    mlrel("validate", log, "-o", out_md, "--format", "json")
    assert out_md.read_text().startswith("## mlrel validate")


def test_history_appends_one_line_per_run(mlrel, samples, tmp_path, write_policy) -> None:
    history = tmp_path / "runs.jsonl"
    mlrel("validate", samples / "current.parquet", "--history", history)
    policy = write_policy("history: policy-runs.jsonl\n", "h/policy.yaml")
    mlrel("validate", samples / "current.parquet", "--history", history)
    mlrel("validate", samples / "current.parquet", "-p", policy)
    lines = history.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["command"] == "validate" for line in lines)
    assert len((policy.parent / "policy-runs.jsonl").read_text().splitlines()) == 1


def test_string_labels_with_a_probability_are_binary(mlrel, write_log, write_policy) -> None:
    cols = binary_log()
    cols["label"] = ["yes" if v else "no" for v in cols["label"]]
    log = write_log(cols)
    result = mlrel("validate", log)
    assert result.exit_code == 2 and "positive_label: 1 is not one of the label values ('no', 'yes')" in result.stderr
    _, report = mlrel.json("validate", log, "-p", write_policy("validate: {performance: {positive_label: 'yes'}}\n"))
    assert report["inputs"]["task"] == "binary_classification"
    expected = roc_auc_score(np.array(cols["label"]) == "yes", cols["prediction"])
    assert check(report, "performance:roc_auc")["value"] == pytest.approx(expected)


def test_logs_addressed_by_file_uri(mlrel, samples) -> None:
    code, report = mlrel.json("validate", (samples / "current.parquet").as_uri())
    assert code == 0 and report["inputs"]["rows"] == 20_000
    import shutil

    folder = samples / "day"
    folder.mkdir()
    shutil.copy(samples / "current.parquet", folder / "part-0.parquet")
    shutil.copy(samples / "current.parquet", folder / "part-1.parquet")
    _, report = mlrel.json("drift", "-r", (samples / "reference.parquet").as_uri(), "-c", folder.as_uri())
    assert report["inputs"]["rows_current"] == 40_000


def test_a_named_label_column_not_yet_in_the_log_is_labels_not_arrived(mlrel, write_log, write_policy) -> None:
    """The policy names columns.label for when labels are joined, and a cron run on a fresh window has none yet:
    the metrics it bounds are inconclusive (exit 3, saying why), the schema passes, drift runs; a near name is
    still a typo, refused."""
    columns = binary_log(1000, seed=3)
    reference = write_log(columns)
    fresh = write_log({k: v for k, v in columns.items() if k != "label"})
    policy = write_policy(
        "task: binary_classification\ncolumns: {label: label}\nvalidate:\n  performance:\n    metrics: {roc_auc: {min: 0.6}}\n"
    )
    code, report = mlrel.json("validate", fresh, "-r", reference, "-p", policy)
    assert code == 3, report["summary"]
    assert check(report, "performance")["status"] == "inconclusive"
    assert "no label column 'label'" in check(report, "performance")["message"]
    assert check(report, "schema")["status"] == "pass"
    code, report = mlrel.json("drift", "-r", reference, "-c", fresh, "-p", policy)
    assert code == 0, report["summary"]
    typo = write_policy("columns: {label: labell}\n")
    result = mlrel("validate", reference, "-p", typo)
    assert result.exit_code == 2 and "columns.label: column 'labell' is not in the log" in result.stderr


def test_scores_stored_as_text_fail_the_prediction_check(mlrel, write_log, write_policy) -> None:
    """A binary log whose scores were written as text ('0.123') read as class names: roc_auc 0.5 with SE 0 on every
    segment while the prediction check passed. Text classes, few or many, still pass."""
    columns = binary_log(1000, seed=5)
    policy = write_policy("task: binary_classification\n")
    as_text = {**columns, "prediction": [f"{p:.6f}" for p in columns["prediction"]]}
    code, report = mlrel.json("validate", write_log(as_text), "-p", policy)
    found = check(report, "prediction")
    assert code == 1 and found["status"] == "fail" and "numbers stored as text" in found["message"], found
    named = {"prediction": np.where(np.asarray(columns["prediction"]) >= 0.5, "fraud", "legit")}
    named["label"] = np.where(np.asarray(columns["label"]) == 1, "fraud", "legit")
    text_policy = write_policy("task: binary_classification\nvalidate:\n  performance: {positive_label: fraud}\n")
    _, report = mlrel.json("validate", write_log({**columns, **named}), "-p", text_policy)
    assert check(report, "prediction")["status"] == "pass"
    many = {**columns, "prediction": [f"class {i % 30}" for i in range(1000)], "label": [f"class {i % 29}" for i in range(1000)]}
    _, report = mlrel.json("validate", write_log(many), "-p", write_policy("task: multiclass_classification\n"))
    assert check(report, "prediction")["status"] == "pass"
