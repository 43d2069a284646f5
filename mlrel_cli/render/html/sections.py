"""The report's body per command: what a reviewer looks at first, drawn from the report's sections and checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlrel_cli.payloads.compare import Candidate
from mlrel_cli.payloads.drift import ConceptDrift, FeatureDrift
from mlrel_cli.payloads.drill import FaultResult
from mlrel_cli.payloads.postmortem import Postmortem
from mlrel_cli.render import segments
from mlrel_cli.render.html.base import COLORS, badge, e, finite, fmt, num, stamp
from mlrel_cli.render.html.charts import bar_pairs, fault_timeline, forest, limit_bars, line_chart, mini_bars, window_strip
from mlrel_cli.render.values import fmt_value, top_offenders
from mlrel_cli.report import Check, Report, Status

CLASS_COLORS = {"fail": "#c62828", "marginal": "#ef6c00", "pass": "#2e7d32"}


def checks_table(report: Report) -> str:
    rows = []
    for check in report.ordered_checks():
        detail = check.message
        offenders = top_offenders(check, limit=5)
        if offenders and offenders not in detail:
            detail = f"{detail}; top: {offenders}"
        rows.append(
            f'<tr data-status="{e(check.status.value)}"><td data-v="{-check.status.severity}">{badge(check.status)}</td>'
            f"<td><code>{e(check.name)}</code></td>"
            f'<td class="num">{e(fmt_value(check, check.value))}</td>'
            f'<td class="num">{e(fmt_value(check, check.threshold))}</td><td>{e(detail)}</td>'
            f'<td class="meta">{e(check.source or "")}</td></tr>'
        )
    if not rows:
        return ""
    return (
        "<h2>Checks</h2>"
        + _filter("checks", (c.status for c in report.checks))
        + "<div class='scroll'><table id='checks' class='sortable'><thead><tr><th data-sort>status</th>"
        "<th data-sort>check</th><th>value</th><th>limit</th><th>details</th><th data-sort>threshold from</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _filter(table_id: str, statuses: Any) -> str:
    """A text box and a status list that filter the table's rows (the inline script does it)."""
    present = sorted(set(statuses), key=lambda s: -s.severity)
    options = "".join(f"<option value='{e(s.value)}'>{e(s.value)}</option>" for s in present)
    return (
        f"<div class='filter'><input id='{table_id}-q' type='search' placeholder='filter rows' aria-label='filter'>"
        f"<select id='{table_id}-s' aria-label='status'><option value=''>every status</option>{options}</select></div>"
    )


# ---------------------------------------------------------------- drift


def _check_for(report: Report, feature: FeatureDrift) -> Check | None:
    """The feature's check: its status is the one every format shows (an output's drift may be only a warning)."""
    role = feature.role
    names = [f"drift:{feature.name}"] if role == "feature" else [f"drift:{role}:{feature.name}", f"drift:{role}"]
    by_name = {c.name: c for c in report.checks}
    return next((by_name[n] for n in names if n in by_name), None)


def drift_section(report: Report) -> str:
    features: list[FeatureDrift] = [*report.sections.get("features", []), *report.sections.get("outputs", [])]
    concept = _concept_card(report)
    if not features:
        return concept
    rows, cards, folded, statuses = [], [], [], []
    for f in features:
        check = _check_for(report, f)
        status = check.status if check else f.status
        statuses.append(status)
        hist = f.histogram or {}
        onset_shares = hist.get("onset_window")
        small = mini_bars(hist.get("reference", []), hist.get("current", []), onset_shares)
        score, whole = num(f.score), num(f.whole_log)
        rows.append(
            f'<tr data-status="{e(status.value)}"><td><b>{e(f.name)}</b><div class="meta">{e(f.role)}, '
            f'{e(f.kind)}</div></td><td data-v="{-status.severity}">{badge(status)}</td>'
            f'<td class="num" data-v="{score if finite(score) else -1}">{fmt(score)}</td>'
            f'<td class="num">{fmt(num(f.threshold))}</td><td class="num">{fmt(whole)}</td>'
            f"<td>{e(f.method)}</td><td data-v='{e(f.onset or '')}'>"
            f"{e(stamp(f.onset) if f.onset else '')}</td>"
            f"<td>{small}</td><td class='strip'>{window_strip([w.to_dict() for w in f.windows])}</td>"
            f"<td class='meta'>{e(check.message if check else f.message)}</td></tr>"
        )
        if status in (Status.FAIL, Status.WARN) or f.onset:
            cards.append(_drift_card(f, status, check))
        elif hist:  # the others' distributions, folded: there to compare, not in the way
            folded.append(
                f"<details class='card'><summary><b>{e(f.name)}</b> {badge(status)}</summary>"
                f"{bar_pairs(hist['labels'], hist['reference'], hist['current'])}</details>"
            )
    legend = (
        "<p class='meta'>Distribution: the reference's shares outlined in grey, the current log's (or, for a feature "
        "with an onset, the onset window's) filled. Windows: one cell per window, coloured by its verdict; hover "
        "for the score.</p>"
    )
    table = (
        "<h2>Features</h2>"
        + _filter("features", statuses)
        + legend
        + "<div class='scroll'><table id='features' class='sortable'><thead><tr><th data-sort>feature</th>"
        "<th data-sort>status</th><th data-sort>score</th><th>threshold</th><th data-sort>whole log</th>"
        "<th data-sort>method</th><th data-sort>onset</th><th>distribution</th><th>per window</th><th>details</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )
    drifted = "<h2>Drifted features</h2><div class='grid'>" + "".join(cards) + "</div>" if cards else ""
    others = "<h2>Every other distribution</h2><div class='grid'>" + "".join(folded) + "</div>" if folded else ""
    return drifted + table + others + concept


def _concept_card(report: Report) -> str:
    """The performance metric per window (concept drift with --window): its degradation against the allowed one."""
    concept: ConceptDrift | None = report.sections.get("concept")
    if concept is None or not concept.windows:
        return ""
    check = next((c for c in report.checks if c.name == f"concept:{concept.metric}"), None)
    status = check.status if check else concept.status
    markers = [(concept.onset, "onset", "#c62828")] if concept.onset else []
    chart = line_chart(
        [(w.start, w.degradation) for w in concept.windows],
        threshold=num(concept.threshold),
        markers=markers,
        title=f"{concept.metric} degradation per window (dashed: allowed)",
    )
    return (
        f"<h2>Performance per window</h2><div class='card'><b>{e(concept.metric)}</b> {badge(status)}"
        f"<div class='meta'>{e(check.message if check else '')}</div><div class='chart'>{chart}</div></div>"
    )


def _drift_card(f: FeatureDrift, status: Status, check: Check | None) -> str:
    """A drifted feature (drift's FeatureDrift): its score per window and its distributions."""
    chart = ""
    if f.windows:
        points = [(w.start, w.score) for w in f.windows]
        markers = [(f.onset, "onset", "#c62828")] if f.onset else []
        chart += line_chart(
            points, threshold=num(f.threshold), markers=markers, title=f"{f.method} per window (dashed: threshold)"
        )
    hist = f.histogram
    if hist:
        chart += bar_pairs(hist["labels"], hist["reference"], hist["current"], hist.get("onset_window"))
    message = check.message if check else f.message
    return (
        f'<div class="card"><b>{e(f.name)}</b> {badge(status)} '
        f'<div class="meta">{e(message)}</div><div class="chart">{chart}</div></div>'
    )


# ---------------------------------------------------------------- compare


def compare_section(report: Report) -> str:
    out = []
    candidates: Sequence[Candidate] = report.sections.get("candidates", ())
    for cand in candidates:
        quality, latency = _metric_rows(report, cand)
        seg_rows = _segment_rows(cand)
        unjudged = [s for s in cand.segments if not s.judged]
        out.append(
            f"<h2>Candidate {e(cand.version)} against {e(report.sections.get('baseline', 'the baseline'))}: "
            f"{e(cand.verdict)}</h2><ul>{''.join(f'<li>{e(r)}</li>' for r in cand.reasons)}</ul>"
            "<p class='meta'>Dot: the delta; bar: its 95% interval; shaded: worse than the regression the policy "
            "allows (dashed line); each row says which side is better.</p>"
            f"<div class='chart'>{forest(quality, title='Quality metrics')}</div>"
            f"<div class='chart'>{forest(latency, unit=' ms', title='Latency (ms)')}</div>"
            + (f"<h3>Per segment</h3><div class='chart'>{forest(seg_rows, title='Segment deltas')}</div>" if seg_rows else "")
            + (
                "<p class='meta'>Not judged: " + "; ".join(f"{e(s.segment)}={e(s.value)} ({e(s.why)})" for s in unjudged) + "</p>"
                if unjudged
                else ""
            )
        )
    return "".join(out)


def _metric_rows(report: Report, cand: Candidate) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The forest rows of the candidate's quality metrics and of its latency quantiles."""
    quality: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    for name, m in cand.metrics_by_name.items():
        low, high = m.interval
        row = {
            "label": name + (" (gating)" if m.gating else ""),
            "delta": m.delta,
            "low": low if low is not None else float("nan"),
            "high": high if high is not None else float("nan"),
            "color": _color(report, f"{cand.version}:{name}", m.classification),
            "better": _better(cand, name) or "none",
            "allowed": m.allowed_regression,
        }
        (latency if name.startswith("latency") else quality).append(row)
    return quality, latency


def _segment_rows(cand: Candidate) -> list[dict[str, Any]]:
    return [
        {
            "label": f"{s.segment}={s.value} ({s.metric})",
            "delta": s.delta,
            "low": s.ci_low,
            "high": s.ci_high,
            "color": CLASS_COLORS["fail"] if s.worse else "#2e7d32",
            "better": _better(cand, s.metric),
            "allowed": None,
        }
        for s in cand.segments
        if s.judged
    ]


def _color(report: Report, check_name: str, classification: str) -> str:
    """The colour of the metric's check status, the one the table, JSON and JUnit show (a non-gating regression
    is a warning); the classification only when there is no such check."""
    check = next((c for c in report.checks if c.name == check_name), None)
    return COLORS[check.status] if check else CLASS_COLORS.get(classification, "#757575")


def _better(cand: Candidate, metric: str | None) -> str | None:
    m = cand.metrics_by_name.get(metric) if metric is not None else None
    if m is None or m.higher_is_better is None:
        return None
    return "higher" if m.higher_is_better else "lower"


# ---------------------------------------------------------------- validate

FAMILIES = {
    "missing": "Missing rates",
    "range": "Out-of-range share",
    "unseen": "Unseen categories",
    "latency": "Latency quantiles against the SLO",
    "performance": "Metrics per segment against their bounds",
}


def validate_section(report: Report) -> str:
    """A chart per check family with a failing (or warning, or inconclusive) check, each column of the family."""
    charts = []
    for family, title in FAMILIES.items():
        checks = [c for c in report.checks if c.name.split(":")[0] == family]
        if not any(c.status not in (Status.PASS, Status.SKIPPED) for c in checks):
            continue
        rows = [_limit_row(family, c) for c in checks if finite(num(c.value))]
        if family == "performance":
            metrics = {c.name.split(":", 1)[1].split("[")[0] for c in checks if c.status != Status.PASS}
            rows = [
                r
                for r, c in zip(rows, [c for c in checks if finite(num(c.value))], strict=True)
                if c.name.split(":", 1)[1].split("[")[0] in metrics
            ]
        chart = limit_bars(rows, title=title, percent=family in ("missing", "range", "unseen"))
        charts.append(f"<div class='card'>{chart}</div>")
    if not charts:
        return ""
    return (
        "<h2>Failing check families</h2><p class='meta'>Bars: the value; black ticks: its limits; orange: the "
        "warning limit.</p>"
        "<div class='grid'>" + "".join(charts) + "</div>"
    )


def _limit_row(family: str, check: Check) -> dict[str, Any]:
    label = check.name.split(":", 1)[1]
    low, high, note = None, num(check.threshold), None
    if isinstance(check.threshold, dict):
        low, high = num(check.threshold.get("min")), num(check.threshold.get("max"))
    if family in ("range", "unseen"):
        top = check.details.get("top") or []
        note = ", ".join(str(t.get("value", t) if isinstance(t, dict) else t) for t in top[:3]) or None
    if family == "performance":
        label = check.details.get("segment") or label
        label = f"{check.name.split(':', 1)[1].split('[')[0]} {label if label != check.name.split(':', 1)[1] else 'all'}"
    warn = num(check.details.get("warn_threshold"))
    return {
        "label": label,
        "value": num(check.value),
        "low": low,
        "high": high,
        "warn": warn,
        "status": check.status,
        "note": note,
    }


# ---------------------------------------------------------------- postmortem


def _minutes(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds / 60:.0f} min"


def postmortem_section(report: Report) -> str:
    facts = report.sections.get("postmortem")
    if not isinstance(facts, Postmortem):
        return ""
    incident = facts.incident
    out = [
        f"<h2>{e(incident.id)}: {e(incident.title)}</h2>",
        f"<p class='meta'>Severity {e(incident.severity)} · blameless: this document is about systems and "
        "decisions, not people.</p>",
        _pm_impact(facts),
        f"<div class='chart wide'>{_pm_chart(facts)}</div>",  # on a phone: scrolls rather than shrinking its labels away
        _pm_timeline(facts),
        _pm_detection(facts),
    ]
    causes = "".join(f"<li><b>{e(c.kind)}</b>: {e(c.summary)}</li>" for c in facts.root_causes)
    out.append(f"<h2>Root-cause candidates</h2><ol>{causes or '<li>none found in the evidence mlrel could read</li>'}</ol>")
    if facts.undetermined:
        out.append("<h3>Not determined</h3><ul>" + "".join(f"<li>{e(u)}</li>" for u in facts.undetermined) + "</ul>")
    if incident.notes:
        out.append(f"<h2>Notes from the responders</h2><p style='white-space:pre-wrap'>{e(incident.notes.strip())}</p>")
    fill = "<li class='fill'>to fill in</li>"
    out.append(
        f"<h2>What went well</h2><ul>{fill}</ul><h2>What went wrong</h2><ul><li class='fill'>to fill in: describe "
        f"conditions and gaps in the system, not individual mistakes</li></ul><h2>Where we got lucky</h2><ul>{fill}</ul>"
        "<h2>Action items</h2><table><tr><th>action</th><th>kind (detect / mitigate / prevent)</th><th>owner</th>"
        "<th>due</th></tr><tr><td class='fill'>to fill in</td><td></td><td></td><td></td></tr></table>"
        f"<p>Responders: {e(', '.join(incident.responders) or 'to fill in')}</p>"
    )
    return "".join(out)


def _pm_chart(facts: Postmortem) -> str:
    """The metric per window, with the changes, the onset, detection and mitigation marked."""
    incident = facts.incident
    points = [(p.start, p.value) for p in facts.series]
    markers = [(c.time, f"{c.action} {c.to_version}" + (f" → {c.stage}" if c.stage else ""), "#616161") for c in facts.changes]
    if facts.onset:
        markers.append((facts.onset, "onset", "#c62828"))
    known = (("detected", incident.detected), ("mitigated", incident.mitigated))
    markers += [(moment, name, "#1565c0") for name, moment in known if moment]
    return line_chart(points, markers=markers, width=1000, height=220, title=f"{facts.metric} per window")


def _pm_impact(facts: Postmortem) -> str:
    impact = facts.impact
    out = ["<h2>Impact</h2><ul>"]
    if impact is not None:
        out.append(
            f"<li>Predictions served while degraded: <b>{impact.predictions_affected:,}</b> "
            f"({e(stamp(impact.start))} to {e(stamp(impact.end))})</li>"
        )
        if impact.before is not None and impact.during is not None:
            out.append(f"<li>{e(impact.metric)}: {impact.before:.4g} before, <b>{impact.during:.4g}</b> during</li>")
    else:
        out.append("<li>Not determined (see below).</li>")
    out.append("</ul>")
    if facts.segments:
        rows = "".join(
            f"<tr><td>{e(s.segment)}={e(s.value)}</td><td class='num'>{s.before:.4g}</td>"
            f"<td class='num'>{s.after:.4g}</td><td class='num'>{s.rows_after:,}</td>"
            f"<td class='num'>{s.p_adjusted:.2g}</td></tr>"
            for s in facts.segments[:5]
        )
        head = "<tr><th>segment</th><th>before</th><th>after</th><th>rows after onset</th><th>adjusted p</th></tr>"
        out.append(f"<h3>Segments hit hardest</h3><table>{head}{rows}</table>")
    return "".join(out)


def _pm_timeline(facts: Postmortem) -> str:
    timeline = "".join(f"<tr><td>{e(stamp(t.time))}</td><td>{e(t.source)}</td><td>{e(t.event)}</td></tr>" for t in facts.timeline)
    head = "<tr><th>time</th><th>source</th><th>event</th></tr>"
    return f"<h2>Timeline (UTC)</h2><div class='scroll'><table>{head}{timeline}</table></div>"


def _pm_detection(facts: Postmortem) -> str:
    times = facts.times
    budget = times.weekly_error_budget_s
    used = f" (<b>{times.error_budget_used:.0%}</b> used)" if times.error_budget_used is not None else ""
    reverts = "".join(
        f"<li>To revert the {e(r.kind)} change of {e(stamp(r.time))} ({e(r.what)}): <code>{e(r.revert)}</code></li>"
        for r in facts.reverts
    )
    return (
        "<h2>Detection and mitigation</h2><ul>"
        f"<li>Onset: {e(stamp(times.onset))}</li>"
        f"<li>Time to detect (onset to detection): <b>{_minutes(times.time_to_detect_s)}</b></li>"
        f"<li>Time to mitigate (detection to mitigation): <b>{_minutes(times.time_to_mitigate_s)}</b></li>"
        + (
            f"<li>Error budget: {_minutes(times.impact_s)} of impact against {budget / 60:.1f} min a week at "
            f"{times.availability_target:.2%} availability{used}</li>"
            if budget
            else ""
        )
        + reverts
        + "</ul>"
    )


# ---------------------------------------------------------------- drill and weak segments


def drill_section(report: Report) -> str:
    replayed: Sequence[FaultResult] = report.sections.get("faults", ())
    faults = [f for f in replayed if f.windows]
    if not faults:
        return ""
    budget = report.inputs.get("detection_budget_s")
    strips = "".join(f"<div>{fault_timeline(f, num(budget))}</div>" for f in faults)
    return (
        "<h2>Timeline per fault</h2><p class='meta'>From the injection, one block per window a cron job checks; "
        "red: a check failed there that passes on the healthy log; the blue line is the error budget less the "
        f"rollback time.</p><div class='chart'>{strips}</div>"
    )


def weak_segments_section(report: Report) -> str:
    found = segments.of(report)
    if not found:
        return ""
    bars = [
        {
            "label": segments.slice_text(w),
            "delta": w.slice.delta,
            "low": w.slice.ci_low,
            "high": w.slice.ci_high,
            "color": "#c62828",
            "better": None,
            "allowed": None,
        }
        for w in found
    ]
    table = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in segments.rows(report))
    head = "".join(f"<th>{e(c)}</th>" for c in segments.columns(report))
    return (
        f"<h2>{e(segments.TITLE)}</h2><div class='chart'>{forest(bars, axis='inside − outside')}</div>"
        f"<div class='scroll'><table><tr>{head}</tr>{table}</table></div>"
    )
