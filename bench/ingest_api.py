"""Telemetry ingest through the HTTP API: POST /v1/telemetry against one uvicorn worker.

Bodies of 10,000 readings (1,000 assets x 10 time steps, every (asset, ts) new) are
JSON-encoded before the clock starts; 3 httpx clients post them concurrently.
readings/s = accepted readings / wall time of the run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bench.core import MIN_REPEATS, Benchmark, BenchmarkError, Context, Result, check, median
from bench.databases import Backend, count_readings, fresh_database, seed_tenant
from bench.server import running_server
from vpp.kit.db import create_db_engine

START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
N_ASSETS = 1000
BATCH = 10_000
CLIENTS = 3


def encode_batches(
    asset_ids: Sequence[str], first_step: int, n_batches: int, seed: int
) -> list[bytes]:
    """``n_batches`` bodies of ``BATCH`` readings, time step by time step, all new pairs."""
    steps_per_batch = BATCH // len(asset_ids)
    check(steps_per_batch * len(asset_ids) == BATCH, "BATCH must be a multiple of the assets")
    bodies = []
    step = first_step
    for b in range(n_batches):
        readings = []
        for _ in range(steps_per_batch):
            ts = (START + step * STEP).isoformat()
            step += 1
            for i, asset_id in enumerate(asset_ids):
                power = round(((seed + b * 7919 + i * 104729 + step) % 20000) / 10 - 500, 1)
                readings.append({"asset_id": asset_id, "ts": ts, "power_kw": power})
        bodies.append(json.dumps({"readings": readings}, separators=(",", ":")).encode())
    return bodies


@dataclass
class _Totals:
    accepted: int = 0
    duplicates: int = 0
    requests: int = 0


def post_all(base_url: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, _Totals]:
    """Post every body once from ``clients`` concurrent keep-alive clients; (seconds, totals)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    totals = _Totals()
    lock = threading.Lock()
    failed = threading.Event()
    queue = list(reversed(bodies))

    def worker() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
            while not failed.is_set():
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = client.post("/v1/telemetry", content=body)
                if response.status_code != 200:
                    failed.set()
                    raise BenchmarkError(
                        f"POST /v1/telemetry answered {response.status_code}: {response.text[:500]}"
                    )
                answer = response.json()
                with lock:
                    totals.accepted += int(answer["accepted"])
                    totals.duplicates += int(answer["duplicates"])
                    totals.requests += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(worker) for _ in range(clients)]
        for future in futures:
            future.result()
    return time.perf_counter() - started, totals


def _measure(ctx: Context, backend: Backend, name: str) -> tuple[float, int, int]:
    n_batches = ctx.size(30, 4)
    repeats = MIN_REPEATS
    with fresh_database(ctx, name, backend) as url:
        engine = create_db_engine(url)
        try:
            tenant = seed_tenant(engine, N_ASSETS)
            expected = 0
            next_step = 0
            rates = []
            with running_server(ctx, url, name) as server:
                # Warm-up: the key cache, the compiled statements, the connection pool.
                warm = encode_batches(tenant.asset_ids, next_step, CLIENTS, seed=0)
                next_step += CLIENTS * BATCH // N_ASSETS
                _, totals = post_all(server.base_url, tenant.token, warm, CLIENTS)
                check(totals.accepted == len(warm) * BATCH, "warm-up readings not all accepted")
                expected += totals.accepted
                for index in range(repeats):
                    bodies = encode_batches(tenant.asset_ids, next_step, n_batches, seed=index + 1)
                    next_step += n_batches * BATCH // N_ASSETS
                    seconds, totals = post_all(server.base_url, tenant.token, bodies, CLIENTS)
                    sent = n_batches * BATCH
                    check(
                        totals.requests == n_batches and totals.accepted == sent,
                        f"{totals.accepted} of {sent} readings accepted "
                        f"({totals.duplicates} duplicates, {totals.requests} requests)",
                    )
                    expected += totals.accepted
                    rate = totals.accepted / seconds
                    rates.append(rate)
                    ctx.log(
                        f"    run {index + 1}/{repeats}: {rate:,.0f} readings/s "
                        f"({sent:,} in {seconds:.2f} s)"
                    )
            stored = count_readings(engine)
            check(stored == expected, f"table holds {stored} readings, expected {expected}")
        finally:
            engine.dispose()
    return median(rates), n_batches * BATCH, repeats


def run_pg(ctx: Context) -> list[Result]:
    rate, per_run, repeats = _measure(ctx, "postgresql", "ingest_api_pg")
    return [
        Result(
            "ingest_api_readings_per_s",
            rate,
            "readings/s",
            100_000,
            note=f"PostgreSQL, 1 uvicorn worker, {CLIENTS} clients, median of {repeats} runs "
            f"of {per_run:,} readings in 10k batches",
        )
    ]


def run_sqlite(ctx: Context) -> list[Result]:
    rate, per_run, repeats = _measure(ctx, "sqlite", "ingest_api_sqlite")
    return [
        Result(
            "ingest_api_sqlite_readings_per_s",
            rate,
            "readings/s",
            None,
            note=f"SQLite, 1 uvicorn worker, {CLIENTS} clients, median of {repeats} runs "
            f"of {per_run:,} readings in 10k batches",
        )
    ]


BENCHMARKS = [
    Benchmark(
        "ingest_api_pg",
        ("ingest_api_readings_per_s",),
        run_pg,
        needs_postgres=True,
        description="POST /v1/telemetry on PostgreSQL",
    ),
    Benchmark(
        "ingest_api_sqlite",
        ("ingest_api_sqlite_readings_per_s",),
        run_sqlite,
        description="POST /v1/telemetry on SQLite",
    ),
]
