"""The file registry under faults: a kill at every step of every change, real SIGKILLs, races, hand edits.

The invariant checked after every fault: the next command reads the registry (exit 0), and the YAML it
leaves is exactly the ledger replayed from nothing (the YAML is a view of the ledger, the commit point).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlrel_cli.registry import model as rules
from mlrel_cli.registry.file import KILL_AT_ENV, STEPS

SETUP = [
    ("registry", "register", "fraud", "v40", "--artifact", "s3://m/v40", "--code-version", "aaa"),
    ("registry", "promote", "fraud", "v40"),
    ("registry", "register", "fraud", "v41", "--artifact", "s3://m/v41", "--code-version", "bbb"),
    ("registry", "promote", "fraud", "v41", "--stage", "canary", "--traffic", "0.05"),
    ("registry", "promote", "fraud", "v41"),
    ("registry", "register", "fraud", "naive", "--artifact", "s3://m/naive"),
]
# each command killed, and what its change leaves once committed
COMMANDS = {
    "register": (("registry", "register", "fraud", "v42", "--artifact", "s3://m/v42"), lambda m: "v42" in _names(m)),
    "promote": (("registry", "promote", "fraud", "naive", "--stage", "canary", "--traffic", "0.1"),
                lambda m: m.get("canary") == "naive"),
    "set-fallback": (("registry", "set-fallback", "fraud", "naive"), lambda m: m.get("fallback") == "naive"),
    "rollback": (("rollback", "fraud", "--reason", "drill", "--yes"), lambda m: m["production"] == "v40"),
    "record": (("registry", "record", "fraud", "--kind", "flag", "--what", "new checkout flow on"), lambda m: True),
}  # fmt: skip


def _names(model: dict) -> list[str]:
    return [v["version"] for v in model["versions"]]


def run(registry: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrel_cli", *args, "--registry", str(registry)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "MLREL_ACTOR": "alice", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """One registry set up once; each test works on a copy."""
    path = tmp_path_factory.mktemp("seed") / "registry.yaml"
    for step in SETUP:
        assert run(path, *step).returncode == 0
    return path


@pytest.fixture()
def registry(seeded: Path, tmp_path: Path) -> Path:
    for name in (seeded.name, "registry.history.jsonl"):
        shutil.copy(seeded.with_name(name), tmp_path / name)
    return tmp_path / seeded.name


def ledger_of(registry: Path) -> Path:
    return registry.with_name(registry.stem + ".history.jsonl")


def replayed(registry: Path) -> dict:
    """The ledger replayed from nothing, as the YAML would hold it."""
    models: dict[str, rules.ModelRecord] = {}
    for line in ledger_of(registry).read_text().splitlines():
        raw = json.loads(line)
        model = raw.pop("model")
        models[model] = rules.apply_event(models.get(model, rules.ModelRecord()), rules.Event.model_validate(raw))
    data = rules.RegistryFile(models=models).model_dump(by_alias=True, exclude_none=True, mode="json")
    for record in data["models"].values():
        record.pop("history")
    return data


def view(registry: Path) -> dict:
    data = yaml.safe_load(registry.read_text())
    assert data.pop("events") == len(ledger_of(registry).read_text().splitlines())
    return data


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_kill_at_every_step_leaves_a_registry_the_next_command_repairs(registry, command, step) -> None:
    args, committed = COMMANDS[command]
    events_before = len(ledger_of(registry).read_text().splitlines())
    killed = run(registry, *args, env={KILL_AT_ENV: step})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    shown = run(registry, "registry", "show", "fraud", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    events_after = len(ledger_of(registry).read_text().splitlines())
    if step == "locked":  # killed before the commit point: the change never happened
        assert events_after == events_before and "note:" not in shown.stderr
    else:  # the ledger line was written: the change happened, and the view caught up
        assert events_after == events_before + 1
        assert committed(view(registry)["models"]["fraud"])
        if step in ("ledger-written", "ledger-synced", "yaml-written"):
            assert "note: rolled registry.yaml forward by 1 event" in shown.stderr
    assert view(registry) == replayed(registry)
    assert not list(registry.parent.glob(".registry.yaml.*.tmp"))  # a killed write's temporary is cleaned
    again = run(registry, "rollback", "fraud", "--to", "fallback" if command == "set-fallback" else "v40",
                "--reason", "after the crash", "--yes", "--force")  # fmt: skip
    assert again.returncode in (0, 2), again.stderr
    assert "Traceback" not in again.stderr
    assert view(registry) == replayed(registry)


def test_repair_reports_what_it_did(registry) -> None:
    assert run(registry, "registry", "promote", "fraud", "v40", env={KILL_AT_ENV: "ledger-synced"}).returncode < 0
    done = run(registry, "registry", "repair", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["repaired"] is True and "fraud: promote v40" in report["actions"]
    clean = json.loads(run(registry, "registry", "repair", "--format", "json").stdout)
    assert clean["repaired"] is False and "nothing to repair" in clean["actions"]
    assert view(registry)["models"]["fraud"]["production"] == "v40"


def test_first_change_killed_before_the_yaml_exists(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    killed = run(path, "registry", "register", "m", "v1", "--artifact", "a", env={KILL_AT_ENV: "ledger-synced"})
    assert killed.returncode < 0 and not path.exists()
    shown = run(path, "registry", "show", "m", "--format", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["versions"][0]["version"] == "v1"


def test_a_torn_ledger_line_was_never_committed(registry) -> None:
    before = view(registry)
    with open(ledger_of(registry), "a") as handle:  # a power cut mid-append: half a line, no newline
        handle.write('{"model": "fraud", "time": "2026-12-01T00:00:00Z", "act')
    shown = run(registry, "registry", "show", "fraud")
    assert shown.returncode == 0 and "dropped a ledger line cut short" in shown.stderr
    assert view(registry) == before == replayed(registry)


def test_real_sigkills_at_random_moments(registry) -> None:
    """SIGKILL promote/rollback at random delays (bounded to ~40 s): every time the next command reads and repairs."""
    rng = random.Random(7)
    deadline = time.monotonic() + 40
    trials = 0
    while trials < 12 and time.monotonic() < deadline:
        target = ["v40", "v41", "naive"][trials % 3]
        args = ("rollback", "fraud", "--to", target, "--reason", "drill", "--yes", "--force")
        proc = subprocess.Popen([sys.executable, "-m", "mlrel_cli", *args, "--registry", str(registry)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        shown = run(registry, "registry", "show", "fraud")
        assert shown.returncode == 0, shown.stderr
        assert view(registry) == replayed(registry)
        trials += 1
    assert trials >= 5


def test_hand_edit_pointing_production_at_a_missing_version_is_refused(registry) -> None:
    registry.write_text(registry.read_text().replace("production: v41", "production: v9", 1))
    before = registry.read_bytes(), ledger_of(registry).read_bytes()
    for args in (("rollback", "fraud", "--reason", "r", "--yes"), ("registry", "show", "fraud")):
        result = run(registry, *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and "models.fraud.production: no version 'v9'" in result.stderr
        assert "rolled back" not in result.stderr
    assert (registry.read_bytes(), ledger_of(registry).read_bytes()) == before


def test_hand_edit_listing_a_version_twice_is_refused(registry) -> None:
    """A version copied by hand was accepted: `show` counted it twice and `promote` rewrote both entries."""
    data = yaml.safe_load(registry.read_text())
    versions = data["models"]["fraud"]["versions"]
    versions.append(dict(versions[0]))
    registry.write_text(yaml.safe_dump(data, sort_keys=False))
    before = registry.read_bytes(), ledger_of(registry).read_bytes()
    twice = versions[0]["version"]
    for args in (("registry", "promote", "fraud", twice, "--force", "--reason", "r"), ("registry", "show", "fraud")):
        result = run(registry, *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: registry is invalid at models.fraud.versions: ")
        assert f"version '{twice}' is listed twice" in result.stderr and len(result.stderr.splitlines()) == 1
    assert (registry.read_bytes(), ledger_of(registry).read_bytes()) == before


@pytest.mark.parametrize("to", ["previous", "fallback"])
def test_n_concurrent_relative_rollbacks_exactly_one_applies(registry, to) -> None:
    """Eight engineers roll back at the same moment: one applies, the others exit 2 naming who moved production."""
    assert run(registry, "registry", "set-fallback", "fraud", "naive").returncode == 0
    for i in range(3):  # a longer production history, so a second rollback would have somewhere to go
        assert run(registry, "registry", "register", "fraud", f"h{i}", "--artifact", "x").returncode == 0
        assert run(registry, "registry", "promote", "fraud", f"h{i}").returncode == 0
    events_before = len(ledger_of(registry).read_text().splitlines())
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlrel_cli", "rollback", "fraud", "--to", to, "--reason", "page", "--yes",
             "--registry", str(registry), "--actor", f"eng{i}", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for i in range(8)
    ]  # fmt: skip
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    codes = [code for code, _ in results]
    assert codes.count(0) == 1 and codes.count(2) == 7, results
    history = [json.loads(line) for line in ledger_of(registry).read_text().splitlines()]
    assert len(history) == events_before + 1
    winner = history[-1]["actor"]
    for code, err in results:
        if code == 2:
            assert f"by {winner} at" in err and "nothing was done" in err, err
