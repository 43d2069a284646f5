"""A weak slice (docs/segments.md) and the report's ``weak_segments`` rows, which validate, compare and the
post-mortem share and render/segments.py renders for all three."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _num(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class Condition:
    """``op`` is ``==`` (a category), ``<``, ``>=`` or ``between`` (a numeric bin, ``[lo, hi)``) or ``missing``."""

    column: str
    op: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        if self.op == "missing":
            return f"{self.column} is missing"
        if self.op == "between":
            return f"{_num(self.value[0])} <= {self.column} < {_num(self.value[1])}"
        value = _num(self.value) if isinstance(self.value, float) else self.value
        return f"{self.column} {self.op} {value}"


@dataclass(frozen=True)
class WeakSlice:
    """A slice whose loss is higher inside than outside (or, searching regressions, on the candidate's side)."""

    conditions: tuple[Condition, ...]
    rows: int
    inside: float
    outside: float
    delta: float
    ci_low: float
    ci_high: float
    effect: float
    p_value: float
    adjusted_p: float

    def to_dict(self, metric: str) -> dict[str, Any]:
        return {
            "conditions": [c.to_dict() for c in self.conditions],
            "rows": self.rows,
            "metric": metric,
            "inside": self.inside,
            "outside": self.outside,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "effect": self.effect,
            "p_value": self.p_value,
            "adjusted_p": self.adjusted_p,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> WeakSlice:
        """Back from ``to_dict`` (validate's check keeps its slices in its free-form details)."""
        conditions = tuple(Condition(c["column"], c["op"], c.get("value")) for c in row["conditions"])
        names = ("rows", "inside", "outside", "delta", "ci_low", "ci_high", "effect", "p_value", "adjusted_p")
        return cls(conditions, **{name: row[name] for name in names})

    @property
    def label(self) -> str:
        return " and ".join(str(c) for c in self.conditions)


@dataclass(frozen=True)
class WeakSegment:
    """One row of the report's ``weak_segments`` list: a slice and the loss it was searched on; compare names the
    candidate that regresses there, the post-mortem adds the slice's label (its JSON says so, docs/reports.md)."""

    slice: WeakSlice
    metric: str
    candidate: str | None = None
    labelled: bool = False

    @property
    def label(self) -> str:
        return self.slice.label

    def to_json(self) -> dict[str, Any]:
        out = self.slice.to_dict(self.metric)
        if self.labelled:
            out["label"] = self.label
        if self.candidate is not None:
            out["candidate"] = self.candidate
        return out
