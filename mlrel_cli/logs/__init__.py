"""Opening Parquet prediction logs: files, directories, globs, local or URIs.

A log is opened from its Parquet footers only (schema and row counts), so a
bad policy or a missing column is reported before any data is read. Data is
then read one column (or a few) at a time with projection, so memory is
bounded by what one check needs, not by the file. What a log's columns mean is
in the modules beside this one: ``roles`` (which column plays which role),
``values`` (columns as numbers and times), ``labels`` (a late-labels file
joined on the id), ``task`` (the task inferred from the values); ``paths`` lists
the files a path names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pyarrow.dataset as ds

from mlrel_cli.errors import LogError, first_line
from mlrel_cli.logs.paths import local_files, remote_files


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
                f"cannot read column(s) {', '.join(columns)} of the {self.label}: {first_line(exc)}", self._broken_file(columns)
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
        raise LogError(f"cannot open the filesystem of this URI: {first_line(exc)}", location) from None


def open_input(location: str):
    """A readable binary stream for a local path or a URI."""
    fs, path = filesystem_of(location)
    return open(path, "rb") if fs is None else fs.open_input_stream(path)


def open_log(path: str | os.PathLike[str], label: str = "log", allow_empty: bool = False) -> Log:
    """Open a Parquet file, a directory of them (hive partitions allowed) or a glob; paths or URIs."""
    text = str(path)
    fs, root = filesystem_of(text)
    if fs is None:
        files, base_dir = local_files(root, label)
    else:
        files, base_dir = remote_files(fs, root, text, label)
    schemas = []
    num_rows = 0
    row_groups = 0
    for file in files:
        try:
            meta = pq.read_metadata(file, filesystem=fs)
            schemas.append(meta.schema.to_arrow_schema())
        except (pa.ArrowException, OSError) as exc:
            raise LogError(f"{label} is not a readable Parquet file: {first_line(exc)}", file) from None
        twice = sorted({name for name in schemas[-1].names if schemas[-1].names.count(name) > 1})
        if twice:
            raise LogError(f"{label} has more than one column named {', '.join(repr(n) for n in twice)}", file)
        num_rows += meta.num_rows
        row_groups += meta.num_row_groups
    try:
        file_schema = pa.unify_schemas(schemas)
    except (pa.ArrowException, TypeError) as exc:
        raise LogError(f"the {label}'s files disagree on their columns: {first_line(exc)}", text) from None
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
            raise LogError(f"cannot open the {label}: {first_line(exc)}", text) from None
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
