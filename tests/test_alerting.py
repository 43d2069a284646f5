"""Notifications on change: a real local HTTP receiver, cron-style runs that pass, fail, fail and pass again."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import webhook_receiver
import yaml
from conftest import binary_log
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrel_cli.alerting import Plan, alert
from mlrel_cli.alerting.targets import Target
from mlrel_cli.render.json import render_line
from mlrel_cli.report import Check, Report, Status

ROOT = Path(__file__).resolve().parent.parent
PASS_NOW = "2026-11-23T00:40:00Z"  # the log's newest row is at 00:33:19
FAIL_NOW = "2026-11-23T03:00:00Z"
SECRETS = {
    "SLACK_WEBHOOK_URL": None,  # the receiver's URL, set in the fixture
    "PAGERDUTY_ROUTING_KEY": "pd-routing-key-S3CRET",
    "MLREL_HOOK_TOKEN": "hook-token-S3CRET",
}
SLACK_PATH = "/slack/T000/B000/S3CRETslack"


@pytest.fixture()
def receiver() -> Iterator[webhook_receiver.Receiver]:
    server = webhook_receiver.start()
    yield server
    server.server.shutdown()


@pytest.fixture()
def secrets(monkeypatch: pytest.MonkeyPatch, receiver: webhook_receiver.Receiver) -> dict[str, str]:
    values = {**SECRETS, "SLACK_WEBHOOK_URL": receiver.url(SLACK_PATH)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values  # type: ignore[return-value]


def policy_text(receiver: webhook_receiver.Receiver) -> str:
    """docs/alerting.md's notify section, its public URLs pointed at the local receiver."""
    block = re.search(r"```yaml\n(notify:\n.*?)```", (ROOT / "docs" / "alerting.md").read_text(), flags=re.S)
    assert block, "docs/alerting.md has a notify: example"
    notify = yaml.safe_load(block.group(1))
    notify["notify"]["targets"]["audit"]["url"] = receiver.url("/hook")
    notify["notify"]["targets"]["oncall"]["url"] = receiver.url("/pagerduty")
    head = "model: checkout-fraud\ncolumns: {id: prediction_id, latency: latency_ms}\nvalidate:\n  freshness: {max_age: 30m}\n"
    return head + yaml.safe_dump(notify)


def events(receiver: webhook_receiver.Receiver, path: str) -> list[str]:
    out = []
    for request in receiver.requests(path):
        body = request.body
        if path == "/pagerduty":
            out.append(body["event_action"])
        elif path in ("/hook", "/inline"):
            out.append(body["event"])
        else:
            out.append("resolve" if "RESOLVED" in body["text"] else "trigger")
    return out


def test_pass_fail_fail_pass_sends_one_trigger_and_one_resolve_to_each_kind(
    mlrel, write_log, write_policy, receiver, secrets, tmp_path: Path
) -> None:
    log = write_log(binary_log())
    policy = write_policy(policy_text(receiver))
    history = tmp_path / "runs.jsonl"
    outputs = []
    codes = []
    for now in (PASS_NOW, FAIL_NOW, FAIL_NOW, PASS_NOW):
        report_file = tmp_path / f"report{len(codes)}.json"
        result = mlrel("validate", log, "-p", policy, "--now", now, "--history", history, "-o", report_file, "-q")
        codes.append(result.exit_code)
        outputs.append(result.stdout + result.stderr + report_file.read_text())
    assert codes == [0, 1, 1, 0]
    for path in ("/hook", SLACK_PATH, "/pagerduty"):
        assert events(receiver, path) == ["trigger", "resolve"], path

    trigger, resolve = (r.body for r in receiver.requests("/pagerduty"))
    assert trigger["routing_key"] == resolve["routing_key"] == secrets["PAGERDUTY_ROUTING_KEY"]
    assert trigger["dedup_key"] == resolve["dedup_key"] == "mlrel/checkout-fraud/validate/" + trigger["dedup_key"][-12:]
    assert trigger["payload"]["severity"] == "error" and trigger["payload"]["component"] == "checkout-fraud"
    assert trigger["payload"]["custom_details"]["top"][0]["check"] == "freshness"

    slack = receiver.requests(SLACK_PATH)[0].body
    assert "FAIL" in slack["text"] and "freshness" in json.dumps(slack["blocks"])
    assert "Next: `mlrel rollback checkout-fraud --to previous" in json.dumps(slack["blocks"])

    hook = receiver.requests("/hook")[0]
    assert hook.headers["Authorization"] == f"Bearer {secrets['MLREL_HOOK_TOKEN']}"
    assert hook.body["report"]["status"] == "fail" and hook.body["dedup_key"] == trigger["dedup_key"]

    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert [line["alerting"]["targets"]["oncall"]["open"] for line in lines] == [False, True, True, False]
    assert [len(line["alerting"]["deliveries"]) for line in lines] == [0, 3, 0, 3]
    written = history.read_text() + "".join(outputs)
    for value in secrets.values():
        assert value not in written
    assert "S3CRET" not in written


def test_an_unreachable_target_changes_no_exit_code_and_is_bounded_by_the_timeout(
    mlrel, write_log, write_policy, tmp_path: Path
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent_port = silent.getsockname()[1]
    log = write_log(binary_log())
    policy = write_policy(
        f"""
columns: {{id: prediction_id, latency: latency_ms}}
validate:
  freshness: {{max_age: 30m}}
notify:
  targets:
    refused: {{kind: webhook, url: "http://127.0.0.1:{refused_port}/x"}}
    silent: {{kind: webhook, url: "http://127.0.0.1:{silent_port}/x"}}
  timeout: 1s
  retries: 1
"""
    )
    history = tmp_path / "runs.jsonl"
    plain = mlrel("validate", log, "-p", policy, "--now", FAIL_NOW, "-q")
    start = time.monotonic()
    result = mlrel("validate", log, "-p", policy, "--now", FAIL_NOW, "--history", history, "-q")
    elapsed = time.monotonic() - start
    silent.close()
    assert result.exit_code == plain.exit_code == 1
    # two targets in parallel, each 2 attempts of at most 1 s and a 0.2 s pause, plus the run itself
    assert elapsed < 2 * 1 + 0.2 + 2.5
    assert "warning: notification trigger to refused (webhook) not delivered after 2 attempts" in result.stderr
    assert "warning: notification trigger to silent (webhook) not delivered after 2 attempts: timed out" in result.stderr
    section = json.loads(history.read_text())["alerting"]
    assert [d["delivered"] for d in section["deliveries"]] == [False, False]
    assert not section["targets"]["refused"]["open"]  # so the next failing run tries again


def test_a_transient_error_is_retried(mlrel, write_log, write_policy, receiver, secrets, tmp_path: Path) -> None:
    receiver.fail("/pagerduty", 1, 503)
    log = write_log(binary_log())
    policy = write_policy(policy_text(receiver))
    history = tmp_path / "runs.jsonl"
    assert mlrel("validate", log, "-p", policy, "--now", FAIL_NOW, "--history", history, "--notify", "oncall").exit_code == 1
    assert events(receiver, "/pagerduty") == ["trigger", "trigger"]
    assert receiver.requests("/hook") == []  # --notify names the targets: the policy's others are not told
    (delivery,) = json.loads(history.read_text())["alerting"]["deliveries"]
    assert delivery["delivered"] and delivery["attempts"] == 2 and delivery["status_code"] == 202


def test_inline_target_reads_its_url_from_the_environment(
    mlrel, write_log, write_policy, receiver, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MY_HOOK_URL", receiver.url("/inline"))
    log = write_log(binary_log())
    policy = write_policy("columns: {id: prediction_id}\nvalidate:\n  freshness: {max_age: 30m}\n")
    args = ("validate", log, "-p", policy, "--history", tmp_path / "h.jsonl", "--notify", "webhook:MY_HOOK_URL", "-q")
    assert mlrel(*args, "--now", FAIL_NOW).exit_code == 1
    assert mlrel(*args, "--now", PASS_NOW).exit_code == 0
    assert events(receiver, "/inline") == ["trigger", "resolve"]
    assert receiver.url("/inline") not in (tmp_path / "h.jsonl").read_text()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--notify", "slack:NOT_SET_ANYWHERE"], {}, "environment variable NOT_SET_ANYWHERE is not set"),
        (["--notify", "email:X"], {}, "not a target of the policy's notify.targets"),
        (["--notify", "webhook:HOOK"], {"HOOK": "ftp://x"}, "does not hold an http(s) URL"),
        (["--pushgateway", "localhost:9091"], {}, "is not an http(s) URL"),
    ],
)
def test_bad_targets_are_usage_errors_before_any_work(mlrel, write_log, tmp_path: Path, monkeypatch, args, env, message) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    history = tmp_path / "h.jsonl"
    result = mlrel("validate", write_log(binary_log()), "--history", history, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.startswith("error: ")
    assert "ftp://x" not in result.stderr
    assert not history.exists()


def test_notify_needs_a_history(mlrel, write_log, monkeypatch) -> None:
    monkeypatch.setenv("HOOK", "http://127.0.0.1:9/x")
    result = mlrel("validate", write_log(binary_log()), "--notify", "webhook:HOOK")
    assert result.exit_code == 2 and "need a run history" in result.stderr


def test_a_secret_in_the_policy_is_refused(mlrel, write_log, write_policy) -> None:
    policy = write_policy("notify:\n  targets:\n    chat: {kind: slack, url: 'https://hooks.slack.com/services/T/B/X'}\n")
    result = mlrel("validate", write_log(binary_log()), "-p", policy)
    assert result.exit_code == 2
    assert "notify.targets.chat: a Slack webhook URL is a secret" in result.stderr


def _report(status: Status) -> Report:
    return Report("drift", status, f"drift {status.value}", (Check("drift:amount", status, 0.3, 0.1, "amount moved"),))


def _run(plan: Plan, history: Path, status: Status, now: dt.datetime) -> Report:
    report = alert(_report(status), plan, history, now=now)
    with history.open("a") as handle:
        handle.write(render_line(report) + "\n")
    return report


def test_inconclusive_opens_only_after_n_runs_and_a_reminder_after_the_interval(receiver, tmp_path: Path) -> None:
    plan = Plan(
        model="m",
        policy_file="p.yaml",
        targets=(Target("hook", "webhook", receiver.url("/hook")),),
        inconclusive_runs=3,
        remind_every=dt.timedelta(hours=4),
    )
    history = tmp_path / "h.jsonl"
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    statuses = [Status.INCONCLUSIVE] * 4 + [Status.FAIL, Status.FAIL, Status.PASS, Status.PASS]
    hours = [0, 1, 2, 3, 4, 8, 9, 10]
    for status, hour in zip(statuses, hours, strict=True):
        _run(plan, history, status, t0 + dt.timedelta(hours=hour))
    sent = [(r.body["event"], r.body["status"]) for r in receiver.requests("/hook")]
    # third inconclusive run opens; fail at 4h continues it; the reminder comes 4 h after the last message (at 2h)
    assert sent == [("trigger", "inconclusive"), ("remind", "fail"), ("resolve", "pass")]


def test_the_state_is_found_behind_other_models_lines_in_a_long_history(receiver, tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    target = (Target("hook", "webhook", receiver.url("/hook")),)
    mine, other = Plan("m", "p.yaml", target), Plan("other", "p.yaml", target)
    t0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    _run(mine, history, Status.FAIL, t0)
    key = json.loads(history.read_text())["alerting"]["dedup_key"]
    with history.open("a") as handle:  # a line torn by a crash, naming the key: skipped, not fatal
        handle.write('{"alerting": {"dedup_key": ' + json.dumps(key) + ', "targets": {"hook": {"open": fal\n')
    for _ in range(300):  # about 100 kB of other runs after it: the backwards read crosses blocks
        _run(other, history, Status.PASS, t0)
    assert history.stat().st_size > 1 << 16
    _run(mine, history, Status.FAIL, t0)
    _run(mine, history, Status.PASS, t0)
    assert [(r.body["model"], r.body["event"]) for r in receiver.requests("/hook")] == [("m", "trigger"), ("m", "resolve")]


def test_compare_tells_the_baseline_to_roll_back_to_and_drift_pushes(
    mlrel, write_log, write_policy, receiver, monkeypatch, tmp_path: Path
) -> None:
    from test_compare import _model

    monkeypatch.setenv("MY_HOOK_URL", receiver.url("/compare"))
    log = write_log(pa.concat_tables([_model("v41", 4000, 1.0, 1), _model("v42", 4000, 2.5, 2)]))
    policy = write_policy("model: fraud\n")
    history = tmp_path / "h.jsonl"
    args = ("compare", "--log", log, "--baseline", "v41", "--candidate", "v42", "-p", policy, "--history", history)
    assert mlrel(*args, "--notify", "webhook:MY_HOOK_URL", "-q").exit_code == 1
    (sent,) = receiver.requests("/compare")
    assert sent.body["command"] == "compare" and sent.body["next"].startswith("mlrel rollback fraud --to v41 --reason ")

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    ref, cur = write_log(binary_log(seed=1)), write_log(binary_log(seed=2))
    plain = mlrel("drift", "-r", ref, "-c", cur, "-q")
    pushed = mlrel("drift", "-r", ref, "-c", cur, "-q", "--pushgateway", f"http://user:pw@127.0.0.1:{port}")
    assert pushed.exit_code == plain.exit_code
    assert f"warning: metrics not pushed to http://127.0.0.1:{port} after 3 attempts" in pushed.stderr
    assert "pw" not in pushed.stderr

    host_port = receiver.url("").removeprefix("http://")
    assert mlrel("drift", "-r", ref, "-c", cur, "-q", "--pushgateway", f"http://ops:p%40ss@{host_port}").exit_code == 0
    (put,) = receiver.requests("/metrics/job/mlrel/command/drift/model@base64/=")
    assert put.headers["Authorization"] == "Basic " + base64.b64encode(b"ops:p@ss").decode()
    assert b"mlrel_drift_score{" in put.raw


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([Status.PASS, Status.WARN, Status.FAIL, Status.INCONCLUSIVE]), max_size=30))
def test_one_trigger_per_incident_and_one_resolve_when_it_ends(statuses: list[Status]) -> None:
    """An incident is a stretch between passing runs that holds a failure; inconclusive runs neither open nor end one."""
    from mlrel_cli.alerting.state import State, TargetState, after, event_for, wanted

    state, target, now = State(), TargetState(), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    sent = []
    for status in statuses:
        want, runs = wanted(status, state, None)
        event = event_for(want, target, now, None)
        target = after(target, event, True, "2026-12-01T00:00:00Z")
        state = State(status.value, runs, {"t": target})
        sent.append(event)
    stretches = "".join("|" if s in (Status.PASS, Status.WARN) else s.value[0] for s in statuses).split("|")
    incidents = [s for s in stretches if "f" in s]
    ended = [s for s in stretches[:-1] if "f" in s]
    events = [e for e in sent if e is not None]
    assert events.count("trigger") == len(incidents) and events.count("resolve") == len(ended)
    assert events == ["trigger", "resolve"] * len(ended) + ["trigger"] * (len(incidents) - len(ended))


def test_an_error_inside_the_delivery_is_reported_without_the_url(
    mlrel, write_log, write_policy, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOK", "http://127.0.0.1:9/x\x01S3CRET")  # http.client's error would quote it
    policy = write_policy("columns: {id: prediction_id}\nvalidate:\n  freshness: {max_age: 30m}\n")
    args = ("validate", write_log(binary_log()), "-p", policy, "--now", FAIL_NOW, "-q")
    result = mlrel(*args, "--history", tmp_path / "h.jsonl", "--notify", "webhook:HOOK")
    assert result.exit_code == mlrel(*args).exit_code == 1
    assert "not delivered after 1 attempts: could not send: InvalidURL" in result.stderr
    assert "S3CRET" not in result.stderr + result.stdout + (tmp_path / "h.jsonl").read_text()
