"""Fault injection on logs built from scikit-learn's datasets: each fault caught by the check that names it.

For each task, a model is fitted on a dataset, its predictions on two bootstrap
draws of the rows make a clean reference and a clean current log, ``mlrel init``
writes the policy from the reference, the clean current passes, and every fault
of mlrel_cli.faults injected into the current fails its expected check.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import check

from mlrel_cli import faults

T0 = pd.Timestamp("2026-11-23T00:00:00Z")
ROWS = 3000


def _dataset_frame(task: str, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """Features, prediction and label of a model fitted on a scikit-learn dataset, ROWS rows drawn with replacement."""
    from sklearn import datasets
    from sklearn.linear_model import LinearRegression, LogisticRegression

    loader = {"binary": datasets.load_breast_cancer, "multiclass_int": datasets.load_wine,
              "multiclass_str": datasets.load_digits, "regression": datasets.load_diabetes,
              "ranking": datasets.load_breast_cancer}[task]  # fmt: skip
    data = loader()
    x, y = data.data[:, :6], data.target
    names = [f"f{i}" for i in range(x.shape[1])]
    if task == "regression":
        output = LinearRegression().fit(x, y).predict(x)
    else:
        model = LogisticRegression(max_iter=5000).fit(x, y)
        output = model.predict_proba(x)[:, 1] if task in ("binary", "ranking") else model.predict(x)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(y), ROWS)
    frame = pd.DataFrame(x[rows] + rng.normal(0, 1e-3, (ROWS, x.shape[1])) * x.std(axis=0), columns=names)
    frame["channel"] = rng.choice(["web", "app", "store"], ROWS, p=[0.5, 0.3, 0.2])
    prediction, label = output[rows], y[rows]
    if task == "multiclass_str":
        prediction, label = np.array([f"digit_{int(v)}" for v in prediction]), np.array([f"digit_{int(v)}" for v in label])
    frame["prediction"], frame["label"] = prediction, label
    frame["timestamp"] = T0 + pd.to_timedelta(np.arange(ROWS) * 10, unit="s")  # 10 s apart: about 8 hours
    frame["prediction_id"] = [f"r{seed}-{i}" for i in range(ROWS)]
    frame["latency_ms"] = rng.lognormal(3, 0.3, ROWS)
    if task == "ranking":
        frame["query_id"] = [f"q{seed}-{i // 10}" for i in range(ROWS)]
        # shown best score first, as a ranker would
        order = frame.groupby("query_id")["prediction"].rank(method="first", ascending=False)
        frame["position"] = order.astype(np.int16)
        frame["purchased"] = (rng.random(ROWS) < 0.2).astype(np.int8)
    return frame, names


RANKING_POLICY = """\
version: 1
task: ranking
columns: {{query: query_id, position: position, label: label, prediction: prediction}}
ignore: [purchased]
validate:
  latency: {{p99_ms: {p99}}}
  performance:
    k: 10
    metrics:
      ndcg: {{min: {ndcg_min}}}
proxy_metrics:
  conversion: {{kind: rate, column: purchased, per: query, higher_is_better: true, min: 0.15}}
"""


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Per task: (reference path, clean current frame, policy path, features), built once."""
    from typer.testing import CliRunner

    from mlrel_cli.cli.app import app

    root = tmp_path_factory.mktemp("faults")
    built: dict[str, Any] = {}

    def build(task: str) -> tuple[Path, pd.DataFrame, Path, list[str]]:
        if task not in built:
            reference, names = _dataset_frame(task, seed=1)
            current, _ = _dataset_frame(task, seed=2)
            current["timestamp"] = current["timestamp"] + pd.Timedelta(days=1)
            ref_path = root / f"{task}_reference.parquet"
            pq.write_table(pa.Table.from_pandas(reference, preserve_index=False), ref_path)
            policy = root / f"{task}_policy.yaml"
            if task == "ranking":  # init writes no ranking policy: the bound is the reference's NDCG less 0.05
                policy.write_text(RANKING_POLICY.format(ndcg_min=0.0, p99=1000))
                result = CliRunner().invoke(app, ["validate", str(ref_path), "-p", str(policy), "--format", "json"])
                ndcg = check(json.loads(result.stdout), "performance:ndcg@10")["value"]
                policy.write_text(
                    RANKING_POLICY.format(ndcg_min=round(ndcg - 0.05, 3), p99=round(1.5 * reference["latency_ms"].quantile(0.99)))
                )
            else:
                result = CliRunner().invoke(app, ["init", "--from", str(ref_path), "-o", str(policy)])
                assert result.exit_code == 0, result.output
            built[task] = (ref_path, current, policy, names)
        return built[task]

    return build


def _run(mlrel: Any, command: str, frame: Any, reference: Path, policy: Path, path: Path) -> tuple[int, dict[str, Any]]:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path)
    now = "2026-11-24T09:00:00Z"
    if command == "drift":
        return mlrel.json("drift", "--reference", reference, "--current", path, "-p", policy)
    return mlrel.json("validate", path, "--reference", reference, "-p", policy, "--now", now)


TASKS = ["binary", "multiclass_int", "multiclass_str", "regression", "ranking"]


@pytest.mark.parametrize("task", TASKS)
def test_clean_log_passes(task: str, logs: Any, mlrel: Any, tmp_path: Path) -> None:
    reference, current, policy, _ = logs(task)
    for command in ("validate", "drift"):
        code, report = _run(mlrel, command, current, reference, policy, tmp_path / "clean.parquet")
        failed = [c["name"] for c in report["checks"] if c["status"] == "fail"]
        assert code == 0 and not failed, (command, failed)


def _cases(task: str) -> list[tuple[str, str | None]]:
    common: list[tuple[str, str | None]] = [
        ("shift_feature", "f0"), ("null_burst", "f1"), ("unseen_categories", "channel"), ("out_of_range", "f2"),
        ("nan_predictions", None), ("latency_spike", None), ("traffic_gap", None), ("duplicated_ids", None),
    ]  # fmt: skip
    if task == "ranking":
        return [*common, ("ranking_degradation", None), ("proxy_drop", "purchased"), ("constant_predictions", None)]
    cases = [*common, ("label_flip", None), ("segment_degradation", "channel"), ("constant_predictions", None)]
    if task == "binary":
        cases.append(("out_of_unit_predictions", None))
    if task.startswith("multiclass"):  # a class prediction cannot be NaN or out of [0, 1]
        cases.remove(("nan_predictions", None))
    return cases


CASES = [(task, name, column) for task in TASKS for name, column in _cases(task)]


@pytest.mark.parametrize(("task", "name", "column"), CASES, ids=[f"{t}-{n}" for t, n, _ in CASES])
def test_each_fault_is_caught_by_its_check(task: str, name: str, column: str | None, logs: Any, mlrel: Any,
                                           tmp_path: Path) -> None:  # fmt: skip
    reference, current, policy, _ = logs(task)
    roles = faults.Roles(query="query_id", position="position") if task == "ranking" else faults.Roles()
    fault = faults.FAULT_BY_NAME[name]
    proxy = {"purchased": "conversion"}
    faulty = faults.inject(name, current, column, roles=roles)
    code, report = _run(mlrel, fault.command, faulty, reference, policy, tmp_path / "faulty.parquet")
    expected = faults.expected_check(name, proxy.get(column or "", column))
    if expected == "performance" and not any(c["name"] == "performance" for c in report["checks"]):
        # the metric checks are named performance:<metric>: one of them must fail
        expected = next(c["name"] for c in report["checks"] if c["name"].startswith("performance:") and c["status"] == "fail")
    found = check(report, expected)
    if fault.command == "drift":  # a drifted feature that is not critical is a warn check, drift_status fail
        assert found["details"]["drift_status"] == "fail", found
    else:
        assert found["status"] == "fail" and code == 1, found


def test_injectors_are_pure_seeded_and_start_at_start(logs: Any) -> None:
    _, current, _, _ = logs("binary")
    before = current.copy()
    start = dt.datetime(2026, 11, 24, 4, tzinfo=dt.UTC)
    a = faults.null_burst(current, "f1", size=0.5, start=start, seed=3)
    b = faults.null_burst(current, "f1", size=0.5, start=start, seed=3)
    pd.testing.assert_frame_equal(current, before)  # the input is untouched
    pd.testing.assert_frame_equal(a, b)  # the seed alone decides
    early = current["timestamp"] < pd.Timestamp(start)
    assert a.loc[early, "f1"].notna().all() and a.loc[~early, "f1"].isna().mean() == pytest.approx(0.5, abs=0.01)
    table = pa.Table.from_pandas(current, preserve_index=False)
    shifted = faults.shift_feature(table, "f0", size=1.0)
    assert isinstance(shifted, pa.Table) and shifted.schema == table.schema
    assert np.mean(shifted.column("f0").to_numpy() - current["f0"].to_numpy()) == pytest.approx(current["f0"].std(ddof=0))


def test_registry_names_every_injector() -> None:
    public = {n for n, v in vars(faults).items() if callable(v) and getattr(v, "__module__", "") == faults.__name__}
    injectors = {n for n in public if not n.startswith("_")} - {"inject", "expected_check", "Fault", "Roles"}
    assert {f.inject.__name__ for f in faults.FAULTS} == injectors
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        faults.inject("nope", pd.DataFrame())


# ---------------------------------------------------------------- on Arrow, without pandas in the injectors


def _small_table(n: int = 400) -> pa.Table:
    rng = np.random.default_rng(11)
    return pa.table(
        {
            "timestamp": pa.array(np.arange(n, dtype=np.int64) * 60_000_000_000 + 1, pa.timestamp("ns", tz="UTC")),
            "prediction_id": [f"r{i}" for i in range(n)],
            "count": pa.array(rng.integers(0, 50, n), pa.int64()),
            "amount": pa.array(np.where(rng.random(n) < 0.1, np.nan, rng.normal(10, 2, n))),
            "country": pa.array(rng.choice(["fr", "de", "it"], n, p=[0.6, 0.3, 0.1])).dictionary_encode(),
            "prediction": rng.random(n),
            "label": pa.array(rng.integers(0, 2, n), pa.int8()),
            "latency_ms": pa.array(rng.integers(5, 40, n), pa.int32()),
            "query_id": [f"q{i // 8}" for i in range(n)],
            "position": pa.array(np.arange(n) % 8 + 1, pa.int16()),
        }
    )


def test_types_kept_and_rows_picked_by_the_seed_alone() -> None:
    table = _small_table()
    start = dt.datetime(1970, 1, 1, 3, 20)  # naive: UTC; row 200 is at 03:20 plus 1 ns, so rows 200.. are after it
    after = np.arange(table.num_rows) >= 200
    expected = np.sort(np.random.default_rng(4).choice(np.flatnonzero(after), size=round(0.3 * after.sum()), replace=False))
    burst = faults.null_burst(table, "count", size=0.3, start=start, seed=4)
    assert burst.schema == table.schema  # an integer column with nulls stays integer
    assert np.flatnonzero(burst.column("count").is_null().to_numpy(zero_copy_only=False)).tolist() == expected.tolist()
    far = faults.out_of_range(table, "count", size=0.05, seed=1)
    assert far.schema.field("count").type == pa.int64() and max(far.column("count").to_pylist()) == 49 + 10 * 49
    nan = faults.nan_predictions(table, size=0.1, seed=2)
    assert nan.column("prediction").null_count == 40 and not np.isnan(nan.column("prediction").to_numpy()).all()
    amount = faults.shift_feature(table, "amount", size=1.0)  # NaN in the input is written as null
    assert amount.column("amount").null_count == int(np.isnan(table.column("amount").to_numpy()).sum())
    rare = faults.shift_feature(table, "country", size=0.5, seed=3)
    assert rare.schema.field("country").type == table.schema.field("country").type  # still dictionary-encoded
    counts = pd.Series(rare.column("country").to_pylist()).value_counts()
    assert counts["it"] > pd.Series(table.column("country").to_pylist()).value_counts()["it"]
    assert faults.latency_spike(table, size=2.0).column("latency_ms").type == pa.int32()


def test_a_frame_gets_the_same_rows_as_a_table() -> None:
    table = _small_table()
    frame = table.to_pandas()
    roles = faults.Roles(query="query_id", position="position")
    start = dt.datetime(1970, 1, 1, 3, tzinfo=dt.UTC)
    columns = {"feature": "amount", "categorical": "country", "segment": "country", "proxy": "count"}
    for fault in faults.FAULTS:
        from_table = faults.inject(fault.name, table, columns.get(fault.needs or ""), start=start, seed=9, roles=roles)
        from_frame = faults.inject(fault.name, frame, columns.get(fault.needs or ""), start=start, seed=9, roles=roles)
        assert isinstance(from_frame, pd.DataFrame), fault.name
        pd.testing.assert_frame_equal(from_frame, from_table.to_pandas(), check_dtype=False, obj=fault.name)
    pd.testing.assert_frame_equal(frame, table.to_pandas())  # the input untouched


def test_ranking_degradation_reverses_the_order_within_the_chosen_queries() -> None:
    table = _small_table()
    roles = faults.Roles(query="query_id", position="position")
    after = pd.Timestamp("1970-01-01T02:00:00Z")
    faulty = faults.ranking_degradation(table, size=0.5, start=after.to_pydatetime(), seed=5, roles=roles).to_pandas()
    before = table.to_pandas()
    changed = before.groupby("query_id")["prediction"].transform(lambda s: s.rank()) != faulty.groupby("query_id")[
        "prediction"
    ].transform(lambda s: s.rank())
    hit = faulty.loc[changed, "query_id"].unique()
    late = before.loc[before["timestamp"] >= after, "query_id"].unique()
    assert len(hit) == round(0.5 * len(late)) - 1 or len(hit) == round(0.5 * len(late))  # a straddling query is split
    for query in hit:  # reversed inside the query: the best is now the worst, positions mirrored
        rows = (faulty["query_id"] == query) & (faulty["timestamp"] >= after)
        old, new = before.loc[rows, "prediction"], faulty.loc[rows, "prediction"]
        assert np.allclose(new, old.max() + old.min() - old)
        assert (faulty.loc[rows, "position"] == before.loc[rows, "position"].max() + before.loc[rows, "position"].min()
                - before.loc[rows, "position"]).all()  # fmt: skip
    assert faulty["position"].dtype == before["position"].dtype


def test_traffic_gap_on_nanoseconds_and_iso_strings() -> None:
    table = _small_table()
    times = table.to_pandas()["timestamp"]
    first, last = times.min(), times.max()
    begin = first + (last - first) / 2
    keep = ~((times >= begin) & (times < begin + (last - first) * 0.25))
    assert faults.traffic_gap(table).num_rows == int(keep.sum()) < table.num_rows
    text = table.set_column(0, "timestamp", pa.array(times.dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()))
    assert faults.traffic_gap(text).column("prediction_id").equals(faults.traffic_gap(table).column("prediction_id"))
