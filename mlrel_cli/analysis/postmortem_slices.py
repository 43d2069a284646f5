"""`mlrel postmortem`'s weak segments: the slices where the errors rose at the onset, as root-cause candidates.

Rows before the onset are the baseline and rows of the regression (onset to recovery) the candidate, binned
alike (the reference's quantiles with ``--reference``, else the log's own), searched as compare's canary
(docs/segments.md): the slices whose loss rose most, beyond the ``min_effect`` margin, after Benjamini-Hochberg.
A slice is tested on how much more its loss rose than the whole log's: a regression of every row raises every
slice, and testing each slice's own rise named slices in 60 of 60 such incidents
(benchmarks/bench_calibration.py --only postmortem-segments), where the errors concentrated nowhere.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.postmortem_causes import ranked
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.payloads.postmortem import RootCause
from mlrel_cli.payloads.slices import WeakSegment, WeakSlice
from mlrel_cli.policy import Policy
from mlrel_cli.stats.names import METRIC_BY_NAME
from mlrel_cli.stats.slices import Binned

# the postmortem metric per row -> the loss searched (a metric where higher is better is turned into 1 - it)
LOSS_NAMES = {
    "log_loss": "log_loss",
    "brier": "squared_error",
    "accuracy": "error_rate",
    "mae": "absolute_error",
    "rmse": "squared_error",
}
STRENGTH = 0.35  # a root-cause candidate's weight: above a declared segment's 0.3, below drift or a change


def during_onset(
    log: Log, reference: Log | None, roles: Roles, policy: Policy, values: np.ndarray, metric: str, during: np.ndarray
) -> tuple[WeakSegment, ...]:
    """The search over the labelled rows (``values`` finite), ``during`` marking the regression's rows."""
    from mlrel_cli.stats.regressions import search_regressions
    from mlrel_cli.stats.slices import Config

    cfg = policy.validate_.weak_segments
    if not cfg.enabled or metric not in LOSS_NAMES:
        return ()
    higher = METRIC_BY_NAME[metric].higher_is_better if metric in METRIC_BY_NAME else False
    keep = np.isfinite(values)
    loss = 1.0 - values[keep] if higher else values[keep]
    after = during[keep]
    if after.all() or not after.any():
        return ()
    columns = weak_segments.searched_columns(log, roles.features, roles.segments, cfg)
    if not columns:
        return ()
    binned = [weak_segments.bin_column(log, reference, name, kind, keep, cfg) for name, kind in columns.items()]
    before = [Binned(b.name, b.codes[~after], b.conditions) for b in binned]
    config: Config = weak_segments.config_of(cfg, "")
    rise = float(loss[after].mean() - loss[~after].mean())  # the whole log's: the slices are tested beyond it
    found = search_regressions(before, loss[~after], config, loss[after] - rise, [b.codes[after] for b in binned])
    name = LOSS_NAMES[metric]
    return tuple(WeakSegment(_with_rise(s, rise), name, labelled=True) for s in found.slices)


def _with_rise(found: WeakSlice, rise: float) -> WeakSlice:
    """The slice as it was: the loss during and the delta with its interval include the log's rise again (the
    effect and the p-values are of the rise beyond it)."""
    return replace(
        found,
        inside=found.inside + rise,
        delta=found.delta + rise,
        ci_low=found.ci_low + rise,
        ci_high=found.ci_high + rise,
    )


def with_causes(causes: list[RootCause], found: tuple[WeakSegment, ...]) -> list[RootCause]:
    """The root-cause candidates with the slices added (``inside`` during, ``outside`` before), ranked again."""
    if not found:
        return causes
    out = list(causes)
    for weak in found[:3]:
        s = weak.slice
        summary = (
            f"errors concentrated in {weak.label} ({weak.metric} {s.outside:.3g} before -> "
            f"{s.inside:.3g} during, {s.rows:,} rows, adjusted p {s.adjusted_p:.2g})"
        )
        out.append(RootCause("weak_segment", STRENGTH, summary, weak))
    return ranked(out)
