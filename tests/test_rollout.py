"""mlrel rollout: a good candidate walks every step to production, a bad one is stopped, a thin step holds,
concurrent steps never skip one. File backend here; the MLflow walk is in test_registry_mlflow.py."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrel_cli.registry import model as rules
from mlrel_cli.registry import rollout as steps_rules

POLICY = """\
task: binary_classification
columns: {{timestamp: timestamp, id: prediction_id, model_version: model_version, prediction: prediction,
           label: label}}
compare: {{min_rows: 300, bootstrap: {{resamples: 300}}}}
rollout: {{steps: [1, 5, 25, 50, 100], min_duration: {min_duration}, min_rows: {min_rows}, on_inconclusive: {on_inconclusive}}}
"""


def canary_log(path: Path, since: str | None, bad: bool, n: int = 1500, seed: int = 0) -> Path:
    """Baseline v41 and candidate v42 rows served after ``since`` (the step's start) and before now."""
    rng = np.random.default_rng(seed)
    start = dt.datetime.fromisoformat(since.replace("Z", "+00:00")) if since else dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    end = dt.datetime.now(dt.UTC)
    span_us = max(int((end - start).total_seconds() * 1e6) - 2, 2)
    times = [start + dt.timedelta(microseconds=int(u)) for u in np.sort(rng.integers(1, span_us, 2 * n))]
    x = rng.normal(0, 1, 2 * n)
    label = (rng.random(2 * n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
    score = 1 / (1 + np.exp(-(2 * x + rng.normal(0, 0.5, 2 * n))))
    version = np.where(np.arange(2 * n) % 2 == 0, "v41", "v42")
    if bad:
        score = np.where(version == "v42", rng.random(2 * n), score)
    table = pa.table({
        "timestamp": pa.array(times, type=pa.timestamp("us", tz="UTC")),
        "prediction_id": [f"r{seed}-{i}" for i in range(2 * n)], "model_version": version.tolist(),
        "prediction": score, "label": label,
    })  # fmt: skip
    pq.write_table(table, path)
    return path


@pytest.fixture()
def setup(tmp_path: Path, mlrel, write_policy) -> Callable[..., tuple[Path, Path]]:
    def make(min_rows: int = 300, on_inconclusive: str = "hold", min_duration: str = "null") -> tuple[Path, Path]:
        reg = tmp_path / "registry.yaml"
        for step in (("registry", "register", "fraud", "v41", "--artifact", "s3://m/v41"),
                     ("registry", "promote", "fraud", "v41"),
                     ("registry", "register", "fraud", "v42", "--artifact", "s3://m/v42")):  # fmt: skip
            assert mlrel(*step, "--registry", reg).exit_code == 0
        policy = write_policy(POLICY.format(min_rows=min_rows, on_inconclusive=on_inconclusive, min_duration=min_duration))
        return reg, policy

    return make


def step_of(mlrel, reg: Path, log: Path, policy: Path, *extra: str) -> tuple[int, dict]:
    result = mlrel("rollout", "fraud", "--candidate", "v42", "--log", log, "-p", policy, "--registry", reg,
                   "--format", "json", *extra)  # fmt: skip
    assert result.stdout.strip(), result.stderr
    return result.exit_code, json.loads(result.stdout)


def started_at(reg: Path) -> str | None:
    from mlrel_cli.registry.file import FileRegistry

    step = steps_rules.current_step(FileRegistry(reg).read("fraud"), "fraud", "v42", [1, 5, 25, 50, 100])
    return step.started


def test_a_good_candidate_walks_every_step_to_production(setup, mlrel, tmp_path) -> None:
    reg, policy = setup()
    code, first = step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=False), policy)
    assert code == 0 and first["decision"] == "start" and first["traffic_percent_after"] == 1.0
    walked = [1.0]
    for i in range(4):
        log = canary_log(tmp_path / f"c{i + 1}.parquet", started_at(reg), bad=False, seed=i + 1)
        dry_code, dry = step_of(mlrel, reg, log, policy, "--dry-run")
        assert dry_code == 0 and dry["event"] is None and dry["summary"].startswith("dry run: ")
        code, report = step_of(mlrel, reg, log, policy)
        assert code == 0, report["summary"]
        assert report["evidence"]["verdict"] == "promote" and report["evidence"]["candidate_rows"] == 1500
        walked.append(report["traffic_percent_after"])
    assert walked == [1.0, 5.0, 25.0, 50.0, 100.0]
    assert report["decision"] == "complete"
    shown = json.loads(mlrel("registry", "show", "fraud", "--registry", reg, "--format", "json").stdout)
    assert shown["production"] == "v42" and shown["canary"] is None
    history = json.loads(mlrel("registry", "history", "fraud", "--registry", reg, "--format", "json").stdout)
    decisions = [e.get("decision") for e in history["events"] if e.get("decision")]
    assert decisions == ["start", "advance", "advance", "advance", "complete"]
    assert all("compare_summary" in e["evidence"] for e in history["events"][-4:])
    code, done = step_of(mlrel, reg, log, policy)
    assert code == 0 and done["decision"] == "done" and done["event"] is None


def test_a_bad_candidate_is_stopped_at_its_first_step(setup, mlrel, tmp_path) -> None:
    reg, policy = setup()
    assert step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=True), policy)[0] == 0
    code, report = step_of(mlrel, reg, canary_log(tmp_path / "c1.parquet", started_at(reg), bad=True), policy)
    assert code == 1 and report["decision"] == "reject" and report["status"] == "fail"
    assert "compare rejects the candidate" in report["summary"] and report["evidence"]["verdict"] == "reject"
    shown = json.loads(mlrel("registry", "show", "fraud", "--registry", reg, "--format", "json").stdout)
    v42 = next(v for v in shown["versions"] if v["version"] == "v42")
    assert shown["production"] == "v41" and shown["canary"] is None
    assert v42["status"] == "rolled_back" and v42["traffic"] == 0.0
    again = mlrel("rollout", "fraud", "--candidate", "v42", "--log", tmp_path / "c1.parquet", "-p", policy,
                  "--registry", reg)  # fmt: skip
    assert again.exit_code == 2 and "was rolled back" in again.stderr


def test_a_thin_step_holds_then_follows_on_inconclusive(setup, mlrel, tmp_path) -> None:
    reg, policy = setup(min_rows=5000)
    step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=False), policy)
    code, report = step_of(mlrel, reg, canary_log(tmp_path / "c1.parquet", started_at(reg), bad=False), policy)
    assert code == 3 and report["decision"] == "hold" and "1,500 of 5,000 rollout.min_rows" in report["summary"]
    assert report["traffic_percent_after"] == 1.0  # still the first step
    code, report = step_of(mlrel, reg, tmp_path / "c0.parquet", policy)  # written before the step began
    assert code == 3 and "no rows of" in report["summary"]


def test_a_step_younger_than_min_duration_holds_on_a_promote_verdict(setup, mlrel, tmp_path) -> None:
    reg, policy = setup(min_duration="1h")
    step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=False), policy)
    code, report = step_of(mlrel, reg, canary_log(tmp_path / "c1.parquet", started_at(reg), bad=False), policy)
    assert code == 3 and report["evidence"]["verdict"] == "promote" and "of 60 min rollout.min_duration" in report["summary"]


def test_inconclusive_after_the_budget_rolls_back_when_the_policy_says_so(setup, mlrel, tmp_path, write_policy) -> None:
    reg, _ = setup()
    policy = write_policy(
        POLICY.format(min_rows=100, on_inconclusive="rollback", min_duration="null").replace("min_rows: 300", "min_rows: 5000")
    )
    step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=False), policy)
    code, report = step_of(mlrel, reg, canary_log(tmp_path / "c1.parquet", started_at(reg), bad=False), policy)
    assert code == 1 and report["decision"] == "reject" and "on_inconclusive: rollback" in report["summary"]


def test_a_step_commits_only_if_the_step_it_judged_is_still_current(setup) -> None:
    from mlrel_cli.registry.file import FileRegistry

    reg, _ = setup()
    registry = FileRegistry(reg)
    ladder = [1.0, 5.0, 25.0, 50.0, 100.0]
    start = steps_rules.current_step(registry.read("fraud"), "fraud", "v42", ladder)
    registry.change("fraud", steps_rules.rollout_change(start, "start", "go", ladder, {}, "ci", rules.utc_now))
    judged = steps_rules.current_step(registry.read("fraud"), "fraud", "v42", ladder)
    first = steps_rules.rollout_change(judged, "advance", "ok", ladder, {}, "ci-a", rules.utc_now)
    second = steps_rules.rollout_change(judged, "advance", "ok", ladder, {}, "ci-b", rules.utc_now)
    registry.change("fraud", first)
    with pytest.raises(rules.RegistryError, match="moved from 1% to 5% by ci-a"):
        registry.change("fraud", second)
    assert registry.read("fraud").version("v42").traffic == 0.05


def test_concurrent_rollout_processes_never_skip_a_step(setup, mlrel, tmp_path) -> None:
    reg, policy = setup()
    step_of(mlrel, reg, canary_log(tmp_path / "c0.parquet", None, bad=False), policy)
    log = canary_log(tmp_path / "c1.parquet", started_at(reg), bad=False)
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlrel_cli", "rollout", "fraud", "--candidate", "v42", "--log", str(log),
                          "-p", str(policy), "--registry", str(reg), "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes.count(0) == 1 and set(codes) <= {0, 2, 3}, results
    history = [json.loads(line) for line in reg.with_name("registry.history.jsonl").read_text().splitlines()]
    advances = [e for e in history if e.get("decision") == "advance"]
    assert [e["traffic"] for e in advances] == [0.05]  # 1% -> 5% once, never on to 25%
