"""How a check's value and threshold read to a person; shared by the text formats."""

from __future__ import annotations

import re
from typing import Any

from mlrel_cli.report import Check

# what data must never carry into a report: characters XML 1.0 forbids (NUL, ESC and the other C0
# controls, lone surrogates, U+FFFE/FFFF) and those a terminal obeys (DEL, the C1 controls such as CSI)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def scrub(text: str, newlines: bool = True) -> str:
    """Control characters from the data shown as visible escapes (ESC -> \\x1b); tab and newline kept if asked."""
    return (_CONTROL if newlines else _CONTROL_OR_NEWLINE).sub(_escape, text)


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


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(
    scores: list[float | None],
    statuses: list[str],
    threshold: float | None = None,
    is_test: bool = False,
    width: int = 32,
) -> list[tuple[str, str]]:
    """Window scores as block characters, each with the status of its window(s).

    Heights are relative to twice the threshold (the threshold is half
    height), so a stable feature reads low and a drifted one high. More windows than
    ``width`` are grouped, keeping the highest score and the worst status of
    each group, so a breach is never averaged away. For tests (p-values) the
    height follows the status.
    """
    if not scores:
        return []
    groups = max(1, -(-len(scores) // width))
    order = {"fail": 4, "inconclusive": 3, "warn": 2, "pass": 1, "skipped": 0}
    cells: list[tuple[float | None, str]] = []
    for start in range(0, len(scores), groups):
        chunk = [s for s in scores[start : start + groups] if s is not None]
        status = max(statuses[start : start + groups], key=lambda s: order.get(s, 0))
        cells.append((max(chunk) if chunk else None, status))
    finite = [c for c, _ in cells if c is not None]
    scale = 2 * threshold if threshold and threshold > 0 else (max(finite) if finite else 0.0)
    top = len(BLOCKS) - 1
    out = []
    for value, status in cells:
        if value is None:
            out.append(("·", status))  # an empty or unjudged window; a space would let the line wrap
        elif is_test:
            out.append((BLOCKS[top if status == "fail" else 1], status))
        else:
            level = 0 if scale <= 0 else max(0, min(top, int(value / scale * top)))  # below 0: better than the reference
            out.append((BLOCKS[level], status))
    return out
