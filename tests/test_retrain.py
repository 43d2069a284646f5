"""mlrel retrain-set: each strategy's counts, the upsampled share, the manifest, a byte-identical rebuild."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def day(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(ROOT / "samples" / "incident.parquet", folder / "incident.parquet")
    shutil.copy(ROOT / "samples" / "current.parquet", folder / "current.parquet")
    shutil.copy(ROOT / "samples" / "labels.parquet", folder / "labels.parquet")
    policy = tmp_path / "policy.yaml"
    policy.write_text("segments: [country, device]\n")
    return {"log": folder / "incident.parquet", "current": folder / "current.parquet",
            "labels": folder / "labels.parquet", "policy": policy, "out": tmp_path / "out"}  # fmt: skip


def _run(mlrel, day, *args, name="train.parquet"):
    day["out"].mkdir(exist_ok=True)
    out = day["out"] / name
    result = mlrel("retrain-set", "--log", day["log"], "-p", day["policy"], "-o", out, *args)
    return result, out


def test_recent_keeps_the_newest_window(mlrel, day) -> None:
    result, out = _run(mlrel, day, "--strategy", "recent", "--last", "6h")
    assert result.exit_code == 0, result.stderr
    source = pq.read_table(day["log"])
    newest = pc.max(source["timestamp"]).value
    expected = int(pc.sum(pc.greater_equal(pc.cast(source["timestamp"], "int64"), newest - 6 * 3600 * 10**6)).as_py())
    assert pq.read_metadata(out).num_rows == expected


def test_recent_by_count(mlrel, day) -> None:
    result, out = _run(mlrel, day, "--strategy", "recent", "--rows", "1000")
    assert result.exit_code == 0 and 1000 <= pq.read_metadata(out).num_rows <= 1005


def test_upsample_reaches_its_target_share(mlrel, day) -> None:
    result, out = _run(mlrel, day, "--strategy", "upsample-weak-segments", "--segments", "device", "--target-share", "0.3")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(out.with_name("train.manifest.json").read_text())
    weak = next(iter(manifest["parameters"] and manifest["segments_after"]["device"]))
    table = pq.read_table(out)
    devices = table["device"].to_numpy(zero_copy_only=False)
    chosen = manifest["explanation"][0].split(":")[0].split("=")[1]
    assert weak and np.mean(devices == chosen) == pytest.approx(0.3, abs=0.02)


def test_segment_keeps_only_those_values(mlrel, day) -> None:
    result, out = _run(mlrel, day, "--strategy", "segment", "--segment-column", "country", "--value", "BR", "--value", "IN")
    assert result.exit_code == 0
    countries = set(pq.read_table(out)["country"].to_pylist())
    assert countries == {"BR", "IN"}
    source = pq.read_table(day["log"])["country"].to_numpy(zero_copy_only=False)
    assert pq.read_metadata(out).num_rows == int(np.isin(source, ["BR", "IN"]).sum())


def test_season_by_period_and_weekday(mlrel, day) -> None:
    result, out = _run(mlrel, day, "--strategy", "season", "--from", "2026-11-25T06:00:00Z", "--to", "2026-11-25T12:00:00Z")
    assert result.exit_code == 0
    ts = pq.read_table(out)["timestamp"]
    assert str(pc.min(ts).as_py()) >= "2026-11-25 06:00" and str(pc.max(ts).as_py()) < "2026-11-25 12:00"
    wednesday, _ = _run(mlrel, day, "--strategy", "season", "--weekdays", "wed", name="wed.parquet")
    assert wednesday.exit_code == 0  # 2026-11-25 was a Wednesday
    saturday, sat = _run(mlrel, day, "--strategy", "season", "--weekdays", "sat", name="sat.parquet")
    assert saturday.exit_code == 2 and "no labelled rows" in saturday.stderr and not sat.exists()


def test_manifest_and_byte_identical_rebuild(mlrel, day) -> None:
    args = ("--strategy", "upsample-weak-segments", "--factor", "2.5", "--seed", "7")
    _, out = _run(mlrel, day, *args)
    first = out.read_bytes()
    manifest = json.loads(out.with_name("train.manifest.json").read_text())
    assert manifest["output_sha256"] == hashlib.sha256(first).hexdigest()
    assert manifest["sources"][0]["sha256"] == hashlib.sha256(day["log"].read_bytes()).hexdigest()
    assert manifest["seed"] == 7 and manifest["strategy"] == "upsample-weak-segments"
    assert manifest["label_coverage"] == 1.0 and manifest["rows"]["written"] == pq.read_metadata(out).num_rows
    result, _ = _run(mlrel, day, *args, "--force")
    assert result.exit_code == 0 and out.read_bytes() == first


def test_late_labels_are_joined(mlrel, day) -> None:
    day["out"].mkdir(exist_ok=True)
    out = day["out"] / "late.parquet"
    result = mlrel("retrain-set", "--log", day["current"], "--labels", day["labels"], "-o", out, "--strategy", "recent",
                   "--last", "1d")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert table.num_rows == pq.read_metadata(day["labels"]).num_rows and table["label"].null_count == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "segment", "--segment-column", "country", "--value", "XX"), "not in column 'country'"),
        (("--strategy", "recent"), "needs --last"),
    ],
)
def test_bad_input(mlrel, day, args, message) -> None:
    result, out = _run(mlrel, day, *args)
    assert result.exit_code == 2 and message in result.stderr and not out.exists()


def test_existing_output_needs_force(mlrel, day) -> None:
    day["out"].mkdir(exist_ok=True)
    (day["out"] / "train.parquet").write_text("keep me")
    result, out = _run(mlrel, day, "--strategy", "recent", "--last", "1h")
    assert result.exit_code == 2 and "already exists" in result.stderr and out.read_text() == "keep me"


def test_output_inside_the_input_directory(mlrel, day) -> None:
    folder = day["log"].parent
    result = mlrel("retrain-set", "--log", folder, "-o", folder / "train.parquet", "--strategy", "recent", "--last", "1h")
    assert result.exit_code == 2 and "inside the input directory" in result.stderr
    assert not (folder / "train.parquet").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".train")]
