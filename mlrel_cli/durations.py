"""Durations as people write them in policies and options: ``30s``, ``15m``, ``1h``, ``1d``, ``2w``."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> dt.timedelta:
    """Parse ``<number><unit>`` with unit one of s, m, h, d, w; raise ValueError otherwise."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a duration (use a number and s, m, h, d or w, such as 15m or 1h)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration '{text}' must be positive")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    """The shortest exact spelling, so a parsed duration prints back as written."""
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
