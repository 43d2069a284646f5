"""The report of a run that could not be judged (exit 2), in the format the run was asked for.

CI publishes whatever file the step left: an error report says why there is no verdict,
where an empty file breaks the parser and an old file reads as the last green run.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import xml.etree.ElementTree as ET

from mlrel_cli.render.values import scrub
from mlrel_cli.report import SCHEMA_VERSION

EXIT_ERROR = 2


def error_dict(command: str, message: str) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "status": "error",
        "exit_code": EXIT_ERROR,
        "summary": f"could not run: {message}",
        "error": message,
        "generated_at": now,
        "inputs": {},
        "counts": {},
        "checks": [],
    }


def render_error(command: str, message: str, fmt: str) -> str:
    message = scrub(message)
    if fmt == "json":
        return json.dumps(error_dict(command, message), indent=2, ensure_ascii=False) + "\n"
    if fmt == "junit":
        root = ET.Element("testsuites", {"name": f"mlrel {command}: error", "tests": "1", "failures": "0", "errors": "1"})
        suite = ET.SubElement(
            root,
            "testsuite",
            {"name": f"mlrel.{command}", "tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0"},
        )
        case = ET.SubElement(suite, "testcase", {"classname": f"mlrel.{command}.run", "name": "run", "time": "0"})
        ET.SubElement(case, "error", {"message": message, "type": "input-error"}).text = f"error: {message}"
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    if fmt == "openmetrics":
        from mlrel_cli.render.openmetrics import render_error as render_metrics_error

        return render_metrics_error(command)
    if fmt == "markdown":
        return f"## mlrel {command}: 💥 error (exit 2)\n\n```\nerror: {message}\n```\n"
    if fmt == "html":
        text = html.escape(message)
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>mlrel {command}: error</title></head>'
            f"<body><h1>mlrel {html.escape(command)}: error (exit 2)</h1><pre>error: {text}</pre></body></html>\n"
        )
    return f"ERROR  mlrel {command}: {message}\n"
