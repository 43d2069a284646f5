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
from mlrel_cli.facts.columns import NumericFacts
from mlrel_cli.logs import LazyDataset, Log, filesystem_of
from mlrel_cli.policy import Policy
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, NumericSummary, TooManyCategories

SCHEMA_VERSION = 2  # 2: the reference's proxy-metric sums (meta "proxy"); 1 had none
META_KEY = b"mlrel.profile"
SCHEMA_KEY = b"mlrel.log_schema"
FEW_VALUES = 20  # at most this many distinct values: a numeric prediction or label holds classes (drift, profiles)

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
    """Written beside the target and renamed over it: a failed write leaves no half a file."""
    import os
    import tempfile

    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for c in profile.columns.values():
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
            key = "cells" if numeric else "cells_text"
            row[key] = pa.compute.cast(c.cells, pa.float64() if numeric else pa.string())
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
    schema_b64 = base64.b64encode(profile.log_schema.serialize().to_pybytes())
    table = table.replace_schema_metadata({META_KEY: json.dumps(profile.meta).encode(), SCHEMA_KEY: schema_b64})
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

    def listed(name: str, i: int) -> pa.Array | None:
        item = arrays[name][i]
        return None if not item.is_valid else item.values

    for i, row in enumerate(scalars):
        row.update({name: listed(name, i) for name in lists})
        entry = ColumnProfile(row["column"], row["role"], row["type"], row["kind"], row["rows"], row["present"], row["distinct"])
        if row["values"] is not None:
            values = _float_values(row["values"])
            entry.sketch = QuantileSketch(
                values, row["value_rows"], row["missing"], row["infinite"], row["sum"], row["sum_sq"], row["low"], row["high"]
            )
            entry.extremes = (row["extreme_low"], row["extreme_high"])
            if meta["mode"] == "exact":
                entry.numeric = NumericSummary(values, row["missing"], row["infinite"])
            else:
                entry.numeric = SketchSummary.of(entry.sketch)
        if row["too_many_categories"]:
            entry.categorical = TooManyCategories(row["rows"], row["category_missing"])
        elif row["categories"] is not None:
            entry.categorical = CategoricalSummary.from_counts(
                row["categories"], np.asarray(row["counts"]), row["category_missing"]
            )
        if row["cells"] is not None or row["cells_text"] is not None:
            log_type = log_schema.field(entry.name).type if entry.name in log_schema.names else None
            if row["cells"] is not None:
                cells = row["cells"]
                entry.cells = cells.cast(log_type) if log_type is not None and not pa.types.is_dictionary(log_type) else cells
            else:
                entry.cells = row["cells_text"]
        if row["noise"] is not None and row["noise_keys"]:
            from mlrel_cli.stats.drift import NOISE_RESAMPLES

            scores = _float_values(row["noise"]).reshape(len(row["noise_keys"]), NOISE_RESAMPLES)
            held = entry.numeric if entry.numeric is not None else entry.categorical
            if isinstance(held, (NumericSummary, CategoricalSummary)):  # stats/drift.null_scores reads them there
                held.null_draws.update({_noise_of(k): scores[i] for i, k in enumerate(row["noise_keys"])})
        profile.columns[entry.name] = entry
    return profile


def _float_values(array: pa.Array) -> np.ndarray:
    """A float64 list's values as numpy, read from its data buffer: pyarrow's Array.to_numpy imports pandas (to
    check for it), a tenth of a second of a cron run's start. The values hold no null (sorted finite values)."""
    if array.null_count:
        return np.asarray(array.to_pylist(), dtype=np.float64)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=np.float64, count=len(array), offset=array.offset * 8) if len(array) else np.empty(0)


# ---------------------------------------------------------------- a profile in place of a reference log


@dataclass(frozen=True)
class ProfileLog(Log):
    """A profile standing in for the reference: its schema and row count as the log's, no rows."""

    profile: Profile | None = field(default=None, repr=False, compare=False)

    def read(self, columns: list[str]) -> pa.Table:
        raise LogError(
            f"the reference is a profile (summaries, not rows); reading column(s) {', '.join(columns)} needs the "
            "raw reference log",
            self.path,
        )

    def summary(self, name: str, kind: str) -> NumericSummary | CategoricalSummary | TooManyCategories:
        return self.column_profile(name).summary(kind)

    def concept_inputs(self, roles: Any, policy: Policy) -> tuple[str | None, pa.Array | None, pa.Array | None]:
        """The task (the policy's, else the one inferred from the whole reference) and the labelled cells."""
        assert self.profile is not None
        task = policy.task or self.profile.meta.get("task")
        prediction = self.profile.columns.get(roles.prediction)
        label = self.profile.columns.get(policy.columns.label)
        if prediction is None or label is None or prediction.cells is None or label.cells is None:
            return task, None, None
        return task, prediction.cells, label.cells

    def numeric_facts(self, name: str) -> NumericFacts:
        """validate's reference facts of a numeric column: rows, missing count, extremes."""
        c = self.column_profile(name)
        if c.numeric is None:
            raise LogError(f"the profile holds no numeric summary of column '{name}'", self.path)
        return NumericFacts(c.rows, c.numeric.missing, *c.extremes)

    def categorical_counts(self, name: str) -> CategoricalSummary:
        """validate's known categories (as text: validate compares categories as text)."""
        summary = self.column_profile(name).categorical
        if not isinstance(summary, CategoricalSummary):
            raise LogError(f"the profile holds no category counts of column '{name}'", self.path)
        return summary

    def sorted_values(self, name: str) -> np.ndarray:
        """The column's finite values (exact mode) or its sketch's points, for quantile edges."""
        numeric = self.column_profile(name).numeric
        if numeric is None:
            raise LogError(f"the profile holds no numeric summary of column '{name}'", self.path)
        return numeric.sorted_values

    def reference_metric(self, metric: str) -> tuple[float, int] | None:
        """A sketch profile's metric on all the reference's labelled rows, and their count; None when exact."""
        assert self.profile is not None
        labelled = self.profile.meta.get("labelled") or {}
        if labelled.get("metrics") is None:
            return None
        value = labelled["metrics"].get(metric)
        return (float("nan") if value is None else float(value)), int(labelled["rows"])

    def proxy_sums(self, name: str, kind: str, inputs: dict[str, str], per: str) -> dict[str, Any]:
        """The reference's sums of a proxy metric (proxy_sums per request; n, sum, sum2 of the per-query values),
        refused when the profile was built without it or with other inputs."""
        assert self.profile is not None
        stored = (self.profile.meta.get("proxy") or {}).get(name)
        wanted = {"kind": kind, "inputs": dict(inputs), "per": per}
        if stored is None or {key: stored.get(key) for key in wanted} != wanted:
            held = "none" if stored is None else json.dumps({key: stored.get(key) for key in wanted})
            raise LogError(
                f"the profile holds no reference sums of proxy metric '{name}' as the policy defines it "
                f"({json.dumps(wanted)}; the profile: {held}): build the profile again with this policy",
                self.path,
            )
        return dict(stored["sums"])

    def proxy_value(self, policy: Policy, name: str) -> float:
        """A proxy metric's value on the reference, from its stored sums (as the cluster computes it)."""
        from mlrel_cli.facts.proxy import proxy_inputs
        from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

        spec = policy.proxy_metrics[name]
        sums = self.proxy_sums(name, spec.kind, proxy_inputs(policy, self, name), spec.per)
        return float(mean_and_se(sums)[0] if spec.per == "query" else proxy_from_sums(spec.kind, sums)[0])

    # ------------------------------------------------ the engine's questions about the reference, answered here

    def answer(self, columns: list[str], build: Any, seeded: bool = False) -> dict[str, Any]:
        """What ``Engine.reduce(reference, columns, build)`` returns, from the summaries the profile holds: the
        builders it knows by name (drift's summaries, validate's column facts, a sample, distinct values, proxy
        sums); any other step needs the reference's rows and is refused."""
        func = getattr(build, "func", build)
        kwargs = dict(getattr(build, "keywords", {}))
        answers = {
            "drift_summaries": self._drift_summaries,
            "build": self._column_facts,
            "distinct_values": self._distinct_values,
            "proxy_facts": self._proxy_facts,
            "sample_rows": self._sample_rows,
        }
        handler: Any = answers.get(getattr(func, "__name__", ""))
        if handler is None:
            raise self._needs_rows(columns)
        return handler(**kwargs)

    def _needs_rows(self, columns: list[str]) -> LogError:
        return LogError(
            f"the reference is a profile (summaries, not rows): this step over column(s) {', '.join(columns)} needs "
            "the raw reference log",
            self.path,
        )

    def _drift_summaries(self, kinds: dict[str, str], grid: Any = None) -> dict[str, Any]:
        if grid is not None:
            raise self._needs_rows(list(kinds))  # windows cut the current log, never the reference
        out: dict[str, Any] = {}
        for name, kind in kinds.items():
            c = self.column_profile(name)
            summary = c.sketch if kind == "numeric" else c.categorical
            if summary is None:
                c.summary(kind)  # raises, naming what is missing
            out[name] = summary
        return out

    def _column_facts(self, plan: dict[str, tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (builder, column, kwargs) in plan.items():
            if builder == "numeric" and not kwargs:
                out[key] = self.numeric_facts(column)
            elif builder == "categorical":
                out[key] = self.categorical_counts(column)
            else:
                raise self._needs_rows([column])
        return out

    def _distinct_values(self, column: str, limit: int) -> dict[str, Any]:
        from mlrel_cli.facts.merge import DistinctUpTo

        c = self.column_profile(column)
        values = None  # more than ``limit`` distinct values, or none counted
        if c.distinct is not None and c.distinct <= limit and isinstance(c.categorical, CategoricalSummary):
            values = frozenset(c.categorical.categories)
        return {"values": DistinctUpTo(values, limit)}

    def _proxy_facts(self, metrics: dict[str, tuple[str, dict[str, str]]], grid: Any = None) -> dict[str, Any]:
        from mlrel_cli.facts.merge import Sums

        if grid is not None:
            raise self._needs_rows([c for _, inputs in metrics.values() for c in inputs.values()])
        return {f"proxy:{name}": Sums(self.proxy_sums(name, kind, inputs, "request")) for name, (kind, inputs) in metrics.items()}

    def _sample_rows(self, columns: list[str], fraction: float) -> dict[str, Any]:
        """A profile's stand-in for a uniform sample: its labelled cells when the outputs are asked (the task's
        inference), else each numeric column's values at evenly spaced ranks (quantile edges need no row)."""
        from mlrel_cli.facts.merge import TableSample

        assert self.profile is not None
        held = {name: self.column_profile(name) for name in columns}
        if all(c.cells is not None for c in held.values()):
            return {"sample": TableSample(pa.table({name: c.cells for name, c in held.items()}))}
        numeric = {name: c.numeric for name, c in held.items() if c.numeric is not None}
        if len(numeric) == len(held):
            size = min(len(n.sorted_values) for n in numeric.values())
            table = {}
            for name, n in numeric.items():
                values = n.sorted_values
                ranks = ((np.arange(size) + 0.5) * len(values) / max(size, 1)).astype(np.int64)
                table[name] = pa.array(values[np.minimum(ranks, len(values) - 1)] if size else np.empty(0))
            return {"sample": TableSample(pa.table(table))}
        raise self._needs_rows(columns)

    def labelled_summary(self, columns: list[str], prepare: Any, task: str, threshold: float) -> dict[str, Any]:
        """Engine.labelled_summary of the reference: the metrics of every labelled row (a sketch profile's stored
        ones, else computed from the cells, which are then all of them) and the prepared cells as the sample."""
        from mlrel_cli.stats.metrics import metric_value
        from mlrel_cli.stats.names import METRIC_BY_NAME

        assert self.profile is not None
        held = {name: self.column_profile(name) for name in columns}
        if any(c.cells is None for c in held.values()):
            raise self._needs_rows(columns)
        truth, predicted, segments = prepare(pa.table({name: c.cells for name, c in held.items()}))
        if segments:
            raise self._needs_rows(list(segments))
        labelled = self.profile.meta.get("labelled") or {}
        metrics = labelled.get("metrics")
        if metrics is None or self.profile.meta.get("task") != task:
            metrics = {
                name: float(metric_value(task, name, truth, predicted, threshold))
                for name, metric in METRIC_BY_NAME.items()
                if task in metric.tasks
            }
        return {
            "metrics": {name: (float("nan") if value is None else float(value)) for name, value in metrics.items()},
            "rows": int(labelled.get("rows", len(truth))) if labelled.get("metrics") is not None else len(truth),
            "sample": pa.table({"truth": truth, "predicted": predicted}),
            "segments": {},
        }

    def per_query_sums(self, names: list[str], units: Any) -> dict[str, dict[str, float]]:
        """Engine.per_query_sums of the reference, for its per-query proxy metrics (the metrics ``units`` computes)."""
        keywords = getattr(units, "keywords", {})
        metrics = keywords.get("metrics") or keywords.get("proxies") or {}
        out = {}
        for name in names:
            metric = name.removeprefix("proxy:")
            if not name.startswith("proxy:") or metric not in metrics:
                raise self._needs_rows([name])
            kind, inputs = metrics[metric]
            out[name] = self.proxy_sums(metric, kind, inputs, "query")
        return out

    def column_profile(self, name: str) -> ColumnProfile:
        assert self.profile is not None
        if name not in self.profile.columns:
            raise LogError(f"the profile holds no summary of column '{name}' (build it with this policy)", self.path)
        return self.profile.columns[name]


def open_profile(path: str, label: str, policy: Policy) -> ProfileLog:
    """The profile as a reference, refused (exit 2) when built under another column mapping."""
    profile = read_profile(path)
    ours, theirs = relevant_policy(policy), profile.meta["policy"]
    if policy_hash(ours) != profile.meta["policy_hash"]:
        differ = []
        for key in ("columns", "features", "ignore", "performance"):
            a, b = theirs.get(key), ours.get(key)
            if key == "columns" and isinstance(a, dict) and isinstance(b, dict):
                differ += [
                    f"columns.{k}: '{a.get(k)}' in the profile, '{b.get(k)}' in the policy"
                    for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)
                ]
            elif a != b:
                differ.append(f"{key}: {json.dumps(a)} in the profile, {json.dumps(b)} in the policy")
        raise LogError("the profile was built with another policy: " + "; ".join(differ or ["policy hash differs"]), path)

    def empty() -> Any:  # never read: ProfileLog.read refuses
        import pyarrow.dataset as ds

        return ds.dataset(profile.log_schema.empty_table())

    return ProfileLog(
        label=label,
        path=path,
        files=(path,),
        schema=profile.log_schema,
        num_rows=int(profile.meta["rows"]),
        row_groups=0,
        partition_columns=frozenset(),
        dataset=LazyDataset(empty),
        profile=profile,
    )


def open_reference(path: str, label: str, policy: Policy) -> Log:
    """A reference log, or a profile in its place (told from the file's footer)."""
    from mlrel_cli.logs import open_log

    return open_profile(path, label, policy) if is_profile(path) else open_log(path, label)


# ---------------------------------------------------------------- merge and show


def _merge_columns(a: ColumnProfile, b: ColumnProfile, exact: bool) -> ColumnProfile:
    if (a.role, a.kind) != (b.role, b.kind):
        raise LogError(f"column '{a.name}' is {a.kind} {a.role} in one profile, {b.kind} {b.role} in another")
    out = ColumnProfile(
        a.name,
        a.role,
        a.type,
        a.kind,
        a.rows + b.rows,
        a.present + b.present,
        None if a.distinct is None or b.distinct is None else max(a.distinct, b.distinct),
    )
    out.extremes = (float(np.fmin(a.extremes[0], b.extremes[0])), float(np.fmax(a.extremes[1], b.extremes[1])))
    if a.sketch is not None and b.sketch is not None and a.numeric is not None and b.numeric is not None:
        out.sketch = a.sketch.merge(b.sketch)
        out.numeric = a.numeric.merge(b.numeric) if exact else SketchSummary.of(out.sketch)
    if a.categorical is not None and b.categorical is not None:
        merged = capped_merge(a.categorical, b.categorical)
        out.categorical = merged
        if isinstance(merged, CategoricalSummary):  # kept categories are the exact distinct set; else max() is a
            out.distinct = len(merged.categories)  # lower bound, enough for drift's "at most 20 values" test
    if a.cells is not None and b.cells is not None:
        out.cells = pa.concat_arrays([a.cells, b.cells.cast(a.cells.type)])
        if not exact:  # sampled cells: each part keeps its share of the labelled rows
            out.cells = _shares(a.cells, b.cells.cast(a.cells.type), a.present, b.present)
    return out


def _shares(a: pa.Array, b: pa.Array, rows_a: int, rows_b: int) -> pa.Array:
    """Two samples as one sample of at most 2 * SE_MAX_ROWS rows, each in proportion to the rows it stands for."""
    from mlrel_cli.stats.inference import SE_MAX_ROWS

    size = min(2 * SE_MAX_ROWS, len(a) + len(b))
    take_a = min(len(a), round(size * rows_a / max(rows_a + rows_b, 1)))
    take_b = min(len(b), size - take_a)
    keep_a = np.sort(np.random.default_rng(0).choice(len(a), take_a, replace=False))
    keep_b = np.sort(np.random.default_rng(1).choice(len(b), take_b, replace=False))
    return pa.concat_arrays([a.take(pa.array(keep_a)), b.take(pa.array(keep_b))])


def capped_merge(
    a: CategoricalSummary | TooManyCategories, b: CategoricalSummary | TooManyCategories
) -> CategoricalSummary | TooManyCategories:
    from mlrel_cli.stats.summaries import capped

    return capped(a.merge(b))


def merge_profiles(profiles: list[Profile], names: list[str]) -> Profile:
    """Counts add; exact values merge as sorted runs; sketches merge within their rank bound (stats/sketch.py)."""
    first = profiles[0]
    for profile, name in zip(profiles[1:], names[1:], strict=True):
        if profile.meta["policy_hash"] != first.meta["policy_hash"]:
            raise LogError(f"built with another policy than {names[0]} (the column mapping or the features differ)", name)
        if profile.meta["mode"] != first.meta["mode"]:
            raise LogError(
                f"a profile in {profile.meta['mode']} mode cannot merge with {names[0]}, in {first.meta['mode']} mode", name
            )
        if set(profile.columns) != set(first.columns):
            differ = sorted(set(profile.columns) ^ set(first.columns))
            raise LogError(f"profiles a different set of columns than {names[0]}: {', '.join(differ)}", name)
    columns = dict(first.columns)
    for profile in profiles[1:]:
        columns = {n: _merge_columns(c, profile.columns[n], first.exact) for n, c in columns.items()}
    spans = [p.meta["time_span"] for p in profiles if p.meta.get("time_span")]
    tasks = {p.meta.get("task") for p in profiles}
    meta = {
        **first.meta,
        "rows": sum(int(p.meta["rows"]) for p in profiles),
        "time_span": None
        if not spans
        else {"column": spans[0]["column"], "oldest": min(s["oldest"] for s in spans), "newest": max(s["newest"] for s in spans)},
        "sources": [s for p in profiles for s in p.meta["sources"]],
        "task": tasks.pop() if len(tasks) == 1 else None,
        "merged_from": len(profiles),
        "labelled": _merged_labelled(profiles),
        "proxy": _merged_proxies(profiles),
        "mlrel_version": mlrel_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return Profile(meta=meta, log_schema=first.log_schema, columns=columns)


def _merged_proxies(profiles: list[Profile]) -> dict[str, Any]:
    """Proxy sums add (per request and per query alike: the parts' rows and queries are disjoint); a metric some
    part lacks, or defines otherwise, is dropped, and drift says so when the policy asks for it."""
    parts = [p.meta.get("proxy") or {} for p in profiles]
    out = {}
    for name, first in parts[0].items():
        same = [part.get(name) for part in parts]
        definition = {k: first.get(k) for k in ("kind", "inputs", "per")}
        if any(s is None or {k: s.get(k) for k in definition} != definition for s in same):
            continue
        sums = {key: sum(s["sums"][key] for s in same if s is not None) for key in first["sums"]}
        out[name] = {**definition, "sums": sums}
    return out


def _merged_labelled(profiles: list[Profile]) -> dict[str, Any] | None:
    """Labelled rows add; a sketch profile's metrics are averaged by labelled rows (an approximation: an AUC of a
    union is not the mean of the AUCs), and its sampled cells were cut to their shares in _merge_columns."""
    found = [p.meta.get("labelled") for p in profiles]
    parts: list[dict[str, Any]] = [part for part in found if part is not None]
    if len(parts) < len(found):
        return None
    rows = sum(int(part["rows"]) for part in parts)
    if parts[0]["metrics"] is None or rows == 0:
        return {"rows": rows, "metrics": None}
    metrics: dict[str, float | None] = {}
    for name in parts[0]["metrics"]:
        values = [(part["metrics"].get(name), int(part["rows"])) for part in parts]
        known = [(v, n) for v, n in values if v is not None]
        metrics[name] = sum(v * n for v, n in known) / sum(n for _, n in known) if known else None
    return {"rows": rows, "metrics": metrics, "metrics_approximate": True}


def describe(profile: Profile, as_json: bool = False) -> str:
    rows = []
    for c in profile.columns.values():
        summary = c.numeric if c.numeric is not None else c.categorical
        missing = summary.missing_rate if summary is not None else 0.0
        entry: dict[str, Any] = {
            "column": c.name,
            "role": c.role,
            "kind": c.kind,
            "type": c.type,
            "rows": c.rows,
            "missing_rate": missing,
            "distinct": c.distinct,
        }
        if c.sketch is not None:
            entry.update(low=c.sketch.low, high=c.sketch.high, points=len(c.sketch.points))
        if isinstance(c.categorical, CategoricalSummary):
            entry["categories"] = len(c.categorical.categories)
        elif isinstance(c.categorical, TooManyCategories):
            entry["categories"] = f"more than {MAX_CATEGORIES:,}"
        entry["labelled_cells"] = len(c.cells) if c.cells is not None else 0
        rows.append(entry)
    if as_json:
        return json.dumps({"meta": profile.meta, "columns": rows}, indent=2, default=str)
    meta = profile.meta
    span = meta.get("time_span") or {}
    lines = [
        f"mlrel profile, schema_version {meta['schema_version']}, {meta['mode']} mode, built by mlrel {meta['mlrel_version']}",
        f"rows: {meta['rows']:,}" + (f"  time span: {span['oldest']} .. {span['newest']}" if span else ""),
        f"task: {meta.get('task')}  policy hash: {meta['policy_hash'][:16]}",
        "sources:",
        *(f"  {s['path']}  sha256 {s['sha256']}" for s in meta["sources"]),
        "columns:",
    ]
    for r in rows:
        detail = f"range {r['low']:.4g} .. {r['high']:.4g}" if "low" in r else ""
        if "categories" in r:
            detail = (detail + "  " if detail else "") + f"{r['categories']} categories"
        lines.append(f"  {r['column']:<24} {r['role']:<10} {r['kind']:<11} missing {r['missing_rate']:.2%}  {detail}")
    return "\n".join(lines)
