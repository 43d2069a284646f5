"""validate's label checks ask the engine for one shape of evidence (Engine.labelled_evidence, Engine.labelled_log):
exact from every row on the local engine, from merged parts and a sample elsewhere; no analysis asks which
engine it runs on."""

from __future__ import annotations

import ast
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from mlrel_cli.analysis.validate.plan import labelled_rows
from mlrel_cli.engine import common
from mlrel_cli.engine.dask import DaskEngine
from mlrel_cli.engine.interface import LABEL_ARRIVED, Engine
from mlrel_cli.engine.local import LocalEngine
from mlrel_cli.errors import LogError
from mlrel_cli.facts.labelled import NO_VALUE
from mlrel_cli.logs import open_log
from mlrel_cli.logs.roles import resolve_roles
from mlrel_cli.policy import load_policy
from mlrel_cli.stats.names import BINARY
from tests.conftest import binary_log

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def labelled(write_log, write_policy):
    cols = binary_log(3000, seed=4)
    region = np.random.default_rng(1).choice(["north", "south", "east"], 3000).astype(object)
    region[::50] = None
    cols["region"] = pa.array(region.tolist(), type=pa.string())
    cols["label"] = pa.array(cols["label"], mask=np.arange(3000) % 7 == 0)
    log = open_log(write_log(pa.table(cols), row_group_size=1000))
    policy = load_policy(write_policy("task: binary_classification\nsegments: [region]\n"))
    rows_of = partial(labelled_rows, prediction="prediction", label="label", policy=policy, task=BINARY)
    return log, policy, rows_of, cols


def test_local_evidence_is_exact_over_every_labelled_row(labelled) -> None:
    log, _policy, rows_of, cols = labelled
    found = LocalEngine().labelled_evidence(log, ["prediction", "label", "region"], rows_of, BINARY, 0.5, ["region"], 40)
    keep = np.arange(3000) % 7 != 0
    truth, score = np.asarray(cols["label"].to_pylist())[keep].astype(int), np.asarray(cols["prediction"])[keep]
    assert found.rows == keep.sum()
    assert found.metrics_of(None)["roc_auc"] == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    region = pa.array(cols["region"]).to_pylist()
    kept_region = np.array([r if r is not None else NO_VALUE for r, k in zip(region, keep, strict=True) if k])
    assert list(found.sizes["region"]) == [*dict.fromkeys(r for r in region if r is not None), NO_VALUE]  # first seen
    for value, size in found.sizes["region"].items():
        mine = kept_region == value
        assert size == mine.sum()
        if value != NO_VALUE:
            predicted = (score[mine] >= 0.5).astype(int)
            metrics = found.metrics_of(("region", value))
            assert metrics["accuracy"] == pytest.approx(accuracy_score(truth[mine], predicted), abs=1e-12)
            assert metrics["roc_auc"] == pytest.approx(roc_auc_score(truth[mine], score[mine]), abs=1e-12)
    t, p, population = found.rows_of(("region", "north"))  # every row of the segment, standing for itself
    assert len(t) == len(p) == population == found.sizes["region"]["north"]


def test_merged_parts_give_the_same_shape(labelled) -> None:
    """The Dask engine's evidence (written once over any engine's reduce) agrees with the exact one."""
    log, _policy, rows_of, _cols = labelled
    columns, engine = ["prediction", "label", "region"], LocalEngine()
    exact = engine.labelled_evidence(log, columns, rows_of, BINARY, 0.5, ["region"], 40_000)
    merged = common.labelled_evidence(engine, log, columns, rows_of, BINARY, 0.5, ["region"], 40_000)
    assert merged.rows == exact.rows
    assert merged.sizes["region"] == dict(sorted(exact.sizes["region"].items()))  # sorted, not first seen
    assert merged.metrics_of(None)["accuracy"] == pytest.approx(exact.metrics_of(None)["accuracy"], abs=1e-12)
    assert merged.metrics_of(None)["roc_auc"] == pytest.approx(exact.metrics_of(None)["roc_auc"], abs=0.01)
    t, _p, population = merged.rows_of(("region", "south"))
    assert population == exact.sizes["region"]["south"] and len(t) <= population


def test_the_local_engine_joins_labels_and_dask_refuses(samples) -> None:
    log = open_log(samples / "current.parquet")
    labels = open_log(samples / "labels.parquet", label="labels file")
    policy = load_policy(ROOT / "configs" / "fraud.yaml")
    roles = resolve_roles(log, policy, label_from_labels_file=True)
    joined = LocalEngine().labelled_log(log, roles, labels, policy)
    table = joined.read(["prediction_id", policy.columns.label, LABEL_ARRIVED])
    assert table.num_rows == log.num_rows
    by_id = dict(zip(*(labels.read(["prediction_id", "label"]).column(c).to_pylist() for c in (0, 1)), strict=True))
    ids, got = table.column(0).to_pylist(), table.column(1).to_pylist()
    assert got == [by_id.get(i) for i in ids]
    arrived = table.column(2).to_numpy()
    assert ((arrived >= 0) == table.column(1).is_valid().to_numpy(zero_copy_only=False)).all()
    counts = LocalEngine().column_facts(joined, {"labels": ("labels", policy.columns.label, {})})["labels"]
    assert counts.labelled == sum(v is not None for v in got)  # the engine's builders read the joined column
    with pytest.raises(LogError, match="needs every row in one place: use the local engine"):
        DaskEngine(connection=None).labelled_log(log, roles, labels, policy)


def test_no_analysis_asks_which_engine_it_runs_on() -> None:
    """No capability flag of the engine, and no test of the reference's type in validate (the reference seam)."""
    assert not hasattr(Engine, "in_process") and not hasattr(LocalEngine(), "in_process")
    for path in (ROOT / "mlrel_cli" / "analysis").rglob("*.py"):
        tree = ast.parse(path.read_text())
        assert not {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} & {"in_process", "rows_here"}, path
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "validate" not in path.parts or "hasattr" not in calls, path
