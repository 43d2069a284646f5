"""Compare's weak segments on a Dask cluster: the slices where a candidate regresses, from per-slice sums.

The local search (compare/slices.py) bins both sides alike and sums each slice's loss; those sums add up over
row groups (``stats.slices.SliceSums.merge``), so on a cluster (canary mode; shadow mode is refused there):

1. a uniform sample of about 200,000 labelled rows of each model's searched columns (the whole model below
   that), and whether a binary model's outputs are all 0 or 1 (then its loss is the error rate);
2. the bins from the samples, as the local engine makes them from all rows: numeric edges at the baseline's
   quantiles, the most frequent categories of both sides together;
3. each row group's sums of every single condition and every pair, per model, merged by ``Engine.reduce``;
4. judged by ``stats.slices.judge_regression_sums``: the local search's order, slice budget, test and
   correction (the time budget does not apply).

Where a model has at most 200,000 labelled rows the sample is the whole model and both engines report the same
slices (tests/test_compare_dask_segments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import weak_segments
from mlrel_cli.engine.interface import Engine
from mlrel_cli.facts.merge import Sums, TableSample
from mlrel_cli.facts.models import SLICE_PREFIX, version_rows
from mlrel_cli.logs import Log, kind_of_type, to_numpy_float
from mlrel_cli.payloads.compare import WeakRegressions
from mlrel_cli.policy import Policy
from mlrel_cli.stats.slices import Condition, add_pair_sums, bin_categories, numeric_edges, single_sums
from mlrel_cli.tasks import task_of


@dataclass(frozen=True)
class Where:
    """Where one model's rows are: its log, its version in it (or ALL), the log's columns renamed."""

    log: Log
    version: str
    columns: dict[str, str]


@dataclass(frozen=True)
class Bins:
    """The bins both sides share: per column, numeric edges or category values (``cast``: compared as text)."""

    columns: tuple[tuple[str, str, tuple[Any, ...], bool], ...]  # name, numeric or categorical, edges or values, cast
    conditions: tuple[tuple[Condition | None, ...], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.conditions)


def slice_columns(log: Log, policy: Policy) -> dict[str, str]:
    """The renamed searched columns (``__slice:<kind>:<name>``) of a labelled log, when the search is enabled."""
    from mlrel_cli.logs import resolve_roles

    if not policy.compare.weak_segments.enabled:
        return {}
    roles = resolve_roles(log, policy)
    kinds = weak_segments.searched_columns(log, roles.features, roles.segments, policy.validate_.weak_segments)
    return {f"{SLICE_PREFIX}{kind}:{name}": name for name, kind in kinds.items()}


def _labelled(table: pa.Table, columns: dict[str, str], version: str, policy: Policy, task: str) -> Any:
    (_, model) = version_rows(table, columns, [version], policy, task)[version]
    return model


def sample_pass(
    table: pa.Table, seed: int, columns: dict[str, str], version: str, policy: Policy, task: str, fraction: float
) -> dict[str, Any]:
    """Runs on a worker: a sample of the model's labelled rows' searched columns, and its outputs that are not 0/1."""
    model = _labelled(table, columns, version, policy, task)
    rows = np.flatnonzero(model.labelled)
    keep = rows[np.random.default_rng(seed).random(len(rows)) < fraction]
    taken = {f"{SLICE_PREFIX}{kind}:{name}": values.take(pa.array(keep)) for name, (kind, values) in model.slice_columns.items()}
    sample = pa.table(taken)
    predicted = model.score[rows] if model.score is not None else np.empty(0)
    return {"sample": TableSample(sample), "counts": Sums({"not_0_1": int((~np.isin(predicted, (0.0, 1.0))).sum())})}


def _codes(values: pa.ChunkedArray, kind: str, spec: tuple[Any, ...], cast: bool) -> np.ndarray:
    if kind == "numeric":
        numbers = to_numpy_float(values)
        codes = np.searchsorted(np.asarray(spec, dtype=np.float64), numbers, side="right").astype(np.int32)
        codes[~np.isfinite(numbers)] = len(spec) + 1
        return codes
    array = values.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if cast:
        array = pc.cast(array, pa.string())
    index = pc.index_in(array, value_set=pa.array(list(spec), type=array.type))
    codes = index.fill_null(len(spec)).to_numpy(zero_copy_only=False).astype(np.int32)
    codes[array.is_null().to_numpy(zero_copy_only=False)] = len(spec) + 1
    return codes


def sums_pass(
    table: pa.Table, columns: dict[str, str], sides: tuple[tuple[str, str, str], ...], policy: Policy, task: str, bins: Bins
) -> dict[str, Any]:
    """Runs on a worker: per side (key, version, loss metric), the slice sums of its labelled rows."""
    out: dict[str, Any] = {}
    pairs = [(i, j) for i in range(len(bins.columns)) for j in range(i + 1, len(bins.columns))]
    for key, version, metric in sides:
        model = _labelled(table, columns, version, policy, task)
        rows = np.flatnonzero(model.labelled)
        predicted = model.predicted(task)
        _, loss, _ = weak_segments.per_row_loss(task, model.truth[rows], predicted[rows], metric)
        codes = [
            _codes(model.slice_columns[name][1].take(pa.array(rows)), kind, spec, cast) for name, kind, spec, cast in bins.columns
        ]
        sums = single_sums(codes, bins.sizes, loss, None)
        add_pair_sums(sums, codes, loss, None, pairs)
        out[key] = sums
    return out


def _bins(base: pa.Table, cand: pa.Table, kinds: dict[str, str], policy: Policy) -> Bins:
    """Both sides binned as the local search bins them (compare/slices.py ``_bin``)."""
    cfg = policy.validate_.weak_segments
    specs, conditions = [], []
    for key, kind in kinds.items():
        name = key.split(":", 2)[2]
        b, c = base.column(key), cand.column(key)
        if kind == "numeric" and kind_of_type(b.type) == "numeric":
            edges = numeric_edges(to_numpy_float(b), cfg.bins)
            specs.append((name, "numeric", tuple(float(e) for e in edges), False))
            conditions.append(_numeric_conditions(name, edges))
            continue
        cast = b.type != c.type
        both = pa.chunked_array([*b.chunks, *c.chunks], type=b.type) if not cast else None
        if both is None:
            both = pa.chunked_array([pc.cast(b, pa.string()).combine_chunks(), pc.cast(c, pa.string()).combine_chunks()])
        array = both.combine_chunks()
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        encoded = pc.dictionary_encode(array)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        binned = bin_categories(name, codes, encoded.dictionary.to_pylist(), cfg.top_categories)
        values = tuple(cond.value for cond in binned.conditions[:-2] if cond is not None)
        specs.append((name, "categorical", values, cast))
        conditions.append((*binned.conditions[:-1], Condition(name, "missing")))
    return Bins(tuple(specs), tuple(conditions))


def _numeric_conditions(name: str, edges: np.ndarray) -> tuple[Condition | None, ...]:
    """bin_numeric's conditions; "missing" always there (a slice without baseline rows is never tried)."""
    from mlrel_cli.stats.slices import bin_numeric

    return (*bin_numeric(name, np.empty(0), edges).conditions[:-1], Condition(name, "missing"))


def regressions_on_cluster(
    engine: Engine, task: str, where: list[Where], labelled: list[int], policy: Policy
) -> list[WeakRegressions | None]:
    """Each candidate's weak segments against the baseline (``where[0]``; ``labelled``: each model's labelled rows),
    or None where the search cannot run."""
    from mlrel_cli.stats.slices import judge_regression_sums

    cfg = policy.validate_.weak_segments
    record = task_of(task)
    if record is None or record.weak_segment_loss is None or "__label" not in where[0].columns:
        return [None] * (len(where) - 1)
    columns = {w.log.path: {**w.columns, **slice_columns(w.log, policy)} for w in where}
    if not any(k.startswith(SLICE_PREFIX) for k in columns[where[0].log.path]):
        return [None] * (len(where) - 1)

    def read(w: Where, build: Any, seeded: bool = False) -> dict[str, Any]:
        return engine.reduce(w.log, list(dict.fromkeys(columns[w.log.path].values())), build, seeded)

    samples, metrics = [], []
    for w, n in zip(where, labelled, strict=True):
        fraction = min(1.0, weak_segments.SAMPLE_ROWS / max(n, 1))
        built = read(
            w,
            partial(sample_pass, columns=columns[w.log.path], version=w.version, policy=policy, task=task, fraction=fraction),
            seeded=True,
        )
        samples.append(built["sample"].table)
        classes_only = record.reads == "score" and built["counts"].values["not_0_1"] == 0  # outputs all 0 or 1
        metrics.append("error_rate" if classes_only else record.weak_segment_loss)
    found: list[WeakRegressions | None] = []
    base = where[0]
    for w, sample, metric in zip(where[1:], samples[1:], metrics[1:], strict=True):
        if "__label" not in w.columns:  # a candidate without labels: no loss to compare, as on the local engine
            found.append(None)
            continue
        kinds = {k: k.split(":", 2)[1] for k in columns[base.log.path] if k.startswith(SLICE_PREFIX) and k in columns[w.log.path]}
        bins = _bins(samples[0].select(list(kinds)), sample.select(list(kinds)), kinds, policy)
        sides = {"base": (base, metrics[0]), "cand": (w, metric)}
        sums: dict[str, Any] = {}
        for log_path in dict.fromkeys(side.log.path for side, _ in sides.values()):
            chosen = tuple((key, side.version, m) for key, (side, m) in sides.items() if side.log.path == log_path)
            first = next(side for side, _ in sides.values() if side.log.path == log_path)
            sums.update(
                read(first, partial(sums_pass, columns=columns[log_path], sides=chosen, policy=policy, task=task, bins=bins))
            )
        search = judge_regression_sums(list(bins.conditions), sums["cand"], sums["base"], weak_segments.config_of(cfg, task))
        found.append(
            WeakRegressions(
                metrics[0], False, search.tried, search.pairs_searched, search.pairs_possible, search.stopped_by, search.slices
            )
        )
    return found
