"""JUnit XML: one testcase per check, so CI systems list them natively (docs/reports.md).

fail -> <failure>, inconclusive -> <error> (the check could not be judged; with ``--inconclusive
pass`` a <skipped>, with ``fail`` a <failure>), skipped -> <skipped> with its reason. A warning is a
passing testcase: reporters show no message for passing cases (GitLab drops their system-out), so its
message is also in the testcase's properties and in the suite's, which every reporter that reads
properties lists, and the warning's name is in the suite's ``warnings`` property.

Classnames are stable across releases (``mlrel.<command>.<family>``): a CI's test history follows a
check from one model version to the next; compare's candidate version stays in the name and in the
``mlrel.version`` property. Checks are judged together from shared facts, so a testcase's ``time``
is 0 and the suite's is the run's wall time.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from mlrel_cli.render.values import fmt_value, scrub
from mlrel_cli.report import Check, Report, Status, jsonable


def classname(report: Report, check: Check) -> str:
    """``mlrel.<command>.<family>``, never with a model version in it."""
    name = check.name
    if report.command == "compare" and ":" in name:
        name = name.split(":", 1)[1]  # "v42:roc_auc[country=BR]" -> "roc_auc[country=BR]"
    family = name.split(":")[0].split("[")[0] or "check"
    return f"mlrel.{report.command}.{family}"


def _properties(parent: ET.Element, values: dict[str, str]) -> None:
    props = ET.SubElement(parent, "properties")
    for key, value in values.items():
        ET.SubElement(props, "property", {"name": key, "value": value})


def render(report: Report) -> str:
    counts = report.counts()
    # a gate that reads inconclusive as pass or fail (--inconclusive) shows it as a skip or a failure
    inconclusive_as = {0: "skipped", 1: "failure"}.get(report.inconclusive_exit)
    n_inconclusive = counts[Status.INCONCLUSIVE.value]
    failures = counts[Status.FAIL.value] + (n_inconclusive if inconclusive_as == "failure" else 0)
    errors = 0 if inconclusive_as else n_inconclusive
    skipped = counts[Status.SKIPPED.value] + (n_inconclusive if inconclusive_as == "skipped" else 0)
    duration = f"{report.duration_s or 0:.3f}"
    suite = ET.Element(
        "testsuite",
        {
            "name": f"mlrel.{report.command}",
            "tests": str(len(report.checks)),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(skipped),
            "time": duration,
            "timestamp": report.generated_at.removesuffix("Z"),
        },
    )
    warnings = [c for c in report.checks if c.status == Status.WARN]
    suite_props = {"mlrel.status": report.status.value, "mlrel.summary": report.summary}
    if warnings:
        suite_props["mlrel.warnings"] = "; ".join(f"{c.name}: {c.message}" for c in warnings)
    _properties(suite, suite_props)
    for check in report.checks:
        _testcase(suite, report, check, inconclusive_as)
    root = ET.Element(
        "testsuites",
        {
            "name": f"mlrel {report.command}: {report.status.value}",
            "tests": str(len(report.checks)),
            "failures": str(failures),
            "errors": str(errors),
            "time": duration,
        },
    )
    root.append(suite)
    ET.indent(root)
    # ElementTree writes characters XML 1.0 forbids as they are: escape them in the finished text,
    # where no markup can contain one
    return scrub('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")


def _testcase(suite: ET.Element, report: Report, check: Check, inconclusive_as: str | None) -> None:
    """One check as a test case: a failure, an error (or, with --inconclusive, a skip or failure), a skip, or a pass."""
    case = ET.SubElement(suite, "testcase", {"classname": classname(report, check), "name": check.name, "time": "0"})
    value, limit = fmt_value(check, check.value), fmt_value(check, check.threshold)
    props = {"mlrel.status": check.status.value, "mlrel.value": value, "mlrel.limit": limit}
    if report.command == "compare" and ":" in check.name:
        props["mlrel.version"] = check.name.split(":", 1)[0]
    if check.status in (Status.WARN, Status.SKIPPED, Status.INCONCLUSIVE):
        props["mlrel.message"] = check.message
    _properties(case, props)
    text = f"{check.message}\nvalue: {value}  limit: {limit}"
    if check.status == Status.FAIL:
        ET.SubElement(case, "failure", {"message": check.message, "type": "check-failed"}).text = text
    elif check.status == Status.INCONCLUSIVE:
        tag = inconclusive_as or "error"
        ET.SubElement(case, tag, {"message": f"inconclusive: {check.message}", "type": "inconclusive"}).text = text
    elif check.status == Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": check.message, "type": "skipped"}).text = text
    out = ET.SubElement(case, "system-out")
    details = json.dumps(jsonable(check.details), ensure_ascii=False)
    out.text = f"status: {check.status.value}\n{text}\ndetails: {details}"
