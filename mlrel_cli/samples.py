"""Deterministic generator of the sample prediction logs (``samples/`` and ``mlrel demo``).

A binary classifier that scores checkout requests for fraud. It writes:

- ``reference.parquet``: a day of traffic served by model v41, labels inline;
- ``current.parquet``: the next day, same model, no label column;
- ``labels.parquet``: late labels for the current day (``prediction_id``,
  ``label``, ``label_timestamp``), about 85 % of them arrived;
- ``incident.parquet``: the day of an incident (2026-11-25, labels inline):
  v41 serves until 13:00 UTC, when v42 takes all traffic, until the rollback
  at 13:55; v42 scores worse and its feature pipeline reads ``amount`` 1.8
  times too large;
- ``ranking_reference.parquet`` and ``ranking_current.parquet``: a search
  ranking model's results (ten per query, clicks, purchases, revenue) on a
  good day (v7) and on a day when v8 shipped at 12:00 and ranks badly;
- ``registry.yaml`` and ``registry.history.jsonl``: the model's registry up
  to that deploy (v41 in production since 2026-11-20, v42 registered,
  canaried at 5 % from 12:30 and promoted at 13:00; ``naive`` fallback).

Traffic follows a daily cycle, so the downtime check is tried on traffic
that is not flat. Run ``python samples/generate.py [OUT_DIR]`` (or ``mlrel
demo``); the same seed always gives the same data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

SEED = 20261125
DAY_US = 86_400 * 1_000_000
REFERENCE_DAY_US = 1_795_392_000 * 1_000_000  # 2026-11-23T00:00:00Z
COUNTRIES = ["US", "GB", "FR", "DE", "IN", "BR"]
COUNTRY_P = [0.4, 0.15, 0.12, 0.13, 0.12, 0.08]
DEVICES = ["mobile", "desktop", "tablet"]
DEVICE_P = [0.6, 0.32, 0.08]
PAYMENTS = ["card", "paypal", "wallet"]
PAYMENT_P = [0.7, 0.2, 0.1]


def daily_times(rng: np.random.Generator, n: int, day_start_us: int) -> np.ndarray:
    """Sorted request times over one day, busier in the afternoon than at night."""
    hours = np.linspace(0, 24, 24 * 60, endpoint=False)
    rate = 1.0 + 0.6 * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
    minute = rng.choice(len(hours), size=n, p=rate / rate.sum())
    offsets = minute * 60_000_000 + rng.integers(0, 60_000_000, size=n)
    return np.sort(day_start_us + offsets)


def make_day(
    rng: np.random.Generator,
    n: int,
    day_start_us: int,
    prefix: str,
    version: str,
    bad_from_us: int | None = None,
    bad_until_us: int | None = None,
) -> dict[str, pa.Array]:
    """One day of traffic; between ``bad_from_us`` and ``bad_until_us`` v42 serves it, worse and with a pipeline bug."""
    ts = daily_times(rng, n, day_start_us)
    bad = np.zeros(n, dtype=bool)
    if bad_from_us is not None:
        bad = (ts >= bad_from_us) & (ts < (bad_until_us if bad_until_us is not None else np.iinfo(np.int64).max))
    true_amount = np.round(rng.lognormal(3.6, 0.9, n), 2)
    amount = np.where(bad, np.round(true_amount * 1.8, 2), true_amount)
    account_age_days = rng.integers(0, 3650, n)
    n_items = rng.poisson(2.0, n) + 1
    discount = np.round(rng.beta(1.5, 8.0, n), 3)
    discount_missing = rng.random(n) < 0.1
    country = rng.choice(COUNTRIES, size=n, p=COUNTRY_P)
    device = rng.choice(DEVICES, size=n, p=DEVICE_P)
    payment = rng.choice(PAYMENTS, size=n, p=PAYMENT_P)

    z = (
        -3.0
        + 0.6 * (np.log(true_amount) - 3.6)
        - 0.0006 * account_age_days
        + 0.25 * (n_items - 3)
        + 0.9 * (payment == "wallet")
        + 0.5 * (country == "BR")
        + 0.4 * (device == "tablet")
    )
    risk = 1.0 / (1.0 + np.exp(-z))
    label = (rng.random(n) < risk).astype(np.int8)
    # the model sees the risk through noise, as a real model would; v42 sees it worse, through the bad amount
    seen = z + 0.6 * (np.log(amount) - np.log(true_amount))
    prediction = 1.0 / (1.0 + np.exp(-(seen + rng.normal(0, np.where(bad, 2.2, 0.8), n))))
    latency = np.round(rng.lognormal(3.0, 0.35, n), 2)

    return {
        "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "prediction_id": pa.array([f"{prefix}-{i:07d}" for i in range(n)]),
        "model_version": pa.array(np.where(bad, "v42", version).tolist()),
        "amount": pa.array(amount),
        "account_age_days": pa.array(account_age_days, type=pa.int32()),
        "n_items": pa.array(n_items, type=pa.int16()),
        "discount": pa.array(discount, mask=discount_missing),
        "country": pa.array(country),
        "device": pa.array(device),
        "payment_method": pa.array(payment),
        "prediction": pa.array(np.round(prediction, 5)),
        "label": pa.array(label),
        "latency_ms": pa.array(latency),
    }


def main(out: Path, rows: int = 20_000, ranking: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    reference = make_day(rng, rows, REFERENCE_DAY_US, "r", "v41")
    pq.write_table(pa.table(reference), out / "reference.parquet", row_group_size=8192)

    current = make_day(rng, rows, REFERENCE_DAY_US + DAY_US, "c", "v41")
    labels = current.pop("label")
    pq.write_table(pa.table(current), out / "current.parquet", row_group_size=8192)

    arrived = rng.random(rows) < 0.85
    delay_us = (rng.exponential(6 * 3600, rows) * 1_000_000).astype(np.int64)
    label_ts = current["timestamp"].cast(pa.int64()).to_numpy() + delay_us
    label_table = pa.table(
        {
            "prediction_id": current["prediction_id"].filter(pa.array(arrived)),
            "label": labels.filter(pa.array(arrived)),
            "label_timestamp": pa.array(label_ts[arrived], type=pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(label_table, out / "labels.parquet")

    incident_day = REFERENCE_DAY_US + 2 * DAY_US  # 2026-11-25
    deploy_us = incident_day + 13 * 3600 * 1_000_000
    rollback_us = incident_day + (13 * 3600 + 55 * 60) * 1_000_000
    incident = make_day(rng, rows, incident_day, "i", "v41", bad_from_us=deploy_us, bad_until_us=rollback_us)
    pq.write_table(pa.table(incident), out / "incident.parquet", row_group_size=8192)
    write_registry(out)
    if ranking:
        write_ranking(out)


def write_registry(out: Path) -> None:
    """The registry as it stood when v42 went to production: plain files, as `mlrel registry` writes them."""
    versions = [
        ("naive", "s3://models/checkout-fraud/naive", None, "2026-10-01T09:00:00.000000Z", "candidate"),
        ("v40", "s3://models/checkout-fraud/v40", "5be1c2d", "2026-11-02T10:00:00.000000Z", "retired"),
        ("v41", "s3://models/checkout-fraud/v41", "9f3a7e1", "2026-11-19T16:00:00.000000Z", "retired"),
        ("v42", "s3://models/checkout-fraud/v42", "c41d0b8", "2026-11-25T10:05:00.000000Z", "production"),
    ]
    events = [
        ("2026-10-01T09:00:00.000000Z", "register", None, "naive", "candidate", None, "ml-platform"),
        ("2026-10-01T09:01:00.000000Z", "set_fallback", None, "naive", None, None, "ml-platform"),
        ("2026-11-02T10:00:00.000000Z", "register", None, "v40", "candidate", None, "ci"),
        ("2026-11-03T09:00:00.000000Z", "promote", None, "v40", "production", None, "dana"),
        ("2026-11-19T16:00:00.000000Z", "register", None, "v41", "candidate", None, "ci"),
        ("2026-11-20T10:00:00.000000Z", "promote", "v40", "v41", "production", None, "dana"),
        ("2026-11-25T10:05:00.000000Z", "register", None, "v42", "candidate", None, "ci"),
        ("2026-11-25T12:30:00.000000Z", "promote", None, "v42", "canary", 0.05, "sam"),
        ("2026-11-25T13:00:00.000000Z", "promote", "v41", "v42", "production", None, "sam"),
    ]
    record = {
        "production": "v42",
        "fallback": "naive",
        "versions": [
            {k: v for k, v in zip(("version", "artifact", "code_version", "created", "status"), row, strict=True) if v}
            for row in versions
        ],
    }
    header = "# mlrel model registry; its history is in registry.history.jsonl. Change it with `mlrel registry`.\n"
    (out / "registry.yaml").write_text(
        header + yaml.safe_dump({"version": 1, "models": {"checkout-fraud": record}, "events": len(events)}, sort_keys=False)
    )
    lines = []
    for time, action, source, target, stage, traffic, actor in events:
        event: dict[str, object] = {"model": "checkout-fraud", "time": time, "actor": actor, "action": action}
        event.update({k: v for k, v in (("from", source), ("to", target), ("stage", stage), ("traffic", traffic)) if v})
        lines.append(json.dumps(event))
    (out / "registry.history.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())


DEMO_POLICY = """\
# Policy of the checkout fraud model (written by `mlrel demo`; see docs/policy.md)
version: 1
model: checkout-fraud
task: binary_classification
columns: {timestamp: timestamp, id: prediction_id, model_version: model_version, prediction: prediction,
          label: label, latency: latency_ms}
segments: [country, device]
registry: registry.yaml
history: runs.jsonl
features:
  amount: {kind: numeric, min: 0, max: 50000}
  account_age_days: {kind: numeric, min: 0}
  n_items: {kind: numeric, min: 1, max: 100}
  discount: {kind: numeric, min: 0, max: 1, max_missing: 0.2}
  country: {kind: categorical}
  device: {kind: categorical, allowed: [mobile, desktop, tablet]}
  payment_method: {kind: categorical}
validate:
  latency: {p95_ms: 60, p99_ms: 100}
  label_coverage: {warn_below: 0.7, max_lag: 2d}
  performance:
    metrics:
      roc_auc: {min: 0.65, segment_min: 0.55}
drift:
  critical: [amount, payment_method]
compare:
  min_rows: 500
"""

DEMO_INCIDENT = """\
id: INC-2231
title: Fraud model flags the wrong checkouts after the v42 release
severity: SEV2
model: checkout-fraud
detected: 2026-11-25T13:40:00Z
mitigated: 2026-11-25T13:55:00Z
resolved: 2026-11-25T15:00:00Z
responders: [sam (on call), dana (model owner)]
notes: |
  Chargeback analysts saw more fraud slip through after lunch. The drift
  cron job alerted on `amount` at 13:40.
"""


def write_demo(out: Path) -> None:
    """Everything the demo's story needs, in one folder."""
    main(out, ranking=False)
    (out / "policy.yaml").write_text(DEMO_POLICY)
    (out / "incident.yaml").write_text(DEMO_INCIDENT)


def make_ranking_day(rng: np.random.Generator, queries: int, day_start_us: int, bad_from_us: int | None = None) -> pa.Table:
    """A day of search results, ten per query; from ``bad_from_us`` v8 ranks them, badly (top results rarely relevant)."""
    per = 10
    ts = np.repeat(daily_times(rng, queries, day_start_us), per)
    bad = ts >= bad_from_us if bad_from_us is not None else np.zeros(len(ts), dtype=bool)
    relevance = rng.beta(0.6, 2.0, queries * per)
    noise = np.where(bad, 2.5, 0.15)
    score = relevance + rng.normal(0, 1, queries * per) * noise
    # each query's results shown by decreasing score
    query = np.repeat(np.arange(queries), per)
    order = np.lexsort((-score, query))
    position = np.empty(queries * per, dtype=np.int16)
    position[order] = np.tile(np.arange(1, per + 1), queries)
    examine = 1.0 / position  # users look at the top results first
    clicked = rng.random(queries * per) < examine * relevance * 1.6
    purchased = clicked & (rng.random(queries * per) < relevance)
    revenue = np.where(purchased, np.round(rng.lognormal(3.5, 0.6, queries * per), 2), 0.0)
    return pa.table(
        {
            "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "query_id": pa.array([f"q{day_start_us // 86_400_000_000}-{i:06d}" for i in query]),
            "position": pa.array(position),
            "score": pa.array(np.round(score, 4)),
            "clicked": pa.array(clicked.astype(np.int8)),
            "purchased": pa.array(purchased.astype(np.int8)),
            "revenue": pa.array(revenue),
            "model_version": pa.array(np.where(bad, "v8", "v7").tolist()),
            "device": pa.array(rng.choice(["mobile", "desktop"], size=queries, p=[0.7, 0.3]).repeat(per)),
        }
    )


def write_ranking(out: Path, queries: int = 4000) -> None:
    """ranking_reference.parquet (a good day, v7) and ranking_current.parquet (v8 released at 12:00)."""
    rng = np.random.default_rng(SEED + 7)
    day = REFERENCE_DAY_US - 2 * DAY_US  # 2026-11-21, and the release day 2026-11-22
    pq.write_table(make_ranking_day(rng, queries, day), out / "ranking_reference.parquet")
    current = make_ranking_day(rng, queries, day + DAY_US, bad_from_us=day + DAY_US + 12 * 3600 * 1_000_000)
    pq.write_table(current, out / "ranking_current.parquet")
