"""What drift reports of a feature that the post-mortem reports too: the categories the reference never had."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NewCategory:
    value: Any
    count: int


@dataclass(frozen=True)
class Unseen:
    """Categories of a feature the reference never had (drift's ``unseen``): how many, their rows and share of the
    current log's present rows, the most frequent first. JSON by its fields, in this order (docs/reports.md)."""

    categories: int
    rows: int
    fraction: float
    top: tuple[NewCategory, ...] = ()
