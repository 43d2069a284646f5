"""mlrel drill: every fault rehearsed on the sample logs and on a scikit-learn log, delays, budget, suggestions.

The sklearn log: a logistic regression fitted on the breast-cancer data, its
predictions on rows drawn with replacement, one request every 3 seconds for
10 hours, so an hourly cron window holds 1,200 rows.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import SAMPLES, T0_US

from mlrel_cli import faults
from mlrel_cli.analysis.drill import apply_patch, drill
from mlrel_cli.logs import open_log
from mlrel_cli.policy import load_policy
from mlrel_cli.render import render

SK_ROWS = 12_000
ALL_FAULTS = [f.name for f in faults.FAULTS]

SK_POLICY = """\
version: 1
task: binary_classification
validate:
  latency: {p99_ms: 60}
  performance:
    metrics:
      roc_auc: {min: 0.5, segment_min: 0.85}
drift:
  critical: [f0]
drill: {every: 1h, horizon: 2h, budget: 3h, rollback_time: 10m}
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sk_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer()
    x, y = data.data[:, :6], data.target
    model = LogisticRegression(max_iter=5000).fit(x, y)
    rng = np.random.default_rng(7)
    rows = rng.integers(0, len(y), SK_ROWS)
    jitter = rng.normal(0, 1e-3, (SK_ROWS, x.shape[1])) * x.std(axis=0)
    columns: dict[str, Any] = {f"f{i}": x[rows, i] + jitter[:, i] for i in range(x.shape[1])}
    columns.update(
        timestamp=pa.array(T0_US + np.arange(SK_ROWS, dtype=np.int64) * 3_000_000, type=pa.timestamp("us", tz="UTC")),
        prediction_id=[f"r{i}" for i in range(SK_ROWS)],
        channel=rng.choice(["web", "app", "store"], SK_ROWS, p=[0.5, 0.3, 0.2]).tolist(),
        prediction=model.predict_proba(x)[rows, 1],
        label=y[rows].astype(np.int8),
        latency_ms=rng.lognormal(3, 0.3, SK_ROWS),
    )
    path = tmp_path_factory.mktemp("sk") / "healthy.parquet"
    pq.write_table(pa.table(columns), path)
    return path


@pytest.fixture()
def sk_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(SK_POLICY)
    return path


def _faults(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["fault"]: f for f in report["faults"]}


def _patched_policy(tmp_path: Path, policy: Path, patch: dict[str, Any]) -> Path:
    """The user's step: write the suggested keys into the policy file."""
    data = yaml.safe_load(policy.read_text())

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        for key, value in over.items():
            base[key] = merge(dict(base.get(key) or {}), value) if isinstance(value, dict) else value
        return base

    out = tmp_path / "patched.yaml"
    out.write_text(yaml.safe_dump(merge(data, patch)))
    return out


# ---------------------------------------------------------------- every fault kind on each log


def test_binary_sample_every_fault_reported_and_inputs_unchanged(mlrel, tmp_path: Path) -> None:
    policy = tmp_path / "fraud.yaml"
    policy.write_text(f"extends: {SAMPLES.parent / 'configs' / 'fraud.yaml'}\ndrill: {{every: 1h, horizon: 2h, budget: 3h}}\n")
    inputs = [SAMPLES / n for n in ("current.parquet", "labels.parquet", "reference.parquet")]
    before = [_sha(p) for p in inputs]
    code, report = mlrel.json(
        "drill", "--log", inputs[0], "--labels", inputs[1], "--reference", inputs[2], "-p", policy,
        "-o", tmp_path / "drill.html",
    )  # fmt: skip
    assert [_sha(p) for p in inputs] == before
    found = _faults(report)
    assert list(found) == ALL_FAULTS
    applicable = {n: f for n, f in found.items() if f["skipped"] is None}
    assert set(found) - set(applicable) == {"proxy_drop", "ranking_degradation"}  # no proxy metric, not ranking
    for fault in applicable.values():
        assert fault["caught"] is (fault["delay_s"] is not None)
        assert fault["injected_at"] == report["inputs"]["injected_at"]
    assert found["shift_feature"]["check"] == "drift:amount" and found["shift_feature"]["delay_s"] == 3600
    assert found["null_burst"]["check"] == "missing:amount"
    assert found["nan_predictions"]["check"] == "prediction"
    assert found["latency_spike"]["check"] == "latency:p99"
    assert found["duplicated_ids"]["check"] == "duplicates"
    assert found["unseen_categories"]["check"] == "unseen:country"
    # rows until detection: the rows of the first hourly window after the injection
    assert 0 < found["nan_predictions"]["rows_until_detection"] < 2000
    assert code == (1 if any(f["status"] == "fail" for f in found.values()) else 0)
    page = (tmp_path / "drill.html").read_text()
    assert page.count("<svg") == len(applicable)


def test_ranking_sample_ranking_and_proxy_faults(mlrel, tmp_path: Path) -> None:
    policy = tmp_path / "ranking.yaml"
    policy.write_text(
        f"extends: {SAMPLES.parent / 'configs' / 'search-ranking.yaml'}\n"
        "drill: {every: 1h, horizon: 2h, budget: 3h, rollback_time: 5m}\n"
    )
    log = SAMPLES / "ranking_reference.parquet"
    before = _sha(log)
    code, report = mlrel.json("drill", "--log", log, "-p", policy)
    assert _sha(log) == before
    found = _faults(report)
    assert list(found) == ALL_FAULTS
    assert found["ranking_degradation"]["caught"] and found["ranking_degradation"]["check"].startswith("performance:")
    assert found["proxy_drop"]["check"] == "proxy:conversion"
    assert found["label_flip"]["caught"]
    assert "no latency column" in found["latency_spike"]["skipped"]
    assert "no id column" in found["duplicated_ids"]["skipped"]
    assert report["inputs"]["reference"].startswith("reference (healthy rows before")
    assert code in (0, 1)


def test_sklearn_log_every_fault_with_its_delay(sk_log: Path, sk_policy: Path) -> None:
    report = drill(open_log(sk_log), load_policy(sk_policy), seed=1)
    found = {f["fault"]: f for f in report.to_dict()["faults"]}
    assert list(found) == ALL_FAULTS
    expected = {
        "shift_feature": "drift:f0",
        "null_burst": "missing:f0",
        "out_of_range": "range:f0",
        "nan_predictions": "prediction",
        "constant_predictions": "prediction",
        "duplicated_ids": "duplicates",
        "latency_spike": "latency:p99",
        "unseen_categories": "unseen:channel",
    }
    for name, check in expected.items():
        assert found[name]["caught"], name
        assert found[name]["check"] == check, (name, found[name]["check"])
        assert found[name]["delay_s"] == 3600 and found[name]["rows_until_detection"] == 1200
        assert found[name]["within_budget"] is True
    for fault in found.values():
        assert (fault["delay_s"] is None) is (not fault["caught"]), fault["fault"]
    # roc_auc >= 0.5 is too lax a bound for 40 % flipped labels: the drill says so
    assert not found["label_flip"]["caught"] and found["label_flip"]["status"] == "fail"


# ---------------------------------------------------------------- no false credit


def test_a_fault_that_changes_nothing_is_missed(sk_log: Path, sk_policy: Path) -> None:
    identity = faults.Fault("nothing", lambda log, size, start, seed, roles: log, 1.0, None, "prediction", "validate", "")
    report = drill(open_log(sk_log), load_policy(sk_policy), registry=[identity], suggest=False)
    (fault,) = report.to_dict()["faults"]
    assert fault["caught"] is False and fault["check"] is None
    assert report.exit_code == 1


def test_a_check_failing_on_healthy_traffic_gets_no_credit(sk_log: Path, tmp_path: Path) -> None:
    """latency p99 below every healthy window's: it fails anyway, so it cannot be what caught the spike."""
    policy = tmp_path / "noisy.yaml"
    policy.write_text(SK_POLICY.replace("p99_ms: 60", "p99_ms: 5"))
    report = drill(open_log(sk_log), load_policy(policy), names=["latency_spike"], suggest=False)
    (fault,) = report.to_dict()["faults"]
    assert fault["caught"] is False
    assert all("latency:p99" not in w["failing"] for w in fault["windows"])


# ---------------------------------------------------------------- verdict and exit codes


def test_exit_0_when_every_required_fault_is_caught_in_budget(mlrel, sk_log: Path, sk_policy: Path) -> None:
    code, report = mlrel.json("drill", "--log", sk_log, "-p", sk_policy, "--faults", "nan_predictions,latency_spike")
    assert code == 0 and report["status"] == "pass"
    assert all(f["within_budget"] for f in report["faults"])


def test_late_fault_exits_1_and_the_smaller_window_suggested_fixes_it(mlrel, sk_log: Path, tmp_path: Path) -> None:
    policy = tmp_path / "tight.yaml"
    policy.write_text(SK_POLICY.replace("budget: 3h", "budget: 30m").replace("rollback_time: 10m", "rollback_time: 5m"))
    code, report = mlrel.json("drill", "--log", sk_log, "-p", policy, "--faults", "nan_predictions")
    (fault,) = report["faults"]
    assert code == 1 and fault["caught"] and not fault["within_budget"]
    suggestion = fault["suggestion"]
    assert suggestion["verified"] and suggestion["every"] == "15m"
    code, report = mlrel.json(
        "drill", "--log", sk_log, "-p", policy, "--faults", "nan_predictions", "--every", suggestion["every"]
    )
    (fault,) = report["faults"]
    assert code == 0 and fault["within_budget"] and fault["delay_s"] == 900


def test_only_required_faults_decide(mlrel, sk_log: Path, tmp_path: Path) -> None:
    policy = tmp_path / "required.yaml"
    policy.write_text(SK_POLICY.replace("drill: {", "drill: {required: [nan_predictions], "))
    code, report = mlrel.json("drill", "--log", sk_log, "-p", policy, "--faults", "nan_predictions,traffic_gap")
    found = _faults(report)
    assert not found["traffic_gap"]["caught"] and found["traffic_gap"]["status"] == "warn"
    assert code == 0 and report["status"] == "warn"


def test_missed_traffic_gap_caught_with_the_suggested_volume_floor(mlrel, sk_log: Path, sk_policy: Path, tmp_path: Path) -> None:
    code, report = mlrel.json("drill", "--log", sk_log, "-p", sk_policy, "--faults", "traffic_gap")
    (fault,) = report["faults"]
    assert code == 1 and not fault["caught"]
    assert fault["suggestion"]["verified"] and "validate.volume.min_rows" in fault["suggestion"]["change"]
    patched = _patched_policy(tmp_path, sk_policy, fault["suggestion"]["policy"])
    code, report = mlrel.json("drill", "--log", sk_log, "-p", patched, "--faults", "traffic_gap")
    assert code == 0 and report["faults"][0]["check"] == "volume"


def test_missed_shift_caught_once_the_feature_is_critical(mlrel, sk_log: Path, tmp_path: Path) -> None:
    policy = tmp_path / "not-critical.yaml"
    policy.write_text(SK_POLICY.replace("critical: [f0]", "critical: []"))
    code, report = mlrel.json("drill", "--log", sk_log, "-p", policy, "--faults", "shift_feature")
    (fault,) = report["faults"]
    assert not fault["caught"], fault
    assert fault["suggestion"]["verified"] and fault["suggestion"]["policy"] == {"drift": {"critical": ["f0"]}}
    patched = _patched_policy(tmp_path, policy, fault["suggestion"]["policy"])
    code, report = mlrel.json("drill", "--log", sk_log, "-p", patched, "--faults", "shift_feature")
    assert code == 0 and report["faults"][0]["check"] == "drift:f0"


def test_segment_only_degradation_caught_once_the_segment_is_declared(mlrel, sk_log: Path, tmp_path: Path) -> None:
    policy = tmp_path / "no-segments.yaml"
    policy.write_text(SK_POLICY.replace("drill: {", "drill: {sizes: {segment_degradation: 0.3}, "))
    code, report = mlrel.json("drill", "--log", sk_log, "-p", policy, "--faults", "segment_degradation")
    (fault,) = report["faults"]
    assert not fault["caught"], fault
    assert fault["suggestion"]["policy"] == {"segments": ["channel"]} and fault["suggestion"]["verified"]
    patched = _patched_policy(tmp_path, policy, fault["suggestion"]["policy"])
    code, report = mlrel.json("drill", "--log", sk_log, "-p", patched, "--faults", "segment_degradation")
    assert code == 0 and report["faults"][0]["check"].startswith("performance:roc_auc[channel=")


def test_apply_patch_validates_the_changed_policy(sk_policy: Path) -> None:
    from mlrel_cli.errors import MlrelError

    policy = load_policy(sk_policy)
    assert apply_patch(policy, {"drift": {"critical": ["f0", "f1"]}}).drift.critical == ["f0", "f1"]
    assert apply_patch(policy, {}).drill.every == policy.drill.every
    with pytest.raises((MlrelError, ValueError)):
        apply_patch(policy, {"validate": {"missing": {"max_fraction": 7}}})


def test_too_short_a_log_is_inconclusive(mlrel, sk_log: Path, sk_policy: Path) -> None:
    code, report = mlrel.json("drill", "--log", sk_log, "-p", sk_policy, "--at", "2026-11-23T09:30:00Z")
    assert code == 3 and report["status"] == "inconclusive"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "nan_predicton"], "--faults: unknown fault 'nan_predicton' (did you mean 'nan_predictions'?)"),
        (["--every", "5x"], "--every: '5x' is not a duration"),
        (["--at", "2027-01-01T00:00:00Z"], "--at 2027-01-01T00:00:00+00:00 is outside the log"),
        (["--at", "noon"], "--at: 'noon' is not an ISO-8601 time"),
    ],
)
def test_bad_input_exits_2_with_one_line(mlrel, sk_log: Path, sk_policy: Path, tmp_path: Path, args, message) -> None:
    out = tmp_path / "report.md"
    result = mlrel("drill", "--log", sk_log, "-p", sk_policy, *args, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("required: [latency_spik]", "drill.required[0]: unknown fault 'latency_spik' (did you mean 'latency_spike'?)"),
        ("sizes: {shift_featur: 1}", "drill.sizes.shift_featur: unknown fault 'shift_featur' (did you mean 'shift_feature'?)"),
        ("columns: {null_burst: nope}", "drill.columns.null_burst: column 'nope' is not in the log"),
        ("canary: 1.5", "drill.canary: Input should be less than 1"),
    ],
)
def test_bad_drill_keys_are_policy_errors(mlrel, sk_log: Path, tmp_path: Path, keys: str, message: str) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(SK_POLICY.replace("drill: {", "drill: {" + keys + ", "))
    result = mlrel("drill", "--log", sk_log, "-p", policy, "--faults", "null_burst")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_drill_columns_choose_the_column_a_fault_hits(sk_log: Path, tmp_path: Path) -> None:
    policy = tmp_path / "columns.yaml"
    policy.write_text(SK_POLICY.replace("drill: {", "drill: {columns: {null_burst: f3}, sizes: {null_burst: 0.6}, "))
    report = drill(open_log(sk_log), load_policy(policy), names=["null_burst"], suggest=False)
    (fault,) = report.to_dict()["faults"]
    assert fault["column"] == "f3" and fault["size"] == 0.6 and fault["check"] == "missing:f3"


# ---------------------------------------------------------------- determinism and formats


def test_same_seed_same_drill(sk_log: Path, sk_policy: Path) -> None:
    def run(seed: int) -> str:
        report = drill(open_log(sk_log), load_policy(sk_policy), names=["null_burst", "duplicated_ids"], seed=seed)
        return json.dumps(report.to_dict()["faults"], sort_keys=True)

    assert run(5) == run(5)
    log = open_log(sk_log).read(["timestamp", "f0"])
    start = faults.FAULTS[0].__class__  # the registry's record type
    assert start is faults.Fault
    a = faults.inject("null_burst", log, column="f0", seed=1)
    b = faults.inject("null_burst", log, column="f0", seed=2)
    assert not a.equals(b)


def test_formats_one_status_per_fault(sk_log: Path, sk_policy: Path) -> None:
    report = drill(open_log(sk_log), load_policy(sk_policy), names=["nan_predictions", "traffic_gap"])
    suite = ET.fromstring(render(report, "junit"))
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"fault:nan_predictions", "fault:traffic_gap"}
    assert cases["fault:traffic_gap"].find("failure") is not None and cases["fault:nan_predictions"].find("failure") is None
    markdown = render(report, "markdown")
    assert "| fault | size | caught by | delay | within budget |" in markdown
    assert "| nan_predictions | 0.05 | prediction | 1h (1,200 rows) | yes |" in markdown
    data = json.loads(render(report, "json"))
    for fault in data["faults"]:
        assert {"fault", "size", "injected_at", "caught", "check", "delay_s", "rows_until_detection", "within_budget",
                "suggestion"} <= set(fault)  # fmt: skip
    statuses = {c["name"]: c["status"] for c in data["checks"]}
    assert statuses == {"fault:nan_predictions": "pass", "fault:traffic_gap": "fail"}
    page = render(report, "html")
    assert page.count("<svg") == 2 and "Timeline per fault" in page


def test_canary_faults_land_on_the_candidate_and_compare_catches_them(mlrel, sk_log: Path, tmp_path: Path) -> None:
    """drill.canary: 0.3 of the traffic after the injection is a candidate; a label flip there is diluted below
    validate's lax roc_auc bound on the whole window, and compare's canary judgement catches it."""
    policy = tmp_path / "canary.yaml"
    policy.write_text(SK_POLICY.replace("drill: {", "drill: {canary: 0.3, ") + "compare: {min_rows: 100}\n")
    code, report = mlrel.json("drill", "--log", sk_log, "-p", policy, "--faults", "label_flip,nan_predictions")
    found = _faults(report)
    flip = found["label_flip"]
    assert flip["caught"] and flip["check"].startswith("compare:"), flip
    assert not any(c.startswith("performance:roc_auc") for c in flip["windows"][0]["failing"])
    # a NaN burst on the candidate's rows only: 30 % of 5 % of the window, still caught by validate's prediction check
    assert found["nan_predictions"]["check"] == "prediction"
    assert report["inputs"]["canary"] == 0.3
    assert code == 0


def test_missed_label_flip_caught_with_the_suggested_metric_bound(mlrel, sk_log: Path, sk_policy: Path, tmp_path: Path) -> None:
    """roc_auc >= 0.5 lets 40 % flipped labels through; the suggested bound (5 % under a healthy window's) catches them."""
    code, report = mlrel.json("drill", "--log", sk_log, "-p", sk_policy, "--faults", "label_flip")
    (fault,) = report["faults"]
    assert code == 1 and not fault["caught"]
    suggestion = fault["suggestion"]
    assert suggestion["verified"] and "validate.performance.metrics.roc_auc.min" in suggestion["change"]
    limit = suggestion["policy"]["validate"]["performance"]["metrics"]["roc_auc"]["min"]
    assert 0.5 < limit < 1.0
    patched = _patched_policy(tmp_path, sk_policy, suggestion["policy"])
    code, report = mlrel.json("drill", "--log", sk_log, "-p", patched, "--faults", "label_flip")
    assert code == 0 and report["faults"][0]["check"] == "performance:roc_auc"
