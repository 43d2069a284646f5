"""Compare's segments and weak segments on the Dask engine: the same as on the local engine."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_compare_ranking_segments import POLICY, _queries


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_ranking_segments_on_both_engines(mlrel, tmp_path, write_policy, scheduler) -> None:
    base, _ = _queries("v1", 900, 1, None)
    cand, _ = _queries("v2", 900, 2, "tablet")
    table = pa.concat_tables([base, cand])
    (tmp_path / "lake").mkdir()
    for i, start in enumerate(range(0, table.num_rows, 7_001)):  # files and row groups cut through queries
        pq.write_table(table.slice(start, 7_001), tmp_path / "lake" / f"part-{i}.parquet", row_group_size=997)
    args = ("compare", "--log", tmp_path / "lake", "--baseline", "v1", "--candidate", "v2", "-p", write_policy(POLICY))
    local = json.loads(mlrel(*args, "-f", "json").stdout)
    result = mlrel(*args, "-f", "json", "--engine", "dask", "--scheduler", scheduler)
    remote = json.loads(result.stdout)
    assert result.exit_code == local["exit_code"] == 1, result.stderr
    (a,), (b,) = local["candidates"], remote["candidates"]
    assert [(s["value"], s["rows_baseline"], s["rows_candidate"], s["worse"]) for s in b["segments"]] == [
        (s["value"], s["rows_baseline"], s["rows_candidate"], s["worse"]) for s in a["segments"]
    ]
    assert [s["value"] for s in a["segments"] if s["worse"]] == ["tablet"]
    for x, y in zip(a["segments"], b["segments"], strict=True):
        assert (y["baseline"], y["candidate"]) == pytest.approx((x["baseline"], x["candidate"]), rel=1e-9)
        assert y["ci_high"] - y["ci_low"] == pytest.approx(x["ci_high"] - x["ci_low"], rel=0.3)
