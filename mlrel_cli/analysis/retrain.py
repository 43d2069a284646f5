"""``mlrel retrain-set``: a new training set drawn from labelled production logs, as a recorded change.

Strategies (docs/retrain.md): ``recent`` (the newest labelled rows, by time
or by count), ``upsample-weak-segments`` (the segments where the model's
loss is worst, repeated by a factor or up to a target share), ``season`` (a
calendar period, or given weekdays) and ``segment`` (only given values of a
segment column). The log is read row group by row group with column
projection and row-group pruning on the timestamp, the output written
batch by batch to a temporary file, and committed with its manifest as a
pair (mlrel_cli.outputs.write_pair, so no reader sees a mismatched pair): sources and checksums, strategy, parameters,
seed, segment mix before and after, label coverage. Same inputs, same seed:
a byte-identical Parquet file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from mlrel_cli import outputs
from mlrel_cli.errors import LogError, MlrelError, PolicyError
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, kind_of_type, resolve_roles
from mlrel_cli.logs.task import infer_task
from mlrel_cli.logs.values import timestamps_keeping_rows, to_numpy_float
from mlrel_cli.payloads.retrain import Manifest, RowCounts, SegmentMix, Source
from mlrel_cli.payloads.table import Table
from mlrel_cli.policy import Policy, Retrain
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.tasks import task_of

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class _Plan:
    strategy: str
    params: dict[str, Any]
    time_low_us: int | None = None
    time_high_us: int | None = None
    weekdays: set[int] | None = None
    segment_column: str | None = None
    values: set[str] | None = None
    upsample: dict[str, dict[str, float]] = field(default_factory=dict)  # column -> value -> repeat factor
    explanation: list[str] = field(default_factory=list)


def sha256(path: str | Path) -> str:
    from mlrel_cli.logs import open_input

    digest = hashlib.sha256()
    with open_input(str(path)) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_with(policy: Policy, **options: Any) -> Retrain:
    """The policy's ``retrain:`` with the options given on the command line over it (``None``: not given); a value
    that does not validate is named by its option (``--target-share``)."""
    from pydantic import ValidationError

    merged = {**policy.retrain.model_dump(), **{k: v for k, v in options.items() if v is not None}}
    try:
        return Retrain.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MlrelError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _labels_lookup(labels: Log | None, policy: Policy) -> tuple[pa.Array, pa.Array] | None:
    if labels is None:
        return None
    cols = policy.columns
    for name in (cols.id, cols.label):
        if name not in labels.column_names:
            raise LogError(f"labels file has no column '{name}'", labels.path)
    table = labels.read([cols.id, cols.label])
    return table.column(0).combine_chunks(), table.column(1).combine_chunks()


def _label_of(batch: pa.RecordBatch, roles: Roles, lookup: tuple[pa.Array, pa.Array] | None, policy: Policy) -> pa.Array:
    own = batch.column(batch.schema.get_field_index(roles.label)) if roles.label and roles.label in batch.schema.names else None
    if lookup is None:
        if own is None:
            raise LogError(f"retrain-set needs labels: no column '{policy.columns.label}' and no --labels")
        return own
    ids = batch.column(batch.schema.get_field_index(roles.id))
    label_ids, label_values = lookup
    if ids.type != label_ids.type:
        label_ids = pc.cast(label_ids, ids.type)
    joined = label_values.take(pc.index_in(ids, value_set=label_ids))
    return pc.coalesce(joined, pc.cast(own, joined.type)) if own is not None else joined


def _plan(spec: Retrain, log: Log, roles: Roles, policy: Policy) -> _Plan:
    plan = _Plan(strategy=spec.strategy, params=spec.model_dump(mode="json", exclude_none=True))
    if spec.strategy in ("recent", "season") and roles.timestamp is None:
        raise LogError(f"strategy '{spec.strategy}' needs the timestamp column '{policy.columns.timestamp}'", log.path)
    if spec.strategy == "recent":
        if spec.last is None and spec.rows is None:
            raise MlrelError("strategy 'recent' needs --last DURATION or --rows N (or retrain.last / retrain.rows)")
    elif spec.strategy == "season":
        if spec.start is None and spec.end is None and not spec.weekdays:
            raise MlrelError("strategy 'season' needs --from/--to or --weekdays (or retrain.start / end / weekdays)")
        for name, value in (("start", spec.start), ("end", spec.end)):
            if value is not None:
                try:
                    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise MlrelError(f"retrain.{name}: '{value}' is not an ISO-8601 time") from None
                moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
                us = int(moment.timestamp() * 1_000_000)
                if name == "start":
                    plan.time_low_us = us
                else:
                    plan.time_high_us = us
        if spec.weekdays:
            plan.weekdays = {WEEKDAYS.index(d) for d in spec.weekdays}
    elif spec.strategy == "segment":
        if not spec.segment_column or not spec.values:
            raise MlrelError("strategy 'segment' needs --segment-column and --value (or retrain.segment_column / values)")
        if spec.segment_column not in log.column_names:
            raise PolicyError(f"retrain.segment_column: column '{spec.segment_column}' is not in the log", log.path)
        present = {str(v) for v in pc.unique(log.column(spec.segment_column)).to_pylist()}
        missing = [v for v in spec.values if v not in present]
        if missing:
            shown = ", ".join(sorted(present)[:10])
            raise MlrelError(f"segment value(s) {', '.join(missing)} not in column '{spec.segment_column}' (has: {shown})")
        plan.segment_column, plan.values = spec.segment_column, set(spec.values)
    return plan


def _per_row_loss(task: str, prediction: pa.Array, label: pa.Array, policy: Policy) -> np.ndarray:
    """The task's loss of each row (tasks.TASK_TABLE); a classifier that logs a class is judged by its mistakes."""
    valid = pc.and_(pc.is_valid(prediction), pc.is_valid(label)).to_numpy(zero_copy_only=False)
    loss = np.full(len(prediction), np.nan)
    record = task_of(task)
    kind = record.retrain_loss if record is not None else "absolute_error"
    if kind == "log_loss" and kind_of_type(prediction.type) != "numeric":
        kind = "error_rate"
    value = _LOSSES[kind](prediction, label, policy)
    loss[valid] = value[valid]
    return loss


def _log_loss(prediction: pa.Array, label: pa.Array, policy: Policy) -> np.ndarray:
    positive = policy.validate_.performance.positive_label
    if kind_of_type(label.type) == "categorical" and not pa.types.is_boolean(label.type):
        # text classes ('malignant' / 'benign'): the positive one as written, as validate reads it
        truth = pc.cast(label, pa.string()).to_numpy(zero_copy_only=False) == str(positive)
    else:
        try:
            truth = to_numpy_float(pc.cast(label, pa.float64())) == float(positive)
        except ValueError:
            message = f"validate.performance.positive_label: {positive!r} is not a number, but the labels are numeric"
            raise PolicyError(message) from None
    p = np.clip(to_numpy_float(prediction), 1e-15, 1 - 1e-15)
    return -np.where(truth, np.log(p), np.log1p(-p))


def _mistakes(prediction: pa.Array, label: pa.Array, policy: Policy) -> np.ndarray:
    predicted, truth = (pc.cast(side, pa.string()).to_numpy(zero_copy_only=False) for side in (prediction, label))
    return (predicted != truth).astype(float)


def _absolute_error(prediction: pa.Array, label: pa.Array, policy: Policy) -> np.ndarray:
    return np.abs(to_numpy_float(prediction) - to_numpy_float(label))


_LOSSES = {"log_loss": _log_loss, "error_rate": _mistakes, "absolute_error": _absolute_error}


def _weak_segments(spec: Retrain, log: Log, roles: Roles, policy: Policy, lookup: Any, plan: _Plan) -> None:
    """Pass 1: the loss per segment value; the worst ones get a repeat factor."""
    columns = spec.segments or list(policy.segments)
    if not columns:
        raise MlrelError("strategy 'upsample-weak-segments' needs segment columns (--segments or policy segments:)")
    for column in columns:
        if column not in log.column_names:
            raise PolicyError(f"retrain.segments: column '{column}' is not in the log", log.path)
    needed = [c for c in dict.fromkeys([roles.prediction, roles.label, roles.id if lookup else None, *columns]) if c]
    needed = [c for c in needed if c in log.column_names]
    # streamed: per segment value, the sum of losses and the count; memory stays at a batch
    sums: dict[str, dict[str, float]] = {c: {} for c in columns}
    sizes_by: dict[str, dict[str, int]] = {c: {} for c in columns}
    total_loss, total_labelled = 0.0, 0
    task = policy.task
    for batch in log.dataset.to_batches(columns=needed, batch_size=1 << 20, batch_readahead=1, fragment_readahead=1):
        label = _label_of(batch, roles, lookup, policy)
        prediction = batch.column(batch.schema.get_field_index(roles.prediction))
        if task is None:
            task = infer_task(pa.chunked_array([prediction]), label)
        loss = _per_row_loss(task, prediction, label, policy)
        ok = np.isfinite(loss)
        total_loss += float(loss[ok].sum())
        total_labelled += int(ok.sum())
        for column in columns:
            grouped = (
                pa.table({"g": pc.cast(batch.column(batch.schema.get_field_index(column)), pa.string()), "loss": loss})
                .filter(pa.array(ok))
                .group_by("g")
                .aggregate([("loss", "sum"), ("loss", "count")])
            )
            for name, total, size in zip(
                grouped["g"].to_pylist(), grouped["loss_sum"].to_pylist(), grouped["loss_count"].to_pylist(), strict=True
            ):
                sums[column][str(name)] = sums[column].get(str(name), 0.0) + float(total)
                sizes_by[column][str(name)] = sizes_by[column].get(str(name), 0) + int(size)
    if total_labelled == 0:
        raise MlrelError("no labelled rows to find the weak segments from")
    overall = total_loss / total_labelled
    for column in columns:
        names = np.array(sorted(sizes_by[column]))
        sizes = np.array([sizes_by[column][n] for n in names])
        means = np.array([sums[column][n] / max(sizes_by[column][n], 1) for n in names])
        eligible = [i for i in np.argsort(-means) if sizes[i] >= spec.min_segment_size and means[i] > overall]
        chosen = eligible[: spec.worst]
        plan.upsample[column] = {}
        for i in chosen:
            share = sizes[i] / total_labelled
            if spec.target_share is not None:
                factor = max(1.0, spec.target_share * (1 - share) / (share * (1 - spec.target_share))) if share < 1 else 1.0
            else:
                factor = spec.factor or 2.0
            plan.upsample[column][str(names[i])] = float(factor)
            plan.explanation.append(
                f"{column}={names[i]}: mean loss {means[i]:.4g} vs {overall:.4g} overall on {sizes[i]:,} labelled rows "
                f"({share:.1%}); repeated x{factor:.3g}"
                + (f" to reach {spec.target_share:.0%} of the set" if spec.target_share is not None else "")
            )
        if not chosen:
            plan.explanation.append(f"{column}: no segment of {spec.min_segment_size}+ rows is worse than overall")


def _recent_cutoff(spec: Retrain, log: Log, roles: Roles, plan: _Plan) -> None:
    assert roles.timestamp is not None
    ts = timestamps_keeping_rows(log.column(roles.timestamp), log.path)
    newest = int(ts.max())
    if spec.last is not None:
        plan.time_low_us = newest - int(spec.last.total_seconds() * 1_000_000)
    if spec.rows is not None and spec.rows < len(ts):
        # the rows-th newest time; ties at the cutoff are kept, so the count can exceed `rows` slightly
        cutoff = int(np.partition(ts, len(ts) - spec.rows)[len(ts) - spec.rows])
        plan.time_low_us = max(plan.time_low_us or cutoff, cutoff)


def _fragment_filter(plan: _Plan, roles: Roles, log: Log) -> ds.Expression | None:
    if roles.timestamp is None or (plan.time_low_us is None and plan.time_high_us is None):
        return None
    field_type = log.schema.field(roles.timestamp).type
    if not pa.types.is_timestamp(field_type):
        return None  # ISO strings: filtered per batch, no pruning
    expr = None
    for bound, op in ((plan.time_low_us, "ge"), (plan.time_high_us, "lt")):
        if bound is None:
            continue
        scalar = pa.scalar(bound, type=pa.timestamp("us", tz="UTC")).cast(field_type)
        term = ds.field(roles.timestamp) >= scalar if op == "ge" else ds.field(roles.timestamp) < scalar
        expr = term if expr is None else expr & term
    return expr


def retrain_set(
    log: Log,
    policy: Policy,
    spec: Retrain,
    output: Path,
    labels: Log | None = None,
    force: bool = False,
    inputs: tuple[str | None, ...] = (),
) -> Report:
    """``inputs`` are the run's other input paths (the policy), never to be overwritten."""
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    output = Path(output)
    manifest_path = output.with_name(output.stem + ".manifest.json")
    target, manifest_target, notes = _targets(
        output, manifest_path, (log.path, *log.files, labels.path if labels is not None else None, *inputs), force
    )
    lookup = _labels_lookup(labels, policy)
    plan = _plan(spec, log, roles, policy)
    if spec.strategy == "recent":
        _recent_cutoff(spec, log, roles, plan)
    if spec.strategy == "upsample-weak-segments":
        _weak_segments(spec, log, roles, policy, lookup, plan)
    segment_columns = [c for c in dict.fromkeys([*policy.segments, *plan.upsample]) if c in log.column_names]
    before: SegmentMix = {c: {} for c in segment_columns}
    after: SegmentMix = {c: {} for c in segment_columns}
    counts = {"rows": 0, "labelled": 0, "selected": 0, "written": 0}
    rng = np.random.default_rng(spec.seed)

    def draw(batch: pa.RecordBatch) -> pa.RecordBatch | None:
        return _draw(batch, plan, roles, lookup, policy, log, segment_columns, before, after, counts, rng)

    def write_set(tmp_path: Path) -> None:
        counts["written"] = _write_set(tmp_path, log, _fragment_filter(plan, roles, log), draw, roles.id)
        if not counts["written"]:
            where = f" in the chosen window ({plan.strategy})" if plan.strategy != "upsample-weak-segments" else ""
            raise MlrelError(f"no labelled rows{where}: nothing to write; the output was not created", str(output))

    written: list[Manifest] = []  # the manifest is known once the set is written: its checksum is in it

    def manifest_text(tmp_path: Path) -> str:
        written.append(
            Manifest(
                output=str(output),
                output_sha256=sha256(tmp_path),
                sources=tuple(Source(f, sha256(f)) for f in log.files),
                labels=Source(labels.path, sha256(labels.files[0])) if labels is not None else None,
                strategy=plan.strategy,
                parameters=plan.params,
                seed=spec.seed,
                rows=RowCounts(**counts),
                segments_before=before,
                segments_after=after,
                explanation=tuple(plan.explanation),
            )
        )
        return json.dumps(written[-1].to_json(), indent=2, sort_keys=True) + "\n"

    outputs.write_pair(target, write_set, manifest_target, manifest_text)
    return _report(written[-1], manifest_path, notes)


def _targets(
    output: Path, manifest_path: Path, sources: tuple[str | None, ...], force: bool
) -> tuple[outputs.Target, outputs.Target, list[str]]:
    """The training set's and its manifest's outputs, checked before any row is read; a pair half-committed by a
    killed run finished first."""
    target = outputs.plan(output, "training set", sources, force=True)
    if target.in_place:
        raise MlrelError(
            "the training set needs a regular file (it is committed with its manifest), not a device or pipe", str(output)
        )
    manifest_target = outputs.plan(manifest_path, "manifest", sources, force=True)
    if manifest_target.real == target.real:
        raise MlrelError("the training set would be its own manifest: give it a .parquet suffix", str(output))
    notes = outputs.recover(target, manifest_target)
    if not force:
        for existing in (target, manifest_target):
            if existing.real.exists():
                raise MlrelError(f"{existing.what} file already exists; pass --force to replace it", str(existing.path))
    return target, manifest_target, notes


def _write_set(
    tmp_path: Path,
    log: Log,
    expression: ds.Expression | None,
    draw: Callable[[pa.RecordBatch], pa.RecordBatch | None],
    id_column: str | None,
) -> int:
    """Every batch's drawn rows, written in the log's order (a byte-identical rebuild); the rows written."""
    writer = None
    written = 0
    try:
        for fragment in log.dataset.get_fragments():
            scan = {"filter": expression} if expression is not None else {}
            # one batch read ahead (memory at a batch, not a file)
            for batch in fragment.to_batches(
                use_threads=False,
                batch_size=131_072,
                batch_readahead=1,
                fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
                **scan,
            ):
                out = draw(batch)
                if out is None:
                    continue
                if writer is None:
                    # dictionary-encode the repetitive string columns only: an id column never compresses
                    # that way, and trying costs most of the write
                    dictionary = [f.name for f in out.schema if f.name != id_column and kind_of_type(f.type) == "categorical"]
                    writer = pq.ParquetWriter(
                        tmp_path, out.schema, compression="lz4", use_dictionary=dictionary, write_statistics=True
                    )
                elif out.schema != writer.schema:
                    out = out.cast(writer.schema)
                writer.write_batch(out, row_group_size=131_072)
                written += out.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written


def _draw(
    batch: pa.RecordBatch,
    plan: _Plan,
    roles: Roles,
    lookup: Any,
    policy: Policy,
    log: Log,
    segment_columns: list[str],
    before: dict[str, dict[str, int]],
    after: dict[str, dict[str, int]],
    counts: dict[str, int],
    rng: np.random.Generator,
) -> pa.RecordBatch | None:
    """One batch's rows of the new set (labelled, selected, repeated by the upsampling factors), tallied."""
    counts["rows"] += batch.num_rows
    label = _label_of(batch, roles, lookup, policy)
    keep = pc.is_valid(label).to_numpy(zero_copy_only=False)
    counts["labelled"] += int(keep.sum())
    groups = {c: pc.cast(batch.column(batch.schema.get_field_index(c)), pa.string()) for c in segment_columns}
    keep_mask = pa.array(keep)
    for c in segment_columns:
        _tally(before[c], pc.filter(groups[c], keep_mask))
    keep &= _select(plan, batch, roles, groups, log)
    counts["selected"] += int(keep.sum())
    repeats = keep.astype(np.int64)
    for column, factors in plan.upsample.items():
        for value, factor in factors.items():
            member = keep & pc.fill_null(pc.equal(groups[column], value), False).to_numpy(zero_copy_only=False)
            whole = int(np.floor(factor))
            extra = rng.random(len(member)) < (factor - whole)
            repeats = np.where(member, np.maximum(repeats, whole + extra.astype(np.int64)), repeats)
    if not repeats.any():
        return None
    index = np.repeat(np.arange(batch.num_rows), repeats)
    out = batch.take(pa.array(index))
    if roles.label is None or roles.label not in batch.schema.names:
        out = out.append_column(policy.columns.label, label.take(pa.array(index)))
    elif lookup is not None:
        out = out.set_column(out.schema.get_field_index(roles.label), roles.label, label.take(pa.array(index)))
    for c in segment_columns:
        _tally(after[c], groups[c].take(pa.array(index)))
    return out


def _tally(table: dict[str, int], values: pa.Array) -> None:
    counts = pc.value_counts(values)
    for name, size in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
        table[str(name)] = table.get(str(name), 0) + int(size)


def _select(plan: _Plan, batch: pa.RecordBatch, roles: Roles, groups: dict[str, pa.Array], log: Log) -> np.ndarray:
    keep = np.ones(batch.num_rows, dtype=bool)
    if roles.timestamp is not None and (plan.time_low_us is not None or plan.time_high_us is not None or plan.weekdays):
        ts = timestamps_keeping_rows(batch.column(batch.schema.get_field_index(roles.timestamp)), log.path)
        keep &= ts >= 0
        if plan.time_low_us is not None:
            keep &= ts >= plan.time_low_us
        if plan.time_high_us is not None:
            keep &= ts < plan.time_high_us
        if plan.weekdays:
            # 1970-01-01 was a Thursday (weekday 3)
            weekday = ((ts // 86_400_000_000) + 3) % 7
            keep &= np.isin(weekday, list(plan.weekdays))
    if plan.segment_column is not None and plan.values is not None:
        column = groups.get(plan.segment_column)
        if column is None:
            column = pc.cast(batch.column(batch.schema.get_field_index(plan.segment_column)), pa.string())
        keep &= pc.fill_null(pc.is_in(column, value_set=pa.array(sorted(plan.values))), False).to_numpy(zero_copy_only=False)
    return keep


def _report(manifest: Manifest, manifest_path: Path, notes: list[str]) -> Report:
    rows = manifest.rows
    checks = [
        Check(
            name="rows",
            status=Status.PASS,
            value=rows.written,
            message=f"{rows.written:,} rows written from {rows.selected:,} selected of {rows.labelled:,} "
            f"labelled ({rows.rows:,} read)",
        ),
        Check(
            name="label_coverage",
            status=Status.PASS,
            value=rows.label_coverage,
            message=f"{rows.label_coverage:.1%} of the rows read had a label",
        ),
    ]
    table_rows = []
    for column, before in manifest.segments_before.items():
        after = manifest.segments_after.get(column, {})
        total_b, total_a = sum(before.values()) or 1, sum(after.values()) or 1
        for value in sorted(set(before) | set(after)):
            table_rows.append(
                (
                    f"{column}={value}",
                    before.get(value, 0),
                    f"{before.get(value, 0) / total_b:.1%}",
                    after.get(value, 0),
                    f"{after.get(value, 0) / total_a:.1%}",
                )
            )
    summary = f"{manifest.strategy}: {rows.written:,} rows written to {manifest.output}; manifest {manifest_path.name}."
    return Report(
        command="retrain-set",
        status=Status.PASS,
        summary=summary,
        checks=tuple(checks),
        inputs={"log": ", ".join(s.path for s in manifest.sources[:3]), "strategy": manifest.strategy},
        sections={
            "manifest": manifest,
            "manifest_path": str(manifest_path),
            **({"notes": notes} if notes else {}),
            "table": Table(
                "segment mix (labelled rows before, rows written after)",
                ("segment", "before", "share", "after", "share"),
                tuple(table_rows),
            ),
        },
    )
