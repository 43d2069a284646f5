"""Fault injectors: what goes wrong in production, applied to a clean prediction log.

Each injector is a pure function: a log (a pyarrow Table or a pandas
DataFrame) in, a new log of the same type out, the input untouched. It
changes only the rows served at or after ``start`` (every row when
``start`` is None), draws its randomness from ``seed`` alone, and takes the
size of the fault as ``size`` (its meaning is in each injector's
docstring). Column roles come from a ``Roles`` (the policy's ``columns``
names by default).

The injectors work on Arrow and numpy only: pandas is not a dependency of
mlrel's core install, and a DataFrame is converted with pyarrow only when
one is passed. A fault keeps a column's type where its nature does not
change (an integer column stays integer while its values are whole), and
writes a missing value as null, never NaN (what Arrow's pandas conversion
did when the injectors worked on pandas).

``FAULTS`` is the registry a drill reads: name -> the injector, its default
size, what it needs (a feature, a segment, a proxy column), and the check
expected to catch it (``drift:{column}``, ``range:{column}``, ...). The
fault-injection tests (tests/test_faults.py) run every entry on logs built
from scikit-learn's datasets and assert that check fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

LogT = TypeVar("LogT")


@dataclass(frozen=True)
class Roles:
    """The columns a fault may touch, by role (the defaults are the policy's ``columns`` defaults)."""

    timestamp: str = "timestamp"
    id: str = "prediction_id"
    prediction: str = "prediction"
    label: str = "label"
    latency: str = "latency_ms"
    query: str | None = None
    position: str | None = None


DEFAULT_ROLES = Roles()


# ---------------------------------------------------------------- plumbing


def _is_frame(log: Any) -> bool:
    """A pandas DataFrame, told without importing pandas (it is not installed in a lean environment)."""
    return type(log).__name__ == "DataFrame" and type(log).__module__.split(".")[0] == "pandas"


def _to_table(log: Any) -> tuple[pa.Table, Callable[[pa.Table], Any]]:
    """The log as a pyarrow Table, and the function that turns a faulty table back into the caller's type."""
    import pyarrow as pa

    if _is_frame(log):
        table = pa.Table.from_pandas(log, preserve_index=False)
        table = table.replace_schema_metadata(None)  # the frame's dtypes are re-derived from the faulty columns
        return table, lambda faulty: _restore(faulty, table.schema).to_pandas()
    if isinstance(log, pa.Table):
        return log, lambda faulty: _restore(faulty, log.schema)
    raise TypeError(f"a fault applies to a pyarrow Table or a pandas DataFrame, not {type(log).__name__}")


def _restore(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Each column back in its original type where the fault did not change its nature; NaN written as null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, fields = [], []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_floating(field.type) and len(column) and pc.any(pc.is_nan(column)).as_py():
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, field.type), column)
        original = schema.field(field.name) if field.name in schema.names else None
        if original is not None and _castable(field.type, original.type, column):
            column, field = column.cast(original.type), original
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _castable(now: Any, original: Any, column: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if now.equals(original):
        return True
    if pa.types.is_integer(original) and pa.types.is_floating(now):
        finite = pc.drop_null(column)
        return bool(len(finite) == 0 or pc.all(pc.equal(pc.floor(finite), finite)).as_py())
    if pa.types.is_dictionary(original):
        return bool(now.equals(original.value_type))
    return pa.types.is_timestamp(original) and pa.types.is_timestamp(now)


def _column(table: pa.Table, name: str) -> pa.Array:
    """One column as a single Array (dictionary columns decoded), for numpy masks and element-wise kernels."""
    import pyarrow as pa

    column = table.column(name)
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


def _floats(array: pa.Array) -> np.ndarray:
    """A numeric (or boolean) column as a writable float64 copy, nulls as NaN."""
    import numpy as np
    import pyarrow as pa

    return np.array(array.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False), dtype=np.float64)


def _present(array: pa.Array) -> np.ndarray:
    """A boolean mask of the values neither null nor NaN (what "missing" means for every check)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False))
    if pa.types.is_floating(array.type):
        valid &= ~np.asarray(pc.is_nan(array).fill_null(True).to_numpy(zero_copy_only=False))
    return valid


def _put(array: pa.Array, rows: np.ndarray, values: Any) -> pa.Array:
    """``array`` with ``rows`` (positions, in increasing order) set to ``values``: a scalar (None for null), or
    an Array or ndarray of one value per row."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = np.zeros(len(array), dtype=bool)
    mask[rows] = True
    if isinstance(values, pa.Array):
        return pc.replace_with_mask(array, pa.array(mask), values.cast(array.type))
    if isinstance(values, np.ndarray):
        return pc.replace_with_mask(array, pa.array(mask), pa.array(values, type=array.type))
    return pc.if_else(pa.array(mask), pa.scalar(values, type=array.type), array)


def _with(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, array)


def _times(table: pa.Table, roles: Roles) -> tuple[np.ndarray, np.ndarray, int]:
    """The timestamp column as int64 UTC ticks (zone-less times are UTC), its validity, and ticks per second."""
    import numpy as np
    import pyarrow as pa

    column = _column(table, roles.timestamp)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        from mlrel_cli.logs.values import iso_strings_as_utc

        column = iso_strings_as_utc(pa.chunked_array([column])).combine_chunks()
    elif pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("us"))
    unit = column.type.unit
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False))
    ticks = np.asarray(column.cast(pa.int64()).fill_null(0).to_numpy())
    return ticks, valid, {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]


def _ticks(moment: dt.datetime, per_second: int) -> int:
    """A datetime in the ticks of ``_times`` (a naive one is UTC)."""
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * per_second // 1_000_000


def _after(table: pa.Table, start: dt.datetime | None, roles: Roles) -> np.ndarray:
    """A boolean mask of the rows served at or after ``start`` (a row without a time is not)."""
    import numpy as np

    if start is None:
        return np.ones(table.num_rows, dtype=bool)
    ticks, valid, per_second = _times(table, roles)
    return valid & (ticks >= _ticks(start, per_second))


def _pick(mask: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``fraction`` of the rows in ``mask`` (at least one when any)."""
    import numpy as np

    rows = np.flatnonzero(mask)
    k = min(len(rows), max(1, round(fraction * len(rows)))) if len(rows) else 0
    return np.sort(rng.choice(rows, size=k, replace=False)) if k else rows


def _rng(seed: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(seed)


def _by_count(array: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct present values, most frequent first, ties in order of first appearance (pandas' value_counts)."""
    import numpy as np
    import pyarrow as pa

    counted = array.filter(pa.array(_present(array))).value_counts()
    counts = np.asarray(counted.field("counts").to_numpy())
    order = np.argsort(-counts, kind="stable")
    return counted.field("values").take(pa.array(order)), counts[order]


def _is_numeric(array: pa.Array) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_decimal(array.type)


def _as_numpy(array: pa.Array) -> np.ndarray:
    import numpy as np

    return np.asarray(array.to_numpy(zero_copy_only=False))


# ---------------------------------------------------------------- the injectors


def shift_feature(
    log: LogT, feature: str, size: float = 0.5, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Covariate shift: a numeric feature moves by ``size`` of its standard deviation (a categorical one
    has a ``size`` share of its rows moved to its least frequent category)."""
    import numpy as np
    import pyarrow as pa

    table, back = _to_table(log)
    mask = _after(table, start, roles)
    column = _column(table, feature)
    if _is_numeric(column):
        values = _floats(column)
        step = size * float(np.nanstd(values)) or size
        return back(_with(table, feature, pa.array(np.where(mask, values + step, values), from_pandas=True)))
    values, _ = _by_count(column)
    rows = _pick(mask & _present(column), size, _rng(seed))
    return back(_with(table, feature, _put(column, rows, values[len(values) - 1])))


def null_burst(
    log: LogT, feature: str, size: float = 0.3, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A pipeline drops a feature: a ``size`` share of the rows after ``start`` have it null."""
    table, back = _to_table(log)
    rows = _pick(_after(table, start, roles), size, _rng(seed))
    return back(_with(table, feature, _put(_column(table, feature), rows, None)))


def unseen_categories(
    log: LogT, feature: str, size: float = 0.2, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """New values of a categorical feature: a ``size`` share of the rows get one of five never-seen categories."""
    import numpy as np
    import pyarrow as pa

    table, back = _to_table(log)
    rng = _rng(seed)
    rows = _pick(_after(table, start, roles), size, rng)
    novel = np.array([f"unseen_{k}" for k in range(5)], dtype=object)
    column = _column(table, feature)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())  # a numeric category code becomes text: the new values are names
    return back(_with(table, feature, _put(column, rows, novel[rng.integers(0, len(novel), len(rows))])))


def out_of_range(
    log: LogT, feature: str, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A unit change upstream: a ``size`` share of a numeric feature's values land far above its range
    (max + 10 x (max - min), or 1,000 x the value for a constant column)."""
    import numpy as np
    import pyarrow as pa

    table, back = _to_table(log)
    column = _column(table, feature)
    rows = _pick(_after(table, start, roles) & _present(column), size, _rng(seed))
    values = _floats(column)
    if len(rows):
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        values[rows] = high + 10.0 * (high - low) if high > low else abs(high) * 1000.0 + 1000.0
    return back(_with(table, feature, pa.array(values, from_pandas=True)))


def nan_predictions(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """The model returns NaN on a ``size`` share of the rows (a numeric prediction column; written as null)."""
    import numpy as np
    import pyarrow as pa

    table, back = _to_table(log)
    rows = _pick(_after(table, start, roles), size, _rng(seed))
    values = _floats(_column(table, roles.prediction))
    values[rows] = np.nan
    return back(_with(table, roles.prediction, pa.array(values, from_pandas=True)))


def constant_predictions(
    log: LogT, size: float = 1.0, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A model stuck on one output: a ``size`` share of the rows (all by default) get the most common prediction
    (the smallest of the most common, on a tie)."""
    import pyarrow as pa

    table, back = _to_table(log)
    rows = _pick(_after(table, start, roles), size, _rng(seed))
    column = _column(table, roles.prediction)
    counted = column.filter(pa.array(_present(column))).value_counts()
    ranked = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
    mode = ranked.sort_by([("count", "descending"), ("value", "ascending")]).column("value")[0]
    return back(_with(table, roles.prediction, _put(column, rows, mode.as_py())))


def out_of_unit_predictions(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Raw scores leak instead of probabilities: a ``size`` share of the rows get a logit-like 1.2-6."""
    import pyarrow as pa

    table, back = _to_table(log)
    rng = _rng(seed)
    rows = _pick(_after(table, start, roles), size, rng)
    values = _floats(_column(table, roles.prediction))
    values[rows] = rng.uniform(1.2, 6.0, len(rows))
    return back(_with(table, roles.prediction, pa.array(values, from_pandas=True)))


def _flipped(labels: pa.Array, eligible: np.ndarray, size: float, rng: np.random.Generator, regression: bool) -> pa.Array:
    """``labels`` with a ``size`` share of the present ``eligible`` ones moved away (label_flip's rule); the
    classes and the spread are those of every label given."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    present = _present(labels)
    rows = _pick(eligible & present, size, rng)
    classes = pc.unique(labels.filter(pa.array(present)))
    if regression and len(classes) > 20:
        values = _floats(labels)
        signs = np.where(np.arange(len(rows)) % 2 == 0, 1.0, -1.0)
        values[rows] = values[rows] + 2.0 * float(np.nanstd(values, ddof=1)) * signs
        return pa.array(values, from_pandas=True)
    known = np.sort(_as_numpy(classes))
    position = np.searchsorted(known, _as_numpy(labels.take(pa.array(rows, type=pa.int64()))))
    shift = rng.integers(1, len(known), len(rows)) if len(known) > 1 else np.zeros(len(rows), dtype=np.int64)
    return _put(labels, rows, pa.array(known[(position + shift) % len(known)], type=labels.type))


def _regression_like(labels: pa.Array) -> bool:
    """A label column taken as numeric-continuous (when it has more than 20 values): floats, or integers with
    nulls, which pandas held as floats (kept so that the same rows flip as when the injectors used pandas)."""
    import pyarrow as pa

    return pa.types.is_floating(labels.type) or (pa.types.is_integer(labels.type) and labels.null_count > 0)


def label_flip(
    log: LogT, size: float = 0.4, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Concept change: the label moves away from what the model learned on a ``size`` share of the rows.

    A class label becomes another class seen in the log (a binary 0/1 is
    flipped); a numeric (regression) label moves by twice its standard
    deviation, alternately up and down.
    """
    table, back = _to_table(log)
    labels = _column(table, roles.label)
    flipped = _flipped(labels, _after(table, start, roles), size, _rng(seed), _regression_like(labels))
    return back(_with(table, roles.label, flipped))


def latency_spike(
    log: LogT, size: float = 5.0, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A slow dependency: every latency after ``start`` is ``size`` times longer."""
    import numpy as np
    import pyarrow as pa

    table, back = _to_table(log)
    mask = _after(table, start, roles)
    values = _floats(_column(table, roles.latency))
    return back(_with(table, roles.latency, pa.array(np.where(mask, values * size, values), from_pandas=True)))


def traffic_gap(
    log: LogT, size: float = 0.25, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """An outage: no rows from ``start`` (the middle of the log by default) for a ``size`` share of the log's span."""
    import pyarrow as pa

    table, back = _to_table(log)
    ticks, valid, per_second = _times(table, roles)
    first, last = int(ticks[valid].min()), int(ticks[valid].max())
    span = last - first
    begin = first + span // 2 if start is None else _ticks(start, per_second)
    end = begin + int(span * size)  # truncated to the tick, as pandas' Timedelta arithmetic did
    return back(table.filter(pa.array(~(valid & (ticks >= begin) & (ticks < end)))))


def duplicated_ids(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A retrying client: a ``size`` share of the rows after ``start`` repeat another row's id."""
    import pyarrow as pa

    table, back = _to_table(log)
    rng = _rng(seed)
    rows = _pick(_after(table, start, roles), size, rng)
    donors = rng.integers(0, table.num_rows, len(rows))
    ids = _column(table, roles.id)
    return back(_with(table, roles.id, _put(ids, rows, ids.take(pa.array(donors)))))


def segment_degradation(
    log: LogT,
    segment: str,
    value: Any = None,
    size: float = 0.6,
    start: dt.datetime | None = None,
    seed: int = 0,
    roles: Roles = DEFAULT_ROLES,
) -> LogT:
    """The model fails for one segment only: ``label_flip`` of a ``size`` share of the rows of one group
    of ``segment`` (``value``; the largest group by default), the others untouched."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table, back = _to_table(log)
    groups = _column(table, segment)
    group = _by_count(groups)[0][0] if value is None else pa.scalar(value, type=groups.type)
    inside = np.flatnonzero(
        np.asarray(pc.equal(groups, group).fill_null(False).to_numpy(zero_copy_only=False)) & _after(table, start, roles)
    )
    labels = _column(table, roles.label)
    chosen = labels.take(pa.array(inside, type=pa.int64()))
    flipped = _flipped(chosen, np.ones(len(chosen), dtype=bool), size, _rng(seed), _regression_like(labels))
    if not flipped.type.equals(labels.type):  # a regression label on integers: the column becomes float
        labels = labels.cast(flipped.type)
    return back(_with(table, roles.label, _put(labels, inside, flipped)))


def proxy_drop(
    log: LogT, column: str, size: float = 0.5, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Engagement falls before labels arrive: a proxy column (clicks, purchases, revenue) is zeroed on a
    ``size`` share of the rows after ``start``."""
    import pyarrow as pa

    table, back = _to_table(log)
    rows = _pick(_after(table, start, roles), size, _rng(seed))
    values = _column(table, column)
    return back(_with(table, column, _put(values, rows, False if pa.types.is_boolean(values.type) else 0)))


def ranking_degradation(
    log: LogT, size: float = 0.8, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A bad ranker: in a ``size`` share of the queries after ``start``, the order is reversed within the
    query (the scores, and the positions when the log has them), so the worst results come first."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if roles.query is None:
        raise ValueError("ranking_degradation needs the query column (roles.query)")
    table, back = _to_table(log)
    rng = _rng(seed)
    mask = _after(table, start, roles)
    query = _column(table, roles.query)
    queries = pc.unique(query.filter(pa.array(mask)))  # in order of first appearance, as the draw expects
    chosen = queries.take(pa.array(rng.choice(len(queries), size=round(size * len(queries)), replace=False), type=pa.int64()))
    hit = np.flatnonzero(np.asarray(pc.is_in(query, value_set=chosen).fill_null(False).to_numpy(zero_copy_only=False)) & mask)
    codes = np.asarray(pc.index_in(query.take(pa.array(hit, type=pa.int64())), value_set=chosen).to_numpy(zero_copy_only=False))

    def reflected(values: np.ndarray) -> np.ndarray:
        """Each value reflected inside its query's range (max + min - value; NaN skipped), so the order reverses."""
        high, low = np.full(len(chosen), np.nan), np.full(len(chosen), np.nan)
        np.fmax.at(high, codes, values)
        np.fmin.at(low, codes, values)
        return high[codes] + low[codes] - values

    scores = _floats(_column(table, roles.prediction))
    scores[hit] = reflected(scores[hit])
    table = _with(table, roles.prediction, pa.array(scores, from_pandas=True))
    if roles.position is not None:
        position = _column(table, roles.position)
        ranks = _floats(position)
        ranks[hit] = reflected(ranks[hit])
        table = _with(table, roles.position, pa.array(ranks, from_pandas=True))
    return back(table)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[..., Any]
    size: float  # the default size (its meaning: the injector's docstring)
    needs: str | None  # the argument it needs beyond the log: "feature", "categorical", "segment", "proxy" or None
    check: str  # the check expected to catch it; {column} is the argument it was given
    command: str  # the command whose report holds that check
    description: str


FAULTS: tuple[Fault, ...] = (
    Fault("shift_feature", shift_feature, 0.5, "feature", "drift:{column}", "drift", "a feature's mean moves"),
    Fault("null_burst", null_burst, 0.3, "feature", "missing:{column}", "validate", "a feature goes null"),
    Fault("unseen_categories", unseen_categories, 0.2, "categorical", "unseen:{column}", "validate", "new categories appear"),
    Fault("out_of_range", out_of_range, 0.05, "feature", "range:{column}", "validate", "values beyond the range"),
    Fault("nan_predictions", nan_predictions, 0.05, None, "prediction", "validate", "the model returns NaN"),
    Fault("constant_predictions", constant_predictions, 1.0, None, "prediction", "validate", "one constant output"),
    Fault(
        "out_of_unit_predictions", out_of_unit_predictions, 0.05, None, "prediction", "validate", "probabilities outside [0, 1]"
    ),
    Fault("label_flip", label_flip, 0.4, None, "performance", "validate", "the concept changes"),
    Fault("latency_spike", latency_spike, 5.0, None, "latency:p99", "validate", "latency multiplied"),
    Fault("traffic_gap", traffic_gap, 0.25, None, "downtime", "validate", "no traffic for a while"),
    Fault("duplicated_ids", duplicated_ids, 0.05, None, "duplicates", "validate", "ids repeated"),
    Fault("segment_degradation", segment_degradation, 0.6, "segment", "performance", "validate", "one segment degrades"),
    Fault("proxy_drop", proxy_drop, 0.5, "proxy", "proxy:{column}", "validate", "a proxy metric drops"),
    Fault("ranking_degradation", ranking_degradation, 0.8, None, "performance", "validate", "the ranking degrades"),
)
FAULT_BY_NAME = {fault.name: fault for fault in FAULTS}


def inject(
    name: str,
    log: LogT,
    column: str | None = None,
    size: float | None = None,
    start: dt.datetime | None = None,
    seed: int = 0,
    roles: Roles = DEFAULT_ROLES,
) -> LogT:
    """Apply the fault ``name`` at its default size (or ``size``); ``column`` is the feature, segment or proxy column."""
    fault = FAULT_BY_NAME.get(name)
    if fault is None:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_BY_NAME)}")
    amount = fault.size if size is None else size
    if fault.needs is None:
        return fault.inject(log, size=amount, start=start, seed=seed, roles=roles)
    if column is None:
        raise ValueError(f"fault {name!r} needs a {fault.needs} column")
    return fault.inject(log, column, size=amount, start=start, seed=seed, roles=roles)


def expected_check(name: str, column: str | None = None) -> str:
    """The name of the check that must catch fault ``name`` applied to ``column``."""
    return FAULT_BY_NAME[name].check.format(column=column)
