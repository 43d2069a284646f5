"""Compare's plan and evidence, the same on every engine: which logs and versions, which columns each is read
for, the input checks once; then each model's evidence from the engine (``Engine.model_evidence``) and each
candidate's weak segments.
"""

from __future__ import annotations

from pathlib import Path

from mlrel_cli.analysis.compare import slices as compare_slices
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError, MlrelError
from mlrel_cli.facts.models import ALL, ModelEvidence, ModelSource
from mlrel_cli.facts.proxy import proxy_inputs
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, resolve_roles
from mlrel_cli.payloads.compare import WeakRegressions
from mlrel_cli.policy import Policy
from mlrel_cli.tasks import per_query


def load_models(
    engine: Engine,
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
    labels: Log | None,
) -> tuple[ModelEvidence, list[ModelEvidence], str, list[ModelSource]]:
    """The baseline's and each candidate's evidence, the task, and where their rows are."""
    if log is not None:
        if not baseline or not candidates:
            raise MlrelError("--log needs --baseline VERSION and at least one --candidate VERSION")
        roles = _roles(log, policy, labels)
        if roles.model_version is None:
            raise LogError(
                f"--log needs a model_version column ('{policy.columns.model_version}', set columns.model_version)",
                log.path,
            )
        versions = (baseline, *candidates)
        if baseline in candidates:  # a version judged against itself would always be promoted
            raise MlrelError(f"--candidate {baseline} is the baseline: a version cannot be compared with itself")
        if len(set(candidates)) < len(candidates):
            raise MlrelError("--candidate names the same version twice")
        sources = [ModelSource(log, versions, _columns(log, roles, policy, labels), versions, roles)]
    else:
        if baseline_log is None or not candidate_logs:
            raise MlrelError("give --log with --baseline and --candidate, or --baseline-log and --candidate-log")
        names = candidates if len(candidates) == len(candidate_logs) else [None] * len(candidate_logs)
        sources = []
        for source, name in zip([baseline_log, *candidate_logs], [baseline, *names], strict=True):
            roles = _roles(source, policy, labels)
            sources.append(ModelSource(source, (ALL,), _columns(source, roles, policy, labels), (name,), roles))
    models, task = engine.model_evidence(sources, policy, labels)
    base, cands = models[0], models[1:]
    if log is None:
        for cand, path in zip(cands, candidate_logs, strict=True):
            if cand.version == base.version:  # both logs say the same version: name the candidate by its file
                cand.version = Path(path.path).name
    for model in models:
        if model.rows == 0:
            raise LogError(f"model '{model.version}' has no rows")
    return base, cands, task, sources


def _roles(log: Log, policy: Policy, labels: Log | None) -> Roles:
    return resolve_roles(log, policy, label_from_labels_file=labels is not None)


def _columns(log: Log, roles: Roles, policy: Policy, labels: Log | None) -> dict[str, str]:
    """The columns a model's evidence reads, under compare's names; checked on the schema before any row is read."""
    columns = {"__prediction": roles.prediction}
    for key, name in (("__latency", roles.latency), ("__version", roles.model_version), ("__id", roles.id)):
        if name:
            columns[key] = name
    if roles.label and labels is None:
        columns["__label"] = roles.label
    for segment in policy.segments:
        if not log.has(segment):
            raise LogError(f"segment column '{segment}' is not in the log", log.path)
        columns[f"__seg_{segment}"] = segment
    cols = policy.columns
    for key, name in (("__query", cols.query), ("__position", cols.position)):
        if name and log.has(name):
            columns[key] = name
    for metric in policy.proxy_metrics:
        for column in proxy_inputs(policy, log, metric).values():
            columns[f"__col_{column}"] = column
    has_labels = "__label" in columns or labels is not None
    ranking = per_query(policy.task) and has_labels
    if ranking and ("__query" not in columns or "__position" not in columns):
        raise LogError(
            "comparing ranking models needs the query and position columns (columns.query, columns.position)", log.path
        )
    for name, spec in policy.proxy_metrics.items():
        if spec.per == "query" and "__query" not in columns:
            raise LogError(f"proxy metric '{name}' is per query and the log has no query column (columns.query)", log.path)
    columns.update(compare_slices.columns_to_read(log, roles, policy, has_labels))
    return columns


def weak_segments(
    engine: Engine,
    task: str,
    base: ModelEvidence,
    cands: list[ModelEvidence],
    sources: list[ModelSource],
    policy: Policy,
    mode: str,
) -> list[WeakRegressions | None]:
    """Each candidate's weak segments, judged from its and the baseline's per-slice sums (``Engine.regression_sums``:
    from every row locally, from a sample's bins and row groups' sums on Dask)."""
    if not policy.compare.weak_segments.enabled:
        return [None] * len(cands)
    found = engine.regression_sums(sources, [base, *cands], task, policy, mode)
    return [compare_slices.judged(task, sums, policy) for sums in found]
