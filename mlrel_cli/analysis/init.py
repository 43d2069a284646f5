"""``mlrel init``: a starting policy inferred from a reference log.

The policy it writes is checked before it is returned: ``mlrel validate`` on
that same reference passes with it. Where the reference itself would fail a
default check (duplicate ids, gaps in traffic), the policy is relaxed for
that check and a comment at the top of the file says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import LogError
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import is_text_like, kind_of_type
from mlrel_cli.logs.task import infer_task
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.policy_files import dump_policy
from mlrel_cli.report import Status
from mlrel_cli.stats.names import BINARY, RANKING
from mlrel_cli.tasks import task_of

MAX_ALLOWED_CATEGORIES = 100
MAX_SEGMENT_CATEGORIES = 20
MISSING_MARGIN = 0.05
LATENCY_SLO_FACTOR = 1.5

ROLE_CANDIDATES = {
    "timestamp": ("timestamp", "ts", "time", "event_time", "served_at", "created_at"),
    "id": ("prediction_id", "request_id", "id", "event_id", "row_id"),
    "model_version": ("model_version", "version", "model"),
    "prediction": ("prediction", "score", "pred", "y_pred", "probability", "output"),
    "label": (
        *("label", "target", "y", "y_true", "outcome", "ground_truth", "actual", "is_fraud", "churned", "converted"),
        *("relevance", "clicked", "click"),
    ),
    "latency": ("latency_ms", "latency", "duration_ms", "response_time_ms", "resp_ms", "elapsed_ms"),
}
# a ranking log: both a query and a position column (alone, a `rank` or `query` column may be a feature)
RANKING_ROLE_CANDIDATES = {
    "query": ("query_id", "query", "session_id", "search_id", "qid"),
    "position": ("position", "rank", "pos", "slot"),
}


def _ceil(value: float, digits: int = 3) -> float:
    scale = 10**digits
    return math.ceil(value * scale) / scale


def _find_roles(log: Log) -> dict[str, str]:
    names = log.column_names
    lower = {n.lower(): n for n in names}
    roles: dict[str, str] = {}
    for role, candidates in ROLE_CANDIDATES.items():
        for candidate in candidates:
            if candidate in lower:
                roles[role] = lower[candidate]
                break
    ranking = {role: next((lower[c] for c in cands if c in lower), None) for role, cands in RANKING_ROLE_CANDIDATES.items()}
    if all(ranking.values()):
        roles.update({role: name for role, name in ranking.items() if name})
    if "timestamp" not in roles:
        for field in log.schema:
            if pa.types.is_timestamp(field.type):
                roles["timestamp"] = field.name
                break
    if "prediction" not in roles:
        raise LogError(
            "cannot tell which column holds the model's output; name it 'prediction' or write columns.prediction "
            "in a policy by hand",
            log.path,
        )
    return roles


def infer_policy(reference: Log, model: str | None = None) -> str:
    """A starting policy for the model that wrote ``reference``, as YAML with its notes: roles, task, features (and
    two segments), the validate bounds the reference meets, relaxed until the reference itself passes."""
    roles = _find_roles(reference)
    notes: list[str] = []
    prediction = reference.column(roles["prediction"])
    label = reference.column(roles["label"]) if "label" in roles else None
    task = RANKING if "query" in roles else infer_task(prediction, label)
    features, segments = _features(reference, set(roles.values()))

    policy: dict[str, Any] = {"version": 1}
    if model:
        policy["model"] = model
    policy["task"] = task
    policy["columns"] = {role: roles[role] for role in (*ROLE_CANDIDATES, *RANKING_ROLE_CANDIDATES) if role in roles}
    if segments:
        policy["segments"] = segments
    policy["features"] = features
    if validate := _validate_bounds(reference, roles, task, prediction, label, notes):
        policy["validate"] = validate

    _relax_until_it_passes(reference, policy, notes)
    header = [
        f"# mlrel policy inferred from {reference.path} ({reference.num_rows:,} rows).",
        "# A starting point: review the ranges, categories and thresholds. Reference: docs/policy.md",
        *(f"# note: {note}" for note in notes),
    ]
    return "\n".join(header) + "\n" + dump_policy(policy)


def _features(reference: Log, role_columns: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Every column that plays no role, with what the reference shows of it; the first two categorical ones of a
    few values are the segments."""
    features: dict[str, Any] = {}
    segments: list[str] = []
    for field in reference.schema:
        if field.name in role_columns or field.name in reference.partition_columns:
            continue
        kind = kind_of_type(field.type)
        if kind is None:
            continue
        column = reference.column(field.name)
        if kind == "numeric":
            spec, missing_rate = _numeric_spec(column, field.type)
        else:
            spec, missing_rate, distinct = _categorical_spec(column)
            if spec["kind"] == "categorical" and 2 <= distinct <= MAX_SEGMENT_CATEGORIES and len(segments) < 2:
                segments.append(field.name)
        spec["max_missing"] = min(1.0, _ceil(missing_rate + MISSING_MARGIN, 2))
        features[field.name] = spec
    return features, segments


def _numeric_spec(column: pa.ChunkedArray, dtype: pa.DataType) -> tuple[dict[str, Any], float]:
    """A numeric feature's type and range, and its missing rate."""
    values = to_numpy_float(column)
    valid = values[~np.isnan(values)]
    spec: dict[str, Any] = {"kind": "numeric", "dtype": str(dtype)}
    if len(valid):
        spec["min"] = float(valid.min())
        spec["max"] = float(valid.max())
    return spec, float(np.isnan(values).mean())


def _categorical_spec(column: pa.ChunkedArray) -> tuple[dict[str, Any], float, int]:
    """A string column as text (mostly distinct: an id) or a category with its allowed values, most frequent
    first; its missing rate and number of distinct values."""
    n = len(column)
    missing_rate = column.null_count / n if n else 0.0
    counts = pc.value_counts(pc.drop_null(column))
    counts = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
    distinct = len(counts)
    if is_text_like(distinct, n - column.null_count):
        return {"kind": "text"}, missing_rate, distinct
    spec: dict[str, Any] = {"kind": "categorical"}
    if distinct <= MAX_ALLOWED_CATEGORIES:
        order = np.argsort(-counts.field("counts").to_numpy(zero_copy_only=False), kind="stable")
        values = counts.field("values")
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        spec["allowed"] = [values[int(i)].as_py() for i in order]
    return spec, missing_rate, distinct


def _validate_bounds(
    reference: Log,
    roles: dict[str, str],
    task: str,
    prediction: pa.ChunkedArray,
    label: pa.ChunkedArray | None,
    notes: list[str],
) -> dict[str, Any]:
    """validate's starting bounds from the reference: a latency SLO, a text label's positive class, the
    performance metrics' bounds with a margin."""
    validate: dict[str, Any] = {}
    if "latency" in roles:
        latency = to_numpy_float(reference.column(roles["latency"]))
        latency = latency[np.isfinite(latency)]
        if len(latency):
            p99 = float(np.percentile(latency, 99))
            validate["latency"] = {"p99_ms": round(p99 * LATENCY_SLO_FACTOR, 1)}
            notes.append(f"latency p99 SLO set to {LATENCY_SLO_FACTOR}x the reference p99 ({p99:.1f} ms)")
    positive = _positive_class(task, prediction, label, notes)
    if positive is not None:
        validate["performance"] = {"positive_label": positive}
    if label is not None:
        bound = _starting_bound(task, prediction, label, 1 if positive is None else positive)
        if bound is not None:
            validate.setdefault("performance", {})["metrics"] = bound
            notes.append("performance thresholds are the reference's value with a margin: tune them")
    return validate


def _positive_class(task: str, prediction: pa.ChunkedArray, label: pa.ChunkedArray | None, notes: list[str]) -> Any:
    """A binary task's positive class when the labels are text ('malignant' / 'benign'), else None (the default 1).

    The score is the probability of the positive class, so it is the class whose rows score higher on average;
    with classes logged instead of scores, the rarer class (what a detector is built to find).
    """
    if task != BINARY or label is None or kind_of_type(label.type) != "categorical" or pa.types.is_boolean(label.type):
        return None
    values = pc.cast(label, pa.string()).to_numpy(zero_copy_only=False)
    present = values != None  # noqa: E711 (element-wise: the nulls of an object array)
    classes, counts = np.unique(values[present].astype(str), return_counts=True)
    if len(classes) != 2:
        return None
    if kind_of_type(prediction.type) == "numeric":
        score = to_numpy_float(prediction)
        means = [np.nanmean(np.where(values == c, score, np.nan)) for c in classes]
        positive, why = str(classes[int(np.nanargmax(means))]), "the class with the higher mean score"
    else:
        positive, why = str(classes[int(np.argmin(counts))]), "the rarer class"
    notes.append(f"validate.performance.positive_label set to {positive!r} ({why}): check it")
    return positive


def _starting_bound(task: str, prediction: pa.ChunkedArray, label: pa.ChunkedArray, positive: Any = 1) -> dict[str, Any] | None:
    """The task's starting bound (tasks.TASK_TABLE): its metric on the reference, loosened by the margin."""
    record = task_of(task)
    keep = pc.and_(pc.is_valid(prediction), pc.is_valid(label))
    pred = pc.filter(prediction, keep)
    truth = pc.filter(label, keep)
    if len(truth) < 100 or record is None or record.starting_bound is None:
        return None
    read = _READERS[record.reads](truth, pred, positive)
    if read is None:
        return None
    metric, side, margin = record.starting_bound
    value = record.compute(*read)[metric]
    if not math.isfinite(value):
        return None
    if side == "min":
        return {metric: {"min": round(max(0.0, value - margin), 3)}}
    return {metric: {"max": float(f"{value * (1 + margin):.4g}")}}


def _scores(truth: pa.ChunkedArray, pred: pa.ChunkedArray, positive: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Is the label the positive class, and a numeric score; a logged class has no ROC AUC to start from."""
    if kind_of_type(pred.type) != "numeric":
        return None
    if kind_of_type(truth.type) == "categorical" and not pa.types.is_boolean(truth.type):
        return pc.cast(truth, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive), to_numpy_float(pred)
    return to_numpy_float(truth) == 1.0, to_numpy_float(pred)


def _classes(truth: pa.ChunkedArray, pred: pa.ChunkedArray, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    as_text = [pc.cast(side, pa.string()).to_numpy(zero_copy_only=False).astype(str) for side in (truth, pred)]
    return as_text[0], as_text[1]


def _values(truth: pa.ChunkedArray, pred: pa.ChunkedArray, positive: Any) -> tuple[np.ndarray, np.ndarray]:
    return to_numpy_float(truth), to_numpy_float(pred)


_READERS: dict[str, Any] = {"score": _scores, "classes": _classes, "values": _values}


def _relax_until_it_passes(reference: Log, policy: dict[str, Any], notes: list[str]) -> None:
    """Run validate on the reference with the new policy; loosen what the reference itself fails."""
    from mlrel_cli.analysis.validate import validate

    rounds = 5
    bad: list[Any] = []
    for _ in range(rounds):
        report = validate(reference, Policy.model_validate(policy), now=None)
        # warnings too: a metric bound within noise of the reference would flap on the next day
        bad = [
            c
            for c in report.checks
            if c.status in (Status.FAIL, Status.INCONCLUSIVE) or (c.status == Status.WARN and c.name.startswith("performance:"))
        ]
        if not bad:
            return
        section = policy.setdefault("validate", {})
        for check in bad:
            family = check.name.split(":")[0].split("[")[0]
            if family == "duplicates":
                section["duplicates"] = {"max_fraction": min(1.0, _ceil(float(check.value) * 1.1, 4))}
                notes.append(f"the reference repeats ids ({check.value:.2%}); duplicates limit set to match")
            elif family == "downtime":
                section["downtime"] = {"enabled": False}
                notes.append(f"downtime check disabled: the reference itself has gaps ({check.message})")
            elif family == "prediction" and check.details.get("constant"):
                section["prediction"] = {"allow_constant": True}
                notes.append("the reference's predictions are constant; allowed")
            elif family == "prediction":
                section["prediction"] = {"max_invalid_fraction": min(1.0, _ceil(float(check.value) * 1.1, 4))}
                notes.append(f"the reference has invalid predictions ({check.value:.2%}); limit set to match")
            elif family == "performance" and check.status == Status.INCONCLUSIVE:
                section.setdefault("performance", {})["min_rows"] = 1
                notes.append("few labelled rows in the reference: performance.min_rows lowered to 1")
            elif family == "performance":
                # a segment is worse than the whole: the starting bound must hold for every segment
                metric = check.name.split(":")[1].split("[")[0]
                bound = section["performance"]["metrics"][metric]
                segment = "[" in check.name
                low, high = ("segment_min", "segment_max") if segment else ("min", "max")
                if bound.get("min") is not None:
                    current = bound.get(low, bound["min"])
                    bound[low] = round(max(0.0, min(current, float(check.value) - 0.05)), 3)
                if bound.get("max") is not None:
                    current = bound.get(high, bound["max"])
                    bound[high] = float(f"{max(current, float(check.value) * 1.25):.4g}")
            elif family == "fairness":
                section["fairness"] = {"enabled": False}
            else:
                section.setdefault(family, {})["enabled"] = False
                notes.append(f"check '{family}' disabled: the reference itself fails it ({check.message})")
    # a policy that still fails its own reference would be a broken promise
    still = "; ".join(f"{c.name} {c.status.value}: {c.message}" for c in bad[:3]) + ("; ..." if len(bad) > 3 else "")
    raise LogError(
        f"could not infer a policy that the reference passes: after {rounds} rounds of loosening it still gets {still};"
        " write those checks by hand",
        reference.path,
    )
