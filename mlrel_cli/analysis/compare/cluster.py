"""``mlrel compare`` on a Dask cluster: each model summarised next to the data, judged like the local canary.

Every row group becomes, per model version, the local engine's own
``ModelRows`` for those rows (the same validity, label and truth rules),
reduced at once to mergeable pieces; three passes, each a tree reduction:

1. a uniform sample of rows (about 100,000 a model): the task when the
   policy does not name it, and Mann-Whitney's values, as the local engine
   samples them;
2. counts (rows, invalid outputs, labelled rows), per-request proxy sums,
   and quantile sketches of the binary scores, the regression errors and
   the latency;
3. per model and per segment value, a labelled part (score bin x label
   cells with loss sums, the confusion matrix, or error sums with
   error-size cells) over edges read from those sketches, and latency
   histograms.

Counts, sums and the confusion matrix are exact, so accuracy, precision,
recall, F1, log loss, Brier, the error rate, MAE, RMSE, MAPE, R² and the
proxy metrics equal the local engine's. ROC AUC is read from the score
cells (a tie within a bin counts half; at most the mass of one bin, 1/512,
in practice far less) and latency percentiles from a sketch. The judgement
(intervals, classes, segments, verdict) is the local code's (compare/verdict.py). Not on a
cluster: shadow mode and a --labels file (they need rows side by side:
refused). Ranking metrics and per-query proxy metrics, per model and per
segment value, come from per-query sums after a shuffle by query.
docs/scale.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.analysis.compare.cluster_slices import Where, regressions_on_cluster
from mlrel_cli.analysis.compare.judge import (
    LATENCY_QUANTILES,
    PRIMARY,
    RANKING_METRICS,
    SegmentResult,
    binary_deviations,
    classify,
    error_rate_result,
    judge_segments,
    latency_results,
    mann_whitney,
    metric_results,
    ranking_unit,
    segment_row,
    with_p,
)
from mlrel_cli.analysis.compare.payloads import WeakRegressions
from mlrel_cli.analysis.compare.verdict import Twin
from mlrel_cli.engine.common import distinct_values
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError, MlrelError
from mlrel_cli.facts.labelled import multiclass_from_pairs
from mlrel_cli.facts.models import ALL, SEGMENT_UNIT, cells_pass, counts_pass, query_units, sample_pass
from mlrel_cli.facts.proxy import per_request, proxy_inputs
from mlrel_cli.logs import Log, infer_task, resolve_roles
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import regression_from_sums
from mlrel_cli.stats.names import BINARY, MULTICLASS, RANKING
from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums
from mlrel_cli.stats.sketch import QuantileSketch

SAMPLE_ROWS = 100_000
SEGMENT_VALUES = 1_000  # a ranking's segment with more values is not judged on a cluster


@dataclass
class ModelSummary:
    """One model as the cluster saw it: what the verdict and the canary read instead of rows."""

    version: str
    rows: int
    labelled_rows: int
    has_labels: bool
    invalid: int = 0
    sample: pa.Table | None = None
    sketches: dict[str, QuantileSketch] = field(default_factory=dict)
    labelled: dict[str, Any] | None = None  # labelled_part of all its labelled rows
    segments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # the same, per (segment, value)
    latency: np.ndarray | None = None  # histogram over edges["latency"]
    edges: dict[str, np.ndarray] = field(default_factory=dict)  # the cells' edges, the same for every model
    proxies: dict[str, dict[str, float]] = field(default_factory=dict)  # per-request proxy metrics' sums
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)  # ranking and per-query proxy units' sums
    weak_segments: WeakRegressions | None = None  # a candidate's: the slices where it regresses (cluster_slices.py)


# ---------------------------------------------------------------- on the client


def load_models_on_cluster(
    engine: Engine,
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
) -> tuple[ModelSummary, list[ModelSummary], str]:
    """Each model summarised on the cluster; the same inputs, checks and errors as the local load_models."""
    if log is not None:
        if not baseline or not candidates:
            raise MlrelError("--log needs --baseline VERSION and at least one --candidate VERSION")
        sources = [(log, [baseline, *candidates])]
    else:
        if baseline_log is None or not candidate_logs:
            raise MlrelError("give --log with --baseline and --candidate, or --baseline-log and --candidate-log")
        sources = [(baseline_log, [ALL]), *[(c, [ALL]) for c in candidate_logs]]

    plans = []
    for source, versions in sources:
        roles = resolve_roles(source, policy)
        columns = {"__prediction": roles.prediction}
        for key, name in (("__label", roles.label), ("__latency", roles.latency), ("__version", roles.model_version)):
            if name:
                columns[key] = name
        for segment in policy.segments:
            if not source.has(segment):
                raise LogError(f"segment column '{segment}' is not in the log", source.path)
            columns[f"__seg_{segment}"] = segment
        for name in policy.proxy_metrics:
            for column in proxy_inputs(policy, source, name).values():
                columns[f"__col_{column}"] = column
        for key, name in (("__query", policy.columns.query), ("__position", policy.columns.position)):
            if name and source.has(name):
                columns[key] = name
        if log is not None and roles.model_version is None:
            raise LogError(
                f"--log needs a model_version column ('{policy.columns.model_version}', set columns.model_version)", source.path
            )
        if log is not None:
            _check_versions(engine, source, roles.model_version, versions)  # type: ignore[arg-type]
        plans.append((source, versions, columns))

    def run(source: Log, columns: dict[str, str], build: Any, seeded: bool = False) -> dict[str, Any]:
        return engine.reduce(source, list(dict.fromkeys(columns.values())), build, seeded)

    samples = []
    for source, versions, columns in plans:
        fraction = min(1.0, SAMPLE_ROWS * len(versions) / max(source.num_rows, 1))  # ~100,000 rows a model
        build = partial(sample_pass, columns=columns, versions=versions, policy=policy, fraction=fraction)
        samples.append(run(source, columns, build, seeded=True))
    task = policy.task
    if task is None:
        first = samples[0][f"{plans[0][1][0]}|sample"].table
        label = first.column("__label") if "__label" in first.column_names else None
        task = infer_task(first.column("__prediction"), label)
    per_query = [_per_query(engine, source, versions, columns, policy, task) for source, versions, columns in plans]

    counted = [
        run(source, columns, partial(counts_pass, columns=columns, versions=versions, policy=policy, task=task))
        for source, versions, columns in plans
    ]
    edges = _edges(counted, policy, task)
    celled = [
        run(source, columns, partial(cells_pass, columns=columns, versions=versions, policy=policy, task=task, edges=edges))
        for source, versions, columns in plans
    ]

    models = []
    for (source, versions, columns), sample, counts, cells, queries in zip(
        plans, samples, counted, celled, per_query, strict=True
    ):
        for version in versions:
            numbers = counts[f"{version}|counts"].values
            name = version if version != ALL else _name_of(engine, source, columns.get("__version"))
            labelled, segments = cells.get(f"{version}|labelled"), cells.get(f"{version}|segments")
            latency = cells.get(f"{version}|latency")
            models.append(
                ModelSummary(
                    version=name,
                    rows=numbers["rows"],
                    labelled_rows=numbers["labelled"],
                    has_labels="__label" in columns,
                    invalid=numbers["invalid"],
                    sample=sample[f"{version}|sample"].table,
                    sketches={
                        key.split("|", 1)[1]: value
                        for key, value in counts.items()
                        if key.startswith(f"{version}|") and isinstance(value, QuantileSketch)
                    },
                    labelled=labelled.values if labelled is not None else None,
                    segments={key: part.values for key, part in segments.parts.items()} if segments is not None else {},
                    latency=latency.values["histogram"] if latency is not None else None,
                    edges=edges,
                    proxies={name: counts[f"{version}|proxy:{name}"].values for name in per_request(policy)},
                    per_query={key.split("|", 1)[1]: value for key, value in queries.items() if key.startswith(f"{version}|")},
                )
            )
    base, cands = models[0], models[1:]
    if log is None:
        for cand, path in zip(cands, candidate_logs, strict=True):
            if cand.version == base.version:  # both logs say the same version: name the candidate by its file
                cand.version = Path(path.path).name
    for model in models:
        if model.rows == 0:
            raise LogError(f"model '{model.version}' has no rows")
    where = [Where(source, version, columns) for source, versions, columns in plans for version in versions]
    for cand, found in zip(
        cands, regressions_on_cluster(engine, task, where, [m.labelled_rows for m in models], policy), strict=True
    ):
        cand.weak_segments = found
    return base, cands, task


def _per_query(
    engine: Engine, source: Log, versions: list[str], columns: dict[str, str], policy: Policy, task: str
) -> dict[str, Any]:
    """Ranking metrics and per-query proxy metrics of each model: rows shuffled by query on the cluster, per-query
    units summed (count, sum, sum of squares) per model version, and per segment value for a ranking."""
    k = policy.validate_.performance.k
    ranking = task == RANKING and "__label" in columns
    proxies = [name for name, p in policy.proxy_metrics.items() if p.per == "query"]
    if not ranking and not proxies:
        return {}
    if "__query" not in columns or (ranking and "__position" not in columns):
        raise LogError(
            "comparing ranking models needs the query and position columns (columns.query, columns.position)"
            if ranking
            else "per-query proxy metrics need the query column (columns.query)",
            source.path,
        )
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


def segment_strings(table: pa.Table, columns: tuple[str, ...], limit: int) -> dict[str, Any]:
    """Runs on a worker: each segment column's distinct values as the local engine names them (text)."""
    import pyarrow.compute as pc

    from mlrel_cli.facts.merge import DistinctUpTo

    out = {}
    for column in columns:
        values = set(pc.cast(table.column(column), pa.string()).to_numpy(zero_copy_only=False).astype(str))
        out[column] = DistinctUpTo(frozenset(values) if len(values) <= limit else None, limit)
    return out


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
    found = engine.reduce(log, [column], partial(distinct_values, column=column, limit=10_000))
    known = sorted(str(v) for v in (found["values"].values or ())) if found else []
    for version in versions:
        if found and found["values"].values is not None and version not in known:
            raise LogError(f"version '{version}' is not in the log's {column} (has: {', '.join(known[:10])})", log.path)


def _name_of(engine: Engine, log: Log, column: str | None) -> str:
    """The log's one model_version value if it has exactly one (as the local engine names it), else its file name."""
    if column is not None:
        found = engine.reduce(log, [column], partial(distinct_values, column=column, limit=1))
        if found and found["values"].values is not None and len(found["values"].values) == 1:
            return str(next(iter(found["values"].values)))
    return log.path.rsplit("/", 1)[-1]


def _edges(counted: list[dict[str, Any]], policy: Policy, task: str) -> dict[str, np.ndarray]:
    """Cell edges from the sketches: pooled score quantiles with the threshold, each model's error quantiles, latency."""
    edges: dict[str, np.ndarray] = {}
    threshold = policy.validate_.performance.decision_threshold
    merged: dict[str, QuantileSketch] = {}
    for counts in counted:
        for key, value in counts.items():
            if isinstance(value, QuantileSketch):
                kind = key.split("|", 1)[1]
                if kind == "error":
                    points = value.points
                    quantiles = np.quantile(points, np.linspace(0, 1, rs.SCORE_BINS + 1)[1:-1]) if len(points) else []
                    edges[key] = np.unique(quantiles)
                else:
                    merged[kind] = merged[kind].merge(value) if kind in merged else value
    if "score" in merged:
        edges["score"] = rs.score_edges([merged["score"].points], threshold)
    if "latency" in merged and merged["latency"].rows:
        edges["latency"] = rs.latency_edges([merged["latency"].points])
    return edges


def canary_from_summaries(
    task: str, base: ModelSummary, cand: ModelSummary, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[Any], dict[str, Any]]:
    """The local canary's judgement (compare_canary) from the cluster's cells, counts and samples."""
    results = []
    if task == RANKING and min(base.labelled_rows, cand.labelled_rows) >= 2:
        names = [n for n in base.per_query if not n.startswith(("proxy:", SEGMENT_UNIT))]
        results.extend(_query_results(names, base, cand, policy, primary, rng))
    results.extend(_proxy_results(base, cand, policy, primary, rng))  # in the local engine's order
    if (
        task != RANKING
        and min(base.labelled_rows, cand.labelled_rows) >= 2
        and base.labelled is not None
        and cand.labelled is not None
    ):
        values_b, values_c, deviations = label_judgement(task, base.labelled, cand.labelled, base.edges, policy, rng)
        results.extend(metric_results(values_b, values_c, deviations, policy, primary))
    results.append(error_rate_result(base.invalid, base.rows, cand.invalid, cand.rows, policy, primary, rng))
    rank_tests: dict[str, Any] = {}
    if base.latency is not None and cand.latency is not None:
        sketch_b, sketch_c = base.sketches["latency"], cand.sketches["latency"]
        if sketch_b.rows and sketch_c.rows:
            point_b = np.percentile(sketch_b.points, LATENCY_QUANTILES)
            point_c = np.percentile(sketch_c.points, LATENCY_QUANTILES)
            results.extend(
                latency_results(point_b, point_c, base.latency, cand.latency, base.edges["latency"], policy, primary, rng)
            )
            lb, lc = (_finite(m.sample, "__latency") for m in (base, cand))
            if len(lb) and len(lc):
                rank_tests["latency"] = mann_whitney(lb, lc, rng)
    sb, sc = (_finite(m.sample, "__prediction") for m in (base, cand))
    if len(sb) and len(sc):
        rank_tests["score"] = mann_whitney(sb, sc, rng)
    return results, rank_tests


def _proxy_results(base: ModelSummary, cand: ModelSummary, policy: Policy, primary: str, rng: np.random.Generator) -> list[Any]:
    """Per-request proxy metrics from their sums; the spread of each side is normal with its standard error (the
    sums hold no cells to resample; at the sizes a cluster sees, the two agree)."""
    resamples = policy.compare.bootstrap.resamples
    values_b, values_c, deviations = {}, {}, {}
    for name in policy.proxy_metrics:
        if name not in base.proxies:  # a metric per query
            values_b[name], values_c[name], deviations[name] = _query_judgement(f"proxy:{name}", base, cand, resamples, rng)
            continue
        sums_b = base.proxies[name]
        kind = policy.proxy_metrics[name].kind
        (vb, se_b), (vc, se_c) = proxy_from_sums(kind, sums_b), proxy_from_sums(kind, cand.proxies[name])
        values_b[name], values_c[name] = vb, vc
        if np.isfinite(se_b) and np.isfinite(se_c):
            deviations[name] = rng.normal(0.0, se_c, resamples) - rng.normal(0.0, se_b, resamples)
    return metric_results(values_b, values_c, deviations, policy, primary)


def _query_judgement(
    name: str, base: ModelSummary, cand: ModelSummary, resamples: int, rng: np.random.Generator
) -> tuple[float, float, np.ndarray]:
    """A mean over queries on each side and normal deviations with its standard error."""

    (vb, se_b), (vc, se_c) = mean_and_se(base.per_query[name]), mean_and_se(cand.per_query[name])
    if not (np.isfinite(se_b) and np.isfinite(se_c)):
        return vb, vc, np.array([])
    return vb, vc, rng.normal(0.0, se_c, resamples) - rng.normal(0.0, se_b, resamples)


def _query_results(
    names: list[str], base: ModelSummary, cand: ModelSummary, policy: Policy, primary: str, rng: np.random.Generator
) -> list[Any]:
    """The ranking metrics (NDCG@k, MRR, CTR@k, no engagement) compared as the local _ranking_results does."""
    results = []
    for name in names:
        vb, vc, deviation = _query_judgement(name, base, cand, policy.compare.bootstrap.resamples, rng)
        low, high = rs.interval(vc - vb, deviation, policy.compare.bootstrap.confidence)
        result = classify(name.split("@")[0], vb, vc, low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(vc - vb, deviation)))
    return results


def _finite(sample: pa.Table | None, column: str) -> np.ndarray:
    from mlrel_cli.logs import kind_of_type, to_numpy_float

    if sample is None or column not in sample.column_names or kind_of_type(sample.column(column).type) != "numeric":
        return np.empty(0)
    values = to_numpy_float(sample.column(column))
    return values[np.isfinite(values)]


def label_judgement(
    task: str,
    base: dict[str, Any],
    cand: dict[str, Any],
    edges: dict[str, np.ndarray],
    policy: Policy,
    rng: np.random.Generator,
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Both sides' label metrics from their labelled_part, and the bootstrap deviations of each delta."""
    resamples = policy.compare.bootstrap.resamples
    if task == BINARY:
        threshold = policy.validate_.performance.decision_threshold
        b, c = (rs.cells_from_sums(part, edges["score"], threshold) for part in (base, cand))
        return binary_deviations(b, c, resamples, rng)
    if task == MULTICLASS:
        values_b, values_c = (multiclass_from_pairs(part["confusion"]) for part in (base, cand))
        deviations = {
            "accuracy": _accuracy_deviation(cand, values_c, resamples, rng) - _accuracy_deviation(base, values_b, resamples, rng)
        }
        return values_b, values_c, deviations
    values_b, values_c = (regression_from_sums(part) for part in (base, cand))
    dev_b, dev_c = (_regression_deviations(part, resamples, rng) for part in (base, cand))
    return values_b, values_c, {name: dev_c[name] - dev_b[name] for name in dev_b}


def segments_from_summaries(
    task: str, base: ModelSummary, cand: ModelSummary, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    """compare_segments from the cluster's per-segment parts: the same rows, judgement and correction."""
    if task == RANKING:
        return _ranking_segments(base, cand, policy, primary, rng) if primary in RANKING_METRICS else []
    if base.labelled is None or cand.labelled is None or primary not in PRIMARY.values():
        return []
    rows = []
    for segment in policy.segments:
        values = sorted({v for s, v in base.segments if s == segment} | {v for s, v in cand.segments if s == segment})
        for value in values:
            part_b, part_c = base.segments.get((segment, value)), cand.segments.get((segment, value))
            n_b, n_c = (int(p["n"]) if p is not None else 0 for p in (part_b, part_c))

            def judge(part_b: Any = part_b, part_c: Any = part_c) -> tuple[float, float, np.ndarray]:
                vb, vc, deviations = label_judgement(task, part_b, part_c, base.edges, policy, rng)
                return vb.get(primary, np.nan), vc.get(primary, np.nan), deviations.get(primary, np.array([]))

            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


def _ranking_segments(
    base: ModelSummary, cand: ModelSummary, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    """The local _ranking_segments from per-query sums: each side normal with its standard error over queries."""
    k = policy.validate_.performance.k
    unit = ranking_unit(primary, k)
    empty = {"n": 0.0, "sum": 0.0, "sum2": 0.0}
    rows = []
    for segment in policy.segments:
        prefix = f"{SEGMENT_UNIT}{segment}="
        names = {n for model in (base, cand) for n in model.per_query if n.startswith(prefix) and n.endswith(f"|{unit}")}
        counts = {n: [int(m.per_query.get(n, empty)["n"]) for m in (base, cand)] for n in names}
        for name in sorted((n for n in names if sum(counts[n])), key=lambda n: n[len(prefix) : -len(unit) - 1]):
            value = name[len(prefix) : -len(unit) - 1]
            sides = [replace(m, per_query={name: m.per_query.get(name, empty)}) for m in (base, cand)]

            def judge(sides: list[ModelSummary] = sides, name: str = name) -> tuple[float, float, np.ndarray]:
                return _query_judgement(name, sides[0], sides[1], policy.compare.bootstrap.resamples, rng)

            n_b, n_c = counts[name]
            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


def _accuracy_deviation(part: dict[str, Any], values: dict[str, float], resamples: int, rng: np.random.Generator) -> np.ndarray:
    correct = values["accuracy"] * part["n"]
    counts = np.array([correct, part["n"] - correct], dtype=np.float64)
    draws = rs.resample_counts(counts, resamples, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        return draws[:, 0] / draws.sum(axis=1) - counts[0] / counts.sum()


def _regression_deviations(cells: dict[str, np.ndarray], resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    counts = cells["error_count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = np.where(counts > 0, cells["error_abs"] / counts, 0.0)
        mean_sq = np.where(counts > 0, cells["error_sq"] / counts, 0.0)
        draws = rs.resample_counts(counts, resamples, rng)
        n = draws.sum(axis=1)
        return {
            "mae": draws @ mean_abs / n - counts @ mean_abs / counts.sum(),
            "rmse": np.sqrt(draws @ mean_sq / n) - np.sqrt(counts @ mean_sq / counts.sum()),
        }


def _weak_segments(task: str, base: ModelSummary, cand: ModelSummary, policy: Policy, mode: str) -> WeakRegressions | None:
    return cand.weak_segments


TWIN = Twin(canary=canary_from_summaries, segments=segments_from_summaries, weak_segments=_weak_segments)
