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
