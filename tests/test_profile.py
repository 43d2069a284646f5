"""Reference profiles: drift, validate and postmortem against a profile give the raw reference's results."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLES, T0_US

FRAUD = SAMPLES.parent / "configs" / "fraud.yaml"
SKETCH_TOLERANCE = 0.005  # docs/scale.md: sketch scores within 0.005 of the exact ones on the tests' logs


def _sklearn_log(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    """A binary classifier's log: make_classification features, a logistic regression's scores, the labels."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.linear_model import LogisticRegression

    x, y = sklearn_datasets.make_classification(n_samples=2 * n, n_features=5, n_informative=3, random_state=7)
    model = LogisticRegression().fit(x[:n], y[:n])  # the same model on both sides
    rng = np.random.default_rng(seed)
    rows = rng.choice(np.arange(n, 2 * n), n, replace=False)
    features, labels = x[rows].copy(), y[rows]
    features[:, 0] += shift
    score = model.predict_proba(features)[:, 1]
    f3 = pa.array(features[:, 3], mask=rng.random(n) < 0.05)  # nulls, for the missing rate
    city = rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2 - shift / 20, 0.1 + shift / 20])
    return pa.table({
        "timestamp": pa.array(T0_US + np.sort(rng.integers(0, 86_400_000_000, n)), type=pa.timestamp("us", tz="UTC")),
        "prediction_id": [f"r{seed}-{i}" for i in range(n)],
        "f0": features[:, 0], "f1": features[:, 1], "f2": features[:, 2], "f3": f3, "f4": features[:, 4],
        "city": city, "prediction": score, "label": labels.astype(np.int8),
    })  # fmt: skip


@pytest.fixture()
def sk_logs(tmp_path: Path) -> tuple[Path, Path]:
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    pq.write_table(_sklearn_log(30_000, 1), ref, row_group_size=8_000)
    pq.write_table(_sklearn_log(12_000, 2, shift=0.4), cur)
    return ref, cur


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def _drift(mlrel: Any, reference: Path, current: Path, *extra: str | Path) -> tuple[int, dict[str, Any]]:
    return mlrel.json("drift", "--reference", reference, "--current", current, *extra)  # type: ignore[no-any-return]


@pytest.mark.parametrize("window", [None, "1h"])
def test_drift_against_profiles_equals_raw_reference(
    mlrel: Any, sk_logs: tuple[Path, Path], tmp_path: Path, window: str | None
) -> None:
    ref, cur = sk_logs
    extra = ["--window", window] if window else []
    assert mlrel("profile", ref, "--exact", "-o", tmp_path / "exact.mlrel-profile").exit_code == 0
    assert mlrel("profile", ref, "-o", tmp_path / "sketch.mlrel-profile").exit_code == 0
    code, raw = _drift(mlrel, ref, cur, *extra)
    code_exact, exact = _drift(mlrel, tmp_path / "exact.mlrel-profile", cur, *extra)
    code_sketch, sketch = _drift(mlrel, tmp_path / "sketch.mlrel-profile", cur, *extra)
    assert code == code_exact == code_sketch == 1  # f0 shifted by 0.4 sd
    assert raw["status"] == exact["status"] == sketch["status"]
    raw_checks, exact_checks, sketch_checks = _by_name(raw), _by_name(exact), _by_name(sketch)
    assert list(raw_checks) == list(exact_checks) == list(sketch_checks)
    assert "concept:roc_auc" in raw_checks
    for name, a in raw_checks.items():
        assert exact_checks[name]["status"] == a["status"] == sketch_checks[name]["status"], name
        assert exact_checks[name]["value"] == a["value"], name  # exact: equal, not close
        assert exact_checks[name]["details"] == a["details"], name
        if a["value"] is not None and name.startswith("drift:"):
            assert sketch_checks[name]["value"] == pytest.approx(a["value"], abs=SKETCH_TOLERANCE), name
        elif a["value"] is not None:
            assert sketch_checks[name]["value"] == pytest.approx(a["value"], abs=1e-12), name  # counts, concept: exact
    assert raw["features"] == [{**f} for f in exact["features"]]
    assert raw["inputs"]["rows_reference"] == exact["inputs"]["rows_reference"] == 30_000
    # the noise line of the whole current log (12,000 rows: 2,000 drawn) is read from the null draws the sketch
    # profile keeps, drawn from the exact column as the raw run draws them: equal, not close
    raw_noise = {f["name"]: f["noise"] for f in raw["features"] + raw["outputs"]}
    assert {f["name"]: f["noise"] for f in sketch["features"] + sketch["outputs"]} == raw_noise


def test_wasserstein_walks_the_shorter_side(mlrel: Any) -> None:
    """A sketch's points against a long current: the distance is symmetric, both orders equal scipy's."""
    from scipy.stats import wasserstein_distance

    from mlrel_cli.stats.drift import wasserstein_sorted

    rng = np.random.default_rng(3)
    short, long = np.sort(rng.normal(0, 1, 1_000)), np.sort(rng.standard_t(3, 250_001) + 0.2)
    expected = wasserstein_distance(short, long)
    assert wasserstein_sorted(short, long) == pytest.approx(expected, rel=1e-9)
    assert wasserstein_sorted(long, short) == pytest.approx(expected, rel=1e-9)


def test_samples_drift_validate_postmortem_with_a_profile(mlrel: Any, samples: Path, tmp_path: Path) -> None:
    profile = tmp_path / "ref.parquet"  # a profile told from its footer, whatever its suffix
    assert mlrel("profile", samples / "reference.parquet", "-p", FRAUD, "--exact", "-o", profile).exit_code == 0
    args = ["--current", samples / "current.parquet", "-p", FRAUD, "--window", "1h"]
    code_raw, raw = mlrel.json("drift", "--reference", samples / "reference.parquet", *args)
    code_pro, pro = mlrel.json("drift", "--reference", profile, *args)
    assert code_raw == code_pro
    assert [(c["name"], c["status"], c["value"]) for c in raw["checks"]] == [
        (c["name"], c["status"], c["value"]) for c in pro["checks"]
    ]
    as_of = "2026-11-26T00:00:00Z"
    validate = ["-p", FRAUD, "--labels", samples / "labels.parquet", "--now", as_of]
    code_raw, raw = mlrel.json("validate", samples / "current.parquet", "--reference", samples / "reference.parquet", *validate)
    code_pro, pro = mlrel.json("validate", samples / "current.parquet", "--reference", profile, *validate)
    assert code_raw == code_pro
    assert [(c["name"], c["status"], c["value"]) for c in raw["checks"]] == [
        (c["name"], c["status"], c["value"]) for c in pro["checks"]
    ]
    import shutil

    for name in ("registry.yaml", "registry.history.jsonl"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    incident = SAMPLES.parent / "configs" / "incident-example.yaml"
    postmortem = ["--incident", incident, "-p", FRAUD, "--log", SAMPLES / "incident.parquet",
                  "--registry", tmp_path / "registry.yaml"]  # fmt: skip
    code_raw, raw = mlrel.json("postmortem", *postmortem, "--reference", samples / "reference.parquet")
    code_pro, pro = mlrel.json("postmortem", *postmortem, "--reference", profile)
    assert code_raw == code_pro
    raw.pop("generated_at", None), pro.pop("generated_at", None)
    assert json.dumps(raw["postmortem"], default=str) == json.dumps(pro["postmortem"], default=str)
    assert [(c["name"], c["status"], c["value"]) for c in raw.get("checks", [])] == [
        (c["name"], c["status"], c["value"]) for c in pro.get("checks", [])
    ]


def test_validate_ranges_and_categories_come_from_the_profile(
    mlrel: Any, write_log: Any, write_policy: Any, tmp_path: Path
) -> None:
    """A hand-worked case: the reference's x spans [0, 10] and city is {a, b}; the log has x = 12 and city c."""
    n = 1000
    reference = write_log({"prediction": np.linspace(0, 1, n), "x": np.linspace(0, 10, n), "city": ["a", "b"] * (n // 2)})
    log = write_log({"prediction": np.linspace(0, 1, n), "x": np.r_[np.full(50, 12.0), np.linspace(0, 10, n - 50)],
                     "city": ["c"] * 100 + ["a", "b"] * ((n - 100) // 2)})  # fmt: skip
    assert mlrel("profile", reference, "-o", tmp_path / "p.mlrel-profile").exit_code == 0
    _, raw = mlrel.json("validate", log, "--reference", reference)
    _, pro = mlrel.json("validate", log, "--reference", tmp_path / "p.mlrel-profile")
    for name in ("range:x", "unseen:city"):
        assert _by_name(pro)[name]["status"] == _by_name(raw)[name]["status"] != "pass", name
        assert _by_name(pro)[name]["value"] == _by_name(raw)[name]["value"], name
    assert _by_name(pro)["range:x"]["value"] == pytest.approx(50 / n)
    assert _by_name(pro)["unseen:city"]["value"] == pytest.approx(100 / n)


def test_another_column_mapping_is_refused_naming_it(
    mlrel: Any, sk_logs: tuple[Path, Path], write_policy: Any, tmp_path: Path
) -> None:
    ref, cur = sk_logs
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", ref, "-o", profile).exit_code == 0
    other = write_policy("columns: {label: f4}\n")
    result = mlrel("drift", "--reference", profile, "--current", cur, "-p", other)
    assert result.exit_code == 2
    assert "columns.label: 'label' in the profile, 'f4' in the policy" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_profile_lacking_a_column_the_policy_needs(mlrel: Any, sk_logs: tuple[Path, Path], write_log: Any,
                                                     write_policy: Any, tmp_path: Path) -> None:  # fmt: skip
    ref, cur = sk_logs
    without = write_log(pq.read_table(ref).drop_columns(["f2"]))
    policy = write_policy("features: {f0: {kind: numeric}, f2: {kind: numeric}}\n")
    result = mlrel("profile", without, "-p", policy, "-o", tmp_path / "p.mlrel-profile")
    assert result.exit_code == 2 and "features.f2: column 'f2' is not in the reference" in result.stderr
    assert not (tmp_path / "p.mlrel-profile").exists()
    narrow = write_policy("features: {f0: {kind: numeric}}\n")
    assert mlrel("profile", without, "-p", narrow, "-o", tmp_path / "p.mlrel-profile").exit_code == 0
    result = mlrel("drift", "--reference", tmp_path / "p.mlrel-profile", "--current", cur, "-p", policy)
    assert result.exit_code == 2
    assert "features:" in result.stderr and "f2" in result.stderr


def test_an_unknown_schema_version_is_refused(mlrel: Any, sk_logs: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = sk_logs
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", ref, "-o", profile).exit_code == 0
    table = pq.read_table(profile)
    meta = json.loads(table.schema.metadata[b"mlrel.profile"])
    meta["schema_version"] = 99
    future = tmp_path / "future.mlrel-profile"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"mlrel.profile": json.dumps(meta).encode()}), future)
    result = mlrel("drift", "--reference", future, "--current", cur)
    assert result.exit_code == 2
    assert "schema_version 99, built by mlrel" in result.stderr and "is not supported" in result.stderr
    assert "reads version 2" in result.stderr


def test_the_file_is_plain_parquet_readable_without_mlrel(sk_logs: tuple[Path, Path], mlrel: Any, tmp_path: Path) -> None:
    ref, _ = sk_logs
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", ref, "-o", profile).exit_code == 0
    with open(profile, "rb") as stream:
        assert stream.read(4) == b"PAR1"
    table = pq.read_table(profile)
    meta = json.loads(table.schema.metadata[b"mlrel.profile"])
    assert meta["schema_version"] == 2 and meta["mode"] == "sketch" and meta["rows"] == 30_000
    import hashlib

    assert meta["sources"] == [{"path": str(ref), "sha256": hashlib.sha256(ref.read_bytes()).hexdigest()}]
    rows = {r["column"]: r for r in table.to_pylist()}
    assert "prediction_id" not in rows  # the id is no feature: never profiled
    whole = pq.read_table(ref)
    f3 = whole.column("f3").to_numpy(zero_copy_only=False)
    assert rows["f3"]["missing"] == whole.column("f3").null_count
    assert rows["f3"]["low"] == np.nanmin(f3) and rows["f3"]["high"] == np.nanmax(f3)
    assert len(rows["f3"]["values"]) == 10_000  # a sketch of bounded size, not the rows
    counts = dict(zip(rows["city"]["categories"], rows["city"]["counts"], strict=True))
    values, sizes = np.unique(whole.column("city").to_numpy(zero_copy_only=False), return_counts=True)
    assert counts == dict(zip(values.tolist(), sizes.tolist(), strict=True))


def test_merge_counts_exact_quantiles_within_the_sketch_bound(mlrel: Any, sk_logs: tuple[Path, Path], write_log: Any,
                                                              tmp_path: Path) -> None:  # fmt: skip
    from mlrel_cli.facts.profile import read_profile

    ref, _ = sk_logs
    whole = pq.read_table(ref)
    halves = [write_log(whole.slice(0, 13_000)), write_log(whole.slice(13_000))]
    for mode in ("exact", "sketch"):
        flag = ["--exact"] if mode == "exact" else []
        parts = []
        for i, half in enumerate(halves):
            parts.append(tmp_path / f"{mode}{i}.mlrel-profile")
            assert mlrel("profile", half, *flag, "-o", parts[-1]).exit_code == 0
        assert mlrel("profile", ref, *flag, "-o", tmp_path / f"{mode}-whole.mlrel-profile").exit_code == 0
        result = mlrel("profile", "merge", *parts, "-o", tmp_path / f"{mode}-merged.mlrel-profile")
        assert result.exit_code == 0, result.stderr
        merged = read_profile(str(tmp_path / f"{mode}-merged.mlrel-profile"))
        single = read_profile(str(tmp_path / f"{mode}-whole.mlrel-profile"))
        assert merged.meta["rows"] == 30_000 and len(merged.meta["sources"]) == 2
        assert merged.columns["city"].categorical.as_dict() == single.columns["city"].categorical.as_dict()
        for name in ("f0", "f3", "prediction"):
            a, b = merged.columns[name], single.columns[name]
            assert (a.numeric.missing, a.numeric.count, a.sketch.low, a.sketch.high) == (
                b.numeric.missing, b.numeric.count, b.sketch.low, b.sketch.high)  # fmt: skip
            assert a.sketch.total == pytest.approx(b.sketch.total, rel=1e-12)
            exact_values = np.sort(whole.column(name).drop_null().to_numpy())
            if mode == "exact":
                np.testing.assert_array_equal(a.numeric.sorted_values, exact_values)
            else:  # each merged point's rank is within 2/m of its nominal rank (one build, one merge)
                m = len(a.numeric.sorted_values)
                nominal = (np.arange(m) + 0.5) / m
                actual = np.searchsorted(exact_values, a.numeric.sorted_values, side="right") / len(exact_values)
                assert np.max(np.abs(actual - nominal)) <= 2 / m + 1 / len(exact_values)
        assert len(merged.columns["label"].cells) == 30_000


def test_merge_refuses_other_policies_and_show_prints_it(mlrel: Any, sk_logs: tuple[Path, Path], write_policy: Any,
                                                         tmp_path: Path) -> None:  # fmt: skip
    ref, _ = sk_logs
    assert mlrel("profile", ref, "-o", tmp_path / "a.mlrel-profile").exit_code == 0
    other = write_policy("ignore: [f4]\n")
    assert mlrel("profile", ref, "-p", other, "-o", tmp_path / "b.mlrel-profile").exit_code == 0
    result = mlrel("profile", "merge", tmp_path / "a.mlrel-profile", tmp_path / "b.mlrel-profile", "-o", tmp_path / "c")
    assert result.exit_code == 2 and "built with another policy" in result.stderr
    assert not (tmp_path / "c").exists()
    shown = mlrel("profile", "show", tmp_path / "a.mlrel-profile")
    assert shown.exit_code == 0
    assert "schema_version 2, sketch mode" in shown.stdout and "rows: 30,000" in shown.stdout
    assert "city" in shown.stdout and "4 categories" in shown.stdout
    as_json = json.loads(mlrel("profile", "show", tmp_path / "a.mlrel-profile", "--json").stdout)
    assert {c["column"] for c in as_json["columns"]} == {"f0", "f1", "f2", "f3", "f4", "city", "prediction", "label"}
    assert mlrel("profile", "show", ref).exit_code == 2  # a log is no profile


def test_bad_input_writes_nothing(mlrel: Any, tmp_path: Path, sk_logs: tuple[Path, Path]) -> None:
    ref, _ = sk_logs
    result = mlrel("profile", tmp_path / "missing.parquet", "-o", tmp_path / "p.mlrel-profile")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert not (tmp_path / "p.mlrel-profile").exists()
    (tmp_path / "keep").write_text("mine")
    result = mlrel("profile", ref, "-o", tmp_path / "keep")
    assert result.exit_code == 2 and "exists" in result.stderr
    assert (tmp_path / "keep").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mlrel-profile-")] == []


def test_a_sketch_profile_keeps_the_metric_of_every_row_and_a_sample_of_cells(mlrel: Any, write_log: Any,
                                                                              tmp_path: Path) -> None:  # fmt: skip
    from sklearn.metrics import roc_auc_score

    from mlrel_cli.facts.profile import read_profile
    from tests.conftest import binary_log

    reference = write_log(binary_log(50_000, seed=3))
    current = write_log(binary_log(5_000, seed=4))
    assert mlrel("profile", reference, "-o", tmp_path / "p.mlrel-profile").exit_code == 0
    profile = read_profile(str(tmp_path / "p.mlrel-profile"))
    assert len(profile.columns["label"].cells) == 40_000  # 2 x SE_MAX_ROWS, not 50,000
    table = pq.read_table(reference)
    auc = roc_auc_score(table.column("label").to_numpy(), table.column("prediction").to_numpy())
    assert profile.meta["labelled"]["rows"] == 50_000
    assert profile.meta["labelled"]["metrics"]["roc_auc"] == pytest.approx(auc, abs=1e-12)  # scikit-learn agrees
    _, raw = _drift(mlrel, reference, current)
    _, pro = _drift(mlrel, tmp_path / "p.mlrel-profile", current)
    a, b = _by_name(raw)["concept:roc_auc"], _by_name(pro)["concept:roc_auc"]
    assert a["status"] == b["status"] and b["value"] == pytest.approx(a["value"], abs=1e-12)
    assert b["details"]["rows_reference"] == 50_000


def test_proxy_metrics_against_a_profile(mlrel: Any, write_log: Any, write_policy: Any, tmp_path: Path) -> None:
    """A hand-worked reference: clicks 0, 1, 2, 3 over four requests, one session each, two requests a query."""
    reference = write_log({"prediction": [0.1, 0.2, 0.3, 0.4] * 250, "clicks": [0.0, 1.0, 2.0, 3.0] * 250,
                           "sessions": [1.0] * 1000, "query": [f"q{i // 2}" for i in range(1000)]})  # fmt: skip
    current = write_log({"prediction": [0.1, 0.2, 0.3, 0.4] * 250, "clicks": [0.0, 0.0, 0.0, 1.0] * 250,
                         "sessions": [1.0] * 1000, "query": [f"q{i // 2}" for i in range(1000)]})  # fmt: skip
    policy = write_policy("""columns: {query: query}
ignore: [clicks, sessions, query]
proxy_metrics:
  ctr: {kind: ratio, numerator: clicks, denominator: sessions, min: 1.0}
  clicked: {kind: rate, column: clicks, min: 0.5}
  per_query: {kind: mean, column: clicks, per: query, min: 1.0}
""")
    profile = tmp_path / "p.mlrel-profile"
    assert mlrel("profile", reference, "-p", policy, "-o", profile).exit_code == 0
    code_raw, raw = mlrel.json("drift", "--reference", reference, "--current", current, "-p", policy)
    code_pro, pro = mlrel.json("drift", "--reference", profile, "--current", current, "-p", policy)
    assert code_raw == code_pro == 1
    assert [(c["name"], c["status"]) for c in raw["checks"]] == [(c["name"], c["status"]) for c in pro["checks"]]
    references = {p["name"]: p["reference"] for p in pro["proxy_metrics"]}
    assert references == pytest.approx({"ctr": 1.5, "clicked": 0.75, "per_query": 1.5}, rel=1e-12)
    assert {p["name"]: p["reference"] for p in raw["proxy_metrics"]} == pytest.approx(references, rel=1e-12)
    assert {p["name"]: p["status"] for p in pro["proxy_metrics"]} == {"ctr": "fail", "clicked": "fail", "per_query": "fail"}

    more = write_policy(policy.read_text() + "  sessions_mean: {kind: mean, column: sessions, min: 1.0}\n")
    result = mlrel("drift", "--reference", profile, "--current", current, "-p", more)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "no reference sums of proxy metric 'sessions_mean'" in result.stderr and "build the profile again" in result.stderr


def test_a_version_1_profile_is_refused(mlrel: Any, sk_logs: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = sk_logs
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", ref, "-o", profile).exit_code == 0
    table = pq.read_table(profile)
    meta = json.loads(table.schema.metadata[b"mlrel.profile"])
    meta["schema_version"] = 1  # before the proxy sums
    old = tmp_path / "old.mlrel-profile"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"mlrel.profile": json.dumps(meta).encode()}), old)
    result = mlrel("validate", cur, "--reference", old)
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "schema_version 1, built by mlrel" in result.stderr and "reads version 2" in result.stderr


CRON_RUN = """
import runpy, sys
sys.argv = ["mlrel", *sys.argv[1:]]
try:
    runpy.run_module("mlrel_cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("EXIT", code, sorted({name.split(".")[0] for name in sys.modules}), file=sys.stderr)
"""


def test_a_cron_run_against_a_profile_imports_only_what_drift_needs(mlrel: Any, samples: Path, tmp_path: Path) -> None:
    """The cron case (a window against a profile, every minute) pays every import at each start
    (docs/profiles.md, "A cron job"): none of the libraries only other commands or outputs use."""
    profile = tmp_path / "ref.mlrel-profile"
    assert mlrel("profile", samples / "reference.parquet", "-p", FRAUD, "-o", profile).exit_code == 0
    argv = ["drift", "-r", profile, "-c", SAMPLES / "incident.parquet", "-p", FRAUD, "--window", "15m",
            "--format", "json", "-o", tmp_path / "drift.json"]  # fmt: skip
    run = subprocess.run([sys.executable, "-c", CRON_RUN, *map(str, argv)], capture_output=True, text=True, check=True)
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("EXIT 1 "), run.stderr  # the incident drifts
    imported = set(ast.literal_eval(last.split(" ", 2)[2]))
    assert {"numpy", "pyarrow", "pydantic"} <= imported  # what the run needs (the check sees the run's modules)
    unneeded = {"scipy", "rich", "dask", "distributed", "jinja2", "matplotlib", "sklearn", "mlflow", "prometheus_client"}
    assert imported.isdisjoint(unneeded), sorted(imported & unneeded)


def test_a_category_column_as_pandas_writes_it_is_profiled(mlrel: Any, samples: Path, tmp_path: Path) -> None:
    """A pandas 'category' column is an Arrow dictionary, which pc.count_distinct has no kernel for: the profile
    build was an internal error; its drift equals the raw reference's."""
    table = pq.read_table(samples / "reference.parquet")
    i = table.column_names.index("country")
    dictionary = table.set_column(i, "country", pa.chunked_array([table.column("country").combine_chunks().dictionary_encode()]))
    reference = tmp_path / "cat.parquet"
    pq.write_table(dictionary, reference)
    profile = tmp_path / "cat.mlrel-profile"
    result = mlrel("profile", reference, "-p", FRAUD, "-o", profile)
    assert result.exit_code == 0, result.stderr
    args = ["--current", samples / "current.parquet", "-p", FRAUD]
    code_raw, raw = mlrel.json("drift", "--reference", reference, *args)
    code_pro, pro = mlrel.json("drift", "--reference", profile, *args)
    assert code_raw == code_pro
    assert [(c["name"], c["status"]) for c in raw["checks"]] == [(c["name"], c["status"]) for c in pro["checks"]]


def test_show_and_merge_say_what_a_file_is_when_it_is_not_a_profile(mlrel: Any, samples: Path, tmp_path: Path) -> None:
    cases = [
        (tmp_path / "missing.mlrel-profile", "profile not found"),
        (tmp_path, "a directory, not a profile file"),
        (samples / "reference.parquet", "not an mlrel profile"),
    ]
    for path, message in cases:
        for args in (["show", path], ["merge", SAMPLES / "reference.mlrel-profile", path, "-o", tmp_path / "out"]):
            result = mlrel("profile", *args)
            assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
            assert not (tmp_path / "out").exists()


def test_a_local_build_holds_each_columns_exact_facts(samples: Path) -> None:
    """One build path on every engine; the local engine's answers are exact: each column's counts, its sketch of
    every sorted value, the prediction's distinct values and the labelled rows' metrics, checked against numpy and
    scikit-learn on the raw columns."""
    from sklearn.metrics import roc_auc_score

    from mlrel_cli.analysis.profile import build_profile
    from mlrel_cli.engine.local import LocalEngine
    from mlrel_cli.logs import open_log
    from mlrel_cli.policy import load_policy
    from mlrel_cli.stats.sketch import QuantileSketch

    policy = load_policy(FRAUD)
    profile = build_profile(LocalEngine(), open_log(str(samples / "reference.parquet")), policy)
    table = pq.read_table(samples / "reference.parquet")
    for name, c in profile.columns.items():
        column = table.column(name)
        assert (c.rows, c.present) == (len(column), len(column) - column.null_count), name
        if c.kind == "numeric":
            values = column.to_numpy(zero_copy_only=False).astype(float)
            finite = np.sort(values[np.isfinite(values)])
            expected = QuantileSketch.from_sorted(finite, int(np.isnan(values).sum()), int(np.isinf(values).sum()))
            assert c.sketch is not None and _same_sketch(c.sketch, expected), name
            assert c.extremes == (np.nanmin(values), np.nanmax(values)), name
    prediction = table.column(policy.columns.prediction).to_numpy(zero_copy_only=False)
    assert profile.columns[policy.columns.prediction].distinct == len(np.unique(prediction[~np.isnan(prediction)]))
    labelled = table.filter(pa.compute.is_valid(table.column(policy.columns.label)))
    truth = labelled.column(policy.columns.label).to_numpy(zero_copy_only=False)
    score = labelled.column(policy.columns.prediction).to_numpy(zero_copy_only=False)
    assert profile.meta["labelled"]["rows"] == len(truth)
    assert profile.meta["labelled"]["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(truth == 1, score), abs=1e-12)


def _same_sketch(a: Any, b: Any) -> bool:
    from dataclasses import fields

    return all(np.array_equal(getattr(a, f.name), getattr(b, f.name), equal_nan=True) for f in fields(a))


def test_distinct_counts_are_exact_up_to_the_limit_when_merged() -> None:
    from mlrel_cli.facts.columns import DistinctCount

    whole = pa.chunked_array([pa.array([1.0, 2.0, None, 2.0]), pa.array([3.0, 4.0, 5.0])])
    assert DistinctCount.of(whole, limit=3).count == 5  # a whole column: exact past the limit too
    a, b = DistinctCount.of(pa.array([1, 2, 2]), limit=3), DistinctCount.of(pa.array([2, 3, None]), limit=3)
    assert a.merge(b).count == 3 and a.merge(b).values == {1, 2, 3}
    assert a.merge(b).merge(DistinctCount.of(pa.array([4]), limit=3)).count is None  # past the limit: unknown
    assert DistinctCount.of(pa.array(["x"]).dictionary_encode()).count == 1


def test_a_summary_as_a_sketch() -> None:
    from mlrel_cli.stats.sketch import QuantileSketch
    from mlrel_cli.stats.summaries import NumericSummary

    values = np.random.default_rng(3).normal(size=5_000)
    exact = NumericSummary.from_values(np.append(values, [np.nan, np.inf]))
    assert _same_sketch(exact.sketch(), QuantileSketch.from_sorted(np.sort(values), 1, 1))
    sketch = QuantileSketch.from_sorted(np.sort(values))
    assert NumericSummary.from_sketch(sketch).sketch() is sketch  # its sums and extremes, not its points'


def test_exact_is_refused_on_dask_by_check_engine() -> None:
    from mlrel_cli.engine import check_engine
    from mlrel_cli.errors import MlrelError

    assert check_engine("local", exact=True) == "local"
    with pytest.raises(MlrelError, match=r"^--exact keeps every value of each column, which the Dask engine"):
        check_engine("dask", exact=True)
