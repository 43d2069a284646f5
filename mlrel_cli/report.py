"""What every analysis returns: a Report made of Checks.

Renderers read these objects and never compute; analyses build them and never
print. The JSON shape (``Report.to_dict``) is documented in docs/reports.md
and versioned by ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"

    @property
    def severity(self) -> int:
        """Order used to combine statuses and to list the worst checks first."""
        return _SEVERITY[self]


_SEVERITY = {
    Status.SKIPPED: 0,
    Status.PASS: 1,
    Status.WARN: 2,
    Status.INCONCLUSIVE: 3,
    Status.FAIL: 4,
}

EXIT_CODES = {
    Status.PASS: 0,
    Status.WARN: 0,
    Status.SKIPPED: 0,
    Status.FAIL: 1,
    Status.INCONCLUSIVE: 3,
}


@dataclass(frozen=True)
class Check:
    """One judged quantity.

    ``threshold`` is the limit the value was judged against (``None`` when the
    check only reports), ``source`` the policy file (or ``default``) the
    threshold came from, ``details`` the evidence, such as the top offending
    values.
    """

    name: str
    status: Status
    value: Any = None
    threshold: Any = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "value": jsonable(self.value),
            "threshold": jsonable(self.threshold),
            "message": self.message,
            "source": self.source,
            "details": jsonable(self.details),
        }


def overall_status(checks: list[Check] | tuple[Check, ...]) -> Status:
    """The worst status among the checks: a definite failure outranks an inconclusive one."""
    worst = Status.PASS
    for check in checks:
        if check.status.severity > worst.severity:
            worst = check.status
    return worst


@dataclass(frozen=True)
class Report:
    command: str
    status: Status
    summary: str
    checks: tuple[Check, ...]
    inputs: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    # set by the CLI: --inconclusive pass|fail maps an inconclusive verdict to 0 or 1 for a CI gate
    inconclusive_exit: int = 3
    duration_s: float | None = None

    @property
    def exit_code(self) -> int:
        return self.inconclusive_exit if self.status == Status.INCONCLUSIVE else EXIT_CODES[self.status]

    def ordered_checks(self) -> list[Check]:
        """Worst first, then in the order the analysis produced them."""
        indexed = list(enumerate(self.checks))
        indexed.sort(key=lambda item: (-item[1].status.severity, item[0]))
        return [check for _, check in indexed]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for check in self.checks:
            counts[check.status.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "generated_at": self.generated_at,
            "duration_s": self.duration_s,
            "inputs": jsonable(self.inputs),
            "counts": self.counts(),
            "checks": [check.to_dict() for check in self.checks],
        }
        for key, value in self.sections.items():
            out[key] = jsonable(value)
        return out


def jsonable(value: Any) -> Any:
    """Turn numpy scalars, NaN, datetimes, tuples and payload dataclasses into plain JSON values.

    NaN and infinities become ``null``: JSON has no spelling for them, and a
    consumer in another language must be able to parse every report.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, StrEnum):
        return value.value
    to_dict = getattr(value, "to_dict", None)  # a typed payload (drift's FeatureDrift, ...): its documented shape
    if callable(to_dict):
        return jsonable(to_dict())
    if is_dataclass(value) and not isinstance(value, type):  # a typed payload (mlrel_cli/payloads/)
        to_json = getattr(value, "to_json", None)
        return jsonable(to_json() if callable(to_json) else {f.name: getattr(value, f.name) for f in fields(value)})
    # numpy scalars without importing numpy here
    item = getattr(value, "item", None)
    if callable(item):
        return jsonable(item())
    return str(value)
