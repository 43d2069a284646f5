"""Ranking metrics (per query, averaged over queries) and proxy metrics (per request or per query)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from mlrel_cli.analysis.validate.context import Context, Setup, too_few_to_judge
from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.report import Check, Status


def query_column(ctx: Setup) -> str:
    """The query (or session) column, required for ranking and per-query metrics."""
    cols = ctx.policy.columns
    if not cols.query or not ctx.log.has(cols.query):
        raise PolicyError(
            f"columns.query: a ranking log needs its query (or session) id column; '{cols.query}' is not in the log"
            if cols.query
            else "columns.query: set the query (or session) id column of the ranking log",
            ctx.source("columns.query"),
        )
    return cols.query


def position_column(ctx: Setup) -> str:
    cols = ctx.policy.columns
    if not cols.position or not ctx.log.has(cols.position):
        raise PolicyError(
            "columns.position: a ranking log needs the position each result was shown at", ctx.source("columns.position")
        )
    dtype = ctx.log.schema.field(cols.position).type
    if not pa.types.is_integer(dtype):
        raise LogError(f"position column '{cols.position}' must hold integers, not {dtype}", ctx.log.path)
    return cols.position


def query_units(
    table: pa.Table, codes: np.ndarray, ranking: tuple[str, str, int] | None, proxies: Mapping[str, tuple[str, Mapping[str, str]]]
) -> dict[str, np.ndarray]:
    """Per-query values of the ranking metrics (position, gain columns, k) and of per-query proxy metrics, for the
    queries of ``table`` (whole queries: all their rows are here). Means of these over queries are the metrics."""
    from mlrel_cli.facts.proxy import as_float
    from mlrel_cli.stats.ranking import group_queries, per_query_proxy, ranking_units

    units: dict[str, np.ndarray] = {}
    if ranking is not None:
        position, label, k = ranking
        gain, pos = to_numpy_float(table.column(label)), to_numpy_float(table.column(position))
        keep = (codes >= 0) & np.isfinite(gain) & np.isfinite(pos)
        units.update(ranking_units(group_queries(codes[keep], pos[keep], gain[keep]), k))
    for name, (kind, inputs) in proxies.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}
        units[f"proxy:{name}"] = per_query_proxy(
            kind, arrays.get("column"), arrays.get("numerator"), arrays.get("denominator"), codes
        )
    return units


def ranking_performance(ctx: Context) -> list[Check]:
    """The ranking metrics over queries; then the slices of queries with a low NDCG, searched on every labelled
    result when the engine sent them all (a sample of results would cut queries)."""
    from mlrel_cli.analysis import ranking_slices
    from mlrel_cli.analysis.weak_segments import NAME

    cfg = ctx.policy.validate_.performance
    values, queries = ctx.facts.ranking(cfg.k)
    checks = ranking_checks(ctx, values, queries)
    spec = ctx.policy.validate_.weak_segments
    if spec.enabled:
        rows = ctx.facts.query_rows()
        if rows is None:
            why = "a ranking log is searched by whole queries, and the engine sent a sample of its results"
            checks.append(Check(NAME, Status.SKIPPED, message=f"no weak-segment search: {why}"))
        else:
            source = ctx.source("validate.weak_segments.max_gap")
            roles = ctx.roles
            found = ranking_slices.check(
                ctx.log,
                ctx.reference,
                roles.features,
                roles.segments,
                rows.query,
                rows.position,
                rows.gain,
                rows.keep,
                cfg.k,
                spec,
                source,
            )
            checks.append(found)
    return checks


def ranking_checks(ctx: Context, values: dict[str, float], queries: int) -> list[Check]:
    cfg = ctx.policy.validate_.performance
    if queries < cfg.min_rows:
        return [too_few_to_judge(ctx, queries, "queries with labels")]
    checks = []
    for full_name, value in values.items():
        name = full_name.split("@")[0]
        bound = cfg.metrics.get(name)
        status = Status.PASS
        if bound is not None and ((bound.min is not None and value < bound.min) or (bound.max is not None and value > bound.max)):
            status = Status.FAIL
        checks.append(
            Check(
                name=f"performance:{full_name}",
                status=status,
                value=value,
                threshold={"min": bound.min, "max": bound.max} if bound else None,
                message=f"{full_name} {value:.4g} over {queries:,} queries" + ("" if bound else " (no threshold set)"),
                source=ctx.source(f"validate.performance.metrics.{name}") if bound else None,
            )
        )
    return checks


def proxy_check(ctx: Context, name: str, value: float) -> Check:
    spec = ctx.policy.proxy_metrics[name]
    if not np.isfinite(value):
        return Check(
            name=f"proxy:{name}",
            status=Status.INCONCLUSIVE,
            message="undefined on this log (no values, or the denominator sums to zero)",
        )
    failed = (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
    return Check(
        name=f"proxy:{name}",
        status=Status.FAIL if failed else Status.PASS,
        value=value,
        threshold={"min": spec.min, "max": spec.max} if spec.min is not None or spec.max is not None else None,
        message=f"{name} ({spec.kind} per {spec.per}) {value:.4g}"
        + ("" if spec.min is not None or spec.max is not None else " (no threshold set)"),
        details={"higher_is_better": spec.higher_is_better},
        source=ctx.source(f"proxy_metrics.{name}"),
    )
