"""A candidate against its baseline: the slices where its loss is higher (compare's weak segments, docs/segments.md).

Both sides are binned alike (the same codes mean the same rows) and summed per slice (``stats.slices.SliceSums``):
from each row's codes and loss (``regression_sums``, a pair summed when the search asks for it), or merged from
row groups. ``judge_regressions`` tries the single conditions, then the pairs in column order within the budget,
tests each slice (Welch's t against the ``min_effect`` margin) and corrects over every slice tried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrel_cli.stats.slices import (
    LOSS,
    ROWS,
    Binned,
    Condition,
    Config,
    Search,
    SliceSums,
    Tested,
    add_pair,
    conditions_of,
    reported,
    searchable_of,
    single_sums,
    welch_from_sums,
)


@dataclass
class RegressionSums:
    """A candidate against its baseline over the same bins, as the search judges it: per side, the per-slice sums
    of a loss, ``[measured, baseline]`` (canary: the candidate's own loss; shadow, ``paired``: each request's loss
    difference, then the candidate's loss too, to report it). ``pair(i, j)`` sums a column pair into every side when
    the rows are at hand, so the time budget can stop the search; None when every pair is summed already (merged
    from a cluster's row groups)."""

    conditions: list[tuple[Condition | None, ...]]
    sides: list[SliceSums]
    paired: bool
    metric: str = ""
    pair: Callable[[int, int], None] | None = None


def regression_sums(
    columns: list[Binned],
    baseline_loss: np.ndarray,
    candidate_loss: np.ndarray,
    candidate_codes: list[np.ndarray] | None = None,
    metric: str = "",
) -> RegressionSums:
    """The sums from each row's codes and loss: the single conditions now, each pair when the search asks for it.
    Paired (shadow) when ``candidate_codes`` is None: both losses are of the same requests, row by row."""
    base_codes = [c.codes for c in columns]
    cand_codes = base_codes if candidate_codes is None else candidate_codes
    sizes = tuple(len(c.conditions) for c in columns)
    paired = candidate_codes is None
    measured = candidate_loss - baseline_loss if paired else candidate_loss
    sides = [(cand_codes, measured), (base_codes, baseline_loss)]
    if paired:
        sides.append((cand_codes, candidate_loss))  # the candidate's own mean per slice, to report it
    sums = [single_sums(codes, sizes, loss, None) for codes, loss in sides]
    squares = [loss * loss for _, loss in sides]

    def pair(i: int, j: int) -> None:
        for part, (codes, loss), square in zip(sums, sides, squares, strict=True):
            add_pair(part, codes, i, j, loss, square, None)

    return RegressionSums([c.conditions for c in columns], sums, paired, metric, pair)


def search_regressions(
    columns: list[Binned],
    baseline_loss: np.ndarray,
    config: Config,
    candidate_loss: np.ndarray,
    candidate_codes: list[np.ndarray] | None = None,
) -> Search:
    """``judge_regressions`` on the sums of these codes and losses (``regression_sums``)."""
    return judge_regressions(regression_sums(columns, baseline_loss, candidate_loss, candidate_codes), config)


def judge_regressions(found: RegressionSums, config: Config) -> Search:
    """Slices where a candidate's loss is higher than the baseline's, by more than the ``min_effect`` margin.

    Paired (shadow): each slice's mean difference candidate - baseline is tested against zero (Welch against a
    group without spread, i.e. the one-sample t). Unpaired (canary): the candidate's mean loss in the slice against
    the baseline's in the same slice. Benjamini-Hochberg over every slice tried; a pair is dropped when a reported
    parent is as bad (the pair's interval reaches below the parent's delta). ``inside`` is the candidate's mean
    loss in the slice, ``outside`` the baseline's.
    """
    tried = _Tried.of(found, config)
    first, base = tried.cells[0], tried.cells[1]
    cand = tried.cells[-1] if found.paired else first
    against = np.zeros_like(first)
    against[ROWS] = np.inf  # a group with mean 0 and no spread: Welch's t becomes the one-sample t
    tested = Tested.of(first, against if found.paired else base, config)
    hits = [int(h) for h in tested.hits(config)]

    def regresses(rest: int, child: int) -> bool:
        """Is a parent still worse once the reported child is taken out of it?"""
        part = (first[:, rest] - first[:, child])[:, None]
        other = against[:, :1] if found.paired else (base[:, rest] - base[:, child])[:, None]
        return bool(welch_from_sums(part, other, config.min_effect).p_value[0] <= config.alpha)

    singles = {tried.keys[h]: h for h in hits if len(tried.keys[h]) == 2}
    kept: list[int] = []
    dropped: set[int] = set()
    for h in hits:
        key = tried.keys[h]
        if len(key) == 4:
            parents = [singles[p] for p in ((key[0], key[2]), (key[1], key[3])) if p in singles]
            if any(tested.low[h] <= tested.welch.delta[p] for p in parents):
                continue
            dropped.update(p for p in parents if not regresses(p, h))
        kept.append(h)
    slices = [
        tested.slice(
            h,
            conditions_of(found.conditions, tried.keys[h]),
            int(cand[ROWS, h]),
            cand[LOSS, h] / cand[ROWS, h],
            base[LOSS, h] / base[ROWS, h],
        )
        for h in kept
        if h not in dropped
    ]
    return Search(
        reported(slices, config), len(tried.keys), tried.pairs_searched, tried.pairs_possible, tried.stopped_by, len(hits)
    )


@dataclass
class _Tried:
    """The slices a regression search tries: every single condition with ``min_rows`` on both sides, then the pairs
    in column order while the budget lasts; their cell index and, per side, their sums."""

    keys: list[tuple[int, ...]]  # (i, code) or (i, j, code_i, code_j)
    cells: list[np.ndarray]  # per side, (4, len(keys))
    pairs_searched: int
    pairs_possible: int
    stopped_by: str | None

    @classmethod
    def of(cls, found: RegressionSums, config: Config) -> _Tried:
        deadline = None if found.pair is None else time.monotonic() + config.budget.seconds
        searchable = searchable_of(found.conditions)
        keys: list[tuple[int, ...]] = []
        cells: list[list[np.ndarray]] = [[] for _ in found.sides]

        def add(parts: list[np.ndarray], mask: np.ndarray, index: Any) -> None:
            ok = mask & (parts[0][ROWS] >= config.min_rows) & (parts[1][ROWS] >= config.min_rows)
            chosen = np.flatnonzero(ok)[: max(config.budget.max_slices - len(keys), 0)]
            keys.extend(index(int(k)) for k in chosen)
            for side, part in zip(cells, parts, strict=True):
                side.append(part[:, chosen])

        for i in range(len(found.conditions)):
            add([s.singles[i] for s in found.sides], searchable[i], lambda k, i=i: (i, k))
        pairs = [(i, j) for i in range(len(found.conditions)) for j in range(i + 1, len(found.conditions))]
        searched, stopped_by = 0, None
        for i, j in pairs:
            if len(keys) >= config.budget.max_slices or (deadline is not None and time.monotonic() > deadline):
                stopped_by = "max_slices" if len(keys) >= config.budget.max_slices else "seconds"
                break
            if found.pair is not None and (i, j) not in found.sides[0].pairs:
                found.pair(i, j)
            searched += 1
            kj = found.sides[0].sizes[j]
            mask = np.outer(searchable[i], searchable[j]).ravel()
            add([s.pairs[(i, j)] for s in found.sides], mask, lambda k, i=i, j=j, kj=kj: (i, j, k // kj, k % kj))
        stacked = [np.concatenate(side, axis=1) if side else np.zeros((4, 0)) for side in cells]
        return cls(keys, stacked, searched, len(pairs), stopped_by)
