"""The drift verdict of one comparison from its score, the policy's threshold and the noise line.

Two questions decide it, and small samples answer only one of them at a
time. *Is the change beyond chance?* The noise line (``null_quantile``) is
the score an unchanged comparison of the same sizes exceeds with
probability ``a``, the comparison's false-alarm rate: only a score past it
may flag, so unchanged data is flagged at most ``a`` of the time at any
size. *Is the change as large as the policy cares about?* The threshold:
a score at or below it is a change smaller than the one that matters, and
passes. Sample distances err high (an unchanged comparison of 500 rows
scores about 0.085 in Wasserstein, and a shift of d standard deviations
at least about d), so a change of exactly the threshold's size passes at
most about half the time, and a larger one rarely: a pass is rarely a
missed drift (measured in docs/trust.md). Only a score above the
threshold but within the noise is ``inconclusive``: it
cannot be told from chance.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

Verdict = Literal["pass", "warn", "fail", "inconclusive"]


def distance_verdict(score: float, fail: float, warn: float | None, noise: float) -> Verdict:
    """The verdict of a distance (higher is more drift) against its fail and warn thresholds and noise line.

    ``fail``: beyond both the fail threshold and the noise; ``warn``: beyond
    both the warn threshold and the noise; ``pass``: at or below the lower
    threshold; ``inconclusive``: above a threshold but within the noise, or
    no score.
    """
    if math.isnan(score):
        return "inconclusive"
    beyond_noise = score > noise
    if score > fail:
        return "fail" if beyond_noise else "inconclusive"
    if warn is not None and score > warn:
        return "warn" if beyond_noise else "inconclusive"
    return "pass"


def within_noise(rows: int, method: str, score: float, threshold: float, noise: float) -> str:
    """Why a score above the threshold is inconclusive."""
    return (
        f"{rows:,} rows are too few for {method}: {score:.3g} is above {threshold:.3g}, "
        f"but unchanged data scores up to {noise:.3g} by chance"
    )


class MissingCounts(Protocol):
    @property
    def missing(self) -> int: ...  # rows with a null or NaN

    @property
    def total(self) -> int: ...  # all rows


def missing_rate_verdict(
    ref: MissingCounts, cur: MissingCounts, max_change: float, false_alarm_rate: float
) -> tuple[Verdict, str]:
    """The missing rate's verdict and why, by the same rule as a distance's.

    The threshold is ``max_change`` (the change of the missing share that
    matters), the noise the 2 x 2 test of (missing, present) x (reference,
    current) at the comparison's false-alarm rate: ``fail`` beyond both,
    ``pass`` at or below the threshold, ``inconclusive`` above it but within
    the noise.
    """
    from mlrel_cli.stats.drift import missing_rate_test

    change, p = missing_rate_test(ref.missing, ref.total, cur.missing, cur.total)
    if not abs(change) > max_change:
        return "pass", ""
    moved = f"missing rate {ref.missing / ref.total:.1%} -> {cur.missing / cur.total:.1%} (p = {p:.2g})"
    if p < false_alarm_rate:
        return "fail", f"{moved}: nulls or NaN drifted"
    return "inconclusive", f"{moved}: {cur.total:,} rows are too few to tell that change from chance"
