"""How a check's value and threshold read to a person; shared by the text formats."""

from __future__ import annotations

from typing import Any

from mlrel_cli.report import Check

_FRACTION_PREFIXES = ("missing:", "range:", "unseen:", "duplicates", "label_coverage", "prediction")


def fmt_value(check: Check, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        parts = [f"{k} {fmt_value(check, v)}" for k, v in value.items() if v is not None]
        return ", ".join(parts) if parts else "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if check.name.startswith(_FRACTION_PREFIXES):
            return f"{value:.2%}" if value >= 0.0001 or value == 0 else f"{value:.2e}"
        if check.name in ("freshness", "label_lag"):
            return _seconds(value)
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}s"


def top_offenders(check: Check, limit: int = 3) -> str:
    top = check.details.get("top") if check.details else None
    if not top:
        return ""
    items = []
    for item in top[:limit]:
        if isinstance(item, dict):
            items.append(f"{item.get('value')!s} ({item.get('count', '')})")
        else:
            items.append(f"{item:g}" if isinstance(item, float) else str(item))
    return ", ".join(items)
