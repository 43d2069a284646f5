"""`mlrel compare`'s weak segments: a candidate better overall but worse for one undeclared slice is caught,
paired in shadow mode and unpaired in canary mode; `compare.weak_segments.reject` makes it reject."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest


def _model(version: str, n: int, seed: int, worse_slice: bool, ids: list[str] | None = None) -> pa.Table:
    """Sharper than the baseline everywhere (noise 0.5 vs 1.0) except in device == web and x in its top fifth."""
    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    device = r.choice(["ios", "android", "web"], n)
    y = (r.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
    noise = np.full(n, 0.5 if worse_slice else 1.0)
    if worse_slice:
        noise[(device == "web") & (x >= 0.8416)] = 4.0
    score = 1 / (1 + np.exp(-(2 * x + r.normal(0, 1, n) * noise)))
    return pa.table({
        "prediction_id": ids or [f"{version}-{i}" for i in range(n)], "model_version": [version] * n,
        "prediction": score, "label": y, "x": x, "device": device, "tier": r.choice(["free", "paid"], n),
    })  # fmt: skip


def _conditions(slice_: dict) -> set[tuple[str, str]]:
    return {(c["column"], c["op"]) for c in slice_["conditions"]}


def test_canary_finds_the_slice_where_the_candidate_regresses(mlrel, write_log) -> None:
    base, cand = write_log(_model("v41", 20000, 1, False)), write_log(_model("v42", 20000, 2, True))
    code, report = mlrel.json("compare", "--baseline-log", base, "--candidate-log", cand)
    entry = report["candidates"][0]
    assert entry["metrics"]["log_loss"]["delta"] < 0  # better overall
    found = entry["weak_segments"]
    assert not found["paired"] and found["slices"]
    top = found["slices"][0]
    assert _conditions(top) == {("device", "=="), ("x", ">=")} and top["inside"] > top["outside"]
    assert report["weak_segments"][0]["candidate"] == "v42"
    check = next(c for c in report["checks"] if c["name"] == "v42:weak_segments")
    assert check["status"] == "warn" and entry["verdict"] == "promote" and code == 0  # noted, not gating by default


def test_reject_option_rejects(mlrel, write_log, write_policy) -> None:
    base, cand = write_log(_model("v41", 20000, 1, False)), write_log(_model("v42", 20000, 2, True))
    policy = write_policy("compare: {weak_segments: {reject: true}}\n")
    code, report = mlrel.json("compare", "--baseline-log", base, "--candidate-log", cand, "-p", policy)
    assert code == 1 and report["verdict"] == "reject"
    assert report["candidates"][0]["reasons"][0].startswith("weak segment ")


def test_shadow_pairs_the_requests(mlrel, write_log) -> None:
    n = 20000
    base = _model("v41", n, 1, False)
    ids = base["prediction_id"].to_pylist()
    cand = _model("v42", n, 1, True, ids=ids)  # the same requests and labels (same seed), a different model
    _, report = mlrel.json("compare", "--baseline-log", write_log(base), "--candidate-log", write_log(cand), "--mode", "shadow")
    found = report["candidates"][0]["weak_segments"]
    assert found["paired"]
    assert _conditions(found["slices"][0]) == {("device", "=="), ("x", ">=")}


@pytest.mark.parametrize("mode", ["canary", "shadow"])
def test_equal_models_report_no_slice(mlrel, write_log, mode: str) -> None:
    base = _model("v41", 20000, 1, False)
    cand = _model("v42", 20000, 1 if mode == "shadow" else 2, False, ids=base["prediction_id"].to_pylist())
    if mode == "shadow":  # the same model, its scores jittered: no slice differs but by chance
        jitter = np.random.default_rng(9).normal(0, 0.01, 20000)
        cand = cand.set_column(2, "prediction", pa.array(np.clip(cand["prediction"].to_numpy() + jitter, 0.001, 0.999)))
    _, report = mlrel.json("compare", "--baseline-log", write_log(base), "--candidate-log", write_log(cand), "--mode", mode)
    assert report["candidates"][0]["weak_segments"]["slices"] == []
