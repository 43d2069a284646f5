"""Drift's judge: a column's verdict from its summaries, per window and overall, its onset, and the corrections
across features. Pure: summaries in, FeatureDrift out; no log, no engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol, cast

import numpy as np

from mlrel_cli.analysis.drift.plan import ColumnPlan
from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.payloads.drift import FeatureDrift, NewCategory, Unseen, WindowScore
from mlrel_cli.policy import Policy
from mlrel_cli.report import Status
from mlrel_cli.stats.drift import METHOD_BY_NAME, adjust_p_values, null_quantile
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary
from mlrel_cli.stats.verdicts import distance_verdict, missing_rate_verdict, within_noise

TOP_UNSEEN = 5


class _Verdict(NamedTuple):
    """One summary judged against the reference: why is the reason when inconclusive (or the missing rate's)."""

    status: Status
    score: float | None
    result: Any  # the method's DriftResult; None when not computed
    threshold: float | None
    why: str


@dataclass
class _ColumnJudge:
    """The rules one column is judged by, against its reference: the whole log and each window alike, with the
    noise line of an unchanged log estimated once per size bucket."""

    plan: ColumnPlan
    reference: NumericSummary | CategoricalSummary
    spec: Any  # the policy's drift section
    false_alarm_rate: float
    noise_cache: dict[int, float] = field(default_factory=dict)

    def noise_at(self, n: int) -> float:
        """The score an unchanged log of ``n`` rows exceeds with probability false_alarm_rate. Sizes are rounded
        down to a quarter power of two: a few noise estimates serve every window, and a smaller size has more
        noise, so the rounding errs towards 'inconclusive', never towards a false alarm."""
        bucket = max(1, int(2 ** (np.floor(4 * np.log2(max(n, 1))) / 4)))
        if bucket not in self.noise_cache:
            quantile = 1.0 - self.false_alarm_rate
            self.noise_cache[bucket] = null_quantile(self.plan.method, self.reference, bucket, quantile, self.spec.bins)
        return self.noise_cache[bucket]

    def judge(self, cur: NumericSummary | CategoricalSummary) -> _Verdict:
        """The values' verdict, made a failure when the missing rate moved beyond its noise (inconclusive within it)."""
        verdict = self.judge_values(cur)
        # a label arrives late: its missing share is coverage (validate's label_coverage), not drift
        missing, moved = missing_rate_verdict(self.reference, cur, self.spec.max_missing_change, self.false_alarm_rate)
        if self.plan.role != "label" and (missing == "fail" or (missing == "inconclusive" and verdict.status == Status.PASS)):
            return verdict._replace(status=Status(missing), why=moved)
        return verdict

    def judge_values(self, cur: NumericSummary | CategoricalSummary) -> _Verdict:
        """Inconclusive on too few rows either side; a test passes until corrected across features; a distance
        fails beyond both the threshold and the noise, passes at or below the threshold, is inconclusive between."""
        ref, plan, min_rows = self.reference, self.plan, self.spec.min_rows
        if ref.count == 0:
            return _Verdict(Status.INCONCLUSIVE, None, None, None, "no values in the reference")
        if ref.count < min_rows:  # a reference of a few rows says nothing about its distribution
            return _Verdict(Status.INCONCLUSIVE, None, None, None, f"{ref.count:,} reference rows, fewer than {min_rows:,}")
        if cur.count == 0:
            return _Verdict(Status.INCONCLUSIVE, None, None, None, "no values in the current log")
        if cur.count < min_rows:
            return _Verdict(Status.INCONCLUSIVE, None, None, None, f"{cur.count:,} rows, fewer than {min_rows:,}")
        result = plan.method.compute(ref, cur, self.spec.bins)
        if plan.method.is_test:
            return _Verdict(Status.PASS, result.score, result, plan.method.fail, "")  # decided after correction
        noise = self.noise_at(cur.count)
        threshold = noise if plan.fail == "auto" else float(plan.fail)
        verdict = distance_verdict(result.score, threshold, plan.warn, noise)
        why = within_noise(cur.count, plan.method.name, result.score, threshold, noise) if verdict == "inconclusive" else ""
        return _Verdict(Status(verdict), result.score, result, threshold, why)

    def windows(self, summaries: list[NumericSummary | CategoricalSummary], grid: WindowGrid | None) -> list[WindowScore]:
        """Each window of the grid judged by the same rules as the whole log."""
        if grid is None:
            return []
        scores = []
        for start_us, summary in zip(grid.starts_us, summaries, strict=False):
            verdict = self.judge(summary)
            start = from_us(int(start_us))
            end = start + dt.timedelta(microseconds=grid.width_us)
            scores.append(WindowScore(start, end, summary.count, verdict.score, verdict.threshold, verdict.status))
        return scores


def judge_column(
    plan: ColumnPlan,
    ref_summary: NumericSummary | CategoricalSummary,
    cur_summary: NumericSummary | CategoricalSummary,
    window_summaries: list[NumericSummary | CategoricalSummary],
    grid: WindowGrid | None,
    policy: Policy,
    false_alarm_rate: float = 0.01,
) -> FeatureDrift:
    """One column's verdict from both sides' summaries (and the current log's per window): pure, no I/O."""
    spec = policy.drift
    judge = _ColumnJudge(plan, ref_summary, spec, false_alarm_rate)
    status, score, result, threshold, why = judge.judge(cur_summary)
    window_scores = judge.windows(window_summaries, grid)
    onset = first_onset(window_scores, spec.onset_windows)
    if threshold is None:  # not judged: the threshold the policy set (NaN for 'auto', which needs the rows)
        threshold = cast(float, plan.fail) if plan.fail != "auto" else float("nan")
    return FeatureDrift(
        name=plan.name,
        role=plan.role,
        kind=plan.kind,
        method=plan.method.name,
        score=score,
        statistic=result.statistic if result is not None else None,
        p_value=result.p_value if result is not None else None,
        threshold=threshold,
        warn=plan.warn,
        status=status,
        message=why or _describe(plan, status, score, threshold, onset, window_scores),
        source=plan.source,
        critical=plan.critical,
        rows_reference=ref_summary.count,
        rows_current=cur_summary.count,
        noise=None if plan.method.is_test or cur_summary.count == 0 else judge.noise_at(cur_summary.count),
        missing_reference=ref_summary.missing_rate,
        missing_current=cur_summary.missing_rate,
        unseen=_unseen(ref_summary, cur_summary),
        windows=tuple(window_scores),
        onset=onset,
        histogram=_histogram(ref_summary, cur_summary, spec.bins, _onset_summary(window_scores, window_summaries, onset)),
    )


def _onset_summary(scores: list[WindowScore], summaries: list[Any], onset: dt.datetime | None) -> Any:
    """The onset window's summary, already built for its score: its distribution is what changed."""
    if onset is None:
        return None
    return next((summaries[i] for i, w in enumerate(scores) if w.start == onset and i < len(summaries)), None)


def _histogram(ref: Any, cur: Any, bins: int, onset: Any = None) -> dict[str, list[Any]] | None:
    """Both sides' proportions over the reference's quantile bins (numeric) or the top categories, for charts;
    with ``onset`` (the onset window's summary), its proportions too, so a diluted shift still shows."""
    if ref.count == 0 or cur.count == 0:
        return None
    o = None
    if isinstance(ref, NumericSummary):
        edges = ref.quantile_edges(bins)
        labels = [f"<={e:.3g}" for e in edges] + [f">{edges[-1]:.3g}" if len(edges) else "all"]
        r, c = ref.bin_counts(edges), cur.bin_counts(edges)
        if onset is not None and onset.count:
            o = onset.bin_counts(edges)
    else:
        from mlrel_cli.stats.summaries import aligned_counts

        r, c, order = aligned_counts(ref, cur)
        top = np.argsort(-(r / r.sum() + c / c.sum()), kind="stable")[:12]
        if onset is not None and onset.count:
            in_onset = onset.as_dict()
            o = np.array([in_onset.get(order[i], 0) for i in top], dtype=np.float64)
        labels, r, c = [str(order[i]) for i in top], r[top], c[top]
    out: dict[str, list[Any]] = {
        "labels": labels,
        "reference": [float(x) for x in r / ref.count],
        "current": [float(x) for x in c / cur.count],
    }
    if o is not None:
        out["onset_window"] = [float(x) for x in o / onset.count]
    return out


class JudgedWindow(Protocol):
    """A window's verdict as the onset reads it (WindowScore, ConceptWindow, ProxyWindow)."""

    @property
    def start(self) -> dt.datetime: ...
    @property
    def status(self) -> Status: ...


def first_onset(windows: Sequence[JudgedWindow], persistence: int) -> dt.datetime | None:
    """The start of the first run of ``persistence`` consecutive windows past the fail threshold.

    With a hundred windows a day, one window in a hundred crosses by chance;
    asking for two in a row makes a chance onset a rare event, and a real
    shift lasts longer than one window.
    """
    run = 0
    for i, window in enumerate(windows):
        run = run + 1 if window.status == Status.FAIL else 0
        if run >= persistence:
            return windows[i - persistence + 1].start
    return None


def breach_verdict(r: FeatureDrift) -> FeatureDrift:
    """One story for a feature whose windows breach: status fail, and the breaching value (the worst failing
    window's score) as its score, the whole-log score kept beside it, so an alert on the value sees it."""
    if r.onset is None or r.status == Status.FAIL:
        return r
    failing = [(w.score, w) for w in r.windows if w.status == Status.FAIL and w.score is not None]
    if not failing:
        return r
    is_test = METHOD_BY_NAME[r.method].is_test
    pick = min if is_test else max  # the smallest p-value, the largest distance; the first window on a tie
    worst = pick(failing, key=lambda scored: scored[0])[1]
    relation = "<" if is_test else ">"
    whole = f"{r.score:.3g}" if r.score is not None else "not judged"
    threshold = worst.threshold if worst.threshold is not None else r.threshold
    message = (
        f"drifted from {r.onset:%Y-%m-%d %H:%M}: {'p' if is_test else r.method} {worst.score:.3g} {relation} "
        f"{threshold:.3g} in the window of {worst.start:%H:%M} (whole log {whole})"
    )
    return replace(r, status=Status.FAIL, score=worst.score, threshold=threshold, whole_log_score=r.score, message=message)


def _describe(
    plan: ColumnPlan,
    status: Status,
    score: float | None,
    threshold: float | None,
    onset: dt.datetime | None = None,
    windows: list[WindowScore] | None = None,
) -> str:
    if score is None or threshold is None:
        return ""
    if onset is not None and status != Status.FAIL and not plan.method.is_test:
        peak = max((w.score for w in windows or [] if w.score is not None and w.status == Status.FAIL), default=score)
        return (
            f"drifted from {onset:%Y-%m-%d %H:%M}: {plan.method.name} up to {peak:.3g} > {threshold:.3g} per window "
            f"(whole log {score:.3g})"
        )
    verb = {Status.FAIL: "drifted", Status.WARN: "moved", Status.PASS: "stable"}.get(status, "")
    relation = ("<" if score < threshold else ">=") if plan.method.is_test else (">" if score > threshold else "<=")
    label = "p" if plan.method.is_test else plan.method.name
    auto = " (auto)" if plan.fail == "auto" else ""
    return f"{verb}: {label} {score:.3g} {relation} {threshold:.3g}{auto}"


def _unseen(ref: Any, cur: Any) -> Unseen | None:
    if not isinstance(cur, CategoricalSummary) or not isinstance(ref, CategoricalSummary):
        return None
    known = set(ref.categories)
    unseen = sorted(
        ((c, int(n)) for c, n in zip(cur.categories, cur.counts, strict=True) if c not in known and n > 0),
        key=lambda item: -item[1],
    )
    rows = sum(n for _, n in unseen)
    return Unseen(
        categories=len(unseen),
        rows=rows,
        fraction=rows / cur.count if cur.count else 0.0,
        top=tuple(NewCategory(c, n) for c, n in unseen[:TOP_UNSEEN]),
    )


def from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def correct_tests(results: list[FeatureDrift], policy: Policy) -> list[FeatureDrift]:
    """Opt-in tests: adjust p-values across features (and across features within each window)."""
    spec = policy.drift.tests
    tested = [i for i, r in enumerate(results) if METHOD_BY_NAME[r.method].is_test and r.p_value is not None]
    if not tested:
        return results
    adjusted = adjust_p_values(np.array([results[i].p_value for i in tested]), spec.correction)
    out = list(results)
    for i, p_adj in zip(tested, adjusted, strict=True):
        r = out[i]
        status = Status.FAIL if p_adj < spec.alpha else Status.PASS
        verb = "drifted" if status == Status.FAIL else "stable"
        message = f"{verb}: p {r.p_value:.3g}, {spec.correction.replace('_', '-')} adjusted {p_adj:.3g} vs {spec.alpha}"
        out[i] = replace(r, score=float(p_adj), status=status, message=message)
    n_windows = max((len(r.windows) for r in out), default=0)
    for w in range(n_windows):
        members = [i for i in tested if w < len(out[i].windows) and out[i].windows[w].score is not None]
        if not members:
            continue
        adjusted = adjust_p_values(np.array([out[i].windows[w].score for i in members]), spec.correction)
        for i, p_adj in zip(members, adjusted, strict=True):
            windows = list(out[i].windows)
            status = Status.FAIL if p_adj < spec.alpha else Status.PASS
            windows[w] = replace(windows[w], score=float(p_adj), status=status)
            onset = first_onset(windows, policy.drift.onset_windows)
            out[i] = replace(out[i], windows=tuple(windows), onset=onset)
    return out
