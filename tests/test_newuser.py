"""Regressions found by using mlrel as a new user on scikit-learn-like logs (string classes, renamed columns)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from tests.conftest import T0_US, Runner, binary_log, check


def _string_classes(n: int, seed: int, quality: float) -> dict[str, object]:
    """A binary log whose label is 'M' / 'B' (upper case, as load_breast_cancer users write it)."""
    cols = binary_log(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    label = np.asarray(cols["label"]) == 1
    noisy = rng.random(n) > quality
    cols["prediction"] = np.where(noisy, rng.random(n), np.asarray(cols["prediction"]))
    cols["label"] = np.where(label, "M", "B").tolist()
    return cols


def test_concept_drift_reads_an_upper_case_positive_label_as_written(
    mlrel: Runner, write_log: Callable[..., Path], write_policy: Callable[..., Path]
) -> None:
    reference_cols = _string_classes(3000, 1, 1.0)
    current_cols = _string_classes(3000, 2, 0.4)
    reference, current = write_log(reference_cols), write_log(current_cols)
    policy = write_policy("validate: {performance: {positive_label: M}}\n")
    code, report = mlrel.json("drift", "-r", reference, "-c", current, "-p", policy)
    concept = check(report, "concept:roc_auc")
    expected = [
        roc_auc_score(np.asarray(cols["label"]) == "M", np.asarray(cols["prediction"])) for cols in (reference_cols, current_cols)
    ]
    # before the fix 'M' was compared with 'm': no positive row, roc_auc undefined, inconclusive
    assert concept["status"] == "fail", concept["message"]
    assert concept["value"] == pytest.approx(expected[0] - expected[1], abs=1e-9)
    assert code == 1


@pytest.mark.parametrize("scores", [True, False])
def test_init_on_text_classes_names_the_positive_class(
    mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path, scores: bool
) -> None:
    cols = binary_log(3000, seed=4)
    is_positive = np.asarray(cols["label"]) == 1
    cols["label"] = np.where(is_positive, "malignant", "benign").tolist()
    if not scores:  # classes logged instead of scores: the rarer class is the positive one
        cols["prediction"] = np.where(np.asarray(cols["prediction"]) >= 0.5, "malignant", "benign").tolist()
    rare = "malignant" if is_positive.mean() < 0.5 else "benign"
    reference = write_log(cols)
    policy = tmp_path / "policy.yaml"
    # before the fix: "internal error: ArrowInvalid: Failed to parse string: 'malignant' as a scalar of type double"
    result = mlrel("init", "--from", reference, "-o", policy)
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load(policy.read_text())
    performance = written["validate"]["performance"]
    assert performance["positive_label"] == ("malignant" if scores else rare)
    if scores:
        auc = roc_auc_score(is_positive, np.asarray(cols["prediction"]))
        assert performance["metrics"]["roc_auc"]["min"] == round(auc - 0.05, 3)
    assert mlrel("validate", reference, "-p", policy).exit_code == 0


def test_mixed_zone_times_as_pandas_writes_them_large_string(
    mlrel: Runner, write_log: Callable[..., Path], write_policy: Callable[..., Path]
) -> None:
    """pandas writes str columns as large_string: the mixed-zone path crashed (ArrowNotImplementedError, exit 2)."""
    cols = binary_log(600)
    instants = [dt.datetime(2026, 11, 23, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in range(600)]
    mixed = [t.strftime("%Y-%m-%dT%H:%M:%S") if i % 2 else t.isoformat() for i, t in enumerate(instants)]
    zoned = write_log({**cols, "timestamp": pa.array([t.isoformat() for t in instants], pa.large_string())})
    code, report = mlrel.json(
        "validate", write_log({**cols, "timestamp": pa.array(mixed, pa.large_string())}), "--now", "2026-11-23T01:00:00Z"
    )
    assert code in (0, 1), report
    _, expected = mlrel.json("validate", zoned, "--now", "2026-11-23T01:00:00Z")
    assert [(c["name"], c["status"], c["value"]) for c in report["checks"]] == [
        (c["name"], c["status"], c["value"]) for c in expected["checks"]
    ]
    # and a value that is no time is still the one-line input error
    bad = write_log({**cols, "timestamp": pa.array(["yesterday"] * 600, pa.large_string())})
    result = mlrel("validate", bad)
    assert result.exit_code == 2 and result.stderr.startswith("error: timestamp column holds a value that is not")
    assert "internal error" not in result.stderr


def test_a_symlink_loop_as_output_or_input_is_one_error_line(
    mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """Path.resolve() raises RuntimeError on a loop: it escaped as a traceback with exit 1 (or an internal error)."""
    log = write_log(binary_log(300))
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    loop = tmp_path / "a"
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, message in (
        (("validate", log, "-o", loop, "--format", "json"), "error: cannot write report: Too many levels of symbolic"),
        (("validate", log, "--history", loop), "error: cannot write run history: Too many levels of symbolic"),
        (("init", "--from", log, "-o", loop), "error: cannot write policy: Too many levels of symbolic"),
        (("drift", "-r", loop, "-c", log, "-o", tmp_path / "drift.md"), "error: reference not found"),
    ):
        result = mlrel(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a refused run wrote a file"


@pytest.mark.parametrize("command", [["registry", "show", "m"], ["rollback", "m", "--reason", "r", "--yes"]])
def test_a_registry_that_is_a_device_or_fifo_is_refused_before_any_read(tmp_path: Path, command: list[str]) -> None:
    """`--registry /dev/zero` read until the kernel killed the process; a FIFO blocked forever. No lock beside it."""
    fifo = tmp_path / "registry.yaml"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", *command, "--registry", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: cannot read registry: not a regular file ({fifo})\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.yaml"]


def test_retrain_upsamples_the_weak_segment_of_text_classes(
    mlrel: Runner, write_log: Callable[..., Path], write_policy: Callable[..., Path], tmp_path: Path
) -> None:
    """`float('malignant')` made upsample-weak-segments an internal error on a log whose classes are text."""
    from sklearn.metrics import log_loss

    cols = binary_log(3000, seed=7)
    rng = np.random.default_rng(7)
    city = np.asarray(cols["city"])
    score = np.where(city == "nice", rng.random(3000), np.asarray(cols["prediction"]))
    label = np.where(np.asarray(cols["label"]) == 1, "malignant", "benign")
    log = write_log({**cols, "prediction": score, "label": label.tolist()})
    policy = write_policy("segments: [city]\nvalidate: {performance: {positive_label: malignant}}\n")
    losses = {c: log_loss(label[city == c] == "malignant", score[city == c], labels=[False, True]) for c in set(city)}
    assert max(losses, key=losses.__getitem__) == "nice"  # the weak segment, by scikit-learn
    out = tmp_path / "train.parquet"
    args = ("--log", log, "-p", policy, "-o", out, "--strategy", "upsample-weak-segments", "--factor", "3")
    result = mlrel("retrain-set", *args)
    assert result.exit_code == 0, result.stderr
    written = pq.read_table(out).column("city").to_pylist()
    for name in set(city):
        assert written.count(name) == int((city == name).sum()) * (3 if name == "nice" else 1)


def test_registry_history_event_fields_are_the_documented_ones(mlrel: Runner, tmp_path: Path) -> None:
    """docs/reports.md said `from` and `to`; the JSON has always said `from_version` and `to_version`."""
    import re

    from mlrel_cli.registry.model import Event

    registry = tmp_path / "registry.yaml"
    for args in (
        ("registry", "register", "m", "v1", "--artifact", "s3://m/1", "--code-version", "abc"),
        ("registry", "promote", "m", "v1", "--reason", "first"),
        ("registry", "register", "m", "v2", "--artifact", "s3://m/2"),
        ("registry", "promote", "m", "v2", "--stage", "canary", "--traffic", "0.05", "--reason", "try"),
        ("registry", "record", "m", "--kind", "flag", "--what", "new flag", "--ref", "PR-1", "--revert", "unset it"),
        ("registry", "promote", "m", "v2", "--reason", "go"),
        ("rollback", "m", "--reason", "bad", "--incident", "INC-1", "--yes"),
    ):
        assert mlrel(*args, "--registry", registry).exit_code == 0
    code, report = mlrel.json("registry", "history", "m", "--registry", registry)
    emitted = {key for event in report["events"] for key in event}
    text = (Path(__file__).resolve().parent.parent / "docs" / "reports.md").read_text()
    paragraph = text.split("`registry history` adds `events` (each with", 1)[1].split("`registry repair`", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"event", "rollback", "rollout"}
    assert code == 0 and emitted <= documented, emitted - documented
    assert documented <= set(Event.model_fields), documented - set(Event.model_fields)


def test_iso_strings_with_nanoseconds_as_pandas_prints_them(
    mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """str() of a pandas time has nine fractional digits: refused as 'not an ISO-8601 time'; now read like a ns column."""
    import pandas as pd

    cols = binary_log(600)
    times = pd.Timestamp("2026-11-23T00:00:00.123456789Z") + pd.to_timedelta(np.arange(600), unit="s")
    as_ns = write_log({**cols, "timestamp": pa.array(times.tz_convert(None).to_numpy(), pa.timestamp("ns", tz="UTC"))})
    text = [str(t) for t in times]
    assert text[0] == "2026-11-23 00:00:00.123456789+00:00"
    mixed = [t[: -len("+00:00")] if i % 2 else t for i, t in enumerate(text)]  # half without a zone
    expected = mlrel.json("validate", as_ns, "--now", "2026-11-23T01:00:00Z")[1]
    assert check(expected, "freshness")["value"] == pytest.approx(3600 - 599.123456)
    for strings in (text, mixed):
        log = write_log({**cols, "timestamp": pa.array(strings, pa.large_string())})
        code, report = mlrel.json("validate", log, "--now", "2026-11-23T01:00:00Z")
        assert code in (0, 1), report.get("error")
        assert [(c["name"], c["status"], c["value"]) for c in report["checks"]] == [
            (c["name"], c["status"], c["value"]) for c in expected["checks"]
        ]


def test_profile_output_follows_the_output_rules(mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path) -> None:
    """`profile build LOG -o LOG --force` replaced the reference log with its profile; `-o DIR` and a missing folder
    were internal errors after the whole build; `profile merge A B -o A --force` replaced an input."""
    log = write_log(binary_log(500), name="reference.parquet")
    original = log.read_bytes()
    (tmp_path / "folder").mkdir()
    cases = (
        (("build", log, "-o", log, "--force"), f"error: the profile would overwrite an input of this run ({log})"),
        (("build", log, "-o", tmp_path / "folder"), "error: cannot write profile: path is a directory"),
        (("build", log, "-o", tmp_path / "nowhere" / "p.prof"), "error: cannot write profile: directory does not exist"),
    )
    for args, message in cases:
        result = mlrel("profile", *args)
        assert result.exit_code == 2 and result.stderr.startswith(message), result.stderr
    assert log.read_bytes() == original
    first, second = tmp_path / "a.prof", tmp_path / "b.prof"
    for target in (first, second):
        assert mlrel("profile", "build", log, "-o", target).exit_code == 0
    kept = first.read_bytes()
    result = mlrel("profile", "merge", first, second, "-o", first, "--force")
    assert result.exit_code == 2 and "would overwrite an input" in result.stderr
    assert first.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.prof", "b.prof", "folder", "reference.parquet"]


def test_task_inferred_from_pandas_category_columns(mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path) -> None:
    """pandas writes a category column as a dictionary, which pc.count_distinct cannot count: internal error."""
    cols = binary_log(2000, seed=9)
    text = np.where(np.asarray(cols["label"]) == 1, "malignant", "benign").tolist()
    cols["label"] = pa.array(text).dictionary_encode()
    cols["city"] = pa.array(cols["city"]).dictionary_encode()
    log = write_log(cols)
    result = mlrel("validate", log)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: validate.performance.positive_label: 1 is not one of the label values")
    policy = tmp_path / "policy.yaml"
    result = mlrel("init", "--from", log, "-o", policy)
    assert result.exit_code == 0, result.stderr
    written = yaml.safe_load(policy.read_text())
    assert written["task"] == "binary_classification"
    assert written["validate"]["performance"]["positive_label"] == "malignant"
    assert mlrel("validate", log, "-p", policy).exit_code == 0
    x = np.asarray(cols["x"])
    predicted = pa.array(np.where(x > 0.5, "cat", np.where(x > -0.5, "dog", "eel"))).dictionary_encode()
    _, report = mlrel.json("validate", write_log({**cols, "prediction": predicted, "label": predicted}))
    assert report["inputs"]["task"] == "multiclass_classification"  # a text prediction with three values


@pytest.mark.parametrize(("option", "what"), [("log", "log"), ("-r", "reference"), ("-l", "labels file"), ("dir-glob", "log")])
def test_a_fifo_as_a_log_is_refused_before_any_read(
    write_log: Callable[..., Path], tmp_path: Path, option: str, what: str
) -> None:
    """A FIFO as the log, the reference or the labels blocked pyarrow's read forever, waiting for a writer."""
    log = write_log(binary_log(300))
    fifo = tmp_path / "fifo.parquet"
    os.mkfifo(fifo)
    args = {
        "log": [str(fifo)],
        "-r": [str(log), "-r", str(fifo)],
        "-l": [str(log), "-l", str(fifo)],
        "dir-glob": [str(tmp_path / "*.parquet")],  # a glob skips the FIFO and reads the regular files
    }[option]
    proc = subprocess.run(
        [sys.executable, "-m", "mlrel_cli", "validate", *args, "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    if option == "dir-glob":
        assert proc.returncode in (0, 1, 3) and not proc.stderr.startswith("error:"), proc.stderr
        return
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: {what} is not a regular file (a device, a FIFO or a socket) ({fifo})\n"


def test_drifted_share_is_inconclusive_when_no_feature_could_be_judged(mlrel: Runner, write_log: Callable[..., Path]) -> None:
    """linnerud (20 rows): every feature inconclusive, yet `drifted_share` said pass, '0 of 0 judged features drifted'."""
    log = write_log(binary_log(20))
    code, report = mlrel.json("drift", "-r", log, "-c", log)
    assert code == 3
    share = check(report, "drifted_share")
    assert share["status"] == "inconclusive", share
    assert all(c["status"] == "inconclusive" for c in report["checks"] if c["name"].startswith("drift:"))


def test_every_docs_table_starts_with_a_header_row() -> None:
    """A blank line inside reports.md's field table cut `weak_segments` off into a paragraph of pipes."""
    root = Path(__file__).resolve().parent.parent
    broken = []
    for page in sorted([root / "README.md", *(root / "docs").glob("*.md")]):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            starts_table = line.startswith("|") and (number == 0 or not lines[number - 1].startswith("|"))
            follows_separator = number + 1 < len(lines) and lines[number + 1].replace(" ", "").startswith("|-")
            if starts_table and not follows_separator and not line.replace(" ", "").startswith("|-"):
                broken.append(f"{page.name}:{number + 1}: {line[:60]}")
    assert not broken, broken


def test_init_infers_a_ranking_log_from_its_query_and_position_columns(
    mlrel: Runner, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """A ranking log (session_id, rank, relevance; the bundled samples/ranking_*.parquet too) was inferred as a
    regression on `score` with the query id and the position as features and no label."""
    rng = np.random.default_rng(5)
    queries, shown = 300, 8
    relevance = rng.integers(0, 4, queries * shown)
    score = relevance + rng.normal(0, 1.0, queries * shown)
    log = write_log(
        {
            "ts": pa.array(np.repeat(T0_US + np.arange(queries) * 60_000_000, shown), type=pa.timestamp("us", tz="UTC")),
            "session_id": np.repeat([f"s{i}" for i in range(queries)], shown).tolist(),
            "rank": np.tile(np.arange(1, shown + 1), queries),
            "score": score,
            "relevance": relevance,
            "channel": rng.choice(["web", "app"], queries * shown).tolist(),
        }
    )
    out = tmp_path / "policy.yaml"
    assert mlrel("init", "--from", log, "-o", out).exit_code == 0
    policy = yaml.safe_load(out.read_text())
    assert policy["task"] == "ranking"
    assert policy["columns"] == {
        "timestamp": "ts", "prediction": "score", "label": "relevance", "query": "session_id", "position": "rank"
    }  # fmt: skip
    assert set(policy["features"]) == {"channel"}
    code, report = mlrel.json("validate", log, "-p", out)
    assert code == 0 and report["inputs"]["task"] == "ranking"
    assert check(report, "performance:ndcg@10")["status"] == "pass"

    # a `rank` column without a query column is a feature of a classifier, as before
    alone = write_log(binary_log(500, rank=np.arange(500) % 7))
    assert mlrel("init", "--from", alone, "-o", tmp_path / "binary.yaml").exit_code == 0
    binary = yaml.safe_load((tmp_path / "binary.yaml").read_text())
    assert binary["task"] == "binary_classification" and "rank" in binary["features"]


def test_a_bounded_metric_undefined_on_the_whole_log_is_inconclusive_not_a_pass(
    mlrel: Runner, write_log: Callable[..., Path], write_policy: Callable[..., Path]
) -> None:
    """make_classification with 1 % positives: a day of 400 rows had none; `roc_auc: {min: 0.9}` was skipped and
    the run said 'all passed' (exit 0) with its only gate unjudged."""
    cols = binary_log(400, label=np.zeros(400, dtype=np.int8))
    policy = write_policy("validate: {performance: {metrics: {roc_auc: {min: 0.9}}}}\nsegments: [city]\n")
    code, report = mlrel.json("validate", write_log(cols), "-p", policy)
    assert code == 3 and report["status"] == "inconclusive"
    auc = check(report, "performance:roc_auc")
    assert auc["status"] == "inconclusive" and auc["value"] is None and auc["threshold"]["min"] == 0.9
    assert check(report, "performance:roc_auc[city=paris]")["status"] == "skipped"  # a segment's stays skipped
    unbounded = write_policy("validate: {performance: {metrics: {log_loss: {max: 5}}}}\n")
    code, report = mlrel.json("validate", write_log(cols), "-p", unbounded)
    assert check(report, "performance:roc_auc")["status"] == "skipped" and code == 0
