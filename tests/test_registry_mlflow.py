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
