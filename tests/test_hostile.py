"""Hostile inputs, one row each (issue 16): the exit code, the one `error:` line and that no file changed.

Every row builds its inputs in a fresh folder and returns the command line; the folder (inputs, a previous
report, everything) is fingerprinted before the run and must be byte-for-byte the same after it. The rows
that need a cluster or an object store follow the table, with the same assertions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import binary_log

ROOT = Path(__file__).resolve().parent.parent
Build = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Hostile:
    id: str
    build: Build  # writes the inputs under the folder, returns the arguments of mlrel
    says: tuple[str, ...]  # fragments of the one error line
    code: int = 2
    absent: tuple[str, ...] = ()  # words the error line must not hold
    patch: Callable[[pytest.MonkeyPatch], None] | None = None


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under ``folder``: content hash and mode, so a write, a replace or a leftover shows."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.name.endswith(".lock") and path.stat().st_size == 0:
            continue  # filelock's empty lock file beside a registry or history: taken and released, by design
        if path.is_dir():
            found[key] = ("dir", path.stat().st_mode)
        else:
            found[key] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return found


def assert_one_error_line(code: int, stderr: str, case: Hostile) -> None:
    assert code == case.code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    for fragment in case.says:
        assert fragment in lines[0], lines[0]
    for word in case.absent:
        assert word not in lines[0], lines[0]


# ---------------------------------------------------------------- builders


def log(folder: Path, name: str = "log.parquet", columns: dict | pa.Table | None = None) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    table = columns if isinstance(columns, pa.Table) else pa.table(columns if columns is not None else binary_log())
    pq.write_table(table, path)
    return path


def policy(folder: Path, text: str) -> Path:
    path = folder / "policy.yaml"
    path.write_text(text)
    return path


def validate(folder: Path, target: Path | str, *extra: str | Path) -> list[str]:
    """validate with a report and a run history: a previous report must survive, no history may appear."""
    (folder / "report.json").write_text('{"previous": true}\n')
    return ["validate", str(target), *map(str, extra), "-o", str(folder / "report.json"), "--history", str(folder / "runs.jsonl")]


def with_policy(text: str, columns: dict | None = None) -> Build:
    return lambda f: validate(f, log(f, columns=columns), "-p", policy(f, text))


def nested_columns() -> dict:
    cols = binary_log()
    n = len(cols["x"])
    cols["tags"] = pa.array([[1, 2]] * n)
    cols["meta"] = pa.array([{"a": 1}] * n)
    cols["attrs"] = pa.array([[("k", 1)]] * n, type=pa.map_(pa.string(), pa.int64()))
    return cols


def zero_byte(f: Path) -> list[str]:
    (f / "log.parquet").write_bytes(b"")
    return validate(f, f / "log.parquet")


def csv_named_parquet(f: Path) -> list[str]:
    (f / "log.parquet").write_text("timestamp,prediction\n2026-11-23T00:00:00Z,0.5\n")
    return validate(f, f / "log.parquet")


def empty_directory(f: Path) -> list[str]:
    (f / "logs").mkdir()
    return validate(f, f / "logs")


def registry_copy(f: Path) -> Path:
    for name in ("registry.yaml", "registry.history.jsonl"):
        shutil.copy(ROOT / "samples" / name, f / name)
    return f / "registry.yaml"


def invalid_registry_yaml(f: Path) -> list[str]:
    registry = registry_copy(f)
    registry.write_text(registry.read_text() + "  broken: [unclosed\n")
    return ["registry", "show", "checkout-fraud", "--registry", str(registry)]


def truncated_ledger(f: Path) -> list[str]:
    registry = registry_copy(f)
    ledger = f / "registry.history.jsonl"
    ledger.write_bytes(ledger.read_bytes()[:-20])
    return ["rollback", "checkout-fraud", "--registry", str(registry), "--reason", "test", "--yes"]


def sigint_mid_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT delivered while the checks run, as Ctrl-C would: the -o report must be left as it was."""
    import mlrel_cli.analysis.validate as module

    original = module._run_checks

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler raises KeyboardInterrupt here
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "_run_checks", interrupted)


def duplicate_column_names(f: Path) -> list[str]:
    table = pa.table(binary_log())
    table = pa.Table.from_arrays([*table.columns, table.column("x")], names=[*table.column_names, "x"])
    return validate(f, log(f, columns=table))


def no_prediction(f: Path) -> list[str]:
    cols = binary_log()
    cols["score"] = cols.pop("prediction")
    return validate(f, log(f, columns=cols))


def broken_file_in_directory(f: Path) -> list[str]:
    log(f, "logs/a.parquet")
    bad = log(f, "logs/b.parquet")
    data = bad.read_bytes()  # the footer still reads (so the log opens), the pages do not
    bad.write_bytes(data[:4] + b"\xff" * (len(data) // 2) + data[4 + len(data) // 2 :])
    return validate(f, f / "logs")


def drift_critical_missing(f: Path) -> list[str]:
    reference, current = log(f, "reference.parquet"), log(f, "current.parquet", columns=binary_log(seed=1))
    (f / "report.json").write_text("previous\n")
    return ["drift", "-r", str(reference), "-c", str(current), "-p", str(policy(f, "drift: {critical: [xx]}\n")),
            "-o", str(f / "report.json")]  # fmt: skip


def init_cannot_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference that fails a check whatever init loosens (planted): init must say which check, not only 'could not'."""
    import mlrel_cli.analysis.validate as module
    from mlrel_cli.report import Check, Report, Status

    def always_fails(*args, **kwargs):
        return Report(
            command="validate", status=Status.FAIL, summary="", checks=(Check("schema", Status.FAIL, message="planted"),)
        )

    monkeypatch.setattr(module, "validate", always_fails)


def init_run(f: Path) -> list[str]:
    return ["init", "--from", str(log(f)), "-o", str(f / "policy.yaml")]


def postmortem_chart_is_a_directory(f: Path) -> list[str]:
    for name in ("incident.parquet", "registry.yaml", "registry.history.jsonl"):
        shutil.copy(ROOT / "samples" / name, f / name)
    (f / "out" / "PM.png").mkdir(parents=True)
    return [
        "postmortem", "--incident", str(ROOT / "configs" / "incident-example.yaml"), "-p", str(ROOT / "configs" / "fraud.yaml"),
        "--log", str(f / "incident.parquet"), "--registry", str(f / "registry.yaml"), "-o", str(f / "out" / "PM.md"),
    ]  # fmt: skip


def chart_write_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root user meets on a read-only PM.png (root may write anything, so it is planted here)."""
    figure = pytest.importorskip("matplotlib.figure", reason="the charts extra is not installed")

    def denied(self, path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(figure.Figure, "savefig", denied)


def postmortem_markdown(f: Path) -> list[str]:
    args = postmortem_chart_is_a_directory(f)
    (f / "out" / "PM.png").rmdir()
    return args


CASES = [
    # already handled before issue 16
    Hostile("zero rows", lambda f: validate(f, log(f, columns=pa.table(binary_log()).slice(0, 0))), ("empty (0 rows)",)),
    Hostile("0-byte file", zero_byte, ("not a readable Parquet file", "log.parquet")),
    Hostile("CSV named .parquet", csv_named_parquet, ("not a readable Parquet file", "log.parquet")),
    Hostile("empty directory", empty_directory, ("holds no Parquet files", "logs")),
    Hostile("glob matching nothing", lambda f: validate(f, str(f / "*.parquet")), ("no log files match the pattern",)),
    Hostile("invalid registry YAML", invalid_registry_yaml, ("registry is not valid YAML", "registry.yaml")),
    Hostile("truncated ledger", truncated_ledger, ("history ledger holds", "registry.history.jsonl")),
    Hostile(
        "SIGINT during -o", lambda f: validate(f, log(f)), ("interrupted; nothing was written",), code=130, patch=sigint_mid_run
    ),
    # policies that say what they do
    Hostile(
        "duplicate key",
        with_policy("drift:\n  bins: 10\n  window: 1h\n  bins: 20\n"),
        ("drift.bins: key 'bins' is written twice (lines 2 and 4)", "policy.yaml:4"),
    ),
    Hostile(
        "duplicate key in a list item",
        with_policy("segments: [city]\nproxy_metrics:\n  m: {kind: mean, kind: rate}\n"),
        ("proxy_metrics.m.kind", "lines 3 and 3"),
    ),
    Hostile(
        "negative drift fail",
        with_policy("drift:\n  features:\n    x: {fail: -1}\n"),
        ("drift.features.x.fail: Input should be greater than or equal to 0 (got -1)",),
        absent=("constrained",),
    ),
    Hostile(
        "negative max_regression",
        with_policy("compare: {max_regression: {roc_auc: -0.5}}\n"),
        ("compare.max_regression.roc_auc", "greater than or equal to 0"),
    ),
    Hostile(
        "metric min above max",
        with_policy("validate:\n  performance:\n    metrics:\n      roc_auc: {min: 0.9, max: 0.8}\n"),
        ("validate.performance.metrics.roc_auc: min (0.9) is greater than max (0.8)",),
    ),
    Hostile(
        "segment_min above segment_max",
        with_policy("validate:\n  performance:\n    metrics:\n      f1: {segment_min: 0.9, segment_max: 0.1}\n"),
        ("validate.performance.metrics.f1: segment_min (0.9) is greater than segment_max (0.1)",),
    ),
    Hostile("false_alarm_rate 0", with_policy("drift: {false_alarm_rate: 0}\n"), ("drift.false_alarm_rate", "greater than 0")),
    Hostile("false_alarm_rate 1", with_policy("drift: {false_alarm_rate: 1}\n"), ("drift.false_alarm_rate", "less than 1")),
    Hostile(
        "rmse on a binary task",
        with_policy("task: binary_classification\nvalidate: {performance: {metrics: {rmse: {max: 1}}}}\n"),
        ("validate.performance.metrics.rmse: metric 'rmse' does not apply to task 'binary_classification'", "policy.yaml"),
    ),
    Hostile(
        "rmse on a task inferred binary",
        with_policy("validate: {performance: {metrics: {rmse: {max: 1}}}}\n"),
        ("validate.performance.metrics.rmse: metric 'rmse' does not apply to task 'binary_classification' (inferred",),
    ),
    Hostile(
        "drift.critical names no feature",
        drift_critical_missing,
        ("drift.critical[0]: column 'xx' is not in the current log (did you mean 'x'?)", "policy.yaml"),
    ),
    # inputs and messages
    Hostile(
        "list column as a feature",
        with_policy("features:\n  tags: {kind: numeric}\n", nested_columns()),
        ("features.tags: column 'tags' of the log has type list<element: int64>", "policy.yaml"),
    ),
    Hostile(
        "struct column as a segment",
        with_policy("segments: [meta]\n", nested_columns()),
        ("segments[0]: column 'meta' of the log has type struct<a: int64>",),
        absent=("internal error",),
    ),
    Hostile(
        "map column as the fairness segment",
        with_policy("validate: {fairness: {segment: attrs}}\n", nested_columns()),
        ("validate.fairness.segment: column 'attrs'", "map<string, int64"),
    ),
    Hostile("missing prediction column", no_prediction, ("no prediction column 'prediction'",), absent=("prediction_id",)),
    Hostile("duplicate column names", duplicate_column_names, ("more than one column named 'x'",), absent=("disagree",)),
    Hostile("broken file in a directory", broken_file_in_directory, ("cannot read column", "b.parquet")),
    Hostile(
        "chart write denied",
        postmortem_markdown,
        ("cannot write the chart: Permission denied", "PM.png"),
        absent=("internal error",),
        patch=chart_write_denied,
    ),
    Hostile("init cannot infer", init_run, ("could not infer a policy", "schema fail: planted"), patch=init_cannot_pass),
    Hostile(
        "chart path is a directory",
        postmortem_chart_is_a_directory,
        ("cannot write post-mortem chart", "PM.png"),
        absent=("internal error",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Hostile, mlrel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    args = case.build(folder)
    before = fingerprint(folder)
    if case.patch is not None:
        case.patch(monkeypatch)
    result = mlrel(*args)
    assert_one_error_line(result.exit_code, result.stderr, case)
    assert_only_an_error_report(folder, before, result.stderr)


def assert_only_an_error_report(folder: Path, before: dict[str, tuple[str, int]], stderr: str) -> None:
    """Nothing changed but the ``-o`` report, which an exit-2 run replaces by an error report (issue 17: a CI
    never publishes the previous run's green report), keeping its mode."""
    after = fingerprint(folder)
    report = "report.json"
    if report in before and after.get(report) != before[report]:
        written = json.loads((folder / report).read_text())
        assert written["status"] == "error" and written["exit_code"] == 2
        assert written["error"] in stderr
        assert after[report][1] == before[report][1], "the report's mode changed"
        before, after = {k: v for k, v in before.items() if k != report}, {k: v for k, v in after.items() if k != report}
    assert after == before, "a refused run changed, added or left a file"


# ---------------------------------------------------------------- accepted as documented


def test_mixed_zoned_and_zoneless_times_read_no_zone_as_utc(mlrel, tmp_path: Path) -> None:
    """The same instants written with a zone, without one, or mixed: the same report (docs: no zone means UTC)."""
    import datetime as dt

    cols = binary_log(n=600)
    instants = [dt.datetime(2026, 11, 23, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in range(600)]
    zoned = [t.isoformat() for t in instants]  # +00:00
    shifted = [t.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat() for t in instants]
    mixed = [
        t.strftime("%Y-%m-%dT%H:%M:%S") if i % 3 == 0 else (shifted[i] if i % 3 == 1 else zoned[i])
        for i, t in enumerate(instants)
    ]
    reports = []
    for name, times in (("zoned", zoned), ("mixed", mixed)):
        path = log(tmp_path, f"{name}.parquet", columns={**cols, "timestamp": times})
        code, report = mlrel.json("validate", path, "--now", "2026-11-23T01:00:00Z")
        assert code in (0, 1), report
        reports.append({c["name"]: (c["status"], c.get("value")) for c in report["checks"]})
    assert reports[0] == reports[1]
    assert reports[1]["freshness"][1] == pytest.approx(3600 - 599)  # seconds since the newest row


def test_matplotlib_warnings_stay_off_stderr(tmp_path: Path) -> None:
    """matplotlib warns (on stderr) when it cannot write its cache folder; mlrel's stderr stays empty."""
    pytest.importorskip("matplotlib", reason="the charts extra is not installed")
    for name in ("incident.parquet", "registry.yaml", "registry.history.jsonl"):
        shutil.copy(ROOT / "samples" / name, tmp_path / name)
    env = {**os.environ, "MPLCONFIGDIR": "/proc/mlrel-cannot-write-here"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", "postmortem", "--incident", str(ROOT / "configs" / "incident-example.yaml"),
         "-p", str(ROOT / "configs" / "fraud.yaml"), "--log", str(tmp_path / "incident.parquet"),
         "--registry", str(tmp_path / "registry.yaml"), "-o", str(tmp_path / "PM.md")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert (tmp_path / "PM.png").exists()
    assert proc.stderr == ""
    probe = subprocess.run(
        [sys.executable, "-c", "import matplotlib.pyplot"], capture_output=True, text=True, env=env, check=False
    )
    assert "Matplotlib" in probe.stderr, "matplotlib did not warn here: the test above proved nothing"


# ---------------------------------------------------------------- beyond one machine: Dask


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mlrel_process(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlrel_cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)  # fmt: skip


@pytest.fixture()
def bare_scheduler():
    """A scheduler alone; the test brings (or withholds) its workers."""
    pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_dask_every_worker_dies_mid_run(bare_scheduler: str, tmp_path: Path) -> None:
    """Two workers without a nanny, each killed (SIGKILL) by its first task: no worker is left, none comes
    back, and Dask would wait forever. mlrel stops after engine_timeout, naming the workers it lost."""
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin

    class KillOnFirstTask(WorkerPlugin):  # defined here so it is pickled by value, not imported on the workers
        name = "kill-on-first-task"

        def transition(self, key, start, finish, **kwargs):
            name = key[0] if isinstance(key, tuple) else key
            if finish == "executing" and str(name).startswith("run_on_row_group"):
                os.kill(os.getpid(), signal.SIGKILL)

    workers = [
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", bare_scheduler, "--no-nanny", "--nthreads", "1",
                          "--host", "127.0.0.1", "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]  # fmt: skip
    try:
        with Client(bare_scheduler) as client:
            client.wait_for_workers(2, timeout=120)
            addresses = list(client.nthreads())
            client.register_plugin(KillOnFirstTask())
        folder = tmp_path / "case"
        folder.mkdir()
        args = validate(folder, log(folder), "-p", policy(folder, "engine_timeout: 5s\n"))
        before = fingerprint(folder)
        started = time.monotonic()
        proc = _mlrel_process(*args, "--engine", "dask", "--scheduler", bare_scheduler, timeout=240)
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    case = Hostile("every worker dies", args.__len__, ("the Dask cluster lost every worker", *addresses, "5s (engine_timeout)"))
    assert_one_error_line(proc.returncode, proc.stderr, case)
    assert all(w.returncode == -signal.SIGKILL for w in workers), "the workers were not killed by their tasks"
    assert_only_an_error_report(folder, before, proc.stderr)
    assert elapsed < 120, f"took {elapsed:.0f}s for an engine_timeout of 5s"


def test_dask_scheduler_without_workers(bare_scheduler: str, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    args = validate(folder, log(folder), "-p", policy(folder, "engine_timeout: 3s\n"))
    before = fingerprint(folder)
    proc = _mlrel_process(*args, "--engine", "dask", "--scheduler", bare_scheduler, timeout=240)
    assert_one_error_line(proc.returncode, proc.stderr, Hostile("no worker", args.__len__, ("has had no worker for 3s",)))
    assert_only_an_error_report(folder, before, proc.stderr)


def test_dask_broken_file_is_one_line_naming_it(tmp_path: Path) -> None:
    """A worker meets the corrupt pages: one error line naming the file and the row group, nothing written."""
    pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")
    folder = tmp_path / "case"
    folder.mkdir()
    args = broken_file_in_directory(folder)
    before = fingerprint(folder)
    proc = _mlrel_process(*args, "--engine", "dask")
    case = Hostile("broken file on dask", args.__len__, ("cannot summarise row group 0 of the log on the cluster", "b.parquet"))
    assert_one_error_line(proc.returncode, proc.stderr, case)
    assert_only_an_error_report(folder, before, proc.stderr)


def test_dask_file_lacking_a_column_reads_as_locally(mlrel, tmp_path: Path) -> None:
    """One file of a directory lacks a column: null there on both engines (it was a KeyError on the workers),
    and the local cluster's start-up says nothing on stderr (not even a dashboard port already taken)."""
    pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")
    log(tmp_path, "logs/a.parquet")
    cols = binary_log(seed=1)
    cols["z"] = cols["x"]
    log(tmp_path, "logs/b.parquet", columns=cols)
    now = ("--now", "2026-11-24T00:00:00Z")
    _, local = mlrel.json("validate", tmp_path / "logs", *now)
    proc = _mlrel_process("validate", tmp_path / "logs", *now, "--format", "json", "--engine", "dask")
    assert proc.stderr == ""
    remote = json.loads(proc.stdout)
    statuses = lambda report: {c["name"]: c["status"] for c in report["checks"]}  # noqa: E731
    assert statuses(remote) == statuses(local)
    missing = lambda report: next(c for c in report["checks"] if c["name"] == "missing:z")["value"]  # noqa: E731
    assert missing(remote) == missing(local) == pytest.approx(0.5)


# ---------------------------------------------------------------- beyond one machine: S3 (a moto server on 127.0.0.1)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A real S3 API (moto's server) on 127.0.0.1 holding a hive-partitioned log, and the same files on disk."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install 'mlrel[dev]')")
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("the moto server did not start")
                time.sleep(0.2)
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name="us-east-1")  # fmt: skip
        client.create_bucket(Bucket="logs")
        local = tmp_path_factory.mktemp("lake")
        table = pq.read_table(ROOT / "samples" / "current.parquet")
        half = table.num_rows // 2
        for day, part in (("2026-11-23", table.slice(0, half)), ("2026-11-24", table.slice(half))):
            path = local / f"date={day}" / "part-0.parquet"
            path.parent.mkdir()
            pq.write_table(part, path, row_group_size=4000)
            client.put_object(Bucket="logs", Key=f"date={day}/part-0.parquet", Body=path.read_bytes())
        client.put_object(Bucket="logs", Key="README.txt", Body=b"not a log")
        yield {"endpoint": endpoint, "port": port, "env": env, "local": local}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _s3_env(s3, monkeypatch: pytest.MonkeyPatch, endpoint: bool = True) -> None:
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3["endpoint"])
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _checks(report: dict) -> dict:
    return {c["name"]: (c["status"], c.get("value")) for c in report["checks"]}


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_s3_glob_on_both_engines(s3, mlrel, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """`s3://bucket/date=*/part-*.parquet` reads the same rows, partitions and verdict as the same files on disk."""
    if engine == "dask":
        pytest.importorskip("distributed", reason="the Dask extra is not installed")
    _s3_env(s3, monkeypatch)
    now = ("--now", "2026-11-25T00:00:00Z")
    code, local = mlrel.json("validate", str(s3["local"] / "date=*" / "part-*.parquet"), *now)
    code_s3, remote = mlrel.json("validate", "s3://logs/date=*/part-*.parquet", *now, "--engine", engine)
    assert remote["inputs"]["rows"] == local["inputs"]["rows"] == 20_000
    assert code_s3 == code
    if engine == "local":
        assert _checks(remote) == _checks(local)
    else:
        assert {k: v[0] for k, v in _checks(remote).items()} == {k: v[0] for k, v in _checks(local).items()}


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_s3_endpoint_in_the_uri(s3, mlrel, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """No AWS_ENDPOINT_URL: the URI's own endpoint_override reaches the reader and the workers."""
    if engine == "dask":
        pytest.importorskip("distributed", reason="the Dask extra is not installed")
    _s3_env(s3, monkeypatch, endpoint=False)
    uri = f"s3://logs/?endpoint_override=127.0.0.1:{s3['port']}&scheme=http"
    _, report = mlrel.json("validate", uri, "--now", "2026-11-25T00:00:00Z", "--engine", engine)
    assert report["inputs"]["rows"] == 20_000, report


S3_CASES = [
    Hostile(
        "s3 glob matching nothing",
        lambda f: validate(f, "s3://logs/date=*/nope-*.parquet"),
        ("no log files match the pattern", "s3://logs/date=*/nope-*.parquet"),
    ),
    Hostile(
        "s3 -o",
        lambda f: ["validate", "s3://logs/", "-o", "s3://logs/report.json"],
        ("cannot write report to an object store", "(s3://logs/report.json)"),
    ),
    Hostile(
        "s3 --history",
        lambda f: ["validate", "s3://logs/", "--history", "s3://logs/runs.jsonl"],
        ("cannot write run history to an object store", "(s3://logs/runs.jsonl)"),
    ),
]


@pytest.mark.parametrize("case", S3_CASES, ids=[c.id for c in S3_CASES])
def test_s3_hostile(case: Hostile, s3, mlrel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _s3_env(s3, monkeypatch)
    import boto3

    bucket = boto3.client("s3", endpoint_url=s3["endpoint"])
    keys = lambda: sorted(o["Key"] for o in bucket.list_objects_v2(Bucket="logs")["Contents"])  # noqa: E731
    args = case.build(tmp_path)
    before, files = keys(), fingerprint(tmp_path)
    result = mlrel(*args)
    assert_one_error_line(result.exit_code, result.stderr, case)
    assert keys() == before
    assert_only_an_error_report(tmp_path, files, result.stderr)
