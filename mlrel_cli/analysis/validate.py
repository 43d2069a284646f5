"""``mlrel validate``: the gate before a change ships and the first look during an incident.

The log is read one column at a time (two or three where a check needs them
together), so memory stays bounded by a column. Every check of spec 2.1 is a
function that returns Checks; ``validate`` runs them and builds the Report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import weak_segments
from mlrel_cli.durations import format_duration
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.facts.columns import (
    LabelCount,
    NumericFacts,
    PredictionFacts,
    TimeFacts,
    WindowCounts,
    build,
    category_counts,
    columns_of,
)
from mlrel_cli.facts.merge import Sums, sample_rows
from mlrel_cli.logs import (
    JoinedLabels,
    Log,
    Roles,
    infer_task,
    is_text_like,
    join_labels,
    kind_of_type,
    resolve_roles,
    timestamps_keeping_rows,
    to_numpy_float,
    to_timestamps_us,
)
from mlrel_cli.policy import Policy, check_metrics_fit_the_task
from mlrel_cli.report import Check, Report, Status, overall_status
from mlrel_cli.stats.inference import SE_MAX_ROWS, bootstrap_se
from mlrel_cli.stats.metrics import TASK_METRICS
from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, RANKING, REGRESSION
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, TooManyCategories

Progress = Callable[[str], None]

AUTO_WINDOWS = (60, 300, 900, 3600, 6 * 3600, 86400)  # seconds
AUTO_WINDOW_MIN_EXPECTED = 50  # rows per window at the mean rate
MIN_WINDOWS = 3


def judge_max(value: float, fail: float | None, warn: float | None = None) -> Status:
    if fail is not None and value > fail:
        return Status.FAIL
    if warn is not None and value > warn:
        return Status.WARN
    return Status.PASS


def judge_min(value: float, fail: float | None, warn: float | None = None) -> Status:
    if fail is not None and value < fail:
        return Status.FAIL
    if warn is not None and value < warn:
        return Status.WARN
    return Status.PASS


@dataclass
class _Context:
    log: Log
    policy: Policy
    roles: Roles
    reference: Log | None
    reference_roles: Roles | None
    labels: JoinedLabels | None
    now: dt.datetime
    progress: Progress
    facts: Facts = None  # type: ignore[assignment]  # set right after construction: it needs the context

    def source(self, path: str) -> str:
        return self.policy.source_of(path)

    @property
    def distributed(self) -> bool:
        return isinstance(self.facts, ClusterFacts)


def validate(
    log: Log,
    policy: Policy,
    reference: Log | None = None,
    labels: Log | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    """Run every enabled check of the policy's ``validate`` section on the log."""
    from mlrel_cli.engine import check_engine, open_engine

    engine = check_engine(engine or policy.engine, labels=labels)
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    reference_roles = resolve_roles(reference, policy) if reference is not None else None
    joined = join_labels(log, roles, labels, policy) if labels is not None else None
    ctx = _Context(
        log=log,
        policy=policy,
        roles=roles,
        reference=reference,
        reference_roles=reference_roles,
        labels=joined,
        now=now or dt.datetime.now(dt.UTC),
        progress=progress or (lambda _step: None),
    )
    if engine == "dask":
        with open_engine(engine, scheduler, policy.engine_timeout) as cluster:
            ctx.facts = ClusterFacts.gather(ctx, cluster)
        checks, task, segment_rows = _run_checks(ctx)
    else:
        ctx.facts = LocalFacts(ctx)
        checks, task, segment_rows = _run_checks(ctx)

    check_metrics_fit_the_task(policy, task, prefix="validate.")  # a bound on another task's metric is never judged
    status = overall_status(checks)
    inputs = {
        "log": log.path,
        "rows": log.num_rows,
        "files": len(log.files),
        "reference": reference.path if reference else None,
        "labels": labels.path if labels else None,
        "policy": list(policy.files),
        "task": task,
        "features": roles.features,
        "not_checked": roles.skipped,
        "engine": engine,
    }
    return Report(
        command="validate",
        status=status,
        summary=_summary(status, checks, log.num_rows),
        checks=tuple(checks),
        inputs=inputs,
        sections={"segments": segment_rows, "weak_segments": weak_segments.rows_of(checks)},
    )


def _run_checks(ctx: _Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    spec = ctx.policy.validate_
    checks: list[Check] = []
    if spec.schema_.enabled:
        checks.extend(check_schema(ctx))
    for name, kind in ctx.roles.features.items():
        checks.extend(check_feature(ctx, name, kind))
        ctx.progress(name)
    if spec.prediction.enabled:
        checks.extend(check_prediction(ctx))
    if spec.duplicates.enabled:
        checks.extend(check_duplicates(ctx))
    checks.extend(check_time(ctx))
    if spec.latency.enabled:
        checks.extend(check_latency(ctx))
    if ctx.distributed:
        label_checks, task, segment_rows = _cluster_label_checks(ctx)
        return checks + label_checks, task, segment_rows
    label_checks, task, segment_rows = check_labels_and_performance(ctx)
    checks.extend(label_checks)
    checks.extend(check_proxy_metrics(ctx))
    if spec.fairness.enabled and spec.fairness.segment:
        checks.extend(check_fairness(ctx, task))
    return checks, task, segment_rows


RANKING_FAIRNESS = "a ranking metric per group of queries is not built yet"


def _cluster_label_checks(ctx: _Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    """On a cluster: label coverage and the model's metrics, overall and per segment, from merged facts; what needs
    rows together comes from a shuffle of the rows between workers (duplicates, per-query metrics)."""
    assert isinstance(ctx.facts, ClusterFacts)
    spec = ctx.policy.validate_
    checks: list[Check] = []
    segment_rows: list[dict[str, Any]] = []
    task = ctx.facts.task
    if ctx.roles.label is None:
        if spec.label_coverage.enabled:
            checks.append(_skipped("label_coverage", "no label column"))
    else:
        if spec.label_coverage.enabled:
            checks.append(_coverage_check(ctx, ctx.facts.labels()))
        if spec.performance.enabled:
            found, segment_rows = _cluster_performance(ctx)
            checks.extend(found)
            if spec.weak_segments.enabled:
                checks.append(weak_segments.from_cluster(ctx.facts.weak_segments(), task, spec.weak_segments,
                                                         ctx.source("validate.weak_segments.max_gap")))  # fmt: skip
    for name in ctx.policy.proxy_metrics:
        checks.append(_proxy_check(ctx, name, ctx.facts.proxy(name)))
    if spec.fairness.enabled and spec.fairness.segment:
        checks.append(_cluster_fairness(ctx, task))
    return checks, task, segment_rows


def _cluster_fairness(ctx: _Context, task: str | None) -> Check:
    assert isinstance(ctx.facts, ClusterFacts)
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    if task not in METRIC_BY_NAME[cfg.metric].tasks:
        return _skipped(f"fairness:{segment}", f"metric '{cfg.metric}' does not apply to task '{task}'")

    def name(value: str) -> str:
        return "None" if value == NO_VALUE else value  # as the local engine names a missing value

    rates = ctx.facts.positive_rates()
    if rates is not None:
        counts = {name(g): part.values for g, part in rates.items()}
        return _fairness_check(ctx, {g: c["n"] for g, c in counts.items()},
                               lambda g: {"positive_rate": counts[g]["positive"] / counts[g]["n"]})  # fmt: skip
    if ctx.roles.label is None:
        return _skipped(f"fairness:{segment}", f"metric '{cfg.metric}' needs labels")
    if task == RANKING:
        return _skipped(f"fairness:{segment}", RANKING_FAIRNESS)
    groups = {name(v): part for (s, v), part in ctx.facts.performance()["segments"].items() if s == segment}
    return _fairness_check(ctx, {g: n for g, (n, _) in groups.items()}, lambda g: groups[g][1])


def _cluster_performance(ctx: _Context) -> tuple[list[Check], list[dict[str, Any]]]:
    assert isinstance(ctx.facts, ClusterFacts)
    cfg = ctx.policy.validate_.performance
    task = ctx.facts.task
    if task == RANKING:
        values, queries = ctx.facts.ranking(cfg.k)
        return _ranking_checks(ctx, values, queries), []
    if task not in (BINARY, MULTICLASS, REGRESSION):
        return [_skipped("performance", f"task '{task}' metrics are not built yet")], []
    found = ctx.facts.performance()
    n = found["rows"]
    if n < cfg.min_rows:
        return [Check(name="performance", status=Status.INCONCLUSIVE, value=n, threshold=cfg.min_rows,
                      message=f"only {n:,} labelled rows; at least {cfg.min_rows:,} are needed to judge the metrics",
                      source=ctx.source("validate.performance.min_rows"))], []  # fmt: skip
    sample = found["sample"]
    truth, predicted = (sample.column(name).to_numpy(zero_copy_only=False) for name in ("truth", "predicted"))

    def se_of(name: str, rows: np.ndarray | None, population: int) -> Callable[[], float]:
        data = _Labelled(truth if rows is None else truth[rows], predicted if rows is None else predicted[rows], np.empty(0))
        return lambda: _metric_se(task, name, data, None, cfg.decision_threshold, population=population)

    checks = [_metric_check(ctx, name, value, None, n, se_of(name, None, n)) for name, value in found["metrics"].items()]
    segment_rows: list[dict[str, Any]] = []
    for segment in ctx.roles.segments:
        parts = {value: part for (s, value), part in found["segments"].items() if s == segment and value != NO_VALUE}
        names = sorted(parts)
        sizes = np.array([parts[v][0] for v in names], dtype=np.int64)
        in_sample = sample.column(f"segment:{segment}").to_numpy(zero_copy_only=False)

        def metrics_of(i: int, names: list[str] = names, parts: dict[str, Any] = parts) -> dict[str, float]:
            return parts[names[i]][1]

        def segment_se(name: str, i: int, names: list[str] = names, sizes: np.ndarray = sizes,
                       in_sample: np.ndarray = in_sample) -> Callable[[], float]:  # fmt: skip
            return se_of(name, in_sample == names[i], int(sizes[i]))

        found_checks, rows = _segment_checks(ctx, segment, names, sizes, metrics_of, segment_se)
        checks.extend(found_checks)
        segment_rows.extend(rows)
    return checks, segment_rows


def _summary(status: Status, checks: list[Check], rows: int) -> str:
    failed = [c.name for c in checks if c.status == Status.FAIL]
    inconclusive = [c.name for c in checks if c.status == Status.INCONCLUSIVE]
    warned = [c.name for c in checks if c.status == Status.WARN]
    head = f"{len(checks)} checks on {rows:,} rows"
    if status == Status.FAIL:
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"{head}: {len(failed)} failed ({', '.join(failed[:3])}{more})."
    if status == Status.INCONCLUSIVE:
        return f"{head}: not enough data to judge {', '.join(inconclusive[:3])}."
    if status == Status.WARN:
        return f"{head}: all passed, {len(warned)} with warnings ({', '.join(warned[:3])})."
    return f"{head}: all passed."


# ---------------------------------------------------------------- schema


def _declared_type(text: str) -> pa.DataType | None:
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return None


def check_schema(ctx: _Context) -> list[Check]:
    problems: list[str] = []
    schema = ctx.log.schema
    features = ctx.policy.features or {}
    for name, spec in features.items():
        actual = schema.field(name).type
        if spec.dtype:
            declared = _declared_type(spec.dtype)
            if declared is None:
                problems.append(f"{name}: declared dtype '{spec.dtype}' is not an Arrow type name")
            elif not _same_family(declared, actual):
                problems.append(f"{name}: declared {spec.dtype}, found {actual}")
        if spec.kind == "numeric" and kind_of_type(actual) != "numeric":
            problems.append(f"{name}: declared numeric, found {actual}")
    if ctx.reference is not None:
        expected = set(ctx.reference.column_names) - ctx.reference.partition_columns
        if ctx.labels is not None:
            expected.discard(ctx.policy.columns.label)
        for name in sorted(expected - set(schema.names)):
            problems.append(f"{name}: in the reference, missing from the log")
        for name in sorted(expected & set(schema.names)):
            ref_type = ctx.reference.schema.field(name).type
            cur_type = schema.field(name).type
            if not _same_family(ref_type, cur_type):
                problems.append(f"{name}: {ref_type} in the reference, {cur_type} in the log")
    status = Status.FAIL if problems else Status.PASS
    message = "; ".join(problems[:3]) if problems else f"{len(schema)} columns as expected"
    return [
        Check(
            name="schema",
            status=status,
            value=len(problems),
            threshold=0,
            message=message,
            details={"problems": problems, "columns": {f.name: str(f.type) for f in schema}},
            source=ctx.source("validate.schema"),
        )
    ]


def _same_family(a: pa.DataType, b: pa.DataType) -> bool:
    """Types a check treats alike: any integer or float is numeric, any string-like is text."""
    if a == b:
        return True
    ka, kb = kind_of_type(a), kind_of_type(b)
    if ka is None or kb is None:
        return False
    if pa.types.is_boolean(a) != pa.types.is_boolean(b):
        return False
    return ka == kb


# ---------------------------------------------------------------- features


def check_feature(ctx: _Context, name: str, kind: str) -> list[Check]:
    checks: list[Check] = []
    cfg = ctx.policy.validate_
    if kind == "numeric" and kind_of_type(ctx.log.schema.field(name).type) == "numeric":
        ref = ctx.facts.reference_numeric(name)
        lo, hi, range_from = range_bounds(ctx, name, ref)
        facts = ctx.facts.numeric(name, lo, hi)
        ref_rate = ref.missing / ref.rows if ref is not None and ref.rows else None
        if cfg.missing.enabled:
            checks.append(_missing_check(ctx, name, facts.missing / facts.rows if facts.rows else 0.0, ref_rate))
        if cfg.ranges.enabled and range_from is not None:
            checks.append(_range_check(ctx, name, facts, lo, hi, range_from))
        return checks

    counts = ctx.facts.categorical(name)
    ref_counts = ctx.facts.reference_categorical(name)
    ref_rate = ref_counts.missing_rate if ref_counts is not None and ref_counts.total else None
    if cfg.missing.enabled:
        checks.append(_missing_check(ctx, name, counts.missing_rate, ref_rate))
    if not cfg.unseen_categories.enabled:
        return checks
    if isinstance(counts, TooManyCategories) or isinstance(ref_counts, TooManyCategories):
        why = f"more than {MAX_CATEGORIES:,} distinct values: an id or free text, not categories"
        return [*checks, _skipped(f"unseen:{name}", why)]
    return [*checks, *_unseen_check(ctx, name, kind, counts, ref_counts)]


def _missing_check(ctx: _Context, name: str, rate: float, ref_rate: float | None) -> Check:
    cfg = ctx.policy.validate_.missing
    spec = (ctx.policy.features or {}).get(name)
    details: dict[str, Any] = {"column": name}
    if spec is not None and spec.max_missing is not None:
        fail, warn = spec.max_missing, None
        source = ctx.source(f"features.{name}.max_missing")
    elif ref_rate is not None:
        fail, warn = min(1.0, ref_rate + cfg.tolerance), None
        source = f"reference + validate.missing.tolerance ({ctx.source('validate.missing.tolerance')})"
        details["reference_rate"] = ref_rate
    else:
        fail, warn = cfg.max_fraction, cfg.warn_fraction
        source = ctx.source("validate.missing")
        details["warn_threshold"] = warn
    status = judge_max(rate, fail, warn)
    breached = {Status.FAIL: fail, Status.WARN: warn}.get(status)
    return Check(
        name=f"missing:{name}",
        status=status,
        value=rate,
        threshold=fail,
        message=f"{rate:.2%} missing" + (f" (above {breached:.2%})" if breached is not None else ""),
        details=details,
        source=source,
    )


def range_bounds(ctx: _Context, name: str, ref: NumericFacts | None) -> tuple[float | None, float | None, str | None]:
    """The range a feature must keep: the policy's, else the reference's extremes; and where it came from."""
    spec = (ctx.policy.features or {}).get(name)
    lo = spec.min if spec is not None else None
    hi = spec.max if spec is not None else None
    if lo is not None or hi is not None:
        return lo, hi, ctx.source(f"features.{name}")
    if ref is not None and ref.present:
        return ref.low, ref.high, "reference"
    return None, None, None


def _range_check(ctx: _Context, name: str, facts: NumericFacts, lo: float | None, hi: float | None, range_from: str) -> Check:
    cfg = ctx.policy.validate_.ranges
    n_out = facts.below + facts.above
    rate = n_out / facts.present if facts.present else 0.0
    top = list(dict.fromkeys(float(v) for v in facts.offenders))[: cfg.top]
    bounds = f"[{_num(lo)}, {_num(hi, 'inf')}]"
    return Check(
        name=f"range:{name}",
        status=judge_max(rate, cfg.max_fraction, cfg.warn_fraction),
        value=rate,
        threshold=cfg.max_fraction,
        message=f"{n_out:,} values outside {bounds}" if n_out else f"within {bounds}",
        details={
            "column": name,
            "min": lo,
            "max": hi,
            "below": facts.below,
            "above": facts.above,
            "top": top,
            "range_from": range_from,
            "warn_threshold": cfg.warn_fraction,
        },
        source=ctx.source("validate.ranges.max_fraction"),
    )


def _num(value: float | None, missing: str = "-inf") -> str:
    return missing if value is None else f"{value:g}"


def _value_counts(column: pa.ChunkedArray) -> tuple[list[Any], np.ndarray]:
    counts = pc.value_counts(pc.drop_null(column))
    counts = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
    values = counts.field("values")
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values.to_pylist(), counts.field("counts").to_numpy(zero_copy_only=False)


def _unseen_check(
    ctx: _Context, name: str, kind: str, counts: CategoricalSummary, ref_counts: CategoricalSummary | None
) -> list[Check]:
    cfg = ctx.policy.validate_.unseen_categories
    spec = (ctx.policy.features or {}).get(name)
    if spec is not None and spec.allowed is not None:
        known = {_norm(v) for v in spec.allowed}
        known_from = "policy"
        source = ctx.source(f"features.{name}.allowed")
    elif ref_counts is not None:
        declared_categorical = spec is not None and spec.kind is not None
        if kind == "text" or (not declared_categorical and is_text_like(len(ref_counts.categories), ref_counts.total)):
            return [_skipped(f"unseen:{name}", "mostly distinct values: an id or free text, not categories")]
        known = {_norm(v) for v in ref_counts.categories}
        known_from = "reference"
        source = ctx.source("validate.unseen_categories.max_fraction")
    else:
        return []
    if kind == "text":
        return [_skipped(f"unseen:{name}", "declared text: not judged as categories")]
    unseen = [(v, int(c)) for v, c in zip(counts.categories, counts.counts, strict=True) if _norm(v) not in known]
    unseen.sort(key=lambda item: -item[1])
    n_unseen = sum(c for _, c in unseen)
    rate = n_unseen / counts.count if counts.count else 0.0
    status = judge_max(rate, cfg.max_fraction, cfg.warn_fraction)
    return [
        Check(
            name=f"unseen:{name}",
            status=status,
            value=rate,
            threshold=cfg.max_fraction,
            message=(
                f"{len(unseen)} unseen categories in {n_unseen:,} rows, e.g. " + ", ".join(repr(v) for v, _ in unseen[:3])
                if unseen
                else f"all {len(counts.categories)} categories known"
            ),
            details={
                "column": name,
                "unseen_categories": len(unseen),
                "top": [{"value": v, "count": c} for v, c in unseen[: cfg.top]],
                "known_from": known_from,
                "warn_threshold": cfg.warn_fraction,
            },
            source=source,
        )
    ]


def _norm(value: Any) -> Any:
    """Compare categories across types: 1 in the policy matches 1 or '1' in the log."""
    return str(value) if not isinstance(value, bool) else str(value).lower()


def _skipped(name: str, why: str) -> Check:
    return Check(name=name, status=Status.SKIPPED, message=why)


# ---------------------------------------------------------------- prediction sanity, duplicates


def check_prediction(ctx: _Context) -> list[Check]:
    cfg = ctx.policy.validate_.prediction
    facts = ctx.facts.prediction()
    details: dict[str, Any] = {"column": ctx.roles.prediction, "null": facts.null}
    problems: list[str] = []
    invalid = facts.null
    if facts.numeric:
        invalid += facts.nan + facts.inf
        details.update(nan=facts.nan, inf=facts.inf)
        task = _resolved_task(ctx)
        probability = facts.finite > 0 and facts.low >= -1e-9 and facts.high <= 1 + 1e-9
        if task == BINARY or (task is None and probability):
            details["outside_0_1"] = facts.outside_0_1
            invalid += facts.outside_0_1
            if facts.outside_0_1:
                problems.append(f"{facts.outside_0_1:,} probabilities outside [0, 1]")
        if facts.constant:
            details["constant_value"] = facts.low
    rate = invalid / facts.rows if facts.rows else 0.0
    if invalid:
        problems.insert(0, f"{invalid:,} invalid outputs (null, NaN, infinite or out of range)")
    status = judge_max(rate, cfg.max_invalid_fraction)
    if facts.constant and not cfg.allow_constant:
        status = Status.FAIL
        problems.append("the model returns one constant value")
    return [
        Check(
            name="prediction",
            status=status,
            value=rate,
            threshold=cfg.max_invalid_fraction,
            message="; ".join(problems) if problems else "no invalid outputs",
            details={**details, "constant": facts.constant},
            source=ctx.source("validate.prediction"),
        )
    ]


def check_duplicates(ctx: _Context) -> list[Check]:
    if ctx.roles.id is None:
        return []
    cfg = ctx.policy.validate_.duplicates
    if ctx.distributed:
        assert isinstance(ctx.facts, ClusterFacts)
        n_valid, duplicates, top = ctx.facts.duplicates()
    else:
        ids = ctx.log.column(ctx.roles.id)
        n_valid = len(ids) - ids.null_count
        duplicates = n_valid - pc.count_distinct(ids, mode="only_valid").as_py()
        top = []
        if duplicates:
            values, counts = _value_counts(ids)
            order = np.argsort(-counts, kind="stable")[: cfg.top]
            top = [{"value": values[i], "count": int(counts[i])} for i in order if counts[i] > 1]
    rate = duplicates / n_valid if n_valid else 0.0
    return [
        Check(
            name="duplicates",
            status=judge_max(rate, cfg.max_fraction),
            value=rate,
            threshold=cfg.max_fraction,
            message=f"{duplicates:,} rows repeat an id of '{ctx.roles.id}'" if duplicates else "ids are unique",
            details={"column": ctx.roles.id, "duplicate_rows": duplicates, "top": top},
            source=ctx.source("validate.duplicates.max_fraction"),
        )
    ]


# ---------------------------------------------------------------- volume, freshness, downtime


def check_time(ctx: _Context) -> list[Check]:
    spec = ctx.policy.validate_
    checks: list[Check] = []
    n = ctx.log.num_rows
    if spec.volume.enabled:
        lo, hi = spec.volume.min_rows, spec.volume.max_rows
        status = Status.FAIL if (lo is not None and n < lo) or (hi is not None and n > hi) else Status.PASS
        bounds = f"[{lo if lo is not None else 0:,}, {hi:,}]" if hi is not None else f">= {lo or 0:,}"
        checks.append(
            Check(
                name="volume",
                status=status,
                value=n,
                threshold={"min_rows": lo, "max_rows": hi},
                message=f"{n:,} rows" + (f", outside {bounds}" if status == Status.FAIL else ""),
                source=ctx.source("validate.volume"),
            )
        )
    if ctx.roles.timestamp is None or not (spec.freshness.enabled or spec.downtime.enabled):
        return checks
    times = ctx.facts.time()
    if times.count == 0:
        if spec.freshness.enabled and spec.freshness.max_age is not None:  # an SLO that cannot be judged is not met
            return [*checks, Check(name="freshness", status=Status.INCONCLUSIVE, value=None,
                                   threshold=spec.freshness.max_age.total_seconds(),
                                   message=f"no timestamps in '{ctx.roles.timestamp}': the freshness SLO cannot be judged",
                                   source=ctx.source("validate.freshness.max_age"))]  # fmt: skip
        return [*checks, _skipped("freshness", "no timestamps")]
    newest, oldest = times.newest, times.oldest
    if spec.freshness.enabled:
        newest_dt = _from_us(newest)
        age = ctx.now - newest_dt
        max_age = spec.freshness.max_age
        status = Status.FAIL if max_age is not None and age > max_age else Status.PASS
        future = -age > spec.freshness.max_clock_skew  # served in the future: a clock or a unit is wrong
        if future:
            status = Status.FAIL
        checks.append(
            Check(
                name="freshness",
                status=status,
                value=age.total_seconds(),
                threshold=max_age.total_seconds() if max_age else None,
                message=(
                    f"newest prediction {_human(age)} old"
                    if age >= dt.timedelta(0)
                    else f"newest prediction {_human(-age)} after the time judged against"
                    + (f", beyond the {_human(spec.freshness.max_clock_skew)} clock-skew allowance" if future else "")
                )
                + ("" if max_age or future else " (not judged: set validate.freshness.max_age)"),
                details={"newest": newest_dt, "oldest": _from_us(oldest), "now": ctx.now},
                source=ctx.source("validate.freshness.max_age"),
            )
        )
    if spec.downtime.enabled:
        checks.append(_downtime_check(ctx, times))
    return checks


def _from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


def _human(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f}{unit}"
    return f"{sign}{seconds:.0f}s"


def choose_window(n: int, span_us: int) -> int | None:
    """The shortest window (µs) in which the mean traffic is at least 50 rows, with 3 windows or more.

    Fifty rows expected makes an empty window by chance about e^-50 unlikely,
    so an empty window is downtime, not noise.
    """
    if span_us <= 0:
        return None
    for seconds in AUTO_WINDOWS:
        width = seconds * 1_000_000
        if span_us / width >= MIN_WINDOWS and n * width / span_us >= AUTO_WINDOW_MIN_EXPECTED:
            return width
    return None


def downtime_window(ctx: _Context, times: TimeFacts) -> int | None:
    cfg = ctx.policy.validate_.downtime
    if cfg.window == "auto":
        return choose_window(times.count, times.newest - times.oldest)
    return int(cfg.window.total_seconds() * 1_000_000)


def _downtime_check(ctx: _Context, times: TimeFacts) -> Check:
    cfg = ctx.policy.validate_.downtime
    oldest = times.oldest
    width = downtime_window(ctx, times)
    if width is None:
        return _skipped("downtime", "too little traffic or too short a span to judge gaps")
    counts = ctx.facts.windows(oldest, width, int((times.newest - oldest) // width) + 1)
    interior = counts[1:-1]  # the first and last windows are cut by the log's edges
    if len(interior) < 1:
        return _skipped("downtime", f"fewer than {MIN_WINDOWS} windows of {_human(dt.timedelta(microseconds=width))}")
    typical = float(np.median(interior))
    low_limit = cfg.min_fraction * typical
    empty = interior == 0
    low = interior < low_limit
    flagged = np.flatnonzero(low)
    gaps: list[dict[str, Any]] = []
    for run in np.split(flagged, np.flatnonzero(np.diff(flagged) != 1) + 1) if len(flagged) else []:
        first, last = int(run[0]) + 1, int(run[-1]) + 1  # +1: index into counts, not interior
        gaps.append(
            {
                "start": _from_us(oldest + first * width),
                "end": _from_us(oldest + (last + 1) * width),
                "rows": int(counts[first : last + 1].sum()),
                "expected_rows": typical * (last - first + 1),
                "empty_windows": int(np.count_nonzero(counts[first : last + 1] == 0)),
            }
        )
    gaps.sort(key=lambda g: g["rows"] - g["expected_rows"])
    if empty.any():
        status = Status.FAIL
    elif low.any():
        status = Status.WARN
    else:
        status = Status.PASS
    window_text = format_duration(dt.timedelta(microseconds=width))
    message = (
        f"{int(empty.sum())} empty and {int((low & ~empty).sum())} thin {window_text} windows: probable downtime"
        if low.any()
        else f"traffic in every {window_text} window (median {typical:.0f} rows)"
    )
    return Check(
        name="downtime",
        status=status,
        value=int(low.sum()),
        threshold=cfg.min_fraction,
        message=message,
        details={
            "window": window_text,
            "windows": len(interior),
            "median_rows": typical,
            "empty_windows": int(empty.sum()),
            "thin_windows": int((low & ~empty).sum()),
            "gaps": gaps[:10],
        },
        source=ctx.source("validate.downtime"),
    )


# ---------------------------------------------------------------- latency


def check_latency(ctx: _Context) -> list[Check]:
    if ctx.roles.latency is None:
        return []
    cfg = ctx.policy.validate_.latency
    values, maximum = ctx.facts.latency()  # finite values (on a cluster, a sketch's points) and the exact maximum
    if len(values) == 0:
        slos = {name: getattr(cfg, f"{name}_ms") for name in ("p50", "p95", "p99") if getattr(cfg, f"{name}_ms") is not None}
        if slos:  # an SLO set and no value to judge it by: not met, not passed
            return [Check(name=f"latency:{name}", status=Status.INCONCLUSIVE, value=None, threshold=limit,
                          message=f"no latency values in '{ctx.roles.latency}': the {name} SLO cannot be judged",
                          source=ctx.source(f"validate.latency.{name}_ms")) for name, limit in slos.items()]  # fmt: skip
        return [_skipped("latency", "no latency values")]
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    checks = []
    for name, value, slo in (("p50", p50, cfg.p50_ms), ("p95", p95, cfg.p95_ms), ("p99", p99, cfg.p99_ms)):
        status = judge_max(float(value), slo)
        checks.append(
            Check(
                name=f"latency:{name}",
                status=status,
                value=float(value),
                threshold=slo,
                message=f"{name} {value:.1f} ms" + (f" (SLO {slo:g} ms)" if slo else " (no SLO set)"),
                details={"column": ctx.roles.latency, "max": maximum},
                source=ctx.source(f"validate.latency.{name}_ms"),
            )
        )
    return checks


# ---------------------------------------------------------------- labels, performance, segments


def _resolved_task(ctx: _Context) -> str | None:
    """The task every check judges by: the declared one, else the one inferred from the predictions and labels
    (a binary classifier leaking raw scores above 1 is still binary by its 0/1 labels)."""
    if ctx.policy.task is not None:
        return ctx.policy.task
    if isinstance(ctx.facts, ClusterFacts):
        return ctx.facts.task
    return infer_task(ctx.log.column(ctx.roles.prediction), _label_array(ctx))


def _label_array(ctx: _Context) -> pa.Array | None:
    if ctx.labels is not None:
        return ctx.labels.labels
    if ctx.roles.label is not None:
        return ctx.log.column(ctx.roles.label).combine_chunks()
    return None


def check_labels_and_performance(ctx: _Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    spec = ctx.policy.validate_
    labels = _label_array(ctx)
    checks: list[Check] = []
    task = ctx.policy.task
    if labels is None:
        if spec.label_coverage.enabled:
            checks.append(_skipped("label_coverage", "no label column and no --labels file"))
        if task is None:
            task = infer_task(ctx.log.column(ctx.roles.prediction), None)
        return checks, task, []

    if spec.label_coverage.enabled:
        checks.append(_coverage_check(ctx, LabelCount.of(labels)))
        if ctx.labels is not None and ctx.labels.label_times_us is not None and ctx.roles.timestamp:
            checks.extend(_label_lag_check(ctx))

    prediction = ctx.log.column(ctx.roles.prediction)
    if task is None:
        task = infer_task(prediction, labels)
    if not spec.performance.enabled:
        return checks, task, []
    perf_checks, segment_rows = _performance(ctx, task, prediction.combine_chunks(), labels)
    return checks + perf_checks, task, segment_rows


def _coverage_check(ctx: _Context, labels: LabelCount) -> Check:
    cfg = ctx.policy.validate_.label_coverage
    coverage = labels.labelled / labels.rows if labels.rows else 0.0
    return Check(
        name="label_coverage",
        status=judge_min(coverage, cfg.min_fraction, cfg.warn_below),
        value=coverage,
        threshold=cfg.min_fraction,
        message=f"{coverage:.1%} of predictions have a label ({labels.labelled:,} of {labels.rows:,})",
        details={"labelled": labels.labelled, "rows": labels.rows, "warn_below": cfg.warn_below},
        source=ctx.source("validate.label_coverage"),
    )


def _label_lag_check(ctx: _Context) -> list[Check]:
    assert ctx.labels is not None and ctx.labels.label_times_us is not None and ctx.roles.timestamp
    cfg = ctx.policy.validate_.label_coverage
    served_us = timestamps_keeping_rows(ctx.log.column(ctx.roles.timestamp), ctx.log.path)
    arrived = ctx.labels.label_times_us
    both = (arrived >= 0) & (served_us >= 0)
    if not both.any():
        return [_skipped("label_lag", "no label arrival times")]
    lag_s = (arrived[both] - served_us[both]) / 1e6
    p50, p95 = np.percentile(lag_s, [50, 95])
    max_lag = cfg.max_lag.total_seconds() if cfg.max_lag else None
    return [
        Check(
            name="label_lag",
            status=judge_max(float(p95), max_lag),
            value=float(p95),
            threshold=max_lag,
            message=f"labels arrive after {_human(dt.timedelta(seconds=float(p50)))} (median), "
            f"{_human(dt.timedelta(seconds=float(p95)))} (p95)",
            details={"p50_seconds": float(p50), "p95_seconds": float(p95), "max_seconds": float(lag_s.max())},
            source=ctx.source("validate.label_coverage.max_lag"),
        )
    ]


@dataclass(frozen=True)
class _Labelled:
    """The rows with a label and a usable prediction, encoded for the task's metric function."""

    truth: np.ndarray
    predicted: np.ndarray
    keep: np.ndarray  # boolean mask over the log's rows


def _prepare(policy: Policy, task: str, prediction: pa.Array, labels: pa.Array) -> _Labelled:
    cfg = policy.validate_.performance
    keep = labels.is_valid().to_numpy(zero_copy_only=False) & prediction.is_valid().to_numpy(zero_copy_only=False)
    if task == BINARY:
        truth = _is_positive(labels, cfg.positive_label)
        if kind_of_type(prediction.type) == "numeric":
            score = to_numpy_float(prediction)
        else:
            score = _is_positive(prediction, cfg.positive_label).astype(np.float64)
        keep &= np.isfinite(score)
        return _Labelled(truth[keep], score[keep], keep)
    if task == MULTICLASS:
        truth_list = pc.cast(labels, pa.string()).to_numpy(zero_copy_only=False)
        pred_list = pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False)
        return _Labelled(truth_list[keep].astype(str), pred_list[keep].astype(str), keep)
    y = to_numpy_float(labels)
    p = to_numpy_float(prediction)
    keep &= np.isfinite(y) & np.isfinite(p)
    return _Labelled(y[keep], p[keep], keep)


def _is_positive(array: pa.Array, positive: Any) -> np.ndarray:
    if pa.types.is_boolean(array.type):
        target = pa.scalar(str(positive).lower() in ("1", "true"))
    elif kind_of_type(array.type) == "numeric":
        try:
            target = pa.scalar(float(positive))
        except ValueError:
            raise PolicyError(
                f"validate.performance.positive_label: {positive!r} is not a number, but the labels are numeric"
            ) from None
        array = pc.cast(array, pa.float64())
    else:
        target = pa.scalar(str(positive))
        array = pc.cast(array, pa.string())
        present = pc.unique(pc.drop_null(array))
        if len(present) <= 50 and str(positive) not in present.to_pylist():
            shown = ", ".join(repr(v) for v in sorted(present.to_pylist())[:10])
            raise PolicyError(
                f"validate.performance.positive_label: {positive!r} is not one of the label values ({shown}); "
                "set it to the positive class"
            )
    return pc.fill_null(pc.equal(array, target), False).to_numpy(zero_copy_only=False)


def _compute(task: str, data: _Labelled, mask: np.ndarray | None, threshold: float) -> dict[str, float]:
    truth = data.truth if mask is None else data.truth[mask]
    predicted = data.predicted if mask is None else data.predicted[mask]
    if task == BINARY:
        return TASK_METRICS[task](truth, predicted, threshold)
    return TASK_METRICS[task](truth, predicted)


def _performance(ctx: _Context, task: str, prediction: pa.Array, labels: pa.Array) -> tuple[list[Check], list[dict[str, Any]]]:
    cfg = ctx.policy.validate_.performance
    if task == RANKING:
        return _ranking_performance(ctx, labels), []
    if task not in (BINARY, MULTICLASS, REGRESSION):
        return [_skipped("performance", f"task '{task}' metrics are not built yet")], []
    data = _prepare(ctx.policy, task, prediction, labels)
    n = len(data.truth)
    if n < cfg.min_rows:
        return [
            Check(
                name="performance",
                status=Status.INCONCLUSIVE,
                value=n,
                threshold=cfg.min_rows,
                message=f"only {n:,} labelled rows; at least {cfg.min_rows:,} are needed to judge the metrics",
                source=ctx.source("validate.performance.min_rows"),
            )
        ], []
    metrics = _compute(task, data, None, cfg.decision_threshold)
    threshold = cfg.decision_threshold

    def se_of(name: str, mask: np.ndarray | None) -> Callable[[], float]:
        return lambda: _metric_se(task, name, data, mask, threshold)

    checks = [_metric_check(ctx, name, value, None, n, se_of(name, None)) for name, value in metrics.items()]

    segment_rows: list[dict[str, Any]] = []
    for segment in ctx.roles.segments:
        values = ctx.log.column(segment).combine_chunks()
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        encoded = pc.dictionary_encode(pc.cast(values, pa.string()) if not pa.types.is_string(values.type) else values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)[data.keep]
        names = encoded.dictionary.to_pylist()
        sizes = np.bincount(codes[codes >= 0], minlength=len(names))

        def metrics_of(code: int, codes: np.ndarray = codes) -> dict[str, float]:
            return _compute(task, data, codes == code, threshold)

        def segment_se(name: str, code: int, codes: np.ndarray = codes) -> Callable[[], float]:
            return se_of(name, codes == code)

        found, rows = _segment_checks(ctx, segment, names, sizes, metrics_of, segment_se)
        checks.extend(found)
        segment_rows.extend(rows)
    if ctx.policy.validate_.weak_segments.enabled:
        checks.append(weak_segments.check(ctx.log, ctx.reference, ctx.roles.features, ctx.roles.segments, task,
                      data.truth, data.predicted, data.keep, ctx.policy.validate_.weak_segments,
                      ctx.source("validate.weak_segments.max_gap")))  # fmt: skip
    return checks, segment_rows


def _segment_checks(
    ctx: _Context,
    segment: str,
    names: list[Any],
    sizes: np.ndarray,
    metrics_of: Callable[[int], dict[str, float]],
    se_of: Callable[[str, int], Callable[[], float]],
) -> tuple[list[Check], list[dict[str, Any]]]:
    """The segments of one column, largest first: each judged on its own metrics when it is among the largest
    ``max_segments`` and has ``min_segment_size`` labelled rows."""
    cfg = ctx.policy.validate_.performance
    checks: list[Check] = []
    rows: list[dict[str, Any]] = []
    for rank, code in enumerate(np.argsort(-sizes, kind="stable")):
        size = int(sizes[code])
        row: dict[str, Any] = {"segment": segment, "value": names[code], "rows": size}
        if rank >= cfg.max_segments:
            row.update(judged=False, why=f"beyond the {cfg.max_segments} largest segments")
        elif size < cfg.min_segment_size:
            row.update(judged=False, why=f"fewer than {cfg.min_segment_size} labelled rows")
        else:
            metrics = metrics_of(int(code))
            row.update(judged=True, metrics=metrics)
            for name in cfg.metrics:
                if name in metrics:
                    label = f"{segment}={names[code]}"
                    checks.append(_metric_check(ctx, name, metrics[name], label, size, se_of(name, int(code))))
        rows.append(row)
    return checks, rows


def _metric_check(
    ctx: _Context, name: str, value: float, segment: str | None, rows: int, standard_error: Callable[[], float]
) -> Check:
    """Judge a metric against its bound, allowing for sampling noise.

    A value beyond the bound fails only when it is beyond it by more than
    z * SE (z from ``performance.confidence``, SE by the bootstrap); within
    the noise it warns. A small segment's metric moves a lot by chance, and a
    gate that fails on noise is soon ignored.
    """
    cfg = ctx.policy.validate_.performance
    bound = cfg.metrics.get(name)
    if bound is not None and segment is not None:
        bound = bound.for_segment()
    label = f"performance:{name}" + (f"[{segment}]" if segment else "")
    if not np.isfinite(value):
        return _skipped(label, "undefined on these rows (for example one class only)")
    status = Status.PASS
    threshold: dict[str, float | None] | None = None
    details: dict[str, Any] = {
        "segment": segment,
        "rows": rows,
        "higher_is_better": METRIC_BY_NAME[name].higher_is_better,
    }
    message = f"{name} {value:.4g} on {rows:,} labelled rows"
    if bound is None:
        message += " (no threshold set)"
    else:
        threshold = {"min": bound.min, "max": bound.max}
        shortfall = max(
            (bound.min - value) if bound.min is not None else 0.0,
            (value - bound.max) if bound.max is not None else 0.0,
        )
        if shortfall > 0:
            se = standard_error()  # only when needed: the bootstrap costs a few hundred metric evaluations
            z = float(NormalDist().inv_cdf(cfg.confidence))
            details.update(standard_error=se, z=z)
            if np.isfinite(se) and shortfall <= z * se:
                status = Status.WARN
                message += f", beyond its bound but within sampling noise (SE {se:.3g})"
            else:
                status = Status.FAIL
                message += f", beyond its bound by {shortfall:.3g}" + (f" (SE {se:.3g})" if np.isfinite(se) else "")
    return Check(
        name=label,
        status=status,
        value=float(value),
        threshold=threshold,
        message=message,
        details=details,
        source=ctx.source(f"validate.performance.metrics.{name}") if bound else None,
    )


def _metric_se(
    task: str, name: str, data: _Labelled, mask: np.ndarray | None, threshold: float, population: int | None = None
) -> float:
    truth = data.truth if mask is None else data.truth[mask]
    predicted = data.predicted if mask is None else data.predicted[mask]
    if task == BINARY:

        def statistic(t: np.ndarray, p: np.ndarray) -> float:
            return TASK_METRICS[task](t, p, threshold)[name]
    else:

        def statistic(t: np.ndarray, p: np.ndarray) -> float:
            return TASK_METRICS[task](t, p)[name]

    return bootstrap_se(statistic, (truth, predicted), population=population)


# ---------------------------------------------------------------- fairness


def check_fairness(ctx: _Context, task: str | None) -> list[Check]:
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    assert segment is not None
    info = METRIC_BY_NAME[cfg.metric]
    if task not in info.tasks:
        return [_skipped(f"fairness:{segment}", f"metric '{cfg.metric}' does not apply to task '{task}'")]
    if task == RANKING:
        return [_skipped(f"fairness:{segment}", RANKING_FAIRNESS)]
    prediction = ctx.log.column(ctx.roles.prediction).combine_chunks()
    labels = _label_array(ctx)
    if cfg.metric == "positive_rate":
        labels_for_prep = labels if labels is not None else pa.array([0] * len(prediction), type=pa.int8())
        keep_all = labels is None
    else:
        if labels is None:
            return [_skipped(f"fairness:{segment}", f"metric '{cfg.metric}' needs labels")]
        labels_for_prep, keep_all = labels, False
    if keep_all:
        score = to_numpy_float(prediction) if kind_of_type(prediction.type) == "numeric" else None
        if score is None:
            return [_skipped(f"fairness:{segment}", "positive_rate needs a numeric score")]
        keep = np.isfinite(score)
        data = _Labelled(np.zeros(int(keep.sum()), dtype=bool), score[keep], keep)
    else:
        data = _prepare(ctx.policy, task, prediction, labels_for_prep)
    values = ctx.log.column(segment).combine_chunks()
    groups = pc.cast(values, pa.string()).to_numpy(zero_copy_only=False)[data.keep]
    names, codes = np.unique(groups.astype(str), return_inverse=True)
    sizes = np.bincount(codes, minlength=len(names))
    threshold = ctx.policy.validate_.performance.decision_threshold
    return [_fairness_check(ctx, {str(name): int(size) for name, size in zip(names, sizes, strict=True)},
                            lambda group: _compute(task, data, codes == np.searchsorted(names, group), threshold))]  # fmt: skip


def _fairness_check(ctx: _Context, sizes: dict[str, int], metrics_of: Callable[[str], dict[str, float]]) -> Check:
    """The gap in the fairness metric between the best and the worst group with enough rows."""
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    per_group: dict[str, float] = {}
    small: dict[str, int] = {}
    for group in sorted(sizes):
        if sizes[group] < cfg.min_group_size:
            small[group] = sizes[group]
            continue
        metric = metrics_of(group)
        if np.isfinite(metric.get(cfg.metric, np.nan)):
            per_group[group] = float(metric[cfg.metric])
    if len(per_group) < 2:
        return Check(
            name=f"fairness:{segment}",
            status=Status.INCONCLUSIVE,
            message=f"fewer than 2 groups of '{segment}' with {cfg.min_group_size} rows or more",
            details={"groups": per_group, "too_small": small},
            source=ctx.source("validate.fairness.min_group_size"),
        )
    best = max(per_group, key=per_group.__getitem__)
    worst = min(per_group, key=per_group.__getitem__)
    gap = per_group[best] - per_group[worst]
    return Check(
        name=f"fairness:{segment}",
        status=judge_max(gap, cfg.max_gap),
        value=gap,
        threshold=cfg.max_gap,
        message=f"{cfg.metric} gap {gap:.3f} between {segment}={best} ({per_group[best]:.3f}) "
        f"and {segment}={worst} ({per_group[worst]:.3f})",
        details={"metric": cfg.metric, "groups": per_group, "too_small": small},
        source=ctx.source("validate.fairness.max_gap"),
    )


# ---------------------------------------------------------------- ranking and proxy metrics


def _query_column(ctx: _Context) -> str:
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


def _query_codes(ctx: _Context) -> np.ndarray:
    """Each row's query as an integer code (-1: no query)."""
    encoded = pc.dictionary_encode(ctx.log.column(_query_column(ctx))).combine_chunks()
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _position_column(ctx: _Context) -> str:
    cols = ctx.policy.columns
    if not cols.position or not ctx.log.has(cols.position):
        raise PolicyError("columns.position: a ranking log needs the position each result was shown at",
                          ctx.source("columns.position"))  # fmt: skip
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


def _ranking_performance(ctx: _Context, labels: pa.Array) -> list[Check]:
    from mlrel_cli.stats.ranking import group_queries, ranking_metrics

    cfg = ctx.policy.validate_.performance
    codes = _query_codes(ctx)
    pos = to_numpy_float(ctx.log.column(_position_column(ctx)))
    gain = to_numpy_float(labels)
    keep = (codes >= 0) & np.isfinite(gain) & np.isfinite(pos)
    queries = group_queries(codes[keep], pos[keep], gain[keep])
    return _ranking_checks(ctx, ranking_metrics(queries, cfg.k), queries.count)


def _ranking_checks(ctx: _Context, values: dict[str, float], queries: int) -> list[Check]:
    cfg = ctx.policy.validate_.performance
    if queries < cfg.min_rows:
        return [Check(name="performance", status=Status.INCONCLUSIVE, value=queries, threshold=cfg.min_rows,
                      message=f"only {queries:,} queries with labels; at least {cfg.min_rows:,} are needed",
                      source=ctx.source("validate.performance.min_rows"))]  # fmt: skip
    checks = []
    for full_name, value in values.items():
        name = full_name.split("@")[0]
        bound = cfg.metrics.get(name)
        status = Status.PASS
        if bound is not None and ((bound.min is not None and value < bound.min) or (bound.max is not None and value > bound.max)):
            status = Status.FAIL
        checks.append(Check(
            name=f"performance:{full_name}", status=status, value=value,
            threshold={"min": bound.min, "max": bound.max} if bound else None,
            message=f"{full_name} {value:.4g} over {queries:,} queries" + ("" if bound else " (no threshold set)"),
            source=ctx.source(f"validate.performance.metrics.{name}") if bound else None,
        ))  # fmt: skip
    return checks


def check_proxy_metrics(ctx: _Context) -> list[Check]:
    from mlrel_cli.facts.proxy import as_float, proxy_inputs
    from mlrel_cli.stats.ranking import proxy_value

    checks = []
    codes = None
    for name, spec in ctx.policy.proxy_metrics.items():
        arrays = {key: as_float(ctx.log.column(column)) for key, column in proxy_inputs(ctx.policy, ctx.log, name).items()}
        if spec.per == "query" and codes is None:
            codes = _query_codes(ctx)
        value = proxy_value(spec.kind, arrays.get("column"), arrays.get("numerator"), arrays.get("denominator"),
                            codes if spec.per == "query" else None)  # fmt: skip
        checks.append(_proxy_check(ctx, name, value))
    return checks


def _proxy_check(ctx: _Context, name: str, value: float) -> Check:
    spec = ctx.policy.proxy_metrics[name]
    if not np.isfinite(value):
        return Check(name=f"proxy:{name}", status=Status.INCONCLUSIVE,
                     message="undefined on this log (no values, or the denominator sums to zero)")  # fmt: skip
    failed = (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
    return Check(
        name=f"proxy:{name}", status=Status.FAIL if failed else Status.PASS, value=value,
        threshold={"min": spec.min, "max": spec.max} if spec.min is not None or spec.max is not None else None,
        message=f"{name} ({spec.kind} per {spec.per}) {value:.4g}"
        + ("" if spec.min is not None or spec.max is not None else " (no threshold set)"),
        details={"higher_is_better": spec.higher_is_better},
        source=ctx.source(f"proxy_metrics.{name}"),
    )  # fmt: skip


# ---------------------------------------------------------------- where the facts come from


class LocalFacts:
    """Facts built here from whole columns, read one at a time when a check asks."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx
        self._timestamps: np.ndarray | None = None

    def reference_numeric(self, name: str) -> NumericFacts | None:
        reference = self.ctx.reference
        if reference is None or not reference.has(name) or kind_of_type(reference.schema.field(name).type) != "numeric":
            return None
        if hasattr(reference, "numeric_facts"):  # a profile: its missing count and extremes
            return reference.numeric_facts(name)
        return NumericFacts.of(reference.column(name))

    def reference_categorical(self, name: str) -> CategoricalSummary | None:
        reference = self.ctx.reference
        if reference is not None and hasattr(reference, "categorical_counts"):  # a profile: its known categories
            return reference.categorical_counts(name)
        return category_counts(reference.column(name)) if reference is not None and reference.has(name) else None

    def numeric(self, name: str, lo: float | None, hi: float | None) -> NumericFacts:
        return NumericFacts.of(self.ctx.log.column(name), lo, hi, keep=self.ctx.policy.validate_.ranges.top * 4)

    def categorical(self, name: str) -> CategoricalSummary:
        return category_counts(self.ctx.log.column(name))

    def prediction(self) -> PredictionFacts:
        return PredictionFacts.of(self.ctx.log.column(self.ctx.roles.prediction))

    def time(self) -> TimeFacts:
        ctx = self.ctx
        assert ctx.roles.timestamp is not None
        ts = to_timestamps_us(ctx.log.column(ctx.roles.timestamp), f"{ctx.log.path}: {ctx.roles.timestamp}")
        if ctx.policy.task == RANKING:
            ts = np.unique(ts)  # one row per result, all served at the query's time: count queries, not results
        self._timestamps = ts
        return TimeFacts(len(ts), int(ts.min()), int(ts.max())) if len(ts) else TimeFacts(0, 0, 0)

    def windows(self, origin: int, width: int, n: int) -> np.ndarray:
        ts, self._timestamps = self._timestamps, None
        assert ts is not None, "time() comes first"
        return np.bincount((ts - origin) // width, minlength=n)

    def latency(self) -> tuple[np.ndarray, float]:
        assert self.ctx.roles.latency is not None
        values = to_numpy_float(self.ctx.log.column(self.ctx.roles.latency))
        values = values[np.isfinite(values)]
        return values, float(values.max()) if len(values) else float("nan")

    def labels(self) -> LabelCount:
        assert self.ctx.roles.label is not None
        return LabelCount.of(self.ctx.log.column(self.ctx.roles.label))


class ClusterFacts:
    """Facts built on a Dask cluster from every row group, merged there: only they reach this process.

    Three passes at most: the reference (its ranges and categories), the log
    (every fact, the ranges known), and its timestamps once more for the
    downtime windows, whose width depends on the span the second pass found.
    """

    def __init__(self, reference: dict[str, Any], current: dict[str, Any], task: str | None, policy: Policy) -> None:
        self._reference = reference
        self._current = current
        self.task = task
        self._policy_kinds = {name: spec.kind for name, spec in policy.proxy_metrics.items()}

    @classmethod
    def gather(cls, ctx: _Context, engine: Engine) -> ClusterFacts:
        from functools import partial

        def run(log: Log, plan: dict[str, Any]) -> dict[str, Any]:
            return engine.reduce(log, columns_of(plan), partial(build, plan=plan)) if plan else {}

        from mlrel_cli.facts.proxy import per_request, proxy_facts, proxy_inputs

        log, roles, spec = ctx.log, ctx.roles, ctx.policy.validate_
        # the policy's proxy inputs checked on the schema before the cluster reads anything
        proxies = {name: (p.kind, proxy_inputs(ctx.policy, log, name)) for name, p in ctx.policy.proxy_metrics.items()}
        numeric = {name for name, kind in roles.features.items()
                   if kind == "numeric" and kind_of_type(log.schema.field(name).type) == "numeric"}  # fmt: skip
        ref_plan: dict[str, Any] = {}
        if ctx.reference is not None:
            for name in roles.features:
                if not ctx.reference.has(name):
                    continue
                if name not in numeric:
                    ref_plan[f"categorical:{name}"] = ("categorical", name, {})
                elif kind_of_type(ctx.reference.schema.field(name).type) == "numeric":
                    ref_plan[f"numeric:{name}"] = ("numeric", name, {})
        reference = run(ctx.reference, ref_plan) if ctx.reference is not None else {}

        plan: dict[str, Any] = {}
        for name in roles.features:
            if name in numeric:
                lo, hi, _ = range_bounds(ctx, name, reference.get(f"numeric:{name}"))
                plan[f"numeric:{name}"] = ("numeric", name, {"lo": lo, "hi": hi, "keep": spec.ranges.top * 4})
            else:
                plan[f"categorical:{name}"] = ("categorical", name, {})
        plan["prediction"] = ("prediction", roles.prediction, {})
        where = f"{log.path}: {roles.timestamp}"
        if roles.timestamp is not None:
            plan["time"] = ("time", roles.timestamp, {"where": where})
        if roles.latency is not None:
            plan["latency"] = ("latency", roles.latency, {})
        if roles.label is not None:
            plan["labels"] = ("labels", roles.label, {})
        current = run(log, plan)
        task = ctx.policy.task
        if roles.label is not None:
            task = cls._labelled(ctx, engine, current)
            if spec.performance.enabled and task is not None:
                current["weak_segments"] = weak_segments.gather_on_cluster(
                    engine, log, ctx.reference, roles.features, roles.segments, roles.prediction, roles.label, task,
                    ctx.policy)  # fmt: skip
        elif task is None:  # as the local engine does without labels: from the predictions (a sample of them here)
            fraction = min(1.0, 2 * SE_MAX_ROWS / max(log.num_rows, 1))
            sample = engine.reduce(log, [roles.prediction],
                            partial(sample_rows, columns=[roles.prediction], fraction=fraction), True)  # fmt: skip
            task = infer_task(sample["sample"].table.column(roles.prediction), None)
        if spec.duplicates.enabled and roles.id is not None:
            current["duplicates"] = engine.count_duplicates(log, roles.id, spec.duplicates.top)
        current.update(cls._per_query(ctx, engine, task))
        metrics = {name: proxies[name] for name in per_request(ctx.policy)}
        if metrics:
            columns = list(dict.fromkeys(c for _, inputs in metrics.values() for c in inputs.values()))
            current.update(engine.reduce(log, columns, partial(proxy_facts, metrics=metrics)))
        fairness = spec.fairness
        if roles.label is None and fairness.enabled and fairness.segment and fairness.metric == "positive_rate":
            columns = list(dict.fromkeys([roles.prediction, fairness.segment]))
            rates = partial(_positive_rates, prediction=roles.prediction, segment=fairness.segment,
                            threshold=spec.performance.decision_threshold)  # fmt: skip
            current["positive_rates"] = engine.reduce(log, columns, rates)["groups"].parts

        times = current.get("time")
        if ctx.policy.task == RANKING and times is not None and times.count:
            # one row per result, all served at the query's time: count queries (distinct times), not results
            width_of = partial(downtime_window, ctx) if spec.downtime.enabled else lambda _times: None
            assert roles.timestamp is not None  # times are read from it
            current["time"], current["windows"] = engine.distinct_times(log, roles.timestamp, where, width_of)
        elif spec.downtime.enabled and times is not None and times.count:
            width = downtime_window(ctx, times)
            if width is not None:
                n = int((times.newest - times.oldest) // width) + 1
                window_plan = {"windows": ("windows", roles.timestamp, {"where": where, "origin": times.oldest,
                                                                        "width": width, "windows": n})}  # fmt: skip
                current["windows"] = run(log, window_plan)["windows"]
        return cls(reference, current, task, ctx.policy)

    @staticmethod
    def _per_query(ctx: _Context, engine: Engine, task: str | None) -> dict[str, Any]:
        """Ranking metrics and per-query proxy metrics: the rows shuffled by query on the cluster, summed per query."""
        from functools import partial

        from mlrel_cli.facts.proxy import proxy_inputs

        policy, roles = ctx.policy, ctx.roles
        k = policy.validate_.performance.k
        ranking = task == RANKING and roles.label is not None and policy.validate_.performance.enabled
        proxies = {name: (p.kind, proxy_inputs(policy, ctx.log, name)) for name, p in policy.proxy_metrics.items()
                   if p.per == "query"}  # fmt: skip
        if not ranking and not proxies:
            return {}
        query = _query_column(ctx)
        rank = (_position_column(ctx), roles.label, k) if ranking and roles.label is not None else None
        columns = [query, *(rank[:2] if rank else [])] + [c for _, inputs in proxies.values() for c in inputs.values()]
        names = [*([f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"] if ranking else []), *(f"proxy:{n}" for n in proxies)]
        units = partial(query_units, ranking=rank, proxies=proxies)
        return {"per_query": engine.per_query_sums(ctx.log, list(dict.fromkeys(columns)), query, units, names)}

    @staticmethod
    def _labelled(ctx: _Context, engine: Engine, current: dict[str, Any]) -> str | None:
        """The task (from a sample when the policy does not name it) and the labelled rows' metrics, overall and per
        segment, into ``current``: a score sketch and a row sample first, then the labelled parts."""
        from functools import partial

        log, roles, policy = ctx.log, ctx.roles, ctx.policy
        label = roles.label
        assert label is not None  # called for a labelled log only
        fairness = policy.validate_.fairness
        segments = list(dict.fromkeys([*roles.segments, *([fairness.segment] if fairness.enabled and fairness.segment else [])]))
        columns = list(dict.fromkeys([roles.prediction, label, *segments]))
        fraction = min(1.0, 2 * SE_MAX_ROWS / max(log.num_rows, 1))
        task = policy.task

        def run(build: Any, seeded: bool = False) -> dict[str, Any]:
            return engine.reduce(log, columns, build, seeded)

        if task is None:
            sample = run(partial(sample_rows, columns=[roles.prediction, label], fraction=fraction), True)
            task = infer_task(sample["sample"].table.column(roles.prediction), sample["sample"].table.column(label))
        if task not in (BINARY, MULTICLASS, REGRESSION) or not (policy.validate_.performance.enabled or fairness.enabled):
            return task
        prepare = partial(_labelled_data, prediction=roles.prediction, label=label, segments=segments, policy=policy,
                          task=task)  # fmt: skip
        current["performance"] = engine.labelled_summary(
            log, columns, prepare, task, policy.validate_.performance.decision_threshold, 2 * SE_MAX_ROWS
        )
        return task

    def weak_segments(self) -> dict[str, Any] | None:
        return self._current.get("weak_segments")

    def reference_numeric(self, name: str) -> NumericFacts | None:
        return self._reference.get(f"numeric:{name}")

    def reference_categorical(self, name: str) -> CategoricalSummary | TooManyCategories | None:
        return self._reference.get(f"categorical:{name}")

    def numeric(self, name: str, lo: float | None, hi: float | None) -> NumericFacts:
        return self._current[f"numeric:{name}"]

    def categorical(self, name: str) -> CategoricalSummary | TooManyCategories:
        return self._current[f"categorical:{name}"]

    def prediction(self) -> PredictionFacts:
        return self._current["prediction"]

    def time(self) -> TimeFacts:
        return self._current["time"]

    def windows(self, origin: int, width: int, n: int) -> np.ndarray:
        windows = self._current["windows"]
        return windows.counts if isinstance(windows, WindowCounts) else windows

    def latency(self) -> tuple[np.ndarray, float]:
        sketch = self._current["latency"]
        return sketch.points, sketch.high

    def labels(self) -> LabelCount:
        return self._current["labels"]

    def duplicates(self) -> tuple[int, int, list[dict[str, Any]]]:
        """Ids present, rows repeating an id, and the most repeated ids."""
        return self._current["duplicates"]

    def proxy(self, name: str) -> float:
        from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

        if f"proxy:{name}" in self._current.get("per_query", {}):
            return mean_and_se(self._current["per_query"][f"proxy:{name}"])[0]
        return proxy_from_sums(self._policy_kinds[name], self._current[f"proxy:{name}"].values)[0]

    def ranking(self, k: int) -> tuple[dict[str, float], int]:
        """The ranking metrics (means over queries) and how many queries have labels."""
        from mlrel_cli.stats.ranking import mean_and_se

        sums = self._current["per_query"]
        names = [f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"]
        return {name: mean_and_se(sums[name])[0] for name in names}, int(sums["mrr"]["n"])

    def positive_rates(self) -> dict[str, Any] | None:
        """Without labels: per group of the fairness column, finite scores and those at or above the threshold."""
        return self._current.get("positive_rates")

    def performance(self) -> dict[str, Any]:
        """metrics and rows of all labelled rows; per (segment, value) the same; a uniform sample for standard errors."""
        return self._current["performance"]


# ---------------------------------------------------------------- on the workers


def _positive_rates(table: pa.Table, prediction: str, segment: str, threshold: float) -> dict[str, Any]:
    from mlrel_cli.facts.merge import Keyed

    score = to_numpy_float(table.column(prediction))
    keep = np.isfinite(score)
    groups, score = _segment_text(table.column(segment))[keep], score[keep]
    counts = {}
    for group in np.unique(groups):
        mine = groups == group
        counts[str(group)] = Sums({"n": int(mine.sum()), "positive": int((score[mine] >= threshold).sum())})
    return {"groups": Keyed(counts)}


def _labelled_data(table: pa.Table, prediction: str, label: str, segments: list[str], policy: Policy,
                   task: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:  # fmt: skip
    """The labelled rows as validate's own _prepare selects them, and their segment values as text."""
    data = _prepare(policy, task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks())
    return data.truth, data.predicted, {s: _segment_text(table.column(s))[data.keep] for s in segments}


NO_VALUE = "\x00none"  # a missing segment value, as text that no real value is


def _segment_text(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.cast(column, pa.string()), NO_VALUE).to_numpy(zero_copy_only=False).astype(str)


Facts = LocalFacts | ClusterFacts
