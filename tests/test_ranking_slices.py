"""Weak segments of ranking logs (issue 20): the query is the unit, its loss 1 - NDCG@k, slices on query-level
columns; in validate (one model) and compare (a candidate against the baseline).

The logs are built from scikit-learn's digits (tests/test_compare_ranking_segments.py): each query asks for one
digit among ten images, ranked by a logistic regression. An undeclared two-condition slice of about 4 % of the
queries (tablets in Brazil) gets its top results shuffled.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from conftest import check
from test_compare_ranking_segments import _probabilities

K = 10
COUNTRIES = ["US", "DE", "FR", "BR", "IN", "JP", "GB", "MX"]


def _log(version: str, n: int, seed: int, planted: bool) -> tuple[pa.Table, list, list]:
    """n queries; with ``planted``, the queries of device == tablet and country == BR are ranked badly. Returns the
    log and, for the planted slice's queries, their relevance and the order shown (for sklearn)."""
    proba, digits = _probabilities()
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in ("query_id", "position", "score", "label", "model_version", "device",
                                              "country", "hour", "price")}  # fmt: skip
    relevance_in, shown_in = [], []
    for q in range(n):
        asked = int(rng.integers(10))
        hits = rng.choice(np.flatnonzero(digits == asked), int(rng.integers(1, 4)), replace=False)
        misses = rng.choice(np.flatnonzero(digits != asked), 10 - len(hits), replace=False)
        docs = np.r_[hits, misses]
        score = proba[docs, asked]
        device, country, hour = rng.choice(["desktop", "mobile", "tablet"]), rng.choice(COUNTRIES), int(rng.integers(24))
        order = np.argsort(-score, kind="stable")
        in_slice = device == "tablet" and country == "BR"
        if planted and in_slice:
            order = rng.permutation(order)
        relevance = (digits[docs] == asked).astype(float)
        if in_slice:
            relevance_in.append(relevance)
            shown_in.append(-np.argsort(order).astype(float))
        for position, doc in enumerate(order, start=1):
            for key, value in (("query_id", f"{version}-{q}"), ("position", position), ("score", float(score[doc])),
                               ("label", int(relevance[doc])), ("model_version", version), ("device", device),
                               ("country", country), ("hour", hour), ("price", float(rng.gamma(2.0, 10.0)))):  # fmt: skip
                rows[key].append(value)
    return pa.table(rows), relevance_in, shown_in


POLICY = f"""
version: 1
task: ranking
columns: {{query: query_id, position: position, prediction: score, label: label, model_version: model_version}}
validate:
  performance: {{k: {K}}}
  weak_segments: {{min_rows: 40}}
"""


def _conditions(found: dict) -> set[tuple[str, str, object]]:
    return {(c["column"], c["op"], c["value"]) for c in found["conditions"]}


def test_validate_finds_the_planted_slice_of_queries(mlrel, write_log, write_policy) -> None:
    from sklearn.metrics import ndcg_score

    table, relevance, shown = _log("v1", 3000, 5, planted=True)
    _, report = mlrel.json("validate", write_log(table), "-p", write_policy(POLICY))
    found = check(report, "weak_segments")
    assert found["details"]["metric"] == "ndcg_loss"
    assert found["details"]["not_query_level"] == ["price"]  # a result's price varies within its query
    assert set(found["details"]["columns"]) == {"device", "country", "hour"}
    top = report["weak_segments"][0]
    assert _conditions(top) == {("device", "==", "tablet"), ("country", "==", "BR")}
    assert top["rows"] == len(relevance)  # queries, not results
    expected = 1 - ndcg_score(np.array(relevance), np.array(shown), k=K)
    assert top["inside"] == pytest.approx(expected, rel=1e-12)
    assert top["adjusted_p"] < 0.05 and top["delta"] > 0


def test_validate_reports_nothing_on_a_clean_ranking(mlrel, write_log, write_policy) -> None:
    table, _, _ = _log("v1", 3000, 6, planted=False)
    _, report = mlrel.json("validate", write_log(table), "-p", write_policy(POLICY))
    assert check(report, "weak_segments")["status"] == "pass" and report["weak_segments"] == []


def test_compare_finds_where_the_candidate_ranks_worse(mlrel, write_log, write_policy) -> None:
    base, _, _ = _log("v1", 3000, 7, planted=False)
    cand, _, _ = _log("v2", 3000, 8, planted=True)
    policy = write_policy(POLICY + "compare: {weak_segments: {reject: true}}\n")
    log = write_log(pa.concat_tables([base, cand]))
    code, report = mlrel.json("compare", "--log", log, "--baseline", "v1", "--candidate", "v2", "-p", policy)
    (entry,) = report["candidates"]
    found = entry["weak_segments"]
    assert found["metric"] == "ndcg_loss" and not found["paired"]
    assert _conditions(found["slices"][0]) == {("device", "==", "tablet"), ("country", "==", "BR")}
    assert code == 1 and entry["verdict"] == "reject"
    assert any(
        r.startswith("weak segment country == BR and device == tablet")
        or r.startswith("weak segment device == tablet and country == BR")
        for r in entry["reasons"]
    )
    assert check(report, "v2:weak_segments")["status"] == "fail"


def test_compare_reports_nothing_for_an_equal_ranker(mlrel, write_log, write_policy) -> None:
    base, _, _ = _log("v1", 3000, 7, planted=False)
    cand, _, _ = _log("v2", 3000, 9, planted=False)
    log = write_log(pa.concat_tables([base, cand]))
    _, report = mlrel.json("compare", "--log", log, "--baseline", "v1", "--candidate", "v2", "-p", write_policy(POLICY))
    assert report["candidates"][0]["weak_segments"]["slices"] == []
