"""mlrel's core install has no pandas: drift, validate and drill run, with the same reports, when pandas cannot
be imported, and no line of mlrel_cli ever asks for it (pyarrow may ask; it copes with the ImportError)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES

CONFIGS = SAMPLES.parent / "configs"

# Run mlrel with a finder on sys.meta_path that refuses pandas, and list the lines of mlrel_cli that import it.
BLOCKED = """\
import json, linecache, os, runpy, sys
PACKAGE = os.environ.get("NO_PANDAS_PACKAGE") or os.path.dirname(__import__("importlib.util").util.find_spec("mlrel_cli").origin)
asked = []

class NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name != "pandas" and not name.startswith("pandas."):
            return None
        frame = sys._getframe(1)
        while frame.f_code.co_filename.startswith("<frozen importlib"):
            frame = frame.f_back
        where = frame.f_code.co_filename
        # an import written in mlrel_cli (pyarrow's own attempts, from C, show mlrel's line without "pandas" on it)
        if where.startswith(PACKAGE) and "pandas" in linecache.getline(where, frame.f_lineno):
            asked.append(f"{os.path.relpath(where, PACKAGE)}:{frame.f_lineno}")
        raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)

sys.meta_path.insert(0, NoPandas())
sys.argv = ["mlrel", *sys.argv[1:]]
try:
    runpy.run_module(os.environ.get("NO_PANDAS_MODULE", "mlrel_cli"), run_name="__main__")
finally:
    loaded = sorted(m for m in sys.modules if m == "pandas" or m.startswith("pandas."))
    with open(os.environ["NO_PANDAS_TRACE"], "w") as out:
        json.dump({"asked_by_mlrel": asked, "loaded": loaded}, out)
"""


def _run(args: list[str], tmp_path: Path, blocked: bool) -> tuple[int, dict[str, Any], dict[str, Any] | None]:
    trace = tmp_path / "trace.json"
    env = {**os.environ, "NO_PANDAS_TRACE": str(trace)}
    command = [sys.executable, "-c", BLOCKED, *args] if blocked else [sys.executable, "-m", "mlrel_cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode in (0, 1, 3), done.stderr[-2000:]
    report = json.loads(done.stdout)
    return done.returncode, report, json.loads(trace.read_text()) if blocked else None


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (the time it was made, how long it took)."""
    return json.loads(json.dumps(report), object_hook=_drop_timing)


def _drop_timing(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in ("generated_at", "duration_s")}


COMMANDS = {
    "drift against a log": [
        "drift",
        "--reference",
        SAMPLES / "reference.parquet",
        "--current",
        SAMPLES / "incident.parquet",
        "--window",
        "15m",
    ],
    "drift against a profile": [
        "drift",
        "--reference",
        SAMPLES / "reference.mlrel-profile",
        "--current",
        SAMPLES / "incident.parquet",
        "--window",
        "15m",
    ],
    "validate": [
        "validate",
        SAMPLES / "current.parquet",
        "--labels",
        SAMPLES / "labels.parquet",
        "--reference",
        SAMPLES / "reference.parquet",
        "--now",
        "2026-11-24T23:59:00Z",
    ],
    "drill": ["drill", "--log", SAMPLES / "reference.parquet"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_runs_the_same_without_pandas(name: str, tmp_path: Path) -> None:
    args = [str(a) for a in COMMANDS[name]]
    if name != "drill":
        args += ["-p", str(CONFIGS / "fraud.yaml")]
    args += ["--format", "json"]
    code, report, trace = _run(args, tmp_path, blocked=True)
    assert trace == {"asked_by_mlrel": [], "loaded": []}
    expected_code, expected, _ = _run(args, tmp_path, blocked=False)
    assert code == expected_code
    assert _stable(report) == _stable(expected)  # the very same report, statuses and scores


def test_the_blocker_blocks_and_names_the_line(tmp_path: Path) -> None:
    """The finder refuses pandas and names the line that imported it (else the test above could not fail)."""
    (tmp_path / "uses_pandas.py").write_text("import sys\n\nimport pandas\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "NO_PANDAS_TRACE": str(tmp_path / "trace.json"), "NO_PANDAS_PACKAGE": str(tmp_path),
           "NO_PANDAS_MODULE": "uses_pandas", "PYTHONPATH": path}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", BLOCKED], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 1 and "No module named 'pandas' (blocked)" in done.stderr
    assert json.loads((tmp_path / "trace.json").read_text()) == {"asked_by_mlrel": ["uses_pandas.py:3"], "loaded": []}
