"""The Dask engine: each Parquet row group is a task that summarises its columns where it lies.

``reduce`` runs a command's builder (a table of a row group's columns in, a
dict of mergeable summaries out: facts/, drift_summaries,
engine/evidence.py) on every row group, next to the data, and merges the
results in a tree (pairs of pairs) on the workers; one dict reaches the
client, never rows. A task that raises is retried twice, a dead worker's
tasks run elsewhere; when that fails the row group is named in the error.
Without ``--scheduler`` a local cluster of two worker processes is started
on 127.0.0.1 and stopped afterwards. docs/scale.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mlrel_cli.durations import format_duration
from mlrel_cli.engine import common
from mlrel_cli.engine.common import labelled_summary, merge_summaries, row_groups, run_on_row_group
from mlrel_cli.errors import LogError, MlrelError

RETRIES = 2
DEFAULT_TIMEOUT = dt.timedelta(minutes=5)  # engine_timeout: long enough for a worker to restart or a cluster to scale up


@contextlib.contextmanager
def client(scheduler: str | None, timeout: dt.timedelta | None = None) -> Iterator[Any]:
    """A connection to the cluster (``--scheduler``, or a local one), watched: a cluster with no worker for
    ``timeout`` (engine_timeout) stops the run with exit 2, where Dask would wait for a worker forever."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MlrelError("--engine dask needs Dask: pip install 'mlrel[dask]'") from None
    if scheduler:
        try:
            connection = Client(scheduler, timeout="15s")
        except OSError as exc:
            raise MlrelError(f"cannot reach the Dask scheduler: {exc}", scheduler) from None
        with connection, _watched(connection, timeout or DEFAULT_TIMEOUT, scheduler):
            yield connection
        return
    # the workers' own logs stay quiet: a failed task reaches the user as one error naming its row group; the
    # scheduler's HTTP server (health, metrics) takes any free loopback port, not 8787 with a warning when it is taken
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
    with cluster, Client(cluster) as connection, _watched(connection, timeout or DEFAULT_TIMEOUT, cluster.scheduler_address):
        yield connection


@contextlib.contextmanager
def _watched(connection: Any, timeout: dt.timedelta, address: str) -> Iterator[None]:
    """A thread asks the scheduler for its workers every second; when it has had none (or could not be reached)
    for ``timeout``, it closes the connection, which cancels every future the run is waiting on, and the run
    ends with one error naming the workers that were lost."""
    seen: list[str] = []
    fired: list[str] = []
    done = threading.Event()

    def watch() -> None:
        alone_since: float | None = None
        first = True
        while first or not done.wait(1.0):  # a first look at once: workers that die on their first task were there
            first = False
            try:
                workers = list(connection.nthreads())
            except Exception:  # the scheduler itself is gone: as good as no worker
                workers = []
            seen.extend(w for w in workers if w not in seen)
            if workers:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= timeout.total_seconds():
                span = format_duration(timeout)
                lost = f"lost every worker ({', '.join(seen)}) and none came back within" if seen else "has had no worker for"
                fired.append(f"the Dask cluster {lost} {span} (engine_timeout): the run stopped, nothing was judged")
                with contextlib.suppress(Exception):
                    connection.close(timeout=5)
                return

    watcher = threading.Thread(target=watch, name="mlrel-engine-timeout", daemon=True)
    watcher.start()
    try:
        yield
    except BaseException:
        if fired:
            raise LogError(fired[0], address) from None
        raise
    finally:
        done.set()


def reduce(
    connection: Any, log: Any, columns: list[str], build: Callable[..., dict[str, Any]], seeded: bool = False
) -> dict[str, Any]:
    """``build`` run on every row group of every file of ``log`` (a table of ``columns`` in, a dict of mergeable
    summaries out), the results merged pairwise in a tree on the cluster; one dict reaches the client."""
    from distributed import wait

    parts = row_groups(log)  # footers only, on the client: which row groups there are
    if not parts:
        return {}
    partitions = {name: log.schema.field(name).type for name in columns if log.has(name)}  # any a file may lack
    futures = connection.map(
        run_on_row_group, parts, columns=columns, build=build, seeded=seeded, partitions=partitions, retries=RETRIES, pure=False
    )
    wait(futures)
    for future, (path, row_group) in zip(futures, parts, strict=True):
        if future.status == "error":
            error = future.exception()
            if isinstance(error, MlrelError):  # the input's fault, found on a worker: the same one-line error as locally
                raise error
            why = f"{type(error).__name__}: {_first_line(error)}"  # pyarrow's messages run over several lines
            if type(error).__name__ == "KilledWorker":
                why = "every worker that ran it died (KilledWorker); the workers' logs say why"
            raise LogError(f"cannot summarise row group {row_group} of the {log.label} on the cluster: {why}", path)
    layer = futures
    while len(layer) > 1:
        pairs = [
            connection.submit(merge_summaries, layer[i], layer[i + 1], retries=RETRIES, pure=False)
            for i in range(0, len(layer) - 1, 2)
        ]
        if len(layer) % 2:
            pairs.append(layer[-1])
        layer = pairs
    return layer[0].result()


@contextlib.contextmanager
def shuffled_step(log: Any, what: str) -> Iterator[None]:
    """Any failure of a step that moves rows between workers: one error naming the log (input errors as they are)."""
    try:
        yield
    except MlrelError:
        raise
    except Exception as exc:
        raise LogError(f"cannot {what} on the cluster: {type(exc).__name__}: {_first_line(exc)}", log.path) from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_frame(log: Any, columns: list[str]) -> Any:
    """The log's columns as a dask.dataframe, read through the same pyarrow filesystem as the row-group tasks."""
    import dask.dataframe as dd

    from mlrel_cli.logs import filesystem_of

    fs, _ = filesystem_of(log.files[0])
    return dd.read_parquet([filesystem_of(f)[1] for f in log.files], columns=columns, filesystem=fs)


def count_duplicates(log: Any, column: str, top: int) -> tuple[int, int, list[dict[str, Any]]]:
    """Ids present, rows repeating an id, and the ``top`` most repeated ids, counted on the cluster.

    The one check that needs every id next to every other: dask.dataframe's
    value_counts shuffles the ids between the workers by hash (split_out), so
    no worker and not the client holds them all; only the counts come back.
    """
    import dask

    with shuffled_step(log, f"count duplicate ids of '{column}'"):
        ids = read_frame(log, [column])[column]
        counts = ids.value_counts(split_out=max(1, ids.npartitions // 4))
        repeated = counts[counts > 1]
        n_valid, extra, most = dask.compute(ids.count(), (repeated - 1).sum(), repeated.nlargest(top))
    return int(n_valid), int(extra), [{"value": value, "count": int(count)} for value, count in most.items()]


def per_query_sums(
    log: Any, columns: list[str], query: str, units: Callable[..., dict[str, Any]], names: list[str]
) -> dict[str, dict[str, float]]:
    """Per-query units summed over all queries: for each name, how many finite values, their sum and sum of squares.

    A query's results may lie in several row groups, so its rows are first
    brought together: dask.dataframe shuffles the rows between the workers by
    the query's hash; each partition then holds whole queries, and
    ``units(table, query_codes)`` (per-query arrays by name) runs on it.
    Only the sums reach the client.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    hive = [c for c in columns if c in log.partition_columns]
    if hive:
        raise LogError(
            f"per-query metrics on the cluster read columns inside the files; {', '.join(hive)} is a hive "
            "partition column: use --engine local",
            log.path,
        )
    keys = [f"{name}|{stat}" for name in names for stat in ("n", "sum", "sum2")]

    def per_partition(frame: pd.DataFrame) -> pd.DataFrame:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        encoded = pc.dictionary_encode(table.column(query)).combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        row = dict.fromkeys(keys, 0.0)
        for name, values in units(table, codes).items():
            finite = values[np.isfinite(values)]
            row.update(
                {f"{name}|n": float(len(finite)), f"{name}|sum": float(finite.sum()), f"{name}|sum2": float((finite**2).sum())}
            )
        return pd.DataFrame([row], columns=keys)

    with shuffled_step(log, "compute per-query metrics"):
        totals = (
            read_frame(log, columns).shuffle(on=query).map_partitions(per_partition, meta=pd.DataFrame(columns=keys, dtype=float))
        )
        found = totals.sum().compute()
    return {name: {stat: float(found[f"{name}|{stat}"]) for stat in ("n", "sum", "sum2")} for name in names}


def distinct_times(log: Any, column: str, where: str, width_of: Callable[[Any], int | None]) -> tuple[Any, Any]:
    """A ranking log's distinct serving times (one per query) on the cluster: their TimeFacts, and the count per
    downtime window (of the width ``width_of`` picks from them; None when it picks none). The times are
    deduplicated by a shuffle between workers; only the count, the extremes and the window counts come back."""
    import dask
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlrel_cli.facts.columns import TimeFacts
    from mlrel_cli.logs.values import to_timestamps_us

    def microseconds(frame: pd.DataFrame) -> pd.Series:
        values = to_timestamps_us(pa.chunked_array([pa.Array.from_pandas(frame[column])]), where)
        return pd.Series(values, dtype="int64")

    with shuffled_step(log, f"count the distinct times of '{column}'"):
        times = read_frame(log, [column]).map_partitions(microseconds, meta=pd.Series(dtype="int64"))
        unique = times.drop_duplicates(split_out=max(1, times.npartitions // 4)).persist()
        count, oldest, newest = dask.compute(unique.count(), unique.min(), unique.max())
        facts = TimeFacts(int(count), int(oldest), int(newest)) if count else TimeFacts(0, 0, 0)
        width = width_of(facts) if count else None
        if width is None:
            return facts, None
        n = int((facts.newest - facts.oldest) // width) + 1

        def per_window(values: pd.Series) -> np.ndarray:
            return np.bincount((values.to_numpy() - facts.oldest) // width, minlength=n)

        parts = [dask.delayed(per_window)(part) for part in unique.to_delayed()]
        return facts, np.sum(dask.compute(*parts), axis=0)


def column_summaries(engine: Any, log: Any, kinds: dict[str, str], grid: Any) -> Callable[[str], tuple[Any, list[Any]]]:
    """Every column summarised in one pass over the row groups (numeric ones as quantile sketches), and per window."""
    from functools import partial

    from mlrel_cli.facts.distributions import drift_summaries, from_sketch
    from mlrel_cli.stats.summaries import TooManyCategories

    columns = list(kinds) + ([grid.column] if grid is not None and grid.column not in kinds else [])
    found = engine.reduce(log, columns, partial(drift_summaries, kinds=kinds, grid=grid))

    def summary(name: str) -> tuple[Any, list[Any]]:
        if isinstance(found[name], TooManyCategories):
            return found[name], []
        parts = found.get(f"{name}@windows")
        return from_sketch(found[name]), [from_sketch(p) for p in parts.parts] if parts is not None else []

    return summary


def labelled_metric(
    engine: Any,
    log: Any,
    columns: list[str],
    prepare: Callable[..., Any],
    task: str,
    metric: str,
    threshold: float,
    grid: Any,
) -> tuple[Any, list[Any]]:
    """The metric from merged labelled parts (per window: the parts of segment ``window``), with a uniform sample
    of the labelled rows for the standard errors."""

    from mlrel_cli.facts.concept import MetricRows
    from mlrel_cli.stats.inference import SE_MAX_ROWS

    found = engine.labelled_summary(log, columns, prepare, task, threshold, 2 * SE_MAX_ROWS)
    sample = found["sample"]
    truth, predicted = (sample.column(c).to_numpy(zero_copy_only=False) for c in ("truth", "predicted"))
    whole = MetricRows(found["metrics"].get(metric, float("nan")), found["rows"], truth, predicted, found["rows"])
    if grid is None:
        return whole, []
    window_of = sample.column("segment:window").to_numpy(zero_copy_only=False)
    parts = []
    for i in range(grid.n_windows):
        n, metrics = found["segments"].get(("window", str(i)), (0, {}))
        mine = window_of == i
        parts.append(MetricRows(metrics.get(metric, float("nan")), n, truth[mine], predicted[mine], n))
    return whole, parts


def proxy_metrics(engine: Any, log: Any, policy: Any, grid: Any) -> dict[str, Any]:
    """Proxy metrics on the cluster: per-request ones from merged sums (per window too), per-query ones from the rows
    shuffled by query (each partition holding whole queries), per window too."""
    from functools import partial

    from mlrel_cli.errors import PolicyError
    from mlrel_cli.facts.proxy import ProxyFacts, proxy_facts, proxy_inputs, query_units
    from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

    per_query = [name for name, spec in policy.proxy_metrics.items() if spec.per == "query"]
    query = policy.columns.query
    if per_query and not (query and log.has(query)):
        raise PolicyError(
            f"proxy_metrics.{per_query[0]}: per query needs columns.query in both logs",
            policy.source_of(f"proxy_metrics.{per_query[0]}"),
        )
    metrics = {name: (spec.kind, proxy_inputs(policy, log, name)) for name, spec in policy.proxy_metrics.items()}
    columns = list(dict.fromkeys(c for _, inputs in metrics.values() for c in inputs.values()))
    if grid is not None and grid.column not in columns:
        columns.append(grid.column)
    request = {name: m for name, m in metrics.items() if name not in per_query}
    found = engine.reduce(log, columns, partial(proxy_facts, metrics=request, grid=grid)) if request else {}
    n_windows = grid.n_windows if grid is not None else 0
    if per_query:
        names = [f"proxy:{name}{suffix}" for name in per_query for suffix in ["", *(f"@{i}" for i in range(n_windows))]]
        names += [f"rows@{i}" for i in range(n_windows)]
        units = partial(query_units, metrics={name: metrics[name] for name in per_query}, grid=grid)
        found["per_query"] = engine.per_query_sums(log, [query, *columns], query, units, names)
    out = {}
    for name, spec in policy.proxy_metrics.items():
        if name in per_query:
            sums = found["per_query"]
            value, se = mean_and_se(sums[f"proxy:{name}"])
            per_window = [(int(sums[f"rows@{i}"]["n"]), *mean_and_se(sums[f"proxy:{name}@{i}"])) for i in range(n_windows)]
        else:
            value, se = proxy_from_sums(spec.kind, found[f"proxy:{name}"].values)
            parts = found.get(f"proxy:{name}@windows")
            per_window = [(int(p.values["rows"]), *proxy_from_sums(spec.kind, p.values)) for p in parts.parts] if parts else []
        out[name] = ProxyFacts(value, se, per_window)
    return out


@dataclass(frozen=True)
class DaskEngine:
    """The Engine on a Dask cluster: builders run on the workers next to the data, only facts come back."""

    connection: Any = field(repr=False)
    name: str = "dask"

    def reduce(self, log: Any, columns: list[str], build: Callable[..., dict[str, Any]], seeded: bool = False) -> dict[str, Any]:
        if (profile := common.profile_of(log)) is not None:  # a reference profile: its summaries, no task
            return profile.answer(columns, build, seeded)
        return reduce(self.connection, log, columns, build, seeded)

    def labelled_log(self, log: Any, roles: Any, labels: Any, policy: Any) -> Any:
        raise LogError(common.LABELS_NEED_ONE_PLACE, labels.path)

    def column_facts(self, log: Any, plan: Any, done: Callable[[str], None] | None = None) -> dict[str, Any]:
        return common.column_facts(self, log, plan, done)

    def labelled_summary(
        self, log: Any, columns: list[str], prepare: Callable[..., Any], task: str, threshold: float, sample_rows: int
    ) -> dict[str, Any]:
        return labelled_summary(self, log, columns, prepare, task, threshold, sample_rows)

    def labelled_evidence(
        self,
        log: Any,
        columns: list[str],
        rows_of: Callable[..., Any],
        task: str,
        threshold: float,
        segments: list[str],
        sample_rows: int,
    ) -> Any:
        return common.labelled_evidence(self, log, columns, rows_of, task, threshold, segments, sample_rows)

    def few_values(self, log: Any, name: str, limit: int = 20) -> bool:
        return common.few_values(self, log, name, limit)

    def count_duplicates(self, log: Any, column: str, top: int) -> tuple[int, int, list[dict[str, Any]]]:
        common.refuse_profile(log, "counting duplicate ids")
        return count_duplicates(log, column, top)

    def per_query_sums(
        self, log: Any, columns: list[str], query: str, units: Callable[..., dict[str, Any]], names: list[str]
    ) -> dict[str, dict[str, float]]:
        if (profile := common.profile_of(log)) is not None:
            return profile.per_query_sums(names, units)
        return per_query_sums(log, columns, query, units, names)

    def distinct_times(self, log: Any, column: str, where: str, width_of: Callable[[Any], int | None]) -> tuple[Any, Any]:
        common.refuse_profile(log, "counting distinct times")
        return distinct_times(log, column, where, width_of)

    def column_summaries(self, log: Any, kinds: dict[str, str], grid: Any = None) -> Callable[[str], tuple[Any, list[Any]]]:
        return column_summaries(self, log, kinds, grid)

    def labelled_metric(
        self,
        log: Any,
        columns: list[str],
        prepare: Callable[..., Any],
        task: str,
        metric: str,
        threshold: float,
        grid: Any = None,
    ) -> tuple[Any, list[Any]]:
        return labelled_metric(self, log, columns, prepare, task, metric, threshold, grid)

    def sample(self, log: Any, columns: list[str], rows: int) -> Any:
        return common.sample(self, log, columns, rows)

    def proxy_metrics(self, log: Any, policy: Any, grid: Any = None) -> dict[str, Any]:
        return proxy_metrics(self, log, policy, grid)

    def model_evidence(self, sources: list[Any], policy: Any, labels: Any = None) -> tuple[list[Any], str]:
        from mlrel_cli.engine.evidence import from_passes

        assert labels is None, "refused by engine.check_engine"
        return from_passes(self, sources, policy)

    def regression_sums(self, sources: list[Any], models: list[Any], task: str, policy: Any, mode: str) -> list[Any]:
        from mlrel_cli.engine.evidence import regressions_from_passes

        assert mode != "shadow", "refused by engine.check_engine"
        return regressions_from_passes(self, sources, models, task, policy)
