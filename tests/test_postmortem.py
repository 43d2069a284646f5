"""mlrel postmortem on a generated incident: onset, root causes, times, and what it cannot know."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INCIDENT = ROOT / "configs" / "incident-example.yaml"


@pytest.fixture()
def incident_files(samples, tmp_path) -> dict[str, Path]:
    for name in ("incident.parquet", "registry.yaml", "registry.history.jsonl"):
        shutil.copy(ROOT / "samples" / name, samples / name)
    return {
        "log": samples / "incident.parquet", "reference": samples / "reference.parquet",
        "registry": samples / "registry.yaml", "incident": INCIDENT,
    }  # fmt: skip


def _facts(mlrel, files, *extra, policy=ROOT / "configs" / "fraud.yaml"):
    args = ["postmortem", "--incident", files["incident"], "--format", "json"] + (["-p", policy] if policy else [])
    result = mlrel(*args, *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["postmortem"]


def test_the_deployment_is_the_first_candidate_and_the_onset_is_found(mlrel, incident_files) -> None:
    facts = _facts(
        mlrel, incident_files, "--log", incident_files["log"], "--reference", incident_files["reference"],
        "--registry", incident_files["registry"],
    )  # fmt: skip
    # the truth: v42 took production at 13:00 and was rolled back at 13:55; windows are 15 minutes
    assert facts["onset"] == "2026-11-25T13:00:00Z"
    first = facts["root_causes"][0]
    assert first["kind"] == "change" and first["evidence"]["to"] == "v42" and first["evidence"]["stage"] == "production"
    drifted = {d["feature"]: d for d in facts["drift"]}
    assert drifted["amount"]["at_onset"] is True
    times = facts["times"]
    assert times["time_to_detect_s"] == 40 * 60 and times["time_to_mitigate_s"] == 15 * 60
    assert times["weekly_error_budget_s"] == pytest.approx(0.0005 * 7 * 86400)
    assert times["error_budget_used"] == pytest.approx(55 * 60 / (0.0005 * 7 * 86400))
    assert facts["impact"]["during"] > facts["impact"]["before"]
    events = [e["event"] for e in facts["timeline"]]
    assert events.index("detected") < events.index("mitigated") < events.index("resolved")
    assert any("promote v42 (production)" in e for e in events)


def test_markdown_draft_with_chart(mlrel, incident_files, tmp_path) -> None:
    out = tmp_path / "POSTMORTEM.md"
    result = mlrel(
        "postmortem", "--incident", incident_files["incident"], "-p", ROOT / "configs" / "fraud.yaml", "--log",
        incident_files["log"], "--registry", incident_files["registry"], "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    for heading in ("## Summary", "## Impact", "## Timeline (UTC)", "## Detection and mitigation",
                    "## Root-cause candidates", "## What went well", "## What went wrong", "## Action items"):  # fmt: skip
        assert heading in text
    assert "blameless" in text and "![" in text
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_log_or_registry_it_says_what_it_could_not_determine(mlrel, incident_files) -> None:
    facts = _facts(mlrel, incident_files)
    undetermined = " ".join(facts["undetermined"])
    assert "no --log" in undetermined and "no --registry" in undetermined
    assert facts["onset"] is None and facts["root_causes"] == []
    assert facts["times"]["time_to_mitigate_s"] == 15 * 60  # still known from the incident file


def test_registry_without_the_model(mlrel, incident_files, tmp_path, write_policy) -> None:
    other = tmp_path / "other.yaml"
    assert mlrel("registry", "register", "another", "v1", "--artifact", "x", "--registry", other).exit_code == 0
    facts = _facts(mlrel, incident_files, "--log", incident_files["log"], "--registry", other)
    assert any("no model 'checkout-fraud'" in item for item in facts["undetermined"])


def test_no_labels_uses_the_mean_score(mlrel, incident_files, write_log) -> None:
    import pyarrow.parquet as pq

    unlabelled = write_log(pq.read_table(incident_files["log"]).drop(["label"]))
    facts = _facts(mlrel, incident_files, "--log", unlabelled, policy=None)  # fraud.yaml names the label column
    assert facts["metric"] == "mean_score"
    assert any("no labels" in item for item in facts["undetermined"])


def test_times_out_of_order(mlrel, incident_files, tmp_path) -> None:
    bad = tmp_path / "incident.yaml"
    bad.write_text("id: X\ntitle: t\ndetected: 2026-11-25T14:00:00Z\nmitigated: 2026-11-25T13:00:00Z\n")
    result = mlrel("postmortem", "--incident", bad)
    assert result.exit_code == 2 and "incident times out of order: mitigated" in result.stderr


def test_span_with_no_log_rows(mlrel, incident_files, tmp_path) -> None:
    elsewhere = tmp_path / "incident.yaml"
    elsewhere.write_text("id: X\ntitle: t\ndetected: 2027-03-01T14:00:00Z\nmitigated: 2027-03-01T15:00:00Z\n")
    result = mlrel("postmortem", "--incident", elsewhere, "--log", incident_files["log"])
    assert result.exit_code == 2 and "no rows in the incident's span" in result.stderr


def test_unknown_key_in_the_incident_file(mlrel, tmp_path) -> None:
    bad = tmp_path / "incident.yaml"
    bad.write_text("id: X\ntitle: t\nseverty: SEV1\n")
    result = mlrel("postmortem", "--incident", bad)
    assert result.exit_code == 2 and "severty" in result.stderr


def _short_incident(write_log, tmp_path) -> tuple[Path, Path]:
    """Two hours of a binary classifier: a good hour, then an hour after a bad release (accuracy down a third)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(20)
    n = 4000
    t0 = 1_795_564_800 * 1_000_000  # 2026-11-25T00:00:00Z
    ts = t0 + np.sort(rng.integers(0, 7_200_000_000, n))
    label = rng.integers(0, 2, n)
    right = rng.random(n) < np.where(ts >= t0 + 3_600_000_000, 0.6, 0.9)
    score = np.where(right == (label == 1), rng.uniform(0.55, 0.95, n), rng.uniform(0.05, 0.45, n))
    log = write_log({"timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")), "prediction": score,
                     "label": label.astype(np.int8), "prediction_id": [f"r{i}" for i in range(n)]})  # fmt: skip
    incident = tmp_path / "short.yaml"
    incident.write_text("id: INC-1\ntitle: short\ndetected: 2026-11-25T01:40:00Z\n")
    return log, incident


def test_a_two_hour_incident_with_15_minute_windows_has_its_onset(mlrel, write_log, tmp_path) -> None:
    log, incident = _short_incident(write_log, tmp_path)
    result = mlrel("postmortem", "--incident", incident, "--log", log, "--format", "json")
    facts = json.loads(result.stdout)["postmortem"]
    assert facts["onset"].startswith("2026-11-25T01:00") and len(facts["series"]) == 8


def test_without_an_onset_changes_before_detection_are_candidates(mlrel, incident_files, tmp_path) -> None:
    """The sample registry's deploy at 13:00, an incident detected at 13:40, a log that shows no change."""
    import datetime as dt

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(incident_files["log"])
    ts = table.column("timestamp")
    morning = pc.and_(pc.greater_equal(ts, dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)),
                      pc.less(ts, dt.datetime(2026, 11, 25, 12, 55, tzinfo=dt.UTC)))  # fmt: skip
    flat = tmp_path / "flat.parquet"
    pq.write_table(table.filter(morning), flat)  # the hours before the release: no onset in them
    facts = _facts(mlrel, incident_files, "--log", flat, "--registry", incident_files["registry"])
    assert facts["onset"] is None
    first = facts["root_causes"][0]
    assert first["kind"] == "change" and "before detection (no onset found)" in first["summary"]


def test_a_registry_of_one_model_is_used_without_model_key(mlrel, incident_files, tmp_path) -> None:
    incident = tmp_path / "incident.yaml"
    incident.write_text("\n".join(line for line in INCIDENT.read_text().splitlines() if not line.startswith("model:")))
    args = ["postmortem", "--incident", incident, "--log", incident_files["log"], "--registry", incident_files["registry"]]
    facts = json.loads(mlrel(*args, "--format", "json").stdout)["postmortem"]
    assert facts["changes"] and not any("name no model" in item for item in facts["undetermined"])


def test_unknown_incident_key_suggests_the_known_one(mlrel, tmp_path) -> None:
    bad = tmp_path / "incident.yaml"
    bad.write_text("id: X\ntitle: t\ndetected_at: 2026-11-25T13:40:00Z\n")
    result = mlrel("postmortem", "--incident", bad)
    assert result.exit_code == 2 and "did you mean 'detected'?" in result.stderr


def test_segments_hit_hardest_are_the_worsened_ones_and_a_cause_only_beyond_noise() -> None:
    """A segment that got better is not 'hit'; a noise wobble is not a root cause; the adjusted p is the one-sided
    test of the segment worsening more than the rest of the log: the interaction of a least-squares fit of the
    loss on segment x during (numpy), with the HC2 sandwich standard error written out (Welch's, per cell, in a
    saturated model), adjusted by Benjamini-Hochberg (statsmodels' formula written out)."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    from scipy import stats

    from mlrel_cli.analysis.drill import memory_log
    from mlrel_cli.analysis.postmortem import _segments
    from mlrel_cli.analysis.postmortem_causes import root_causes
    from mlrel_cli.policy import Policy

    rng = np.random.default_rng(7)
    n = 4000
    ts = np.arange(n, dtype=np.int64) * 1_000_000 + 1_764_000_000_000_000
    region = rng.choice(["east", "west", "north"], n)
    after = np.arange(n) >= n // 2
    loss = rng.exponential(0.2, n)  # a per-row loss: lower is better
    loss[after & (region == "west")] += 0.3  # hit hard
    loss[after & (region == "east")] *= 0.5  # got better
    log = memory_log(pa.table({"region": region}), "log")
    policy = Policy.model_validate({"segments": ["region"]})
    onset = dt.datetime.fromtimestamp(int(ts[n // 2]) / 1e6, dt.UTC)
    rows = _segments(log, policy, loss, ts, onset, None, "log_loss")
    values = [r.value for r in rows]
    assert values[0] == "west" and "east" not in values
    p = {}
    for value in ("east", "west", "north"):
        member = (region == value).astype(float)
        design = np.column_stack([np.ones(n), member, after, member * after])
        coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
        bread = np.linalg.inv(design.T @ design)
        leverage = np.einsum("ij,jk,ik->i", design, bread, design)
        meat = design.T @ (design * ((loss - design @ coef) ** 2 / (1 - leverage))[:, None])
        se = np.sqrt((bread @ meat @ bread)[3, 3])
        p[value] = stats.norm.sf(coef[3] / se)
    order = sorted(p, key=p.get)
    bh = {v: min(1.0, min(p[w] * 3 / (order.index(w) + 1) for w in order[order.index(v) :])) for v in order}
    for row in rows:
        assert row.p_adjusted == pytest.approx(bh[row.value], rel=1e-6, abs=1e-12)
    causes = [c.summary for c in root_causes([], [], rows, onset, policy) if c.kind == "segment"]
    assert len(causes) == 1 and "region=west" in causes[0]


def test_a_ranking_post_mortem_names_the_per_row_metric_it_searches(mlrel, tmp_path) -> None:
    """It searched |score - gain| and called it log_loss."""
    incident = tmp_path / "incident.yaml"
    incident.write_text("id: INC-9\ntitle: ranking\ndetected: 2026-11-22T16:00:00Z\nmitigated: 2026-11-22T16:30:00Z\n")
    policy = ROOT / "configs" / "search-ranking.yaml"
    log = ROOT / "samples" / "ranking_current.parquet"
    code, report = mlrel.json("postmortem", "--incident", incident, "-p", policy, "--log", log)
    assert code in (0, 1), report
    assert report["postmortem"]["metric"] == "absolute_error"
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(log, columns=["timestamp", "score", "clicked"])
    errors = np.abs(table.column("score").to_numpy() - table.column("clicked").to_numpy())
    ts = table.column("timestamp").cast("int64").to_numpy()
    impact = report["postmortem"]["impact"]
    onset = np.datetime64(impact["from"].rstrip("Z"), "us").astype(np.int64)
    assert impact["before"] == pytest.approx(errors[ts < onset].mean(), rel=1e-12)
