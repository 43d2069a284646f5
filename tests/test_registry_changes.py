"""Non-model change events: `registry record`, `history --kind`, and the post-mortem that ranks them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INCIDENT = ROOT / "configs" / "incident-example.yaml"
POLICY = ROOT / "configs" / "fraud.yaml"


def _json(mlrel, *args):
    result = mlrel(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_record_and_filter_by_kind(mlrel, tmp_path) -> None:
    reg = tmp_path / "registry.yaml"
    assert mlrel("registry", "register", "fraud", "v1", "--artifact", "s3://m/v1", "--registry", reg).exit_code == 0
    report = _json(
        mlrel, "registry", "record", "fraud", "--kind", "config", "--what", "threshold 0.7 -> 0.6", "--ref", "abc123",
        "--revert", "set threshold back to 0.7", "--actor", "kim", "--at", "2026-11-25T12:50:00Z", "--registry", reg,
    )  # fmt: skip
    assert report["event"]["kind"] == "config" and report["event"]["time"] == "2026-11-25T12:50:00.000000Z"
    assert mlrel("registry", "record", "fraud", "--kind", "flag", "--what", "new flow on", "--registry", reg).exit_code == 0
    everything = _json(mlrel, "registry", "history", "fraud", "--registry", reg)
    assert [e["action"] for e in everything["events"]] == ["register", "record", "record"]
    config = _json(mlrel, "registry", "history", "fraud", "--kind", "config", "--registry", reg)
    assert [e["what"] for e in config["events"]] == ["threshold 0.7 -> 0.6"]
    assert config["events"][0]["revert"] == "set threshold back to 0.7" and config["events"][0]["ref"] == "abc123"
    models = _json(mlrel, "registry", "history", "fraud", "--kind", "model", "--registry", reg)
    assert [e["action"] for e in models["events"]] == ["register"]
    shown = _json(mlrel, "registry", "show", "fraud", "--registry", reg)
    assert shown["production"] is None  # a recorded change moves no pointer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", "weather", "--what", "x"), "'weather' is not one of"),
        (("--kind", "config", "--what", "  "), "--what must say what changed"),
        (("--kind", "config", "--what", "x", "--at", "yesterday"), "--at: 'yesterday' is not an ISO-8601 time"),
    ],
)
def test_bad_records_are_refused(mlrel, tmp_path, args, message) -> None:
    reg = tmp_path / "registry.yaml"
    assert mlrel("registry", "register", "fraud", "v1", "--artifact", "x", "--registry", reg).exit_code == 0
    before = reg.read_bytes()
    result = mlrel("registry", "record", "fraud", *args, "--registry", reg)
    assert result.exit_code == 2 and message in result.stderr and reg.read_bytes() == before
    bad_kind = mlrel("registry", "history", "fraud", "--kind", "weather", "--registry", reg)
    assert bad_kind.exit_code == 2 and "--kind 'weather'" in bad_kind.stderr


@pytest.fixture()
def incident(samples) -> dict[str, Path]:
    shutil.copy(ROOT / "samples" / "incident.parquet", samples / "incident.parquet")
    return {"log": samples / "incident.parquet", "reference": samples / "reference.parquet", "dir": samples}


def _postmortem(mlrel, incident, reg):
    return _json(
        mlrel, "postmortem", "--incident", INCIDENT, "-p", POLICY, "--log", incident["log"], "--reference",
        incident["reference"], "--registry", reg,
    )["postmortem"]  # fmt: skip


def test_a_recorded_config_change_nearest_the_onset_leads(mlrel, incident) -> None:
    """Only a ledger (the YAML is rebuilt from it): v41 in production for days, a config change 10 min before the onset."""
    reg = incident["dir"] / "registry.yaml"
    lines = [
        {"model": "checkout-fraud", "time": "2026-11-19T16:00:00.000000Z", "actor": "ci", "action": "register",
         "to": "v41", "stage": "candidate", "artifact": "s3://m/v41"},
        {"model": "checkout-fraud", "time": "2026-11-20T10:00:00.000000Z", "actor": "dana", "action": "promote",
         "to": "v41", "stage": "production"},
    ]  # fmt: skip
    reg.with_name("registry.history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert mlrel(
        "registry", "record", "checkout-fraud", "--kind", "config", "--what", "fraud threshold 0.7 -> 0.6",
        "--revert", "set the threshold back to 0.7", "--at", "2026-11-25T12:50:00Z", "--actor", "kim", "--registry", reg,
    ).exit_code == 0  # fmt: skip
    facts = _postmortem(mlrel, incident, reg)
    first = facts["root_causes"][0]
    assert first["kind"] == "change" and first["evidence"]["kind"] == "config"
    assert "config change: fraud threshold 0.7 -> 0.6" in first["summary"] and "10 min before the onset" in first["summary"]
    assert any(e["event"] == "config change by kim: fraud threshold 0.7 -> 0.6" for e in facts["timeline"])
    assert facts["reverts"][0]["revert"] == "set the threshold back to 0.7"
    markdown = mlrel("postmortem", "--incident", INCIDENT, "-p", POLICY, "--log", incident["log"], "--registry", reg,
                     "--format", "markdown")  # fmt: skip
    section = markdown.stdout.split("## Detection and mitigation")[1].split("## Root-cause")[0]
    assert "To revert the config change of 2026-11-25 12:50" in section and "set the threshold back to 0.7" in section


def test_the_nearer_promotion_still_leads_and_a_data_change_ranks_with_drift(mlrel, incident) -> None:
    reg = incident["dir"] / "registry.yaml"
    for name in ("registry.yaml", "registry.history.jsonl"):
        shutil.copy(ROOT / "samples" / name, incident["dir"] / name)
    for kind, at in (("rule", "2026-11-25T12:20:00Z"), ("data", "2026-11-25T12:20:00Z")):
        assert mlrel("registry", "record", "checkout-fraud", "--kind", kind, "--what", f"a {kind} change", "--at", at,
                     "--registry", reg).exit_code == 0  # fmt: skip
    causes = _postmortem(mlrel, incident, reg)["root_causes"]
    assert causes[0]["evidence"]["to"] == "v42"  # promoted to production at the onset: nearer than both
    recorded = [c for c in causes if c["evidence"].get("kind") in ("rule", "data")]
    data, rule = sorted(recorded, key=lambda c: c["evidence"]["kind"])
    assert data["rank"] < rule["rank"] and "feature amount drifts after it" in data["summary"]
