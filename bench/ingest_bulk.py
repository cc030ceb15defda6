"""Bulk telemetry writes through ``vpp.telemetry.repository.insert_readings``.

Readings arrive time step by time step for the whole fleet (every asset at ts, then
at ts + 15 min, ...), in batches committed one by one, into a table that already holds
the previous runs' readings. Building the row tuples is not timed; the insert and the
commit are.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.core import MIN_REPEATS, Benchmark, Context, Result, check, median
from bench.databases import Backend, count_readings, fresh_database, seed_tenant
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.telemetry.repository import Row, insert_readings

START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)


def make_rows(
    asset_ids: list[uuid.UUID], first_step: int, steps: int, rng: random.Random
) -> list[Row]:
    rows: list[Row] = []
    for step in range(first_step, first_step + steps):
        ts = START + step * STEP
        for asset_id in asset_ids:
            rows.append((asset_id, ts, rng.uniform(-500.0, 1500.0), None, None, None, "good"))
    return rows


def _measure(ctx: Context, backend: Backend, name: str) -> tuple[float, int, int]:
    """Median readings/s over the runs, readings per run, runs."""
    n_assets = 1000
    if backend == "postgresql":
        steps, batch_size, repeats = ctx.size(200, 50), ctx.size(50_000, 25_000), ctx.size(5, 3)
    else:  # SQLite is several times slower: keep the suite within its time budget
        steps, batch_size, repeats = ctx.size(100, 25), 25_000, MIN_REPEATS
    rng = random.Random(42)
    with fresh_database(ctx, name, backend) as url:
        engine = create_db_engine(url)
        try:
            tenant = seed_tenant(engine, n_assets)
            asset_ids = [uuid.UUID(a) for a in tenant.asset_ids]
            factory = make_sessionmaker(engine)
            expected = 0
            next_step = 0

            def run(steps_now: int) -> float:
                nonlocal expected, next_step
                rows = make_rows(asset_ids, next_step, steps_now, rng)
                next_step += steps_now
                started = time.perf_counter()
                for start in range(0, len(rows), batch_size):
                    batch = rows[start : start + batch_size]
                    with factory() as session:
                        inserted = insert_readings(session, batch)
                        session.commit()
                    check(inserted == len(batch), f"{inserted} of {len(batch)} readings stored")
                elapsed = time.perf_counter() - started
                expected += len(rows)
                return len(rows) / elapsed

            run(5)  # warm-up: connections, statement caches, the staging paths' imports
            rates = []
            for index in range(repeats):
                rate = run(steps)
                rates.append(rate)
                ctx.log(f"    run {index + 1}/{repeats}: {rate:,.0f} readings/s")
            stored = count_readings(engine)
            check(stored == expected, f"table holds {stored} readings, expected {expected}")
            # A repeated batch must be skipped, not stored twice (and not fail).
            with factory() as session:
                again = insert_readings(session, make_rows(asset_ids, 0, 1, rng))
                session.commit()
            check(again == 0, f"{again} duplicate readings were stored again")
            check(count_readings(engine) == expected, "duplicates changed the row count")
        finally:
            engine.dispose()
    return median(rates), n_assets * steps, repeats


def run_pg(ctx: Context) -> list[Result]:
    rate, per_run, repeats = _measure(ctx, "postgresql", "ingest_pg_bulk")
    return [
        Result(
            "ingest_pg_bulk_readings_per_s",
            rate,
            "readings/s",
            300_000,
            note=f"median of {repeats} runs of {per_run:,} readings (binary COPY, durable commits)",
        )
    ]


def run_sqlite(ctx: Context) -> list[Result]:
    rate, per_run, repeats = _measure(ctx, "sqlite", "ingest_sqlite_bulk")
    return [
        Result(
            "ingest_sqlite_bulk_readings_per_s",
            rate,
            "readings/s",
            None,
            note=f"median of {repeats} runs of {per_run:,} readings (INSERT OR IGNORE, WAL)",
        )
    ]


BENCHMARKS = [
    Benchmark(
        "ingest_pg_bulk",
        ("ingest_pg_bulk_readings_per_s",),
        run_pg,
        needs_postgres=True,
        description="insert_readings on PostgreSQL",
    ),
    Benchmark(
        "ingest_sqlite_bulk",
        ("ingest_sqlite_bulk_readings_per_s",),
        run_sqlite,
        description="insert_readings on SQLite",
    ),
]
