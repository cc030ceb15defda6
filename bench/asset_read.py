"""Reading one asset: GET /v1/assets/{id} with an enterprise key, one uvicorn worker.

64 keep-alive connections cycle through the tenant's 100 assets. After a warm-up,
three runs; the requests/s, p50 and p99 reported are the medians of the runs.
"""

from __future__ import annotations

import httpx

from bench.core import MIN_REPEATS, Benchmark, BenchmarkError, Context, Result, check, median
from bench.databases import Backend, fresh_database, seed_tenant
from bench.loadgen import LoadResult, load
from bench.server import log_tail_after, running_server
from vpp.kit.db import create_db_engine

CONNECTIONS = 64
N_ASSETS = 100
POOL_TIMEOUT_S = 30  # SQLAlchemy's default: a pool deadlock shows in the log after this


def _measure(ctx: Context, backend: Backend, name: str) -> list[LoadResult]:
    seconds = ctx.size(10, 1)
    warmup = ctx.size(3, 1)
    with fresh_database(ctx, name, backend) as url:
        engine = create_db_engine(url)
        try:
            tenant = seed_tenant(engine, N_ASSETS)
            other = seed_tenant(engine, 1, name="Other Enterprise")
        finally:
            engine.dispose()
        paths = [f"/v1/assets/{asset_id}" for asset_id in tenant.asset_ids]
        with running_server(ctx, url, name) as server:
            # The answer must be the asset asked for, and another tenant's key must not
            # read it: a benchmark of a broken endpoint would be meaningless.
            with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
                auth = {"Authorization": f"Bearer {tenant.token}"}
                for asset_id in tenant.asset_ids[:3]:
                    response = client.get(f"/v1/assets/{asset_id}", headers=auth)
                    check(response.status_code == 200, f"GET answered {response.status_code}")
                    check(response.json()["id"] == asset_id, "GET answered another asset")
                check(client.get(paths[0]).status_code == 401, "GET without a key was not refused")
                foreign = client.get(paths[0], headers={"Authorization": f"Bearer {other.token}"})
                check(foreign.status_code == 404, f"another tenant read it ({foreign.status_code})")
            runs = []
            for index in range(-1, MIN_REPEATS):  # -1: the warm-up, checked, not reported
                label = "warm-up" if index < 0 else f"run {index + 1}"
                duration = warmup if index < 0 else seconds
                result = load(
                    ctx,
                    server.host,
                    server.port,
                    paths,
                    tenant.token,
                    connections=CONNECTIONS,
                    seconds=duration,
                )
                stalled = result.requests < 10 * duration
                if stalled or result.non_200 or result.errors:
                    # A stalled server may say why only when its pool times out: wait for
                    # its log (running_server prints it with the error).
                    log_tail_after(server, POOL_TIMEOUT_S + 10)
                    raise BenchmarkError(
                        f"{label}: {result.requests} requests in {result.seconds:.1f} s, "
                        f"{result.non_200} not 200, {result.errors} socket errors/timeouts"
                        + (" (the server stalled)" if stalled else "")
                    )
                if index < 0:
                    continue
                ctx.log(
                    f"    run {index + 1}/{MIN_REPEATS} ({result.client}): "
                    f"{result.rps:,.0f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                    f"{result.requests:,} requests all 200"
                )
                runs.append(result)
    return runs


def _results(ctx: Context, runs: list[LoadResult], prefix: str, database: str) -> list[Result]:
    client = runs[0].client
    note = (
        f"{database}, 1 uvicorn worker, {CONNECTIONS} connections, {client}, "
        f"median of {len(runs)} runs"
    )
    if client != "wrk":
        note += "; CLIENT-LIMITED: the Python load generator shares the 2 cores with the server"
        ctx.log(f"  note: {prefix}: measured with the Python client, which limited the measurement")
    return [
        Result(f"{prefix}_rps", median([r.rps for r in runs]), "req/s", 5000, note=note),
        Result(f"{prefix}_p50_ms", median([r.p50_ms for r in runs]), "ms", None, "<="),
        Result(f"{prefix}_p99_ms", median([r.p99_ms for r in runs]), "ms", 20, "<="),
    ]


def run_sqlite(ctx: Context) -> list[Result]:
    return _results(ctx, _measure(ctx, "sqlite", "asset_read_sqlite"), "api_asset_read", "SQLite")


def run_pg(ctx: Context) -> list[Result]:
    return _results(
        ctx, _measure(ctx, "postgresql", "asset_read_pg"), "api_asset_read_pg", "PostgreSQL"
    )


BENCHMARKS = [
    Benchmark(
        "asset_read_sqlite",
        ("api_asset_read_rps", "api_asset_read_p50_ms", "api_asset_read_p99_ms"),
        run_sqlite,
        description="GET /v1/assets/{id} on SQLite",
    ),
    Benchmark(
        "asset_read_pg",
        ("api_asset_read_pg_rps", "api_asset_read_pg_p50_ms", "api_asset_read_pg_p99_ms"),
        run_pg,
        needs_postgres=True,
        description="GET /v1/assets/{id} on PostgreSQL",
    ),
]
