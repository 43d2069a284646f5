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
