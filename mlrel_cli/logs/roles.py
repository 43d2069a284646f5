"""Column roles: which column of a log plays which part of the policy (prediction, label, features, ...), and the
kind of a column from its Arrow type."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.logs import Log
from mlrel_cli.policy import Policy

# a string column with more distinct values than this, and mostly distinct, is free text or an id
TEXT_MIN_DISTINCT = 1000
TEXT_DISTINCT_RATIO = 0.5


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
    _check_named_columns(log, policy, label_from_labels_file)
    cols = policy.columns
    names = set(log.column_names)

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
            _refuse_nested(log, f"columns.{role}", name, policy.source_of(f"columns.{role}"))
    _check_segment_columns(log, policy)
    skipped: dict[str, str] = {}  # the columns found in the schema and not taken as features, with why
    if policy.features is not None:
        features = _features_named(log, policy)
    else:
        taken = {c for c in roles.values() if c} | {cols.label_timestamp} | {c for c in (cols.query, cols.position) if c}
        features, skipped = _features_found(log, policy, taken)
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


def _check_named_columns(log: Log, policy: Policy, label_from_labels_file: bool) -> None:
    """Every role column the policy names is in the log, and the prediction column always is."""
    names = set(log.column_names)
    for role, column in policy.explicit_columns().items():
        if role in ("label_timestamp", "query", "position"):
            continue
        if role == "label" and label_from_labels_file:
            continue
        if role == "label" and column not in names and not suggest_column(column, names):
            continue  # labels not arrived yet: the checks that need them say so (a near name is a typo: refused)
        _require_column(log, f"columns.{role}", column, policy.source_of(f"columns.{role}"))
    cols = policy.columns
    if cols.prediction not in names:
        others = names - {cols.timestamp, cols.id, cols.model_version, cols.label, cols.latency, cols.label_timestamp}
        raise LogError(
            f"the {log.label} has no prediction column '{cols.prediction}'{suggest_column(cols.prediction, others)}"
            " (set columns.prediction in the policy)",
            log.path,
        )


def _check_segment_columns(log: Log, policy: Policy) -> None:
    """The segments and the fairness segment are columns of the log holding one value per row."""
    for i, segment in enumerate(policy.segments):
        _require_column(log, f"segments[{i}]", segment, policy.source_of("segments"))
        _refuse_nested(log, f"segments[{i}]", segment, policy.source_of("segments"))
    fairness = policy.validate_.fairness.segment
    if fairness:
        where = policy.source_of("validate.fairness.segment")
        _require_column(log, "validate.fairness.segment", fairness, where)
        _refuse_nested(log, "validate.fairness.segment", fairness, where)


def _features_named(log: Log, policy: Policy) -> dict[str, str]:
    """The features the policy lists, each with its kind: the policy's, else the one its Arrow type says."""
    assert policy.features is not None
    features: dict[str, str] = {}
    for name, spec in policy.features.items():
        where = policy.source_of(f"features.{name}")
        _require_column(log, f"features.{name}", name, where)
        _refuse_nested(log, f"features.{name}", name, where)
        kind = spec.kind or kind_of_type(log.schema.field(name).type)
        if kind is None:
            raise PolicyError(
                f"features.{name}: column type {log.schema.field(name).type} is neither numeric nor categorical (set kind)",
                where,
            )
        features[name] = kind
    return features


def _features_found(log: Log, policy: Policy, taken: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """With no features listed, every column that plays no role and is not ignored: the features, and the columns
    skipped with why (a hive partition, a type no check reads)."""
    features: dict[str, str] = {}
    skipped: dict[str, str] = {}
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
    return features, skipped


def _require_column(log: Log, key: str, name: str, where: str) -> None:
    names = set(log.column_names)
    if name not in names:
        raise PolicyError(f"{key}: column '{name}' is not in the {log.label}{suggest_column(name, names)}", where)


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
            why = f"column '{name}' is not in the {log.label}{suggest_column(name, set(log.column_names))}"
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


def suggest_column(name: str, names: set[str]) -> str:
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
