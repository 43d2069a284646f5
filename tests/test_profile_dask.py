"""Reference profiles on the Dask engine (a local cluster of two worker processes on 127.0.0.1): built from the
summaries the workers reduce, and used as the reference there, with the raw reference's statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_profile import FRAUD, SKETCH_TOLERANCE, _by_name, _sklearn_log

pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")

PROXIES = """columns: {query: query}
ignore: [clicks, sessions, query]
proxy_metrics:
  ctr: {kind: ratio, numerator: clicks, denominator: sessions, per: request, min: 0.6}
  clicked: {kind: rate, column: clicks, per: request, min: 0.7}
  clicks_per_query: {kind: mean, column: clicks, per: query, max: 1.2}
"""


@pytest.fixture(scope="module")
def scheduler() -> Any:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _with_proxies(table: pa.Table, seed: int, shift: float) -> pa.Table:
    """Clicks and sessions per request, five requests a query: the proxy metrics' inputs."""
    rng = np.random.default_rng(seed)
    n = table.num_rows
    return (
        table.append_column("clicks", pa.array(rng.poisson(1 + shift, n).astype(float)))
        .append_column("sessions", pa.array(rng.integers(1, 4, n).astype(float)))
        .append_column("query", pa.array([f"q{seed}-{i // 5}" for i in range(n)]))
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: Any) -> Path:
    root = tmp_path_factory.mktemp("profile-lake")
    pq.write_table(_with_proxies(_sklearn_log(30_000, 1), 1, 0.0), root / "ref.parquet", row_group_size=8_000)
    pq.write_table(_with_proxies(_sklearn_log(12_000, 2, shift=0.4), 2, 0.4), root / "cur.parquet", row_group_size=4_000)
    (root / "policy.yaml").write_text(PROXIES)
    return root


@pytest.fixture(scope="module")
def profiles(lake: Path, scheduler: str) -> dict[str, Path]:
    from tests.conftest import Runner

    mlrel = Runner()
    policy = lake / "policy.yaml"
    built = {"local": lake / "local.mlrel-profile", "dask": lake / "dask.mlrel-profile"}
    assert mlrel("profile", lake / "ref.parquet", "-p", policy, "-o", built["local"]).exit_code == 0
    result = mlrel("profile", lake / "ref.parquet", "-p", policy, "-o", built["dask"], "--engine", "dask",
                   "--scheduler", scheduler)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return built


def _statuses(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in report["checks"]]


def test_drift_on_dask_against_a_profile_has_the_raw_references_statuses(
    mlrel: Any, lake: Path, profiles: dict[str, Path], scheduler: str
) -> None:
    common = ["--current", lake / "cur.parquet", "-p", lake / "policy.yaml"]
    dask = ["--engine", "dask", "--scheduler", scheduler]
    code, raw_local = mlrel.json("drift", "--reference", lake / "ref.parquet", *common)
    runs = {
        "raw on dask": mlrel.json("drift", "--reference", lake / "ref.parquet", *common, *dask),
        "dask profile on dask": mlrel.json("drift", "--reference", profiles["dask"], *common, *dask),
        "local profile on dask": mlrel.json("drift", "--reference", profiles["local"], *common, *dask),
        "dask profile locally": mlrel.json("drift", "--reference", profiles["dask"], *common),
    }
    names = [name for name, _ in _statuses(raw_local)]
    assert {"drift:f0", "concept:roc_auc", "proxy:ctr", "proxy:clicks_per_query"} <= set(names)
    assert code == 1
    for label, (run_code, report) in runs.items():
        assert run_code == code and _statuses(report) == _statuses(raw_local), label
    raw_dask = _by_name(runs["raw on dask"][1])
    for name, check in _by_name(runs["dask profile on dask"][1]).items():
        # the same sketches merged in the same tree, the same proxy sums, the same labelled metric: equal values,
        # except a distance's scale: the profile keeps the column's exact sd (from its sums), the raw reference on
        # Dask the sd of its sketch's points
        tolerance = 1e-3 if name.startswith("drift:") else 1e-12
        assert check["value"] == pytest.approx(raw_dask[name]["value"], rel=tolerance, abs=1e-12), name
    for name, check in _by_name(runs["dask profile locally"][1]).items():
        # a Dask-built reference metric is the cluster's (binned scores for an AUC), as on the Dask engine
        tolerance = SKETCH_TOLERANCE if name.startswith(("drift:", "concept:")) else 1e-9
        assert check["value"] == pytest.approx(_by_name(raw_local)[name]["value"], abs=tolerance), name
    proxies = {p["name"]: p for p in runs["dask profile on dask"][1]["proxy_metrics"]}
    local_proxies = {p["name"]: p for p in raw_local["proxy_metrics"]}
    for name, proxy in proxies.items():
        assert proxy["reference"] == pytest.approx(local_proxies[name]["reference"], rel=1e-12), name


def test_validate_on_dask_against_a_profile(mlrel: Any, lake: Path, profiles: dict[str, Path], scheduler: str) -> None:
    dask = ["--engine", "dask", "--scheduler", scheduler]
    args = [lake / "cur.parquet", "-p", lake / "policy.yaml", "--now", "2026-11-26T00:00:00Z", *dask]
    code, raw = mlrel.json("validate", *args, "--reference", lake / "ref.parquet")
    for profile in profiles.values():
        code_pro, pro = mlrel.json("validate", *args, "--reference", profile)
        assert code_pro == code
        assert _statuses(pro) == _statuses(raw)
        # ranges, categories and missing rates from the profile's exact facts; weak segments' edges come from a
        # sample of the raw reference but from the sketch's points with a profile: the same status, other edges
        exact = [(c["name"], c["value"]) for c in pro["checks"] if c["name"] != "weak_segments"]
        assert exact == [(c["name"], c["value"]) for c in raw["checks"] if c["name"] != "weak_segments"]


def test_the_dask_profile_holds_what_a_local_one_holds(profiles: dict[str, Path]) -> None:
    from mlrel_cli.facts.profile import read_profile

    local, dask = read_profile(str(profiles["local"])), read_profile(str(profiles["dask"]))
    assert list(local.columns) == list(dask.columns)
    for key in ("schema_version", "mode", "rows", "sources", "policy", "policy_hash", "task", "time_span"):
        assert dask.meta[key] == local.meta[key], key
    for name, a in local.columns.items():
        b = dask.columns[name]
        assert (a.rows, a.present, a.kind, a.role, a.type) == (b.rows, b.present, b.kind, b.role, b.type), name
        if a.kind == "categorical" or a.categorical is not None:
            assert b.distinct == a.distinct, name  # a category column's, a prediction's or label's classes
        held = [c.numeric if c.numeric is not None else c.categorical for c in (a, b)]
        assert held[1].null_draws.keys() == held[0].null_draws.keys(), name  # drift's noise drawn when built
        if a.sketch is not None:
            assert b.sketch is not None and (b.sketch.rows, b.sketch.missing) == (a.sketch.rows, a.sketch.missing)
            assert b.sketch.total == pytest.approx(a.sketch.total) and b.extremes == a.extremes, name
            assert np.quantile(b.sketch.points, 0.5) == pytest.approx(np.quantile(a.sketch.points, 0.5), abs=0.01)
        if a.categorical is not None:
            assert b.categorical is not None and b.categorical.as_dict() == a.categorical.as_dict(), name
    assert dask.meta["task"] == "binary_classification"
    assert dask.meta["labelled"]["rows"] == local.meta["labelled"]["rows"] == 30_000
    assert dask.meta["labelled"]["metrics"]["roc_auc"] == pytest.approx(local.meta["labelled"]["metrics"]["roc_auc"], abs=2e-3)
    for name, proxy in local.meta["proxy"].items():
        assert dask.meta["proxy"][name]["sums"] == pytest.approx(proxy["sums"], rel=1e-12), name


def test_exact_on_dask_is_refused_and_writes_nothing(mlrel: Any, lake: Path, scheduler: str, tmp_path: Path) -> None:
    target = tmp_path / "p.mlrel-profile"
    result = mlrel("profile", lake / "ref.parquet", "--exact", "-o", target, "--engine", "dask", "--scheduler", scheduler)
    assert result.exit_code == 2 and result.stderr.startswith("error: --exact") and "Traceback" not in result.stderr
    assert not target.exists()


def test_postmortem_drift_step_on_dask_against_a_profile(
    mlrel: Any, samples: Path, tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The post-mortem's drift step follows the policy's ``engine: dask`` (it has no --engine): against a profile
    it finds what it finds against the raw reference, locally or on the cluster."""
    import shutil

    from mlrel_cli.engine import dask as dask_engine

    root = FRAUD.parent.parent
    for name in ("incident.parquet", "registry.yaml", "registry.history.jsonl"):
        shutil.copy(root / "samples" / name, samples / name)
    on_dask = tmp_path / "dask.yaml"
    on_dask.write_text(f"extends: {FRAUD}\nengine: dask\n")
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", samples / "reference.parquet", "-p", FRAUD, "-o", profile).exit_code == 0
    # the step opens the engine without a scheduler (a local cluster of its own): sent to the module's cluster
    opened: list[str | None] = []
    real_client = dask_engine.client

    def client(address: str | None, timeout: Any = None) -> Any:
        opened.append(address)
        return real_client(address or scheduler, timeout)

    monkeypatch.setattr(dask_engine, "client", client)

    def facts(policy: Path, reference: Path) -> dict[str, Any]:
        code, report = mlrel.json("postmortem", "--incident", root / "configs" / "incident-example.yaml", "-p", policy,
                                  "--log", samples / "incident.parquet", "--reference", reference,
                                  "--registry", samples / "registry.yaml")  # fmt: skip
        assert code == 0
        return report["postmortem"]  # type: ignore[no-any-return]

    raw_local = facts(FRAUD, samples / "reference.parquet")
    assert opened == []
    runs = {"raw on dask": facts(on_dask, samples / "reference.parquet"), "profile on dask": facts(on_dask, profile)}
    assert opened == [None, None]  # both drift steps ran on the cluster
    assert raw_local["onset"] == "2026-11-25T13:00:00Z"
    assert [(d["feature"], d["at_onset"]) for d in raw_local["drift"]] == [("amount", True)]

    def found(report: dict[str, Any]) -> list[Any]:
        drifted = [(d["feature"], d["method"], d["onset"], d["at_onset"], d["unseen"]) for d in report["drift"]]
        causes = [(c["kind"], c["rank"], c["evidence"].get("feature"), c["evidence"].get("to")) for c in report["root_causes"]]
        return [report["onset"], drifted, causes, report["weak_segments"], report["segments"]]

    for label, report in runs.items():
        assert found(report) == found(raw_local), label
    for mine, theirs in zip(runs["profile on dask"]["drift"], raw_local["drift"], strict=True):
        # the profile's sketch, with the column's exact sd as the scale: within the sketch's error of the exact score
        # (the raw reference on Dask scales by its sketch's sd, docs/profiles.md: its window score moves further)
        assert mine["score"] == pytest.approx(theirs["score"], abs=SKETCH_TOLERANCE)
