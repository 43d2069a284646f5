"""Compare's per-model evidence (facts/models.ModelEvidence) as each engine answers it.

In this process (``from_rows``): each log read once, each model's rows as
numpy arrays (``ModelRows``), and the evidence built from every row: sketches
holding every value, the cells over edges pooled from every score, the Mann-
Whitney values all of them, and the rows kept (exact metrics, shadow pairs,
the weak-segment search). On a cluster (``from_passes``), every row group
becomes per model version the same ModelRows for those rows, reduced at once
to mergeable pieces, three passes each a tree reduction:

1. a uniform sample of rows (about 100,000 a model): the task when the policy
   does not name it, and Mann-Whitney's values;
2. counts (rows, invalid outputs, labelled rows), per-request proxy sums, and
   quantile sketches of the binary scores, the regression errors, the latency;
3. per model and per segment value, a labelled part (score bin x label cells,
   the confusion matrix, or error sums with error-size cells) over edges read
   from those sketches, and latency histograms.

Ranking metrics and per-query proxy metrics come from per-query sums, after
a shuffle by query on a cluster. Both build the pieces with the same
functions (facts/models.py), so counts, sums and the confusion matrix are the
same on either engine; only ROC AUC (from score cells), latency percentiles
(from a sketch) and Mann-Whitney (a sample) are approximate on a cluster.

The weak-segment search's per-slice sums (``regressions_from_rows`` and
``regressions_from_passes``, facts/slices.py's builders) come the same two
ways: from the rows kept, or from a sample's bins and each row group's sums.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.facts.models import (
    ALL,
    SEGMENT_UNIT,
    SLICE_PREFIX,
    ModelEvidence,
    ModelRows,
    ModelSource,
    cells_pass,
    check_versions,
    counts_pass,
    edges_of,
    encode_truth,
    model_cells,
    model_counts,
    model_query_units,
    model_rows,
    model_task,
    query_units,
    sample_pass,
    segment_strings,
    unit_sums,
)
from mlrel_cli.facts.proxy import per_request
from mlrel_cli.facts.slices import SAMPLE_ROWS as SLICE_SAMPLE_ROWS
from mlrel_cli.logs import Log
from mlrel_cli.logs.labels import join_labels
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.task import infer_task
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.tasks import per_query as per_query_task

if TYPE_CHECKING:
    from mlrel_cli.engine.interface import Engine
    from mlrel_cli.policy import Policy
    from mlrel_cli.stats.regressions import RegressionSums

SAMPLE_ROWS = 100_000
SEGMENT_VALUES = 1_000  # a ranking's segment with more values is not judged on a cluster


def _finite(values: np.ndarray | None) -> np.ndarray:
    """The finite values (the array itself when all are: no copy of millions of rows)."""
    if values is None:
        return np.empty(0)
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


# ---------------------------------------------------------------- in this process


def from_rows(sources: list[ModelSource], policy: Policy, labels: Log | None) -> tuple[list[ModelEvidence], str]:
    """Every model's evidence from all its rows, each log read once."""
    models = _models(sources, policy, labels)
    task = policy.task or model_task(models[0])
    for model in models:
        encode_truth(model, task, policy)
    keys = [str(i) for i in range(len(models))]
    counted = [model_counts(model, policy, task) for model in models]
    sketches = [{k: v for k, v in c.items() if isinstance(v, QuantileSketch)} for c in counted]
    edges = edges_of(sketches, keys, policy, exact=True)
    ranking = per_query_task(task) and any(m.truth is not None for m in models)
    segment_values = {s: tuple(sorted(set().union(*(m.segments[s] for m in models)))) for s in policy.segments}
    evidence = []
    for key, model, counts, sketch in zip(keys, models, counted, sketches, strict=True):
        cells = model_cells(model, task, edges, key)
        units = model_query_units(model, policy, ranking, segment_values if ranking else None)
        evidence.append(
            ModelEvidence(
                version=model.version,
                rows=model.rows,
                labelled_rows=model.labelled_rows,
                has_labels=model.has_labels,
                invalid=int(model.invalid.sum()),
                scores=_finite(model.score),
                latencies=sketch["latency"].points if "latency" in sketch else np.empty(0),  # every finite one, sorted
                sketches=sketch,
                labelled=cells["labelled"].values if "labelled" in cells else None,
                segments={k: part.values for k, part in cells["segments"].parts.items()} if "segments" in cells else {},
                latency=cells["latency"].values["histogram"] if "latency" in cells else None,
                edges=edges,
                edge_key=key,
                proxies={name: counts[f"proxy:{name}"].values for name in per_request(policy)},
                per_query={name: unit_sums(values) for name, values in units.items()},
                rows_seen=model,
            )
        )
    return evidence, task


def _models(sources: list[ModelSource], policy: Policy, labels: Log | None) -> list[ModelRows]:
    """Each model's rows; the tables read are let go on return (only the rows' arrays stay)."""
    models: list[ModelRows] = []
    for source in sources:
        table = _read(source, policy, labels)
        if source.versions == (ALL,):
            models.append(model_rows(table, source.names[0] or _one_version(table) or _file_name(source.log), policy))
            continue
        column = pc.cast(table.column("__version"), pa.string())
        found = [str(v) for v in pc.unique(column).to_pylist()]
        check_versions(found, list(source.versions), source.columns["__version"], source.log.path)
        models.extend(model_rows(table.filter(pc.equal(column, v)), v, policy) for v in source.versions)
    return models


def _read(source: ModelSource, policy: Policy, labels: Log | None) -> pa.Table:
    columns = dict(source.columns)
    table = source.log.read(list(dict.fromkeys(columns.values())))
    out = {key: table.column(name) for key, name in columns.items()}
    if labels is not None:
        out["__label"] = pa.chunked_array([join_labels(source.log, source.roles, labels, policy).labels])
    return pa.table(out)


def _one_version(table: pa.Table) -> str | None:
    if "__version" not in table.column_names:
        return None
    values = pc.unique(table.column("__version")).to_pylist()
    return str(values[0]) if len(values) == 1 else None


def _file_name(log: Log) -> str:
    return log.path.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- on a cluster


def from_passes(engine: Engine, sources: list[ModelSource], policy: Policy) -> tuple[list[ModelEvidence], str]:
    """Every model's evidence from mergeable pieces built next to the data (the rows never travel)."""
    plans = []
    for source in sources:
        # what the passes read: no ids (no pairs here) and no searched columns (regressions_from_passes reads those)
        columns = {k: v for k, v in source.columns.items() if k != "__id" and not k.startswith(SLICE_PREFIX)}
        if source.versions != (ALL,):
            _check_versions(engine, source.log, columns["__version"], list(source.versions))
        plans.append((source, list(source.versions), columns))

    def run(log: Log, columns: dict[str, str], build: Any, seeded: bool = False) -> dict[str, Any]:
        return engine.reduce(log, list(dict.fromkeys(columns.values())), build, seeded)

    samples = []
    for source, versions, columns in plans:
        fraction = min(1.0, SAMPLE_ROWS * len(versions) / max(source.log.num_rows, 1))  # ~100,000 rows a model
        build = partial(sample_pass, columns=columns, versions=versions, policy=policy, fraction=fraction)
        samples.append(run(source.log, columns, build, seeded=True))
    task = policy.task
    if task is None:
        first = samples[0][f"{plans[0][1][0]}|sample"].table
        label = first.column("__label") if "__label" in first.column_names else None
        task = infer_task(first.column("__prediction"), label)
    per_query = [_per_query(engine, source.log, versions, columns, policy, task) for source, versions, columns in plans]
    counted = [
        run(source.log, columns, partial(counts_pass, columns=columns, versions=versions, policy=policy, task=task))
        for source, versions, columns in plans
    ]
    keys = [key.split("|", 1)[0] for counts in counted for key in counts if isinstance(counts[key], QuantileSketch)]
    sketches = [
        {key.split("|", 1)[1]: value} for counts in counted for key, value in counts.items() if isinstance(value, QuantileSketch)
    ]
    edges = edges_of(sketches, keys, policy)
    celled = [
        run(source.log, columns, partial(cells_pass, columns=columns, versions=versions, policy=policy, task=task, edges=edges))
        for source, versions, columns in plans
    ]
    models = []
    for (source, versions, columns), sample, counts, cells, queries in zip(
        plans, samples, counted, celled, per_query, strict=True
    ):
        for version, name in zip(versions, source.names, strict=True):
            if name is None:
                name = version if version != ALL else _name_of(engine, source.log, columns.get("__version"))
            counts_of, cells_of, queries_of = (
                {k.removeprefix(f"{version}|"): v for k, v in found.items() if k.startswith(f"{version}|")}
                for found in (counts, cells, queries)
            )
            rows = sample[f"{version}|sample"].table
            models.append(_merged(name, version, counts_of, cells_of, queries_of, rows, edges, "__label" in columns, policy))
    return models, task


def _merged(
    name: str,
    version: str,
    counts: dict[str, Any],
    cells: dict[str, Any],
    queries: dict[str, Any],
    sample: pa.Table,
    edges: dict[str, Any],
    labels: bool,
    policy: Policy,
) -> ModelEvidence:
    """One model's evidence from its merged pieces of each pass (keyed as the passes name them, less the version)."""
    numbers = counts["counts"].values
    labelled, segments, latency = cells.get("labelled"), cells.get("segments"), cells.get("latency")
    return ModelEvidence(
        version=name,
        rows=numbers["rows"],
        labelled_rows=numbers["labelled"],
        has_labels=labels,
        invalid=numbers["invalid"],
        scores=_sampled(sample, "__prediction"),
        latencies=_sampled(sample, "__latency"),
        sketches={key: value for key, value in counts.items() if isinstance(value, QuantileSketch)},
        labelled=labelled.values if labelled is not None else None,
        segments={key: part.values for key, part in segments.parts.items()} if segments is not None else {},
        latency=latency.values["histogram"] if latency is not None else None,
        edges=edges,
        edge_key=version,
        proxies={metric: counts[f"proxy:{metric}"].values for metric in per_request(policy)},
        per_query=queries,
    )


def _sampled(sample: pa.Table | None, column: str) -> np.ndarray:
    if sample is None or column not in sample.column_names or kind_of_type(sample.column(column).type) != "numeric":
        return np.empty(0)
    return _finite(to_numpy_float(sample.column(column)))


def _per_query(
    engine: Engine, source: Log, versions: list[str], columns: dict[str, str], policy: Policy, task: str
) -> dict[str, Any]:
    """Ranking metrics and per-query proxy metrics of each model: rows shuffled by query on the cluster, per-query
    units summed (count, sum, sum of squares) per model version, and per segment value for a ranking."""
    k = policy.validate_.performance.k
    ranking = per_query_task(task) and "__label" in columns
    proxies = [name for name, p in policy.proxy_metrics.items() if p.per == "query"]
    if not ranking and not proxies:
        return {}
    units_names = [f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"] if ranking else []
    segments = _segment_values(engine, source, columns, policy) if ranking else {}
    names = [
        *units_names,
        *(f"proxy:{n}" for n in proxies),
        *(
            f"{SEGMENT_UNIT}{segment}={value}|{unit}"
            for segment, values in segments.items()
            for value in values
            for unit in units_names
        ),
    ]
    units = partial(query_units, columns=columns, versions=versions, policy=policy, task=task, ranking=ranking, segments=segments)
    return engine.per_query_sums(
        source, list(dict.fromkeys(columns.values())), columns["__query"], units, [f"{v}|{n}" for v in versions for n in names]
    )


def _segment_values(engine: Engine, source: Log, columns: dict[str, str], policy: Policy) -> dict[str, tuple[str, ...]]:
    """Each segment's values (at most SEGMENT_VALUES of them, else the segment is not judged on the cluster)."""
    names = tuple(dict.fromkeys(columns[f"__seg_{s}"] for s in policy.segments))
    if not names:
        return {}
    found = engine.reduce(source, list(names), partial(segment_strings, columns=names, limit=SEGMENT_VALUES))
    return {
        s: tuple(sorted(found[columns[f"__seg_{s}"]].values))
        for s in policy.segments
        if found[columns[f"__seg_{s}"]].values is not None
    }


def _check_versions(engine: Engine, log: Log, column: str, versions: list[str]) -> None:
    from mlrel_cli.engine.common import distinct_values

    found = engine.reduce(log, [column], partial(distinct_values, column=column, limit=10_000))
    if found and found["values"].values is not None:
        check_versions(sorted(str(v) for v in found["values"].values), versions, column, log.path)


def _name_of(engine: Engine, log: Log, column: str | None) -> str:
    """The log's one model_version value if it has exactly one (as the local engine names it), else its file name."""
    from mlrel_cli.engine.common import distinct_values

    if column is not None:
        found = engine.reduce(log, [column], partial(distinct_values, column=column, limit=1))
        if found and found["values"].values is not None and len(found["values"].values) == 1:
            return str(next(iter(found["values"].values)))
    return _file_name(log)


# ---------------------------------------------------------------- weak segments: per-slice sums


def regressions_from_rows(models: list[ModelEvidence], task: str, policy: Policy, mode: str) -> list[RegressionSums | None]:
    """Each candidate's and the baseline's per-slice sums from the rows kept (exact bins; shadow pairs; a
    ranking's queries)."""
    from mlrel_cli.facts.slices import regressions_of_rows

    base, *cands = (m.rows_seen for m in models)
    assert base is not None and all(c is not None for c in cands), "the local engine keeps every model's rows"
    return [regressions_of_rows(task, base, c, policy, mode) for c in cands if c is not None]


class _Model(NamedTuple):
    """Where one model's rows are: its log, its version in it (or ALL), the log's columns renamed (no ids)."""

    log: Log
    version: str
    columns: dict[str, str]


def regressions_from_passes(
    engine: Engine, sources: list[ModelSource], models: list[ModelEvidence], task: str, policy: Policy
) -> list[RegressionSums | None]:
    """Each candidate's and the baseline's per-slice sums from passes over the row groups, canary mode (shadow pairs
    and a ranking's queries need rows side by side: None). Bins from a uniform sample of about SLICE_SAMPLE_ROWS
    labelled rows a model (all of a smaller one), as the local engine bins every row; then every row group's sums of
    each single condition and pair, merged."""
    from mlrel_cli.facts.slices import sample_pass as slice_sample
    from mlrel_cli.tasks import task_of

    where = [_Model(s.log, v, {k: c for k, c in s.columns.items() if k != "__id"}) for s in sources for v in s.versions]
    record = task_of(task)
    base = where[0]
    if record is None or record.weak_segment_loss is None or "__label" not in base.columns:
        return [None] * (len(where) - 1)
    if not any(k.startswith(SLICE_PREFIX) for k in base.columns):
        return [None] * (len(where) - 1)
    samples, metrics = [], []
    for side, model in zip(where, models, strict=True):
        fraction = min(1.0, SLICE_SAMPLE_ROWS / max(model.labelled_rows, 1))
        build = partial(slice_sample, columns=side.columns, version=side.version, policy=policy, task=task, fraction=fraction)
        built = engine.reduce(side.log, list(dict.fromkeys(side.columns.values())), build, True)
        samples.append(built["sample"].table)
        classes_only = record.reads == "score" and built["counts"].values["not_0_1"] == 0  # outputs all 0 or 1
        metrics.append("error_rate" if classes_only else record.weak_segment_loss)
    return [
        _candidate_sums(engine, (base, cand), (samples[0], sample), (metrics[0], metric), task, policy)
        if "__label" in cand.columns  # a candidate without labels: no loss to compare, as on the local engine
        else None
        for cand, sample, metric in zip(where[1:], samples[1:], metrics[1:], strict=True)
    ]


def _candidate_sums(
    engine: Engine,
    pair: tuple[_Model, _Model],
    samples: tuple[pa.Table, pa.Table],
    metrics: tuple[str, str],
    task: str,
    policy: Policy,
) -> RegressionSums:
    """The baseline's and one candidate's sums over the bins of their samples, each log read once."""
    from mlrel_cli.facts.slices import bins_of_samples, sums_pass
    from mlrel_cli.stats.regressions import RegressionSums

    cfg = policy.validate_.weak_segments
    base, cand = pair
    keys = [k for k in base.columns if k.startswith(SLICE_PREFIX) and k in cand.columns]
    bins = bins_of_samples(samples[0].select(keys), samples[1].select(keys), cfg.top_categories, cfg.bins)
    sides = {"base": (base, metrics[0]), "cand": (cand, metrics[1])}
    sums: dict[str, Any] = {}
    for path in dict.fromkeys(side.log.path for side in pair):
        chosen = tuple((key, side.version, metric) for key, (side, metric) in sides.items() if side.log.path == path)
        first = next(side for side in pair if side.log.path == path)
        build = partial(sums_pass, columns=first.columns, sides=chosen, policy=policy, task=task, bins=bins)
        sums.update(engine.reduce(first.log, list(dict.fromkeys(first.columns.values())), build))
    return RegressionSums(list(bins.conditions), [sums["cand"], sums["base"]], False, metrics[0])
