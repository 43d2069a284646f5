"""One record per model task: what the analyses do differently for a binary classifier, a multiclass one, a
regression or a ranking model, read from one table instead of ``task == ...`` branches.

Kept free of numpy (the metric functions are imported when first called), so
that loading a policy imports nothing heavy. The metric names and the tasks
each applies to are in ``stats/names.METRICS``; this table says how a task's
rows are read and judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlrel_cli.stats.names import BINARY, METRICS, MULTICLASS, RANKING, REGRESSION


@dataclass(frozen=True)
class Task:
    name: str
    # how labels and predictions are read: "score" (the label is the positive class or not, the prediction a
    # probability, or a class turned into 0/1), "classes" (both as text), "values" (both as numbers),
    # "gains" (per result of a query: the label is its gain, the metrics are per query)
    reads: str
    primary_metric: str  # compare's default primary metric, drift's concept-drift metric
    # init's starting bound from the reference's value: (metric, "min", margin) is the value less the margin,
    # (metric, "max", margin) the value times 1 + margin; None: no starting bound
    starting_bound: tuple[str, str, float] | None
    retrain_loss: str  # retrain's loss of one row: "log_loss" (of a score), "error_rate", "absolute_error"
    weak_segment_loss: str | None  # the loss weak segments compare: "log_loss", "error_rate", "squared_error"
    probability: bool = False  # the predictions are probabilities: outside [0, 1] is invalid
    threshold: bool = False  # the metrics depend on the decision threshold
    # how labelled rows merge into parts on a cluster (facts/labelled.py): "score_cells" (the score's cells by label,
    # their edges from a score sketch), "confusion" (rows per true and predicted class), "error_sums" (error sums)
    parts: str = "error_sums"

    @property
    def per_query(self) -> bool:
        """Metrics per query, averaged over queries: no row-level metrics, segments or weak segments yet."""
        return self.reads == "gains"

    @property
    def classification(self) -> bool:
        """Predicts a class (a binary score read at the threshold, or the class itself): each row right or wrong."""
        return self.reads in ("score", "classes")

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(m.name for m in METRICS if self.name in m.tasks)

    def compute(self, truth: Any, predicted: Any, threshold: float = 0.5) -> dict[str, float]:
        """Every row-level metric of the task on these rows (as ``reads`` encodes them)."""
        return _metric_function(self.name)(truth, predicted, *((threshold,) if self.threshold else ()))


TASK_TABLE: tuple[Task, ...] = (
    Task(
        BINARY,
        "score",
        "roc_auc",
        ("roc_auc", "min", 0.05),
        "log_loss",
        "log_loss",
        probability=True,
        threshold=True,
        parts="score_cells",
    ),
    Task(MULTICLASS, "classes", "accuracy", ("accuracy", "min", 0.05), "error_rate", "error_rate", parts="confusion"),
    Task(REGRESSION, "values", "rmse", ("mae", "max", 0.25), "absolute_error", "squared_error"),
    Task(RANKING, "gains", "ndcg", None, "absolute_error", None),
)
TASK_BY_NAME = {task.name: task for task in TASK_TABLE}


def task_of(name: str | None) -> Task | None:
    """The task's record; None for no task or a name the table does not hold."""
    return TASK_BY_NAME.get(name) if name is not None else None


def row_metrics(name: str | None) -> bool:
    """Whether the task has metrics computed from labelled rows (not per query)."""
    task = task_of(name)
    return task is not None and not task.per_query


def per_query(name: str | None) -> bool:
    """Whether the task's metrics are per query (ranking)."""
    task = task_of(name)
    return task is not None and task.per_query


def reads(name: str | None) -> str | None:
    """How the task's labels and predictions are read (``Task.reads``); None for no task or a name not in the table."""
    task = task_of(name)
    return task.reads if task is not None else None


def _metric_function(name: str) -> Callable[..., dict[str, float]]:
    from mlrel_cli.stats.metrics import TASK_METRICS

    return TASK_METRICS[name]
