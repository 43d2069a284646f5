"""Compare's segments and weak segments on the Dask engine: the same as on the local engine."""

from __future__ import annotations

import json

import numpy as np
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


def _slices(entry: dict) -> list[tuple]:
    found = entry["weak_segments"]
    return [(tuple((c["column"], c["op"], str(c["value"])) for c in s["conditions"]), s["rows"]) for s in found["slices"]]


def test_compare_weak_segments_on_both_engines(mlrel, tmp_path, scheduler, write_policy) -> None:
    """Two candidates in one log, its files and row groups cut across the versions: the same slices, the same
    tests, the same verdicts; and with a baseline log and a candidate log."""
    from test_compare_slices import _model

    table = pa.concat_tables([_model("v41", 12_000, 1, False), _model("v42", 12_000, 2, True), _model("v43", 12_000, 3, False)])
    table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    (tmp_path / "lake").mkdir()
    for i, start in enumerate(range(0, table.num_rows, 12_000)):
        pq.write_table(table.slice(start, 12_000), tmp_path / "lake" / f"part-{i}.parquet", row_group_size=4_000)
    policy = write_policy("compare: {weak_segments: {reject: true}}\n")
    args = (
        "compare",
        "--log",
        tmp_path / "lake",
        "--baseline",
        "v41",
        "--candidate",
        "v42",
        "--candidate",
        "v43",
        "-p",
        policy,
        "-f",
        "json",
    )
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    remote = json.loads(result.stdout)
    assert result.exit_code == local["exit_code"], result.stderr
    for a, b in zip(local["candidates"], remote["candidates"], strict=True):
        assert a["version"] == b["version"] and a["verdict"] == b["verdict"]
        assert _slices(b) == _slices(a)
        assert [s["adjusted_p"] for s in b["weak_segments"]["slices"]] == pytest.approx(
            [s["adjusted_p"] for s in a["weak_segments"]["slices"]], rel=1e-9
        )
        assert {k: v for k, v in b["weak_segments"].items() if k not in ("slices", "labels")} == {
            k: v for k, v in a["weak_segments"].items() if k not in ("slices", "labels")
        }
    by_version = {c["version"]: c for c in remote["candidates"]}
    assert by_version["v42"]["verdict"] == "reject" and by_version["v42"]["weak_segments"]["slices"]
    assert {("device", "=="), ("x", ">=")} == {(c, o) for c, o, _ in _slices(by_version["v42"])[0][0]}
    assert not by_version["v43"]["weak_segments"]["slices"]
    assert {c["name"]: c["status"] for c in remote["checks"]}["v42:weak_segments"] == "fail"

    base, cand = tmp_path / "base.parquet", tmp_path / "cand.parquet"
    pq.write_table(_model("v41", 12_000, 1, False), base, row_group_size=5_000)
    pq.write_table(_model("v42", 12_000, 2, True), cand, row_group_size=5_000)
    args = ("compare", "--baseline-log", base, "--candidate-log", cand, "-f", "json")
    (a,), (b,) = (
        json.loads(mlrel(*args, *extra).stdout)["candidates"] for extra in ((), ("--engine", "dask", "--scheduler", scheduler))
    )
    assert _slices(b) == _slices(a) and _slices(a)


def test_both_engines_give_the_same_regression_sums(tmp_path, scheduler, write_policy) -> None:
    """Engine.regression_sums itself, below the report: the same bins and, cell by cell, the same sums of every
    single condition and pair on both engines (each model at most 200,000 labelled rows: the sample is every row),
    the local engine's pairs summed as the search reaches them, Dask's merged from row groups cut across versions."""
    from test_compare_slices import _model

    from mlrel_cli.analysis.compare.evidence import load_models
    from mlrel_cli.engine.dask import DaskEngine, client
    from mlrel_cli.engine.local import LocalEngine
    from mlrel_cli.logs import open_log
    from mlrel_cli.policy import load_policy

    table = pa.concat_tables([_model("v41", 9_000, 1, False), _model("v42", 9_000, 2, True)])
    table = table.take(np.random.default_rng(1).permutation(table.num_rows))
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=2_500)
    log, policy = open_log(tmp_path / "log.parquet"), load_policy(write_policy("segments: [tier]\n"))

    def sums_on(engine: object) -> list:
        base, cands, task, sources = load_models(engine, policy, log, "v41", ["v42"], None, [], None)
        return engine.regression_sums(sources, [base, *cands], task, policy, "canary")

    (local,) = sums_on(LocalEngine())
    with client(scheduler) as connection:
        (remote,) = sums_on(DaskEngine(connection))
    assert local.pair is not None and remote.pair is None and not local.paired and not remote.paired
    # the same bins; "missing" is always a condition on Dask (a sample may lack the nulls), never summed a row here
    assert [c[:-1] for c in remote.conditions] == [c[:-1] for c in local.conditions]
    assert remote.metric == local.metric == "log_loss"
    columns = len(local.conditions)
    assert columns == 3  # x, device, tier
    for i in range(columns):
        for j in range(i + 1, columns):
            local.pair(i, j)
    for a, b in zip(local.sides, remote.sides, strict=True):
        assert a.sizes == b.sizes and a.pairs.keys() == b.pairs.keys()
        np.testing.assert_allclose(b.total, a.total, rtol=1e-12)
        for x, y in zip(a.singles, b.singles, strict=True):
            np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-9)
        for key in a.pairs:
            np.testing.assert_allclose(b.pairs[key], a.pairs[key], rtol=1e-12, atol=1e-9)
