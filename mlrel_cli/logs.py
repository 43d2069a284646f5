"""Opening Parquet prediction logs: files, directories, globs; column roles; labels.

A log is opened from its Parquet footers only (schema and row counts), so a
bad policy or a missing column is reported before any data is read. Data is
then read one column (or a few) at a time with projection, so memory is
bounded by what one check needs, not by the file.
"""

from __future__ import annotations

import fnmatch
import glob as globlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pyarrow.dataset as ds

from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.files import require_regular_file
from mlrel_cli.policy import Policy
from mlrel_cli.stats.names import BINARY, MULTICLASS, REGRESSION

# a string column with more distinct values than this, and mostly distinct, is free text or an id
TEXT_MIN_DISTINCT = 1000
TEXT_DISTINCT_RATIO = 0.5


@dataclass(frozen=True)
class Log:
    """A set of Parquet files read as one table, known by its footers until a column is asked for."""

    label: str
    path: str
    files: tuple[str, ...]
    schema: pa.Schema
    num_rows: int
    row_groups: int
    partition_columns: frozenset[str]
    dataset: ds.Dataset = field(repr=False, compare=False)

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def has(self, name: str | None) -> bool:
        return name is not None and name in self.schema.names

    def read(self, columns: list[str]) -> pa.Table:
        """Read only these columns; a corrupt page is reported with the log and columns named."""
        try:
            if isinstance(self.dataset, LazyDataset) and self.dataset.single_file is not None:
                return self.dataset.read_file(columns)
            return self.dataset.to_table(columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise LogError(
                f"cannot read column(s) {', '.join(columns)} of the {self.label}: {_first_line(exc)}", self._broken_file(columns)
            ) from None

    def _broken_file(self, columns: list[str]) -> str:
        """Which of the files fails to read (pyarrow does not say): each is read again, on this error path only."""
        if len(self.files) > 1:
            for file, fragment in zip(self.files, self.dataset.get_fragments(), strict=False):
                try:
                    fragment.to_table(columns=[c for c in columns if c not in self.partition_columns])
                except (pa.ArrowException, OSError):
                    return file
        return self.path

    def column(self, name: str) -> pa.ChunkedArray:
        return self.read([name]).column(0)


class LazyDataset:
    """A pyarrow Dataset built on first use. Importing pyarrow.dataset imports pandas (a quarter of a drift run's
    start-up), and a log of one file without partitions needs neither: it is read with pyarrow.parquet."""

    def __init__(self, build: Callable[[], ds.Dataset], single_file: tuple[pafs.FileSystem | None, str] | None = None):
        self._build = build
        self._dataset: ds.Dataset | None = None
        self.single_file = single_file

    def read_file(self, columns: list[str]) -> pa.Table:
        assert self.single_file is not None
        fs, path = self.single_file
        return pq.ParquetFile(path, filesystem=fs).read(columns=columns).select(columns)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._dataset is None:
            self._dataset = self._build()
        return getattr(self._dataset, name)


def filesystem_of(location: str) -> tuple[pafs.FileSystem | None, str]:
    """A URI's filesystem and path (``s3://``, ``gs://``, ``hdfs://`` through pyarrow); None for a local path."""
    if location.startswith("file://"):
        return None, location.removeprefix("file://")
    if "://" not in location:
        return None, location
    try:
        return pafs.FileSystem.from_uri(location)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LogError(f"cannot open the filesystem of this URI: {_first_line(exc)}", location) from None


def open_input(location: str):
    """A readable binary stream for a local path or a URI."""
    fs, path = filesystem_of(location)
    return open(path, "rb") if fs is None else fs.open_input_stream(path)


def open_log(path: str | os.PathLike[str], label: str = "log", allow_empty: bool = False) -> Log:
    """Open a Parquet file, a directory of them (hive partitions allowed) or a glob; paths or URIs."""
    text = str(path)
    fs, root = filesystem_of(text)
    if fs is None:
        files, base_dir = _expand(root, label)
    else:
        files, base_dir = _expand_remote(fs, root, text, label)
    schemas = []
    num_rows = 0
    row_groups = 0
    for file in files:
        try:
            meta = pq.read_metadata(file, filesystem=fs)
            schemas.append(meta.schema.to_arrow_schema())
        except (pa.ArrowException, OSError) as exc:
            raise LogError(f"{label} is not a readable Parquet file: {_first_line(exc)}", file) from None
        twice = sorted({name for name in schemas[-1].names if schemas[-1].names.count(name) > 1})
        if twice:
            raise LogError(f"{label} has more than one column named {', '.join(repr(n) for n in twice)}", file)
        num_rows += meta.num_rows
        row_groups += meta.num_row_groups
    try:
        file_schema = pa.unify_schemas(schemas)
    except (pa.ArrowException, TypeError) as exc:
        raise LogError(f"the {label}'s files disagree on their columns: {_first_line(exc)}", text) from None
    partition_fields: list[pa.Field] = []
    if base_dir is None and len(files) == 1:  # one file: no partitions, read without pyarrow.dataset (no pandas)
        schema = file_schema
        dataset: Any = LazyDataset(lambda: _dataset(files, schema, None, fs), (fs, files[0]))
    else:
        try:
            import pyarrow.dataset as ds

            partitioning = ds.HivePartitioning.discover(infer_dictionary=False) if base_dir else None
            found = ds.dataset(
                list(files), format="parquet", partitioning=partitioning, partition_base_dir=base_dir, filesystem=fs
            )
            partition_fields = [f for f in found.schema if f.name not in file_schema.names]
            schema = pa.schema([*file_schema, *partition_fields])
            dataset = _dataset(files, schema, base_dir, fs)
        except (pa.ArrowException, OSError) as exc:
            raise LogError(f"cannot open the {label}: {_first_line(exc)}", text) from None
    if num_rows == 0 and not allow_empty:
        raise LogError(f"{label} is empty (0 rows)", text)
    scheme = text.split("://", 1)[0] + "://" if fs is not None else ""
    query = "?" + text.split("?", 1)[1] if fs is not None and "?" in text else ""  # endpoint_override=... and the like
    return Log(
        label=label,
        path=text,
        files=tuple(scheme + f + query for f in files),  # URIs again, so a worker or a checksum can open them
        schema=schema,
        num_rows=num_rows,
        row_groups=row_groups,
        partition_columns=frozenset(f.name for f in partition_fields),
        dataset=dataset,
    )


def _dataset(files: list[str], schema: pa.Schema, base_dir: str | None, fs: pafs.FileSystem | None) -> ds.Dataset:
    import pyarrow.dataset as ds

    partitioning = ds.HivePartitioning.discover(infer_dictionary=False) if base_dir else None
    return ds.dataset(
        list(files), schema=schema, format="parquet", partitioning=partitioning, partition_base_dir=base_dir, filesystem=fs
    )


def _expand(text: str, label: str) -> tuple[list[str], str | None]:
    """The Parquet files a path names, and the directory hive partitions start from."""
    if any(ch in text for ch in "*?["):
        files = sorted(f for f in globlib.glob(text, recursive=True) if os.path.isfile(f))
        if not files:
            raise LogError(f"no {label} files match the pattern", text)
        prefix = text[: min(text.index(ch) for ch in "*?[" if ch in text)]
        base = os.path.dirname(prefix) or "."
        return files, base
    path = Path(text)
    if not path.exists():
        raise LogError(f"{label} not found", text)
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
            and p.suffix in (".parquet", ".parq", ".pq", "")
        )
        if not files:
            raise LogError(f"{label} directory holds no Parquet files", text)
        return files, str(path)
    require_regular_file(path, label, LogError)  # a FIFO blocks pyarrow's read for a writer that never comes
    return [str(path)], None


def _expand_remote(fs: pafs.FileSystem, root: str, text: str, label: str) -> tuple[list[str], str | None]:
    if any(ch in root for ch in "*?["):
        return _glob_remote(fs, root, text, label)
    try:
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise LogError(f"{label} not found", text)
        if info.type == pafs.FileType.File:
            return [root], None
        entries = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"cannot list the {label}: {_first_line(exc)}", text) from None
    prefix = root.rstrip("/") + "/"
    files = sorted(
        e.path
        for e in entries
        if e.type == pafs.FileType.File
        and not any(part.startswith((".", "_")) for part in e.path.removeprefix(prefix).split("/"))
        and (e.path.endswith((".parquet", ".parq", ".pq")) or "." not in e.path.rsplit("/", 1)[-1])
    )
    if not files:
        raise LogError(f"{label} directory holds no Parquet files", text)
    return files, root


def _glob_remote(fs: pafs.FileSystem, pattern: str, text: str, label: str) -> tuple[list[str], str | None]:
    """A glob on an object store (``s3://bucket/date=*/part-*.parquet``): the keys under the pattern's fixed
    prefix are listed once, then matched segment by segment, ``*`` not crossing a ``/``, as a local glob."""
    base = pattern[: min(pattern.index(ch) for ch in "*?[" if ch in pattern)].rpartition("/")[0]
    try:
        entries = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except (pa.ArrowException, OSError) as exc:
        raise LogError(f"cannot list the {label}: {_first_line(exc)}", text) from None
    wanted = pattern.split("/")
    files = sorted(e.path for e in entries if e.type == pafs.FileType.File and _glob_match(e.path.split("/"), wanted))
    if not files:
        raise LogError(f"no {label} files match the pattern", text)
    return files, base


def _glob_match(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":  # any number of folders, as glob's recursive=True
        return any(_glob_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_match(parts[1:], pattern[1:])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------- roles


@dataclass(frozen=True)
class Roles:
    """Which column of this log plays which role; ``None`` where the log has no such column."""

    timestamp: str | None
    id: str | None
    model_version: str | None
    prediction: str
    label: str | None
    latency: str | None
    features: dict[str, str]  # name -> kind (numeric, categorical, text)
    segments: tuple[str, ...]
    skipped: dict[str, str]  # column -> why it is not treated as a feature

    @property
    def role_columns(self) -> set[str]:
        return {c for c in (self.timestamp, self.id, self.model_version, self.prediction, self.label, self.latency) if c}


def resolve_roles(log: Log, policy: Policy, label_from_labels_file: bool = False) -> Roles:
    """Map the policy's roles onto this log; a column the policy names but the log lacks is an error, except the
    label's when no column has a near name (labels arrive late: the checks that need them say they are missing)."""
    names = set(log.column_names)
    source = lambda key: policy.source_of(key)  # noqa: E731

    for role, column in policy.explicit_columns().items():
        if role in ("label_timestamp", "query", "position"):
            continue
        if role == "label" and label_from_labels_file:
            continue
        if role == "label" and column not in names and not _suggest_column(column, names):
            continue  # labels not arrived yet: the checks that need them say so (a near name is a typo: refused)
        if column not in names:
            raise PolicyError(
                f"columns.{role}: column '{column}' is not in the {log.label}{_suggest_column(column, names)}",
                source(f"columns.{role}"),
            )
    cols = policy.columns
    if cols.prediction not in names:
        others = names - {cols.timestamp, cols.id, cols.model_version, cols.label, cols.latency, cols.label_timestamp}
        raise LogError(
            f"the {log.label} has no prediction column '{cols.prediction}'{_suggest_column(cols.prediction, others)}"
            " (set columns.prediction in the policy)",
            log.path,
        )

    def present(name: str | None) -> str | None:
        return name if name is not None and name in names else None

    roles = {
        "timestamp": present(cols.timestamp),
        "id": present(cols.id),
        "model_version": present(cols.model_version),
        "prediction": cols.prediction,
        "label": present(cols.label),
        "latency": present(cols.latency),
    }
    for role, name in roles.items():
        if name is not None:
            _refuse_nested(log, f"columns.{role}", name, source(f"columns.{role}"))
    taken = {c for c in roles.values() if c} | {cols.label_timestamp}
    taken |= {c for c in (cols.query, cols.position) if c}

    for i, segment in enumerate(policy.segments):
        if segment not in names:
            raise PolicyError(
                f"segments[{i}]: column '{segment}' is not in the {log.label}{_suggest_column(segment, names)}",
                source("segments"),
            )
        _refuse_nested(log, f"segments[{i}]", segment, source("segments"))
    fairness = policy.validate_.fairness.segment
    if fairness and fairness not in names:
        raise PolicyError(
            f"validate.fairness.segment: column '{fairness}' is not in the {log.label}{_suggest_column(fairness, names)}",
            source("validate.fairness.segment"),
        )
    if fairness:
        _refuse_nested(log, "validate.fairness.segment", fairness, source("validate.fairness.segment"))

    features: dict[str, str] = {}
    skipped: dict[str, str] = {}
    if policy.features is not None:
        for name, spec in policy.features.items():
            if name not in names:
                raise PolicyError(
                    f"features.{name}: column '{name}' is not in the {log.label}{_suggest_column(name, names)}",
                    source(f"features.{name}"),
                )
            _refuse_nested(log, f"features.{name}", name, source(f"features.{name}"))
            kind = spec.kind or kind_of_type(log.schema.field(name).type)
            if kind is None:
                raise PolicyError(
                    f"features.{name}: column type {log.schema.field(name).type} is neither numeric nor categorical (set kind)",
                    source(f"features.{name}"),
                )
            features[name] = kind
    else:
        ignored = set(policy.ignore)
        for f in log.schema:
            if f.name in taken or f.name in ignored:
                continue
            if f.name in log.partition_columns:
                skipped[f.name] = "hive partition column"
                continue
            kind = kind_of_type(f.type)
            if kind is None:
                skipped[f.name] = f"type {f.type} is not checked"
                continue
            features[f.name] = kind
    return Roles(
        timestamp=roles["timestamp"],
        id=roles["id"],
        model_version=roles["model_version"],
        prediction=cols.prediction,
        label=roles["label"],
        latency=roles["latency"],
        segments=tuple(policy.segments),
        features=features,
        skipped=skipped,
    )


def check_critical_columns(policy: Policy, roles: Roles, log: Log) -> None:
    """A critical feature the log lacks (or does not compare) would turn the drift gate off without a word."""
    compared = {*roles.features, roles.prediction, roles.label or policy.columns.label}
    for i, name in enumerate(policy.drift.critical):
        if name in compared:
            continue
        if name in roles.skipped:
            why = f"'{name}' is not compared: {roles.skipped[name]}"
        elif log.has(name):
            why = f"'{name}' is not a feature (it is ignored or plays another role)"
        else:
            why = f"column '{name}' is not in the {log.label}{_suggest_column(name, set(log.column_names))}"
        raise PolicyError(f"drift.critical[{i}]: {why}", policy.source_of("drift.critical"))


def _refuse_nested(log: Log, key: str, name: str, where: str) -> None:
    """A list, struct or map column holds many values per row: no check reads it, and pyarrow's casts fail on it."""
    dtype = log.schema.field(name).type
    if pa.types.is_nested(dtype):
        raise PolicyError(
            f"{key}: column '{name}' of the {log.label} has type {dtype}, which holds several values per row;"
            " name a column of numbers, strings, booleans or times",
            where if where != "default" else log.path,
        )


def _suggest_column(name: str, names: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def kind_of_type(dtype: pa.DataType) -> str | None:
    """numeric or categorical from the Arrow type; None for types no check reads (timestamps, lists)."""
    if pa.types.is_dictionary(dtype):
        return "categorical"
    if pa.types.is_boolean(dtype) or pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "categorical"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    return None


def is_text_like(n_distinct: int, n_valid: int) -> bool:
    """Mostly distinct strings (ids, free text) are not categories: every value would be 'unseen'."""
    return n_distinct > TEXT_MIN_DISTINCT and n_distinct > TEXT_DISTINCT_RATIO * max(n_valid, 1)


# ---------------------------------------------------------------- values


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
            converted = _iso_strings_as_utc(array)
        else:
            raise LogError(f"timestamp column has type {dtype}; expected a timestamp or ISO-8601 strings", where)
    except pa.ArrowInvalid as exc:
        raise LogError(
            f"timestamp column holds a value that is not an ISO-8601 time such as 2026-11-23T10:00:00Z: {_first_line(exc)}",
            where,
        ) from None
    values = pc.drop_null(converted)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    return values.cast(pa.int64()).to_numpy(zero_copy_only=False)


ZONE_SUFFIX = r"[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"  # a time of day, then its zone


def _iso_strings_as_utc(array: pa.ChunkedArray) -> pa.ChunkedArray:
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


# ---------------------------------------------------------------- labels


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
                f"labels file has no {role} column '{name}'{_suggest_column(name, set(labels.column_names))}",
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


def timestamps_keeping_rows(array: pa.ChunkedArray, where: str) -> np.ndarray:
    """Like to_timestamps_us but keeps row positions: nulls become -1."""
    valid = array.is_valid().to_numpy(zero_copy_only=False) if len(array) else np.zeros(0, dtype=bool)
    values = np.full(len(array), -1, dtype=np.int64)
    values[valid] = to_timestamps_us(array, where)
    return values


# ---------------------------------------------------------------- task type


def _distinct(values: pa.Array | pa.ChunkedArray) -> int:
    """Distinct non-null values; pc.count_distinct has no kernel for dictionary columns (pandas' category)."""
    return len(pc.drop_null(pc.unique(values)))


def infer_task(prediction: pa.ChunkedArray, label: pa.Array | pa.ChunkedArray | None) -> str:
    """binary, multiclass or regression from the prediction (and label) values; see docs/policy.md."""
    ptype = prediction.type
    if kind_of_type(ptype) == "categorical":
        return MULTICLASS if _distinct(prediction) > 2 or label is None else BINARY
    values = to_numpy_float(prediction)
    values = values[np.isfinite(values)]
    if label is not None and len(label) - label.null_count > 0:
        label_kind = kind_of_type(label.type)
        if label_kind == "categorical" and not pa.types.is_boolean(label.type):
            # a probability against two label values ('yes' / 'no') is a binary classifier
            two_values = _distinct(pc.drop_null(label)) <= 2
            is_probability = len(values) > 0 and values.min() >= 0.0 and values.max() <= 1.0
            return BINARY if two_values and is_probability else MULTICLASS
        distinct = pc.unique(pc.drop_null(label))
        distinct = distinct.combine_chunks() if isinstance(distinct, pa.ChunkedArray) else distinct
        label_values = set(distinct.to_pylist()) if len(distinct) <= 50 else None
        if label_values is not None and label_values <= {0, 1}:
            return BINARY
        if label_values is not None and all(float(v).is_integer() for v in label_values if v is not None):
            integral_pred = len(values) > 0 and np.all(np.equal(np.mod(values, 1), 0))
            return MULTICLASS if integral_pred else REGRESSION
        return REGRESSION
    if len(values) and values.min() >= 0.0 and values.max() <= 1.0:
        return BINARY
    return REGRESSION
