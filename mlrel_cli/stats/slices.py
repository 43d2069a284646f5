"""Weak segments: the slices of a log where the per-row loss concentrates, with false discoveries controlled.

A slice is one condition, or the conjunction of two, over pre-binned columns (each row carries one integer
code per column). Everything is judged from per-cell sums (rows, loss, loss², positives) built with
``np.bincount``, so the search never loops over rows and the sums of two parts of a log add up
(``SliceSums.merge``): another engine can build them next to the data. Each slice is tested inside vs
outside by Welch's t on the per-row loss means (one-sided: worse inside by more than ``min_effect``),
Benjamini-Hochberg adjusts the p-values over every slice tried, and a slice is reported only when significant
and large enough (SliceFinder's effect size, Chung et al. 2019); a two-condition slice its parent explains is dropped, and a
parent whose excess is all in one reported child too. See docs/segments.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlrel_cli.payloads.slices import Condition, WeakSlice
from mlrel_cli.stats.drift import adjust_p_values

# the four sums kept per cell
ROWS, LOSS, LOSS2, POSITIVES = range(4)


@dataclass(frozen=True)
class Binned:
    """One column as codes ``0..len(conditions)-1``; a code whose condition is ``None`` (the rare categories
    pooled together) is counted but never searched as a slice."""

    name: str
    codes: np.ndarray
    conditions: tuple[Condition | None, ...]


def numeric_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner quantile edges of a numeric column (NaN ignored), repeated edges dropped."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return np.empty(0)
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_numeric(name: str, values: np.ndarray, edges: np.ndarray) -> Binned:
    """Codes ``0..len(edges)`` for the ranges between the edges, one more for a missing (NaN) value."""
    codes = np.searchsorted(edges, values, side="right").astype(np.int32)
    missing = ~np.isfinite(values)
    codes[missing] = len(edges) + 1
    conditions: list[Condition | None] = []
    for i in range(len(edges) + 1):
        if i == 0:
            conditions.append(Condition(name, "<", float(edges[0])) if len(edges) else None)
        elif i == len(edges):
            conditions.append(Condition(name, ">=", float(edges[-1])))
        else:
            conditions.append(Condition(name, "between", [float(edges[i - 1]), float(edges[i])]))
    conditions.append(Condition(name, "missing") if missing.any() else None)
    return Binned(name, codes, tuple(conditions))


def bin_categories(name: str, codes: np.ndarray, values: list[Any], top: int) -> Binned:
    """Category codes (``-1`` for missing) regrouped: the ``top`` most frequent, the rest pooled, then missing."""
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=len(values))
    keep = np.argsort(-counts, kind="stable")[: min(top, len(values))]
    keep = keep[counts[keep] > 0]
    lookup = np.full(len(values), len(keep), dtype=np.int32)
    lookup[keep] = np.arange(len(keep), dtype=np.int32)
    out = np.full(len(codes), len(keep) + 1, dtype=np.int32)
    out[valid] = lookup[codes[valid]]
    conditions: list[Condition | None] = [Condition(name, "==", values[i]) for i in keep]
    conditions.append(None)  # the pooled rare categories
    conditions.append(Condition(name, "missing") if (~valid).any() else None)
    return Binned(name, out, tuple(conditions))


PACK = float(2**26)  # rows and positives share one exact float64 sum below this many rows


def _cell_sums(codes: np.ndarray, cells: int, loss: np.ndarray, loss2: np.ndarray, packed: np.ndarray | None) -> np.ndarray:
    """Rows, loss, loss² and positives per cell: three or four bincounts, the hot loop of the search."""
    codes = codes.astype(np.intp, copy=False)  # bincount converts to intp anyway, once per call
    out = np.zeros((4, cells))
    out[LOSS] = np.bincount(codes, weights=loss, minlength=cells)
    out[LOSS2] = np.bincount(codes, weights=loss2, minlength=cells)
    if packed is None:
        out[ROWS] = np.bincount(codes, minlength=cells)
    elif len(codes) < PACK:
        both = np.bincount(codes, weights=packed, minlength=cells)  # rows + positives * 2**26, exact
        out[POSITIVES] = np.floor(both / PACK)
        out[ROWS] = both - out[POSITIVES] * PACK
    else:
        out[ROWS] = np.bincount(codes, minlength=cells)
        out[POSITIVES] = np.bincount(codes, weights=packed - 1.0, minlength=cells)
    return out


def _packed(positives: np.ndarray | None, n: int) -> np.ndarray | None:
    if positives is None:
        return None
    return 1.0 + positives.astype(np.float64) * (PACK if n < PACK else 1.0)


@dataclass
class SliceSums:
    """Per-cell sums over single columns and column pairs; two parts of a log merge by addition."""

    sizes: tuple[int, ...]  # codes per column
    total: np.ndarray  # (4,)
    singles: list[np.ndarray]  # (4, sizes[i])
    pairs: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (4, sizes[i] * sizes[j])

    def merge(self, other: SliceSums) -> SliceSums:
        if self.sizes != other.sizes or self.pairs.keys() != other.pairs.keys():
            raise ValueError("slice sums over different bins or pairs do not merge")
        return SliceSums(
            self.sizes,
            self.total + other.total,
            [a + b for a, b in zip(self.singles, other.singles, strict=True)],
            {key: self.pairs[key] + other.pairs[key] for key in self.pairs},
        )


def single_sums(codes: list[np.ndarray], sizes: tuple[int, ...], loss: np.ndarray, positives: np.ndarray | None) -> SliceSums:
    loss2 = loss * loss
    packed = _packed(positives, len(loss))
    total = np.array([len(loss), loss.sum(), loss2.sum(), 0.0 if positives is None else float(np.count_nonzero(positives))])
    singles = [_cell_sums(c, k, loss, loss2, packed) for c, k in zip(codes, sizes, strict=True)]
    return SliceSums(sizes, total, singles)


def add_pair_sums(
    sums: SliceSums,
    codes: list[np.ndarray],
    loss: np.ndarray,
    positives: np.ndarray | None,
    pairs: list[tuple[int, int]],
    deadline: float | None = None,
) -> bool:
    """Add the sums of these column pairs, in order; ``False`` when the deadline stopped it early."""
    loss2 = loss * loss
    packed = _packed(positives, len(loss))
    for i, j in pairs:
        if deadline is not None and time.monotonic() > deadline:
            return False
        add_pair(sums, codes, i, j, loss, loss2, packed)
    return True


def add_pair(
    sums: SliceSums, codes: list[np.ndarray], i: int, j: int, loss: np.ndarray, loss2: np.ndarray, packed: np.ndarray | None
) -> np.ndarray:
    combined = codes[i] * np.int32(sums.sizes[j]) + codes[j]
    cells = sums.pairs[(i, j)] = _cell_sums(combined, sums.sizes[i] * sums.sizes[j], loss, loss2, packed)
    return cells


# ---------------------------------------------------------------- tests on sums


@dataclass(frozen=True)
class Welch:
    """Welch's two-sample comparison of means, group 1 minus group 2, vectorised over slices."""

    mean1: np.ndarray
    mean2: np.ndarray
    delta: np.ndarray
    se: np.ndarray
    df: np.ndarray
    p_value: np.ndarray  # one-sided: group 1's mean is larger
    effect: np.ndarray  # sqrt(2) * delta / sqrt(var1 + var2), SliceFinder's effect size


def welch_from_sums(a: np.ndarray, b: np.ndarray, margin: float = 0.0) -> Welch:
    """Welch's t from (rows, sum, sum of squares) of two groups; each a ``(>=3, m)`` array of sums.

    ``margin`` > 0 tests whether group 1 is worse by more than that effect size: the null hypothesis is
    ``delta <= margin * sqrt((var1 + var2) / 2)`` (the spread taken as known), so a slice is significant only
    when it is large enough too. Testing against zero and filtering by effect afterwards would let the many
    real but diluted gaps (every slice that overlaps a weak one) loosen Benjamini-Hochberg's threshold, and
    the noise of small slices, whose effects are large by chance, pass it.
    """
    from scipy.special import stdtr

    with np.errstate(divide="ignore", invalid="ignore"):
        n1, n2 = a[ROWS], b[ROWS]
        m1, m2 = a[LOSS] / n1, b[LOSS] / n2
        v1 = np.maximum(a[LOSS2] - a[LOSS] * m1, 0.0) / (n1 - 1)
        v2 = np.maximum(b[LOSS2] - b[LOSS] * m2, 0.0) / (n2 - 1)
        q1, q2 = v1 / n1, v2 / n2
        se = np.sqrt(q1 + q2)
        delta = m1 - m2
        t = (delta - margin * np.sqrt((v1 + v2) / 2)) / se
        df = (q1 + q2) ** 2 / (q1**2 / (n1 - 1) + q2**2 / (n2 - 1))
        p = stdtr(df, -t)
        # no spread on either side: the difference is certain
        p = np.where(se == 0, np.where(delta > 0, 0.0, 1.0), p)
        df = np.where(se == 0, np.inf, df)
        effect = np.where(v1 + v2 > 0, np.sqrt(2.0) * delta / np.sqrt(v1 + v2), np.where(delta > 0, np.inf, 0.0))
    return Welch(m1, m2, delta, se, df, p, effect)


def interval(welch: Welch, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import stdtrit

    with np.errstate(invalid="ignore"):
        z = stdtrit(np.where(np.isfinite(welch.df), welch.df, 1e12), 0.5 + confidence / 2)
    half = z * welch.se
    return welch.delta - half, welch.delta + half


# ---------------------------------------------------------------- the search


@dataclass(frozen=True)
class Budget:
    """How much of the lattice the search may cover (docs/segments.md)."""

    max_slices: int = 50_000
    seconds: float = 10.0


@dataclass(frozen=True)
class Config:
    min_rows: int = 200
    min_positives: int = 0  # for a classification loss: positives needed inside a slice
    min_effect: float = 0.2
    alpha: float = 0.05
    confidence: float = 0.95
    max_reported: int = 10
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True)
class Search:
    """What the search found and how much of the lattice it covered."""

    slices: tuple[WeakSlice, ...]
    tried: int
    pairs_searched: int
    pairs_possible: int
    stopped_by: str | None  # "max_slices", "seconds" or None when the whole lattice was searched
    significant: int  # before dropping the slices a parent or a child explains


@dataclass
class _Candidates:
    """Slices tried: their cell index per source (single column or pair), sums and conditions."""

    keys: list[tuple[int, ...]] = field(default_factory=list)  # (i, code) or (i, j, code_i, code_j)
    sums: list[np.ndarray] = field(default_factory=list)

    def add(self, keys: list[tuple[int, ...]], sums: np.ndarray) -> None:
        self.keys.extend(keys)
        self.sums.append(sums)


def _eligible(cells: np.ndarray, searchable: np.ndarray, config: Config) -> np.ndarray:
    ok = searchable & (cells[ROWS] >= config.min_rows)
    if config.min_positives:
        ok &= cells[POSITIVES] >= config.min_positives
    return ok


def searchable_of(conditions: list[tuple[Condition | None, ...]]) -> list[np.ndarray]:
    return [np.array([cond is not None for cond in c]) for c in conditions]


def _pair_order(sums: SliceSums, searchable: list[np.ndarray], config: Config) -> list[tuple[int, int]]:
    """Every column pair, those whose columns hold the most suspicious single condition first."""
    singles = _Candidates()
    for i, cells in enumerate(sums.singles):
        ok = np.flatnonzero(_eligible(cells, searchable[i], config))
        singles.add([(i, int(k)) for k in ok], cells[:, ok])
    best = np.ones(len(sums.singles))
    for key, p in zip(singles.keys, _p_values(sums, singles, config.min_effect), strict=True):
        best[key[0]] = min(best[key[0]], p)
    order = np.argsort(best, kind="stable")
    return [(int(min(a, b)), int(max(a, b))) for x, a in enumerate(order) for b in order[x + 1 :]]


def _enumerate(
    sums: SliceSums, searchable: list[np.ndarray], config: Config, pairs: list[tuple[int, int]]
) -> tuple[_Candidates, int, str | None]:
    """The slices tried: every eligible single condition, then the pairs' cells in order up to ``max_slices``."""
    candidates = _Candidates()
    for i, cells in enumerate(sums.singles):
        ok = np.flatnonzero(_eligible(cells, searchable[i], config))
        candidates.add([(i, int(k)) for k in ok], cells[:, ok])
    used = 0
    for i, j in pairs:
        room = config.budget.max_slices - len(candidates.keys)
        if room <= 0:
            return candidates, used, "max_slices"
        cells = sums.pairs[(i, j)]
        ok = np.flatnonzero(_eligible(cells, np.outer(searchable[i], searchable[j]).ravel(), config))[:room]
        kj = sums.sizes[j]
        candidates.add([(i, j, int(k // kj), int(k % kj)) for k in ok], cells[:, ok])
        used += 1
    return candidates, used, None


def search(columns: list[Binned], loss: np.ndarray, positives: np.ndarray | None, config: Config) -> Search:
    """Find the weak slices of one and two conditions over these binned columns (see the module's docstring)."""
    started = time.monotonic()
    codes = [c.codes for c in columns]
    sizes = tuple(len(c.conditions) for c in columns)
    conditions = [c.conditions for c in columns]
    searchable = searchable_of(conditions)
    sums = single_sums(codes, sizes, loss, positives)
    pairs = _pair_order(sums, searchable, config)
    tried = sum(int(_eligible(cells, searchable[i], config).sum()) for i, cells in enumerate(sums.singles))
    loss2, packed = loss * loss, _packed(positives, len(loss))
    stopped_by: str | None = None
    built = []
    for i, j in pairs:  # the sums of as many pairs as the budget allows, most suspicious first
        if tried >= config.budget.max_slices:
            break
        if time.monotonic() > started + config.budget.seconds:
            stopped_by = "seconds"
            break
        cells = add_pair(sums, codes, i, j, loss, loss2, packed)
        tried += int(_eligible(cells, np.outer(searchable[i], searchable[j]).ravel(), config).sum())
        built.append((i, j))
    candidates, used, stopped = _enumerate(sums, searchable, config, built)
    if stopped is None and len(built) < len(pairs) and stopped_by is None:
        stopped = "max_slices"
    return _judge(conditions, sums, candidates, config, len(candidates.keys), used, len(pairs), stopped_by or stopped)


def judge_sums(conditions: list[tuple[Condition | None, ...]], sums: SliceSums, config: Config) -> Search:
    """The search on sums built elsewhere (every pair summed, e.g. merged from a cluster's row groups): the same
    order, budget of slices, test and correction as ``search``; no time budget applies."""
    searchable = searchable_of(conditions)
    pairs = [p for p in _pair_order(sums, searchable, config) if p in sums.pairs]
    candidates, used, stopped = _enumerate(sums, searchable, config, pairs)
    return _judge(conditions, sums, candidates, config, len(candidates.keys), used, len(pairs), stopped)


def _stack(candidates: _Candidates) -> np.ndarray:
    return np.concatenate(candidates.sums, axis=1) if candidates.sums else np.zeros((4, 0))


def _p_values(sums: SliceSums, candidates: _Candidates, margin: float) -> np.ndarray:
    inside = _stack(candidates)
    return welch_from_sums(inside, sums.total[:, None] - inside, margin).p_value


def _judge(
    columns: list[tuple[Condition | None, ...]],
    sums: SliceSums,
    candidates: _Candidates,
    config: Config,
    tried: int,
    pairs_searched: int,
    pairs_possible: int,
    stopped_by: str | None,
) -> Search:
    inside = _stack(candidates)
    outside = sums.total[:, None] - inside
    tested = Tested.of(inside, outside, config)
    # parents that explain a child: any gap, however small, that survives the correction without the margin
    plain = adjust_p_values(np.nan_to_num(welch_from_sums(inside, outside).p_value, nan=1.0), "benjamini_hochberg")
    significant = {candidates.keys[h] for h in np.flatnonzero(plain <= config.alpha)}
    keep = {candidates.keys[h]: int(h) for h in tested.hits(config)}
    dropped = _explained(sums, keep, significant, config)
    found = [
        tested.slice(h, conditions_of(columns, key), int(inside[ROWS, h]), tested.welch.mean1[h], tested.welch.mean2[h])
        for key, h in keep.items()
        if key not in dropped
    ]
    return Search(reported(found, config), tried, pairs_searched, pairs_possible, stopped_by, len(keep))


def _explained(
    sums: SliceSums, keep: dict[tuple[int, ...], int], significant: set[tuple[int, ...]], config: Config
) -> set[tuple[int, ...]]:
    """The reported slices another explains: a pair no worse than the rest of a significant parent, and a parent
    no worse than the rest of the log once a kept child is taken out of it."""

    def sums_of(key: tuple[int, ...]) -> np.ndarray:
        if len(key) == 2:
            return sums.singles[key[0]][:, key[1]]
        i, j, a, b = key
        return sums.pairs[(i, j)][:, a * sums.sizes[j] + b]

    def worse(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(welch_from_sums(a[:, None], b[:, None], config.min_effect).p_value[0] <= config.alpha)

    children = [k for k in keep if len(k) == 4]
    dropped: set[tuple[int, ...]] = set()
    for child in children:
        i, j, a, b = child
        if any(p in significant and not worse(sums_of(child), sums_of(p) - sums_of(child)) for p in ((i, a), (j, b))):
            dropped.add(child)
    for child in children:
        if child in dropped:
            continue
        i, j, a, b = child
        for parent in ((i, a), (j, b)):
            if parent in keep and not worse(sums_of(parent) - sums_of(child), sums.total - sums_of(parent)):
                dropped.add(parent)
    return dropped


@dataclass(frozen=True)
class Tested:
    """Every slice tried, tested: Welch's t against the margin, its interval, the p-values adjusted over all."""

    welch: Welch
    low: np.ndarray
    high: np.ndarray
    adjusted: np.ndarray

    @classmethod
    def of(cls, first: np.ndarray, second: np.ndarray, config: Config) -> Tested:
        welch = welch_from_sums(first, second, config.min_effect)
        adjusted = adjust_p_values(np.nan_to_num(welch.p_value, nan=1.0), "benjamini_hochberg")
        return cls(welch, *interval(welch, config.confidence), adjusted)

    def hits(self, config: Config) -> np.ndarray:
        return np.flatnonzero((self.adjusted <= config.alpha) & (self.welch.effect >= config.min_effect))

    def slice(self, h: int, conditions: tuple[Condition | None, ...], rows: int, inside: Any, outside: Any) -> WeakSlice:
        return WeakSlice(
            conditions=tuple(c for c in conditions if c is not None),
            rows=rows,
            inside=float(inside),
            outside=float(outside),
            delta=float(self.welch.delta[h]),
            ci_low=float(self.low[h]),
            ci_high=float(self.high[h]),
            effect=float(self.welch.effect[h]),
            p_value=float(self.welch.p_value[h]),
            adjusted_p=float(self.adjusted[h]),
        )


def conditions_of(columns: list[tuple[Condition | None, ...]], key: tuple[int, ...]) -> tuple[Condition | None, ...]:
    return (columns[key[0]][key[1]],) if len(key) == 2 else (columns[key[0]][key[2]], columns[key[1]][key[3]])


def reported(found: list[WeakSlice], config: Config) -> tuple[WeakSlice, ...]:
    found.sort(key=lambda s: (-s.delta, s.adjusted_p))
    return tuple(found[: config.max_reported])
