"""Compare's evidence on the local engine: each model's rows read into numpy arrays (``ModelRows``).

Exact where a cluster approximates (sorted values, ROC AUC from the rows), and the only path for what needs rows
side by side: shadow mode's pairs on the id and a ``--labels`` file joined on it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis.compare import canary, shadow
from mlrel_cli.analysis.compare import slices as compare_slices
from mlrel_cli.analysis.compare.verdict import Twin
from mlrel_cli.errors import LogError, MlrelError
from mlrel_cli.facts.models import ModelRows, encode_truth, model_rows, model_task
from mlrel_cli.logs import Log, Roles, join_labels, resolve_roles
from mlrel_cli.policy import Policy


def load_models(
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
    labels: Log | None,
) -> tuple[ModelRows, list[ModelRows], str]:
    if log is not None:
        if not baseline or not candidates:
            raise MlrelError("--log needs --baseline VERSION and at least one --candidate VERSION")
        roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
        if roles.model_version is None:
            raise LogError(
                f"--log needs a model_version column ('{policy.columns.model_version}', set columns.model_version)",
                log.path,
            )
        versions = pc.unique(log.column(roles.model_version)).to_pylist()
        for version in [baseline, *candidates]:
            if version not in [str(v) for v in versions]:
                shown = ", ".join(str(v) for v in versions[:10])
                raise LogError(f"version '{version}' is not in the log's {roles.model_version} (has: {shown})", log.path)
        table = _read(log, roles, policy, labels)
        column = pc.cast(table.column("__version"), pa.string())
        base = model_rows(table.filter(pc.equal(column, baseline)), baseline, policy)
        cands = [model_rows(table.filter(pc.equal(column, c)), c, policy) for c in candidates]
    else:
        if baseline_log is None or not candidate_logs:
            raise MlrelError("give --log with --baseline and --candidate, or --baseline-log and --candidate-log")
        base = _from_log(baseline_log, policy, labels, baseline)
        names = candidates if len(candidates) == len(candidate_logs) else [None] * len(candidate_logs)
        cands = [_from_log(c, policy, labels, n) for c, n in zip(candidate_logs, names, strict=True)]
        for cand, path in zip(cands, candidate_logs, strict=True):
            if cand.version == base.version:  # both logs say the same version: name the candidate by its file
                cand.version = Path(path.path).name
    task = policy.task or model_task(base)
    for model in [base, *cands]:
        if model.rows == 0:
            raise LogError(f"model '{model.version}' has no rows")
    for model in [base, *cands]:
        encode_truth(model, task, policy)
    return base, cands, task


def _from_log(log: Log, policy: Policy, labels: Log | None, name: str | None) -> ModelRows:
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    table = _read(log, roles, policy, labels)
    version = name
    if version is None and roles.model_version is not None:
        values = pc.unique(table.column("__version")).to_pylist()
        version = str(values[0]) if len(values) == 1 else None
    return model_rows(table, version or log.path.rsplit("/", 1)[-1], policy)


def _read(log: Log, roles: Roles, policy: Policy, labels: Log | None) -> pa.Table:
    columns = {"__prediction": roles.prediction}
    if roles.latency:
        columns["__latency"] = roles.latency
    if roles.model_version:
        columns["__version"] = roles.model_version
    if roles.id:
        columns["__id"] = roles.id
    if roles.label and labels is None:
        columns["__label"] = roles.label
    for segment in policy.segments:
        columns[f"__seg_{segment}"] = segment
    cols = policy.columns
    if cols.query and log.has(cols.query):
        columns["__query"] = cols.query
    if cols.position and log.has(cols.position):
        columns["__position"] = cols.position
    for spec in policy.proxy_metrics.values():
        for column in (spec.column, spec.numerator, spec.denominator):
            if column:
                if not log.has(column):
                    raise LogError(f"proxy metric column '{column}' is not in the log", log.path)
                columns[f"__col_{column}"] = column
    columns.update(compare_slices.columns_to_read(log, roles, policy, bool(roles.label) or labels is not None))
    names = list(dict.fromkeys(columns.values()))
    table = log.read(names)
    out = {key: table.column(name) for key, name in columns.items()}
    if labels is not None:
        out["__label"] = pa.chunked_array([join_labels(log, roles, labels, policy).labels])
    return pa.table(out)


# how the local engine judges a candidate: from its rows
TWIN = Twin(
    canary=canary.compare_canary,
    segments=canary.compare_segments,
    weak_segments=compare_slices.regressions,
    shadow=shadow.compare_shadow,
)
