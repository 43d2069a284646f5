"""One self-contained HTML file: inline CSS, inline SVG charts and one small inline script, nothing fetched.

Opens offline in any browser and survives being mailed or attached to a
ticket. Charts are drawn where people would rather look than read: every
feature's distribution and score per window, the candidates' deltas on a
numeric axis, each failing check family against its limits, the metric over
time with the onset and change events marked. The script only sorts and
filters tables; without it every row is still there.
"""

from __future__ import annotations

from mlrel_cli.render.html import sections
from mlrel_cli.render.html.base import CSS, SCRIPT, badge, e
from mlrel_cli.report import Report

BODY = {
    "drift": sections.drift_section,
    "compare": sections.compare_section,
    "validate": sections.validate_section,
    "postmortem": sections.postmortem_section,
    "drill": sections.drill_section,
}


def render(report: Report) -> str:
    body = [
        f"<h1>mlrel {e(report.command)} {badge(report.status)}</h1>",
        f"<p>{e(report.summary)}</p>",
        f"<p class='meta'>generated {e(report.generated_at)} · "
        + " · ".join(f"{e(k)}: {e(v)}" for k, v in report.inputs.items() if isinstance(v, str | int) and v is not None)
        + "</p>",
    ]
    if report.command in BODY:
        body.append(BODY[report.command](report))
    body.append(sections.weak_segments_section(report))
    body.append(sections.checks_table(report))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>mlrel {e(report.command)}: {e(report.status.value)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )
