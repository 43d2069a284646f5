"""Merging profiles (seven daily ones into a weekly reference: counts exact, sketches within their bound) and
describing one (``mlrel profile show``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.errors import LogError
from mlrel_cli.facts.profile import ColumnProfile, Profile, SketchSummary, mlrel_version
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, TooManyCategories


def _merge_columns(a: ColumnProfile, b: ColumnProfile, exact: bool) -> ColumnProfile:
    if (a.role, a.kind) != (b.role, b.kind):
        raise LogError(f"column '{a.name}' is {a.kind} {a.role} in one profile, {b.kind} {b.role} in another")
    out = ColumnProfile(
        a.name,
        a.role,
        a.type,
        a.kind,
        a.rows + b.rows,
        a.present + b.present,
        None if a.distinct is None or b.distinct is None else max(a.distinct, b.distinct),
    )
    out.extremes = (float(np.fmin(a.extremes[0], b.extremes[0])), float(np.fmax(a.extremes[1], b.extremes[1])))
    if a.sketch is not None and b.sketch is not None and a.numeric is not None and b.numeric is not None:
        out.sketch = a.sketch.merge(b.sketch)
        out.numeric = a.numeric.merge(b.numeric) if exact else SketchSummary.of(out.sketch)
    if a.categorical is not None and b.categorical is not None:
        merged = capped_merge(a.categorical, b.categorical)
        out.categorical = merged
        if isinstance(merged, CategoricalSummary):  # kept categories are the exact distinct set; else max() is a
            out.distinct = len(merged.categories)  # lower bound, enough for drift's "at most 20 values" test
    if a.cells is not None and b.cells is not None:
        out.cells = pa.concat_arrays([a.cells, b.cells.cast(a.cells.type)])
        if not exact:  # sampled cells: each part keeps its share of the labelled rows
            out.cells = _shares(a.cells, b.cells.cast(a.cells.type), a.present, b.present)
    return out


def _shares(a: pa.Array, b: pa.Array, rows_a: int, rows_b: int) -> pa.Array:
    """Two samples as one sample of at most 2 * SE_MAX_ROWS rows, each in proportion to the rows it stands for."""
    from mlrel_cli.stats.inference import SE_MAX_ROWS

    size = min(2 * SE_MAX_ROWS, len(a) + len(b))
    take_a = min(len(a), round(size * rows_a / max(rows_a + rows_b, 1)))
    take_b = min(len(b), size - take_a)
    keep_a = np.sort(np.random.default_rng(0).choice(len(a), take_a, replace=False))
    keep_b = np.sort(np.random.default_rng(1).choice(len(b), take_b, replace=False))
    return pa.concat_arrays([a.take(pa.array(keep_a)), b.take(pa.array(keep_b))])


def capped_merge(
    a: CategoricalSummary | TooManyCategories, b: CategoricalSummary | TooManyCategories
) -> CategoricalSummary | TooManyCategories:
    from mlrel_cli.stats.summaries import capped

    return capped(a.merge(b))


def merge_profiles(profiles: list[Profile], names: list[str]) -> Profile:
    """Counts add; exact values merge as sorted runs; sketches merge within their rank bound (stats/sketch.py)."""
    first = profiles[0]
    for profile, name in zip(profiles[1:], names[1:], strict=True):
        if profile.meta["policy_hash"] != first.meta["policy_hash"]:
            raise LogError(f"built with another policy than {names[0]} (the column mapping or the features differ)", name)
        if profile.meta["mode"] != first.meta["mode"]:
            raise LogError(
                f"a profile in {profile.meta['mode']} mode cannot merge with {names[0]}, in {first.meta['mode']} mode", name
            )
        if set(profile.columns) != set(first.columns):
            differ = sorted(set(profile.columns) ^ set(first.columns))
            raise LogError(f"profiles a different set of columns than {names[0]}: {', '.join(differ)}", name)
    columns = dict(first.columns)
    for profile in profiles[1:]:
        columns = {n: _merge_columns(c, profile.columns[n], first.exact) for n, c in columns.items()}
    spans = [p.meta["time_span"] for p in profiles if p.meta.get("time_span")]
    tasks = {p.meta.get("task") for p in profiles}
    meta = {
        **first.meta,
        "rows": sum(int(p.meta["rows"]) for p in profiles),
        "time_span": None
        if not spans
        else {"column": spans[0]["column"], "oldest": min(s["oldest"] for s in spans), "newest": max(s["newest"] for s in spans)},
        "sources": [s for p in profiles for s in p.meta["sources"]],
        "task": tasks.pop() if len(tasks) == 1 else None,
        "merged_from": len(profiles),
        "labelled": _merged_labelled(profiles),
        "proxy": _merged_proxies(profiles),
        "mlrel_version": mlrel_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return Profile(meta=meta, log_schema=first.log_schema, columns=columns)


def _merged_proxies(profiles: list[Profile]) -> dict[str, Any]:
    """Proxy sums add (per request and per query alike: the parts' rows and queries are disjoint); a metric some
    part lacks, or defines otherwise, is dropped, and drift says so when the policy asks for it."""
    parts = [p.meta.get("proxy") or {} for p in profiles]
    out = {}
    for name, first in parts[0].items():
        same = [part.get(name) for part in parts]
        definition = {k: first.get(k) for k in ("kind", "inputs", "per")}
        if any(s is None or {k: s.get(k) for k in definition} != definition for s in same):
            continue
        sums = {key: sum(s["sums"][key] for s in same if s is not None) for key in first["sums"]}
        out[name] = {**definition, "sums": sums}
    return out


def _merged_labelled(profiles: list[Profile]) -> dict[str, Any] | None:
    """Labelled rows add; a sketch profile's metrics are averaged by labelled rows (an approximation: an AUC of a
    union is not the mean of the AUCs), and its sampled cells were cut to their shares in _merge_columns."""
    found = [p.meta.get("labelled") for p in profiles]
    parts: list[dict[str, Any]] = [part for part in found if part is not None]
    if len(parts) < len(found):
        return None
    rows = sum(int(part["rows"]) for part in parts)
    if parts[0]["metrics"] is None or rows == 0:
        return {"rows": rows, "metrics": None}
    metrics: dict[str, float | None] = {}
    for name in parts[0]["metrics"]:
        values = [(part["metrics"].get(name), int(part["rows"])) for part in parts]
        known = [(v, n) for v, n in values if v is not None]
        metrics[name] = sum(v * n for v, n in known) / sum(n for _, n in known) if known else None
    return {"rows": rows, "metrics": metrics, "metrics_approximate": True}


def describe(profile: Profile, as_json: bool = False) -> str:
    rows = []
    for c in profile.columns.values():
        summary = c.numeric if c.numeric is not None else c.categorical
        missing = summary.missing_rate if summary is not None else 0.0
        entry: dict[str, Any] = {
            "column": c.name,
            "role": c.role,
            "kind": c.kind,
            "type": c.type,
            "rows": c.rows,
            "missing_rate": missing,
            "distinct": c.distinct,
        }
        if c.sketch is not None:
            entry.update(low=c.sketch.low, high=c.sketch.high, points=len(c.sketch.points))
        if isinstance(c.categorical, CategoricalSummary):
            entry["categories"] = len(c.categorical.categories)
        elif isinstance(c.categorical, TooManyCategories):
            entry["categories"] = f"more than {MAX_CATEGORIES:,}"
        entry["labelled_cells"] = len(c.cells) if c.cells is not None else 0
        rows.append(entry)
    if as_json:
        return json.dumps({"meta": profile.meta, "columns": rows}, indent=2, default=str)
    meta = profile.meta
    span = meta.get("time_span") or {}
    lines = [
        f"mlrel profile, schema_version {meta['schema_version']}, {meta['mode']} mode, built by mlrel {meta['mlrel_version']}",
        f"rows: {meta['rows']:,}" + (f"  time span: {span['oldest']} .. {span['newest']}" if span else ""),
        f"task: {meta.get('task')}  policy hash: {meta['policy_hash'][:16]}",
        "sources:",
        *(f"  {s['path']}  sha256 {s['sha256']}" for s in meta["sources"]),
        "columns:",
    ]
    for r in rows:
        detail = f"range {r['low']:.4g} .. {r['high']:.4g}" if "low" in r else ""
        if "categories" in r:
            detail = (detail + "  " if detail else "") + f"{r['categories']} categories"
        lines.append(f"  {r['column']:<24} {r['role']:<10} {r['kind']:<11} missing {r['missing_rate']:.2%}  {detail}")
    return "\n".join(lines)
