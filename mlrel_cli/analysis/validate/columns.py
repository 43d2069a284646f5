"""Checks of the log's columns: schema, missing values, ranges, unseen categories, prediction sanity, duplicate ids."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlrel_cli.analysis.validate.context import Context, Setup, judge_max, skipped
from mlrel_cli.analysis.validate.labelled import resolved_task
from mlrel_cli.facts.columns import NumericFacts
from mlrel_cli.logs.roles import is_text_like, kind_of_type
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, TooManyCategories
from mlrel_cli.tasks import task_of

# ---------------------------------------------------------------- schema


def _declared_type(text: str) -> pa.DataType | None:
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return None


def check_schema(ctx: Context) -> list[Check]:
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
        # labels (and when they arrived) come late or in their own file: their absence is label coverage's to report
        for late in (ctx.policy.columns.label, ctx.policy.columns.label_timestamp):
            if late not in schema.names:
                expected.discard(late)
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


def check_feature(ctx: Context, name: str, kind: str) -> list[Check]:
    checks: list[Check] = []
    cfg = ctx.policy.validate_
    if kind == "numeric" and kind_of_type(ctx.log.schema.field(name).type) == "numeric":
        ref = ctx.facts.reference_numeric(name)
        lo, hi, range_from = range_bounds(ctx, name, ref)
        facts = ctx.facts.numeric(name)
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
        return [*checks, skipped(f"unseen:{name}", why)]
    return [*checks, *_unseen_check(ctx, name, kind, counts, ref_counts)]


def _missing_check(ctx: Context, name: str, rate: float, ref_rate: float | None) -> Check:
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


def range_bounds(ctx: Setup, name: str, ref: NumericFacts | None) -> tuple[float | None, float | None, str | None]:
    """The range a feature must keep: the policy's, else the reference's extremes; and where it came from."""
    spec = (ctx.policy.features or {}).get(name)
    lo = spec.min if spec is not None else None
    hi = spec.max if spec is not None else None
    if lo is not None or hi is not None:
        return lo, hi, ctx.source(f"features.{name}")
    if ref is not None and ref.present:
        return ref.low, ref.high, "reference"
    return None, None, None


def _range_check(ctx: Context, name: str, facts: NumericFacts, lo: float | None, hi: float | None, range_from: str) -> Check:
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


def _unseen_check(
    ctx: Context, name: str, kind: str, counts: CategoricalSummary, ref_counts: CategoricalSummary | None
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
            return [skipped(f"unseen:{name}", "mostly distinct values: an id or free text, not categories")]
        known = {_norm(v) for v in ref_counts.categories}
        known_from = "reference"
        source = ctx.source("validate.unseen_categories.max_fraction")
    else:
        return []
    if kind == "text":
        return [skipped(f"unseen:{name}", "declared text: not judged as categories")]
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


# ---------------------------------------------------------------- prediction sanity, duplicates


def check_prediction(ctx: Context) -> list[Check]:
    cfg = ctx.policy.validate_.prediction
    facts = ctx.facts.prediction()
    details: dict[str, Any] = {"column": ctx.roles.prediction, "null": facts.null}
    problems: list[str] = []
    invalid = facts.null
    if facts.numeric:
        invalid += facts.nan + facts.inf
        details.update(nan=facts.nan, inf=facts.inf)
        task = task_of(resolved_task(ctx))
        probability = facts.finite > 0 and facts.low >= -1e-9 and facts.high <= 1 + 1e-9
        if (task is not None and task.probability) or (task is None and probability):
            details["outside_0_1"] = facts.outside_0_1
            invalid += facts.outside_0_1
            if facts.outside_0_1:
                problems.append(f"{facts.outside_0_1:,} probabilities outside [0, 1]")
        if facts.constant:
            details["constant_value"] = facts.low
    elif facts.numbers_as_text:
        invalid = facts.rows  # no output can be read as meant
        problems.append(f"the outputs are numbers stored as text in '{ctx.roles.prediction}': write the column as a number")
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


def check_duplicates(ctx: Context) -> list[Check]:
    if ctx.roles.id is None:
        return []
    cfg = ctx.policy.validate_.duplicates
    n_valid, duplicates, top = ctx.facts.duplicates()
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
