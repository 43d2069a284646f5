"""The Dask engine: each Parquet row group is a task that summarises its columns where it lies.

Workers read their file's columns, build a quantile sketch per numeric
column and category counts per categorical one, and send back only those;
summaries are merged in a tree (pairs of pairs) on the workers, and one
summary per column reaches the client. A task whose worker dies is retried
(twice) on another worker; a file that cannot be read is named in the error.
Without ``--scheduler`` a local cluster of two worker processes is started
on 127.0.0.1 and stopped afterwards. docs/scale.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from mlrel_cli.errors import LogError, MlrelError

RETRIES = 2


def read_row_group(part: tuple[str, int], columns: list[str]) -> Any:
    """Runs on a worker: one row group's columns, read where the file lies."""
    import pyarrow.parquet as pq

    from mlrel_cli.logs import filesystem_of

    location, row_group = part
    fs, path = filesystem_of(location)
    return pq.ParquetFile(path, filesystem=fs).read_row_group(row_group, columns=columns)


def run_on_row_group(part: tuple[str, int], columns: list[str], build: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return build(read_row_group(part, columns))


def drift_summaries(table: Any, kinds: dict[str, str]) -> dict[str, Any]:
    """A quantile sketch per numeric column, category counts per categorical one (as strings, like the local engine)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlrel_cli.logs import to_numpy_float
    from mlrel_cli.stats.sketch import QuantileSketch
    from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary

    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        column = table.column(name)
        if kind == "numeric":
            exact = NumericSummary.from_values(to_numpy_float(column).copy(), in_place=True)
            out[name] = QuantileSketch.from_sorted(exact.sorted_values, exact.missing, exact.infinite)
        else:
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                column = pc.cast(column, pa.string())
            counts = pc.value_counts(column.combine_chunks())
            values = counts.field("values").to_pylist()
            sizes = counts.field("counts").to_pylist()
            missing = sum(size for value, size in zip(values, sizes, strict=True) if value is None)
            kept = [(v, n) for v, n in zip(values, sizes, strict=True) if v is not None]
            out[name] = CategoricalSummary.from_counts([v for v, _ in kept], np.array([n for _, n in kept]), missing)
    return out


def merge_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {name: a[name].merge(b[name]) for name in a}


@contextlib.contextmanager
def client(scheduler: str | None) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MlrelError("--engine dask needs Dask: pip install 'mlrel[dask]'") from None
    if scheduler:
        try:
            connection = Client(scheduler, timeout="15s")
        except OSError as exc:
            raise MlrelError(f"cannot reach the Dask scheduler: {exc}", scheduler) from None
        with connection:
            yield connection
        return
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    with cluster, Client(cluster) as connection:
        yield connection


def reduce(
    connection: Any, files: list[str], columns: list[str], build: Callable[[Any], dict[str, Any]], label: str
) -> dict[str, Any]:
    """``build`` run on every row group of every file (a table of ``columns`` in, a dict of mergeable summaries out),
    the results merged pairwise in a tree on the cluster; one dict reaches the client."""
    import pyarrow.parquet as pq
    from distributed import wait

    from mlrel_cli.logs import filesystem_of

    parts = []
    for location in files:  # footers only, on the client: which row groups there are
        fs, path = filesystem_of(location)
        parts.extend((location, i) for i in range(pq.read_metadata(path, filesystem=fs).num_row_groups))
    if not parts:
        return {}
    futures = connection.map(run_on_row_group, parts, columns=columns, build=build, retries=RETRIES, pure=False)
    wait(futures)
    for future, (path, row_group) in zip(futures, parts, strict=True):
        if future.status == "error":
            error = future.exception()
            why = f"{type(error).__name__}: {error}"
            if type(error).__name__ == "KilledWorker":
                why = "every worker that ran it died (KilledWorker); the workers' logs say why"
            raise LogError(f"cannot summarise row group {row_group} of the {label} on the cluster: {why}", path)
    layer = futures
    while len(layer) > 1:
        pairs = [connection.submit(merge_summaries, layer[i], layer[i + 1], retries=RETRIES, pure=False)
                 for i in range(0, len(layer) - 1, 2)]  # fmt: skip
        if len(layer) % 2:
            pairs.append(layer[-1])
        layer = pairs
    return layer[0].result()
