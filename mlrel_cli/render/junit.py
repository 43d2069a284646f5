"""JUnit XML: one testcase per check, so CI systems list them natively.

fail -> <failure>, inconclusive -> <error> (the check could not be judged),
skipped -> <skipped>; warnings pass and carry their message in system-out.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlrel_cli.render.values import fmt_value
from mlrel_cli.report import Report, Status, jsonable


def render(report: Report) -> str:
    counts = report.counts()
    suite = ET.Element(
        "testsuite",
        {
            "name": f"mlrel.{report.command}",
            "tests": str(len(report.checks)),
            "failures": str(counts[Status.FAIL.value]),
            "errors": str(counts[Status.INCONCLUSIVE.value]),
            "skipped": str(counts[Status.SKIPPED.value]),
            "timestamp": report.generated_at,
        },
    )
    for check in report.checks:
        family = check.name.split(":")[0].split("[")[0]
        case = ET.SubElement(suite, "testcase", {"classname": f"mlrel.{report.command}.{family}", "name": check.name})
        text = f"{check.message}\nvalue: {fmt_value(check, check.value)}  limit: {fmt_value(check, check.threshold)}"
        if check.status == Status.FAIL:
            ET.SubElement(case, "failure", {"message": check.message, "type": "check-failed"}).text = text
        elif check.status == Status.INCONCLUSIVE:
            ET.SubElement(case, "error", {"message": check.message, "type": "inconclusive"}).text = text
        elif check.status == Status.SKIPPED:
            ET.SubElement(case, "skipped", {"message": check.message})
        out = ET.SubElement(case, "system-out")
        out.text = f"status: {check.status.value}\n{text}\ndetails: {json.dumps(jsonable(check.details))}"
    root = ET.Element("testsuites", {"name": f"mlrel {report.command}: {report.status.value}"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
