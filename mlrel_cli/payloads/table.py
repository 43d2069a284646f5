"""A command's own table (registry show's versions, its history, the drill's faults, retrain-set's segment mix):
the report's ``table``, which the terminal and Markdown formats print under the checks (docs/reports.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": [list(row) for row in self.rows]}
