"""`mlrel compare`'s weak segments: the slices where a candidate regresses against the baseline (docs/segments.md).

The baseline is the reference: numeric bins are its quantiles and categories its (and the candidate's) most
frequent values, so a slice means the same rows on both sides. In shadow mode the requests pair on the id and
each slice's mean per-request loss difference is tested; in canary mode each side's own rows in the slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import ranking_slices, weak_segments
from mlrel_cli.facts.models import SLICE_PREFIX
from mlrel_cli.logs import Log, Roles, kind_of_type, to_numpy_float
from mlrel_cli.payloads.compare import WeakRegressions
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.names import RANKING
from mlrel_cli.stats.slices import Binned, bin_categories, bin_numeric, numeric_edges
from mlrel_cli.tasks import per_query, task_of

if TYPE_CHECKING:
    from mlrel_cli.facts.models import ModelRows

PREFIX = SLICE_PREFIX


def columns_to_read(log: Log, roles: Roles, policy: Policy, has_labels: bool) -> dict[str, str]:
    """Table key -> log column for the searched columns, when the search will run (labels, enabled)."""
    if not (policy.compare.weak_segments.enabled and has_labels):
        return {}
    kinds = weak_segments.searched_columns(log, roles.features, roles.segments, policy.validate_.weak_segments)
    return {f"{PREFIX}{kind}:{name}": name for name, kind in kinds.items()}


def _loss(task: str, model: ModelRows, rows: np.ndarray) -> tuple[str, np.ndarray]:
    predicted = model.predicted(task)
    assert predicted is not None and model.truth is not None
    metric, loss, _ = weak_segments.per_row_loss(task, model.truth[rows], predicted[rows])
    return metric, loss


def _bin(name: str, kind: str, base: pa.ChunkedArray, cand: pa.ChunkedArray, top: int, bins: int) -> tuple[Binned, Binned]:
    """Both sides binned alike: the baseline's quantile edges, categories from one dictionary."""
    if kind == "numeric" and kind_of_type(base.type) == "numeric":
        b, c = to_numpy_float(base), to_numpy_float(cand)
        edges = numeric_edges(b, bins)
        return bin_numeric(name, b, edges), bin_numeric(name, c, edges)
    both = pa.chunked_array([*base.chunks, *cand.chunks], type=base.type) if base.type == cand.type else None
    if both is None:
        both = pa.chunked_array([pc.cast(base, pa.string()).combine_chunks(), pc.cast(cand, pa.string()).combine_chunks()])
    array = both.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    encoded = pc.dictionary_encode(array)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    binned = bin_categories(name, codes, encoded.dictionary.to_pylist(), top)
    n = len(base)
    return Binned(name, binned.codes[:n], binned.conditions), Binned(name, binned.codes[n:], binned.conditions)


def regressions(task: str, base: ModelRows, cand: ModelRows, policy: Policy, mode: str) -> WeakRegressions | None:
    """The search's result for one candidate, or None when it cannot run (no labels, a task without a loss)."""
    from mlrel_cli.stats.slices import search_regressions

    if not base.slice_columns or task_of(task) is None:
        return None
    if base.truth is None or cand.truth is None:
        return None
    cfg = policy.validate_.weak_segments
    config = weak_segments.config_of(cfg, task)
    if per_query(task):
        return _ranking_regressions(base, cand, policy, mode)
    if mode == "shadow":
        if base.ids is None or cand.ids is None:
            return None
        index = pc.index_in(cand.ids, value_set=base.ids)
        in_base = index.fill_null(-1).to_numpy(zero_copy_only=False)
        cand_rows = np.flatnonzero((in_base >= 0) & cand.labelled)
        base_rows = in_base[cand_rows]
        keep = base.labelled[base_rows]
        cand_rows, base_rows = cand_rows[keep], base_rows[keep]
        metric, base_loss = _loss(task, base, base_rows)
        _, cand_loss = _loss(task, cand, cand_rows)
        columns = []
        for name, (kind, values) in base.slice_columns.items():
            picked = values.take(pa.array(base_rows))
            columns.append(_bin(name, kind, picked, picked, cfg.top_categories, cfg.bins)[0])
        found = search_regressions(columns, base_loss, config, cand_loss)
    else:
        base_rows, cand_rows = np.flatnonzero(base.labelled), np.flatnonzero(cand.labelled)
        metric, base_loss = _loss(task, base, base_rows)
        _, cand_loss = _loss(task, cand, cand_rows)
        columns, cand_codes = [], []
        for name, (kind, values) in base.slice_columns.items():
            if name not in cand.slice_columns:
                continue
            b, c = _bin(
                name,
                kind,
                values.take(pa.array(base_rows)),
                cand.slice_columns[name][1].take(pa.array(cand_rows)),
                cfg.top_categories,
                cfg.bins,
            )
            columns.append(b)
            cand_codes.append(c.codes)
        found = search_regressions(columns, base_loss, config, cand_loss, cand_codes)
    return WeakRegressions(
        metric, mode == "shadow", found.tried, found.pairs_searched, found.pairs_possible, found.stopped_by, found.slices
    )


def _ranking_regressions(base: ModelRows, cand: ModelRows, policy: Policy, mode: str) -> WeakRegressions | None:
    """The slices of queries where the candidate's NDCG@k is lower than the baseline's (its 1 - NDCG@k higher), on
    the query-level columns of both logs (docs/segments.md, "Ranking logs"). Canary mode only: in shadow mode the
    two models ranked the same queries, but their results pair on no id."""
    from mlrel_cli.stats.slices import search_regressions

    if mode == "shadow" or base.query is None or cand.query is None or base.position is None or cand.position is None:
        return None
    cfg = policy.validate_.weak_segments
    k = policy.validate_.performance.k
    sides = []
    for query, position, model in ((base.query, base.position, base), (cand.query, cand.position, cand)):
        keep = model.labelled & (query >= 0) & np.isfinite(position)
        assert model.truth is not None
        sides.append(ranking_slices.QueryRows.of(query, position, model.truth, keep, k))
    judged = [np.isfinite(side.loss) for side in sides]
    columns, cand_codes = [], []
    for name, (kind, values) in base.slice_columns.items():
        if name not in cand.slice_columns:
            continue
        of_base, of_cand = sides[0].values(values), sides[1].values(cand.slice_columns[name][1])
        if of_base is None or of_cand is None:  # not a query-level column
            continue
        b, c = pa.chunked_array([of_base.filter(pa.array(judged[0]))]), pa.chunked_array([of_cand.filter(pa.array(judged[1]))])
        binned_b, binned_c = _bin(name, kind, b, c, cfg.top_categories, cfg.bins)
        columns.append(binned_b)
        cand_codes.append(binned_c.codes)
    if not columns:
        return None
    config = weak_segments.config_of(cfg, RANKING)
    found = search_regressions(columns, sides[0].loss[judged[0]], config, sides[1].loss[judged[1]], cand_codes)
    return WeakRegressions(
        ranking_slices.METRIC, False, found.tried, found.pairs_searched, found.pairs_possible, found.stopped_by, found.slices
    )


def verdict(verdict: str, reasons: list[str], found: WeakRegressions | None, policy: Policy) -> tuple[str, list[str]]:
    """With ``compare.weak_segments.reject``, a slice where the candidate regresses rejects it."""
    if not found or not found.slices:
        return verdict, reasons
    worst = found.slices[0]
    text = (
        f"weak segment {worst.label}: {found.metric} {worst.outside:.4g} -> {worst.inside:.4g} "
        f"({worst.delta:+.3g} [{worst.ci_low:+.3g}, {worst.ci_high:+.3g}], adjusted p {worst.adjusted_p:.2g})"
    )
    if policy.compare.weak_segments.reject:
        return "reject", [*reasons, text] if verdict == "reject" else [text, *reasons]
    note = f"{text}: noted, not gating"
    if verdict == "promote":  # before the last reason, which the summary of a promotion quotes
        return verdict, [*reasons[:-1], note, *reasons[-1:]]
    return verdict, [*reasons, note]


def check(version: str, found: WeakRegressions | None, policy: Policy) -> Check | None:
    if found is None:
        return None
    name = f"{version}:weak_segments"
    details = {k: v for k, v in found.to_dict().items() if k != "labels"}
    if not found.slices:
        return Check(name, Status.PASS, value=0.0, message=f"no slice of {found.tried:,} tried regresses", details=details)
    worst = found.slices[0]
    status = Status.FAIL if policy.compare.weak_segments.reject else Status.WARN
    return Check(
        name,
        status,
        value=worst.delta,
        message=f"{len(found.slices)} slice(s) where the candidate regresses; worst: {worst.label} "
        f"({worst.rows:,} rows): {found.metric} {worst.outside:.4g} -> {worst.inside:.4g}",
        details=details,
        source=policy.source_of("compare.weak_segments.reject"),
    )
