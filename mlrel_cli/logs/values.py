"""Arrow columns as numpy arrays: numbers as float64 (NaN for nulls), times as UTC microseconds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import LogError, first_line


def to_numpy_float(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Numeric values as float64 with NaN for nulls (ints, decimals and bools included)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_floating(array.type) or array.type != pa.float64():
        array = pc.cast(array, pa.float64())
    return array.to_numpy(zero_copy_only=False)


def to_timestamps_us(array: pa.ChunkedArray, where: str) -> np.ndarray:
    """UTC microseconds since the epoch as int64, nulls dropped.

    Timestamps without a zone are taken as UTC; ISO-8601 strings are parsed,
    with or without a zone offset.
    """
    dtype = array.type
    try:
        if pa.types.is_timestamp(dtype):
            # nanoseconds (what pandas writes) are truncated to the microsecond: no check needs finer
            converted = pc.cast(array, pa.timestamp("us", tz=dtype.tz), safe=dtype.unit != "ns") if dtype.unit != "us" else array
        elif pa.types.is_date(dtype):
            converted = pc.cast(array, pa.timestamp("us"))
        elif pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            converted = iso_strings_as_utc(array)
        else:
            raise LogError(f"timestamp column has type {dtype}; expected a timestamp or ISO-8601 strings", where)
    except pa.ArrowInvalid as exc:
        raise LogError(
            f"timestamp column holds a value that is not an ISO-8601 time such as 2026-11-23T10:00:00Z: {first_line(exc)}",
            where,
        ) from None
    values = pc.drop_null(converted)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    return values.cast(pa.int64()).to_numpy(zero_copy_only=False)


ZONE_SUFFIX = r"[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"  # a time of day, then its zone


def iso_strings_as_utc(array: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO-8601 strings as UTC times, zoned or not, mixed in one column: no zone means UTC (docs/validate.md).

    pyarrow parses a column only if all its strings carry a zone or none does, so the zone-less ones of a mixed
    column get an explicit ``+00:00`` first (vectorised: one regex match, one join)."""
    try:
        return _parse_utc(array, "UTC")
    except pa.ArrowInvalid:
        pass
    try:
        return pc.cast(_parse_utc(array, None), pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        pass
    zoned = pc.match_substring_regex(array, ZONE_SUFFIX)
    # the suffix and separator in the column's own string type: pandas writes large_string
    utc, no_separator = pa.scalar("+00:00", array.type), pa.scalar("", array.type)
    explicit = pc.if_else(zoned, array, pc.binary_join_element_wise(array, utc, no_separator))
    return _parse_utc(explicit, "UTC")


def _parse_utc(array: pa.ChunkedArray, tz: str | None) -> pa.ChunkedArray:
    """ISO strings as microseconds; nine fractional digits (pandas' str of a time) truncated like a ns column."""
    try:
        return pc.cast(array, pa.timestamp("us", tz=tz))
    except pa.ArrowInvalid as exc:
        try:
            return pc.cast(pc.cast(array, pa.timestamp("ns", tz=tz)), pa.timestamp("us", tz=tz), safe=False)
        except pa.ArrowInvalid:
            raise exc from None


def timestamps_keeping_rows(array: pa.ChunkedArray, where: str) -> np.ndarray:
    """Like to_timestamps_us but keeps row positions: nulls become -1."""
    valid = array.is_valid().to_numpy(zero_copy_only=False) if len(array) else np.zeros(0, dtype=bool)
    values = np.full(len(array), -1, dtype=np.int64)
    values[valid] = to_timestamps_us(array, where)
    return values
