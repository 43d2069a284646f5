"""One self-contained HTML file: inline CSS and inline SVG charts, nothing fetched, no script.

Opens offline in any browser and survives being mailed or attached to a
ticket. Charts are drawn where people would rather look than read: drift
scores over windows and each drifted feature's distribution, the
candidates' metric deltas with their intervals, the metric over time with
the onset and change events marked.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from mlrel_cli.render import segments
from mlrel_cli.render.values import fmt_value, scrub, top_offenders
from mlrel_cli.report import Report, Status

COLORS = {
    Status.FAIL: "#c62828",
    Status.INCONCLUSIVE: "#8e24aa",
    Status.WARN: "#ef6c00",
    Status.PASS: "#2e7d32",
    Status.SKIPPED: "#757575",
}
STATUS_BY_NAME = {s.value: s for s in Status}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:.15em .6em;font-weight:600;text-transform:uppercase}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.6em 0}
th,td{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:#666;font-size:.85em} .chart{margin:.6em 0 1.2em} .grid{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #eee;border-radius:6px;padding:.5em .8em;flex:1 1 480px}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#444}
"""


def _e(value: Any) -> str:
    return html.escape(scrub(str(value)), quote=True)  # a control character from the data shows as \x1b


def _badge(status: Status) -> str:
    return f'<span class="badge" style="background:{COLORS[status]}">{_e(status.value)}</span>'


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------- SVG charts


def line_chart(
    points: list[tuple[Any, float | None]],
    *,
    threshold: float | None = None,
    markers: list[tuple[Any, str, str]] | None = None,
    width: int = 520,
    height: int = 160,
    title: str = "",
) -> str:
    """A line over x (numbers or datetimes) with an optional threshold line and labelled vertical markers."""
    xs = [(_time(x) or x) for x, _ in points]
    values = [v for _, v in points if v is not None]
    if not values:
        return ""
    numeric_x = [x.timestamp() if isinstance(x, dt.datetime) else float(x) for x in xs]
    marker_x = [(t.timestamp() if (t := _time(m[0])) else float(m[0]), m[1], m[2]) for m in markers or []]
    x_low = min(numeric_x + [m[0] for m in marker_x])
    x_high = max(numeric_x + [m[0] for m in marker_x])
    y_low = min(values + ([threshold] if threshold is not None else []))
    y_high = max(values + ([threshold] if threshold is not None else []))
    y_low = min(0.0, y_low)
    y_high = y_high * 1.1 if y_high > 0 else 1.0
    left, right, top, bottom = 44, 8, 18, 22

    def px(x: float) -> float:
        return left + (x - x_low) / ((x_high - x_low) or 1) * (width - left - right)

    def py(y: float) -> float:
        return top + (1 - (y - y_low) / ((y_high - y_low) or 1)) * (height - top - bottom)

    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    if title:
        parts.append(f'<text x="{left}" y="12">{_e(title)}</text>')
    parts.append(f'<line x1="{left}" y1="{py(y_low)}" x2="{width - right}" y2="{py(y_low)}" stroke="#bbb"/>')
    for tick in (y_low, (y_low + y_high) / 2, y_high):
        parts.append(f'<text x="2" y="{py(tick) + 4:.1f}">{tick:.3g}</text>')
    if threshold is not None:
        parts.append(
            f'<line x1="{left}" y1="{py(threshold):.1f}" x2="{width - right}" y2="{py(threshold):.1f}" '
            'stroke="#c62828" stroke-dasharray="4 3"/>'
        )
    segment: list[str] = []
    for x, (_, value) in zip(numeric_x, points, strict=True):
        if value is None:
            if len(segment) > 1:
                parts.append(f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{" ".join(segment)}"/>')
            segment = []
            continue
        segment.append(f"{px(x):.1f},{py(value):.1f}")
    if len(segment) > 1:
        parts.append(f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{" ".join(segment)}"/>')
    for x, label, color in marker_x:
        parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{height - bottom}" stroke="{color}"/>')
        parts.append(f'<text x="{px(x) + 2:.1f}" y="{top + 10}" style="fill:{color}">{_e(label)}</text>')
    first, last = xs[0], xs[-1]
    for end, anchor, where in ((first, "start", left), (last, "end", width - right)):
        label = end.strftime("%m-%d %H:%M") if isinstance(end, dt.datetime) else f"{end}"
        parts.append(f'<text x="{where}" y="{height - 6}" text-anchor="{anchor}">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_pairs(labels: list[str], reference: list[float], current: list[float], width: int = 520, height: int = 170) -> str:
    """Reference (grey) and current (blue) proportions side by side per bin or category."""
    if not labels:
        return ""
    top_value = max(reference + current) or 1.0
    left, bottom, top = 8, 40, 10
    slot = (width - left * 2) / len(labels)
    bar = slot * 0.38
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (label, r, c) in enumerate(zip(labels, reference, current, strict=True)):
        x = left + i * slot
        for offset, value, color in ((0.0, r, "#9e9e9e"), (bar, c, "#1565c0")):
            h = value / top_value * (height - bottom - top)
            parts.append(f'<rect x="{x + offset:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{color}"/>')  # fmt: skip
        parts.append(
            f'<text x="{x + bar:.1f}" y="{height - bottom + 12}" text-anchor="middle" '
            f'transform="rotate(30 {x + bar:.1f},{height - bottom + 12})">{_e(label[:14])}</text>'
        )
    parts.append(f'<text x="{width - 150}" y="12" style="fill:#9e9e9e">reference</text>')
    parts.append(f'<text x="{width - 80}" y="12" style="fill:#1565c0">current</text>')
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(
    rows: list[tuple[str, float, float, float, str]], width: int = 520, axis: str = "0 (candidate - baseline)"
) -> str:
    """Deltas with their intervals, one row each, on a scale centred on zero."""
    if not rows:
        return ""
    height = 22 * len(rows) + 24
    span = max(max(abs(lo), abs(hi), abs(d)) for _, d, lo, hi, _ in rows if all(map(_finite, (d, lo, hi)))) or 1.0
    left, right = 150, 20
    mid = left + (width - left - right) / 2

    def px(v: float) -> float:
        return mid + v / span * (width - left - right) / 2

    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<line x1="{mid}" y1="4" x2="{mid}" y2="{height - 18}" stroke="#999"/>']  # fmt: skip
    for i, (label, delta, low, high, color) in enumerate(rows):
        y = 16 + i * 22
        parts.append(f'<text x="4" y="{y + 4}">{_e(label[:22])}</text>')
        if all(map(_finite, (delta, low, high))):
            parts.append(f'<line x1="{px(low):.1f}" y1="{y}" x2="{px(high):.1f}" y2="{y}" stroke="{color}" stroke-width="3"/>')
            parts.append(f'<circle cx="{px(delta):.1f}" cy="{y}" r="4" fill="{color}"/>')
    parts.append(f'<text x="{mid}" y="{height - 4}" text-anchor="middle">{_e(axis)}</text></svg>')
    return "".join(parts)


def _finite(value: float) -> bool:
    return value is not None and value == value and abs(value) != float("inf")


# ---------------------------------------------------------------- sections per command


def _checks_table(report: Report) -> str:
    rows = []
    for check in report.ordered_checks():
        detail = check.message
        offenders = top_offenders(check, limit=5)
        if offenders and offenders not in detail:
            detail = f"{detail}; top: {offenders}"
        rows.append(
            f"<tr><td>{_badge(check.status)}</td><td><code>{_e(check.name)}</code></td>"
            f'<td class="num">{_e(fmt_value(check, check.value))}</td>'
            f'<td class="num">{_e(fmt_value(check, check.threshold))}</td><td>{_e(detail)}</td>'
            f'<td class="meta">{_e(check.source or "")}</td></tr>'
        )
    if not rows:
        return ""
    return (
        "<h2>Checks</h2><table><tr><th>status</th><th>check</th><th>value</th><th>limit</th><th>details</th>"
        "<th>threshold from</th></tr>" + "".join(rows) + "</table>"
    )


def _drift_section(report: Report) -> str:
    cards = []
    for feature in report.sections.get("features", []) + report.sections.get("outputs", []):
        status = STATUS_BY_NAME.get(feature["status"], Status.PASS)
        if feature["status"] not in ("fail", "warn") and not feature.get("onset"):
            continue
        if feature.get("onset"):
            status = Status.FAIL  # drifted in its windows, even if the whole log is diluted below the threshold
        chart = ""
        if feature.get("windows"):
            points = [(w["start"], w["score"]) for w in feature["windows"]]
            markers = [(feature["onset"], "onset", "#c62828")] if feature.get("onset") else []
            chart += line_chart(points, threshold=_num(feature["threshold"]), markers=markers,
                                title=f"{feature['method']} per window")  # fmt: skip
        hist = feature.get("histogram")
        if hist:
            chart += bar_pairs(hist["labels"], hist["reference"], hist["current"])
        cards.append(
            f'<div class="card"><b>{_e(feature["name"])}</b> {_badge(status)} '
            f'<span class="meta">{_e(feature["message"])}</span><div class="chart">{chart}</div></div>'
        )
    if not cards:
        return ""
    return "<h2>Drifted features</h2><div class='grid'>" + "".join(cards) + "</div>"


def _compare_section(report: Report) -> str:
    out = []
    for cand in report.sections.get("candidates", []):
        rows = []
        for name, m in cand["metrics"].items():
            color = {"fail": "#c62828", "marginal": "#ef6c00", "pass": "#2e7d32"}[m["classification"]]
            scale = abs(m["baseline"]) or 1.0 if name.startswith("latency") else 1.0
            low, high = (float("nan") if v is None else v for v in (m["ci_low"], m["ci_high"]))  # absent: no interval
            rows.append((name, m["delta"] / scale, low / scale, high / scale, color))
        out.append(
            f"<h2>Candidate {_e(cand['version'])}: {_e(cand['verdict'])}</h2>"
            f"<p>{_e('; '.join(cand['reasons']))}</p><div class='chart'>{interval_chart(rows)}</div>"
            "<p class='meta'>Latency deltas are relative to the baseline's value.</p>"
        )
    return "".join(out)


def _postmortem_section(report: Report) -> str:
    facts = report.sections.get("postmortem")
    if not facts:
        return ""
    points = [(p["start"], p["value"]) for p in facts["series"]]
    markers = [(c["time"], f"{c['action']} {c['to']}", "#616161") for c in facts["changes"]]
    if facts["onset"]:
        markers.append((facts["onset"], "onset", "#c62828"))
    chart = line_chart(points, markers=markers, width=1000, height=220, title=f"{facts['metric']} per window")
    timeline = "".join(
        f"<tr><td>{_e(t.strftime('%Y-%m-%d %H:%M') if (t := _time(e['time'])) else e['time'])}</td>"
        f"<td>{_e(e['source'])}</td><td>{_e(e['event'])}</td></tr>"
        for e in facts["timeline"]
    )
    causes = "".join(f"<li><b>{_e(c['kind'])}</b>: {_e(c['summary'])}</li>" for c in facts["root_causes"])
    undetermined = "".join(f"<li>{_e(u)}</li>" for u in facts["undetermined"])
    return (
        f"<div class='chart'>{chart}</div><h2>Timeline (UTC)</h2><table><tr><th>time</th><th>source</th>"
        f"<th>event</th></tr>{timeline}</table><h2>Root-cause candidates</h2><ol>{causes or '<li>none found</li>'}</ol>"
        + (f"<h2>Not determined</h2><ul>{undetermined}</ul>" if undetermined else "")
    )


def timeline(fault: dict[str, Any], budget_s: float | None, width: int = 1000, height: int = 34) -> str:
    """One fault's replay as a strip of windows from the injection: grey where no new check failed, red where one
    did (the first red one is the detection), with the error budget's end marked."""
    windows = fault.get("windows") or []
    if not windows:
        return ""
    start, end = _time(windows[0]["start"]), _time(windows[-1]["end"])
    if start is None or end is None or end <= start:
        return ""
    span = (end - start).total_seconds()
    left, usable = 110, width - 120

    def x(seconds: float) -> float:
        return left + usable * min(max(seconds / span, 0.0), 1.0)

    parts = [f'<text x="0" y="{height // 2 + 4}">{_e(fault["fault"])}</text>']
    for w in windows:
        ws, we = _time(w["start"]), _time(w["end"])
        if ws is None or we is None:
            continue
        a, b = x((ws - start).total_seconds()), x((we - start).total_seconds())
        color = COLORS[Status.FAIL] if w["failing"] else "#e0e0e0"
        tip = ", ".join(w["failing"]) or "no new failing check"
        parts.append(
            f'<rect x="{a:.1f}" y="6" width="{max(b - a - 1, 1):.1f}" height="{height - 12}" fill="{color}">'
            f"<title>{_e(w['start'])}: {w['rows']} rows; {_e(tip)}</title></rect>"
        )
    if budget_s:
        bx = x(budget_s)
        parts.append(f'<line x1="{bx:.1f}" y1="2" x2="{bx:.1f}" y2="{height - 2}" stroke="#1565c0" stroke-width="2">'
                     f"<title>end of the error budget</title></line>")  # fmt: skip
    return f'<svg width="{width}" height="{height}" role="img">{"".join(parts)}</svg>'


def _drill_section(report: Report) -> str:
    faults = [f for f in report.sections.get("faults", []) if f.get("windows")]
    if not faults:
        return ""
    budget = report.inputs.get("detection_budget_s")
    strips = "".join(f"<div>{timeline(f, _num(budget))}</div>" for f in faults)
    return (
        "<h2>Timeline per fault</h2><p class='meta'>From the injection, one block per window a cron job checks; "
        "red: a check failed there that passes on the healthy log; the blue line is the error budget less the "
        f"rollback time.</p><div class='chart'>{strips}</div>"
    )


def _weak_segments_section(report: Report) -> str:
    found = report.sections.get("weak_segments") or []
    if not found:
        return ""
    bars = [(segments.slice_text(w), w["delta"], w["ci_low"], w["ci_high"], "#c62828") for w in found]
    table = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in segments.rows(report))
    head = "".join(f"<th>{_e(c)}</th>" for c in segments.columns(report))
    return (
        f"<h2>{_e(segments.TITLE)}</h2><div class='chart'>{interval_chart(bars, axis='0 (inside - outside)')}</div>"
        f"<table><tr>{head}</tr>{table}</table>"
    )


def render(report: Report) -> str:
    body = [
        f"<h1>mlrel {_e(report.command)} {_badge(report.status)}</h1>",
        f"<p>{_e(report.summary)}</p>",
        f"<p class='meta'>generated {_e(report.generated_at)} · "
        + " · ".join(f"{_e(k)}: {_e(v)}" for k, v in report.inputs.items() if isinstance(v, str | int) and v is not None)
        + "</p>",
    ]
    if report.command == "drift":
        body.append(_drift_section(report))
    elif report.command == "compare":
        body.append(_compare_section(report))
    elif report.command == "postmortem":
        body.append(_postmortem_section(report))
    elif report.command == "drill":
        body.append(_drill_section(report))
    body.append(_weak_segments_section(report))
    body.append(_checks_table(report))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>mlrel {_e(report.command)}: {_e(report.status.value)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
