"""Inline SVG charts: nothing fetched, every number drawn on a labelled axis, every label clear of the others."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from mlrel_cli.payloads.drill import FaultResult
from mlrel_cli.render.html.base import COLORS, CURRENT, ONSET, REFERENCE, e, finite, fmt, when
from mlrel_cli.report import Status

CHAR_PX = 6.2  # average width of an 11px system-ui character, to keep labels apart


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg role="img" aria-label="{e(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">{"".join(body)}</svg>'
    )


def _clip(text: Any, limit: int) -> str:
    """Escaped text cut to ``limit`` characters with an ellipsis, the whole of it in a tooltip."""
    text = str(text)
    if len(text) <= limit:
        return e(text)
    return f"<tspan>{e(text[: limit - 1])}…<title>{e(text)}</title></tspan>"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (finite(low) and finite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _x(value: Any) -> float:
    t = when(value)
    return t.timestamp() if t else float(value)


def stagger(positions: list[float], labels: list[str]) -> list[int]:
    """The row each label goes on so that no two overlap: the lowest row whose last label ends before this one."""
    ends: list[float] = []
    rows = [0] * len(labels)
    for i in sorted(range(len(labels)), key=lambda k: positions[k]):
        row = next((r for r, end in enumerate(ends) if end < positions[i]), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = positions[i] + len(labels[i]) * CHAR_PX + 6
        rows[i] = row
    return rows


@dataclass(frozen=True)
class _Frame:
    """A chart's plotting area inside its margins, and the data ranges mapped onto it."""

    width: int
    height: int
    top: float
    x_low: float
    x_high: float
    y_low: float
    y_high: float
    left: int = 46
    right: int = 10
    bottom: int = 22

    def px(self, x: float) -> float:
        return self.left + (x - self.x_low) / ((self.x_high - self.x_low) or 1) * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        return self.top + (1 - (y - self.y_low) / ((self.y_high - self.y_low) or 1)) * (self.height - self.top - self.bottom)


def line_chart(
    points: list[tuple[Any, float | None]],
    *,
    threshold: float | None = None,
    markers: list[tuple[Any, str, str]] | None = None,
    width: int = 520,
    height: int = 160,
    title: str = "",
) -> str:
    """A line over x (numbers or datetimes) with a threshold line, y ticks, and vertical markers whose labels
    are stacked in rows so they never overlap."""
    values = [v for _, v in points if finite(v)]
    if not values:
        return ""
    xs = [_x(x) for x, _ in points]
    marks = [(_x(m[0]), m[1], m[2]) for m in markers or []]
    x_low, x_high = min(xs + [m[0] for m in marks]), max(xs + [m[0] for m in marks])
    extra = [threshold] if finite(threshold) else []
    ticks = nice_ticks(min([0.0, *values, *extra]), max([*values, *extra]) * 1.05 or 1.0, 4)
    y_low, y_high = min(ticks[0], 0.0), max(ticks[-1], max([*values, *extra]))
    left, right = _Frame.left, _Frame.right
    label_x = [  # a label near the right edge is moved left to stay inside the chart
        min(left + (m[0] - x_low) / ((x_high - x_low) or 1) * (width - left - right) + 3, width - len(m[1]) * CHAR_PX - 2)
        for m in marks
    ]
    label_rows = stagger(label_x, [m[1] for m in marks])
    top = 20 + 13 * (max(label_rows) + 1 if label_rows else 0)
    frame = _Frame(width, height + top - 20, top, x_low, x_high, y_low, y_high)
    parts = [f'<text x="{left}" y="12" style="font-weight:600">{e(title)}</text>'] if title else []
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" y1="{frame.py(tick):.1f}" x2="{width - right}" y2="{frame.py(tick):.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{frame.py(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>'
        )
    if finite(threshold):
        parts.append(
            f'<line x1="{left}" y1="{frame.py(threshold):.1f}" x2="{width - right}" y2="{frame.py(threshold):.1f}" '
            f'stroke="{ONSET}" stroke-dasharray="4 3"><title>threshold {threshold:.3g}</title></line>'
        )
    parts += _polylines(frame, xs, [v for _, v in points])
    for (x, label, color), row, tx in zip(marks, label_rows, label_x, strict=True):
        y, foot = 20 + 13 * row + 9, frame.height - frame.bottom
        parts.append(
            f'<line x1="{frame.px(x):.1f}" y1="{y - 9}" x2="{frame.px(x):.1f}" y2="{foot}" stroke="{color}"/>'
            f'<text x="{tx:.1f}" y="{y}" style="fill:{color}">{e(label)}</text>'
        )
    for end, anchor, where in ((points[0][0], "start", left), (points[-1][0], "end", width - right)):
        t = when(end)
        label = t.strftime("%m-%d %H:%M") if isinstance(t, dt.datetime) else f"{end}"
        parts.append(f'<text x="{where}" y="{frame.height - 6}" text-anchor="{anchor}">{e(label)}</text>')
    return _svg(width, frame.height, parts, title or "line chart")


def _polylines(frame: _Frame, xs: list[float], values: list[float | None]) -> list[str]:
    """The line, broken where a value is missing (a window with no row to score)."""
    out: list[str] = []
    segment: list[str] = []
    for x, value in zip(xs, values, strict=True):
        if value is None or not finite(value):
            if len(segment) > 1:
                out.append(f'<polyline fill="none" stroke="{CURRENT}" stroke-width="1.5" points="{" ".join(segment)}"/>')
            segment = []
            continue
        segment.append(f"{frame.px(x):.1f},{frame.py(value):.1f}")
    if len(segment) > 1:
        out.append(f'<polyline fill="none" stroke="{CURRENT}" stroke-width="1.5" points="{" ".join(segment)}"/>')
    return out


def bar_pairs(
    labels: list[str],
    reference: list[float],
    current: list[float],
    onset: list[float] | None = None,
    width: int = 520,
    height: int = 200,
) -> str:
    """Shares per bin or category: reference (grey), current (blue) and, when given, the onset window (red)."""
    if not labels:
        return ""
    series = [(reference, REFERENCE, "reference"), (current, CURRENT, "whole current log")]
    if onset:
        series.append((onset, ONSET, "onset window"))
    top_value = max(max(s) for s, _, _ in series) or 1.0
    ticks = nice_ticks(0.0, top_value, 3)
    top_value = max(ticks[-1], top_value)
    left, bottom, top = 40, 64, 22  # room for the slanted bin labels
    slot = (width - left - 6) / len(labels)
    bar = slot * 0.8 / len(series)
    plot = height - bottom - top
    parts = []
    for tick in ticks:
        y = height - bottom - tick / top_value * plot
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
        )
    for i, label in enumerate(labels):
        x = left + i * slot + slot * 0.1
        for k, (values, color, name) in enumerate(series):
            h = values[i] / top_value * plot
            parts.append(
                f'<rect x="{x + k * bar:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{e(label)}: {name} {values[i]:.1%}</title></rect>'
            )
        cx = left + (i + 0.5) * slot
        parts.append(
            f'<text x="{cx:.1f}" y="{height - bottom + 12}" text-anchor="end" '
            f'transform="rotate(-50 {cx:.1f},{height - bottom + 12})">{_clip(label, 12)}</text>'
        )
    x = left
    for _, color, name in series:
        parts.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{color}"/><text x="{x + 13}" y="13">{name}</text>')
        x += 20 + len(name) * CHAR_PX
    return _svg(width, height, parts, "distribution: " + ", ".join(n for _, _, n in series))


def mini_bars(reference: list[float], current: list[float], onset: list[float] | None = None) -> str:
    """A sparkline-sized histogram for a table cell: reference as a grey outline, current (or the onset window,
    when there is one) filled."""
    if not reference:
        return ""
    shown = onset or current
    width, height = 120, 28
    top_value = max(reference + shown) or 1.0
    slot = width / len(reference)
    parts = []
    for i, (r, c) in enumerate(zip(reference, shown, strict=True)):
        hr, hc = r / top_value * (height - 2), c / top_value * (height - 2)
        parts.append(
            f'<rect x="{i * slot + 1:.1f}" y="{height - hc:.1f}" width="{slot - 2:.1f}" height="{hc:.1f}" '
            f'fill="{ONSET if onset else CURRENT}" opacity=".75"/>'
            f'<rect x="{i * slot + 1:.1f}" y="{height - hr:.1f}" width="{slot - 2:.1f}" height="{hr:.1f}" '
            f'fill="none" stroke="{REFERENCE}"/>'
        )
    return _svg(width, height, parts, "reference outlined, " + ("onset window" if onset else "current") + " filled")


def window_strip(windows: list[dict[str, Any]], width: int = 240, height: int = 14) -> str:
    """One feature's score per window as a strip of cells: red or orange where the window failed or warned, else
    blue as deep as the score's share of its threshold, pale where the window was not judged (hover for both)."""
    if not windows:
        return ""
    slot = width / len(windows)
    parts = []
    for i, w in enumerate(windows):
        score, limit = w.get("score"), w.get("threshold")
        if w.get("status") in ("fail", "warn"):
            color, opacity = COLORS[Status(w["status"])], 1.0
        elif finite(score) and finite(limit) and limit:
            color, opacity = CURRENT, 0.15 + 0.6 * min(abs(score / limit), 1.0)
        else:
            color, opacity = "#e0e0e0", 1.0
        parts.append(
            f'<rect x="{i * slot:.1f}" y="0" width="{max(slot - 0.5, 0.5):.1f}" height="{height}" '
            f'fill="{color}" fill-opacity="{opacity:.2f}"><title>{e(w["start"])}: {fmt(score)} '
            f"({e(w.get('status'))}, {w.get('rows')} rows)</title></rect>"
        )
    return _svg(width, height, parts, "score per window")


def forest(
    rows: list[dict[str, Any]],
    *,
    width: int = 580,
    unit: str = "",
    title: str = "",
    axis: str = "candidate − baseline",
) -> str:
    """Deltas with their intervals on a numeric axis around zero. Each row: label, delta, low, high, color,
    better ('higher', 'lower' or None) and allowed (the regression tolerated, marked on the worse side)."""
    drawn = [r for r in rows if finite(r["delta"])]
    if not drawn:
        return ""
    reach = [abs(v) for r in drawn for v in (r["delta"], r["low"], r["high"], r.get("allowed")) if finite(v)]
    span = max(reach) * 1.1 or 1.0
    ticks = nice_ticks(-span, span, 5)
    span = max(span, abs(ticks[0]), abs(ticks[-1]))
    left, right, top, row_h = 150, 80, 22, 24
    height = top + row_h * len(rows) + 34

    def px(v: float) -> float:
        return left + (v + span) / (2 * span) * (width - left - right)

    parts = [f'<text x="4" y="12" style="font-weight:600">{e(title)}</text>'] if title else []
    for tick in ticks:
        parts.append(
            f'<line x1="{px(tick):.1f}" y1="{top - 4}" x2="{px(tick):.1f}" y2="{height - 30}" '
            f'stroke="{"#999" if tick == 0 else "#eee"}"/>'
            f'<text x="{px(tick):.1f}" y="{height - 18}" text-anchor="middle">{tick:+.3g}{e(unit)}</text>'
        )
    parts.append(f'<text x="{px(0):.1f}" y="{height - 4}" text-anchor="middle">{e(axis)}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2
        parts.append(f'<text x="4" y="{y + 4:.1f}">{_clip(r["label"], 23)}</text>')
        better = r.get("better")
        allowed = r.get("allowed")
        if better in ("higher", "lower") and finite(allowed):
            limit = -allowed if better == "higher" else allowed
            edge = px(-span) if better == "higher" else px(span)
            a, b = sorted((px(limit), edge))
            parts.append(
                f'<rect x="{a:.1f}" y="{y - 9:.1f}" width="{b - a:.1f}" height="18" fill="#fdecea">'
                f"<title>worse than the allowed regression ({limit:+.3g})</title></rect>"
                f'<line x1="{px(limit):.1f}" y1="{y - 10:.1f}" x2="{px(limit):.1f}" y2="{y + 10:.1f}" '
                f'stroke="{ONSET}" stroke-dasharray="2 2"/>'
            )
        if finite(r["low"]) and finite(r["high"]):
            parts.append(
                f'<line x1="{px(r["low"]):.1f}" y1="{y:.1f}" x2="{px(r["high"]):.1f}" y2="{y:.1f}" '
                f'stroke="{r["color"]}" stroke-width="3"/>'
            )
        parts.append(
            f'<circle cx="{px(r["delta"]):.1f}" cy="{y:.1f}" r="4" fill="{r["color"]}">'
            f"<title>{e(r['label'])}: {r['delta']:+.4g}</title></circle>"
        )
        direction = {"higher": "better →", "lower": "← better", "none": "no direction"}.get(better or "", "")
        parts.append(f'<text x="{width - right + 6}" y="{y + 4:.1f}">{direction}</text>')
    return _svg(width, height, parts, title or "deltas with intervals")


def limit_bars(rows: list[dict[str, Any]], *, width: int = 520, title: str = "", percent: bool = False) -> str:
    """One bar per value with its limits drawn as ticks: label, value, low, high (either may be None), status,
    note (shown after the bar)."""
    if not rows:
        return ""
    reach = [v for r in rows for v in (r["value"], r.get("low"), r.get("high"), r.get("warn")) if finite(v)]
    top_value = max([*reach, 0.0]) * 1.05 or 1.0
    ticks = nice_ticks(0.0, top_value, 4)
    top_value = max(top_value, ticks[-1])
    left, right, top, row_h = 150, 110, 22, 22
    height = top + row_h * len(rows) + 22

    def px(v: float) -> float:
        return left + max(v, 0.0) / top_value * (width - left - right)

    def label(v: float) -> str:
        return f"{v:.1%}" if percent else f"{v:.3g}"

    parts = [f'<text x="4" y="12" style="font-weight:600">{e(title)}</text>'] if title else []
    for tick in ticks:
        parts.append(
            f'<line x1="{px(tick):.1f}" y1="{top - 4}" x2="{px(tick):.1f}" y2="{height - 18}" stroke="#eee"/>'
            f'<text x="{px(tick):.1f}" y="{height - 6}" text-anchor="middle">{label(tick)}</text>'
        )
    for i, r in enumerate(rows):
        y = top + i * row_h
        value = r["value"] if finite(r["value"]) else 0.0
        parts.append(
            f'<text x="4" y="{y + 14}">{_clip(r["label"], 23)}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{px(value) - left:.1f}" height="14" '
            f'fill="{COLORS[r["status"]]}"><title>{e(r["label"])}: {label(value)}</title></rect>'
        )
        for bound, color in (("low", "#222"), ("high", "#222"), ("warn", COLORS[Status.WARN])):
            if finite(r.get(bound)):
                parts.append(
                    f'<line x1="{px(r[bound]):.1f}" y1="{y + 1}" x2="{px(r[bound]):.1f}" y2="{y + 21}" '
                    f'stroke="{color}" stroke-width="2"><title>{bound}: {label(r[bound])}</title></line>'
                )
        note = r.get("note") or label(value)
        parts.append(f'<text x="{width - right + 6}" y="{y + 14}">{_clip(note, 17)}</text>')
    return _svg(width, height, parts, title or "values against limits")


def fault_timeline(fault: FaultResult, budget_s: float | None, width: int = 1000, height: int = 34) -> str:
    """One fault's replay as a strip of windows from the injection: grey where no new check failed, red where one
    did (the first red one is the detection), with the error budget's end marked."""
    windows = fault.windows
    if not windows:
        return ""
    start, end = windows[0].start, windows[-1].end
    if end <= start:
        return ""
    span = (end - start).total_seconds()
    left, usable = 110, width - 120

    def x(seconds: float) -> float:
        return left + usable * min(max(seconds / span, 0.0), 1.0)

    parts = [f'<text x="0" y="{height // 2 + 4}">{e(fault.fault)}</text>']
    for w in windows:
        a, b = x((w.start - start).total_seconds()), x((w.end - start).total_seconds())
        color = COLORS[Status.FAIL] if w.new_failures else "#e0e0e0"
        tip = ", ".join(w.new_failures) or "no new failing check"
        parts.append(
            f'<rect x="{a:.1f}" y="6" width="{max(b - a - 1, 1):.1f}" height="{height - 12}" fill="{color}">'
            f"<title>{e(w.start)}: {w.rows} rows; {e(tip)}</title></rect>"
        )
    if budget_s:
        bx = x(budget_s)
        parts.append(
            f'<line x1="{bx:.1f}" y1="2" x2="{bx:.1f}" y2="{height - 2}" stroke="{CURRENT}" stroke-width="2">'
            f"<title>end of the error budget</title></line>"
        )
    return _svg(width, height, parts, f"replay of {fault.fault}")
