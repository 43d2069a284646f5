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


T0_US = 1_795_392_000 * 1_000_000  # 2026-11-23T00:00:00Z


def _write_parts(folder, shift: float, seed: int) -> None:
    """Three files of two hours each; the current log's x moves from 03:00 on, and its labels shift."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(3):
        rng = np.random.default_rng(seed * 10 + part)
        n = 20_000
        ts = T0_US + part * 7_200_000_000 + np.sort(rng.integers(0, 7_200_000_000, n))
        x = rng.normal(0, 1, n) + np.where(ts >= T0_US + 3 * 3_600_000_000, shift, 0.0)
        y = pa.array(rng.exponential(2, n), mask=rng.random(n) < 0.05)
        table = pa.table({
            "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "x": x, "y": y, "city": rng.choice(["a", "b", "c"], n), "prediction": rng.random(n),
            "label": (rng.random(n) < 0.3 + shift / 3).astype(np.int8),
        })  # fmt: skip
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
    (broken / "part-1.parquet").write_bytes(data[:4] + b"\xff" * (len(data) // 2) + data[4 + len(data) // 2 :])
    result = mlrel("drift", "-r", logs / "reference", "-c", broken, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 2 and "part-1.parquet" in result.stderr and result.stderr.startswith("error: ")


def remote_status(result) -> str:
    return json.loads(result.stdout)["status"]


def test_windows_and_label_drift_on_dask(mlrel, logs, scheduler) -> None:
    args = ("drift", "-r", logs / "reference", "-c", logs / "current", "--window", "1h", "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == local["exit_code"] and remote_status(result) == local["status"] == "warn", result.stderr
    remote = json.loads(result.stdout)
    a = {f["name"]: f for f in local["features"] + local["outputs"]}
    b = {f["name"]: f for f in remote["features"] + remote["outputs"]}
    assert set(a) == set(b) and "label" in b  # label drift: its classes found on the cluster
    assert b["label"]["kind"] == a["label"]["kind"] == "categorical" and b["label"]["score"] == pytest.approx(a["label"]["score"])
    assert a["x"]["onset"] == b["x"]["onset"] == "2026-11-23T03:00:00Z"
    concept_a, concept_b = local["concept"], remote["concept"]  # concept drift: the metric on each side, and its verdict
    assert concept_b["metric"] == concept_a["metric"] and concept_b["status"] == concept_a["status"]
    assert concept_b["current"] == pytest.approx(concept_a["current"], abs=1e-3)
    for name in a:
        wa, wb = a[name]["windows"], b[name]["windows"]
        assert [(w["start"], w["rows"], w["status"]) for w in wb] == [(w["start"], w["rows"], w["status"]) for w in wa]
        for x, y in zip(wa, wb, strict=True):
            assert y["score"] == pytest.approx(x["score"], abs=0.01)


def test_file_uris_reach_the_workers(mlrel, logs, scheduler) -> None:
    args = ("drift", "-r", (logs / "reference").as_uri(), "-c", (logs / "current").as_uri(), "--format", "json")
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["inputs"]["rows_current"] == 60_000


def test_labels_file_is_refused_on_dask(mlrel, samples) -> None:
    for command in (
        ("validate", samples / "current.parquet"),
        ("drift", "-r", samples / "reference.parquet", "-c", samples / "current.parquet"),
    ):
        result = mlrel(*command, "--labels", samples / "labels.parquet", "--engine", "dask")
        assert result.exit_code == 2 and "local engine" in result.stderr


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
        client.register_plugin(_killer(str(marker), "run_on_row_group"))
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


def _validate_logs(root):
    """A reference and a troubled current log, each as 3 files of 4,000-row groups."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import binary_log

    for name, seed in (("reference", 1), ("current", 2)):
        cols = binary_log(30_000, seed=seed)
        if name == "current":
            rng = np.random.default_rng(7)
            x = cols["x"] * 1.4  # some values beyond the reference's extremes
            cols["x"] = pa.array(x, mask=rng.random(len(x)) < 0.03)
            city = np.array(cols["city"], dtype=object)
            city[rng.random(len(city)) < 0.04] = "lille"  # unseen
            cols["city"] = city.tolist()
            prediction = cols["prediction"].copy()
            prediction[:40] = np.nan
            cols["prediction"] = prediction
            ids = list(cols["prediction_id"])
            ids[100:200] = ids[:100]  # logged twice: 100 rows repeat an id
            ids[20_000:20_003] = [ids[0]] * 3  # one id five times (it was also copied above)
            cols["prediction_id"] = ids
        table = pa.table(cols)
        if name == "current":
            keep = np.r_[0:10_000, 12_000:30_000]  # 33 minutes without traffic: downtime
            table = table.take(keep)
        folder = root / name
        folder.mkdir()
        third = -(-table.num_rows // 3)
        for i in range(3):
            pq.write_table(table.slice(i * third, third), folder / f"part-{i}.parquet", row_group_size=4_000)


def test_validate_same_checks_as_the_local_engine(mlrel, scheduler, tmp_path) -> None:
    _validate_logs(tmp_path)
    args = ("validate", tmp_path / "current", "-r", tmp_path / "reference", "--now", "2026-11-24T00:00:00Z", "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 1, result.stderr
    remote = json.loads(result.stdout)
    assert remote["inputs"]["engine"] == "dask" and remote["status"] == local["status"] == "fail"
    a = {c["name"]: c for c in local["checks"]}
    b = {c["name"]: c for c in remote["checks"]}
    judged = {"schema", "missing:x", "range:x", "missing:city", "unseen:city", "prediction", "volume", "freshness", "downtime"}
    assert judged <= set(a) and judged <= set(b)
    for name in judged:  # counts, extremes and offenders: exactly the same
        assert (b[name]["status"], b[name]["value"], b[name]["details"]) == (
            a[name]["status"],
            a[name]["value"],
            a[name]["details"],
        ), name
    assert a["range:x"]["status"] == "warn" and a["unseen:city"]["status"] == "fail" and a["downtime"]["status"] == "fail"
    for name in ("latency:p50", "latency:p95", "latency:p99"):  # a sketch: within its rank error
        assert b[name]["value"] == pytest.approx(a[name]["value"], rel=0.01)
        assert b[name]["details"]["max"] == a[name]["details"]["max"]
    assert b["label_coverage"]["value"] == a["label_coverage"]["value"]
    metrics = [name for name in a if name.startswith("performance:")]
    assert len(metrics) == 8 and remote["inputs"]["task"] == local["inputs"]["task"] == "binary_classification"
    for name in metrics:  # counts and sums exact; ROC AUC from score cells; the noise allowance from a sample
        tolerance = 1e-3 if name == "performance:roc_auc" else 1e-12
        assert b[name]["value"] == pytest.approx(a[name]["value"], abs=tolerance), name
        assert b[name]["status"] == a[name]["status"] and b[name]["details"]["rows"] == a[name]["details"]["rows"]
    not_run = {name for name, c in b.items() if c["status"] == "skipped"}
    dup_a, dup_b = a["duplicates"]["details"], b["duplicates"]["details"]  # counted on the cluster, by a shuffle of the ids
    assert dup_b["duplicate_rows"] == dup_a["duplicate_rows"] == 103 and b["duplicates"]["status"] == a["duplicates"]["status"]
    assert dup_b["top"][0] == dup_a["top"][0] == {"value": "id-2-0", "count": 5}
    assert [t["count"] for t in dup_b["top"]] == [t["count"] for t in dup_a["top"]]  # ties may come in another order
    assert set(b) - set(a) <= not_run


def test_an_id_like_column_never_travels_as_categories(mlrel, scheduler, tmp_path) -> None:
    """120,000 distinct strings: past the cap the cluster sends counts only, and the column is said not compared."""
    for side in ("reference", "current"):
        n = 120_000
        rng = np.random.default_rng(len(side))
        table = pa.table({"session": [f"{side}-{i}" for i in range(n)], "x": rng.normal(0, 1, n), "prediction": rng.random(n)})
        pq.write_table(table, tmp_path / f"{side}.parquet", row_group_size=30_000)
    ref, cur = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    result = mlrel("drift", "-r", ref, "-c", cur, "--engine", "dask", "--scheduler", scheduler, "--format", "json")
    report = json.loads(result.stdout)
    assert "distinct values" in report["inputs"]["not_compared"]["session"]
    small = tmp_path / "small.parquet"  # 20,000 distinct of 20,000: under the cap, the local engine's own test
    pq.write_table(pq.read_table(ref).slice(0, 20_000), small)
    result = mlrel("drift", "-r", small, "-c", small, "--engine", "dask", "--scheduler", scheduler, "--format", "json")
    assert "mostly distinct" in json.loads(result.stdout)["inputs"]["not_compared"]["session"]
    assert [f["name"] for f in report["features"]] == ["x"]
    result = mlrel("validate", cur, "-r", ref, "--engine", "dask", "--scheduler", scheduler, "--format", "json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["unseen:session"]["status"] == "skipped" and checks["missing:session"]["value"] == 0.0


def _canary_log(path, task: str, n: int = 40_000) -> None:
    """Two versions in one log, the candidate a little worse, in 8 row groups."""
    rng = np.random.default_rng({"binary": 1, "regression": 2, "multiclass": 3}[task])
    version = np.where(rng.random(n) < 0.5, "v1", "v2")
    worse = version == "v2"
    x = rng.normal(0, 1, n)
    device = rng.choice(["mobile", "desktop", "tablet"], n, p=[0.5, 0.4, 0.1])
    worse &= device != "tablet"  # the candidate is as good on tablets
    cols: dict = {"model_version": version, "device": device, "latency_ms": rng.lognormal(3, 0.3, n) * np.where(worse, 1.05, 1.0)}
    if task == "binary":
        label = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
        cols["prediction"] = 1 / (1 + np.exp(-(2 * x + rng.normal(0, np.where(worse, 1.5, 1.0), n))))
    elif task == "regression":
        label = 3 * x + rng.normal(0, 1, n)
        cols["prediction"] = 3 * x + rng.normal(0, np.where(worse, 1.3, 1.0), n)
    else:
        classes = np.array(["cat", "dog", "fox"])
        truth = rng.integers(0, 3, n)
        wrong = rng.random(n) < np.where(worse, 0.35, 0.25)
        label = classes[truth]
        cols["prediction"] = classes[np.where(wrong, (truth + 1) % 3, truth)]
    cols["label"] = label
    pq.write_table(pa.table(cols), path, row_group_size=5_000)


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_compare_same_judgement_as_the_local_engine(mlrel, scheduler, tmp_path, task) -> None:
    _canary_log(tmp_path / "canary.parquet", task)
    policy = tmp_path / "policy.yaml"
    policy.write_text("segments: [device]\n")
    args = (
        "compare",
        "--log",
        tmp_path / "canary.parquet",
        "--baseline",
        "v1",
        "--candidate",
        "v2",
        "-p",
        policy,
        "--format",
        "json",
    )
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == local["exit_code"] == 1, result.stderr
    remote = json.loads(result.stdout)
    assert remote["inputs"]["engine"] == "dask" and remote["inputs"]["task"] == local["inputs"]["task"]
    (a,), (b,) = local["candidates"], remote["candidates"]
    assert b["verdict"] == a["verdict"] == "reject" and (b["rows"], b["labelled_rows"]) == (a["rows"], a["labelled_rows"])
    assert set(b["metrics"]) == set(a["metrics"])
    for name, m in a["metrics"].items():
        r = b["metrics"][name]
        if name == "roc_auc":  # read from score cells: a tie within a bin counts half
            assert r["candidate"] == pytest.approx(m["candidate"], abs=1e-3)
        elif name.startswith("latency_"):  # a quantile sketch
            assert r["candidate"] == pytest.approx(m["candidate"], rel=0.01)
        else:  # counts and sums: exactly the local numbers
            assert (r["baseline"], r["candidate"]) == pytest.approx((m["baseline"], m["candidate"]), rel=1e-9, abs=1e-12)
        if m["ci_low"] is None:  # no interval for this metric (MAPE, R²): none on either engine
            assert r["ci_low"] is None
            continue
        width = m["ci_high"] - m["ci_low"]
        if width > 0:  # the same spread, from other draws
            assert r["ci_high"] - r["ci_low"] == pytest.approx(width, rel=0.25), name
        assert r["classification"] == m["classification"] or not m["gating"], name
    segments = {(s["segment"], s["value"]): s for s in a["segments"]}
    assert {(s["segment"], s["value"]) for s in b["segments"]} == set(segments) and len(segments) == 3
    for s in b["segments"]:  # per segment: the same rows, the same verdict
        t = segments[(s["segment"], s["value"])]
        assert (s["rows_baseline"], s["rows_candidate"], s["judged"], s.get("worse")) == (
            t["rows_baseline"],
            t["rows_candidate"],
            t["judged"],
            t.get("worse"),
        )
        assert s["candidate"] == pytest.approx(t["candidate"], abs=1e-3)
    assert segments[("device", "mobile")]["worse"] and not segments[("device", "tablet")]["worse"]


def test_compare_shadow_is_refused_on_dask(mlrel, tmp_path) -> None:
    _canary_log(tmp_path / "canary.parquet", "binary")
    args = ("compare", "--log", tmp_path / "canary.parquet", "--baseline", "v1", "--candidate", "v2", "--engine", "dask")
    result = mlrel(*args, "--mode", "shadow")
    assert result.exit_code == 2 and "--engine local" in result.stderr


def test_compare_two_logs_on_dask(mlrel, scheduler, tmp_path) -> None:
    _canary_log(tmp_path / "canary.parquet", "binary")
    table = pq.read_table(tmp_path / "canary.parquet")
    for version in ("v1", "v2"):
        part = table.filter(pa.compute.equal(table.column("model_version"), version))
        pq.write_table(part, tmp_path / f"{version}.parquet", row_group_size=4_000)
    args = ("compare", "--baseline-log", tmp_path / "v1.parquet", "--candidate-log", tmp_path / "v2.parquet", "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    remote = json.loads(mlrel(*args, "--engine", "dask", "--scheduler", scheduler).stdout)
    assert remote["inputs"]["baseline"] == local["inputs"]["baseline"] == "v1"
    assert [(c["version"], c["verdict"]) for c in remote["candidates"]] == [
        (c["version"], c["verdict"]) for c in local["candidates"]
    ]


@pytest.mark.parametrize(("task", "bound"), [("binary", "roc_auc: {min: 0.99}"), ("regression", "rmse: {max: 0.5}"),
                                             ("multiclass", "accuracy: {min: 0.99}")])  # fmt: skip
def test_validate_metrics_on_dask(mlrel, scheduler, tmp_path, task, bound) -> None:
    _canary_log(tmp_path / "log.parquet", task)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"segments: [device]\nvalidate:\n  performance:\n    min_segment_size: 5000\n    metrics:\n      {bound}\n")
    args = ("validate", tmp_path / "log.parquet", "-p", policy, "--format", "json")
    local = {c["name"]: c for c in json.loads(mlrel(*args).stdout)["checks"]}
    remote = {c["name"]: c for c in json.loads(mlrel(*args, "--engine", "dask", "--scheduler", scheduler).stdout)["checks"]}
    metrics = [name for name in local if name.startswith("performance:")]
    assert metrics and set(metrics) <= set(remote)
    judged = "performance:" + bound.split(":")[0]
    assert local[judged]["status"] == remote[judged]["status"] == "fail"
    se_local, se_remote = local[judged]["details"]["standard_error"], remote[judged]["details"]["standard_error"]
    assert se_remote == pytest.approx(se_local, rel=0.3)  # the bootstrap on a sample, scaled to all the rows
    for name in metrics:
        assert remote[name]["value"] == pytest.approx(local[name]["value"], abs=1e-3 if "roc_auc" in name else 1e-9)
    segment_checks = [name for name in local if name.startswith(judged + "[")]
    assert len(segment_checks) == 2  # mobile and desktop; tablet has fewer than 5,000 labelled rows
    for name in segment_checks:  # per segment: the same rows, value, and judgement
        assert (remote[name]["status"], remote[name]["details"]["rows"]) == (
            local[name]["status"],
            local[name]["details"]["rows"],
        )
        assert remote[name]["details"]["standard_error"] == pytest.approx(local[name]["details"]["standard_error"], rel=0.3)


def test_an_input_error_found_on_a_worker_reads_as_locally(mlrel, scheduler, write_log) -> None:
    """A timestamp that is not a time, met by a worker: the same one-line error as the local engine gives."""
    path = write_log({"timestamp": ["2026-11-25T10:00:00Z", "yesterday"], "x": [1.0, 2.0], "prediction": [0.1, 0.2]})
    local = mlrel("validate", path)
    remote = mlrel("validate", path, "--engine", "dask", "--scheduler", scheduler)
    assert local.exit_code == remote.exit_code == 2
    assert remote.stderr == local.stderr and "not an ISO-8601 time" in remote.stderr


@pytest.mark.parametrize(("metric", "labelled"), [("positive_rate", True), ("positive_rate", False), ("recall", True)])
def test_fairness_on_dask(mlrel, scheduler, tmp_path, metric, labelled) -> None:
    _canary_log(tmp_path / "log.parquet", "binary")
    table = pq.read_table(tmp_path / "log.parquet")
    device = table.column("device").to_numpy(zero_copy_only=False).astype(object)
    device[::50] = None  # a group without a value, named None by both engines
    table = table.set_column(table.schema.get_field_index("device"), "device", pa.array(device, type=pa.string()))
    if not labelled:
        table = table.drop_columns(["label"])
    pq.write_table(table, tmp_path / "log.parquet", row_group_size=5_000)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"validate:\n  fairness: {{segment: device, metric: {metric}, max_gap: 0.01}}\n")
    args = ("validate", tmp_path / "log.parquet", "-p", policy, "--format", "json")
    result = mlrel(*args)
    assert result.stdout.strip(), result.stderr
    local = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["fairness:device"]
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.stdout.strip(), result.stderr
    remote = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["fairness:device"]
    assert (remote["status"], remote["message"]) == (local["status"], local["message"])
    assert remote["details"]["groups"] == pytest.approx(local["details"]["groups"]) and "None" in local["details"]["groups"]


PROXIES = """
proxy_metrics:
  revenue: {kind: mean, column: revenue, min: 9.5}
  clicks: {kind: rate, column: clicked}
  spend_per_view: {kind: ratio, numerator: spend, denominator: views, max: 0.6}
"""


def _with_proxies(path) -> None:
    """Business columns on the canary log: revenue (with gaps), a click flag, spend over views; v2 earns less."""
    table = pq.read_table(path)
    n = table.num_rows
    rng = np.random.default_rng(9)
    worse = table.column("model_version").to_numpy(zero_copy_only=False) == "v2"
    revenue = pa.array(rng.gamma(2, 5, n) * np.where(worse, 0.9, 1.0), mask=rng.random(n) < 0.02)
    ts = T0_US + np.sort(rng.integers(0, 6 * 3_600_000_000, n))
    table = table.append_column("revenue", revenue).append_column("clicked", pa.array(rng.random(n) < 0.3))
    table = table.append_column("views", pa.array(rng.integers(1, 5, n))).append_column("spend", pa.array(rng.random(n) * 2))
    table = table.append_column("timestamp", pa.array(ts, type=pa.timestamp("us", tz="UTC")))
    pq.write_table(table, path, row_group_size=5_000)


def test_proxy_metrics_on_dask(mlrel, scheduler, tmp_path) -> None:
    log = tmp_path / "log.parquet"
    _canary_log(log, "binary")
    _with_proxies(log)
    policy = tmp_path / "policy.yaml"
    policy.write_text(PROXIES)
    dask_args = ("--engine", "dask", "--scheduler", scheduler, "--format", "json")

    def both(*args):
        local, remote = mlrel(*args, "--format", "json"), mlrel(*args, *dask_args)
        assert remote.exit_code == local.exit_code, remote.stderr
        return json.loads(local.stdout), json.loads(remote.stdout)

    local, remote = both("validate", log, "-p", policy)  # the values: sums, exactly
    a, b = ({c["name"]: c for c in r["checks"] if c["name"].startswith("proxy:")} for r in (local, remote))
    assert set(a) == set(b) == {"proxy:revenue", "proxy:clicks", "proxy:spend_per_view"}
    for name in a:
        assert (b[name]["status"], b[name]["value"]) == (a[name]["status"], pytest.approx(a[name]["value"], rel=1e-9))

    local, remote = both("drift", "-r", log, "-c", log, "-p", policy, "--window", "1h")  # per window, with standard errors
    a, b = ({p["name"]: p for p in r["proxy_metrics"]} for r in (local, remote))
    for name in a:
        assert b[name]["current"] == pytest.approx(a[name]["current"], rel=1e-9) and b[name]["status"] == a[name]["status"]
        assert [(w["rows"], w["status"]) for w in b[name]["windows"]] == [(w["rows"], w["status"]) for w in a[name]["windows"]]
        assert [w["value"] for w in b[name]["windows"]] == pytest.approx([w["value"] for w in a[name]["windows"]], rel=1e-9)

    args = ("compare", "--log", log, "--baseline", "v1", "--candidate", "v2", "-p", policy)
    local, remote = both(*args)
    (a,), (b,) = local["candidates"], remote["candidates"]
    for name in ("revenue", "clicks", "spend_per_view"):
        m, r = a["metrics"][name], b["metrics"][name]
        assert (r["baseline"], r["candidate"]) == pytest.approx((m["baseline"], m["candidate"]), rel=1e-9)
        assert r["ci_high"] - r["ci_low"] == pytest.approx(m["ci_high"] - m["ci_low"], rel=0.25)
        assert r["classification"] == m["classification"]


def test_hive_partition_columns_reach_the_workers(mlrel, scheduler, tmp_path) -> None:
    """model_version=v1/ in the path, not in the files: the workers read it from the path, as the local engine does."""
    import pyarrow.dataset as ds

    _canary_log(tmp_path / "canary.parquet", "binary")
    table = pq.read_table(tmp_path / "canary.parquet")
    table = table.append_column("request", pa.array(np.arange(table.num_rows) % 39_990))  # integer ids, 10 repeated
    ds.write_dataset(table, tmp_path / "lake", format="parquet", partitioning=["model_version"], partitioning_flavor="hive",
                     max_rows_per_group=4_000)  # fmt: skip
    policy = tmp_path / "policy.yaml"
    policy.write_text("columns: {id: request}\nsegments: [model_version]\n")
    for args in (("compare", "--log", tmp_path / "lake", "--baseline", "v1", "--candidate", "v2", "-p", policy),
                 ("validate", tmp_path / "lake", "-p", policy)):  # fmt: skip
        local = json.loads(mlrel(*args, "--format", "json").stdout)
        result = mlrel(*args, "--format", "json", "--engine", "dask", "--scheduler", scheduler)
        assert result.exit_code == local["exit_code"], result.stderr
        remote = json.loads(result.stdout)
        assert remote["summary"].split(":")[0] == local["summary"].split(":")[0]
    assert {c["name"]: c for c in remote["checks"]}["duplicates"]["details"]["duplicate_rows"] == 10
    assert [s["value"] for s in remote["segments"]] == [s["value"] for s in local["segments"]] == ["v1", "v2"]


def test_ranking_and_per_query_metrics_on_dask(mlrel, scheduler, tmp_path) -> None:
    """Queries cut across files and row groups: shuffled by query on the cluster, the same metrics as locally."""
    from pathlib import Path

    samples = Path(__file__).resolve().parent.parent / "samples"
    policy = samples.parent / "configs" / "search-ranking.yaml"
    table = pq.read_table(samples / "ranking_current.parquet")
    (tmp_path / "lake").mkdir()
    for i, start in enumerate(range(0, table.num_rows, 13_333)):  # file boundaries inside queries
        pq.write_table(table.slice(start, 13_333), tmp_path / "lake" / f"part-{i}.parquet", row_group_size=997)
    args = ("validate", tmp_path / "lake", "-p", policy, "--now", "2026-11-25T00:00:00Z", "--format", "json")
    local = {c["name"]: c for c in json.loads(mlrel(*args).stdout)["checks"]}
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    remote = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    judged = [n for n in local if n.startswith(("performance:", "proxy:", "downtime", "freshness"))]
    assert {"performance:ndcg@10", "performance:mrr", "proxy:conversion", "proxy:revenue_per_result"} <= set(judged)
    for name in judged:
        assert remote[name]["status"] == local[name]["status"], name
        assert remote[name]["value"] == pytest.approx(local[name]["value"], rel=1e-9), name
    assert remote["downtime"]["details"] == local["downtime"]["details"]  # distinct query times, counted per window

    args = (
        "drift",
        "-r",
        samples / "ranking_reference.parquet",
        "-c",
        tmp_path / "lake",
        "-p",
        policy,
        "-w",
        "1h",
        "--format",
        "json",
    )
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == local["exit_code"], result.stderr
    a, b = ({p["name"]: p for p in r["proxy_metrics"]} for r in (local, json.loads(result.stdout)))
    assert a["conversion"]["onset"] == b["conversion"]["onset"] is not None  # the per-query proxy's onset, on both engines
    for name in a:
        assert (b[name]["reference"], b[name]["current"]) == pytest.approx((a[name]["reference"], a[name]["current"]), rel=1e-9)
        assert [(w["rows"], w["status"]) for w in b[name]["windows"]] == [(w["rows"], w["status"]) for w in a[name]["windows"]]
        assert [w["value"] for w in b[name]["windows"]] == pytest.approx([w["value"] for w in a[name]["windows"]], rel=1e-9)

    args = ("compare", "--log", tmp_path / "lake", "--baseline", "v7", "--candidate", "v8", "-p", policy, "--format", "json")
    local = json.loads(mlrel(*args).stdout)
    result = mlrel(*args, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == local["exit_code"] == 1, result.stderr
    (a,), (b,) = local["candidates"], json.loads(result.stdout)["candidates"]
    assert b["verdict"] == a["verdict"] == "reject" and set(b["metrics"]) == set(a["metrics"])
    for name in ("ndcg", "mrr", "ctr", "no_engagement", "conversion", "revenue_per_result"):
        m, r = a["metrics"][name], b["metrics"][name]
        assert (r["baseline"], r["candidate"]) == pytest.approx((m["baseline"], m["candidate"]), rel=1e-9), name
        assert r["ci_high"] - r["ci_low"] == pytest.approx(m["ci_high"] - m["ci_low"], rel=0.3), name
        assert r["classification"] == m["classification"], name
