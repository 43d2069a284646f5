"""One table per vocabulary: the names the policy accepts, the tables the code runs and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

from mlrel_cli.stats.drift import METHOD_BY_NAME
from mlrel_cli.stats.names import COMPARE_EXTRAS, DRIFT_METHODS, METRIC_BY_NAME, METRICS, RANKING

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of a markdown table whose header row starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_policy_names_the_methods_the_code_runs() -> None:
    # stats/names.py keeps the names free of numpy for the policy loader; they must be the methods table's
    assert set(DRIFT_METHODS) == set(METHOD_BY_NAME)


def test_docs_drift_table_is_the_methods_table() -> None:
    rows = _table_rows((DOCS / "drift.md").read_text(), "method")
    documented = {re.sub(r"`", "", row[0]): row for row in rows}
    assert set(documented) == set(METHOD_BY_NAME)
    for name, method in METHOD_BY_NAME.items():
        row = documented[name]
        assert {kind.strip() for kind in row[1].split(",")} == set(method.kinds), name
        thresholds = dict(re.findall(r"(warn|fail|alpha) ([0-9.]+)", row[3]))
        assert float(thresholds["alpha" if method.is_test else "fail"]) == method.fail, name
        assert (float(thresholds["warn"]) if "warn" in thresholds else None) == method.warn, name
        assert ("score < alpha" if method.is_test else "score > threshold") == row[4], name


def test_every_metric_is_documented() -> None:
    text = "".join(path.read_text() for path in DOCS.glob("*.md"))
    missing = [m.name for m in METRICS if f"`{m.name}`" not in text and f"`{m.name}@k`" not in text]
    assert missing == []


def test_docs_ranking_table_is_the_ranking_metrics() -> None:
    rows = _table_rows((DOCS / "metrics.md").read_text(), "metric")
    documented = {row[0].strip("`").split("@")[0] for row in rows}
    assert documented == {m.name for m in METRICS if RANKING in m.tasks}


def test_compare_extras_are_one_table() -> None:
    names = [extra.name for extra in COMPARE_EXTRAS]
    assert len(names) == len(set(names)) and not set(names) & set(METRIC_BY_NAME)
    assert {e.name for e in COMPARE_EXTRAS if not e.higher_is_better} == {
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "error_rate",
    }
    text = "".join(path.read_text() for path in DOCS.glob("*.md"))
    assert [name for name in names if f"`{name}`" not in text] == []


def test_the_task_constants_spell_the_policy_task_names() -> None:
    # the policy's schema validates against stats/names.TaskName; the code compares with these constants
    from mlrel_cli.stats.names import BINARY, MULTICLASS, REGRESSION, TASKS

    assert (BINARY, MULTICLASS, REGRESSION, RANKING) == TASKS
