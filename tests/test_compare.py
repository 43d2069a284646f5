"""mlrel compare: statistics checked against scipy, and verdicts end to end on generated canaries."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import binary_metrics


def _model(version: str, n: int, noise: float, seed: int, latency: float = 3.0, worse_in: str | None = None) -> pa.Table:
    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    seg = r.choice(["a", "b", "c"], n)
    y = (r.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
    # worse_in: much noisier in that segment, sharper everywhere else (better overall, worse for one segment)
    noise_per_row = np.where(seg == worse_in, 3.0, 0.2) if worse_in else noise
    score = 1 / (1 + np.exp(-(2 * x + r.normal(0, 1, n) * noise_per_row)))
    return pa.table({
        "prediction_id": [f"{version}-{i}" for i in range(n)], "model_version": [version] * n, "prediction": score,
        "label": y, "latency_ms": r.lognormal(latency, 0.3, n), "seg": seg,
    })  # fmt: skip


@pytest.fixture()
def canary(write_log):
    def make(*models: pa.Table):
        return write_log(pa.concat_tables(models))

    return make


def _run(mlrel, path, *candidates, policy=None, extra=()):
    args = ["compare", "--log", path, "--baseline", "v41"]
    for c in candidates:
        args += ["--candidate", c]
    if policy:
        args += ["-p", policy]
    return mlrel.json(*args, *extra)


def test_worse_candidate_is_rejected(mlrel, canary) -> None:
    code, report = _run(mlrel, canary(_model("v41", 8000, 1.0, 1), _model("v42", 8000, 2.5, 2)), "v42")
    assert code == 1 and report["verdict"] == "reject"
    auc = report["candidates"][0]["metrics"]["roc_auc"]
    assert auc["delta"] < 0 and auc["ci_high"] < 0 and auc["classification"] == "fail"
    assert "roc_auc worse" in report["candidates"][0]["reasons"][0]


def test_equal_candidate_is_not_rejected(mlrel, canary) -> None:
    code, report = _run(mlrel, canary(_model("v41", 8000, 1.0, 1), _model("v42", 8000, 1.0, 2)), "v42")
    assert report["verdict"] == "promote" and code == 0
    auc = report["candidates"][0]["metrics"]["roc_auc"]
    assert auc["ci_low"] < 0 < auc["ci_high"]


def test_better_candidate_is_promoted_and_ranked_first(mlrel, canary) -> None:
    path = canary(_model("v41", 8000, 1.5, 1), _model("v42", 8000, 1.5, 2), _model("v43", 8000, 0.5, 3))
    code, report = _run(mlrel, path, "v42", "v43")
    assert code == 0 and report["recommended"] == "v43"
    assert [c["version"] for c in report["candidates"]] == ["v43", "v42"]
    assert report["candidates"][0]["metrics"]["roc_auc"]["ci_low"] > 0


def test_tiny_sample_is_inconclusive(mlrel, canary) -> None:
    code, report = _run(mlrel, canary(_model("v41", 300, 1.0, 1), _model("v42", 300, 1.0, 2)), "v42")
    assert code == 3 and report["verdict"] == "inconclusive" and report["status"] == "inconclusive"
    assert "too little data" in report["candidates"][0]["reasons"][-1]


def test_candidate_worse_in_one_segment_is_caught(mlrel, canary, write_policy) -> None:
    path = canary(_model("v41", 12000, 1.0, 1), _model("v42", 12000, 1.0, 2, worse_in="b"))
    policy = write_policy("segments: [seg]\ncompare: {max_regression: {roc_auc: 0.05}}\n")
    code, report = _run(mlrel, path, "v42", policy=policy)
    segments = {s["value"]: s for s in report["candidates"][0]["segments"]}
    assert segments["b"]["worse"] and not segments["a"]["worse"] and not segments["c"]["worse"]
    assert code == 1 and "segment seg=b" in " ".join(report["candidates"][0]["reasons"])
    relaxed = write_policy("segments: [seg]\ncompare: {max_regression: {roc_auc: 0.05}, reject_on_segment_regression: false}\n")
    code, report = _run(mlrel, path, "v42", policy=relaxed)
    assert code == 0


def test_slower_candidate_is_rejected_on_latency(mlrel, canary) -> None:
    code, report = _run(mlrel, canary(_model("v41", 8000, 1.0, 1), _model("v42", 8000, 1.0, 2, latency=3.5)), "v42")
    metrics = report["candidates"][0]["metrics"]
    assert metrics["latency_p99"]["classification"] == "fail" and code == 1
    assert report["candidates"][0]["mann_whitney"]["latency"]["p_value"] < 1e-6


def test_labels_missing_is_inconclusive_not_a_crash(mlrel, write_log) -> None:
    a, b = _model("v41", 3000, 1.0, 1).drop(["label"]), _model("v42", 3000, 1.0, 2).drop(["label"])
    code, report = _run(mlrel, write_log(pa.concat_tables([a, b])), "v42")
    assert code == 3 and "no labels" in report["candidates"][0]["reasons"][-1]


def test_shadow_mode_pairs_requests(mlrel, write_log) -> None:
    base = _model("v41", 6000, 1.0, 1)
    score = np.clip(base["prediction"].to_numpy() + np.random.default_rng(3).normal(0, 0.02, 6000), 0, 1)
    shadow = base.set_column(2, "prediction", pa.array(score)).set_column(1, "model_version", pa.array(["v42"] * 6000))
    code, report = mlrel.json(
        "compare", "--baseline-log", write_log(base), "--candidate-log", write_log(shadow), "--mode", "shadow"
    )
    cand = report["candidates"][0]
    assert cand["version"] == "v42" and cand["pairs"] == 6000 and cand["paired_fraction"] == 1.0
    assert 0.9 < cand["agreement"] <= 1.0 and len(cand["top_disagreements"]) == 10
    top = cand["top_disagreements"][0]
    assert abs(top["difference"]) == pytest.approx(np.max(np.abs(score - base["prediction"].to_numpy())))
    assert set(cand["mcnemar"]) == {"b", "c", "statistic", "p_value"}
    assert code in (0, 1)


def test_shadow_mode_with_unpaired_ids_fails_clearly(mlrel, write_log) -> None:
    base, other = _model("v41", 2000, 1.0, 1), _model("v42", 2000, 1.0, 2)
    result = mlrel("compare", "--baseline-log", write_log(base), "--candidate-log", write_log(other), "--mode", "shadow")
    assert result.exit_code == 2 and "only 0.0% of requests pair" in result.stderr


def test_version_absent_from_the_log(mlrel, canary) -> None:
    result = mlrel("compare", "--log", canary(_model("v41", 500, 1.0, 1)), "--baseline", "v41", "--candidate", "v99")
    assert result.exit_code == 2 and "version 'v99' is not in the log" in result.stderr


def test_a_version_compared_with_itself_is_a_usage_error(mlrel, canary) -> None:
    """It was promoted (exit 0): two copies of one model cannot differ."""
    log = canary(_model("v41", 500, 1.0, 1))
    result = mlrel("compare", "--log", log, "--baseline", "v41", "--candidate", "v41")
    assert result.exit_code == 2 and "a version cannot be compared with itself" in result.stderr
    result = mlrel("compare", "--log", log, "--baseline", "v40", "--candidate", "v41", "--candidate", "v41")
    assert result.exit_code == 2 and "the same version twice" in result.stderr


def test_candidates_without_a_baseline_is_a_usage_error(mlrel, canary) -> None:
    result = mlrel("compare", "--log", canary(_model("v41", 500, 1.0, 1)), "--candidate", "v41")
    assert result.exit_code == 2 and "--baseline" in result.stderr


# ---------------------------------------------------------------- the statistics


def test_mcnemar_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(500) < 0.7, rng.random(500) < 0.75
    got = rs.mcnemar(a, b)
    n01, n10 = int(np.sum(a & ~b)), int(np.sum(~a & b))
    expected = (abs(n01 - n10) - 1) ** 2 / (n01 + n10)
    assert got["statistic"] == pytest.approx(expected)
    assert got["p_value"] == pytest.approx(stats.chi2.sf(expected, 1))
    small = rs.mcnemar(np.array([True] * 5 + [False] * 3), np.array([False] * 5 + [True] * 3))
    assert small["p_value"] == pytest.approx(stats.binomtest(5, 8, 0.5).pvalue)


def test_mann_whitney_is_scipys() -> None:
    from mlrel_cli.analysis.compare.judge import mann_whitney

    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 400), rng.normal(0.2, 1, 500)
    got = mann_whitney(a, b, rng)
    expected = stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    assert got.u == pytest.approx(expected.statistic) and got.p_value == pytest.approx(expected.pvalue)


def test_binned_metrics_agree_with_exact_ones() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(20_000) < 0.3
    score = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    edges = rs.score_edges([score], 0.5)
    cells = rs.binary_cells(y, score, edges, 0.5)
    binned = rs.binary_metrics_from_counts(cells, cells.positives[None, :], cells.negatives[None, :])
    exact = binary_metrics(y, score, 0.5)
    for name in ("accuracy", "precision", "recall", "f1", "positive_rate"):
        assert binned[name][0] == pytest.approx(exact[name], abs=1e-12), name
    for name in ("log_loss", "brier"):
        assert binned[name][0] == pytest.approx(exact[name], rel=1e-9), name
    assert binned["roc_auc"][0] == pytest.approx(exact["roc_auc"], abs=2e-3)


def test_bootstrap_interval_covers_the_truth_about_95_percent() -> None:
    """A difference of two error rates, 0.10 vs 0.12: over 200 experiments the 95% interval covers 0.02."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(200):
        a = rng.random(4000) < 0.10
        b = rng.random(4000) < 0.12
        ca = np.array([a.sum(), (~a).sum()], dtype=float)
        cb = np.array([b.sum(), (~b).sum()], dtype=float)
        dev = (rs.resample_counts(cb, 400, rng)[:, 0] / 4000 - b.mean()) - (
            rs.resample_counts(ca, 400, rng)[:, 0] / 4000 - a.mean()
        )
        low, high = rs.interval(b.mean() - a.mean(), dev, 0.95)
        covered += low <= 0.02 <= high
    assert 0.90 <= covered / 200 <= 0.99


def test_latency_percentiles_from_a_fine_histogram() -> None:
    values = np.random.default_rng(4).lognormal(3, 0.5, 50_000)
    edges = rs.latency_edges([values])
    got = rs.percentiles_from_counts(rs.histogram(values, edges)[None, :], edges, [50, 95, 99])[0]
    assert got == pytest.approx(np.percentile(values, [50, 95, 99]), rel=0.01)


def test_two_logs_of_the_same_version_are_named_by_file(mlrel, write_log) -> None:
    base = write_log(_model("v41", 1000, 1.0, 1), name="monday.parquet")
    cand = write_log(_model("v41", 1000, 1.0, 2), name="tuesday.parquet")
    _, report = mlrel.json("compare", "--baseline-log", base, "--candidate-log", cand)
    assert report["baseline"] == "v41" and report["candidates"][0]["version"] == "tuesday.parquet"


def test_ratio_proxy_interval_has_the_rows_spread() -> None:
    """A ratio's spread, from its sums by the delta method, matches resampling whole rows (the numerator alone
    would understate it by about a fifth)."""
    from mlrel_cli.stats.ranking import proxy_from_sums, proxy_sums

    rng = np.random.default_rng(9)
    n = 20_000
    num, den = rng.random(n) * 2, rng.integers(1, 5, n).astype(float)
    rows = [num[i].sum() / den[i].sum() for i in (rng.integers(0, n, n) for _ in range(400))]
    value, se = proxy_from_sums("ratio", proxy_sums("ratio", None, num, den))
    assert value == pytest.approx(num.sum() / den.sum()) and se == pytest.approx(np.std(rows), rel=0.12)


def test_local_engine_values_are_every_rows_exact_metrics(mlrel, canary, write_policy) -> None:
    """On the local engine the evidence keeps every row: ROC AUC, log loss and latency percentiles are the exact
    ones of all rows (scikit-learn, numpy), per segment too, and the intervals come from the shared cells."""
    from sklearn.metrics import log_loss, roc_auc_score

    base, cand = _model("v41", 3000, 1.0, 11), _model("v42", 3000, 1.3, 12)
    policy = write_policy("segments: [seg]\ncompare: {min_segment_size: 100}\n")
    _, report = _run(mlrel, canary(base, cand), "v42", policy=policy)
    (found,) = report["candidates"]
    for side, table in (("baseline", base), ("candidate", cand)):
        y, p = table["label"].to_numpy(), table["prediction"].to_numpy()
        latency = table["latency_ms"].to_numpy()
        assert found["metrics"]["roc_auc"][side] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert found["metrics"]["log_loss"][side] == pytest.approx(log_loss(y, p), rel=1e-9)
        assert found["metrics"]["latency_p99"][side] == pytest.approx(np.percentile(latency, 99), rel=1e-12)
        seg = table["seg"].to_numpy().astype(str)
        for s in found["segments"]:
            rows = seg == s["value"]
            assert s[side] == pytest.approx(roc_auc_score(y[rows], p[rows]), abs=1e-12)
    roc = found["metrics"]["roc_auc"]
    assert roc["ci_low"] < roc["delta"] < roc["ci_high"] and roc["ci_high"] - roc["ci_low"] < 0.06
