#!/usr/bin/env python3
"""Deterministic generator of the sample prediction logs.

A binary classifier that scores checkout requests for fraud. It writes:

- ``reference.parquet``: a day of traffic served by model v41, labels inline;
- ``current.parquet``: the next day, same model, no label column;
- ``labels.parquet``: late labels for the current day (``prediction_id``,
  ``label``, ``label_timestamp``), about 85 % of them arrived.

Traffic follows a daily cycle, so the downtime check is tried on traffic
that is not flat. Run ``python samples/generate.py [OUT_DIR]``; the same
seed always gives the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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


def make_day(rng: np.random.Generator, n: int, day_start_us: int, prefix: str, version: str) -> dict[str, pa.Array]:
    ts = daily_times(rng, n, day_start_us)
    amount = np.round(rng.lognormal(3.6, 0.9, n), 2)
    account_age_days = rng.integers(0, 3650, n)
    n_items = rng.poisson(2.0, n) + 1
    discount = np.round(rng.beta(1.5, 8.0, n), 3)
    discount_missing = rng.random(n) < 0.1
    country = rng.choice(COUNTRIES, size=n, p=COUNTRY_P)
    device = rng.choice(DEVICES, size=n, p=DEVICE_P)
    payment = rng.choice(PAYMENTS, size=n, p=PAYMENT_P)

    z = (
        -3.0
        + 0.6 * (np.log(amount) - 3.6)
        - 0.0006 * account_age_days
        + 0.25 * (n_items - 3)
        + 0.9 * (payment == "wallet")
        + 0.5 * (country == "BR")
        + 0.4 * (device == "tablet")
    )
    risk = 1.0 / (1.0 + np.exp(-z))
    label = (rng.random(n) < risk).astype(np.int8)
    # the model sees the risk through noise, as a real model would
    prediction = 1.0 / (1.0 + np.exp(-(z + rng.normal(0, 0.8, n))))
    latency = np.round(rng.lognormal(3.0, 0.35, n), 2)

    return {
        "timestamp": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "prediction_id": pa.array([f"{prefix}-{i:07d}" for i in range(n)]),
        "model_version": pa.array([version] * n),
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


def main(out: Path, rows: int = 20_000) -> None:
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


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
