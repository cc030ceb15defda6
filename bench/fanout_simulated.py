"""Setpoint fan-out to the simulated park: from a committed plan to every acknowledgement.

10,000 simulated assets get one setpoint each, written with the plan's bulk outbox
write; the clock starts after that commit and stops when every command is ``acked`` in
the database (claim, deliver, record: the delivery engine's full path), with the
garbage-collector settings of a service process (`bench.core.service_gc`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.simulated import SimulatedAdapter
from bench.core import MIN_REPEATS, Benchmark, Context, Result, check, median, service_gc
from bench.databases import Backend, fresh_database, seed_tenant
from vpp.dispatch.engine import DeliveryEngine
from vpp.dispatch.service import PlannedSetpoint, enqueue_many
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import SetpointCommandRow
from vpp.ports import ManualClock

START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def _fan_out(url: str, n_assets: int, repeats: int) -> tuple[list[float], int]:
    engine = create_db_engine(url)
    factory = make_sessionmaker(engine)
    tenant = seed_tenant(engine, n_assets)
    clock = ManualClock(START)
    # The park's own telemetry is the ingest benchmarks' subject: reported once a day, it
    # stays out of the timed window, which the clock's 15-minute steps would otherwise
    # open with a 10,000-device report.
    adapter = SimulatedAdapter(clock, {"telemetry_interval_s": 86_400})
    delivery = DeliveryEngine(factory, {"simulated": adapter}, clock, batch_size=n_assets)
    await delivery.start()
    account = uuid.UUID(tenant.account_id)
    timings: list[float] = []
    try:
        for run in range(repeats):
            now = clock.now()
            planned = [
                PlannedSetpoint(
                    uuid.UUID(a),
                    account,
                    "simulated",
                    now,
                    float(run + 1),
                    now + timedelta(minutes=15),
                )
                for a in tenant.asset_ids
            ]
            with factory() as session:
                enqueue_many(session, planned, now, "bench")
                session.commit()
            started = time.perf_counter()
            acked = 0
            while acked < n_assets:
                report = await delivery.run_once()
                acked += report.outcomes.get("acked", 0)
                check(
                    report.claimed > 0 or acked == n_assets, "engine stopped before all were acked"
                )
            timings.append(time.perf_counter() - started)
            clock.advance(900)
        with factory() as session:
            stored = session.execute(
                select(func.count()).where(SetpointCommandRow.state == "acked")
            ).scalar_one()
        check(
            stored == n_assets * repeats,
            f"{stored} acked in the database, expected {n_assets * repeats}",
        )
        applied = sum(len(ids) for ids in adapter.applied.values())
        check(applied == n_assets * repeats, f"devices applied {applied} commands")
    finally:
        await delivery.stop()
        engine.dispose()
    return timings, n_assets


def _run(ctx: Context, backend: Backend, name: str) -> tuple[float, int]:
    n_assets = ctx.size(10_000, 2_000)
    with fresh_database(ctx, name, backend) as url, service_gc():
        timings, n = asyncio.run(_fan_out(url, n_assets, MIN_REPEATS))
    return median(timings), n


def run_pg(ctx: Context) -> list[Result]:
    seconds, n = _run(ctx, "postgresql", "fanout_simulated_pg")
    return [
        Result(
            "fanout_simulated_10000_s",
            seconds,
            "s",
            1.0,
            "<=",
            note=f"{n:,} assets, PostgreSQL, committed plan to all acked in the database (median)",
        )
    ]


def run_sqlite(ctx: Context) -> list[Result]:
    seconds, n = _run(ctx, "sqlite", "fanout_simulated_sqlite")
    return [
        Result(
            "fanout_simulated_sqlite_10000_s",
            seconds,
            "s",
            1.0,
            "<=",
            note=f"{n:,} assets, SQLite, committed plan to all acked in the database (median)",
        )
    ]


BENCHMARKS = [
    Benchmark(
        "fanout_simulated_pg",
        ("fanout_simulated_10000_s",),
        run_pg,
        needs_postgres=True,
        description="10,000 simulated setpoints, plan to all acks, PostgreSQL",
    ),
    Benchmark(
        "fanout_simulated_sqlite",
        ("fanout_simulated_sqlite_10000_s",),
        run_sqlite,
        description="10,000 simulated setpoints, plan to all acks, SQLite",
    ),
]
