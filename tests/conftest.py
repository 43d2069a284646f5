"""Fixtures: small Parquet logs built per test, the bundled samples, and a CLI runner."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlrel_cli.cli.app import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
T0_US = 1_795_392_000 * 1_000_000  # 2026-11-23T00:00:00Z


@pytest.fixture()
def samples(tmp_path: Path) -> Path:
    """A private copy of the bundled sample logs, so a test may write beside them."""
    target = tmp_path / "samples"
    target.mkdir()
    for name in ("reference.parquet", "current.parquet", "labels.parquet"):
        shutil.copy(SAMPLES / name, target / name)
    return target


def binary_log(n: int = 2000, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """Columns of a healthy binary-classifier log, one prediction a second."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    score = 1 / (1 + np.exp(-(1.5 * x + rng.normal(0, 1, n))))
    label = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(np.int8)
    cols: dict[str, Any] = {
        "timestamp": pa.array(T0_US + np.arange(n, dtype=np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        "prediction_id": [f"id-{seed}-{i}" for i in range(n)],
        "x": x,
        "city": rng.choice(["paris", "lyon", "nice"], size=n).tolist(),
        "prediction": score,
        "label": label,
        "latency_ms": rng.lognormal(3, 0.3, n),
    }
    cols.update(overrides)
    return cols


@pytest.fixture()
def write_log(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def write(columns: dict[str, Any] | pa.Table, name: str | None = None, **kwargs: Any) -> Path:
        table = columns if isinstance(columns, pa.Table) else pa.table(columns)
        path = tmp_path / (name or f"log{next(counter)}.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, **kwargs)
        return path

    return write


@pytest.fixture()
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10_000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"policy{next(counter)}.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


class Runner:
    """Runs the CLI in-process and parses JSON reports."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Any:
        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    def json(self, *args: str | Path) -> tuple[int, dict[str, Any]]:
        result = self(*args, "--format", "json")
        assert result.stdout.strip(), result.stderr
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture()
def mlrel() -> Runner:
    return Runner()


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert found, f"no check {name}; have {[c['name'] for c in report['checks']]}"
    return found[0]
