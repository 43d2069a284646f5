"""The Engine interface: the local engine's facts checked against pandas and numpy, and against the Dask engine's."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrel_cli.engine import check_engine, open_engine
from mlrel_cli.engine.interface import Engine
from mlrel_cli.engine.local import LocalEngine
from mlrel_cli.errors import LogError, MlrelError
from mlrel_cli.facts.columns import build, columns_of
from mlrel_cli.facts.merge import sample_rows
from mlrel_cli.logs import open_log

T0_US = 1_795_392_000 * 1_000_000


def _log(tmp_path: Path) -> Path:
    """Two files of several row groups; repeated ids, queries spread over row groups, several rows per time."""
    rng = np.random.default_rng(7)
    n = 12_000
    ids = [f"id-{i}" for i in rng.integers(0, 9_000, n)]
    table = pa.table(
        {
            "id": ids,
            "x": np.where(rng.random(n) < 0.05, np.nan, rng.normal(0, 1, n)),
            "query": rng.integers(0, 700, n),
            "gain": rng.random(n),
            "timestamp": pa.array(T0_US + rng.integers(0, 3_000, n) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        }
    )
    folder = tmp_path / "log"
    folder.mkdir()
    pq.write_table(table.slice(0, 7_000), folder / "part-0.parquet", row_group_size=1_500)
    pq.write_table(table.slice(7_000), folder / "part-1.parquet", row_group_size=1_500)
    return folder


def _query_sum(table: pa.Table, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per query: the sum of its gains (a unit that is only right with the whole query's rows)."""
    return {"gain_sum": np.bincount(codes, weights=table.column("gain").to_numpy(), minlength=int(codes.max()) + 1)}


def _width(_facts: Any) -> int:
    return 60 * 1_000_000


def _facts_of(engine: Engine, log: Any) -> dict[str, Any]:
    plan = {"numeric:x": ("numeric", "x", {"lo": -1.0, "hi": 1.0, "keep": 5})}
    columns = {
        **plan,
        "time": ("time", "timestamp", {"where": "log: timestamp"}),
        "labels": ("labels", "x", {}),
        "prediction": ("prediction", "gain", {}),
        "latency": ("latency", "gain", {}),
    }
    return {
        "numeric": engine.reduce(log, columns_of(plan), partial(build, plan=plan))["numeric:x"],
        "sample": engine.reduce(log, ["x"], partial(sample_rows, columns=["x"], fraction=0.1), seeded=True)["sample"].table,
        "duplicates": engine.count_duplicates(log, "id", 3),
        "per_query": engine.per_query_sums(log, ["query", "gain"], "query", _query_sum, ["gain_sum"]),
        "times": engine.distinct_times(log, "timestamp", "log: timestamp", _width),
        "few": (engine.few_values(log, "query", 1_000), engine.few_values(log, "query", 20)),
        "columns": engine.column_facts(log, columns),
    }


def _numbers(facts: Any) -> tuple[Any, ...]:
    return facts.rows, facts.missing, facts.below, facts.above, facts.low, facts.high, facts.offenders.tolist()


def test_local_engine_against_pandas(tmp_path: Path) -> None:
    log = open_log(_log(tmp_path))
    assert log.row_groups > 2
    frame = pd.read_parquet(tmp_path / "log")
    facts = _facts_of(LocalEngine(), log)

    x = frame["x"].dropna()
    numeric = facts["numeric"]
    assert (numeric.rows, numeric.missing, numeric.below, numeric.above) == (
        len(frame),
        frame["x"].isna().sum(),
        (x < -1).sum(),
        (x > 1).sum(),
    )
    assert numeric.low == x.min() and numeric.high == x.max()
    assert sorted(numeric.offenders) == sorted(x[(x - x.clip(-1, 1)).abs().nlargest(5).index])

    counts = frame["id"].value_counts()
    n_valid, extra, most = facts["duplicates"]
    assert n_valid == len(frame) and extra == int((counts[counts > 1] - 1).sum())
    assert [m["count"] for m in most] == counts.nlargest(3).tolist()
    assert all(counts[m["value"]] == m["count"] for m in most)

    per_query = frame.groupby("query")["gain"].sum()
    sums = facts["per_query"]["gain_sum"]
    assert sums["n"] == len(per_query)
    assert sums["sum"] == pytest.approx(per_query.sum()) and sums["sum2"] == pytest.approx((per_query**2).sum())

    times, windows = facts["times"]
    distinct = np.unique(pq.read_table(tmp_path / "log").column("timestamp").cast(pa.int64()).to_numpy())  # µs
    assert (times.count, times.oldest, times.newest) == (len(distinct), distinct.min(), distinct.max())
    assert windows.tolist() == np.bincount((distinct - distinct.min()) // _width(None)).tolist()

    assert facts["few"] == (True, False)  # 700 distinct queries: at most 1,000, not at most 20
    assert 0.05 < facts["sample"].num_rows / len(frame) < 0.15

    columns = facts["columns"]  # from whole columns: the same numbers as merged row groups, every latency value kept
    assert _numbers(columns["numeric:x"]) == _numbers(numeric)
    assert (columns["time"].count, columns["labels"].labelled, columns["prediction"].finite) == (len(frame),) * 3
    assert sorted(columns["latency"].points) == sorted(frame["gain"]) and columns["latency"].high == frame["gain"].max()


def test_local_and_dask_engines_build_the_same_facts(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the Dask engine needs dask[distributed]")
    log = open_log(_log(tmp_path))
    local = _facts_of(LocalEngine(), log)
    with open_engine("dask") as engine:
        assert engine.name == "dask"
        on_dask = _facts_of(engine, log)
    assert on_dask["numeric"].rows == local["numeric"].rows
    np.testing.assert_array_equal(on_dask["numeric"].offenders, local["numeric"].offenders)
    # each row group's own seed, merged in the same order: the same rows (NaN included) in the same order
    np.testing.assert_array_equal(on_dask["sample"].column("x").to_numpy(), local["sample"].column("x").to_numpy())
    assert on_dask["duplicates"][:2] == local["duplicates"][:2]
    assert sorted(m["count"] for m in on_dask["duplicates"][2]) == sorted(m["count"] for m in local["duplicates"][2])
    assert on_dask["per_query"]["gain_sum"] == pytest.approx(local["per_query"]["gain_sum"])
    assert on_dask["times"][0] == local["times"][0]
    np.testing.assert_array_equal(on_dask["times"][1], local["times"][1])
    assert on_dask["few"] == local["few"]
    assert _numbers(on_dask["columns"]["numeric:x"]) == _numbers(local["columns"]["numeric:x"])
    for key in ("time", "labels", "prediction"):
        assert on_dask["columns"][key] == local["columns"][key]
    assert on_dask["columns"]["latency"].high == local["columns"]["latency"].high  # Dask keeps a sketch of the rest


def test_one_place_states_what_an_engine_refuses(tmp_path: Path) -> None:
    labels = open_log(_log(tmp_path))
    assert check_engine("local", labels=labels, shadow=True) == "local"
    with pytest.raises(MlrelError, match="unknown engine 'spark'"):
        check_engine("spark")
    with pytest.raises(LogError, match="--labels is joined on the id"):
        check_engine("dask", labels=labels)
    with pytest.raises(MlrelError, match="shadow mode pairs the models' rows"):
        check_engine("dask", shadow=True)
    assert check_engine("dask", scheduler="tcp://127.0.0.1:8786") == "dask"
    with pytest.raises(MlrelError, match="--scheduler names a Dask cluster, but the engine is local"):
        check_engine("local", scheduler="tcp://127.0.0.1:8786")  # was ignored: the run went local without a word


@pytest.mark.parametrize(
    "command",
    [
        ["drift", "-r", "samples/reference.parquet", "-c", "samples/current.parquet"],
        ["validate", "samples/current.parquet"],
        ["compare", "--log", "samples/incident.parquet", "--baseline", "v41", "--candidate", "v42"],
        ["profile", "samples/reference.parquet", "-o", "OUT"],
    ],
)
def test_a_scheduler_without_the_dask_engine_is_refused_by_every_command(command: list[str], tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out.mlrel-profile"
    args = [str(out) if a == "OUT" else a for a in command]
    run = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", *args, "--scheduler", "tcp://127.0.0.1:1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.startswith("error: --scheduler names a Dask cluster"), run.stderr
    assert not out.exists()
    with open_engine("local") as engine:
        assert isinstance(engine, LocalEngine)
