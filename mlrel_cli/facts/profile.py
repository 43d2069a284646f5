"""Reference profiles: the summaries a reference log contributes to drift, kept in one Parquet file.

A reference changes once per model release while drift runs every few
minutes; a profile summarises it once. The file is plain Parquet (readable
with pyarrow, pandas or DuckDB, never pickle): one row per profiled column
(its distribution summary, category counts, missing counts, range and
distinct count), and key-value metadata ``mlrel.profile`` (JSON: schema
version, mode, row count, time span, source files with sha256, the policy's
column mapping and its hash, mlrel's version, the inferred task) and
``mlrel.log_schema`` (the log's Arrow schema, so the policy's roles resolve
against a profile exactly as against the log). docs/profiles.md.

The summaries are drift's own (facts.distributions.summarise_column): ``exact``
keeps the sorted finite values, so scores equal the raw-reference run's;
``sketch`` (the default) keeps a QuantileSketch of SKETCH_POINTS points, as
the Dask engine does, within its documented rank error.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.errors import LogError
from mlrel_cli.logs import filesystem_of
from mlrel_cli.policy import Policy
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary, TooManyCategories

SCHEMA_VERSION = 2  # 2: the reference's proxy-metric sums (meta "proxy"); 1 had none
META_KEY = b"mlrel.profile"
SCHEMA_KEY = b"mlrel.log_schema"

ROW_SCHEMA = pa.schema(
    [
        ("column", pa.string()),
        ("role", pa.string()),  # feature, prediction, label
        ("type", pa.string()),  # the log's Arrow type, as text
        ("kind", pa.string()),  # numeric, categorical
        ("rows", pa.int64()),
        ("present", pa.int64()),  # non-null values
        ("distinct", pa.int64()),  # distinct non-null values; null for a numeric feature (not counted)
        ("values", pa.list_(pa.float64())),  # exact: sorted finite values; sketch: the points
        ("value_rows", pa.int64()),  # finite values they stand for
        ("missing", pa.int64()),  # null or NaN (numeric)
        ("infinite", pa.int64()),
        ("sum", pa.float64()),
        ("sum_sq", pa.float64()),
        ("low", pa.float64()),  # finite extremes
        ("high", pa.float64()),
        ("extreme_low", pa.float64()),  # extremes with infinities, as validate's ranges take them
        ("extreme_high", pa.float64()),
        ("categories", pa.list_(pa.string())),  # as drift counts them: values as text
        ("counts", pa.list_(pa.int64())),
        ("category_missing", pa.int64()),
        ("too_many_categories", pa.bool_()),
        ("cells", pa.list_(pa.float64())),  # labelled cells (prediction and label both present), numeric
        ("cells_text", pa.list_(pa.string())),  # or as text
        ("noise_keys", pa.list_(pa.string())),  # the null draws drift's noise line is read from (stats/drift.null_scores)
        ("noise", pa.list_(pa.float64())),  # NOISE_RESAMPLES scores per key, concatenated
    ]
)


def noise_key(key: tuple[str, int, int, int, int]) -> str:
    return "/".join(str(part) for part in key)  # method/current rows/reference rows/bins/seed


def _noise_of(key: str) -> tuple[str, int, int, int, int]:
    method, n0, big_n0, bins, seed = key.split("/")
    return method, int(n0), int(big_n0), int(bins), int(seed)


@dataclass(frozen=True)
class SketchSummary(NumericSummary):
    """A sketch's points as a summary, with the exact mean and standard deviation from the sketch's exact sums:
    a point stands for rows / m values, so the points' own spread misjudges a heavy tail (Wasserstein's scale)."""

    exact_mean: float = float("nan")
    exact_std: float = float("nan")

    @classmethod
    def of(cls, sketch: QuantileSketch) -> SketchSummary:
        n = sketch.rows
        mean = sketch.total / n if n else float("nan")
        variance = max(sketch.total_sq / n - mean * mean, 0.0) if n else float("nan")
        return cls(sketch.points, sketch.missing, sketch.infinite, sketch.rows, mean, float(np.sqrt(variance)))

    def mean(self) -> float:
        return self.exact_mean

    def std(self) -> float:
        return self.exact_std


@dataclass
class ColumnProfile:
    name: str
    role: str
    type: str
    kind: str
    rows: int
    present: int
    distinct: int | None
    numeric: NumericSummary | None = None
    sketch: QuantileSketch | None = None  # the numeric summary's sums and range (both modes)
    extremes: tuple[float, float] = (float("nan"), float("nan"))
    categorical: CategoricalSummary | TooManyCategories | None = None
    cells: pa.Array | None = None

    def summary(self, kind: str) -> NumericSummary | CategoricalSummary | TooManyCategories:
        wanted = self.numeric if kind == "numeric" else self.categorical
        if wanted is None:
            raise LogError(f"the profile holds no {kind} summary of column '{self.name}' (it was profiled as {self.kind})")
        return wanted


@dataclass
class Profile:
    meta: dict[str, Any]
    log_schema: pa.Schema
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return bool(self.meta["mode"] == "exact")


def relevant_policy(policy: Policy) -> dict[str, Any]:
    """What of the policy decides which summaries a reference gives: the column mapping and the features."""
    features = None if policy.features is None else {name: f.kind for name, f in sorted(policy.features.items())}
    performance = policy.validate_.performance  # how a label is encoded and scored for concept drift
    return {
        "columns": policy.columns.model_dump(),
        "features": features,
        "ignore": sorted(policy.ignore),
        "performance": {
            "decision_threshold": float(performance.decision_threshold),
            "positive_label": performance.positive_label,
        },
    }


def policy_hash(relevant: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def sha256_of(path: str) -> str:
    from mlrel_cli.logs import open_input

    digest = hashlib.sha256()
    with open_input(path) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sample_cells(cells: tuple[pa.Array, pa.Array], size: int, seed: int = 0) -> tuple[pa.Array, pa.Array]:
    """A uniform sample of the labelled rows (their order kept), enough for a bootstrap standard error."""
    n = len(cells[0])
    if n <= size:
        return cells
    rows = pa.array(np.sort(np.random.default_rng(seed).choice(n, size, replace=False)))
    return cells[0].take(rows), cells[1].take(rows)


def mlrel_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlrel")
    except PackageNotFoundError:
        return "unknown"


def iso_from_us(us: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)).isoformat()


# ---------------------------------------------------------------- the file


def write_profile(profile: Profile, path: str) -> None:
    """One row per column (ROW_SCHEMA), the metadata and the log's schema in the footer; written beside the target
    and renamed over it: a failed write leaves no half a file."""
    table = pa.Table.from_pylist([_row(c) for c in profile.columns.values()], schema=ROW_SCHEMA)
    schema_b64 = base64.b64encode(profile.log_schema.serialize().to_pybytes())
    _replace(table.replace_schema_metadata({META_KEY: json.dumps(profile.meta).encode(), SCHEMA_KEY: schema_b64}), path)


def _row(c: ColumnProfile) -> dict[str, Any]:
    """A column's row of the file: what it holds of each summary, null where it holds none."""
    row: dict[str, Any] = {
        "column": c.name,
        "role": c.role,
        "type": c.type,
        "kind": c.kind,
        "rows": c.rows,
        "present": c.present,
        "distinct": c.distinct,
    }
    if c.numeric is not None and c.sketch is not None:
        row.update(
            values=c.numeric.sorted_values,
            value_rows=c.numeric.count,
            missing=c.numeric.missing,
            infinite=c.numeric.infinite,
            sum=c.sketch.total,
            sum_sq=c.sketch.total_sq,
            low=c.sketch.low,
            high=c.sketch.high,
            extreme_low=c.extremes[0],
            extreme_high=c.extremes[1],
        )
    if isinstance(c.categorical, CategoricalSummary):
        row.update(
            categories=[str(v) for v in c.categorical.categories],
            counts=c.categorical.counts,
            category_missing=c.categorical.missing,
            too_many_categories=False,
        )
    elif isinstance(c.categorical, TooManyCategories):
        row.update(category_missing=c.categorical.missing, too_many_categories=True)
    summary = c.numeric if c.numeric is not None else c.categorical
    draws = summary.null_draws if isinstance(summary, (NumericSummary, CategoricalSummary)) else {}
    if draws:
        row["noise_keys"] = [noise_key(key) for key in draws]
        row["noise"] = np.concatenate(list(draws.values()))
    if c.cells is not None:
        numeric = pa.types.is_integer(c.cells.type) or pa.types.is_floating(c.cells.type) or pa.types.is_boolean(c.cells.type)
        row["cells" if numeric else "cells_text"] = pa.compute.cast(c.cells, pa.float64() if numeric else pa.string())
    return row


def _replace(table: pa.Table, path: str) -> None:
    """``table`` written to a temporary file in the target's folder, then renamed over the target."""
    import os
    import tempfile

    import pyarrow.parquet as pq

    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".mlrel-profile-", dir=directory)
    os.close(fd)
    try:
        pq.write_table(table, temporary, compression="zstd")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary name only
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def is_profile(path: str) -> bool:
    """A Parquet file whose footer carries mlrel.profile: told from its content, not its name (a URI too)."""
    import os

    import pyarrow.parquet as pq

    fs, location = filesystem_of(path)
    if fs is None:
        if not os.path.isfile(location):
            return False
        with open(location, "rb") as stream:
            if stream.read(4) != b"PAR1":
                return False
    elif any(ch in location for ch in "*?["):
        return False  # a glob names logs
    try:
        metadata = pq.read_schema(location, filesystem=fs).metadata or {}
    except (pa.ArrowException, OSError, ValueError):
        return False  # a directory of logs, or no Parquet file at all: the log reader says why
    return META_KEY in metadata


def read_profile(path: str) -> Profile:
    """A profile file as written by write_profile, refused (naming the file) when it is not one this mlrel reads."""
    import pyarrow.parquet as pq

    fs, location = filesystem_of(path)
    try:
        table = pq.ParquetFile(location, filesystem=fs).read()  # not read_table: pyarrow.dataset imports pandas
        metadata = table.schema.metadata or {}
        meta = json.loads(metadata[META_KEY])
    except (pa.ArrowException, OSError, KeyError, ValueError) as exc:
        raise LogError(f"not a readable mlrel profile: {exc}", path) from None
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        built = f", built by mlrel {meta['mlrel_version']}," if meta.get("mlrel_version") else ""
        raise LogError(
            f"profile schema_version {version!r}{built} is not supported by this mlrel (it reads version "
            f"{SCHEMA_VERSION}): build the profile again with this mlrel",
            path,
        )
    log_schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(metadata[SCHEMA_KEY])))
    profile = Profile(meta=meta, log_schema=log_schema)
    lists = ("values", "cells", "cells_text", "noise")
    scalars = table.drop_columns(list(lists)).to_pylist()  # the long lists go to numpy, not to Python objects
    arrays = {name: table.column(name).combine_chunks() for name in lists}
    for i, row in enumerate(scalars):
        row.update({name: arrays[name][i].values if arrays[name][i].is_valid else None for name in lists})
        entry = _column(row, meta["mode"] == "exact", log_schema)
        profile.columns[entry.name] = entry
    return profile


def _column(row: dict[str, Any], exact: bool, log_schema: pa.Schema) -> ColumnProfile:
    """A column's row of the file (its lists as Arrow arrays) read back into its summaries."""
    entry = ColumnProfile(row["column"], row["role"], row["type"], row["kind"], row["rows"], row["present"], row["distinct"])
    if row["values"] is not None:
        values = _float_values(row["values"])
        entry.sketch = QuantileSketch(
            values, row["value_rows"], row["missing"], row["infinite"], row["sum"], row["sum_sq"], row["low"], row["high"]
        )
        entry.extremes = (row["extreme_low"], row["extreme_high"])
        entry.numeric = NumericSummary(values, row["missing"], row["infinite"]) if exact else SketchSummary.of(entry.sketch)
    if row["too_many_categories"]:
        entry.categorical = TooManyCategories(row["rows"], row["category_missing"])
    elif row["categories"] is not None:
        entry.categorical = CategoricalSummary.from_counts(row["categories"], np.asarray(row["counts"]), row["category_missing"])
    if row["cells"] is not None:
        log_type = log_schema.field(entry.name).type if entry.name in log_schema.names else None
        castable = log_type is not None and not pa.types.is_dictionary(log_type)
        entry.cells = row["cells"].cast(log_type) if castable else row["cells"]
    elif row["cells_text"] is not None:
        entry.cells = row["cells_text"]
    if row["noise"] is not None and row["noise_keys"]:
        from mlrel_cli.stats.drift import NOISE_RESAMPLES

        scores = _float_values(row["noise"]).reshape(len(row["noise_keys"]), NOISE_RESAMPLES)
        held = entry.numeric if entry.numeric is not None else entry.categorical
        if isinstance(held, (NumericSummary, CategoricalSummary)):  # stats/drift.null_scores reads them there
            held.null_draws.update({_noise_of(k): scores[i] for i, k in enumerate(row["noise_keys"])})
    return entry


def _float_values(array: pa.Array) -> np.ndarray:
    """A float64 list's values as numpy, read from its data buffer: pyarrow's Array.to_numpy imports pandas (to
    check for it), a tenth of a second of a cron run's start. The values hold no null (sorted finite values)."""
    if array.null_count:
        return np.asarray(array.to_pylist(), dtype=np.float64)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=np.float64, count=len(array), offset=array.offset * 8) if len(array) else np.empty(0)
