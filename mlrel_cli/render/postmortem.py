"""The post-mortem draft in Markdown: facts first, then the sections people fill in, in blameless words."""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from typing import TYPE_CHECKING, Any

from mlrel_cli.errors import OutputError
from mlrel_cli.payloads.postmortem import Postmortem
from mlrel_cli.render.values import scrub, sparkline
from mlrel_cli.report import Report

if TYPE_CHECKING:
    from rich.text import Text


def _t(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value is not None else "unknown"


def _minutes(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds / 60:.0f} min"


def facts_of(report: Report) -> Postmortem:
    facts = report.sections["postmortem"]
    if not isinstance(facts, Postmortem):
        raise TypeError(f"a post-mortem report's section is a Postmortem, not {type(facts).__name__}")
    return facts


# the sections the responders write: left as prompts, in blameless words
TO_FILL_IN = [
    "",
    "## What went well",
    "",
    "- _to fill in_",
    "",
    "## What went wrong",
    "",
    "- _to fill in: describe conditions and gaps in the system, not individual mistakes_",
    "",
    "## Where we got lucky",
    "",
    "- _to fill in_",
    "",
    "## Action items",
    "",
    "| action | kind (detect / mitigate / prevent) | owner | due |",
    "|---|---|---|---|",
    "| _to fill in_ | | | |",
    "",
]


def render(report: Report, chart: str | None = None) -> str:
    facts = facts_of(report)
    incident = facts.incident
    lines = [
        f"# Post-mortem {incident.id}: {incident.title}",
        "",
        f"*Severity {incident.severity} · draft by mlrel {report.generated_at} · blameless: this document is "
        "about systems and decisions, not people.*",
        "",
        "## Summary",
        "",
        report.summary,
        "",
        *_impact(facts),
        *_timeline(facts, chart),
        *_detection(facts),
        *_causes(facts),
    ]
    if incident.notes:
        lines += ["", "## Notes from the responders", "", incident.notes.strip()]
    lines += [*TO_FILL_IN, f"Responders: {', '.join(incident.responders) or 'to fill in'}", ""]
    return scrub("\n".join(lines))


def _impact(facts: Postmortem) -> list[str]:
    impact = facts.impact
    lines = ["## Impact", ""]
    if impact is not None:
        lines.append(
            f"- Predictions served while degraded: **{impact.predictions_affected:,}** ({_t(impact.start)} to {_t(impact.end)})"
        )
        if impact.metric and impact.before is not None and impact.during is not None:
            lines.append(f"- {impact.metric}: {impact.before:.4g} before, **{impact.during:.4g}** during")
    else:
        lines.append("- Not determined (see below).")
    if facts.segments:
        lines += ["", "Segments hit hardest:", "", "| segment | before | after | rows after onset | adjusted p |"]
        lines.append("|---|---:|---:|---:|---:|")
        for s in facts.segments[:5]:
            lines.append(f"| {s.segment}={s.value} | {s.before:.4g} | {s.after:.4g} | {s.rows_after:,} | {s.p_adjusted:.2g} |")
    return lines


def _timeline(facts: Postmortem, chart: str | None) -> list[str]:
    lines = ["", "## Timeline (UTC)", "", "| time | source | event |", "|---|---|---|"]
    for entry in facts.timeline:
        lines.append(f"| {_t(entry.time)} | {entry.source} | {str(entry.event).replace('|', '/')} |")
    if chart:
        lines += ["", f"![{facts.metric} per window, onset and changes marked]({chart})"]
    return lines


def _detection(facts: Postmortem) -> list[str]:
    times = facts.times
    return [
        "",
        "## Detection and mitigation",
        "",
        f"- Onset: {_t(times.onset)}",
        f"- Time to detect (onset to detection): **{_minutes(times.time_to_detect_s)}**",
        f"- Time to mitigate (detection to mitigation): **{_minutes(times.time_to_mitigate_s)}**",
        f"- Error budget: {_minutes(times.impact_s)} of impact against {times.weekly_error_budget_s / 60:.1f} min a week "
        f"at {times.availability_target:.2%} availability"
        + (f" (**{times.error_budget_used:.0%}** used)" if times.error_budget_used is not None else ""),
        *[f"- To revert the {r.kind} change of {_t(r.time)} ({r.what}): {r.revert}" for r in facts.reverts],
    ]


def _causes(facts: Postmortem) -> list[str]:
    lines = ["", "## Root-cause candidates", ""]
    if facts.root_causes:
        lines += [f"{cause.rank}. **{cause.kind}**: {cause.summary}" for cause in facts.root_causes]
    else:
        lines.append("No candidate found in the evidence mlrel could read.")
    if facts.undetermined:
        lines += ["", "### Not determined", ""] + [f"- {item}" for item in facts.undetermined]
    return lines


def draw_chart(report: Report, path: str) -> bool:
    """The metric per window with the onset and each change event marked, as a PNG; False without matplotlib.

    matplotlib's own warnings (font cache, legend, layout) are kept off stderr, where only mlrel's one line belongs."""
    # its font-cache and config-dir notices are logged on import
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _draw_chart(report, path)


def _draw_chart(report: Report, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.dates import date2num
    except ImportError:
        return False
    facts = facts_of(report)
    points = [(float(date2num(p.start)), p.value) for p in facts.series if p.value is not None]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=110)
    ax.xaxis_date()  # the x values are matplotlib's dates (days since its epoch), shown as times
    ax.plot([p[0] for p in points], [p[1] for p in points], color="#1f77b4", linewidth=1.5)
    if facts.onset:
        ax.axvline(float(date2num(facts.onset)), color="#d62728", linestyle="--", linewidth=1.5, label="onset")
    for change in facts.changes:
        x = float(date2num(change.time))
        ax.axvline(x, color="#7f7f7f", linestyle=":", linewidth=1)
        label = f"{change.action} {change.to_version}"
        ax.annotate(label, (x, ax.get_ylim()[1]), fontsize=7, rotation=90, va="top", ha="right", color="#555555")
    known = ((facts.incident.detected, "detected", "#ff7f0e"), (facts.incident.mitigated, "mitigated", "#2ca02c"))
    for moment, name, color in known:
        if moment:
            ax.axvline(float(date2num(moment)), color=color, linewidth=1, label=name)
    ax.set_ylabel(facts.metric or "")
    ax.set_title(f"{facts.incident.id}: {facts.metric} per window")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")  # the path may be a temporary name without the suffix
    except OSError as exc:
        raise OutputError(f"cannot write the chart: {exc.strerror or exc}", path) from None
    finally:
        plt.close(fig)
    return True


def metric_line(report: Report) -> Text | None:
    """The metric per window as a one-line sparkline, onset in red: the shape of the incident at a glance."""
    from rich.text import Text

    facts = facts_of(report)
    values = [p.value for p in facts.series]
    if not any(v is not None for v in values):
        return None
    onset = facts.onset
    statuses = ["fail" if onset is not None and p.start >= onset else "pass" for p in facts.series]
    line = sparkline(values, statuses, width=60)
    colors = {"fail": "red", "pass": "green"}
    return Text.assemble(f"{facts.metric} per window ", *((c, colors.get(s, "")) for c, s in line))
