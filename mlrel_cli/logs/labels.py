"""A late-labels file joined to a log on its id column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, suggest_column
from mlrel_cli.logs.values import timestamps_keeping_rows
from mlrel_cli.policy import Policy


@dataclass(frozen=True)
class JoinedLabels:
    """Labels aligned with the log's rows (null where none arrived) and, if known, when each arrived."""

    labels: pa.Array
    label_times_us: np.ndarray | None  # int64 with -1 where unknown
    source: str
    matched: int


def join_labels(log: Log, roles: Roles, labels: Log, policy: Policy) -> JoinedLabels:
    """Join a late-labels file on the id column; the log's own labels are kept where the file has none."""
    cols = policy.columns
    if roles.id is None:
        raise PolicyError(
            f"--labels needs an id column to join on, and the log has no column '{cols.id}' (set columns.id)",
            log.path,
        )
    for role, name in (("id", cols.id), ("label", cols.label)):
        if name not in labels.column_names:
            raise LogError(
                f"labels file has no {role} column '{name}'{suggest_column(name, set(labels.column_names))}",
                labels.path,
            )
    wanted = [cols.id, cols.label]
    has_time = cols.label_timestamp in labels.column_names
    if has_time:
        wanted.append(cols.label_timestamp)
    table = labels.read(wanted)
    log_ids = log.column(roles.id)
    label_ids = table.column(0)
    original_type = label_ids.type
    if label_ids.type != log_ids.type:
        try:
            label_ids = pc.cast(label_ids, log_ids.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise LogError(
                f"labels id column '{cols.id}' is {label_ids.type} but the log's is {log_ids.type}",
                labels.path,
            ) from None
    index = pc.index_in(log_ids, value_set=label_ids.combine_chunks())
    matched = len(index) - index.null_count
    if matched == 0:
        types = f"; its ids are {original_type}, the log's {log_ids.type}" if original_type != log_ids.type else ""
        raise LogError(f"labels file matches none of the log's {len(log_ids):,} ids on column '{cols.id}'{types}", labels.path)
    index = index.combine_chunks() if isinstance(index, pa.ChunkedArray) else index
    joined = table.column(1).combine_chunks().take(index)
    if roles.label is not None:
        own = log.column(roles.label).combine_chunks()
        if own.type != joined.type:
            try:
                own = pc.cast(own, joined.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                own = None
        if own is not None:
            joined = pc.coalesce(joined, own)
    times = None
    if has_time:
        parsed = timestamps_keeping_rows(table.column(2), labels.path)
        positions = index.fill_null(0).to_numpy(zero_copy_only=False)
        times = np.where(index.is_valid().to_numpy(zero_copy_only=False), parsed[positions], -1)
    return JoinedLabels(labels=joined, label_times_us=times, source=labels.path, matched=matched)
