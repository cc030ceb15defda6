"""Setpoint fan-out over HTTP webhooks: 1,000 assets, deliver() until every command is acked.

The receiver is ``adapters.http.receiver`` in one uvicorn process (a subprocess, so it
has its own core, as an enterprise's server would), serving 20 enterprise endpoints
(``/hooks/0`` .. ``/hooks/19``, each with its own HMAC secret) of 50 assets each. The
adapter (its own aiohttp session) batches per endpoint: one signed request of 50
commands per endpoint, all endpoints concurrently, over kept-alive connections. The
adapter's client is aiohttp: httpx needed more than ten times the client CPU for the same
requests (numbers in ``adapters/http/README.md``).

``fanout_http_1000_s``: median wall time of ``deliver()`` for 1,000 fresh commands, from
the call until every outcome is ACKED (the receiver verified, applied and acked them).
``fanout_http_request_p99_ms``: 99th percentile over those rounds' requests, each from
the moment it has its connection slot (body signed) until its answer is read. The
adapter sends at most ``max_requests_per_origin`` (6) requests at once to one
``host:port``, and here all 20 endpoints share the receiver's, so requests also wait for
a slot: ``fanout_http_request_p99_incl_wait_ms`` (for information) counts that wait too.
The receiver runs with the garbage-collector settings of the service's processes
(`vpp.app.tune_garbage_collector`: the start-up heap frozen, fewer collections); with
Python's defaults a full collection of that heap in the middle of a round puts 60-80 ms
on the p99 (25 ms with them), a tuning any enterprise's server would want too.
``fanout_http_1000_cold_s`` (for information): the whole fan-out with a new session, so
every connection is opened during the round. Each round checks that all 1,000 outcomes
are ACKED and that the receiver applied exactly 1,000 new commands.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.http import (
    HttpWebhookAdapter,
    ReceivedCommand,
    RequestRecord,
    WebhookReceiver,
    receiver_endpoint,
)
from bench.core import Benchmark, BenchmarkError, Context, Result, check, median, percentile
from bench.server import free_port
from vpp.domain.commands import DeliveryStatus, SetpointCommand
from vpp.kit import eventloop
from vpp.ports import AdapterSink, SystemClock

N_ASSETS = 1000
ENDPOINTS = 20
TARGET_TOTAL_S = 0.25
TARGET_P99_MS = 30.0
_ENDPOINTS_ENV = "VPP_BENCH_HTTP_ENDPOINTS"
_SEED_ENV = "VPP_BENCH_HTTP_SEED"
_ROOT = Path(__file__).resolve().parents[1]


def endpoint_secret(seed: str, index: int) -> str:
    return hashlib.sha256(f"{seed}/{index}".encode()).hexdigest()


def receiver_app() -> Starlette:
    """The receiver process's app (``uvicorn --factory``): all endpoints, one receiver,
    with the start-up garbage-collector settings of the service's own processes."""
    from vpp.app import tune_garbage_collector

    seed = os.environ[_SEED_ENV]
    endpoints = int(os.environ[_ENDPOINTS_ENV])
    applied = [0]  # the receiver applies each command id once; the rounds count them

    def apply(command: ReceivedCommand) -> None:
        applied[0] += 1

    secrets = {f"ep-{i}": endpoint_secret(seed, i) for i in range(endpoints)}
    endpoint = receiver_endpoint(WebhookReceiver(secrets, apply))

    async def stats(request: Request) -> Response:
        return JSONResponse({"applied": applied[0]})

    tune_garbage_collector()  # what is alive now is never scanned again
    return Starlette(
        routes=[
            Route("/hooks/{endpoint:int}", endpoint, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
        ]
    )


class _NullSink:
    async def telemetry(self, readings: Any) -> None:
        return None

    async def acknowledged(self, acks: Any) -> None:
        return None


def _commands(base_url: str, endpoints: int) -> list[SetpointCommand]:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        SetpointCommand(
            id=uuid.uuid4(),
            asset_id=uuid.UUID(int=i + 1),
            interval_start=start,
            power_kw=-100.0 + i % 200,
            expires_at=start + timedelta(minutes=15),
            settings={
                "url": f"{base_url}/hooks/{i % endpoints}",
                "secret_id": f"ep-{i % endpoints}",
                "timeout_s": 5.0,
            },
        )
        for i in range(N_ASSETS)
    ]


def _adapter(seed: str, endpoints: int, records: list[RequestRecord]) -> HttpWebhookAdapter:
    config = {
        "require_https": False,
        "allow_hosts": ["127.0.0.0/8"],
        "secrets": {f"ep-{i}": endpoint_secret(seed, i) for i in range(endpoints)},
    }
    return HttpWebhookAdapter(SystemClock(), config, on_request=records.append)


async def _round(
    adapter: HttpWebhookAdapter, stats: httpx.AsyncClient, base_url: str, endpoints: int
) -> float:
    before = (await stats.get("/stats")).json()["applied"]
    commands = _commands(base_url, endpoints)
    started = time.perf_counter()
    outcomes = await adapter.deliver(commands)
    elapsed = time.perf_counter() - started
    not_acked = [o for o in outcomes if o.status is not DeliveryStatus.ACKED]
    check(len(outcomes) == N_ASSETS, f"{len(outcomes)} outcomes for {N_ASSETS} commands")
    check(not not_acked, f"{len(not_acked)} not acked, e.g. {not_acked[:1]}")
    after = (await stats.get("/stats")).json()["applied"]
    check(after - before == N_ASSETS, f"the receiver applied {after - before} commands")
    return elapsed


async def _wait_ready(process: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchmarkError(f"the receiver exited (code {process.returncode})")
            try:
                if (await client.get("/stats")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise BenchmarkError("the receiver did not start within 30 s")


async def run(quick: bool, endpoints: int = ENDPOINTS) -> list[dict[str, Any]]:
    """Measure; records ``{"name", "value", "unit", "target"}`` (targets are upper bounds)."""
    rounds, cold_rounds = (5, 3) if quick else (21, 7)
    seed = uuid.uuid4().hex
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, _SEED_ENV: seed, _ENDPOINTS_ENV: str(endpoints)}
    command = [
        *(sys.executable, "-m", "uvicorn", "bench.http_fanout_bench:receiver_app", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--no-access-log", "--log-level", "warning"),
    ]
    process = subprocess.Popen(command, cwd=_ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        await _wait_ready(process, base_url)
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as stats:
            records: list[RequestRecord] = []
            adapter = _adapter(seed, endpoints, records)
            sink: AdapterSink = _NullSink()
            await adapter.start(sink)
            try:
                for _ in range(3):  # warm-up: connections, caches, the receiver's JIT-free paths
                    await _round(adapter, stats, base_url, endpoints)
                records.clear()
                warm = [await _round(adapter, stats, base_url, endpoints) for _ in range(rounds)]
                latencies = sorted(r.seconds * 1000 for r in records)
                with_wait = sorted((r.waited_s + r.seconds) * 1000 for r in records)
                check(len(latencies) == rounds * endpoints, "one request per endpoint and round")
            finally:
                await adapter.stop()
            cold = []
            for _ in range(cold_rounds):
                adapter = _adapter(seed, endpoints, [])
                await adapter.start(sink)
                try:
                    cold.append(await _round(adapter, stats, base_url, endpoints))
                finally:
                    await adapter.stop()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    return [
        {
            "name": "fanout_http_1000_s",
            "value": median(warm),
            "unit": "s",
            "target": TARGET_TOTAL_S,
        },
        {
            "name": "fanout_http_request_p99_ms",
            "value": percentile(latencies, 99),
            "unit": "ms",
            "target": TARGET_P99_MS,
        },
        {
            "name": "fanout_http_request_p99_incl_wait_ms",
            "value": percentile(with_wait, 99),
            "unit": "ms",
            "target": None,
        },
        {"name": "fanout_http_1000_cold_s", "value": median(cold), "unit": "s", "target": None},
    ]


def run_benchmark(ctx: Context) -> list[Result]:
    note = (
        f"{N_ASSETS} assets over {ENDPOINTS} endpoints (one batch each), aiohttp, "
        "receiver: 1 uvicorn process"
    )
    return [
        Result(r["name"], r["value"], r["unit"], r["target"], "<=", note)
        for r in eventloop.run(run(ctx.quick))
    ]


BENCHMARKS = [
    Benchmark(
        "fanout_http",
        (
            "fanout_http_1000_s",
            "fanout_http_request_p99_ms",
            "fanout_http_request_p99_incl_wait_ms",
            "fanout_http_1000_cold_s",
        ),
        run_benchmark,
        description="setpoints to 1,000 assets over HTTP webhooks (20 endpoints)",
        tags=("fanout", "http"),
    ),
]


if __name__ == "__main__":
    for record in eventloop.run(run("--quick" in sys.argv)):
        print(record)
