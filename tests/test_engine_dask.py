"""The Dask engine on a local cluster of two worker processes on 127.0.0.1, against the local engine."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _write_parts(folder, shift: float, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(3):
        rng = np.random.default_rng(seed * 10 + part)
        n = 20_000
        x = rng.normal(shift, 1, n)
        y = pa.array(rng.exponential(2, n), mask=rng.random(n) < 0.05)
        table = pa.table({"x": x, "y": y, "city": rng.choice(["a", "b", "c"], n), "prediction": rng.random(n)})
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=5_000)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    _write_parts(root / "reference", 0.0, 1)
    _write_parts(root / "current", 0.3, 2)
    return root


def test_same_verdict_and_scores_as_the_local_engine(mlrel, logs, scheduler) -> None:
    args = ("drift", "-r", logs / "reference", "-c", logs / "current", "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 0, result.stderr
    remote = json.loads(result.stdout)
    assert remote["inputs"]["engine"] == "dask" and remote["status"] == local["status"]
    a = {f["name"]: f for f in local["features"]}
    b = {f["name"]: f for f in remote["features"]}
    for name in a:
        assert b[name]["status"] == a[name]["status"], name
        assert b[name]["rows_current"] == a[name]["rows_current"]  # counts: exact
        assert b[name]["missing_current"] == a[name]["missing_current"]
        assert b[name]["score"] == pytest.approx(a[name]["score"], abs=0.005)  # quantiles: within the sketch's bound
    assert b["city"]["score"] == pytest.approx(a["city"]["score"], abs=1e-12)  # category counts: exact


def test_a_corrupt_partition_is_named(mlrel, logs, scheduler, tmp_path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(logs / "current", broken)
    data = (broken / "part-1.parquet").read_bytes()
    # the footer still reads (so the client opens the log), the first pages do not: the worker finds out
    (broken / "part-1.parquet").write_bytes(data[:4] + b"\xff" * 400 + data[404:])
    result = mlrel("drift", "-r", logs / "reference", "-c", broken, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 2 and "part-1.parquet" in result.stderr and result.stderr.startswith("error: ")


def test_window_is_refused_on_dask(mlrel, logs) -> None:
    result = mlrel("drift", "-r", logs / "reference", "-c", logs / "current", "--engine", "dask", "--window", "1h")
    assert result.exit_code == 2 and "not supported with --engine dask" in result.stderr


def test_file_uris_reach_the_workers(mlrel, logs, scheduler) -> None:
    args = ("drift", "-r", (logs / "reference").as_uri(), "-c", (logs / "current").as_uri(), "--format", "json")
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["inputs"]["rows_current"] == 60_000


def _killer(marker: str, key_prefix: str):
    """A worker plugin that kills its worker (SIGKILL) the first time any worker starts a task of that name."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class KillOnce(WorkerPlugin):  # defined here so it is pickled by value, not imported on the workers
        name = "kill-once"

        def transition(self, key, start, finish, **kwargs):
            import os
            import signal

            name = key[0] if isinstance(key, tuple) else key
            if finish != "executing" or not str(name).startswith(key_prefix):
                return
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os.kill(os.getpid(), signal.SIGKILL)

    return KillOnce()


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_worker_killed_mid_run(mlrel, logs, tmp_path, allowed_failures) -> None:
    """Its task is retried and the answer is the same; when retries are spent, the partition is named."""
    import dask
    from distributed import Client, LocalCluster

    args = ("drift", "-r", logs / "reference", "-c", logs / "current", "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    marker = tmp_path / "killed"
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    with cluster, Client(cluster) as client:
        client.register_plugin(_killer(str(marker), "summarise_file"))
        result = mlrel(*args, "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert marker.exists(), "no worker was killed: the test proved nothing"
    if allowed_failures:
        assert result.exit_code == 0, result.stderr
        remote = json.loads(result.stdout)
        for a, b in zip(local["features"], remote["features"], strict=True):
            assert (b["name"], b["status"], b["rows_current"]) == (a["name"], a["status"], a["rows_current"])
            assert b["score"] == pytest.approx(a["score"], abs=0.005)
    else:
        assert result.exit_code == 2 and result.stderr.startswith("error: ")
        assert "row group" in result.stderr and "part-" in result.stderr and "died" in result.stderr, result.stderr
