"""Validate's rows per segment value (the report's ``segments``), typed until the JSON edge (docs/reports.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SegmentRow:
    """One value of a segment column: its labelled rows and, when judged, its metrics; else why not."""

    segment: str
    value: Any
    rows: int
    judged: bool
    why: str | None = None  # not judged: why
    metrics: dict[str, float] | None = None  # judged: the label metrics on its rows

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"segment": self.segment, "value": self.value, "rows": self.rows, "judged": self.judged}
        if self.judged:
            out["metrics"] = self.metrics
        else:
            out["why"] = self.why
        return out
