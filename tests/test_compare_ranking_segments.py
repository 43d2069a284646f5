"""Ranking comparisons judged per segment (issue 15 point 9): a segment describes a query, queries resampled whole.

The ranking log is built from real data: scikit-learn's digits, each query asking for one digit among ten
images, the results ranked by a logistic regression's probability of that digit. The candidate ranks as well
except on tablets, where its top results are shuffled.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pytest
from conftest import check

DEVICES = ["desktop", "mobile", "tablet"]
K = 10


@cache
def _probabilities() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=2000).fit(x[::2], y[::2])
    return model.predict_proba(x[1::2]), y[1::2]


def _queries(version: str, n: int, seed: int, degraded: str | None) -> tuple[pa.Table, dict[str, tuple[list, list]]]:
    """n queries of 10 images each (1 to 3 of the asked digit); per device, the relevance and the order shown."""
    proba, digits = _probabilities()
    rng = np.random.default_rng(seed)
    columns: dict[str, list] = {k: [] for k in ("query_id", "position", "score", "label", "model_version", "device")}
    shown: dict[str, tuple[list, list]] = {d: ([], []) for d in DEVICES}
    for q in range(n):
        asked = int(rng.integers(10))
        hits = rng.choice(np.flatnonzero(digits == asked), int(rng.integers(1, 4)), replace=False)
        misses = rng.choice(np.flatnonzero(digits != asked), 10 - len(hits), replace=False)
        docs = np.r_[hits, misses]
        score = proba[docs, asked]
        device = DEVICES[q % 3]
        order = np.argsort(-score, kind="stable")
        if device == degraded:
            order[:4] = rng.permutation(order[:4])[::-1]  # its top four results in a worse order
        relevance = (digits[docs] == asked).astype(float)
        shown[device][0].append(relevance)
        shown[device][1].append(-np.argsort(order).astype(float))  # a score that gives the order shown
        for position, doc in enumerate(order, start=1):
            columns["query_id"].append(f"{version}-{q}")
            columns["position"].append(position)
            columns["score"].append(float(score[doc]))
            columns["label"].append(int(relevance[doc]))
            columns["model_version"].append(version)
            # one row of each query says another device: the query's device is what most of its rows say
            columns["device"].append(DEVICES[(q + 1) % 3] if position == 10 else device)
    return pa.table(columns), shown


POLICY = f"""
version: 1
task: ranking
columns: {{query: query_id, position: position, prediction: score, label: label, model_version: model_version}}
segments: [device]
validate: {{performance: {{k: {K}}}}}
compare: {{min_segment_size: 100}}
"""


@pytest.fixture(scope="module")
def logs() -> tuple[pa.Table, dict, dict]:
    base, shown_b = _queries("v1", 900, 1, None)
    cand, shown_c = _queries("v2", 900, 2, "tablet")
    return pa.concat_tables([base, cand]), shown_b, shown_c


def test_the_degraded_segment_rejects_and_the_others_pass(mlrel, write_log, write_policy, logs) -> None:
    from sklearn.metrics import ndcg_score

    table, shown_b, shown_c = logs
    code, report = mlrel.json(
        "compare", "--log", write_log(table), "--baseline", "v1", "--candidate", "v2", "-p", write_policy(POLICY)
    )
    (cand,) = report["candidates"]
    segments = {s["value"]: s for s in cand["segments"]}
    assert set(segments) == set(DEVICES) and all(s["judged"] and s["metric"] == "ndcg" for s in segments.values())
    assert segments["tablet"]["worse"] and segments["tablet"]["ci_high"] < 0
    assert not segments["desktop"]["worse"] and not segments["mobile"]["worse"]
    assert code == 1 and cand["verdict"] == "reject"
    assert any(r.startswith("segment device=tablet: ndcg") for r in cand["reasons"])
    assert check(report, "v2:ndcg[device=tablet]")["status"] == "fail"
    assert not [c for c in report["checks"] if c["name"] in ("v2:ndcg[device=desktop]", "v2:ndcg[device=mobile]")]
    for device in DEVICES:  # every query counted once, under its majority device, whole
        assert segments[device]["rows_baseline"] == segments[device]["rows_candidate"] == 300
        for side, shown in (("baseline", shown_b), ("candidate", shown_c)):
            expected = ndcg_score(np.array(shown[device][0]), np.array(shown[device][1]), k=K)
            assert segments[device][side] == pytest.approx(expected, rel=1e-12), (device, side)


def test_an_equal_candidate_passes_every_segment(mlrel, write_log, write_policy) -> None:
    base, _ = _queries("v1", 900, 1, None)
    cand, _ = _queries("v2", 900, 2, None)
    code, report = mlrel.json(
        "compare", "--log", write_log(pa.concat_tables([base, cand])), "--baseline", "v1", "--candidate", "v2",
        "-p", write_policy(POLICY),
    )  # fmt: skip
    segments = report["candidates"][0]["segments"]
    assert code == 0 and report["verdict"] == "promote"
    assert len(segments) == 3 and all(s["judged"] and not s["worse"] for s in segments)


def test_a_query_takes_the_segment_most_of_its_rows_carry() -> None:
    from mlrel_cli.stats.ranking import group_queries, query_attribute

    query = np.array([5, 5, 5, 2, 2, 9, 9])
    position = np.array([3, 1, 2, 2, 1, 1, 2])
    codes = np.array([1, 0, 1, 4, 3, 2, 2])  # query 5: two 1s and a 0; query 2: a tie, the smallest; query 9: 2
    queries = group_queries(query, position, np.zeros(7))
    assert query_attribute(queries, query, position, codes).tolist() == [3, 1, 2]  # queries in code order: 2, 5, 9
