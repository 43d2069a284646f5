"""``mlrel compare``: judge candidate models against the baseline before they take all traffic.

Read top to bottom, as every engine runs it:

1. plan: which engine, and what it refuses (``engine.check_engine``: shadow mode and ``--labels`` need rows side
   by side, so they stay on the local engine);
2. per-model evidence from the engine: the local engine's rows (``load.py``, ``ModelRows``) or the cluster's
   sums (``cluster.py``, ``ModelSummary``);
3. judge with one vocabulary (``judge.py``): canary metrics with bootstrap intervals (``canary.py`` / its cluster
   twin), shadow pairs (``shadow.py``), segments with their correction, weak segments (``slices.py``);
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
    """Load each model's evidence on the engine (rows here, or sums built on a Dask cluster) and judge them."""
    from mlrel_cli.analysis.compare.verdict import judge
    from mlrel_cli.engine import check_engine, open_engine

    engine = engine or policy.engine
    inputs = {**(inputs or {}), "engine": engine}
    if check_engine(engine, labels=labels, shadow=(mode or policy.compare.mode) == "shadow") == "local":
        from mlrel_cli.analysis.compare import load

        base, cands, task = load.load_models(policy, log, baseline, candidates, baseline_log, candidate_logs, labels)
        return judge(policy, base, cands, task, load.TWIN, mode, inputs)
    from mlrel_cli.analysis.compare import cluster

    with open_engine(engine, scheduler, policy.engine_timeout) as opened:
        base_summary, summaries, task = cluster.load_models_on_cluster(
            opened, policy, log, baseline, candidates, baseline_log, candidate_logs
        )
    return judge(policy, base_summary, summaries, task, cluster.TWIN, mode, inputs)
