"""Every file mlrel writes follows the rules of mlrel_cli/outputs.py: one test per rule (issue 16, Outputs)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES, binary_log

from mlrel_cli import outputs
from mlrel_cli.errors import OutputError

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """A real process, with this tree first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "mlrel_cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)


# -- never an input of the run ------------------------------------------------------------------


def test_validate_refuses_to_overwrite_its_log(mlrel, write_log) -> None:
    log = write_log(binary_log())
    before = _sha(log)
    result = mlrel("validate", log, "-o", log, "--format", "json")
    assert result.exit_code == 2 and "would overwrite an input" in result.stderr
    assert _sha(log) == before


def test_drift_refuses_to_overwrite_its_reference_through_a_symlink(mlrel, write_log, tmp_path) -> None:
    ref, cur = write_log(binary_log(seed=1)), write_log(binary_log(seed=2))
    link = tmp_path / "report.json"
    link.symlink_to(ref)
    before = _sha(ref)
    result = mlrel("drift", "--reference", ref, "--current", cur, "-o", link)
    assert result.exit_code == 2 and "would overwrite an input" in result.stderr
    assert _sha(ref) == before and link.is_symlink()


def test_init_refuses_to_overwrite_its_reference_even_with_force(mlrel, write_log) -> None:
    ref = write_log(binary_log(), name="ref.yaml")
    before = _sha(ref)
    result = mlrel("init", "--from", ref, "-o", ref, "--force")
    assert result.exit_code == 2 and "would overwrite an input" in result.stderr
    assert _sha(ref) == before


def test_history_may_not_be_the_report(mlrel, write_log, tmp_path) -> None:
    out = tmp_path / "r.json"
    result = mlrel("validate", write_log(binary_log()), "-o", out, "--history", out)
    assert result.exit_code == 2 and "run history would overwrite an input" in result.stderr


def test_a_history_on_a_device_is_written_in_place_without_a_lock_beside_it(mlrel, write_log) -> None:
    """--history /dev/null took a lock at /dev/null.lock and failed on fsync (EINVAL) after the whole run."""
    lock = Path("/dev/null.lock")
    if lock.exists():
        pytest.skip("/dev/null.lock exists already on this machine")
    result = mlrel("validate", write_log(binary_log()), "--history", "/dev/null")
    assert result.exit_code == 0, result.stderr
    assert not lock.exists()


def test_an_incident_file_that_is_a_device_is_not_read(mlrel) -> None:
    result = mlrel("postmortem", "--incident", "/dev/zero")
    assert result.exit_code == 2 and result.stderr.startswith("error: incident file is not a regular file")


def test_a_report_inside_a_log_directory_is_refused(mlrel, write_log, tmp_path) -> None:
    log = write_log(binary_log(), name="logs/day.parquet")
    result = mlrel("validate", log.parent, "-o", log.parent / "report.json")
    assert result.exit_code == 2 and "inside the input directory" in result.stderr
    assert sorted(p.name for p in log.parent.iterdir()) == ["day.parquet"]


# -- devices, FIFOs, symlinks, modes ----------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null on this system")
def test_dev_null_stays_a_device(mlrel, write_log) -> None:
    result = mlrel("validate", write_log(binary_log()), "-o", "/dev/null", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "the device was replaced by a regular file"


def test_dev_stdout_is_written_through(write_log, tmp_path) -> None:
    log = write_log(binary_log())
    with open(tmp_path / "captured.json", "w") as sink:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "mlrel_cli", "validate", str(log), "-o", "/dev/stdout", "--format", "json", "-q"],
            stdout=sink, stderr=subprocess.PIPE, text=True, env=env, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "captured.json").read_text()
    # the file report and the stdout report, both JSON, one after the other
    assert text.count('"schema_version"') == 2
    assert Path("/dev/stdout").is_symlink() or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)


def test_a_fifo_is_written_in_place(write_log, tmp_path) -> None:
    fifo = tmp_path / "report.fifo.json"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrel_cli", "validate", str(write_log(binary_log())), "-o", str(fifo), "-q"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    with open(fifo) as reader:
        received = reader.read()
    proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read()
    assert json.loads(received)["command"] == "validate"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"


def test_a_symlink_writes_its_target(mlrel, write_log, tmp_path) -> None:
    real = tmp_path / "reports" / "latest.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    assert mlrel("validate", write_log(binary_log()), "-o", link).exit_code == 0
    assert link.is_symlink() and json.loads(real.read_text())["command"] == "validate"


def test_a_regular_file_keeps_its_mode(mlrel, write_log, tmp_path) -> None:
    out = tmp_path / "report.json"
    out.write_text("{}")
    out.chmod(0o640)
    assert mlrel("validate", write_log(binary_log()), "-o", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and json.loads(out.read_text())["command"] == "validate"


def test_a_read_only_report_is_refused_unless_force(mlrel, write_log, tmp_path) -> None:
    log = write_log(binary_log())
    out = tmp_path / "report.json"
    out.write_text("kept")
    out.chmod(0o444)
    result = mlrel("validate", log, "-o", out)
    assert result.exit_code == 2 and "read-only; pass --force" in result.stderr
    assert out.read_text() == "kept", "not replaced, not even by an error report"
    assert mlrel("validate", log, "-o", out, "--force").exit_code == 0
    assert json.loads(out.read_text())["command"] == "validate" and stat.S_IMODE(out.stat().st_mode) == 0o444


def test_an_unknown_suffix_needs_format(mlrel, write_log, tmp_path) -> None:
    log = write_log(binary_log())
    result = mlrel("validate", log, "-o", tmp_path / "report.out")
    assert result.exit_code == 2 and "unknown report suffix '.out'" in result.stderr
    assert not (tmp_path / "report.out").exists()
    assert mlrel("validate", log, "-o", tmp_path / "report.out", "--format", "json", "-q").exit_code == 0
    assert json.loads((tmp_path / "report.out").read_text())["command"] == "validate"


def test_a_uri_output_is_refused_clearly(mlrel, write_log) -> None:
    result = mlrel("validate", write_log(binary_log()), "-o", "s3://bucket/report.json")
    assert result.exit_code == 2 and "object store" in result.stderr and "(s3://bucket/report.json)" in result.stderr


# -- as a user who is not root -----------------------------------------------------------------


def _as_nobody(*args: str | Path) -> tuple[int, str]:
    """Run the CLI in a forked child that became the user nobody (the interpreter is already loaded,
    so it need not be readable by nobody); returns the exit code and stderr."""
    import pwd

    from typer.testing import CliRunner

    from mlrel_cli.cli.app import app

    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root for good, run, report, never return into pytest
        code = 99
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            result = CliRunner().invoke(app, [str(a) for a in args])
            code = result.exit_code
            os.write(write_end, result.stderr.encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        stderr = reader.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stderr


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    if not IS_ROOT:
        pytest.skip("the non-root tests switch to the user nobody, which needs root")
    folder = Path(tempfile.mkdtemp(prefix="mlrel-nonroot-", dir="/tmp"))  # pytest's tmp_path is 0700
    folder.chmod(0o777)
    for parent in folder.parents:
        if parent.stat().st_mode & 0o001 == 0:
            pytest.skip(f"{parent} is not searchable by other users")
    shutil.copy(SAMPLES / "current.parquet", folder / "current.parquet")
    (folder / "current.parquet").chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_non_root_read_only_refused_and_force_replaces(shared_dir: Path) -> None:
    import pwd

    out = shared_dir / "report.json"
    out.write_text("kept")
    os.chown(out, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    out.chmod(0o444)
    code, stderr = _as_nobody("validate", shared_dir / "current.parquet", "-o", out, "-q")
    assert code == 2 and "read-only; pass --force" in stderr, stderr
    assert out.read_text() == "kept"
    code, stderr = _as_nobody("validate", shared_dir / "current.parquet", "-o", out, "-q", "--force")
    assert code in (0, 1), stderr
    assert json.loads(out.read_text())["command"] == "validate" and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert out.stat().st_uid == pwd.getpwnam("nobody").pw_uid


def test_non_root_cannot_replace_someone_elses_file(shared_dir: Path) -> None:
    out = shared_dir / "root-owned.json"
    out.write_text("kept")
    out.chmod(0o644)
    shared_dir.chmod(0o755)  # nobody can neither write the file nor rename over it
    code, stderr = _as_nobody("validate", shared_dir / "current.parquet", "-o", out, "--force")
    assert code == 2 and stderr.startswith("error: ") and "Traceback" not in stderr, stderr
    assert out.read_text() == "kept"
    assert sorted(p.name for p in shared_dir.iterdir()) == ["current.parquet", "root-owned.json"]


# -- pairs, and what a killed run leaves -------------------------------------------------------


@pytest.fixture()
def labelled_log(write_log) -> Path:
    return write_log(binary_log(n=20_000), name="logs/day.parquet")


def _pair_is_consistent(out: Path) -> bool:
    manifest = out.with_name(out.stem + ".manifest.json")
    if not manifest.exists():
        return True  # incomplete (no manifest), never mismatched
    return out.exists() and json.loads(manifest.read_text())["output_sha256"] == _sha(out)


def test_a_second_run_never_shows_new_data_beside_the_old_manifest(mlrel, labelled_log, tmp_path) -> None:
    out = tmp_path / "train.parquet"
    first = ("retrain-set", "--log", labelled_log, "-o", out, "--strategy", "recent", "--rows", "500")
    assert mlrel(*first).exit_code == 0
    assert mlrel(*first[:-1], "900", "--force").exit_code == 0
    manifest = json.loads(out.with_name("train.manifest.json").read_text())
    assert manifest["output_sha256"] == _sha(out) and manifest["rows"]["written"] == 900


def test_an_interrupted_commit_is_finished_by_the_next_run(tmp_path) -> None:
    data, manifest = outputs.plan(tmp_path / "set.parquet"), outputs.plan(tmp_path / "set.manifest.json")
    (tmp_path / "set.parquet").write_text("old data")
    (tmp_path / "set.manifest.json").write_text("old manifest")

    def crash_after_first_rename(src, dst, _real=os.replace):
        _real(src, dst)
        raise KeyboardInterrupt  # as if killed between the two renames

    original = os.replace
    os.replace = crash_after_first_rename  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            outputs.write_pair(data, lambda p: p.write_text("new data"), manifest, lambda p: "new manifest")
    finally:
        os.replace = original  # type: ignore[assignment]
    # the old manifest went first: the new data is never beside it
    assert not (tmp_path / "set.manifest.json").exists() and (tmp_path / "set.parquet").read_text() == "new data"
    notes = outputs.recover(data, manifest)
    assert notes and "finished the interrupted commit" in notes[0]
    assert (tmp_path / "set.manifest.json").read_text() == "new manifest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.manifest.json", "set.parquet"]


def test_a_dead_runs_temporary_file_is_removed_and_named(mlrel, labelled_log, tmp_path) -> None:
    out = tmp_path / "train.parquet"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".train.parquet.{dead.pid}.abc123{outputs.TMP_MARK}"
    leftover.write_bytes(b"x" * 1000)
    mine = tmp_path / f".train.parquet.{os.getpid()}.live{outputs.TMP_MARK}"  # a run still going: left alone
    mine.write_bytes(b"y")
    result = mlrel("retrain-set", "--log", labelled_log, "-o", out, "--strategy", "recent", "--rows", "100")
    assert result.exit_code == 0, result.stderr
    assert f"note: removed {leftover.name} (1,000 bytes) left by an interrupted run" in result.stderr
    assert not leftover.exists() and mine.exists()


def test_sigkill_at_random_moments_never_leaves_a_mismatched_pair(labelled_log, tmp_path) -> None:
    """Real SIGKILLs during retrain-set: after each, the pair is consistent or incomplete; the next run cleans up."""
    out = tmp_path / "train.parquet"
    args = ("retrain-set", "--log", labelled_log, "-o", out, "--strategy", "recent", "--rows", "20000", "--force")
    assert _cli(*args).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    timing = time.monotonic()
    _cli(*args)
    whole = time.monotonic() - timing
    for trial in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlrel_cli", *map(str, args), "--seed", str(trial)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.5, 1.0) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _pair_is_consistent(out), f"trial {trial}: the manifest does not describe the data"
    final = _cli(*args)
    assert final.returncode == 0, final.stderr
    assert _pair_is_consistent(out) and out.with_name("train.manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "logs") == ["train.manifest.json", "train.parquet"]


def test_plan_refuses_a_directory(tmp_path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        outputs.plan(tmp_path)


def test_retrain_set_cannot_write_to_a_device(mlrel, labelled_log) -> None:
    result = mlrel("retrain-set", "--log", labelled_log, "-o", "/dev/null", "--strategy", "recent", "--rows", "10", "--force")
    assert result.exit_code == 2 and "device or pipe" in result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_bad_report_path_is_refused_before_the_registry_changes(mlrel, tmp_path) -> None:
    registry = tmp_path / "registry.yaml"
    for name in ("registry.yaml", "registry.history.jsonl"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    before = registry.read_text()
    out = tmp_path / "rollback.json"
    out.write_text("kept")
    out.chmod(0o444)
    result = mlrel("rollback", "checkout-fraud", "--reason", "test", "--registry", registry, "--yes", "-o", out)
    assert result.exit_code == 2 and "read-only" in result.stderr
    assert registry.read_text() == before, "the rollback must not apply when its report cannot be written"
    result = mlrel("registry", "set-fallback", "checkout-fraud", "v41", "--registry", registry, "-o", tmp_path / "x.out")
    assert result.exit_code == 2 and "unknown report suffix" in result.stderr
    assert registry.read_text() == before


def test_an_error_never_replaces_a_policy_or_a_training_set(mlrel, tmp_path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text("kept")
    assert mlrel("init", "--from", tmp_path / "missing.parquet", "-o", policy, "--force").exit_code == 2
    train = tmp_path / "train.parquet"
    train.write_text("kept")
    result = mlrel("retrain-set", "--log", tmp_path / "missing.parquet", "-o", train, "--force", "--format", "json")
    assert result.exit_code == 2 and json.loads(result.stdout)["status"] == "error"
    assert policy.read_text() == "kept" and train.read_text() == "kept"


def test_a_killed_report_writes_leftover_is_removed_by_the_next_run(mlrel, write_log, tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f".report.json.{dead.pid}.x{outputs.TMP_MARK}"
    leftover.write_text("half a report")
    result = mlrel("validate", write_log(binary_log(), name="in/log.parquet"), "-o", tmp_path / "report.json")
    assert result.exit_code == 0 and f"note: removed {leftover.name}" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "report.json"]


def test_dev_stdout_into_a_pipe(write_log) -> None:
    """`-o /dev/stdout | jq`: the /proc link of a pipe names no path; it is written through all the same."""
    proc = _cli("validate", write_log(binary_log()), "-o", "/dev/stdout", "--format", "junit", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("<testsuites") == 2 and proc.stderr == ""
