"""``mlrel compare``: judge candidate models against the baseline before they take all traffic.

Canary mode (different requests to each model): each metric's difference
with a bootstrap interval from multinomial resampling of cells
(stats/resampling.py), Mann-Whitney U on per-request latency and scores,
and a Kayenta-style pass / marginal / fail per metric. Shadow mode (the
same requests, paired on the id): agreement, the distribution of
differences, paired bootstrap deltas, McNemar's test and the requests the
models disagree on most. Per segment: the primary metric, with the
Benjamini-Hochberg correction across segments. Verdict: promote, reject or
inconclusive, with the reasons that decided it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import compare_slices
from mlrel_cli.analysis.compare_judge import (
    LATENCY_QUANTILES,
    PRIMARY,
    MetricResult,
    binary_deviations,
    classify,
    error_rate_result,
    higher_is_better,
    interval_text,
    judge_segments,
    latency_results,
    mann_whitney,
    mean_deviations,
    metric_results,
    ratio_deviations,
    segment_row,
    with_p,
)
from mlrel_cli.errors import LogError, MlrelError
from mlrel_cli.facts.models import ModelRows, encode_truth, model_rows, model_task
from mlrel_cli.logs import Log, Roles, join_labels, resolve_roles
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import TASK_METRICS
from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, RANKING

PAIRED_MAX_ROWS = 10_000


# ---------------------------------------------------------------- loading


def load_models(
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
    labels: Log | None,
) -> tuple[ModelRows, list[ModelRows], str]:
    if log is not None:
        if not baseline or not candidates:
            raise MlrelError("--log needs --baseline VERSION and at least one --candidate VERSION")
        roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
        if roles.model_version is None:
            raise LogError(
                f"--log needs a model_version column ('{policy.columns.model_version}', set columns.model_version)",
                log.path,
            )
        versions = pc.unique(log.column(roles.model_version)).to_pylist()
        for version in [baseline, *candidates]:
            if version not in [str(v) for v in versions]:
                shown = ", ".join(str(v) for v in versions[:10])
                raise LogError(f"version '{version}' is not in the log's {roles.model_version} (has: {shown})", log.path)
        table = _read(log, roles, policy, labels)
        column = pc.cast(table.column("__version"), pa.string())
        base = model_rows(table.filter(pc.equal(column, baseline)), baseline, policy)
        cands = [model_rows(table.filter(pc.equal(column, c)), c, policy) for c in candidates]
    else:
        if baseline_log is None or not candidate_logs:
            raise MlrelError("give --log with --baseline and --candidate, or --baseline-log and --candidate-log")
        base = _from_log(baseline_log, policy, labels, baseline)
        names = candidates if len(candidates) == len(candidate_logs) else [None] * len(candidate_logs)
        cands = [_from_log(c, policy, labels, n) for c, n in zip(candidate_logs, names, strict=True)]
        for cand, path in zip(cands, candidate_logs, strict=True):
            if cand.version == base.version:  # both logs say the same version: name the candidate by its file
                cand.version = Path(path.path).name
    task = policy.task or model_task(base)
    for model in [base, *cands]:
        if model.rows == 0:
            raise LogError(f"model '{model.version}' has no rows")
    return base, cands, task


def _from_log(log: Log, policy: Policy, labels: Log | None, name: str | None) -> ModelRows:
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    table = _read(log, roles, policy, labels)
    version = name
    if version is None and roles.model_version is not None:
        values = pc.unique(table.column("__version")).to_pylist()
        version = str(values[0]) if len(values) == 1 else None
    return model_rows(table, version or log.path.rsplit("/", 1)[-1], policy)


def _read(log: Log, roles: Roles, policy: Policy, labels: Log | None) -> pa.Table:
    columns = {"__prediction": roles.prediction}
    if roles.latency:
        columns["__latency"] = roles.latency
    if roles.model_version:
        columns["__version"] = roles.model_version
    if roles.id:
        columns["__id"] = roles.id
    if roles.label and labels is None:
        columns["__label"] = roles.label
    for segment in policy.segments:
        columns[f"__seg_{segment}"] = segment
    cols = policy.columns
    if cols.query and log.has(cols.query):
        columns["__query"] = cols.query
    if cols.position and log.has(cols.position):
        columns["__position"] = cols.position
    for spec in policy.proxy_metrics.values():
        for column in (spec.column, spec.numerator, spec.denominator):
            if column:
                if not log.has(column):
                    raise LogError(f"proxy metric column '{column}' is not in the log", log.path)
                columns[f"__col_{column}"] = column
    columns.update(compare_slices.columns_to_read(log, roles, policy, bool(roles.label) or labels is not None))
    names = list(dict.fromkeys(columns.values()))
    table = log.read(names)
    out = {key: table.column(name) for key, name in columns.items()}
    if labels is not None:
        out["__label"] = pa.chunked_array([join_labels(log, roles, labels, policy).labels])
    return pa.table(out)


# ---------------------------------------------------------------- canary


def _label_metrics(task: str, model: ModelRows, mask: np.ndarray | None, threshold: float) -> dict[str, float]:
    keep = model.labelled if mask is None else model.labelled & mask
    truth = model.truth[keep]  # type: ignore[index]
    if task == BINARY:
        return TASK_METRICS[task](truth, model.score[keep], threshold)  # type: ignore[index]
    if task == MULTICLASS:
        return TASK_METRICS[task](truth, model.classes[keep])  # type: ignore[index]
    return TASK_METRICS[task](truth, model.score[keep])  # type: ignore[index]


def _label_deviations(
    task: str, base: ModelRows, cand: ModelRows, base_mask: np.ndarray | None, cand_mask: np.ndarray | None,
    policy: Policy, rng: np.random.Generator,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Bootstrap deviations of each label metric's delta, from resampled cells of both groups."""
    resamples = policy.compare.bootstrap.resamples
    threshold = policy.validate_.performance.decision_threshold
    keep_b = base.labelled if base_mask is None else base.labelled & base_mask
    keep_c = cand.labelled if cand_mask is None else cand.labelled & cand_mask
    if task == BINARY:
        edges = rs.score_edges([base.score[keep_b], cand.score[keep_c]], threshold)  # type: ignore[index]
        cells = [rs.binary_cells(m.truth[keep], m.score[keep], edges, threshold)  # type: ignore[index]
                 for m, keep in ((base, keep_b), (cand, keep_c))]  # fmt: skip
        return binary_deviations(cells[0], cells[1], resamples, rng)[2]
    # multiclass accuracy and regression errors: cells of correctness / error quantiles
    devs = []
    for model, keep in ((base, keep_b), (cand, keep_c)):
        if task == MULTICLASS:
            correct = model.truth[keep] == model.classes[keep]  # type: ignore[index]
            counts = np.array([correct.sum(), (~correct).sum()], dtype=np.float64)
            draws = rs.resample_counts(counts, resamples, rng)
            with np.errstate(invalid="ignore", divide="ignore"):
                devs.append({"accuracy": draws[:, 0] / draws.sum(axis=1) - counts[0] / counts.sum()})
        else:
            err = model.score[keep] - model.truth[keep]  # type: ignore[index]
            index, counts = rs.quantile_cells(np.abs(err))
            mean_abs, mean_sq = rs.cell_means(index, counts, np.abs(err)), rs.cell_means(index, counts, err**2)
            draws = rs.resample_counts(counts, resamples, rng)
            with np.errstate(invalid="ignore", divide="ignore"):
                n = draws.sum(axis=1)
                devs.append({
                    "mae": draws @ mean_abs / n - counts @ mean_abs / counts.sum(),
                    "rmse": np.sqrt(draws @ mean_sq / n) - np.sqrt(counts @ mean_sq / counts.sum()),
                })  # fmt: skip
    return {name: devs[1][name] - devs[0][name] for name in devs[0]}


def compare_canary(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[MetricResult], dict[str, Any]]:
    results: list[MetricResult] = []
    enough_labels = min(base.labelled.sum(), cand.labelled.sum()) >= 2 and base.truth is not None
    if task == RANKING:
        if enough_labels and cand.truth is not None:
            results.extend(_ranking_results(base, cand, policy, primary, rng))
        enough_labels = False
    results.extend(_proxy_results(base, cand, policy, primary, rng))
    if enough_labels and cand.truth is not None:
        threshold = policy.validate_.performance.decision_threshold
        values_b = _label_metrics(task, base, None, threshold)
        values_c = _label_metrics(task, cand, None, threshold)
        deviations = _label_deviations(task, base, cand, None, None, policy, rng)
        results.extend(metric_results(values_b, values_c, deviations, policy, primary))
    invalid_b, invalid_c = int(base.invalid.sum()), int(cand.invalid.sum())
    results.append(error_rate_result(invalid_b, base.rows, invalid_c, cand.rows, policy, primary, rng))
    rank_tests: dict[str, Any] = {}
    if base.latency is not None and cand.latency is not None:
        lb, lc = base.latency[np.isfinite(base.latency)], cand.latency[np.isfinite(cand.latency)]
        if len(lb) and len(lc):
            edges = rs.latency_edges([lb, lc])
            point_b, point_c = np.percentile(lb, LATENCY_QUANTILES), np.percentile(lc, LATENCY_QUANTILES)
            results.extend(latency_results(point_b, point_c, rs.histogram(lb, edges), rs.histogram(lc, edges), edges,
                                           policy, primary, rng))  # fmt: skip
            rank_tests["latency"] = mann_whitney(lb, lc, rng)
    if base.score is not None and cand.score is not None:
        sb, sc = base.score[np.isfinite(base.score)], cand.score[np.isfinite(cand.score)]
        if len(sb) and len(sc):
            rank_tests["score"] = mann_whitney(sb, sc, rng)
    return results, rank_tests


def _ranking_results(
    base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """Ranking metrics per query on each side; intervals from resampling whole queries."""
    from mlrel_cli.stats import ranking

    k = policy.validate_.performance.k
    per_model = []
    for model in (base, cand):
        if model.query is None or model.position is None:
            raise LogError("comparing ranking models needs the query and position columns (columns.query, columns.position)")
        keep = model.labelled & (model.query >= 0) & np.isfinite(model.position)
        queries = ranking.group_queries(model.query[keep], model.position[keep], model.truth[keep])  # type: ignore[index]
        per_model.append({
            f"ndcg@{k}": ranking.ndcg_per_query(queries, k), "mrr": ranking.reciprocal_rank_per_query(queries),
            f"ctr@{k}": ranking.ctr_at_k_per_query(queries, k), "no_engagement": ranking.no_engagement_per_query(queries),
        })  # fmt: skip
    results = []
    resamples = policy.compare.bootstrap.resamples
    for name in per_model[0]:
        vb, vc = per_model[0][name], per_model[1][name]
        mb, mc = float(np.nanmean(vb)), float(np.nanmean(vc))
        deviation = mean_deviations(vc, resamples, rng) - mean_deviations(vb, resamples, rng)
        low, high = rs.interval(mc - mb, deviation, policy.compare.bootstrap.confidence)
        metric = name.split("@")[0]
        result = classify(metric, mb, mc, low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(mc - mb, deviation)))
    return results


def _proxy_results(
    base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """Each proxy metric on both sides; per-query metrics resample whole queries."""
    from mlrel_cli.stats.ranking import per_query_proxy, proxy_value

    results = []
    resamples = policy.compare.bootstrap.resamples
    for name, spec in policy.proxy_metrics.items():
        values, deviations = [], []
        for model in (base, cand):
            column = model.columns.get(spec.column) if spec.column else None
            num = model.columns.get(spec.numerator) if spec.numerator else None
            den = model.columns.get(spec.denominator) if spec.denominator else None
            per_query = spec.per == "query"
            if per_query and model.query is None:
                raise LogError(f"proxy metric '{name}' is per query and the log has no query column (columns.query)")
            value = proxy_value(spec.kind, column, num, den, model.query if per_query else None)
            values.append(value)
            if per_query:
                unit = per_query_proxy(spec.kind, column, num, den, model.query)  # type: ignore[arg-type]
                deviations.append(mean_deviations(unit, resamples, rng))
            elif spec.kind == "ratio":
                deviations.append(ratio_deviations(num, den, resamples, rng))  # type: ignore[arg-type]
            else:
                unit = (column != 0).astype(float) if spec.kind == "rate" else column  # type: ignore[union-attr,assignment]
                deviations.append(mean_deviations(unit, resamples, rng))
        deviation = deviations[1] - deviations[0]
        low, high = rs.interval(values[1] - values[0], deviation, policy.compare.bootstrap.confidence)
        result = classify(name, values[0], values[1], low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(values[1] - values[0], deviation)))
    return results


# ---------------------------------------------------------------- segments


def compare_segments(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[dict[str, Any]]:
    if base.truth is None or cand.truth is None or primary not in PRIMARY.values() or task == RANKING:
        return []
    threshold = policy.validate_.performance.decision_threshold
    rows: list[dict[str, Any]] = []
    for segment in policy.segments:
        values = sorted(set(base.segments[segment][base.labelled]) | set(cand.segments[segment][cand.labelled]))
        for value in values:
            mask_b, mask_c = base.segments[segment] == value, cand.segments[segment] == value
            n_b, n_c = int((mask_b & base.labelled).sum()), int((mask_c & cand.labelled).sum())

            def judge(mask_b: np.ndarray = mask_b, mask_c: np.ndarray = mask_c) -> tuple[float, float, np.ndarray]:
                vb = _label_metrics(task, base, mask_b, threshold).get(primary, np.nan)
                vc = _label_metrics(task, cand, mask_c, threshold).get(primary, np.nan)
                deviations = _label_deviations(task, base, cand, mask_b, mask_c, policy, rng).get(primary, np.array([]))
                return vb, vc, deviations

            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


# ---------------------------------------------------------------- shadow


def compare_shadow(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[MetricResult], dict[str, Any]]:
    spec = policy.compare
    if base.ids is None or cand.ids is None:
        raise LogError(f"shadow mode pairs requests on the id column '{policy.columns.id}', which a log lacks")
    index = pc.index_in(cand.ids, value_set=base.ids)
    paired_c = index.is_valid().to_numpy(zero_copy_only=False)
    paired_b = index.fill_null(0).to_numpy(zero_copy_only=False)[paired_c]
    n_pairs = int(paired_c.sum())
    fraction = n_pairs / min(base.rows, cand.rows)
    if fraction < spec.min_paired_fraction:
        raise LogError(
            f"shadow mode: only {fraction:.1%} of requests pair on '{policy.columns.id}' ({n_pairs:,} pairs), below "
            f"compare.min_paired_fraction {spec.min_paired_fraction:.0%}: are these logs of the same requests?"
        )
    pb, pc_ = _subset(base, paired_b), _subset(cand, np.flatnonzero(paired_c))
    details: dict[str, Any] = {"pairs": n_pairs, "paired_fraction": fraction}
    threshold = policy.validate_.performance.decision_threshold
    if pb.score is not None and pc_.score is not None:
        diff = pc_.score - pb.score
        finite = np.isfinite(diff)
        details["difference"] = {
            "mean": float(np.mean(diff[finite])) if finite.any() else None,
            "p5": float(np.percentile(diff[finite], 5)) if finite.any() else None,
            "p50": float(np.percentile(diff[finite], 50)) if finite.any() else None,
            "p95": float(np.percentile(diff[finite], 95)) if finite.any() else None,
        }
        order = np.argsort(-np.abs(np.where(finite, diff, 0)), kind="stable")[: spec.top_disagreements]
        ids = pc_.ids.to_pylist() if pc_.ids is not None else [None] * len(diff)
        details["top_disagreements"] = [
            {
                "id": ids[i],
                "baseline": float(pb.score[i]),
                "candidate": float(pc_.score[i]),
                "difference": float(diff[i]),
            }
            for i in order
        ]
        if task == BINARY:
            details["agreement"] = float(np.mean((pb.score >= threshold) == (pc_.score >= threshold)))
    elif pb.classes is not None and pc_.classes is not None:
        details["agreement"] = float(np.mean(pb.classes == pc_.classes))
    results: list[MetricResult] = []
    both = pb.labelled & pc_.labelled if pb.truth is not None else np.zeros(n_pairs, dtype=bool)
    if both.sum() >= 2:
        pb.labelled, pc_.labelled = both, both
        vb = _label_metrics(task, pb, None, threshold)
        vc = _label_metrics(task, pc_, None, threshold)
        deviations = _paired_deviations(task, pb, pc_, both, policy, rng)
        for name in vb:
            point = vc[name] - vb[name]
            low, high = rs.interval(point, deviations[name], spec.bootstrap.confidence)
            result = classify(name, vb[name], vc[name], low, high, policy, primary)
            results.append(with_p(result, rs.bootstrap_p_value(point, deviations[name])))
        if task in (BINARY, MULTICLASS):
            correct_b = _correct(task, pb, both, threshold)
            correct_c = _correct(task, pc_, both, threshold)
            details["mcnemar"] = rs.mcnemar(correct_b, correct_c)
    return results, details


def _subset(model: ModelRows, index: np.ndarray) -> ModelRows:
    def take(a: Any) -> Any:
        return None if a is None else a[index]

    return ModelRows(
        version=model.version, rows=len(index), score=take(model.score), classes=take(model.classes),
        truth=take(model.truth), labelled=model.labelled[index], latency=take(model.latency),
        invalid=model.invalid[index], segments={k: v[index] for k, v in model.segments.items()},
        ids=model.ids.take(pa.array(index)) if model.ids is not None else None,
    )  # fmt: skip


def _correct(task: str, model: ModelRows, keep: np.ndarray, threshold: float) -> np.ndarray:
    if task == BINARY:
        return (model.score[keep] >= threshold) == model.truth[keep]  # type: ignore[index]
    return model.classes[keep] == model.truth[keep]  # type: ignore[index]


def _paired_deviations(
    task: str, base: ModelRows, cand: ModelRows, keep: np.ndarray, policy: Policy, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Paired bootstrap: the same resampled requests for both models, at most 10,000 per resample.

    Resampling m of n pairs and scaling the deviations by sqrt(m / n) keeps a
    day of shadow traffic to a few seconds (the m-out-of-n bootstrap).
    """
    index = np.flatnonzero(keep)
    n = len(index)
    m = min(n, PAIRED_MAX_ROWS)
    threshold = policy.validate_.performance.decision_threshold
    resamples = policy.compare.bootstrap.resamples
    point_b = _label_metrics(task, base, keep, threshold)
    point_c = _label_metrics(task, cand, keep, threshold)
    names = list(point_b)
    out = {name: np.empty(resamples) for name in names}
    scale = np.sqrt(m / n)
    for r in range(resamples):
        chosen = index[rng.integers(0, n, m)]
        # duplicates matter in a bootstrap: compute on the drawn rows directly
        sub_b = _subset(base, chosen)
        sub_c = _subset(cand, chosen)
        sub_b.labelled = sub_c.labelled = np.ones(m, dtype=bool)
        mb = _label_metrics(task, sub_b, None, threshold)
        mc = _label_metrics(task, sub_c, None, threshold)
        for name in names:
            out[name][r] = ((mc[name] - mb[name]) - (point_c[name] - point_b[name])) * scale
    return out


# ---------------------------------------------------------------- verdict and report


def compare_logs(
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
    labels: Log | None,
    mode: str | None = None,
    inputs: dict[str, Any] | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    """Load the models (rows here, or summaries built on a Dask cluster) and judge them."""
    from mlrel_cli.engine import check_engine, open_engine

    engine = engine or policy.engine
    inputs = {**(inputs or {}), "engine": engine}
    if check_engine(engine, labels=labels, shadow=(mode or policy.compare.mode) == "shadow") == "local":
        base, cands, task = load_models(policy, log, baseline, candidates, baseline_log, candidate_logs, labels)
        return compare(policy, base, cands, task, mode, inputs)
    from mlrel_cli.analysis.compare_cluster import load_models_on_cluster

    with open_engine(engine, scheduler, policy.engine_timeout) as cluster:
        base_summary, cand_summaries, task = load_models_on_cluster(
            cluster, policy, log, baseline, candidates, baseline_log, candidate_logs
        )
    return compare(policy, base_summary, cand_summaries, task, mode, inputs)  # type: ignore[arg-type]


def compare(
    policy: Policy,
    base: ModelRows,
    candidates: list[ModelRows],
    task: str,
    mode: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> Report:
    spec = policy.compare
    mode = mode or spec.mode
    primary = spec.primary_metric or PRIMARY.get(task, "error_rate")
    if primary in METRIC_BY_NAME and task not in METRIC_BY_NAME[primary].tasks:
        raise MlrelError(f"compare.primary_metric '{primary}' does not apply to task '{task}'")
    for model in [base, *candidates]:
        if isinstance(model, ModelRows):
            encode_truth(model, task, policy)
    rng = np.random.default_rng(spec.bootstrap.seed)
    entries = []
    for cand in candidates:
        segments: list[dict[str, Any]]
        if not isinstance(cand, ModelRows):  # summarised on a cluster
            from mlrel_cli.analysis.compare_cluster import canary_from_summaries, segments_from_summaries

            metrics, details = canary_from_summaries(task, base, cand, policy, primary, rng)
            details = {"mann_whitney": details}
            segments = segments_from_summaries(task, base, cand, policy, primary, rng)
        elif mode == "shadow":
            metrics, details = compare_shadow(task, base, cand, policy, primary, rng)
            segments = []
        else:
            metrics, details = compare_canary(task, base, cand, policy, primary, rng)
            details = {"mann_whitney": details}
            segments = compare_segments(task, base, cand, policy, primary, rng)
        if isinstance(cand, ModelRows) and (found := compare_slices.regressions(task, base, cand, policy, mode)):
            details["weak_segments"] = found
        verdict, reasons, score = _verdict(base, cand, metrics, segments, policy, primary, mode)
        verdict, reasons = compare_slices.verdict(verdict, reasons, details.get("weak_segments"), policy)
        entries.append({"version": cand.version, "verdict": verdict, "reasons": reasons, "score": score,
                        "metrics": {m.name: m.to_dict() for m in metrics}, "segments": segments,
                        "rows": cand.rows, "labelled_rows": cand.labelled_rows, **details})  # fmt: skip
    ranked = _rank(entries, primary, higher_is_better(primary, policy))
    promotable = [e for e in ranked if e["verdict"] == "promote"]
    if promotable:
        overall, recommended = "promote", promotable[0]["version"]
    elif all(e["verdict"] == "inconclusive" for e in ranked):
        overall, recommended = "inconclusive", None
    else:
        overall, recommended = "reject", None
    return _report(overall, recommended, ranked, base, policy, primary, mode, task, inputs or {})


def _verdict(
    base: ModelRows, cand: ModelRows, metrics: list[MetricResult], segments: list[dict[str, Any]], policy: Policy,
    primary: str, mode: str,
) -> tuple[str, list[str], float]:  # fmt: skip
    spec = policy.compare
    reasons: list[str] = []
    failed = [m for m in metrics if m.gating and m.classification == "fail"]
    for m in failed:
        interval = (f"{spec.bootstrap.confidence:.0%} CI [{m.ci_low:+.3g}, {m.ci_high:+.3g}], "
                    if np.isfinite(m.ci_low) and np.isfinite(m.ci_high) else "")  # fmt: skip
        reasons.append(
            f"{m.name} {'changed' if m.higher_is_better is None else 'worse'}: {m.baseline:.4g} -> {m.candidate:.4g} "
            f"(delta {m.delta:+.3g}, {interval}allowed {m.allowed_regression:.3g})"
        )
    worse_segments = [s for s in segments if s.get("worse")]
    if worse_segments and spec.reject_on_segment_regression:
        for s in worse_segments:
            reasons.append(
                f"segment {s['segment']}={s['value']}: {primary} {s['baseline']:.4g} -> {s['candidate']:.4g} "
                f"(adjusted p {s['p_adjusted']:.3g})"
            )
    labelled = min(base.labelled_rows, cand.labelled_rows)
    counted = min(base.rows, cand.rows)
    primary_result = next((m for m in metrics if m.name == primary), None)
    classified = [m for m in metrics]
    score = (
        100.0 * sum(1.0 if m.classification == "pass" else 0.5 if m.classification == "marginal" else 0.0
                    for m in classified) / len(classified)
        if classified else 0.0
    )  # fmt: skip
    if failed or (worse_segments and spec.reject_on_segment_regression):
        return "reject", reasons, score
    needed_rows = labelled if primary in METRIC_BY_NAME else counted
    if primary_result is None and not base.has_labels:
        return "inconclusive", [*reasons, f"no labels to compare {primary} (give --labels, or a label column)"], score
    if needed_rows < spec.min_rows or primary_result is None:
        kind = "labelled " if primary in METRIC_BY_NAME else ""
        why = f"too little data: {needed_rows:,} {kind}rows on the smaller side, fewer than compare.min_rows {spec.min_rows:,}"
        return "inconclusive", [*reasons, why], score
    marginal = [m.name for m in metrics if m.gating and m.classification == "marginal"]
    reasons.append(
        f"no gating metric significantly worse ({primary} {primary_result.baseline:.4g} -> "
        f"{primary_result.candidate:.4g})" + (f"; marginal: {', '.join(marginal)}" if marginal else "")
    )
    if worse_segments:
        reasons.append("worse segments noted, not gating: " + ", ".join(f"{s['segment']}={s['value']}" for s in worse_segments))
    return "promote", reasons, score


def _rank(entries: list[dict[str, Any]], primary: str, higher: bool) -> list[dict[str, Any]]:
    order = {"promote": 0, "inconclusive": 1, "reject": 2}

    def key(entry: dict[str, Any]) -> tuple[int, float]:
        metric = entry["metrics"].get(primary)
        value = metric["candidate"] if metric else float("nan")
        signed = -value if higher else value
        return order[entry["verdict"]], signed if np.isfinite(signed) else float("inf")

    ranked = sorted(entries, key=key)
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    return ranked


def _report(
    overall: str, recommended: str | None, ranked: list[dict[str, Any]], base: ModelRows, policy: Policy,
    primary: str, mode: str, task: str, inputs: dict[str, Any],
) -> Report:  # fmt: skip
    status = {"promote": Status.PASS, "reject": Status.FAIL, "inconclusive": Status.INCONCLUSIVE}[overall]
    checks: list[Check] = []
    for entry in ranked:
        for name, m in entry["metrics"].items():
            cls = m["classification"]
            check_status = {"pass": Status.PASS, "marginal": Status.WARN, "fail": Status.FAIL}[cls]
            if not m["gating"] and check_status == Status.FAIL:
                check_status = Status.WARN
            checks.append(
                Check(
                    name=f"{entry['version']}:{name}",
                    status=check_status,
                    value=m["delta"],
                    threshold=m["allowed_regression"],
                    message=f"{m['baseline']:.4g} -> {m['candidate']:.4g}{interval_text(m['ci_low'], m['ci_high'])}"
                    f" ({cls}{', gating' if m['gating'] else ''})",
                    details={"ci": [m["ci_low"], m["ci_high"]] if m["ci_low"] is not None else None, "p_value": m["p_value"]},
                    source=policy.source_of(f"compare.max_regression.{name}"),
                )
            )
        for s in entry["segments"]:
            if s.get("worse"):
                checks.append(
                    Check(
                        name=f"{entry['version']}:{primary}[{s['segment']}={s['value']}]",
                        status=Status.FAIL if policy.compare.reject_on_segment_regression else Status.WARN,
                        value=s["delta"],
                        threshold=0.0,
                        message=f"{s['baseline']:.4g} -> {s['candidate']:.4g}, adjusted p {s['p_adjusted']:.3g}",
                        source=policy.source_of("compare.reject_on_segment_regression"),
                    )
                )
        if (slices_check := compare_slices.check(entry, policy)) is not None:
            checks.append(slices_check)
        checks.append(
            Check(
                name=f"{entry['version']}:verdict",
                status={"promote": Status.PASS, "reject": Status.FAIL, "inconclusive": Status.INCONCLUSIVE}[entry["verdict"]],
                value=entry["verdict"],
                message="; ".join(entry["reasons"]),
                details={"score": entry["score"], "rank": entry["rank"]},
            )
        )
    if overall == "promote":
        summary = f"promote {recommended}: " + ranked[0]["reasons"][-1]
    else:
        summary = f"{overall}: " + "; ".join(f"{e['version']}: {e['reasons'][0]}" for e in ranked if e["reasons"])
    return Report(
        command="compare",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs={
            **inputs,
            "baseline": base.version,
            "mode": mode,
            "task": task,
            "primary_metric": primary,
            "policy": list(policy.files),
        },
        sections={
            "verdict": overall,
            "recommended": recommended,
            "baseline": base.version,
            "candidates": ranked,
            "weak_segments": compare_slices.rows_of(ranked),
        },
    )
