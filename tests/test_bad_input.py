"""Bad input: one 'error:' line on stderr naming what and where, exit 2, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import binary_log


def _assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture()
def outputs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "out" / "report.json", tmp_path / "out" / "runs.jsonl"


def _run(mlrel, outputs, *args):
    report, history = outputs
    report.parent.mkdir(exist_ok=True)
    result = mlrel("validate", *args, "-o", report, "--history", history)
    assert not history.exists(), "bad input must record no run"
    # the report asked for is an error report (exit 2), never a stale or empty file (docs/reports.md)
    error = json.loads(report.read_text())
    assert error["status"] == "error" and error["exit_code"] == 2 and error["error"] in result.stderr
    assert [p.name for p in report.parent.iterdir()] == [report.name], "no temporary files left behind"
    return result


def test_missing_log(mlrel, outputs, tmp_path) -> None:
    _assert_clean_error(_run(mlrel, outputs, tmp_path / "nope.parquet"), "log not found", "nope.parquet")


def test_not_parquet(mlrel, outputs, tmp_path) -> None:
    path = tmp_path / "log.parquet"
    path.write_text("timestamp,prediction\n1,0.5\n")
    _assert_clean_error(_run(mlrel, outputs, path), "not a readable Parquet file", "log.parquet")


def test_truncated_parquet(mlrel, outputs, write_log, tmp_path) -> None:
    good = write_log(binary_log())
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _assert_clean_error(_run(mlrel, outputs, cut), "not a readable Parquet file", "cut.parquet")


def test_one_corrupt_file_in_a_directory_is_named(mlrel, outputs, write_log) -> None:
    write_log(binary_log(), name="logs/a.parquet")
    bad = write_log(binary_log(), name="logs/b.parquet")
    bad.write_bytes(b"PAR1garbage")
    _assert_clean_error(_run(mlrel, outputs, bad.parent), "b.parquet")


def test_empty_log(mlrel, outputs, write_log) -> None:
    empty = write_log(pa.table(binary_log()).slice(0, 0))
    _assert_clean_error(_run(mlrel, outputs, empty), "empty")


def test_empty_directory(mlrel, outputs, tmp_path) -> None:
    (tmp_path / "nothing").mkdir()
    _assert_clean_error(_run(mlrel, outputs, tmp_path / "nothing"), "no Parquet files")


def test_glob_matching_nothing(mlrel, outputs, tmp_path) -> None:
    _assert_clean_error(_run(mlrel, outputs, str(tmp_path / "*.parquet")), "no log files match")


def test_policy_not_yaml(mlrel, outputs, write_log, write_policy) -> None:
    policy = write_policy("validate: {missing: [1, 2\n")
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "-p", policy), "not valid YAML", str(policy))


def test_unknown_policy_key(mlrel, outputs, write_log, write_policy) -> None:
    policy = write_policy("validate:\n  duplicate: {max_fraction: 0}\n")
    _assert_clean_error(
        _run(mlrel, outputs, write_log(binary_log()), "-p", policy),
        "validate.duplicate: unknown key 'duplicate' (did you mean 'duplicates'?)",
    )


@pytest.mark.parametrize("text", ["validate:\n  ranges: {max_fraction: '5%'}\n", "validate:\n  ranges: {max_fraction: -0.1}\n"])
def test_threshold_wrong_type_or_out_of_range(mlrel, outputs, write_log, write_policy, text) -> None:
    result = _run(mlrel, outputs, write_log(binary_log()), "-p", write_policy(text))
    _assert_clean_error(result, "validate.ranges.max_fraction")


def test_policy_column_missing_from_log(mlrel, outputs, write_log, write_policy) -> None:
    policy = write_policy("columns: {latency: served_ms}\n")
    _assert_clean_error(
        _run(mlrel, outputs, write_log(binary_log()), "-p", policy), "columns.latency", "'served_ms'", str(policy)
    )
    # the label's column may be absent (labels not arrived yet, tests/test_validate.py), unless a near name says typo
    policy = write_policy("columns: {label: lable}\n")
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "-p", policy), "columns.label", "'lable'", str(policy))


def test_policy_feature_missing_from_log(mlrel, outputs, write_log, write_policy) -> None:
    policy = write_policy("features:\n  xx: {kind: numeric}\n")
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "-p", policy), "features.xx", "did you mean 'x'")


def test_no_prediction_column(mlrel, outputs, write_log) -> None:
    cols = binary_log()
    cols["score"] = cols.pop("prediction")
    _assert_clean_error(_run(mlrel, outputs, write_log(cols)), "no prediction column 'prediction'")


def test_labels_without_id_column(mlrel, outputs, write_log) -> None:
    labels = write_log({"request": ["id-0-1"], "label": [1]})
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "--labels", labels), "no id column")


def test_labels_whose_ids_do_not_match(mlrel, outputs, write_log) -> None:
    labels = write_log({"prediction_id": list(range(100)), "label": [1] * 100})
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "--labels", labels), "matches none", "int64", "string")


def test_bad_now_option(mlrel, outputs, write_log) -> None:
    _assert_clean_error(_run(mlrel, outputs, write_log(binary_log()), "--now", "yesterday"), "--now")


def test_output_directory_missing(mlrel, write_log, tmp_path) -> None:
    result = mlrel("validate", write_log(binary_log()), "-o", tmp_path / "no" / "r.json")
    _assert_clean_error(result, "directory does not exist")


def test_unknown_format_is_a_usage_error(mlrel, write_log) -> None:
    result = mlrel("validate", write_log(binary_log()), "--format", "xml")
    assert result.exit_code == 2


def test_a_failed_run_leaves_an_error_report_not_the_previous_one(mlrel, tmp_path) -> None:
    """A persistent CI workspace must not publish the last green report after an input error (issue 17)."""
    report = tmp_path / "report.json"
    report.write_text('{"status": "pass"}')
    result = mlrel("validate", tmp_path / "missing.parquet", "-o", report)
    assert result.exit_code == 2
    assert json.loads(report.read_text())["status"] == "error"


def test_debug_shows_the_traceback(mlrel, tmp_path) -> None:
    result = mlrel("validate", tmp_path / "nope.parquet", "--debug")
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_internal_error_exits_2_not_1(mlrel, write_log, monkeypatch) -> None:
    import mlrel_cli.analysis.validate as module

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "check_duplicates", explode)
    result = mlrel("validate", write_log(binary_log()))
    _assert_clean_error(result, "internal error", "boom")


def test_error_through_a_real_process(tmp_path) -> None:
    """The installed entry point, not only CliRunner: stderr, exit code, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", "validate", str(tmp_path / "x.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: log not found ({tmp_path / 'x.parquet'})"
    assert proc.stdout == ""


def test_labels_file_not_parquet(mlrel, outputs, write_log, tmp_path) -> None:
    labels = tmp_path / "labels.parquet"
    labels.write_text("nope")
    _assert_clean_error(
        _run(mlrel, outputs, write_log(binary_log()), "--labels", labels), "labels file is not a readable Parquet"
    )


def test_files_with_conflicting_types(mlrel, outputs, write_log) -> None:
    write_log(binary_log(), name="mixed/a.parquet")
    cols = binary_log()
    cols["x"] = [str(v) for v in cols["x"]]
    path = write_log(cols, name="mixed/b.parquet")
    _assert_clean_error(_run(mlrel, outputs, path.parent), "disagree")


def test_unwritable_history_changes_nothing(mlrel, write_log, tmp_path) -> None:
    report = tmp_path / "report.json"
    result = mlrel("validate", write_log(binary_log()), "-o", report, "--history", tmp_path / "no" / "h.jsonl")
    _assert_clean_error(result, "run history")
    assert json.loads(report.read_text())["status"] == "error", "the report asked for says why there is no verdict"


def test_pq_metadata_is_enough_to_reject_before_reading(mlrel, write_log, write_policy) -> None:
    """A bad policy is reported before any log data is read: the log need not even be valid data."""
    log = write_log(binary_log())
    pq.read_metadata(log)  # a real file
    result = mlrel("validate", log, "-p", write_policy("bogus: 1\n"))
    _assert_clean_error(result, "bogus")
