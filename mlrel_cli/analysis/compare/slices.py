"""`mlrel compare`'s weak segments: the slices where a candidate regresses against the baseline (docs/segments.md).

The columns searched, then each candidate judged from the per-slice sums the engine gives (``Engine.regression_sums``,
built by facts/slices.py): the baseline is the reference (numeric bins its quantiles, categories its and the
candidate's most frequent values), so a slice means the same rows on both sides. In shadow mode the requests pair on
the id and each slice's mean per-request loss difference is tested; in canary mode each side's own rows in the slice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrel_cli.analysis import weak_segments
from mlrel_cli.facts.models import SLICE_PREFIX
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.payloads.compare import WeakRegressions
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Status

if TYPE_CHECKING:
    from mlrel_cli.stats.regressions import RegressionSums

PREFIX = SLICE_PREFIX


def columns_to_read(log: Log, roles: Roles, policy: Policy, has_labels: bool) -> dict[str, str]:
    """Table key -> log column for the searched columns, when the search will run (labels, enabled)."""
    if not (policy.compare.weak_segments.enabled and has_labels):
        return {}
    kinds = weak_segments.searched_columns(log, roles.features, roles.segments, policy.validate_.weak_segments)
    return {f"{PREFIX}{kind}:{name}": name for name, kind in kinds.items()}


def judged(task: str, found: RegressionSums | None, policy: Policy) -> WeakRegressions | None:
    """A candidate's weak segments from its and the baseline's per-slice sums, or None when the search cannot run."""
    from mlrel_cli.stats.regressions import judge_regressions

    if found is None:
        return None
    search = judge_regressions(found, weak_segments.config_of(policy.validate_.weak_segments, task))
    return WeakRegressions(
        found.metric, found.paired, search.tried, search.pairs_searched, search.pairs_possible, search.stopped_by, search.slices
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
