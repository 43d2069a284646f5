"""Drift's Report: the checks (one per column, the drifted share, the schema, concept drift), the run's verdict
and its summary line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from mlrel_cli.analysis.drift.plan import MISSING_FROM_CURRENT
from mlrel_cli.durations import format_duration
from mlrel_cli.logs import Log
from mlrel_cli.payloads.drift import ConceptDrift, FeatureDrift
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.stats.drift import METHOD_BY_NAME


def drift_report(
    results: list[FeatureDrift],
    not_compared: dict[str, str],
    concept: ConceptDrift | None,
    policy: Policy,
    reference: Log,
    current: Log,
    window: dt.timedelta | None,
    task: str | None,
) -> Report:
    """The checks (each column's, the schema's, the drifted share's, concept drift's) and the run's verdict."""
    spec = policy.drift
    tally = _Tally.of(results)
    ranked = sorted(tally.features, key=_rank_key)
    outputs = [r for r in results if r.role != "feature"]
    gone = [name for name, why in not_compared.items() if why == MISSING_FROM_CURRENT]
    checks = [_column_check(r) for r in ranked + outputs]
    if gone:
        checks.append(_schema_check(gone))
    checks.append(_share_check(tally, policy))
    if concept is not None:
        checks.append(_concept_check(concept, policy))
    status = _run_status(tally, gone, checks, concept, spec.max_drifted_share)
    summary = _summary(tally, concept, spec.max_drifted_share)
    if gone:
        summary = f"missing from the current log: {', '.join(gone[:4])}; " + summary
    inputs = {
        "reference": reference.path,
        "current": current.path,
        "rows_reference": reference.num_rows,
        "rows_current": current.num_rows,
        "policy": list(policy.files),
        "task": task,
        "window": format_duration(window) if window else None,
        "not_compared": not_compared,
    }
    return Report(
        command="drift",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs=inputs,
        sections={"features": ranked, "outputs": outputs, "concept": concept},
    )


@dataclass(frozen=True)
class _Tally:
    """The features judged and drifted (over the whole log, or in a persistent run of windows: the onset), and
    the critical columns that drifted or could not be judged."""

    features: list[FeatureDrift]
    judged: list[FeatureDrift]
    drifted: list[FeatureDrift]
    critical_drifted: list[FeatureDrift]
    critical_unjudged: list[FeatureDrift]

    @classmethod
    def of(cls, results: list[FeatureDrift]) -> _Tally:
        features = [r for r in results if r.role == "feature"]
        return cls(
            features=features,
            judged=[r for r in features if r.status != Status.INCONCLUSIVE],
            drifted=[r for r in features if r.status == Status.FAIL or r.onset is not None],
            critical_drifted=[r for r in results if r.critical and (r.status == Status.FAIL or r.onset is not None)],
            critical_unjudged=[r for r in results if r.critical and r.status == Status.INCONCLUSIVE],
        )

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.judged) if self.judged else 0.0


def _run_status(tally: _Tally, gone: list[str], checks: list[Check], concept: ConceptDrift | None, max_share: float) -> Status:
    """Fail on a drifted critical column, a missing feature, too large a drifted share or concept drift;
    inconclusive when no feature (or a critical one) could be judged; warn on any other check that did not pass."""
    if tally.critical_drifted or gone or tally.share > max_share or (concept and concept.status == Status.FAIL):
        return Status.FAIL
    if (tally.features and not tally.judged) or tally.critical_unjudged:
        return Status.INCONCLUSIVE
    if any(c.status != Status.PASS for c in checks):
        return Status.WARN
    return Status.PASS


def _schema_check(gone: list[str]) -> Check:
    return Check(
        name="schema",
        status=Status.FAIL,
        value=len(gone),
        threshold=0,
        message=f"{len(gone)} feature(s) of the reference missing from the current log: {', '.join(gone[:10])}",
        details={"missing_columns": gone},
        source="default",
    )


def _share_check(tally: _Tally, policy: Policy) -> Check:
    limit = policy.drift.max_drifted_share
    status = Status.FAIL if tally.share > limit else Status.PASS
    if tally.features and not tally.judged:  # 0 of 0 judged is no evidence of stability
        status = Status.INCONCLUSIVE
    return Check(
        name="drifted_share",
        status=status,
        value=tally.share,
        threshold=limit,
        message=f"{len(tally.drifted)} of {len(tally.judged)} judged features drifted",
        details={"drifted": [r.name for r in tally.drifted]},
        source=policy.source_of("drift.max_drifted_share"),
    )


def _column_check(r: FeatureDrift) -> Check:
    """A column's check: a drifted feature that is not critical warns (only critical ones and the share gate)."""
    gate = Status.FAIL if r.onset is not None and r.status in (Status.PASS, Status.WARN) else r.status
    if gate == Status.FAIL and not r.critical:
        gate = Status.WARN  # drifted, but only critical features and the share decide the run
    label = r.name if r.role == "feature" or r.name == r.role else f"{r.role}:{r.name}"
    return Check(
        name=f"drift:{label}",
        status=gate,
        value=r.score,
        threshold=r.threshold,
        message=r.message + (" [critical]" if r.critical else ""),
        details={
            "method": r.method,
            "drift_status": r.status.value,
            "onset": r.onset,
            "whole_log_score": r.whole_log,
            "noise": r.noise,
            "missing_change": r.missing_current - r.missing_reference,
            "unseen": r.unseen,
            "window_scores": [w.score for w in r.windows],
            "window_status": [w.status.value for w in r.windows],
            "is_test": METHOD_BY_NAME[r.method].is_test,
        },
        source=r.source,
    )


def _concept_check(concept: ConceptDrift, policy: Policy) -> Check:
    spec = policy.drift
    return Check(
        name=f"concept:{concept.metric}",
        status=concept.status,
        value=concept.degradation,
        threshold=concept.threshold,
        message=concept.message,
        details=concept.check_details(),
        source=policy.source_of(
            "drift.concept_max_degradation"
            if spec.concept_max_degradation is not None
            else "drift.concept_max_relative_degradation"
        ),
    )


def _rank_key(r: FeatureDrift) -> tuple[int, float]:
    """Drifted first, then by how far past its threshold the score is."""
    order = 0 if r.onset is not None else {Status.FAIL: 0, Status.WARN: 1, Status.INCONCLUSIVE: 2, Status.PASS: 3}[r.status]
    if r.score is None or not r.threshold or not np.isfinite(r.threshold):
        return order, 0.0
    ratio = (r.threshold / max(r.score, 1e-300)) if METHOD_BY_NAME[r.method].is_test else r.score / r.threshold
    return order, -ratio


def _features(n: int) -> str:
    return f"{n} feature" if n == 1 else f"{n} features"


def _summary(tally: _Tally, concept: ConceptDrift | None, max_share: float) -> str:
    features, drifted, critical, share = tally.features, tally.drifted, tally.critical_drifted, tally.share
    parts = []
    if drifted:
        names = ", ".join(r.name + (f" (since {_short(r.onset)})" if r.onset else "") for r in drifted[:4])
        more = f" and {len(drifted) - 4} more" if len(drifted) > 4 else ""
        parts.append(f"{len(drifted)} of {_features(len(features))} drifted: {names}{more}")
    else:
        parts.append(f"no drift in {_features(len(features))}")
    if critical:
        parts.append("critical: " + ", ".join(r.name for r in critical))
    if share > max_share:
        parts.append(f"{share:.0%} drifted, above the {max_share:.0%} limit")
    if concept is not None and concept.status in (Status.FAIL, Status.WARN):
        parts.append(concept.message)
    inconclusive = [r.name for r in features if r.status == Status.INCONCLUSIVE]
    if inconclusive:
        parts.append(f"{len(inconclusive)} not judged (too little data)")
    return "; ".join(parts) + "."


def _short(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
