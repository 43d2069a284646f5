"""The policy: everything a team decides about one model, in one YAML file.

Loading validates the whole file before any log is read. Every problem is
reported with its path in the file (``validate.missing.max_fraction``) and,
for an unknown key or value, the closest known one. A policy may
``extends:`` a base policy; ``Policy.source_of`` tells which file set a
value, so reports can say where each threshold came from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from mlrel_cli.durations import parse_duration
from mlrel_cli.errors import PolicyError
from mlrel_cli.policy_files import read_with_bases
from mlrel_cli.policy_messages import describe_error, file_loc, join_problems, suggest
from mlrel_cli.stats.names import COMPARE_EXTRA_BY_NAME, METRIC_BY_NAME, DriftMethodName, TaskName

DEFAULT_SOURCE = "default"


def _duration(value: Any) -> dt.timedelta | None:
    if value is None or isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit (write it as a duration such as 15m or 1h)")
    return parse_duration(value)


Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# a probability of error: 0 would need infinite thresholds, 1 would flag everything
ErrorRate = Annotated[float, Field(gt=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
if TYPE_CHECKING:  # to the code a task or a method is a name (str), compared with tasks.py's and stats/drift's
    Task = str
    DriftMethod = str
else:  # to pydantic the names it accepts, so an unknown one is refused with the closest known one
    Task = TaskName
    DriftMethod = DriftMethodName
FeatureKind = Literal["numeric", "categorical", "text"]


class Section(BaseModel):
    """Base of every policy section: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Check(Section):
    enabled: bool = True


# ---------------------------------------------------------------- columns, features


class Columns(Section):
    """Names of the columns that play a role; the defaults are the spec's names."""

    timestamp: str = "timestamp"
    id: str = "prediction_id"
    model_version: str = "model_version"
    prediction: str = "prediction"
    label: str = "label"
    latency: str = "latency_ms"
    label_timestamp: str = "label_timestamp"
    query: str | None = None
    position: str | None = None


class Feature(Section):
    kind: FeatureKind | None = None
    dtype: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | bool] | None = None
    max_missing: Fraction | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Feature:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Bound(Section):
    """Limits on a metric: ``min``/``max`` overall and per segment, unless ``segment_min``/``segment_max``
    give segments their own (a segment's metric is often lower than the whole's)."""

    min: float | None = None
    max: float | None = None
    segment_min: float | None = None
    segment_max: float | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Bound:
        _check_ordered(self.min, self.max, "min", "max")
        _check_ordered(self.segment_min, self.segment_max, "segment_min", "segment_max")
        return self

    def for_segment(self) -> Bound:
        return Bound(
            min=self.segment_min if self.segment_min is not None else self.min,
            max=self.segment_max if self.segment_max is not None else self.max,
        )


class ProxyMetric(Section):
    """A business metric over log columns (built by the ranking issue; the format is fixed now)."""

    kind: Literal["mean", "rate", "ratio"]
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    per: Literal["request", "query"] = "request"
    higher_is_better: bool = True
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds_ordered(self) -> ProxyMetric:
        _check_ordered(self.min, self.max, "min", "max")
        return self


# ---------------------------------------------------------------- validate


class SchemaCheck(Check):
    pass


class MissingCheck(Check):
    max_fraction: Fraction = 0.5
    warn_fraction: Fraction = 0.05
    tolerance: Fraction = 0.05


class RangesCheck(Check):
    max_fraction: Fraction = 0.01
    warn_fraction: Fraction = 0.001
    top: int = Field(default=5, ge=1, le=100)


class UnseenCategoriesCheck(Check):
    max_fraction: Fraction = 0.01
    warn_fraction: Fraction = 0.0
    top: int = Field(default=5, ge=1, le=100)


class DuplicatesCheck(Check):
    max_fraction: Fraction = 0.0
    top: int = Field(default=5, ge=1, le=100)


class LabelCoverageCheck(Check):
    min_fraction: Fraction = 0.0
    warn_below: Fraction = 0.5
    max_lag: Duration | None = None


class PredictionCheck(Check):
    max_invalid_fraction: Fraction = 0.0
    allow_constant: bool = False


class VolumeCheck(Check):
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)


class FreshnessCheck(Check):
    max_age: Duration | None = None
    max_clock_skew: Duration = dt.timedelta(minutes=5)


class DowntimeCheck(Check):
    window: Duration | Literal["auto"] = "auto"
    min_fraction: Fraction = 0.1


class LatencyCheck(Check):
    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)


class PerformanceCheck(Check):
    min_rows: int = Field(default=100, ge=1)
    min_segment_size: int = Field(default=100, ge=1)
    max_segments: int = Field(default=50, ge=1)
    decision_threshold: Fraction = 0.5
    k: int = Field(default=10, ge=1, le=1000)
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)
    positive_label: str | int | bool = 1
    metrics: dict[str, Bound] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_metrics(self) -> PerformanceCheck:
        for name in self.metrics:
            _check_metric_name(name)
        return self


class FairnessCheck(Check):
    segment: str | None = None
    metric: str = "positive_rate"
    max_gap: Fraction = 0.1
    min_group_size: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _known_metric(self) -> FairnessCheck:
        _check_metric_name(self.metric)
        return self


class WeakSegmentsCheck(Check):
    """The search for slices where the loss concentrates (docs/segments.md)."""

    columns: list[str] | None = None
    min_rows: int = Field(default=200, ge=2)
    min_positives: int = Field(default=10, ge=0)
    min_effect: float = Field(default=0.2, ge=0)
    alpha: Fraction = 0.05
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)
    bins: int = Field(default=5, ge=2, le=20)
    top_categories: int = Field(default=20, ge=1, le=200)
    max_slices: int = Field(default=50_000, ge=1, le=1_000_000)
    time_budget: Duration = Field(default_factory=lambda: dt.timedelta(seconds=10))
    max_reported: int = Field(default=10, ge=1, le=1000)
    max_gap: float | None = Field(default=None, ge=0)


class Validate(Section):
    schema_: SchemaCheck = Field(default_factory=SchemaCheck, alias="schema")
    missing: MissingCheck = Field(default_factory=MissingCheck)
    ranges: RangesCheck = Field(default_factory=RangesCheck)
    unseen_categories: UnseenCategoriesCheck = Field(default_factory=UnseenCategoriesCheck)
    duplicates: DuplicatesCheck = Field(default_factory=DuplicatesCheck)
    label_coverage: LabelCoverageCheck = Field(default_factory=LabelCoverageCheck)
    prediction: PredictionCheck = Field(default_factory=PredictionCheck)
    volume: VolumeCheck = Field(default_factory=VolumeCheck)
    freshness: FreshnessCheck = Field(default_factory=FreshnessCheck)
    downtime: DowntimeCheck = Field(default_factory=DowntimeCheck)
    latency: LatencyCheck = Field(default_factory=LatencyCheck)
    performance: PerformanceCheck = Field(default_factory=PerformanceCheck)
    fairness: FairnessCheck = Field(default_factory=FairnessCheck)
    weak_segments: WeakSegmentsCheck = Field(default_factory=WeakSegmentsCheck)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------- drift, compare, rollback, postmortem


class DriftFeature(Section):
    method: DriftMethod | None = None
    warn: float | None = Field(default=None, ge=0)
    fail: NonNegative | Literal["auto"] | None = None
    critical: bool = False


class DriftDefaults(Section):
    numeric: DriftMethod = "wasserstein"
    categorical: DriftMethod = "jensen_shannon"


class DriftTests(Section):
    alpha: ErrorRate = 0.05
    correction: Literal["benjamini_hochberg", "bonferroni", "none"] = "benjamini_hochberg"


class Drift(Section):
    methods: DriftDefaults = Field(default_factory=DriftDefaults)
    features: dict[str, DriftFeature] = Field(default_factory=dict)
    bins: int = Field(default=10, ge=2, le=1000)
    window: Duration | None = None
    onset_windows: int = Field(default=2, ge=1, le=100)
    min_rows: int = Field(default=100, ge=1)
    run_false_alarm_rate: ErrorRate = 0.05
    false_alarm_rate: ErrorRate | None = None
    max_missing_change: Fraction = 0.01
    tests: DriftTests = Field(default_factory=DriftTests)
    critical: list[str] = Field(default_factory=list)
    max_drifted_share: Fraction = 0.5
    prediction: bool = True
    label: bool = True
    concept: bool = True
    concept_metric: str | None = None
    concept_max_degradation: float | None = Field(default=None, ge=0)  # absolute, in the metric's units
    concept_max_relative_degradation: float = Field(default=0.05, ge=0)  # of the reference's value: scale-free
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)

    @model_validator(mode="after")
    def _known_metric(self) -> Drift:
        if self.concept_metric is not None:
            _check_metric_name(self.concept_metric)
        return self


class Bootstrap(Section):
    resamples: int = Field(default=1000, ge=100, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    seed: int = 0


# metrics compare measures beyond the model metrics of validate
COMPARE_EXTRA_METRICS = tuple(COMPARE_EXTRA_BY_NAME)


class CompareWeakSegments(Section):
    """Slices where the candidate regresses; the search's settings are validate.weak_segments'."""

    enabled: bool = True
    reject: bool = False


class Compare(Section):
    mode: Literal["canary", "shadow"] = "canary"
    primary_metric: str | None = None
    min_rows: int = Field(default=500, ge=1)
    alpha: ErrorRate = 0.05
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    max_regression: dict[str, NonNegative] = Field(default_factory=dict)
    max_latency_increase: Fraction = 0.1
    max_error_rate_increase: Fraction = 0.001
    segment_correction: Literal["benjamini_hochberg", "bonferroni", "none"] = "benjamini_hochberg"
    reject_on_segment_regression: bool = True
    top_disagreements: int = Field(default=10, ge=0, le=1000)
    min_paired_fraction: Fraction = 0.9
    min_segment_size: int = Field(default=200, ge=1)
    weak_segments: CompareWeakSegments = Field(default_factory=CompareWeakSegments)

    @model_validator(mode="after")
    def _known_metrics(self) -> Compare:
        # proxy metric names are checked against proxy_metrics by the Policy validator
        return self


class Rollback(Section):
    require_reason: bool = True
    require_incident: bool = False
    # `rollback --to previous` this soon after another rollback is a double rollback: refused
    settle: Duration = Field(default_factory=lambda: dt.timedelta(seconds=60))


class Rollout(Section):
    """`mlrel rollout`: the traffic steps of a gradual rollout and what each step must serve before it may advance."""

    steps: list[float] = Field(default_factory=lambda: [1.0, 5.0, 25.0, 50.0, 100.0])  # percent of traffic
    min_duration: Duration | None = Field(default_factory=lambda: dt.timedelta(hours=1))  # null: rows alone
    min_rows: int = Field(default=1000, ge=0)
    on_inconclusive: Literal["hold", "rollback"] = "hold"

    @model_validator(mode="after")
    def _steps_climb_to_all_traffic(self) -> Rollout:
        if not self.steps or any(not 0 < s <= 100 for s in self.steps):
            raise ValueError("steps are percentages of traffic above 0 and at most 100")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)) or self.steps[-1] != 100:
            raise ValueError("steps must increase and end at 100 (all traffic)")
        return self


class Postmortem(Section):
    availability_target: float = Field(default=0.9995, gt=0.0, lt=1.0)
    primary_metric: str | None = None
    window: Duration = Field(default_factory=lambda: dt.timedelta(minutes=15))
    change_window: Duration = Field(default_factory=lambda: dt.timedelta(hours=2))


class Retrain(Section):
    """How `mlrel retrain-set` draws a training set, so the same set can be rebuilt in CI."""

    strategy: Literal["recent", "upsample-weak-segments", "season", "segment"] = "recent"
    seed: int = 0
    last: Duration | None = None
    rows: int | None = Field(default=None, ge=1)
    start: str | None = None
    end: str | None = None
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    segment_column: str | None = None
    values: list[str] | None = None
    segments: list[str] | None = None
    worst: int = Field(default=1, ge=1)
    factor: float | None = Field(default=None, ge=1.0)
    target_share: Fraction | None = None
    min_segment_size: int = Field(default=100, ge=1)


# ---------------------------------------------------------------- metrics and notifications

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Metrics(Section):
    """Where a run pushes its Prometheus metrics; ``--pushgateway`` wins."""

    pushgateway: str | None = Field(default=None, pattern=r"^https?://")
    job: str = Field(default="mlrel", min_length=1)
    timeout: Duration = Field(default_factory=lambda: dt.timedelta(seconds=5))


class NotifyTarget(Section):
    """One webhook; secrets are named by environment variable, never written in the policy."""

    kind: Literal["webhook", "slack", "pagerduty"]
    url: str | None = Field(default=None, pattern=r"^https?://")
    url_env: EnvName | None = None
    token_env: EnvName | None = None
    routing_key_env: EnvName | None = None

    @model_validator(mode="after")
    def _secrets_from_env(self) -> NotifyTarget:
        if self.kind == "slack" and (self.url is not None or self.url_env is None):
            raise ValueError("a Slack webhook URL is a secret: name its environment variable in url_env, not url")
        if self.kind == "webhook" and (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of url or url_env")
        if self.kind == "pagerduty" and self.routing_key_env is None:
            raise ValueError("a PagerDuty target needs routing_key_env (the environment variable holding the routing key)")
        if self.kind != "pagerduty" and self.routing_key_env is not None:
            raise ValueError("routing_key_env is only for kind pagerduty")
        if self.kind != "webhook" and self.token_env is not None:
            raise ValueError("token_env is only for kind webhook")
        return self


class Notify(Section):
    """Who is told when a run's status changes, and when to tell them again."""

    targets: dict[str, NotifyTarget] = Field(default_factory=dict)
    inconclusive_runs: int | None = Field(default=None, ge=1)
    remind_every: Duration | None = None
    timeout: Duration = Field(default_factory=lambda: dt.timedelta(seconds=5))
    retries: int = Field(default=2, ge=0, le=10)


class Drill(Section):
    """How `mlrel drill` rehearses incidents: the cron cadence, the error budget, which faults must be caught."""

    every: Duration = Field(default_factory=lambda: dt.timedelta(minutes=5))
    budget: Duration | None = None  # default: the week's error budget of postmortem.availability_target
    rollback_time: Duration = Field(default_factory=lambda: dt.timedelta(minutes=1))
    horizon: Duration | None = None  # default: 12 windows of `every`
    required: list[str] | None = None  # default: every fault
    sizes: dict[str, float] = Field(default_factory=dict)  # fault name -> size (default: the injector's)
    columns: dict[str, str] = Field(default_factory=dict)  # fault name -> the column it hits (default: the first that fits)
    canary: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None  # share of traffic a canary serves; faults land there


# ---------------------------------------------------------------- the policy


class Policy(Section):
    version: Literal[1] = 1
    extends: str | list[str] | None = None
    model: str | None = None
    task: Task | None = None
    columns: Columns = Field(default_factory=Columns)
    features: dict[str, Feature] | None = None
    ignore: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    proxy_metrics: dict[str, ProxyMetric] = Field(default_factory=dict)
    history: str | None = None
    registry: str | None = None
    engine: Literal["local", "dask"] = "local"
    engine_timeout: Duration = Field(default_factory=lambda: dt.timedelta(minutes=5))
    validate_: Validate = Field(default_factory=Validate, alias="validate")
    drift: Drift = Field(default_factory=Drift)
    compare: Compare = Field(default_factory=Compare)
    rollback: Rollback = Field(default_factory=Rollback)
    rollout: Rollout = Field(default_factory=Rollout)
    postmortem: Postmortem = Field(default_factory=Postmortem)
    retrain: Retrain = Field(default_factory=Retrain)
    metrics: Metrics = Field(default_factory=Metrics)
    notify: Notify = Field(default_factory=Notify)

    drill: Drill = Field(default_factory=Drill)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _compare_metrics_known(self) -> Policy:
        for name in [self.compare.primary_metric, *self.compare.max_regression]:
            if name is None or name in COMPARE_EXTRA_METRICS or name in self.proxy_metrics:
                continue
            if name not in METRIC_BY_NAME:
                known = [*METRIC_BY_NAME, *COMPARE_EXTRA_METRICS, *self.proxy_metrics]
                raise ValueError(f"compare: unknown metric '{name}'{suggest(name, known)}")
        return self

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _files: tuple[str, ...] = PrivateAttr(default=())

    @property
    def files(self) -> tuple[str, ...]:
        """The files this policy was read from, base policies first."""
        return self._files

    def source_of(self, path: str) -> str:
        """The file that set ``path`` (such as ``validate.missing.max_fraction``), or ``default``.

        For a section, the file that set something inside it (the last one read wins).
        """
        if path not in self._sources:
            inside = [source for key, source in self._sources.items() if key.startswith(path + ".")]
            if inside:
                return inside[-1]
        while path:
            if path in self._sources:
                return self._sources[path]
            path = path.rpartition(".")[0]
        return DEFAULT_SOURCE

    def is_set(self, path: str) -> bool:
        return self.source_of(path) != DEFAULT_SOURCE

    def explicit_columns(self) -> dict[str, str]:
        """Roles whose column name some policy file wrote down (so the log must have it)."""
        return {
            role: name for role, name in self.columns.model_dump().items() if name is not None and self.is_set(f"columns.{role}")
        }


def _check_ordered(low: float | None, high: float | None, low_key: str, high_key: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_key} ({low}) is greater than {high_key} ({high}): no value could pass")


def _check_metric_name(name: str) -> None:
    if name not in METRIC_BY_NAME:
        raise ValueError(f"unknown metric '{name}'{suggest(name, METRIC_BY_NAME)}")


# ---------------------------------------------------------------- loading


def default_policy() -> Policy:
    return Policy()


def load_policy(path: str | Path | None) -> Policy:
    """Read, merge (``extends``) and validate a policy; raise PolicyError naming each problem."""
    if path is None:
        return default_policy()
    path = Path(path)
    merged, sources, files = read_with_bases(path)
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        problems: list[str] = []
        seen_paths: set[tuple[Any, ...]] = set()
        for error in exc.errors():
            # a union (such as a duration or 'auto') reports once per member: keep the first
            where = file_loc(error["loc"])
            if where in seen_paths:
                continue
            seen_paths.add(where)
            problems.append(describe_error(error, Policy))
        raise PolicyError(join_problems(problems), str(path)) from None
    policy._sources = sources
    policy._files = files
    check_metrics_fit_the_task(policy)
    return policy


def check_metrics_fit_the_task(policy: Policy, task: str | None = None, prefix: str = "") -> None:
    """A metric of another task would only ever be skipped: refuse it, naming the key and the file that set it.

    With ``task:`` written down this runs at load time over every key; with a task inferred from the log
    (``task``), a command checks the keys under its own section (``prefix``)."""
    inferred = policy.task is None and task is not None
    task = policy.task or task
    if task is None:
        return
    named = [(f"validate.performance.metrics.{name}", name) for name in policy.validate_.performance.metrics]
    if "metric" in policy.validate_.fairness.model_fields_set:
        named.append(("validate.fairness.metric", policy.validate_.fairness.metric))
    named += [(f"compare.max_regression.{name}", name) for name in policy.compare.max_regression]
    for key, name in (
        ("drift.concept_metric", policy.drift.concept_metric),
        ("compare.primary_metric", policy.compare.primary_metric),
        ("postmortem.primary_metric", policy.postmortem.primary_metric),
    ):
        if name is not None:
            named.append((key, name))
    for key, name in named:
        info = METRIC_BY_NAME.get(name)
        if key.startswith(prefix) and info is not None and task not in info.tasks:
            how = " (inferred from the log: set task: if that is wrong)" if inferred else ""
            raise PolicyError(
                f"{key}: metric '{name}' does not apply to task '{task}'{how}; it applies to {', '.join(info.tasks)}",
                policy.source_of(key),
            )
