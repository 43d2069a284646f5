"""Registry and rollback: the rules, the commands end to end, safety under bad input and concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlrel_cli.registry import model as rules


@pytest.fixture()
def registry(tmp_path: Path, mlrel) -> Path:
    """v40 was production, v41 replaced it after a canary, naive is the fallback."""
    path = tmp_path / "registry.yaml"
    steps = [
        ("registry", "register", "fraud", "v40", "--artifact", "s3://m/v40", "--code-version", "aaa"),
        ("registry", "promote", "fraud", "v40"),
        ("registry", "register", "fraud", "v41", "--artifact", "s3://m/v41", "--code-version", "bbb"),
        ("registry", "promote", "fraud", "v41", "--stage", "canary", "--traffic", "0.05"),
        ("registry", "promote", "fraud", "v41", "--stage", "canary", "--traffic", "0.25"),
        ("registry", "promote", "fraud", "v41", "--stage", "production"),
        ("registry", "register", "fraud", "naive", "--artifact", "s3://m/naive"),
        ("registry", "set-fallback", "fraud", "naive"),
    ]
    for step in steps:
        result = mlrel(*step, "--registry", path, "--actor", "alice")
        assert result.exit_code == 0, result.stderr
    return path


def ledger(registry: Path) -> list[dict]:
    path = registry.with_name(registry.stem + ".history.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def snapshot(registry: Path) -> tuple[bytes, bytes]:
    """Both files of the registry, to show a refused command changed neither."""
    return registry.read_bytes(), registry.with_name(registry.stem + ".history.jsonl").read_bytes()


def _json(mlrel, *args):
    result = mlrel(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr


def test_show_and_history(mlrel, registry) -> None:
    code, report, _ = _json(mlrel, "registry", "show", "fraud", "--registry", registry)
    assert code == 0 and report["production"] == "v41" and report["fallback"] == "naive"
    assert [v["status"] for v in report["versions"]] == ["retired", "production", "candidate"]
    _, history, _ = _json(mlrel, "registry", "history", "fraud", "--registry", registry)
    canary = [e for e in history["events"] if e.get("stage") == "canary"]
    assert [e["traffic"] for e in canary] == [0.05, 0.25]  # the gradual rollout, step by step
    assert all(e["actor"] == "alice" for e in history["events"])
    _, recent, _ = _json(mlrel, "registry", "history", "fraud", "--registry", registry, "--since", "1h")
    assert len(recent["events"]) == len(history["events"])
    _, none, _ = _json(mlrel, "registry", "history", "fraud", "--registry", registry, "--since", "2999-01-01T00:00:00Z")
    assert none["events"] == []


def test_rollback_to_previous(mlrel, registry) -> None:
    code, report, _ = _json(
        mlrel, "rollback", "fraud", "--reason", "conversions fell", "--incident", "INC-7", "--yes",
        "--registry", registry, "--actor", "bob",
    )  # fmt: skip
    assert code == 0
    assert report["from_version"] == "v41" and report["to_version"] == "v40"
    data = yaml.safe_load(registry.read_text())["models"]["fraud"]
    assert data["production"] == "v40"
    statuses = {v["version"]: v["status"] for v in data["versions"]}
    assert statuses == {"v40": "production", "v41": "rolled_back", "naive": "candidate"}
    event = ledger(registry)[-1]
    assert event["action"] == "rollback" and event["from"] == "v41" and event["to"] == "v40"
    assert event["actor"] == "bob" and event["reason"] == "conversions fell" and event["incident"] == "INC-7"


def test_rollback_to_fallback_and_to_a_version(mlrel, registry) -> None:
    code, report, _ = _json(mlrel, "rollback", "fraud", "--to", "fallback", "--reason", "x", "--yes", "--registry", registry)
    assert code == 0 and report["to_version"] == "naive"
    code, report, _ = _json(mlrel, "rollback", "fraud", "--to", "v40", "--reason", "x", "--yes", "--registry", registry)
    assert code == 0 and report["from_version"] == "naive" and report["to_version"] == "v40"


def test_previous_skips_versions_that_were_rolled_back(mlrel, registry) -> None:
    assert mlrel("rollback", "fraud", "--reason", "x", "--yes", "--registry", registry).exit_code == 0  # v41 -> v40
    mlrel("registry", "register", "fraud", "v42", "--artifact", "s3://m/v42", "--registry", registry)
    mlrel("registry", "promote", "fraud", "v42", "--registry", registry)
    _, report, _ = _json(mlrel, "rollback", "fraud", "--dry-run", "--registry", registry)
    assert report["to_version"] == "v40"  # not v41, which was rolled back


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "v99"), "has no version 'v99'"),
        (("--to", "v41"), "already serves production"),
        (("--to", "v40", "--incident", "x"), None),  # allowed: the control case
    ],
)
def test_refusals_change_nothing(mlrel, registry, args, message) -> None:
    before = snapshot(registry)
    result = mlrel("rollback", "fraud", *args, "--reason", "r", "--yes", "--registry", registry)
    if message is None:
        assert result.exit_code == 0
        return
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert snapshot(registry) == before


def test_rolled_back_target_needs_force(mlrel, registry) -> None:
    mlrel("rollback", "fraud", "--reason", "r", "--yes", "--registry", registry)  # v41 rolled back
    before = snapshot(registry)
    result = mlrel("rollback", "fraud", "--to", "v41", "--reason", "r", "--yes", "--registry", registry)
    assert result.exit_code == 2 and "rolled back before" in result.stderr and snapshot(registry) == before
    forced = mlrel("rollback", "fraud", "--to", "v41", "--reason", "r", "--yes", "--force", "--registry", registry)
    assert forced.exit_code == 0


def test_dry_run_and_missing_confirmation_change_nothing(mlrel, registry) -> None:
    before = snapshot(registry)
    dry = mlrel("rollback", "fraud", "--dry-run", "--registry", registry)
    assert dry.exit_code == 0 and "dry run" in dry.stdout
    unconfirmed = mlrel("rollback", "fraud", "--reason", "r", "--registry", registry)  # CliRunner stdin: not a TTY
    assert unconfirmed.exit_code == 2 and "pass --yes" in unconfirmed.stderr
    no_reason = mlrel("rollback", "fraud", "--yes", "--registry", registry)
    assert no_reason.exit_code == 2 and "--reason is required" in no_reason.stderr
    assert snapshot(registry) == before


def test_corrupt_registry_is_reported_and_left_alone(mlrel, registry) -> None:
    registry.write_text(registry.read_text().replace("status: production", "status: [production", 1))
    before = snapshot(registry)
    for args in (("rollback", "fraud", "--reason", "r", "--yes"), ("registry", "promote", "fraud", "v40"),
                 ("registry", "show", "fraud")):  # fmt: skip
        result = mlrel(*args, "--registry", registry)
        assert result.exit_code == 2 and "registry is not valid YAML" in result.stderr
        assert snapshot(registry) == before


def test_invalid_registry_content_is_reported(mlrel, registry) -> None:
    registry.write_text(registry.read_text().replace("status: retired", "status: retyred", 1))
    before = snapshot(registry)
    result = mlrel("rollback", "fraud", "--reason", "r", "--yes", "--registry", registry)
    assert result.exit_code == 2 and "registry is invalid at models.fraud.versions.0.status" in result.stderr
    assert snapshot(registry) == before


def test_register_twice_and_unknown_model(mlrel, registry) -> None:
    before = snapshot(registry)
    again = mlrel("registry", "register", "fraud", "v40", "--artifact", "x", "--registry", registry)
    assert again.exit_code == 2 and "already has a version 'v40'" in again.stderr
    unknown = mlrel("registry", "show", "frod", "--registry", registry)
    assert unknown.exit_code == 2 and "no model 'frod'" in unknown.stderr
    assert snapshot(registry) == before


def test_registry_from_the_policy(mlrel, registry, write_policy) -> None:
    policy = write_policy(f"registry: {registry.name}\nrollback: {{require_incident: true}}\n", registry.name + ".policy.yaml")
    result = mlrel("rollback", "fraud", "--reason", "r", "--yes", "-p", policy)
    assert result.exit_code == 2 and "--incident is required" in result.stderr
    assert mlrel("rollback", "fraud", "--reason", "r", "--incident", "I-1", "--yes", "-p", policy).exit_code == 0


def test_twenty_concurrent_writers_lose_no_event(mlrel, registry) -> None:
    """20 processes at once, half promoting and half rolling back: a parseable file holding all 20 events."""
    for i in range(20):
        mlrel("registry", "register", "fraud", f"c{i}", "--artifact", "x", "--registry", registry)
    before = len(ledger(registry))
    commands = [
        ["registry", "promote", "fraud", f"c{i}"]
        if i % 2 == 0
        else ["rollback", "fraud", "--to", f"c{i}", "--reason", "drill", "--yes"]
        for i in range(20)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlrel_cli", *cmd, "--registry", str(registry), "--actor", f"w{i}", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i, cmd in enumerate(commands)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0] * 20, [p.stderr.read() for p in procs]
    data = yaml.safe_load(registry.read_text())
    history = ledger(registry)
    assert len(history) == before + 20 == data["events"]
    assert {e["actor"] for e in history[before:]} == {f"w{i}" for i in range(20)}
    fraud = data["models"]["fraud"]
    assert sum(v["status"] == "production" for v in fraud["versions"]) == 1
    assert fraud["production"] == history[-1]["to"]


def test_rules_previous_production_without_history() -> None:
    record = rules.ModelRecord(production="v1", versions=[rules.Version(version="v1", artifact="a", created="t")])
    with pytest.raises(rules.RegistryError, match="no earlier production version"):
        rules.plan_rollback(record, "m", "previous", force=False)
    with pytest.raises(rules.RegistryError, match="no fallback"):
        rules.plan_rollback(record, "m", "fallback", force=False)


def test_concurrent_relative_rollbacks_do_not_roll_back_twice(mlrel, registry) -> None:
    """Two engineers run `rollback --to previous` at once: the second finds production moved and stops."""
    from mlrel_cli.registry.file import FileRegistry

    reg = FileRegistry(registry)
    shown = rules.plan_rollback(reg.read("fraud"), "fraud", "previous", force=False)  # both see v41 -> v40
    first = rules.rollback_change("fraud", shown, "previous", False, False, "alice", "r", None)
    second = rules.rollback_change("fraud", shown, "previous", False, False, "bob", "r", None)
    reg.change("fraud", first)
    before = snapshot(registry)
    with pytest.raises(rules.RegistryError, match="moved to 'v40' by alice"):
        reg.change("fraud", second)
    assert snapshot(registry) == before


def test_ledger_behind_the_registry_is_refused(mlrel, registry) -> None:
    """A truncated ledger (the YAML claims more events) is not guessed at: exit 2, nothing changed."""
    path = registry.with_name(registry.stem + ".history.jsonl")
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    before = snapshot(registry)
    result = mlrel("rollback", "fraud", "--reason", "r", "--yes", "--registry", registry)
    assert result.exit_code == 2 and "registry says 8 events but its history ledger holds 7" in result.stderr
    assert snapshot(registry) == before


def test_unreplayable_ledger_event_is_refused(mlrel, registry) -> None:
    path = registry.with_name(registry.stem + ".history.jsonl")
    with open(path, "a") as handle:  # ahead of the YAML, but not an event the rules can replay
        handle.write(json.dumps({"model": "fraud", "time": "t", "actor": "x", "action": "rollback"}) + "\n")
    before = snapshot(registry)
    result = mlrel("rollback", "fraud", "--reason", "r", "--yes", "--registry", registry)
    assert result.exit_code == 2 and "history.jsonl:9" in result.stderr and "cannot be rolled forward" in result.stderr
    assert snapshot(registry) == before
