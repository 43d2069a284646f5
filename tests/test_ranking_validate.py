"""Ranking logs and proxy metrics in validate, on the generated search-ranking samples."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import check

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "configs" / "search-ranking.yaml"
GOOD, BAD = ROOT / "samples" / "ranking_reference.parquet", ROOT / "samples" / "ranking_current.parquet"


def test_good_day_passes_and_bad_release_fails(mlrel) -> None:
    code, report = mlrel.json("validate", GOOD, "-p", POLICY)
    assert code == 0 and check(report, "performance:ndcg@10")["status"] == "pass"
    code, report = mlrel.json("validate", BAD, "-p", POLICY)
    assert code == 1
    assert check(report, "performance:ndcg@10")["status"] == "fail"
    assert check(report, "proxy:conversion")["status"] == "fail"
    assert check(report, "performance:mrr")["value"] < check(report, "performance:ndcg@10")["value"]


def test_ranking_without_query_column(mlrel, write_log, write_policy) -> None:
    log = write_log(pq.read_table(GOOD).drop(["query_id"]))
    policy = write_policy("task: ranking\ncolumns: {prediction: score, label: clicked, position: position}\n")
    result = mlrel("validate", log, "-p", policy)
    assert result.exit_code == 2 and "columns.query" in result.stderr


def test_positions_must_be_integers(mlrel, write_log) -> None:
    table = pq.read_table(GOOD)
    table = table.set_column(
        table.schema.get_field_index("position"), "position", pa.compute.cast(table["position"], pa.float64())
    )
    result = mlrel("validate", write_log(table), "-p", POLICY)
    assert result.exit_code == 2 and "must hold integers" in result.stderr


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("{kind: mean, column: revenu}", "column 'revenu' is not in the log"),
        ("{kind: mean, column: device}", "is string, not numeric"),
        ("{kind: ratio, numerator: purchased}", "proxy_metrics.m.denominator: a ratio metric needs it"),
    ],
)
def test_bad_proxy_metrics(mlrel, write_policy, metric, message) -> None:
    policy = write_policy(f"extends: {POLICY}\nproxy_metrics:\n  m: {metric}\n")
    result = mlrel("validate", GOOD, "-p", policy)
    assert result.exit_code == 2 and message in result.stderr


def test_ratio_with_zero_denominator_is_inconclusive(mlrel, write_log, write_policy) -> None:
    table = pq.read_table(GOOD).append_column("zero", pa.array([0.0] * pq.read_metadata(GOOD).num_rows))
    policy = write_policy(
        f"extends: {POLICY}\nproxy_metrics:\n  per_zero: {{kind: ratio, numerator: revenue, denominator: zero}}\n"
    )
    _, report = mlrel.json("validate", write_log(table), "-p", policy)
    assert check(report, "proxy:per_zero")["status"] == "inconclusive"


def test_compare_rejects_the_bad_ranking_model(mlrel) -> None:
    code, report = mlrel.json("compare", "--log", BAD, "--baseline", "v7", "--candidate", "v8", "-p", POLICY)
    assert code == 1 and report["verdict"] == "reject"
    metrics = report["candidates"][0]["metrics"]
    assert metrics["ndcg"]["classification"] == "fail" and metrics["ndcg"]["gating"]
    assert metrics["conversion"]["ci_high"] < 0  # resampled by whole queries
    assert "mrr" in metrics and "no_engagement" in metrics


def test_compare_equal_ranking_models_is_not_rejected(mlrel, write_log) -> None:
    table = pq.read_table(GOOD)
    half = pa.compute.less(pa.compute.cast(table["position"], pa.int64()), 100)  # every row
    queries = table["query_id"].to_numpy(zero_copy_only=False)
    version = ["v7" if int(q.split("-")[1]) % 2 == 0 else "v7b" for q in queries]
    log = write_log(
        table.filter(half).set_column(table.schema.get_field_index("model_version"), "model_version", pa.array(version))
    )
    _code, report = mlrel.json("compare", "--log", log, "--baseline", "v7", "--candidate", "v7b", "-p", POLICY)
    assert report["verdict"] != "reject", report["candidates"][0]["reasons"]


def test_drift_window_finds_the_engagement_drop(mlrel) -> None:
    code, report = mlrel.json("drift", "-r", GOOD, "-c", BAD, "-p", POLICY, "--window", "1h")
    conversion = next(p for p in report["proxy_metrics"] if p["name"] == "conversion")
    assert conversion["onset"] == "2026-11-22T12:00:00Z"
    assert conversion["reference"] > conversion["current"]
    assert code == 1 and "conversion (since 2026-11-22 12:00)" in report["summary"]


def test_postmortem_on_a_proxy_metric_without_labels(mlrel, tmp_path, write_log, write_policy) -> None:
    unlabelled = write_log(pq.read_table(BAD).drop(["clicked"]))
    incident = tmp_path / "incident.yaml"
    incident.write_text("id: INC-1\ntitle: engagement dropped\ndetected: 2026-11-22T13:10:00Z\nmitigated: 2026-11-22T13:30:00Z\n")
    policy = write_policy(
        "task: ranking\ncolumns: {timestamp: timestamp, query: query_id, position: position, prediction: score}\n"
        "proxy_metrics:\n  conversion: {kind: rate, column: purchased, per: query}\n"
        "postmortem: {primary_metric: conversion, window: 1h}\n"
    )
    result = mlrel("postmortem", "--incident", incident, "-p", policy, "--log", unlabelled, "--format", "json")
    import json

    facts = json.loads(result.stdout)["postmortem"]
    assert facts["metric"] == "conversion" and facts["onset"] == "2026-11-22T12:00:00Z"
    assert facts["impact"]["during"] < facts["impact"]["before"]


def test_fairness_by_a_ranking_metric_is_said_not_built(mlrel, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    # on top of the ranking policy by extends: a second top-level validate: would be a duplicate key
    policy.write_text(f"extends: {POLICY}\nvalidate:\n  fairness: {{segment: device, metric: ndcg}}\n")
    code, report = mlrel.json("validate", GOOD, "-p", policy)
    fairness = next(c for c in report["checks"] if c["name"] == "fairness:device")
    assert code in (0, 1) and fairness["status"] == "skipped" and "not built" in fairness["message"]
