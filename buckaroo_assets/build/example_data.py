"""Example datasets, generated locally and deterministically (no network needed).

The example code location (``definitions.py``) declares them as datasets; they
are written on first use and never rewritten, so their data_ids stay stable.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EXAMPLE_ROWS = {"trips": 250_000, "sensors": 120_000, "customers": 40_000}


def _trips(rows: int, rng: np.random.Generator) -> pa.Table:
    start = np.datetime64("2024-01-01T00:00:00", "us")
    pickup = start + rng.integers(0, 366 * 86_400, rows).astype("timedelta64[s]")
    minutes = rng.gamma(2.0, 8.0, rows)
    zones = np.array([f"zone-{i:03d}" for i in range(260)], dtype=object)
    payment = np.array(["card", "cash", "app", "voucher"], dtype=object)
    return pa.table(
        {
            "pickup_at": pa.array(pickup, type=pa.timestamp("us", tz="America/New_York")),
            "duration_min": minutes,
            "distance_km": np.round(minutes * rng.uniform(0.2, 0.9, rows), 2),
            "fare": pa.array(np.round(2.5 + minutes * 0.9 + rng.normal(0, 1, rows), 2)),
            "passengers": pa.array(rng.integers(1, 7, rows), type=pa.int8()),
            "pickup_zone": pa.array(zones[rng.zipf(1.3, rows) % 260]),
            "payment": pa.array(payment[rng.integers(0, 4, rows)], mask=rng.random(rows) < 0.02),
            "tip": pa.array(rng.exponential(2.0, rows), mask=rng.random(rows) < 0.3),
            "shared": rng.random(rows) < 0.1,
        }
    )


def _sensors(rows: int, rng: np.random.Generator) -> pa.Table:
    at = np.datetime64("2025-06-01T00:00:00", "ns") + (np.arange(rows) * 15).astype("timedelta64[s]")
    temperature = 20 + 5 * np.sin(np.arange(rows) / 500) + rng.normal(0, 0.5, rows)
    temperature[rng.random(rows) < 0.01] = np.nan
    humidity = rng.uniform(30, 90, rows)
    humidity[rng.random(rows) < 0.001] = np.inf
    return pa.table(
        {
            "reading_at": pa.array(at, type=pa.timestamp("ns", tz="UTC")),
            "sensor": pa.array(rng.integers(0, 64, rows), type=pa.uint16()),
            "temperature_c": temperature,
            "humidity_pct": humidity,
            "battery_mv": pa.array(rng.integers(2800, 4200, rows), type=pa.int32()),
            "uptime": pa.array((np.arange(rows) * 15).astype("timedelta64[s]")),
            "status": pa.array(
                np.array(["ok", "ok", "ok", "warn", "fault"], dtype=object)[rng.integers(0, 5, rows)]
            ).dictionary_encode(),
            "calibrated": pa.array(rng.random(rows) < 0.8, mask=rng.random(rows) < 0.05),
        }
    )


def _customers(rows: int, rng: np.random.Generator) -> pa.Table:
    first = np.array(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"])
    cities = np.array(["Lisbon", "Osaka", "Lagos", "Quito", "Oslo", "Perth", "Zürich", ""], dtype=object)
    signup = [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 1800, rows)]
    balance = [decimal.Decimal(int(c)).scaleb(-2) for c in rng.integers(-50_000, 500_000, rows)]
    return pa.table(
        {
            "customer_id": np.arange(1, rows + 1, dtype=np.int64),
            "name": pa.array([f"{first[i % 8]} #{i}" for i in range(rows)]),
            "city": pa.array(cities[rng.integers(0, 8, rows)], mask=rng.random(rows) < 0.1),
            "signup_date": pa.array(signup, type=pa.date32()),
            "balance": pa.array(balance, type=pa.decimal128(12, 2)),
            "tags": pa.array([["vip"] if i % 17 == 0 else [] for i in range(rows)]),
            "score": pa.array(rng.normal(600, 80, rows).astype(np.float32)),
        }
    )


_MAKERS = {"trips": _trips, "sensors": _sensors, "customers": _customers}


def example_paths(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the example datasets into ``folder`` if missing; their paths by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed, (name, make) in enumerate(_MAKERS.items()):
        path = folder / f"{name}.parquet"
        if not path.exists():
            table = make(EXAMPLE_ROWS[name], np.random.default_rng(seed))
            # A name of its own, so two processes generating at once never mix bytes.
            partial = path.with_suffix(f".parquet.partial-{uuid.uuid4().hex}")
            pq.write_table(table, partial, row_group_size=50_000)
            partial.replace(path)  # never leave a half-written example behind
        paths[name] = path
    return paths
