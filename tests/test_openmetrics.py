"""OpenMetrics exposition: parsed back with prometheus_client's own parsers, the values the JSON report has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import binary_log

pytest.importorskip("prometheus_client", reason="the metrics extra (prometheus_client) is not installed")
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from mlrel_cli.render.openmetrics import MAX_SEGMENT_VALUES, render
from mlrel_cli.report import Check, Report, Status

ROOT = Path(__file__).resolve().parent.parent


def samples_of(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in parse_openmetrics(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def one(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_validate_metrics_carry_the_json_values_and_the_file_is_written(mlrel, write_log, write_policy, tmp_path) -> None:
    log = write_log(binary_log())
    policy = write_policy(
        "model: fraud\ncolumns: {id: prediction_id, latency: latency_ms}\nvalidate:\n  freshness: {max_age: 30m}\n"
    )
    prom = tmp_path / "mlrel.prom"
    args = ("validate", log, "-p", policy, "--now", "2026-11-23T03:00:00Z")
    code, report = mlrel.json(*args)
    result = mlrel(*args, "-f", "openmetrics", "-o", prom)
    assert code == result.exit_code == 1
    assert result.stdout == prom.read_text() and result.stdout.endswith("# EOF\n")

    samples = samples_of(prom.read_text())
    base = {"model": "fraud", "command": "validate", "policy": str(policy)}
    assert one(samples, "mlrel_run_exit_code", **base) == 1
    assert one(samples, "mlrel_run_status", status="fail", **base) == Status.FAIL.severity
    for c in report["checks"]:
        assert one(samples, "mlrel_check_status", check=c["name"], status=c["status"]) == Status(c["status"]).severity
        if isinstance(c["value"], int | float):
            assert one(samples, "mlrel_check_value", check=c["name"]) == pytest.approx(c["value"])
    freshness = next(c for c in report["checks"] if c["name"] == "freshness")
    assert one(samples, "mlrel_check_threshold", check="freshness", bound="limit") == freshness["threshold"] == 1800
    assert one(samples, "mlrel_run_checks", status="fail") == report["counts"]["fail"]
    # node_exporter's textfile collector and the Pushgateway read the Prometheus text format: so does this file
    names = {family.name for family in parse_prometheus(prom.read_text())}
    assert {"mlrel_check_status", "mlrel_run_timestamp_seconds", "mlrel_check_value"} <= names


def test_drift_scores_and_noise_per_feature(mlrel, write_log, tmp_path) -> None:
    ref = write_log(binary_log(seed=1))
    cur = write_log(binary_log(seed=2))
    _code, report = mlrel.json("drift", "-r", ref, "-c", cur)
    text = mlrel("drift", "-r", ref, "-c", cur, "-f", "openmetrics").stdout
    samples = samples_of(text)
    for feature in report["features"]:
        score = one(samples, "mlrel_drift_score", feature=feature["name"], method=feature["method"])
        assert score == pytest.approx(feature["score"])
        assert one(samples, "mlrel_drift_noise", feature=feature["name"]) == pytest.approx(feature["noise"])


def test_postmortem_times_in_seconds(mlrel) -> None:
    args = (
        "postmortem",
        "--incident",
        ROOT / "configs/incident-example.yaml",
        "-p",
        ROOT / "configs/fraud.yaml",
        "--log",
        ROOT / "samples/incident.parquet",
        "--registry",
        ROOT / "samples/registry.yaml",
    )
    facts = json.loads(mlrel(*args, "-f", "json").stdout)
    samples = samples_of(mlrel(*args, "-f", "openmetrics").stdout)
    by_name = {c["name"]: c for c in facts["checks"]}
    detect = one(samples, "mlrel_postmortem_time_to_detect_seconds", incident="INC-2231", model="checkout-fraud")
    assert detect == by_name["time_to_detect"]["value"] == 2400
    assert one(samples, "mlrel_postmortem_time_to_mitigate_seconds") == by_name["time_to_mitigate"]["value"]


def test_segment_values_are_capped_worst_first() -> None:
    checks = [Check(f"performance:roc_auc[city=c{i}]", Status.PASS, 0.7, {"min": 0.5}) for i in range(50)]
    checks.append(Check("performance:roc_auc[city=bad]", Status.FAIL, 0.4, {"min": 0.5}))
    checks.append(Check("volume", Status.PASS, 100))
    samples = samples_of(render(Report("validate", Status.FAIL, "s", tuple(checks))))
    kept = [s.labels["segment"] for s in samples["mlrel_check_status"] if s.labels["check"] == "performance:roc_auc"]
    assert len(kept) == MAX_SEGMENT_VALUES and kept[0] == "city=bad"
    assert one(samples, "mlrel_segment_values_dropped") == 51 - MAX_SEGMENT_VALUES
    assert one(samples, "mlrel_check_threshold", check="performance:roc_auc", segment="city=bad", bound="min") == 0.5
    assert one(samples, "mlrel_check_value", check="volume") == 100


def test_label_values_are_escaped() -> None:
    report = Report("validate", Status.PASS, "s", (Check('range:we"ird\ncol\\', Status.PASS, 0.0),), inputs={"model": 'a"b'})
    (sample,) = samples_of(render(report))["mlrel_check_status"]
    assert sample.labels["check"] == 'range:we"ird\ncol\\' and sample.labels["model"] == 'a"b'


def test_an_input_error_leaves_the_run_series_with_exit_code_2(mlrel, tmp_path: Path) -> None:
    """A cron job alerting on mlrel_run_exit_code sees a run that could not judge, in stdout and in -o FILE.prom."""
    previous = tmp_path / "validate.prom"
    previous.write_text("# a previous green run\n")
    result = mlrel("validate", str(tmp_path / "missing.parquet"), "--format", "openmetrics", "-o", str(previous))
    assert result.exit_code == 2 and result.stderr.count("error:") == 1
    for text in (result.stdout, previous.read_text()):
        families = {f.name: f for f in parse_openmetrics(text)}
        [code] = families["mlrel_run_exit_code"].samples
        [status] = families["mlrel_run_status"].samples
        assert code.value == 2 and code.labels["command"] == "validate"
        assert status.labels["status"] == "error" and status.value == 5
