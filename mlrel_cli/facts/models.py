"""Per-model evidence for compare: one model's rows as numpy arrays (ModelRows), and what compare judges
(ModelEvidence) built from them by the same functions on every engine.

The local engine builds a ModelRows from a whole log and its evidence from
all of it; on a cluster every row group becomes, per model version, the same
ModelRows for those rows (the same validity, label and truth rules), reduced
at once to mergeable pieces by the passes below (engine/evidence.py orders them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import LogError
from mlrel_cli.facts.labelled import labelled_part
from mlrel_cli.facts.merge import Keyed, Sums, TableSample
from mlrel_cli.facts.proxy import per_request
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, kind_of_type
from mlrel_cli.logs.task import infer_task
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.ranking import group_queries, per_query_proxy, proxy_sums, ranking_units
from mlrel_cli.stats.sketch import SKETCH_POINTS, QuantileSketch
from mlrel_cli.tasks import per_query as per_query_task
from mlrel_cli.tasks import reads, task_of

ALL = "__all__"
SEGMENT_UNIT = "seg:"  # a ranking unit per segment value: "seg:<segment>=<value>|<unit>"
SLICE_PREFIX = "__slice:"  # the one model of a log holding a single model's rows


@dataclass
class ModelRows:
    """One model's rows: everything a comparison reads, as numpy arrays."""

    version: str
    rows: int
    score: np.ndarray | None  # numeric prediction, NaN where invalid
    classes: np.ndarray | None  # predicted class as text (classification)
    truth: np.ndarray | None  # labels (bool for binary, float for regression, text for multiclass), by row
    labelled: np.ndarray  # bool
    latency: np.ndarray | None
    invalid: np.ndarray  # bool: null, NaN, infinite or out-of-range output
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    ids: pa.Array | None = None
    query: np.ndarray | None = None  # ranking and per-query proxy metrics: the query code of each row
    position: np.ndarray | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # proxy metric inputs, as float
    slice_columns: dict[str, tuple[str, pa.ChunkedArray]] = field(default_factory=dict)  # weak-segment search: kind, values

    @property
    def labelled_rows(self) -> int:
        return int(self.labelled.sum())

    @property
    def has_labels(self) -> bool:
        return self.truth is not None

    def predicted(self, task: str) -> np.ndarray | None:
        """The output the task's metrics read: the class (multiclass) or the score."""
        return self.classes if reads(task) == "classes" else self.score


@dataclass(frozen=True)
class ModelSource:
    """Where the models of one log are: the log, its versions to compare (or ALL: the whole log), the columns to
    read under compare's names (``__prediction``, ``__label``, ``__seg_<name>``, ...), and the names the user gave."""

    log: Log
    versions: tuple[str, ...]
    columns: dict[str, str]
    names: tuple[str | None, ...]  # per version: the model's name, None to read it from the log (its one version)
    roles: Roles  # the log's column roles (a --labels file joins on its id)


@dataclass
class ModelEvidence:
    """One model as an engine saw it, what compare judges on every engine: counts, the labelled cells overall and
    per segment value over edges shared by every model, sums for the proxy and per-query metrics, and the values
    Mann-Whitney ranks. ``rows_seen`` holds every row where the engine brought them into this process (the local
    engine: exact metrics, shadow pairs, the weak-segment search on the rows); None on a cluster."""

    version: str
    rows: int
    labelled_rows: int
    has_labels: bool
    invalid: int = 0
    scores: np.ndarray = field(default_factory=lambda: np.empty(0))  # finite scores: every one, or a sample
    latencies: np.ndarray = field(default_factory=lambda: np.empty(0))  # finite latencies: every one, or a sample
    sketches: dict[str, QuantileSketch] = field(default_factory=dict)  # every value, or at most SKETCH_POINTS
    labelled: dict[str, Any] | None = None  # labelled_part of all its labelled rows
    segments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # the same, per (segment, value)
    latency: np.ndarray | None = None  # histogram over edges["latency"]
    edges: dict[str, np.ndarray] = field(default_factory=dict)  # the cells' edges, the same for every model
    edge_key: str = ""  # its error edges: edges[f"{edge_key}|error"]
    proxies: dict[str, dict[str, float]] = field(default_factory=dict)  # per-request proxy metrics' sums
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)  # ranking and per-query proxy units' sums
    rows_seen: ModelRows | None = None


def check_versions(found: list[str], wanted: list[str], column: str, path: str) -> None:
    """Every asked-for version is in the log's model_version column (``found``: its values, in order)."""
    for version in wanted:
        if version not in found:
            raise LogError(f"version '{version}' is not in the log's {column} (has: {', '.join(found[:10])})", path)


def model_rows(table: pa.Table, version: str, policy: Policy) -> ModelRows:
    """One model's rows from a table of its renamed columns (__prediction, __label, __seg_<name>, ...)."""
    prediction = table.column("__prediction")
    n = table.num_rows
    score = classes = None
    if kind_of_type(prediction.type) == "numeric":
        score = to_numpy_float(prediction)
        invalid = ~np.isfinite(score)
        if _probability(policy.task):
            invalid |= np.isfinite(score) & ((score < 0) | (score > 1))
    else:
        classes = pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False)
        invalid = pc.is_null(prediction).to_numpy(zero_copy_only=False)
    truth = None
    labelled = np.zeros(n, dtype=bool)
    if "__label" in table.column_names:
        label = table.column("__label")
        labelled = pc.is_valid(label).to_numpy(zero_copy_only=False) & ~invalid
        truth = label
    latency = to_numpy_float(table.column("__latency")) if "__latency" in table.column_names else None
    segments = {
        s: pc.cast(table.column(f"__seg_{s}"), pa.string()).to_numpy(zero_copy_only=False).astype(str) for s in policy.segments
    }
    ids = table.column("__id").combine_chunks() if "__id" in table.column_names else None
    model = ModelRows(version, n, score, classes, None, labelled, latency, invalid, segments, ids)
    if "__query" in table.column_names:
        encoded = pc.dictionary_encode(table.column("__query")).combine_chunks()
        model.query = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if "__position" in table.column_names:
        model.position = to_numpy_float(table.column("__position"))
    for name in table.column_names:
        if name.startswith("__col_"):
            column = table.column(name)
            if pa.types.is_boolean(column.type):
                column = pc.cast(column, pa.float64())
            model.columns[name.removeprefix("__col_")] = to_numpy_float(column)
        elif name.startswith(SLICE_PREFIX):  # the weak-segment search's columns, "__slice:<kind>:<name>"
            kind, column_name = name.removeprefix(SLICE_PREFIX).split(":", 1)
            model.slice_columns[column_name] = (kind, table.column(name))
    model.truth = truth  # encoded once the task is known
    return model


def model_task(model: ModelRows) -> str:
    """The task read from a model's predictions and labels, when the policy does not name it."""
    prediction = pa.chunked_array([pa.array(model.score if model.score is not None else model.classes)])
    return infer_task(prediction, model.truth)


def encode_truth(model: ModelRows, task: str, policy: Policy) -> None:
    """Outputs and labels as the resolved task needs them: a numeric output of a multiclass model is its class
    (as text, like the labels), a binary score outside [0, 1] is invalid; labels bool (binary), text
    (multiclass), float (regression)."""
    if reads(task) == "classes" and model.classes is None and model.score is not None:
        model.classes = class_names(pa.array(model.score))
        model.invalid = ~np.isfinite(model.score)
        model.labelled &= ~model.invalid
    if _probability(task) and model.score is not None:
        outside = np.isfinite(model.score) & ((model.score < 0) | (model.score > 1))
        model.invalid = model.invalid | outside
        model.labelled &= ~model.invalid
    if model.truth is None:
        return
    model.truth = truth_values(model.truth, task, policy.validate_.performance.positive_label)
    if reads(task) not in ("score", "classes"):  # numbers: a regression's values, a ranking's gains
        model.labelled &= np.isfinite(model.truth)


def _probability(task: str | None) -> bool:
    """The task's outputs are probabilities: a score outside [0, 1] is invalid."""
    found = task_of(task)
    return found is not None and found.probability


def truth_values(label: pa.Array | pa.ChunkedArray, task: str, positive: Any) -> np.ndarray:
    """bool (binary: is it the positive label), text (multiclass), float (regression, a ranking's gain)."""
    if reads(task) == "score":
        if pa.types.is_boolean(label.type):
            values = pc.fill_null(label, False).to_numpy(zero_copy_only=False)
            return values if str(positive).lower() in ("1", "true") else ~values
        if kind_of_type(label.type) == "numeric":
            return to_numpy_float(label) == float(positive)
        return pc.cast(label, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive)
    if reads(task) == "classes":
        return class_names(label)
    return to_numpy_float(label)


def class_names(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Classes as text, integral numbers written as integers, so a class 2 predicted as 2.0 matches a label 2."""
    if kind_of_type(values.type) == "numeric" and not pa.types.is_integer(values.type):
        floats = to_numpy_float(values)
        if np.all(np.equal(np.mod(floats[np.isfinite(floats)], 1), 0)):
            values = pc.cast(pc.cast(values, pa.int64(), safe=False), pa.string())
            return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object).astype(str)
    return pc.cast(values, pa.string()).to_numpy(zero_copy_only=False).astype(str)


def version_rows(
    table: pa.Table, columns: dict[str, str], versions: list[str], policy: Policy, task: str | None
) -> dict[str, Any]:
    """The local engine's ModelRows of each version's rows in this table (truth encoded when the task is known)."""
    renamed = pa.table({key: table.column(name) for key, name in columns.items()})
    out = {}
    for version in versions:
        part = renamed
        if version != ALL:
            part = renamed.filter(pc.equal(pc.cast(renamed.column("__version"), pa.string()), version))
        model = model_rows(part, version, policy)
        if task is not None:
            encode_truth(model, task, policy)
        out[version] = (part, model)
    return out


def sample_pass(
    table: pa.Table, seed: int, columns: dict[str, str], versions: list[str], policy: Policy, fraction: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for version, (part, _) in version_rows(table, columns, versions, policy, None).items():
        keep = rng.random(part.num_rows) < fraction
        out[f"{version}|sample"] = TableSample(
            part.filter(pa.array(keep)).drop_columns(
                [c for c in part.column_names if c not in ("__prediction", "__label", "__latency")]
            )
        )
        out[f"{version}|rows"] = Sums({"rows": part.num_rows})
    return out


def counts_pass(table: pa.Table, columns: dict[str, str], versions: list[str], policy: Policy, task: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for version, (_, model) in version_rows(table, columns, versions, policy, task).items():
        out.update({f"{version}|{key}": value for key, value in model_counts(model, policy, task, SKETCH_POINTS).items()})
    return out


def model_counts(model: ModelRows, policy: Policy, task: str, size: int | None = None) -> dict[str, Any]:
    """A model's counts, per-request proxy sums and quantile sketches (of the labelled binary scores, the regression
    errors, the latency); ``size=None`` keeps every value in the sketches (exact), else at most ``size`` points."""

    def sketch(values: np.ndarray) -> QuantileSketch:
        ordered = np.sort(values)
        if size is not None:
            return QuantileSketch.from_sorted(ordered, size=size)
        low, high = (float(ordered[0]), float(ordered[-1])) if len(ordered) else (float("nan"), float("nan"))
        return QuantileSketch(ordered, len(ordered), 0, 0, float(ordered.sum()), float(np.square(ordered).sum()), low, high)

    out: dict[str, Any] = {}
    keep = model.labelled
    if reads(task) == "score" and model.truth is not None and model.score is not None:
        out["score"] = sketch(model.score[keep])
    if reads(task) == "values" and model.truth is not None and model.score is not None:
        out["error"] = sketch(np.abs(model.score[keep] - model.truth[keep]))
    if model.latency is not None:
        out["latency"] = sketch(model.latency[np.isfinite(model.latency)])
    out["counts"] = Sums({"rows": model.rows, "invalid": int(model.invalid.sum()), "labelled": int(keep.sum())})
    for name in per_request(policy):
        spec = policy.proxy_metrics[name]
        inputs = [model.columns.get(c) if c else None for c in (spec.column, spec.numerator, spec.denominator)]
        out[f"proxy:{name}"] = Sums(proxy_sums(spec.kind, *inputs))
    return out


def edges_of(
    sketches: list[dict[str, QuantileSketch]], names: list[str], policy: Policy, exact: bool = False
) -> dict[str, np.ndarray]:
    """The cells' edges, the same for every model: pooled score quantiles with the decision threshold, each model's
    own error quantiles (keyed by its name), pooled latency edges. ``sketches``: each model's, in ``names``' order;
    ``exact``: they hold every value, so pooling their points pools the values."""
    edges: dict[str, np.ndarray] = {}
    pooled: dict[str, list[np.ndarray]] = {}
    merged: dict[str, QuantileSketch] = {}
    for name, found in zip(names, sketches, strict=True):
        for kind, value in found.items():
            if kind == "error":
                own = value.points
                quantiles = np.quantile(own, np.linspace(0, 1, rs.SCORE_BINS + 1)[1:-1]) if len(own) else []
                edges[f"{name}|error"] = np.unique(quantiles)
            elif kind in ("score", "latency"):
                pooled.setdefault(kind, []).append(value.points)
                merged[kind] = merged[kind].merge(value) if kind in merged and not exact else value
    points = {kind: pooled[kind] if exact else [merged[kind].points] for kind in pooled}
    if "score" in points:
        edges["score"] = rs.score_edges(points["score"], policy.validate_.performance.decision_threshold)
    if "latency" in points and any(len(p) for p in points["latency"]):
        edges["latency"] = rs.latency_edges(points["latency"])
    return edges


def cells_pass(
    table: pa.Table, columns: dict[str, str], versions: list[str], policy: Policy, task: str, edges: dict[str, np.ndarray]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for version, (_, model) in version_rows(table, columns, versions, policy, task).items():
        out.update({f"{version}|{key}": value for key, value in model_cells(model, task, edges, version).items()})
    return out


def model_cells(model: ModelRows, task: str, edges: dict[str, np.ndarray], name: str) -> dict[str, Any]:
    """A model's labelled part (cells over ``edges``) overall and per segment value, and its latency histogram."""
    out: dict[str, Any] = {}
    keep = model.labelled
    predicted = model.predicted(task)
    if model.truth is not None and predicted is not None and not per_query_task(task):  # a ranking's: per query
        every = bool(keep.all())  # every row labelled: no copies of the columns
        truth, predicted = (model.truth, predicted) if every else (model.truth[keep], predicted[keep])
        out["labelled"] = labelled_part(task, truth, predicted, edges, name)
        segments: dict[Any, Any] = {}
        for segment, values in model.segments.items():
            labelled_values = values if every else values[keep]
            for value in np.unique(labelled_values):
                mask = labelled_values == value
                segments[(segment, str(value))] = labelled_part(task, truth[mask], predicted[mask], edges, name)
        out["segments"] = Keyed(segments)
    if model.latency is not None and "latency" in edges:
        out["latency"] = Sums({"histogram": rs.histogram(model.latency[np.isfinite(model.latency)], edges["latency"])})
    return out


def query_units(
    table: pa.Table,
    codes: np.ndarray,
    columns: dict[str, str],
    versions: list[str],
    policy: Policy,
    task: str,
    ranking: bool,
    segments: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Per query of each model (the rows of whole queries): model_query_units, keyed by version."""
    out: dict[str, np.ndarray] = {}
    for version, (_, model) in version_rows(table, columns, versions, policy, task).items():
        out.update({f"{version}|{name}": values for name, values in model_query_units(model, policy, ranking, segments).items()})
    return out


def model_query_units(
    model: ModelRows, policy: Policy, ranking: bool, segments: dict[str, tuple[str, ...]] | None = None
) -> dict[str, np.ndarray]:
    """Per query of a model: the ranking units and per-query proxies, by the local engine's row rules; with
    ``segments`` (segment -> its values), the ranking units of each value's queries (a query's value is the one most
    of its rows carry)."""
    from mlrel_cli.stats.ranking import query_attribute

    out: dict[str, np.ndarray] = {}
    if ranking and model.truth is not None and model.query is not None and model.position is not None:
        keep = model.labelled & (model.query >= 0) & np.isfinite(model.position)
        queries = group_queries(model.query[keep], model.position[keep], model.truth[keep])
        units = ranking_units(queries, policy.validate_.performance.k)
        out.update(units)
        for segment, known in (segments or {}).items():
            names, inverse = np.unique(model.segments[segment][keep], return_inverse=True)
            of_query = names[query_attribute(queries, model.query[keep], model.position[keep], inverse)]
            for value in set(names) & set(known):
                chosen = of_query == value
                out.update({f"{SEGMENT_UNIT}{segment}={value}|{n}": v[chosen] for n, v in units.items()})
    for name, spec in policy.proxy_metrics.items():
        if spec.per == "query" and model.query is not None:
            column, num, den = (model.columns.get(c) if c else None for c in (spec.column, spec.numerator, spec.denominator))
            out[f"proxy:{name}"] = per_query_proxy(spec.kind, column, num, den, model.query)
    return out


def unit_sums(values: np.ndarray) -> dict[str, float]:
    """The count, sum and sum of squares of the finite per-query values (what a cluster merges)."""
    finite = values[np.isfinite(values)]
    return {"n": float(len(finite)), "sum": float(finite.sum()), "sum2": float((finite**2).sum())}


def segment_strings(table: pa.Table, columns: tuple[str, ...], limit: int) -> dict[str, Any]:
    """Runs on a worker: each segment column's distinct values as the local engine names them (text)."""
    from mlrel_cli.facts.merge import DistinctUpTo

    out = {}
    for column in columns:
        values = set(pc.cast(table.column(column), pa.string()).to_numpy(zero_copy_only=False).astype(str))
        out[column] = DistinctUpTo(frozenset(values) if len(values) <= limit else None, limit)
    return out
