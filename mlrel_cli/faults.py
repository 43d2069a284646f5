"""Fault injectors: what goes wrong in production, applied to a clean prediction log.

Each injector is a pure function: a log (a pyarrow Table or a pandas
DataFrame) in, a new log of the same type out, the input untouched. It
changes only the rows served at or after ``start`` (every row when
``start`` is None), draws its randomness from ``seed`` alone, and takes the
size of the fault as ``size`` (its meaning is in each injector's
docstring). Column roles come from a ``Roles`` (the policy's ``columns``
names by default).

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
    import pandas as pd

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


def _to_frame(log: Any) -> tuple[pd.DataFrame, Callable[[pd.DataFrame], Any]]:
    """A pandas copy of the log, and the function that turns a frame back into the caller's type."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(log, pd.DataFrame):
        return log.copy(), lambda frame: frame.reset_index(drop=True)
    if isinstance(log, pa.Table):
        schema = log.schema

        def back(frame: pd.DataFrame) -> pa.Table:
            table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
            # keep the original types where a fault did not change a column's nature (ints with nulls become floats)
            fields = []
            for field in table.schema:
                original = schema.field(field.name) if field.name in schema.names else None
                fields.append(
                    original if original is not None and _castable(field.type, original.type, table, field.name) else field
                )
            return table.cast(pa.schema(fields))

        return log.to_pandas(), back
    raise TypeError(f"a fault applies to a pyarrow Table or a pandas DataFrame, not {type(log).__name__}")


def _castable(now: Any, original: Any, table: Any, name: str) -> bool:
    import pyarrow as pa

    if now.equals(original):
        return True
    if pa.types.is_integer(original) and pa.types.is_floating(now):
        import pyarrow.compute as pc

        column = table.column(name)
        finite = pc.drop_null(column)
        return bool(len(finite) == 0 or pc.all(pc.equal(pc.floor(finite), finite)).as_py())
    return pa.types.is_timestamp(original) and pa.types.is_timestamp(now)


def _after(frame: pd.DataFrame, start: dt.datetime | None, roles: Roles) -> np.ndarray:
    """A boolean mask of the rows served at or after ``start``."""
    import numpy as np
    import pandas as pd

    if start is None:
        return np.ones(len(frame), dtype=bool)
    times = pd.to_datetime(frame[roles.timestamp], utc=True)
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return np.asarray(times >= stamp)


def _pick(mask: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A random ``fraction`` of the rows in ``mask`` (at least one when any)."""
    import numpy as np

    rows = np.flatnonzero(mask)
    k = min(len(rows), max(1, round(fraction * len(rows)))) if len(rows) else 0
    return np.sort(rng.choice(rows, size=k, replace=False)) if k else rows


def _rng(seed: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(seed)


# ---------------------------------------------------------------- the injectors


def shift_feature(
    log: LogT, feature: str, size: float = 0.5, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Covariate shift: a numeric feature moves by ``size`` of its standard deviation (a categorical one
    has a ``size`` share of its rows moved to its least frequent category)."""
    import numpy as np
    import pandas as pd

    frame, back = _to_frame(log)
    mask = _after(frame, start, roles)
    column = frame[feature]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.astype(np.float64)
        step = size * float(np.nanstd(values)) or size
        frame[feature] = values.where(~mask, values + step)
    else:
        rarest = column.value_counts().index[-1]
        rows = _pick(mask & column.notna().to_numpy(), size, _rng(seed))
        frame.loc[frame.index[rows], feature] = rarest
    return back(frame)


def null_burst(
    log: LogT, feature: str, size: float = 0.3, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A pipeline drops a feature: a ``size`` share of the rows after ``start`` have it null."""
    import numpy as np

    frame, back = _to_frame(log)
    rows = _pick(_after(frame, start, roles), size, _rng(seed))
    if frame[feature].dtype.kind in "iub":  # ints and booleans cannot hold a null in numpy
        frame[feature] = frame[feature].astype("float64" if frame[feature].dtype.kind != "b" else object)
    frame.loc[frame.index[rows], feature] = np.nan if frame[feature].dtype.kind == "f" else None
    return back(frame)


def unseen_categories(
    log: LogT, feature: str, size: float = 0.2, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """New values of a categorical feature: a ``size`` share of the rows get one of five never-seen categories."""
    frame, back = _to_frame(log)
    rng = _rng(seed)
    rows = _pick(_after(frame, start, roles), size, rng)
    novel = [f"unseen_{k}" for k in range(5)]
    frame[feature] = frame[feature].astype(object)
    frame.loc[frame.index[rows], feature] = [novel[k] for k in rng.integers(0, len(novel), len(rows))]
    return back(frame)


def out_of_range(
    log: LogT, feature: str, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A unit change upstream: a ``size`` share of a numeric feature's values land far above its range
    (max + 10 x (max - min), or 1,000 x the value for a constant column)."""
    import numpy as np

    frame, back = _to_frame(log)
    rows = _pick(_after(frame, start, roles) & frame[feature].notna().to_numpy(), size, _rng(seed))
    values = frame[feature].astype(np.float64)
    low, high = float(values.min()), float(values.max())
    far = high + 10.0 * (high - low) if high > low else abs(high) * 1000.0 + 1000.0
    values.iloc[rows] = far
    frame[feature] = values
    return back(frame)


def nan_predictions(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """The model returns NaN on a ``size`` share of the rows (a numeric prediction column)."""
    import numpy as np

    frame, back = _to_frame(log)
    rows = _pick(_after(frame, start, roles), size, _rng(seed))
    values = frame[roles.prediction].astype(np.float64)
    values.iloc[rows] = np.nan
    frame[roles.prediction] = values
    return back(frame)


def constant_predictions(
    log: LogT, size: float = 1.0, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A model stuck on one output: a ``size`` share of the rows (all by default) get the most common prediction."""
    frame, back = _to_frame(log)
    rows = _pick(_after(frame, start, roles), size, _rng(seed))
    column = frame[roles.prediction]
    frame.loc[frame.index[rows], roles.prediction] = column.mode().iloc[0]
    return back(frame)


def out_of_unit_predictions(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Raw scores leak instead of probabilities: a ``size`` share of the rows get a logit-like 1.2-6."""
    import numpy as np

    frame, back = _to_frame(log)
    rng = _rng(seed)
    rows = _pick(_after(frame, start, roles), size, rng)
    values = frame[roles.prediction].astype(np.float64)
    values.iloc[rows] = rng.uniform(1.2, 6.0, len(rows))
    frame[roles.prediction] = values
    return back(frame)


def label_flip(
    log: LogT, size: float = 0.4, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Concept change: the label moves away from what the model learned on a ``size`` share of the rows.

    A class label becomes another class seen in the log (a binary 0/1 is
    flipped); a numeric (regression) label moves by twice its standard
    deviation, alternately up and down.
    """
    import numpy as np
    import pandas as pd

    frame, back = _to_frame(log)
    rng = _rng(seed)
    column = frame[roles.label]
    rows = _pick(_after(frame, start, roles) & column.notna().to_numpy(), size, rng)
    classes = pd.unique(column.dropna())
    if pd.api.types.is_float_dtype(column) and len(classes) > 20:
        values = column.astype(np.float64)
        signs = np.where(np.arange(len(rows)) % 2 == 0, 1.0, -1.0)
        values.iloc[rows] = values.iloc[rows].to_numpy() + 2.0 * float(values.std()) * signs
        frame[roles.label] = values
        return back(frame)
    classes = np.sort(classes)
    position = np.searchsorted(classes, column.iloc[rows].to_numpy())
    shift = rng.integers(1, len(classes), len(rows)) if len(classes) > 1 else np.zeros(len(rows), dtype=np.int64)
    frame.loc[frame.index[rows], roles.label] = classes[(position + shift) % len(classes)]
    return back(frame)


def latency_spike(
    log: LogT, size: float = 5.0, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A slow dependency: every latency after ``start`` is ``size`` times longer."""
    import numpy as np

    frame, back = _to_frame(log)
    mask = _after(frame, start, roles)
    values = frame[roles.latency].astype(np.float64)
    frame[roles.latency] = values.where(~mask, values * size)
    return back(frame)


def traffic_gap(
    log: LogT, size: float = 0.25, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """An outage: no rows from ``start`` (the middle of the log by default) for a ``size`` share of the log's span."""
    import pandas as pd

    frame, back = _to_frame(log)
    times = pd.to_datetime(frame[roles.timestamp], utc=True)
    first, last = times.min(), times.max()
    begin = first + (last - first) / 2 if start is None else pd.Timestamp(start)
    begin = begin.tz_localize("UTC") if begin.tzinfo is None else begin
    end = begin + (last - first) * size
    return back(frame[~((times >= begin) & (times < end)).to_numpy()])


def duplicated_ids(
    log: LogT, size: float = 0.05, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A retrying client: a ``size`` share of the rows after ``start`` repeat another row's id."""
    frame, back = _to_frame(log)
    rng = _rng(seed)
    rows = _pick(_after(frame, start, roles), size, rng)
    donors = rng.integers(0, len(frame), len(rows))
    frame.loc[frame.index[rows], roles.id] = frame[roles.id].iloc[donors].to_numpy()
    return back(frame)


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
    frame, back = _to_frame(log)
    group = frame[segment].value_counts().index[0] if value is None else value
    inside = (frame[segment] == group).to_numpy() & _after(frame, start, roles)
    flipped = label_flip(frame[inside].reset_index(drop=True), size=size, seed=seed, roles=roles)
    frame.loc[inside, roles.label] = flipped[roles.label].to_numpy()
    return back(frame)


def proxy_drop(
    log: LogT, column: str, size: float = 0.5, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """Engagement falls before labels arrive: a proxy column (clicks, purchases, revenue) is zeroed on a
    ``size`` share of the rows after ``start``."""
    frame, back = _to_frame(log)
    rows = _pick(_after(frame, start, roles), size, _rng(seed))
    frame.loc[frame.index[rows], column] = 0 if frame[column].dtype.kind != "b" else False
    return back(frame)


def ranking_degradation(
    log: LogT, size: float = 0.8, start: dt.datetime | None = None, seed: int = 0, roles: Roles = DEFAULT_ROLES
) -> LogT:
    """A bad ranker: in a ``size`` share of the queries after ``start``, the order is reversed within the
    query (the scores, and the positions when the log has them), so the worst results come first."""
    import numpy as np

    if roles.query is None:
        raise ValueError("ranking_degradation needs the query column (roles.query)")
    frame, back = _to_frame(log)
    rng = _rng(seed)
    mask = _after(frame, start, roles)
    queries = frame.loc[mask, roles.query].unique()
    chosen = set(rng.choice(queries, size=round(size * len(queries)), replace=False).tolist()) if len(queries) else set()
    hit = frame[roles.query].isin(chosen).to_numpy() & mask
    scores = frame[roles.prediction].astype(np.float64)
    by_query = scores[hit].groupby(frame.loc[hit, roles.query])
    # reflect each score inside its query's range: the order within the query is reversed
    frame.loc[hit, roles.prediction] = (by_query.transform("max") + by_query.transform("min") - scores[hit]).to_numpy()
    if roles.position is not None:
        position = frame[roles.position]
        by_position = position[hit].groupby(frame.loc[hit, roles.query])
        reflected = by_position.transform("max") + by_position.transform("min") - position[hit]
        frame.loc[hit, roles.position] = reflected.to_numpy().astype(position.dtype)
    return back(frame)


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
