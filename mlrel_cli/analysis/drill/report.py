"""The drill's Report: one check per fault, the summary, the table."""

from __future__ import annotations

import datetime as dt

from mlrel_cli.analysis.drill.payloads import ReplayPlan
from mlrel_cli.durations import format_duration
from mlrel_cli.logs import Log
from mlrel_cli.payloads.drill import FaultResult, from_us
from mlrel_cli.payloads.table import Table
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status


def drill_report(log: Log, policy: Policy, plan: ReplayPlan, results: list[FaultResult], reference: Log | None) -> Report:
    checks = [_fault_check(r, plan, policy) for r in results]
    failed = [r for r in results if r.status == Status.FAIL]
    caught = sum(r.caught for r in results)
    in_budget = sum(r.caught and r.within_budget for r in results)
    judged = [r for r in results if r.error is None]
    if failed:
        status = Status.FAIL
    elif not judged:
        status = Status.INCONCLUSIVE  # no fault could be injected into this log: nothing was rehearsed
    else:
        status = Status.WARN if in_budget < len(judged) else Status.PASS
    summary = (
        f"{caught} of {len(judged)} faults caught, {in_budget} within the {format_duration(plan.budget)} budget "
        f"(checks every {format_duration(dt.timedelta(microseconds=plan.width_us))}, "
        f"rollback {format_duration(plan.rollback)})."
    )
    if len(judged) < len(results):
        summary += f" {len(results) - len(judged)} skipped: not applicable to this log."
    if failed:
        summary += " Required and missed or late: " + ", ".join(r.fault for r in failed) + "."
    table_rows = [
        (
            r.fault,
            f"{r.size:g}",
            r.check or ("skipped: " + r.error if r.error else "missed"),
            _delay_text(r),
            "-" if r.error else ("yes" if r.within_budget else "no"),
        )
        for r in results
    ]
    return Report(
        command="drill",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs={
            "log": log.path,
            "rows": log.num_rows,
            "reference": reference.path if reference else plan.reference.label,
            "policy": list(policy.files),
            "every": format_duration(dt.timedelta(microseconds=plan.width_us)),
            "injected_at": from_us(plan.injected_us),
            "windows": plan.n_windows,
            "budget": format_duration(plan.budget),
            "detection_budget_s": (plan.budget - plan.rollback).total_seconds(),
            "rollback_time": format_duration(plan.rollback),
            "seed": plan.seed,
            "canary": policy.drill.canary,
        },
        sections={
            "faults": tuple(results),
            "table": Table("Drill", ("fault", "size", "caught by", "delay", "within budget"), tuple(table_rows)),
        },
    )


def _delay_text(result: FaultResult) -> str:
    if result.delay_s is None:
        return "-"
    return f"{format_duration(dt.timedelta(seconds=result.delay_s))} ({result.rows_until_detection:,} rows)"


def _fault_check(result: FaultResult, plan: ReplayPlan, policy: Policy) -> Check:
    if result.error:
        message = f"skipped: {result.error}"
    elif result.caught:
        message = f"caught by {result.check} after {_delay_text(result)}"
        if not result.within_budget:
            message += f"; with the {format_duration(plan.rollback)} rollback that is over the budget"
    else:
        horizon = dt.timedelta(microseconds=plan.n_windows * plan.width_us)
        message = f"missed: no check failed in the {format_duration(horizon)} after the injection"
    if result.suggestion is not None:
        message += f"; suggestion: {result.suggestion.change}" + ("" if result.suggestion.verified else " (not verified)")
    return Check(
        name=f"fault:{result.fault}",
        status=result.status,
        value=result.delay_s,
        threshold=(plan.budget - plan.rollback).total_seconds(),
        message=message,
        details={"check": result.check, "rows_until_detection": result.rows_until_detection, "size": result.size},
        source=policy.source_of("drill.budget"),
    )


def inconclusive(log: Log, policy: Policy, plan: ReplayPlan, why: str) -> Report:
    return Report(
        command="drill",
        status=Status.INCONCLUSIVE,
        summary=f"Nothing to judge: {why}.",
        checks=(Check(name="drill", status=Status.INCONCLUSIVE, message=why),),
        inputs={"log": log.path, "rows": log.num_rows, "every": format_duration(dt.timedelta(microseconds=plan.width_us))},
        sections={"faults": ()},
    )
