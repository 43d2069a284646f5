"""The MLflow backend against a real MLflow tracking server on 127.0.0.1 (SQLite backend store)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install 'mlrel[mlflow]')")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 - open for the server's whole life
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--default-artifact-root", str(root / "artifacts"),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("MLflow server did not start:\n" + (root / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _json(mlrel, *args):
    result = mlrel(*args, "--format", "json")
    assert result.stdout.strip(), result.stderr
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture()
def model(server, mlrel, request) -> str:
    name = f"fraud-{request.node.name[-20:].replace('[', '-').replace(']', '')}-{time.monotonic_ns() % 10**6}"
    steps = [
        ("registry", "register", name, "v40", "--artifact", "s3://m/v40", "--code-version", "aaa"),
        ("registry", "promote", name, "v40"),
        ("registry", "register", name, "v41", "--artifact", "s3://m/v41", "--code-version", "bbb"),
        ("registry", "promote", name, "v41", "--stage", "canary", "--traffic", "0.05"),
        ("registry", "promote", name, "v41"),
        ("registry", "register", name, "naive", "--artifact", "s3://m/naive"),
        ("registry", "set-fallback", name, "naive"),
    ]
    for step in steps:
        result = mlrel(*step, "--registry", server, "--actor", "alice")
        assert result.exit_code == 0, result.stderr
    return name


def test_aliases_and_history_in_mlflow(server, mlrel, model) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server, registry_uri=server)
    aliases = client.get_registered_model(model).aliases
    version = client.get_model_version_by_alias(model, "production")
    assert version.tags["mlrel.version"] == "v41" and "fallback" in aliases
    code, report = _json(mlrel, "registry", "show", model, "--registry", server)
    assert code == 0 and report["production"] == "v41" and report["fallback"] == "naive"
    _, history = _json(mlrel, "registry", "history", model, "--registry", server)
    assert [e["action"] for e in history["events"]] == [
        "register", "promote", "register", "promote", "promote", "register", "set_fallback"
    ]  # fmt: skip
    assert history["events"][3]["traffic"] == 0.05


def test_rollback_moves_the_production_alias(server, mlrel, model) -> None:
    from mlflow import MlflowClient

    code, report = _json(
        mlrel, "rollback", model, "--reason", "conversions fell", "--incident", "INC-9", "--yes", "--registry", server
    )
    assert code == 0 and (report["from_version"], report["to_version"]) == ("v41", "v40")
    client = MlflowClient(tracking_uri=server, registry_uri=server)
    assert client.get_model_version_by_alias(model, "production").tags["mlrel.version"] == "v40"
    _, shown = _json(mlrel, "registry", "show", model, "--registry", server)
    assert {v["version"]: v["status"] for v in shown["versions"]}["v41"] == "rolled_back"
    _, history = _json(mlrel, "registry", "history", model, "--registry", server)
    assert history["events"][-1]["incident"] == "INC-9"
    code, report = _json(mlrel, "rollback", model, "--to", "fallback", "--reason", "r", "--yes", "--registry", server)
    assert code == 0 and report["to_version"] == "naive"


def test_refusals_leave_mlflow_unchanged(server, mlrel, model) -> None:
    _, before = _json(mlrel, "registry", "show", model, "--registry", server)
    for args in (("--to", "v99"), ("--to", "v41")):
        result = mlrel("rollback", model, *args, "--reason", "r", "--yes", "--registry", server)
        assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert mlrel("rollback", model, "--dry-run", "--registry", server).exit_code == 0
    _, after = _json(mlrel, "registry", "show", model, "--registry", server)
    assert after["versions"] == before["versions"] and after["production"] == before["production"]
    _, history = _json(mlrel, "registry", "history", model, "--registry", server)
    assert len(history["events"]) == 7


def test_unreachable_server_is_a_clean_error(mlrel) -> None:
    result = mlrel("registry", "show", "m", "--registry", f"http://127.0.0.1:{_free_port()}")
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_twenty_concurrent_writers_lose_no_event(server, mlrel, model) -> None:
    for i in range(20):
        assert mlrel("registry", "register", model, f"c{i}", "--artifact", f"s3://m/c{i}", "--registry", server).exit_code == 0
    _, before = _json(mlrel, "registry", "history", model, "--registry", server)
    commands = [
        ["registry", "promote", model, f"c{i}"]
        if i % 2 == 0
        else ["rollback", model, "--to", f"c{i}", "--reason", "drill", "--yes"]
        for i in range(20)
    ]
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlrel_cli", *cmd, "--registry", server, "--actor", f"w{i}", "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i, cmd in enumerate(commands)
    ]  # fmt: skip
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * 20, [p.stderr.read()[-500:] for p in procs]
    _, after = _json(mlrel, "registry", "history", model, "--registry", server)
    new = after["events"][len(before["events"]) :]
    assert len(new) == 20 and {e["actor"] for e in new} == {f"w{i}" for i in range(20)}


def _client(server: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server, registry_uri=server)


def test_a_bare_number_cannot_be_a_version_name(server, mlrel, model) -> None:
    """MLflow numbers versions itself: 'register M 5' could later mean two versions, so it is refused."""
    _, before = _json(mlrel, "registry", "show", model, "--registry", server)
    result = mlrel("registry", "register", model, "5", "--artifact", "s3://m/5", "--registry", server)
    assert result.exit_code == 2 and "may not be a bare number" in result.stderr and "use v5" in result.stderr
    _, after = _json(mlrel, "registry", "show", model, "--registry", server)
    assert after["versions"] == before["versions"]


def test_two_versions_answering_to_one_name_are_reported(server, mlrel, model) -> None:
    client = _client(server)
    plain = client.create_model_version(model, "s3://m/plain")  # made outside mlrel: known by its number
    client.create_model_version(model, "s3://m/x", tags={"mlrel.version": str(plain.version)})  # a tag equal to it
    result = mlrel("registry", "promote", model, str(plain.version), "--registry", server)
    assert result.exit_code == 2 and f"both answer to '{plain.version}'" in result.stderr


def test_plain_mlflow_versions_are_known_by_their_number(server, mlrel, model) -> None:
    created = _client(server).create_model_version(model, "s3://m/plain")  # made outside mlrel: no tag
    code, report = _json(mlrel, "registry", "show", model, "--registry", server)
    assert code == 0 and str(created.version) in [v["version"] for v in report["versions"]]
    assert mlrel("registry", "promote", model, str(created.version), "--registry", server).exit_code == 0
    assert _client(server).get_model_version_by_alias(model, "production").version == created.version


def test_alias_names_from_the_uri_and_foreign_aliases_shown(server, mlrel) -> None:
    name = f"champ-{time.monotonic_ns() % 10**6}"
    uri = server + "#production=champion&canary=challenger"
    for step in (("registry", "register", name, "v1", "--artifact", "s3://m/1"), ("registry", "promote", name, "v1"),
                 ("registry", "register", name, "v2", "--artifact", "s3://m/2"),
                 ("registry", "promote", name, "v2", "--stage", "canary", "--traffic", "0.1")):  # fmt: skip
        assert mlrel(*step, "--registry", uri).exit_code == 0
    client = _client(server)
    assert set(client.get_registered_model(name).aliases) == {"champion", "challenger"}
    client.set_registered_model_alias(name, "shadow", "1")
    code, report = _json(mlrel, "registry", "show", name, "--registry", uri)
    assert code == 0 and report["production"] == "v1" and report["canary"] == "v2"
    assert report["other_aliases"] == {"shadow": "v1"} and "other aliases shadow -> v1" in report["summary"]
    _, plain = _json(mlrel, "registry", "show", name, "--registry", server)  # the default names see no production
    assert plain["production"] is None and plain["other_aliases"] == {"champion": "v1", "challenger": "v2", "shadow": "v1"}
    assert mlrel("rollback", name, "--to", "v2", "--reason", "r", "--yes", "--registry", uri).exit_code == 0
    assert client.get_model_version_by_alias(name, "champion").tags["mlrel.version"] == "v2"
    assert client.get_registered_model(name).aliases["shadow"] == "1"  # never touched
    bad = mlrel("registry", "show", name, "--registry", server + "#prod=x")
    assert bad.exit_code == 2 and "fragment names 'prod'" in bad.stderr


def test_beyond_the_first_page_and_quoted_names(server, mlrel) -> None:
    from mlrel_cli.registry.mlflow import MlflowRegistry

    name = f'it\'s "many" {time.monotonic_ns() % 10**6}'
    single = f"it's-many-{time.monotonic_ns() % 10**6}"
    assert mlrel("registry", "register", single, "v0", "--artifact", "s3://m/0", "--registry", server).exit_code == 0
    client = _client(server)
    for i in range(1, 106):
        client.create_model_version(single, f"s3://m/{i}", tags={"mlrel.version": f"v{i}"})
    code, report = _json(mlrel, "registry", "show", single, "--registry", server)
    assert code == 0 and len(report["versions"]) == 106 and report["versions"][-1]["version"] == "v105"
    assert mlrel("registry", "promote", single, "v105", "--registry", server).exit_code == 0
    both = mlrel("registry", "register", name, "v0", "--artifact", "s3://m/0", "--registry", server)
    assert both.exit_code == 2 and "both quote characters" in both.stderr
    for i in range(101):
        client.create_registered_model(f"page-{i}-{time.monotonic_ns() % 10**6}")
    assert single in MlflowRegistry(server).models() and len(MlflowRegistry(server).models()) > 100


def test_mlflow_info_lines_stay_off_stderr(server, model) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", "registry", "register", model, "v77", "--artifact", "s3://m/v77",
         "--registry", server, "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_concurrent_relative_rollbacks_on_mlflow_exactly_one_applies(server, mlrel, model) -> None:
    for i in range(3):
        assert mlrel("registry", "register", model, f"h{i}", "--artifact", f"s3://m/h{i}", "--registry", server).exit_code == 0
        assert mlrel("registry", "promote", model, f"h{i}", "--registry", server).exit_code == 0
    procs = [
        subprocess.Popen([sys.executable, "-m", "mlrel_cli", "rollback", model, "--reason", "page", "--yes",
                          "--registry", server, "--actor", f"eng{i}", "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i in range(5)
    ]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert [c for c, _ in results].count(0) == 1, results
    assert all(c == 2 and "nothing was done" in err for c, err in results if c != 0), results
    _, history = _json(mlrel, "registry", "history", model, "--registry", server)
    assert [e["action"] for e in history["events"]].count("rollback") == 1
    assert not _client(server).search_registered_models(f"name='{model}.mlrel-lock'")  # the lock is released


def test_rollout_walks_every_step_on_mlflow(server, mlrel, tmp_path, write_policy) -> None:
    """The same gradual rollout as on the file backend: 1 -> 5 -> 25 -> 50 -> 100 %, v42 ends on the production alias."""
    from test_rollout import POLICY, canary_log

    from mlrel_cli.registry import open_registry
    from mlrel_cli.registry.rollout import current_step

    name = f"rollout-{time.monotonic_ns() % 10**6}"
    for step in (("registry", "register", name, "v41", "--artifact", "s3://m/v41"), ("registry", "promote", name, "v41"),
                 ("registry", "register", name, "v42", "--artifact", "s3://m/v42")):  # fmt: skip
        assert mlrel(*step, "--registry", server).exit_code == 0
    policy = write_policy(POLICY.format(min_rows=300, on_inconclusive="hold", min_duration="null"))
    walked = []
    for i in range(5):
        started = current_step(open_registry(server).read(name), name, "v42", [1, 5, 25, 50, 100]).started
        log = canary_log(tmp_path / f"c{i}.parquet", started, bad=False, seed=i)
        code, report = _json(mlrel, "rollout", name, "--candidate", "v42", "--log", log, "-p", policy, "--registry", server)
        assert code == 0, report["summary"]
        walked.append(report["traffic_percent_after"])
    assert walked == [1.0, 5.0, 25.0, 50.0, 100.0]
    assert _client(server).get_model_version_by_alias(name, "production").tags["mlrel.version"] == "v42"
    _, history = _json(mlrel, "registry", "history", name, "--registry", server)
    assert [e.get("decision") for e in history["events"] if e.get("decision")] == [
        "start", "advance", "advance", "advance", "complete"
    ]  # fmt: skip


def test_record_and_a_rejected_rollout_on_mlflow(server, mlrel, tmp_path, write_policy) -> None:
    from test_rollout import POLICY, canary_log

    from mlrel_cli.registry import open_registry
    from mlrel_cli.registry.rollout import current_step

    name = f"reject-{time.monotonic_ns() % 10**6}"
    for step in (("registry", "register", name, "v41", "--artifact", "s3://m/v41"), ("registry", "promote", name, "v41"),
                 ("registry", "register", name, "v42", "--artifact", "s3://m/v42"),
                 ("registry", "record", name, "--kind", "rule", "--what", "block prepaid", "--revert", "unblock")):  # fmt: skip
        assert mlrel(*step, "--registry", server).exit_code == 0
    policy = write_policy(POLICY.format(min_rows=300, on_inconclusive="hold", min_duration="null"))
    _json(mlrel, "rollout", name, "--candidate", "v42", "--log", canary_log(tmp_path / "a.parquet", None, True), "-p",
          policy, "--registry", server)  # fmt: skip
    started = current_step(open_registry(server).read(name), name, "v42", [1, 5, 25, 50, 100]).started
    code, report = _json(mlrel, "rollout", name, "--candidate", "v42", "--log",
                         canary_log(tmp_path / "b.parquet", started, True), "-p", policy, "--registry", server)  # fmt: skip
    assert code == 1 and report["decision"] == "reject"
    _, shown = _json(mlrel, "registry", "show", name, "--registry", server)
    assert shown["canary"] is None and {v["version"]: v["status"] for v in shown["versions"]}["v42"] == "rolled_back"
    assert "canary" not in _client(server).get_registered_model(name).aliases
    _, rules_only = _json(mlrel, "registry", "history", name, "--kind", "rule", "--registry", server)
    assert [e["what"] for e in rules_only["events"]] == ["block prepaid"]
