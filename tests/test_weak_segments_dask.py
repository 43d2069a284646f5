"""The weak-segment search on a Dask cluster (two worker processes on 127.0.0.1) finds the local engine's slices."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import T0_US

pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_same_slices_on_both_engines(mlrel, tmp_path, write_policy, scheduler) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    for part in range(3):  # three files of 4,000-row row groups: the sums of 9 row groups merge on the cluster
        rng = np.random.default_rng(part)
        n = 12_000
        x = rng.normal(size=n)
        device = rng.choice(["ios", "android", "web"], n)
        y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
        score = 1 / (1 + np.exp(-(2 * x + rng.normal(0, 0.5, n))))
        flip = (device == "web") & (x >= 0.8416) & (rng.random(n) < 0.5)
        score[flip] = 1 - score[flip]
        amount = pa.array(rng.lognormal(3, 1, n), mask=rng.random(n) < 0.02)
        pq.write_table(pa.table({
            "timestamp": pa.array(T0_US + part * 10**10 + np.arange(n) * 10**6, type=pa.timestamp("us", tz="UTC")),
            "prediction_id": [f"{part}-{i}" for i in range(n)], "x": x, "amount": amount, "device": device.tolist(),
            "prediction": score, "label": y,
        }), folder / f"part-{part}.parquet", row_group_size=4_000)  # fmt: skip
    policy = write_policy("validate: {freshness: {enabled: false}, downtime: {enabled: false}}\n")
    _, local = mlrel.json("validate", folder, "-p", policy)
    result = mlrel("validate", folder, "-p", policy, "--engine", "dask", "--scheduler", scheduler, "--format", "json")
    assert result.stdout.strip(), result.stderr
    remote = json.loads(result.stdout)
    assert remote["inputs"]["engine"] == "dask"
    assert local["weak_segments"], "the planted slice was not found"
    assert [s["conditions"] for s in remote["weak_segments"]] == [s["conditions"] for s in local["weak_segments"]]
    for a, b in zip(local["weak_segments"], remote["weak_segments"], strict=True):
        assert b["rows"] == a["rows"] and b["adjusted_p"] == pytest.approx(a["adjusted_p"], rel=1e-6)
    checks = {c["name"]: c for c in remote["checks"]}
    assert (
        checks["weak_segments"]["details"]["tried"]
        == next(c for c in local["checks"] if c["name"] == "weak_segments")["details"]["tried"]
    )
