"""Reports CI systems read right (issue 17): JUnit checked by junitparser and a JUnit XSD, error reports, the gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import xmlschema
from conftest import SAMPLES, binary_log
from junitparser import Error, Failure, JUnitXml, Properties, Skipped

from mlrel_cli.render import render
from mlrel_cli.report import Check, Report, Status

ROOT = Path(__file__).resolve().parent.parent
XSD = Path(__file__).parent / "data" / "junit.xsd"
HOSTILE = "evil\x1b[31mred\x00nul\x07bell\x9bcsi"


def _validate_xsd(text: str) -> None:
    xmlschema.XMLSchema(str(XSD)).validate(text)


def _junit(text: str) -> JUnitXml:
    return JUnitXml.fromstring(text.encode("utf-8"))


def _props(case) -> dict[str, str]:
    """A testcase's properties (junitparser reads them on suites only)."""
    found = case.child(Properties)
    return {p.name: p.value for p in found} if found is not None else {}


def _cases(xml: JUnitXml) -> list:
    return [case for suite in xml for case in suite]


@pytest.fixture()
def hostile_logs(write_log) -> tuple[Path, Path]:
    """A current log whose category values carry ESC, NUL, BEL and a C1 control: unseen in the reference."""
    ref = write_log(binary_log(seed=1), name="ref.parquet")
    cols = binary_log(seed=2)
    cities = cols["city"]
    cols["city"] = [HOSTILE if i % 10 == 0 else c for i, c in enumerate(cities)]
    return ref, write_log(cols, name="cur.parquet")


def test_control_characters_never_reach_any_format(mlrel, hostile_logs) -> None:
    ref, cur = hostile_logs
    for fmt in ("junit", "markdown", "html", "table", "json"):
        result = mlrel("validate", cur, "--reference", ref, "--format", fmt, "--verbose")
        assert result.exit_code in (0, 1), result.stderr
        text = result.stdout
        if fmt == "json":
            assert json.loads(text)  # JSON escapes controls itself (\u001b), still parseable
            continue
        assert not any(ch in text for ch in "\x1b\x00\x07\x9b"), f"{fmt} carries a raw control character"
        assert "\\x1b[31mred\\x00nul" in text, f"{fmt} should show the value, escaped"


def test_junit_with_control_characters_parses_and_validates(mlrel, hostile_logs) -> None:
    ref, cur = hostile_logs
    text = mlrel("validate", cur, "--reference", ref, "--format", "junit").stdout
    _validate_xsd(text)
    xml = _junit(text)
    cases = _cases(xml)
    assert cases and all(case.time is not None for case in cases)
    unseen = [c for c in cases if c.name == "unseen:city"]
    assert unseen and "\\x1b" in (unseen[0].system_out or "")


def test_compare_classnames_are_stable_across_versions(mlrel) -> None:
    args = ["compare", "--log", SAMPLES / "incident.parquet", "--baseline", "v41", "-p", ROOT / "configs" / "fraud.yaml"]
    text = mlrel(*args, "--candidate", "v42", "--format", "junit").stdout
    _validate_xsd(text)
    cases = _cases(_junit(text))
    assert cases
    for case in cases:
        assert "v42" not in case.classname and case.classname.startswith("mlrel.compare.")
        assert "v42" in case.name
    suite = next(iter(_junit(text)))
    assert suite.name == "mlrel.compare"
    props = {k: v for c in cases for k, v in _props(c).items()}
    assert props["mlrel.version"] == "v42"


def _report(*checks: Check) -> Report:
    from mlrel_cli.report import overall_status

    return Report(
        command="validate", status=overall_status(checks), summary="s", checks=checks, generated_at="2026-11-25T10:00:00Z"
    )


def test_warnings_and_skips_stay_visible() -> None:
    report = _report(
        Check("missing:amount", Status.WARN, 0.02, 0.01, "2.00% missing, over the warn limit"),
        Check("performance", Status.SKIPPED, message="no labels: performance not judged"),
        Check("volume", Status.PASS, 100, None, "100 rows"),
    )
    text = render(report, "junit")
    _validate_xsd(text)
    xml = _junit(text)
    cases = {c.name: c for c in _cases(xml)}
    warn = cases["missing:amount"]
    assert warn.is_passed and "over the warn limit" in warn.system_out
    assert _props(warn)["mlrel.message"] == "2.00% missing, over the warn limit"
    suite = next(iter(xml))
    assert "missing:amount: 2.00% missing" in {p.name: p.value for p in suite.properties()}["mlrel.warnings"]
    skip = cases["performance"]
    assert isinstance(skip.result[0], Skipped) and skip.result[0].message == "no labels: performance not judged"
    assert skip.result[0].text


def test_inconclusive_gate_maps_exit_and_junit(mlrel, write_log) -> None:
    label = pa.array([1, 0] * 25 + [None] * 1950, type=pa.int8())
    log = write_log(binary_log(label=label))
    outcomes = {}
    for gate, code in (("exit3", 3), ("pass", 0), ("fail", 1)):
        result = mlrel("validate", log, "--inconclusive", gate, "--format", "junit")
        assert result.exit_code == code, (gate, result.stderr)
        _validate_xsd(result.stdout)
        case = next(c for c in _cases(_junit(result.stdout)) if c.name == "performance")
        outcomes[gate] = type(case.result[0])
        report = json.loads(mlrel("validate", log, "--inconclusive", gate, "--format", "json").stdout)
        assert report["status"] == "inconclusive" and report["exit_code"] == code
    assert outcomes == {"exit3": Error, "pass": Skipped, "fail": Failure}


def test_every_testcase_has_time_and_the_suite_the_run_time(mlrel, write_log) -> None:
    xml = _junit(mlrel("validate", write_log(binary_log()), "--format", "junit").stdout)
    suite = next(iter(xml))
    assert suite.time is not None and suite.time > 0
    assert all(case.time == 0 for case in suite)


# -- exit 2 leaves an error report in the format asked for ---------------------------------------


def test_exit2_with_junit_output_writes_one_errored_testcase(mlrel, tmp_path) -> None:
    out = tmp_path / "report.xml"
    out.write_text("<testsuites><testsuite name='old green run' tests='1'/></testsuites>")
    result = mlrel("validate", tmp_path / "missing.parquet", "-o", out)
    assert result.exit_code == 2
    text = out.read_text()
    _validate_xsd(text)
    cases = _cases(_junit(text))
    assert len(cases) == 1 and isinstance(cases[0].result[0], Error)
    assert "log not found" in cases[0].result[0].message


def test_exit2_with_format_json_on_stdout(mlrel, tmp_path) -> None:
    result = mlrel("drift", "--reference", tmp_path / "nope.parquet", "--current", tmp_path / "x.parquet", "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["status"] == "error" and report["exit_code"] == 2 and "not found" in report["error"]
    assert result.stderr.startswith("error: ")


def test_exit2_with_format_junit_redirected_is_never_empty(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "report.xml", "w") as sink:
        proc = subprocess.run(
            [sys.executable, "-m", "mlrel_cli", "validate", str(tmp_path / "nope.parquet"), "--format", "junit"],
            stdout=sink, stderr=subprocess.PIPE, text=True, env=env, check=False,
        )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    _validate_xsd((tmp_path / "report.xml").read_text())


def test_format_json_wins_over_quiet(mlrel, write_log) -> None:
    result = mlrel("validate", write_log(binary_log()), "--format", "json", "-q")
    assert json.loads(result.stdout)["command"] == "validate"


def test_usage_errors_are_one_line(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["validate"], ["validate", "x.parquet", "--format", "xml"], ["nope"], ["drift", "--engine", "spark"]):
        proc = subprocess.run([sys.executable, "-m", "mlrel_cli", *args], capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 2, args
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr


def test_engine_choices_version_and_completion() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlrel_cli", *args], capture_output=True, text=True, env={**env, **extra}, check=False
        )

    assert "local|dask" in run("drift", "--help").stdout
    from importlib.metadata import version

    assert run("--version").stdout.strip() == f"mlrel {version('mlrel')}"
    assert run("--show-completion", "zsh").stdout.startswith("#compdef mlrel")
    assert "complete --command mlrel" in run("--show-completion", "fish").stdout
    completed = run(_MLREL_COMPLETE="complete_bash", COMP_WORDS="mlrel drift --engine ", COMP_CWORD="3")
    assert completed.stdout.split() == ["local", "dask"]


def test_the_xsd_rejects_what_reporters_choke_on() -> None:
    """The schema is not vacuous: no time, or an unknown element, fails validation."""
    no_time = (
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="0">'
        '<testcase classname="c" name="n"/></testsuite></testsuites>'
    )
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        _validate_xsd(no_time)
    stray = no_time.replace('name="n"/>', 'name="n" time="0"><warning/></testcase>')
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        _validate_xsd(stray)
    _validate_xsd(no_time.replace('name="n"/>', 'name="n" time="0"/>'))
