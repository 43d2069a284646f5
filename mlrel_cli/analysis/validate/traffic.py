"""Checks of the traffic over time: volume, freshness, downtime; and of the serving latency."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from mlrel_cli.analysis.validate.context import Context, Setup, from_us, human, judge_max, skipped
from mlrel_cli.durations import format_duration
from mlrel_cli.facts.columns import TimeFacts
from mlrel_cli.report import Check, Status

AUTO_WINDOWS = (60, 300, 900, 3600, 6 * 3600, 86400)  # seconds
AUTO_WINDOW_MIN_EXPECTED = 50  # rows per window at the mean rate
MIN_WINDOWS = 3


# ---------------------------------------------------------------- volume, freshness, downtime


def check_time(ctx: Context) -> list[Check]:
    """Volume, freshness and downtime: how many rows arrived, how old the newest is, and the gaps between them."""
    spec = ctx.policy.validate_
    checks = [_volume_check(ctx)] if spec.volume.enabled else []
    if ctx.roles.timestamp is None or not (spec.freshness.enabled or spec.downtime.enabled):
        return checks
    times = ctx.facts.time()
    if times.count == 0:
        if spec.freshness.enabled and spec.freshness.max_age is not None:  # an SLO that cannot be judged is not met
            return [
                *checks,
                Check(
                    name="freshness",
                    status=Status.INCONCLUSIVE,
                    value=None,
                    threshold=spec.freshness.max_age.total_seconds(),
                    message=f"no timestamps in '{ctx.roles.timestamp}': the freshness SLO cannot be judged",
                    source=ctx.source("validate.freshness.max_age"),
                ),
            ]
        return [*checks, skipped("freshness", "no timestamps")]
    if spec.freshness.enabled:
        checks.append(_freshness_check(ctx, times))
    if spec.downtime.enabled:
        checks.append(_downtime_check(ctx, times))
    return checks


def _volume_check(ctx: Context) -> Check:
    volume = ctx.policy.validate_.volume
    n, lo, hi = ctx.log.num_rows, volume.min_rows, volume.max_rows
    status = Status.FAIL if (lo is not None and n < lo) or (hi is not None and n > hi) else Status.PASS
    bounds = f"[{lo if lo is not None else 0:,}, {hi:,}]" if hi is not None else f">= {lo or 0:,}"
    return Check(
        name="volume",
        status=status,
        value=n,
        threshold={"min_rows": lo, "max_rows": hi},
        message=f"{n:,} rows" + (f", outside {bounds}" if status == Status.FAIL else ""),
        source=ctx.source("validate.volume"),
    )


def _freshness_check(ctx: Context, times: TimeFacts) -> Check:
    """The newest prediction's age against validate.freshness.max_age; one served in the future beyond the clock
    skew allowed fails too (a clock or a unit is wrong)."""
    freshness = ctx.policy.validate_.freshness
    newest_dt = from_us(times.newest)
    age = ctx.now - newest_dt
    max_age = freshness.max_age
    future = -age > freshness.max_clock_skew
    status = Status.FAIL if future or (max_age is not None and age > max_age) else Status.PASS
    if age >= dt.timedelta(0):
        message = f"newest prediction {human(age)} old"
    else:
        message = f"newest prediction {human(-age)} after the time judged against"
        message += f", beyond the {human(freshness.max_clock_skew)} clock-skew allowance" if future else ""
    return Check(
        name="freshness",
        status=status,
        value=age.total_seconds(),
        threshold=max_age.total_seconds() if max_age else None,
        message=message + ("" if max_age or future else " (not judged: set validate.freshness.max_age)"),
        details={"newest": newest_dt, "oldest": from_us(times.oldest), "now": ctx.now},
        source=ctx.source("validate.freshness.max_age"),
    )


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


def downtime_window(ctx: Setup, times: TimeFacts) -> int | None:
    cfg = ctx.policy.validate_.downtime
    if cfg.window == "auto":
        return choose_window(times.count, times.newest - times.oldest)
    return int(cfg.window.total_seconds() * 1_000_000)


def _downtime_check(ctx: Context, times: TimeFacts) -> Check:
    cfg = ctx.policy.validate_.downtime
    oldest = times.oldest
    width = downtime_window(ctx, times)
    if width is None:
        return skipped("downtime", "too little traffic or too short a span to judge gaps")
    counts = ctx.facts.windows()
    interior = counts[1:-1]  # the first and last windows are cut by the log's edges
    if len(interior) < 1:
        return skipped("downtime", f"fewer than {MIN_WINDOWS} windows of {human(dt.timedelta(microseconds=width))}")
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
                "start": from_us(oldest + first * width),
                "end": from_us(oldest + (last + 1) * width),
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


def check_latency(ctx: Context) -> list[Check]:
    if ctx.roles.latency is None:
        return []
    cfg = ctx.policy.validate_.latency
    values, maximum = ctx.facts.latency()  # finite values (on Dask, a sketch's points) and the exact maximum
    if len(values) == 0:
        slos = {name: getattr(cfg, f"{name}_ms") for name in ("p50", "p95", "p99") if getattr(cfg, f"{name}_ms") is not None}
        if slos:  # an SLO set and no value to judge it by: not met, not passed
            return [
                Check(
                    name=f"latency:{name}",
                    status=Status.INCONCLUSIVE,
                    value=None,
                    threshold=limit,
                    message=f"no latency values in '{ctx.roles.latency}': the {name} SLO cannot be judged",
                    source=ctx.source(f"validate.latency.{name}_ms"),
                )
                for name, limit in slos.items()
            ]
        return [skipped("latency", "no latency values")]
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
