"""The Engine in this process: the same builders over the log's row groups, merged in the same tree as on Dask.

What needs rows side by side (duplicate ids, a query's results, distinct
times) is computed over the whole column here, exactly; only counts and sums
are returned, as the Dask engine returns them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlrel_cli.engine import common
from mlrel_cli.logs import Log


@dataclass(frozen=True)
class LocalEngine:
    name: str = "local"

    def reduce(self, log: Log, columns: list[str], build: Callable[..., dict[str, Any]], seeded: bool = False) -> dict[str, Any]:
        if (profile := common.profile_of(log)) is not None:
            return profile.answer(columns, build, seeded)
        partitions = {name: log.schema.field(name).type for name in log.partition_columns}
        built = [common.run_on_row_group(part, columns, build, seeded, partitions) for part in common.row_groups(log)]
        return common.merge_in_tree(built)

    def labelled_summary(
        self, log: Log, columns: list[str], prepare: Callable[..., Any], task: str, threshold: float, sample_rows: int
    ) -> dict[str, Any]:
        return common.labelled_summary(self, log, columns, prepare, task, threshold, sample_rows)

    def few_values(self, log: Log, name: str, limit: int = 20) -> bool:
        return common.few_values(self, log, name, limit)

    def count_duplicates(self, log: Log, column: str, top: int) -> tuple[int, int, list[dict[str, Any]]]:
        import numpy as np
        import pyarrow.compute as pc

        common.refuse_profile(log, "counting duplicate ids")
        ids = pc.drop_null(log.column(column))
        counts = pc.value_counts(ids)
        values, sizes = counts.field("values").to_pylist(), counts.field("counts").to_numpy(zero_copy_only=False)
        order = np.argsort(-sizes, kind="stable")
        most = [{"value": values[i], "count": int(sizes[i])} for i in order[:top] if sizes[i] > 1]
        return len(ids), int((sizes[sizes > 1] - 1).sum()), most

    def per_query_sums(
        self, log: Log, columns: list[str], query: str, units: Callable[..., dict[str, Any]], names: list[str]
    ) -> dict[str, dict[str, float]]:
        import numpy as np
        import pyarrow.compute as pc

        if (profile := common.profile_of(log)) is not None:
            return profile.per_query_sums(names, units)
        table = log.read(list(dict.fromkeys(columns)))
        encoded = pc.dictionary_encode(table.column(query)).combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        found = {name: {"n": 0.0, "sum": 0.0, "sum2": 0.0} for name in names}
        for name, values in units(table, codes).items():
            finite = values[np.isfinite(values)]
            found[name] = {"n": float(len(finite)), "sum": float(finite.sum()), "sum2": float((finite**2).sum())}
        return found

    def distinct_times(self, log: Log, column: str, where: str, width_of: Callable[[Any], int | None]) -> tuple[Any, Any]:
        import numpy as np

        from mlrel_cli.facts.columns import TimeFacts
        from mlrel_cli.logs import to_timestamps_us

        common.refuse_profile(log, "counting distinct times")
        unique = np.unique(to_timestamps_us(log.column(column), where))
        facts = TimeFacts(len(unique), int(unique.min()), int(unique.max())) if len(unique) else TimeFacts(0, 0, 0)
        width = width_of(facts) if len(unique) else None
        if width is None:
            return facts, None
        return facts, np.bincount((unique - facts.oldest) // width, minlength=int((facts.newest - facts.oldest) // width) + 1)
