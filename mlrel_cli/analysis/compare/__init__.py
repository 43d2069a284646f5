"""``mlrel compare``: judge candidate models against the baseline before they take all traffic.

Read top to bottom, as every engine runs it:

1. plan: which engine, and what it refuses (``engine.check_engine``: shadow mode and ``--labels`` need rows side
   by side, so they stay on the local engine);
2. per-model evidence from the engine (``evidence.py``: the plan and input checks once, then
   ``Engine.model_evidence``, a ``facts.models.ModelEvidence`` per model: from every row locally, from merged
   pieces and a sample on Dask), and each candidate's weak segments judged (``slices.py``) from the per-slice
   sums ``Engine.regression_sums`` gives (from the rows kept locally, from row groups' sums on Dask);
3. judge with one vocabulary (``judge.py``) and one set of functions: canary metrics with bootstrap intervals
   and segments with their correction (``canary.py``), shadow pairs (``shadow.py``);
4. the verdict, the ranking and the Report, written once (``verdict.py``), with typed candidates
   (``payloads.py``) until the JSON edge.
"""

from __future__ import annotations

from typing import Any

from mlrel_cli.logs import Log
from mlrel_cli.policy import Policy
from mlrel_cli.report import Report


def compare_logs(
    policy: Policy,
    log: Log | None,
    baseline: str | None,
    candidates: list[str],
    baseline_log: Log | None,
    candidate_logs: list[Log],
    labels: Log | None,
    mode: str | None = None,
    inputs: dict[str, Any] | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    """Each model's evidence from the engine (every row here, sums built next to the data on Dask), judged."""
    from mlrel_cli.analysis.compare.evidence import load_models, weak_segments
    from mlrel_cli.analysis.compare.verdict import judge
    from mlrel_cli.engine import check_engine, open_engine

    engine = engine or policy.engine
    inputs = {**(inputs or {}), "engine": engine}
    mode = mode or policy.compare.mode
    check_engine(engine, labels=labels, shadow=mode == "shadow", scheduler=scheduler)
    with open_engine(engine, scheduler, policy.engine_timeout) as opened:
        base, cands, task, sources = load_models(opened, policy, log, baseline, candidates, baseline_log, candidate_logs, labels)
        weak = weak_segments(opened, task, base, cands, sources, policy, mode)
    return judge(policy, base, cands, task, weak, mode, inputs)


def inputs_of(log: Log | None, baseline_log: Log | None, candidate_logs: list[Log], labels: Log | None) -> dict[str, Any]:
    """The report's record of the logs compared, as they were named."""
    return {
        "log": log.path if log is not None else None,
        "baseline_log": baseline_log.path if baseline_log is not None else None,
        "candidate_logs": [c.path for c in candidate_logs],
        "labels": labels.path if labels is not None else None,
    }
