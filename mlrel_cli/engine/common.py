"""What both engines share: reading one row group, building facts from it, merging them, and the reductions
written once over any engine's ``reduce``.

A builder (a table of a row group's columns in, a dict of mergeable facts out)
runs on every row group; the dicts merge pairwise in a tree, so the local and
the Dask engine merge in the same order and reach the same facts.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrel_cli.engine.interface import Engine
    from mlrel_cli.facts.labelled import LabelledEvidence, RowsOf
    from mlrel_cli.facts.profile_log import ProfileLog
    from mlrel_cli.logs import Log


LABELS_NEED_ONE_PLACE = "--labels is joined on the id, which needs every row in one place: use the local engine"


def profile_of(log: Any) -> ProfileLog | None:
    """The reference profile standing in for a log: the engines answer from its summaries, reading no row."""
    from mlrel_cli.facts.profile_log import ProfileLog

    return log if isinstance(log, ProfileLog) else None


def refuse_profile(log: Any, what: str) -> None:
    """What needs the rows side by side (duplicate ids, distinct times) is not in a profile."""
    if (profile := profile_of(log)) is not None:
        from mlrel_cli.errors import LogError

        raise LogError(f"the reference is a profile (summaries, not rows): {what} needs the raw reference log", profile.path)


def row_groups(log: Log) -> list[tuple[str, int]]:
    """Every (file, row group) of the log, from the footers only."""
    import pyarrow.parquet as pq

    from mlrel_cli.logs import filesystem_of

    parts: list[tuple[str, int]] = []
    for location in log.files:
        fs, path = filesystem_of(location)
        parts.extend((location, i) for i in range(pq.read_metadata(path, filesystem=fs).num_row_groups))
    return parts


def read_row_group(part: tuple[str, int], columns: list[str], partitions: dict[str, Any] | None = None) -> Any:
    """Runs on a worker: one row group's columns, read where the file lies. ``partitions`` gives the log's type of
    each column that a file may lack: a hive partition column (``date=...`` in the path, not in the file) becomes a
    constant column, any other column this file lacks a null one, as the local engine reads them."""
    import urllib.parse

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlrel_cli.logs import filesystem_of

    location, row_group = part
    fs, path = filesystem_of(location)
    file = pq.ParquetFile(path, filesystem=fs)
    in_file = set(file.schema_arrow.names)
    partitions = {name: dtype for name, dtype in (partitions or {}).items() if name in columns and name not in in_file}
    table = file.read_row_group(row_group, columns=[c for c in columns if c not in partitions])
    if partitions:
        keys = dict(segment.split("=", 1) for segment in path.split("/") if "=" in segment)
        for name, dtype in partitions.items():
            value = urllib.parse.unquote(keys[name]) if name in keys else None
            constant = pa.array([value] * table.num_rows, type=pa.string()).cast(dtype)
            table = table.append_column(name, constant)
    return table


def run_on_row_group(
    part: tuple[str, int],
    columns: list[str],
    build: Callable[..., dict[str, Any]],
    seeded: bool = False,
    partitions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from mlrel_cli.stats.summaries import capped

    table = read_row_group(part, columns, partitions)
    built = build(table, seed=seed_of(part)) if seeded else build(table)
    return {key: capped(value) for key, value in built.items()}


def seed_of(part: tuple[str, int]) -> int:
    """A row group's own random seed: the same sample on every run, whichever worker draws it."""
    return zlib.crc32(f"{part[0]}:{part[1]}".encode())


def distinct_values(table: Any, column: str, limit: int) -> dict[str, Any]:
    import pyarrow.compute as pc

    from mlrel_cli.facts.merge import DistinctUpTo

    values = pc.unique(pc.drop_null(table.column(column))).to_pylist()
    return {"values": DistinctUpTo(frozenset(values) if len(values) <= limit else None, limit)}


def few_values(engine: Engine, log: Log, name: str, limit: int = 20) -> bool:
    """Whether a column holds at most ``limit`` distinct values (a label's classes)."""
    from functools import partial

    found = engine.reduce(log, [name], partial(distinct_values, column=name, limit=limit))
    return bool(found) and found["values"].values is not None


def column_facts(engine: Engine, log: Log, plan: Any, done: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A plan's column facts in one pass over the row groups, merged."""
    from functools import partial

    from mlrel_cli.facts.columns import build, columns_of

    found = engine.reduce(log, columns_of(plan), partial(build, plan=plan)) if plan else {}
    for key in found:
        if done is not None:
            done(key)
    return found


def merge_in_tree(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Pairs of pairs, left to right: the order the Dask engine merges in, so both engines build the same facts."""
    layer = parts
    while len(layer) > 1:
        pairs = [merge_summaries(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        if len(layer) % 2:
            pairs.append(layer[-1])
        layer = pairs
    return layer[0] if layer else {}


def merge_summaries(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Key by key; category counts past the cap become TooManyCategories, so no summary grows with the rows."""
    from mlrel_cli.stats.summaries import capped

    return {name: capped(a[name].merge(b[name])) for name in a}


def labelled_summary(
    engine: Engine, log: Log, columns: list[str], prepare: Callable[..., Any], task: str, threshold: float, sample_rows: int
) -> dict[str, Any]:
    """The label metrics of a log's labelled rows, overall and per segment value, from the engine's merged parts.

    ``prepare`` (run on the workers) turns a row group into its labelled rows, as the command selects them:
    (truth, prediction, {segment: values as text}). Two passes: a score sketch (for the cells' edges) with a
    uniform sample of about ``sample_rows`` labelled rows (for standard errors), then the labelled parts.
    """
    from functools import partial

    from mlrel_cli.facts.labelled import labelled_parts, labelled_sample, needs_score_edges, part_metrics
    from mlrel_cli.stats import resampling as rs

    if (profile := profile_of(log)) is not None:
        return profile.labelled_summary(columns, prepare, task, threshold)
    fraction = min(1.0, sample_rows / max(log.num_rows, 1))
    first = engine.reduce(log, columns, partial(labelled_sample, prepare=prepare, task=task, fraction=fraction), seeded=True)
    edges = {"score": rs.score_edges([first["score"].points], threshold)} if needs_score_edges(task) else {}
    parts = engine.reduce(log, columns, partial(labelled_parts, prepare=prepare, task=task, edges=edges))
    return {
        "metrics": part_metrics(task, parts["whole"].values, edges, threshold),
        "rows": int(parts["whole"].values["n"]),
        "sample": first["sample"].table,
        "segments": {
            key: (int(part.values["n"]), part_metrics(task, part.values, edges, threshold))
            for key, part in parts["segments"].parts.items()
        },
    }


def labelled_evidence(
    engine: Engine,
    log: Log,
    columns: list[str],
    rows_of: RowsOf,
    task: str,
    threshold: float,
    segments: list[str],
    sample_rows: int,
) -> LabelledEvidence:
    """Engine.labelled_evidence from merged labelled parts and a uniform sample (``labelled_summary``)."""
    from functools import partial

    from mlrel_cli.facts.labelled import evidence_of_parts, with_segments

    prepare = partial(with_segments, rows_of=rows_of, segments=segments)
    return evidence_of_parts(engine.labelled_summary(log, columns, prepare, task, threshold, sample_rows), segments)


def sample(engine: Engine, log: Log, columns: list[str], rows: int) -> Any:
    """About ``rows`` rows of these columns drawn uniformly, as a table: each row group's own seeded draw, merged."""
    from functools import partial

    from mlrel_cli.facts.merge import sample_rows

    fraction = min(1.0, rows / max(log.num_rows, 1))
    return engine.reduce(log, columns, partial(sample_rows, columns=columns, fraction=fraction), seeded=True)["sample"].table
