"""The FastAPI application: routers, error handling, metrics, and its lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from vpp import __version__
from vpp.accounts.api import router as accounts_router
from vpp.assets.api import router as assets_router
from vpp.assets.fast_read import AssetReader, FastAssetRead
from vpp.bidding.api import router as bidding_router
from vpp.bidding.registry import load_packs, market_client
from vpp.config import Settings
from vpp.dispatch.api import router as dispatch_router
from vpp.dispatch.engine import DeliveryEngine
from vpp.dispatch.registry import adapter_class
from vpp.forecasts.api import router as forecasts_router
from vpp.green.api import router as green_router
from vpp.grid.api import router as grid_router
from vpp.grid.links import run_links
from vpp.grid.webhook import WebhookTarget
from vpp.kit.auth import KeyCache, RateLimiter
from vpp.kit.compute import installed, open_compute
from vpp.kit.db import create_db_engine, for_writing, make_sessionmaker
from vpp.kit.errors import Problem, install_error_handlers, problem_response
from vpp.kit.idempotency import Replay, replay_response
from vpp.kit.jobruns import release_running
from vpp.kit.leadership import AlwaysLeader, Leadership, elect
from vpp.kit.metrics import Metrics, MetricsMiddleware
from vpp.ports import AcceleratedClock, Clock, MarketClient, SystemClock
from vpp.scheduler import MarketDay, start_scheduler
from vpp.settlement.api import router as settlement_router
from vpp.telemetry.api import router as telemetry_router

log = logging.getLogger(__name__)

DESCRIPTION = """\
A virtual power plant for zero-carbon industrial parks. Enterprises enroll sites and
flexible assets and push telemetry; the operator watches the pool.

Units: power kW, energy kWh, price CNY/MWh. Sign: net load, + drawn from the grid.
Time: UTC with an explicit offset; market days are Asia/Shanghai, 96 x 15 min.
Auth: `Authorization: Bearer <key>`. Errors: RFC 9457 problem details.
Writes accept an `Idempotency-Key` header.
"""

WEB_DIR = Path(__file__).parent / "web"
"""The dashboard's static files: index.html at ``/``, the rest under ``/static/``."""


def _ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up (no dependency checked)."""
        return {"status": "ok", "version": __version__}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """The process can serve: its database answers."""

        def ping() -> None:
            with request.app.state.sessionmaker() as session:
                session.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            return problem_response(
                Problem(503, f"database unavailable: {type(exc).__name__}"), "/readyz"
            )
        body = {"status": "ready", "database": "ok"}
        leadership: Leadership | None = getattr(request.app.state, "leadership", None)
        if leadership is not None:
            body["scheduler"] = "leader" if leadership.is_leader else "follower"
        return JSONResponse(body)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(
            generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return router


def tune_garbage_collector() -> None:
    """Fewer, later collections for a server that allocates in bursts.

    Parsing a 10,000-reading batch allocates ~100k objects; with the default gen-0
    threshold (700) that triggers full collections mid-parse which scan every object
    the process holds (measured: 37 ms parses became 140 ms one time in two). Objects
    alive after start-up are frozen out of collection altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@asynccontextmanager
async def run_dispatch(app: FastAPI) -> AsyncIterator[None]:
    """Start the delivery engine and its adapters for the app's lifetime, if enabled."""
    settings: Settings = app.state.settings
    if not settings.dispatch_enabled:
        yield
        return
    adapters = {
        name: adapter_class(name)(app.state.clock, settings.adapter_config.get(name, {}))
        for name in settings.adapters
    }
    engine = DeliveryEngine(app.state.sessionmaker, adapters, app.state.clock, app.state.metrics)
    app.state.delivery = engine
    await engine.start()
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop), name="delivery-engine")
    try:
        yield
    finally:
        stop.set()
        await task
        await engine.stop()


@dataclass
class LeaderMarketDay(MarketDay):
    """The market day whose ticks run only while this instance leads: several scheduler
    instances share one database and exactly one of them runs the jobs
    (``vpp.kit.leadership``)."""

    leadership: Leadership = field(default_factory=AlwaysLeader, kw_only=True)
    leading: bool = field(default=False, init=False)

    async def tick(self) -> None:
        leading = await run_in_threadpool(self.leadership.check)
        if leading and not self.leading:  # taking over: the runs a dead leader left open
            released = await run_in_threadpool(
                release_running, self.factory, self.state.clock.now()
            )
            if released:
                log.warning("released %d job run(s) left running by the previous leader", released)
        self.leading = leading
        if leading:
            await super().tick()


@asynccontextmanager
async def run_scheduler(app: FastAPI) -> AsyncIterator[None]:
    """Run the market-day jobs in this process for the app's lifetime, if enabled, while
    this instance leads (advisory-lock election on PostgreSQL; always on SQLite)."""
    settings: Settings = app.state.settings
    if not settings.scheduler_enabled:
        yield
        return
    leadership = elect(
        settings.database_url,
        check_s=settings.scheduler_leader_check_s,
        session_timeout_s=settings.scheduler_leader_timeout_s,
        registry=app.state.metrics.registry,
    )
    app.state.leadership = leadership
    await run_in_threadpool(leadership.start)
    webhook = WebhookTarget.from_settings(settings)
    http = httpx.AsyncClient(timeout=webhook.timeout_s) if webhook is not None else None
    scheduler = start_scheduler(
        LeaderMarketDay(
            app.state,
            app.state.write_sessionmaker,
            webhook=webhook,
            http=http,
            leadership=leadership,
        )
    )
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        await run_in_threadpool(leadership.stop)
        if http is not None:
            await http.aclose()


@asynccontextmanager
async def run_compute(app: FastAPI) -> AsyncIterator[None]:
    """Open the distributed engine of ``VPP_COMPUTE`` (``vpp.kit.compute``) for the app's
    lifetime as ``app.state.compute``, the default fan-out of bidding and forecasting."""
    settings: Settings = app.state.settings
    compute = await run_in_threadpool(open_compute, settings.compute)
    app.state.compute = compute
    try:
        with installed(compute.blocks):
            yield
    finally:
        await run_in_threadpool(compute.close)


@asynccontextmanager
async def closing_market(app: FastAPI) -> AsyncIterator[None]:
    """Close the market client's connections (if it holds any) when the app stops."""
    try:
        yield
    finally:
        close = getattr(app.state.market, "aclose", None)
        if close is not None:
            await close()


class VppApi(FastAPI):
    """The service's FastAPI application, with the fast asset read
    (`vpp.assets.fast_read`) in front of FastAPI's own middleware: the hottest route
    skips four layers it does not need."""

    def build_middleware_stack(self) -> ASGIApp:
        return FastAssetRead(super().build_middleware_stack(), self.state)


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
    market: MarketClient | None = None,
) -> FastAPI:
    """Build the app. Without ``session_factory`` the lifespan opens (and closes) the
    engine of ``settings.database_url``; tests pass a factory bound to their connection.
    ``market`` replaces the configured market client (``settings.market``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if session_factory is not None:
            async with (
                closing_market(app),
                run_compute(app),
                run_dispatch(app),
                run_scheduler(app),
                run_links(app),
            ):
                yield
            return
        tune_garbage_collector()
        engine = create_db_engine(settings.database_url)
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.write_sessionmaker = make_sessionmaker(for_writing(engine))
        try:
            async with (
                closing_market(app),
                run_compute(app),
                run_dispatch(app),
                run_scheduler(app),
                run_links(app),
            ):
                yield
        finally:
            await app.state.asset_reader.aclose()
            engine.dispose()

    app = VppApi(
        title="vpp",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Metrics are Prometheus's (`vpp.kit.metrics`); FastAPI's OpenTelemetry bridge
        # would only look up unconfigured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.sessionmaker = app.state.write_sessionmaker = session_factory
    app.state.key_cache = KeyCache(settings.auth_cache_ttl_s)
    app.state.asset_reader = AssetReader()
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.metrics = Metrics()
    app.state.clock = clock or (
        SystemClock()
        if settings.clock_speed == 1.0 and settings.clock_start is None
        else AcceleratedClock(settings.clock_start or datetime.now(UTC), settings.clock_speed)
    )

    app.state.packs = load_packs(settings.market_rules)
    app.state.participant = settings.market_participant
    app.state.market = market or market_client(
        settings.market, settings.market_config, app.state.clock, settings.market_participant
    )

    install_error_handlers(app)

    @app.exception_handler(Replay)
    async def _replay(_request: Request, exc: Replay) -> JSONResponse:
        return replay_response(exc)

    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(_ops_router())
    for router in (
        accounts_router,
        assets_router,
        telemetry_router,
        dispatch_router,
        forecasts_router,
        bidding_router,
        grid_router,
        green_router,
        settlement_router,
    ):
        app.include_router(router, prefix="/v1")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    return app
