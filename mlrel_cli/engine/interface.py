"""The Engine: where facts are built over a log. One small protocol, one file per implementation.

An engine never judges: it runs fact builders (facts/) over a log's row
groups and merges what they return, or brings rows together that a fact
needs side by side (duplicate ids, a query's results, distinct times) and
returns only counts and sums. engine/local.py does it in this process,
engine/dask.py next to the data on a Dask cluster; both merge in the same
order, so the same builder gives the same facts on either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from mlrel_cli.logs import Log

if TYPE_CHECKING:
    from mlrel_cli.facts.columns import Plan
    from mlrel_cli.facts.concept import MetricRows
    from mlrel_cli.facts.labelled import LabelledEvidence, RowsOf
    from mlrel_cli.facts.models import ModelEvidence, ModelSource
    from mlrel_cli.facts.proxy import ProxyFacts
    from mlrel_cli.facts.windows import WindowGrid
    from mlrel_cli.logs.roles import Roles
    from mlrel_cli.policy import Policy
    from mlrel_cli.stats.regressions import RegressionSums

# the column of a labelled log (Engine.labelled_log) holding when each label arrived: microseconds, -1 unknown
LABEL_ARRIVED = "\x00label_arrived_us"

# (table of a row group's columns[, seed=...]) -> {key: mergeable fact}; picklable (a module-level function or a partial)
Builder = Callable[..., dict[str, Any]]


class Engine(Protocol):
    @property
    def name(self) -> str:
        """As --engine names it."""
        ...

    def reduce(self, log: Log, columns: list[str], build: Builder, seeded: bool = False) -> dict[str, Any]:
        """``build`` on every row group (with the row group's own seed when ``seeded``), the results merged."""
        ...

    def labelled_log(self, log: Log, roles: Roles, labels: Log, policy: Policy) -> Log:
        """The log with its label column (``columns.label``) taken from the labels file joined on the id (the log's
        own label where the file has none), and LABEL_ARRIVED when the file says when each label arrived. A join
        needs every row in one place: the local engine joins, Dask refuses (as engine.check_engine states)."""
        ...

    def column_facts(self, log: Log, plan: Plan, done: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Every fact of ``plan`` (facts/columns.py) over the whole log; ``done(key)`` as each is ready. Exact on
        every engine but for latency: the local engine keeps every value where Dask keeps a quantile sketch."""
        ...

    def labelled_summary(
        self, log: Log, columns: list[str], prepare: Callable[..., Any], task: str, threshold: float, sample_rows: int
    ) -> dict[str, Any]:
        """The label metrics of the labelled rows ``prepare`` selects, overall and per segment value, and a sample."""
        ...

    def labelled_evidence(
        self,
        log: Log,
        columns: list[str],
        rows_of: RowsOf,
        task: str,
        threshold: float,
        segments: list[str],
        sample_rows: int,
    ) -> LabelledEvidence:
        """The label metrics of the rows ``rows_of`` keeps, overall and per value of each segment column, with the
        rows their standard errors are bootstrapped on: every labelled row and the exact metrics locally; merged
        labelled parts and a uniform sample of about ``sample_rows`` rows on Dask."""
        ...

    def few_values(self, log: Log, name: str, limit: int = 20) -> bool:
        """Whether the column holds at most ``limit`` distinct values."""
        ...

    def count_duplicates(self, log: Log, column: str, top: int) -> tuple[int, int, list[dict[str, Any]]]:
        """Ids present, rows repeating an id, and the ``top`` most repeated ids with their counts."""
        ...

    def per_query_sums(
        self, log: Log, columns: list[str], query: str, units: Callable[..., dict[str, Any]], names: list[str]
    ) -> dict[str, dict[str, float]]:
        """``units(table, query_codes)`` on whole queries; per name, the count, sum and sum of squares of its values."""
        ...

    def distinct_times(self, log: Log, column: str, where: str, width_of: Callable[[Any], int | None]) -> tuple[Any, Any]:
        """TimeFacts of the column's distinct times, and their count per window of the width ``width_of`` picks."""
        ...

    def column_summaries(
        self, log: Log, kinds: dict[str, str], grid: WindowGrid | None = None
    ) -> Callable[[str], tuple[Any, list[Any]]]:
        """A function giving each column's distribution summary (facts/distributions) and, with ``grid``, one per
        window; or TooManyCategories. Locally each column is read and summarised exactly when asked for (one
        column at a time); on Dask all are sketched in one pass."""
        ...

    def labelled_metric(
        self,
        log: Log,
        columns: list[str],
        prepare: Callable[..., Any],
        task: str,
        metric: str,
        threshold: float,
        grid: WindowGrid | None = None,
    ) -> tuple[MetricRows, list[MetricRows]]:
        """The metric on the labelled rows ``prepare`` (facts/concept.labelled_rows) selects, overall and per window
        of ``grid``: exact over every row locally, from merged labelled parts and a row sample on Dask."""
        ...

    def sample(self, log: Log, columns: list[str], rows: int) -> Any:
        """About ``rows`` rows of these columns drawn uniformly as a table (every row on the local engine)."""
        ...

    def proxy_metrics(self, log: Log, policy: Policy, grid: WindowGrid | None = None) -> dict[str, ProxyFacts]:
        """Each proxy metric of the policy on the log (value, standard error) and per window of ``grid``."""
        ...

    def model_evidence(
        self, sources: list[ModelSource], policy: Policy, labels: Log | None = None
    ) -> tuple[list[ModelEvidence], str]:
        """Compare's evidence of every model of ``sources`` (facts/models.ModelEvidence) and the task (the policy's,
        else read from the baseline): from every row locally (exact, the rows kept; a --labels file joined on the
        id), from merged pieces and a sample on Dask (which refuses --labels: engine.check_engine)."""
        ...

    def regression_sums(
        self, sources: list[ModelSource], models: list[ModelEvidence], task: str, policy: Policy, mode: str
    ) -> list[RegressionSums | None]:
        """Per candidate (``models[1:]``, the evidence ``model_evidence`` gave), its and the baseline's per-slice
        sums over bins both share, for compare's weak-segment search (stats.regressions.judge_regressions); None
        where the search cannot run. Locally from the rows kept: bins from every row, a pair summed when the search
        asks for it, shadow mode's pairs and a ranking's queries. On Dask bins from a sample and every row group's
        sums; canary mode only (shadow mode is refused: engine.check_engine), and no ranking's queries (their rows
        would need to be side by side): None."""
        ...
