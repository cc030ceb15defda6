"""The soak harness: a generated fleet, the API in its own process, and an open-loop load
of mixed reads and telemetry writes at a fixed rate, measuring what the soak asserts.

Issue #9, item 5: with 1,000 simulated assets and 20 API requests/s for 10 minutes, no
server errors, p95 latency under 500 ms and flat memory. The fleet is drawn by
``vpp.fleet`` (the mix ``vpp fleet generate`` writes; one enterprise per ten assets), each
enterprise gets an API key, and the server is ``vpp serve`` in a child process, so its
resident memory is measured apart from the load generator.

The load is open-loop: request ``i`` starts at ``i / rate`` seconds whether or not earlier
ones have answered, so a slow server shows as latency instead of a lower rate. Half of the
requests are telemetry batches (one enterprise's assets, one reading each: with 100
enterprises at 10 batches/s every asset reports every 10 s); the other half are reads of
the kinds enterprises and the operator make (an asset, its last 15 minutes of telemetry,
the enterprise's asset list, who-am-I, the operator's pool summary).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil  # type: ignore[import-untyped]
from sqlalchemy import select

from vpp.accounts import service as accounts
from vpp.fleet.mix import draw_fleet
from vpp.fleet.repository import write_fleet
from vpp.kit.db import create_db_engine, make_sessionmaker
from vpp.models import Account, Asset
from vpp.models.base import utcnow

MIB = 1024 * 1024
START_TIMEOUT_S = 60.0
RSS_SAMPLE_S = 2.0
WARM_UP_SHARE = 0.25
"""The first quarter of a run fills caches, pools and the allocator; memory is judged on
the rest."""
MAX_IN_FLIGHT = 32
READ_KINDS = ("asset", "history", "assets", "me", "pool")


@dataclass(frozen=True)
class Enterprise:
    """An enterprise of the fleet: its key and its assets (id, typical net load in kW)."""

    token: str
    assets: tuple[tuple[str, float], ...]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Fleet:
    """The seeded fleet and the operator's key."""

    enterprises: tuple[Enterprise, ...]
    operator_token: str

    @property
    def assets(self) -> int:
        return sum(len(e.assets) for e in self.enterprises)


def seed_fleet(url: str, assets: int, seed: int = 0) -> Fleet:
    """Write a drawn fleet of ``assets`` assets into the migrated database at ``url``, a key
    for each of its enterprises and an operator with a key."""
    engine = create_db_engine(url, pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as session:
            write_fleet(session, draw_fleet(assets, seed=seed, prefix=f"Soak {seed}"), utcnow())
            operator = accounts.create_account(session, "Soak operator", "operator", actor=None)
            _key, operator_token = accounts.issue_key(
                session, operator.id, "soak", None, actor=None
            )
            rows = session.execute(
                select(Account.id, Asset.id, Asset.baseline_kw)
                .join(Asset, Asset.account_id == Account.id)
                .where(Account.kind == "enterprise")
                .order_by(Account.name, Asset.name)
            ).all()
            by_account: dict[uuid.UUID, list[tuple[str, float]]] = {}
            for account_id, asset_id, baseline_kw in rows:
                by_account.setdefault(account_id, []).append((str(asset_id), float(baseline_kw)))
            enterprises = []
            for account_id, owned in by_account.items():
                _key, token = accounts.issue_key(session, account_id, "soak", None, actor=None)
                enterprises.append(Enterprise(token, tuple(owned)))
            session.commit()
    finally:
        engine.dispose()
    return Fleet(tuple(enterprises), operator_token)


@dataclass(frozen=True)
class Server:
    """The API's child process and its address."""

    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(url: str, log: Path) -> Iterator[Server]:
    """``vpp serve`` on ``url``'s database, a free loopback port, in a child process (no
    scheduler: the soak measures the API); stopped (SIGTERM, then SIGKILL) at the end."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "vpp.cli",
        "--database-url",
        url,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-scheduler",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "VPP_ENVIRONMENT": "development"}
    with log.open("wb") as sink:
        # The command is this interpreter and fixed arguments; nothing comes from input.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(20)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the server exited: {server.log.read_text()[-2000:]}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"the server did not get ready in {START_TIMEOUT_S} s")


@dataclass
class SoakResult:
    """What a run measured: answers by status, failures without an answer, latencies (ms)
    by kind, the server's RSS over time (s since start, bytes), readings accepted."""

    duration_s: float
    rate_per_s: float
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    rss: list[tuple[float, int]] = field(default_factory=list)
    readings_sent: int = 0
    readings_accepted: int = 0
    unexpected: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.transport_errors.values())

    @property
    def server_errors(self) -> int:
        """5xx answers plus requests that got no answer at all."""
        return sum(n for status, n in self.statuses.items() if status >= 500) + sum(
            self.transport_errors.values()
        )

    def percentile_ms(self, q: float, kind: str | None = None) -> float:
        values = (
            self.latencies_ms.get(kind, [])
            if kind
            else [v for vs in self.latencies_ms.values() for v in vs]
        )
        return float(np.percentile(values, q)) if values else math.nan

    @property
    def rss_slope_mib_per_min(self) -> float:
        """Least-squares slope of the server's RSS after the warm-up (MiB per minute)."""
        steady = [(t, b) for t, b in self.rss if t >= WARM_UP_SHARE * self.duration_s]
        if len(steady) < 3:
            return math.nan
        t, b = np.array(steady, dtype=float).T
        slope_bytes_per_s = float(np.polyfit(t, b, 1)[0])
        return slope_bytes_per_s * 60 / MIB

    @property
    def rss_peak_mib(self) -> float:
        return max(b for _t, b in self.rss) / MIB if self.rss else math.nan

    def summary(self) -> str:
        kinds = ", ".join(
            f"{kind} p95 {self.percentile_ms(95, kind):.0f}" for kind in sorted(self.latencies_ms)
        )
        return (
            f"{self.requests} requests in {self.duration_s:.0f} s at {self.rate_per_s:g}/s: "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"no answer {sum(self.transport_errors.values())}; latency ms p50 "
            f"{self.percentile_ms(50):.1f} p95 {self.percentile_ms(95):.1f} p99 "
            f"{self.percentile_ms(99):.1f} ({kinds}); server RSS peak {self.rss_peak_mib:.0f} "
            f"MiB, slope after warm-up {self.rss_slope_mib_per_min:+.2f} MiB/min; readings "
            f"{self.readings_accepted}/{self.readings_sent} stored"
        )


class Load:
    """Builds request ``i`` of the run: even ones write, odd ones read."""

    def __init__(self, fleet: Fleet, seed: int) -> None:
        self.fleet = fleet
        self.rng = random.Random(seed)
        self.writes = 0

    def request(self, index: int, now: datetime) -> tuple[str, str, str, dict[str, object]]:
        """(kind, method, path, httpx keyword arguments) of request ``index``."""
        enterprises = self.fleet.enterprises
        if index % 2 == 0:
            company = enterprises[self.writes % len(enterprises)]
            self.writes += 1
            minute = now.minute + now.second / 60
            readings = [
                {
                    "asset_id": asset_id,
                    "ts": now.isoformat(),
                    # A simulated meter: the typical load, a slow daily swing and noise.
                    "power_kw": round(
                        typical_kw * (1 + 0.2 * math.sin(2 * math.pi * minute / 60))
                        + self.rng.gauss(0, 0.05 * abs(typical_kw) + 0.1),
                        3,
                    ),
                }
                for asset_id, typical_kw in company.assets
            ]
            return (
                "telemetry",
                "POST",
                "/v1/telemetry",
                {
                    "json": {"readings": readings},
                    "headers": company.headers,
                },
            )
        kind = READ_KINDS[(index // 2) % len(READ_KINDS)]
        company = self.rng.choice(enterprises)
        asset_id, _kw = self.rng.choice(company.assets)
        if kind == "asset":
            return kind, "GET", f"/v1/assets/{asset_id}", {"headers": company.headers}
        if kind == "history":
            params = {
                "start": (now - timedelta(minutes=15)).isoformat(),
                "end": (now + timedelta(seconds=1)).isoformat(),
            }
            path = f"/v1/assets/{asset_id}/telemetry"
            return kind, "GET", path, {"params": params, "headers": company.headers}
        if kind == "assets":
            return kind, "GET", "/v1/assets", {"params": {"limit": 100}, "headers": company.headers}
        if kind == "me":
            return kind, "GET", "/v1/me", {"headers": company.headers}
        operator = {"Authorization": f"Bearer {self.fleet.operator_token}"}
        return "pool", "GET", "/v1/pool/summary", {"headers": operator}


async def drive(
    server: Server, fleet: Fleet, duration_s: float, rate_per_s: float, seed: int = 0
) -> SoakResult:
    """Send ``rate_per_s`` requests per second for ``duration_s`` seconds (open loop) while
    sampling the server's RSS every ``RSS_SAMPLE_S`` seconds."""
    result = SoakResult(duration_s, rate_per_s)
    load = Load(fleet, seed)
    process = psutil.Process(server.process.pid)
    # Requests beyond MAX_IN_FLIGHT wait on a semaphore rather than in httpx's pool, whose
    # queue costs O(waiting) per hand-over: a backlog there starves the event loop.
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = asyncio.Event()

    async def sample_rss() -> None:
        while not done.is_set():
            result.rss.append((loop.time() - started, process.memory_info().rss))
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), RSS_SAMPLE_S)

    async def one(client: httpx.AsyncClient, index: int, due: float) -> None:
        kind, method, path, kwargs = load.request(index, datetime.now(UTC))
        try:
            async with in_flight:
                response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            result.transport_errors[type(exc).__name__] += 1
            return
        # From when the request was due, not when a connection was free: time spent
        # queued behind a slow server counts (no coordinated omission).
        result.latencies_ms.setdefault(kind, []).append((loop.time() - due) * 1000)
        result.statuses[response.status_code] += 1
        if response.status_code >= 300 and len(result.unexpected) < 20:
            result.unexpected.append(f"{method} {path} -> {response.status_code} {response.text}")
        if kind == "telemetry":
            sent = len(kwargs["json"]["readings"])  # type: ignore[index]
            result.readings_sent += sent
            if response.status_code == 200:
                result.readings_accepted += int(response.json()["accepted"])

    sampler = asyncio.create_task(sample_rss())
    total = int(duration_s * rate_per_s)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
        tasks = []
        for index in range(total):
            due = started + index / rate_per_s
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            tasks.append(asyncio.create_task(one(client, index, due)))
        await asyncio.gather(*tasks)
    done.set()
    await sampler
    return result


def server_tracebacks(log: Path) -> list[str]:
    """The lines of the server's log that report an unhandled error."""
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if "unhandled error" in line or line.startswith("Traceback")
    ]
