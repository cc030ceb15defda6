"""Scheduled jobs of the market day: drafts, submission and awards, each run once per period.

APScheduler (3.x, in-process) fires one *tick* every few wall-clock seconds; each tick reads
the service clock (which runs faster in the demo) and runs the jobs whose period is due.
A job run is first claimed in ``job_runs`` under a unique (job, period) key, so two
scheduler instances (or one restarted mid-run) never run a period twice; a failed run is
released for a later tick to retry. Job stores are never shared: the database row, not
APScheduler's state, says what ran.

Day D (Beijing time), with G = the earliest gate closure of the bidding products:
- ``draft_bids`` once, between G - 24 h (the previous day's gate) and G - 30 min:
  forecast, optimise, store drafts (approved at once if the policy auto-approves);
- every tick before G: submit the approved bids of D (each exactly once, by its key), so
  an operator's approval is the go signal and a bid to hold back stays a draft;
- ``fetch_awards`` from G + 1 min, every tick until every submitted bid of D has its awards;
- ``plan_dispatch`` once the awards are in: per-asset setpoints queued for day D;
- every minute of day D, ``correct_dispatch`` (period: the minute) re-dispatches the
  shortfall of the interval under way, and ``close_interval`` (period: the interval, once
  it is over) stores its measured delivery for tracking;
- every minute, ``market_instructions`` takes the market operator's intraday instructions
  and answers them through the grid interface (which re-plans the pool);
- every tick, due schedule webhooks are sent to the grid company (if configured);
- ``settle_day`` once per awarded day whose data is complete (`vpp.settlement.jobs`).

Each new plan (day-ahead or after an instruction) publishes a schedule version for the grid.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from vpp.bidding import repository, service, workflow
from vpp.bidding.schemas import BidState, DraftRequest
from vpp.dispatch.intraday import correct
from vpp.dispatch.planning import plan_day
from vpp.dispatch.tracking import close_interval
from vpp.domain.market import Instruction
from vpp.domain.time import interval_of, market_day_of
from vpp.grid import repository as grid_repository
from vpp.grid.service import InstructionRefused, publish_schedule, receive_instruction
from vpp.grid.webhook import WebhookTarget, deliver_due
from vpp.kit.errors import Problem
from vpp.kit.jobruns import claim, finish, has_run
from vpp.settlement.jobs import settle_due

log = logging.getLogger(__name__)

DRAFT_LEAD = timedelta(hours=24)
SUBMIT_LEAD = timedelta(minutes=30)
AWARDS_DELAY = timedelta(minutes=1)
TICK_SECONDS = 2.0
MARKET_SOURCE = "market"


@runtime_checkable
class SelfClearing(Protocol):
    """A market client whose market runs in this process and must be driven (the
    simulated market operator of the demo)."""

    async def clear_due(self) -> object: ...


@dataclass
class MarketDay:
    """The scheduled jobs of the bidding workflow against one market client."""

    state: workflow.MarketState
    factory: sessionmaker[Session]
    webhook: WebhookTarget | None = None
    http: httpx.AsyncClient | None = None
    """Client for the schedule webhook (owned by whoever starts the scheduler)."""

    def gate(self, day: date) -> datetime:
        products = self.state.settings.bidding_products
        return min(self.state.packs[p].gate_closure(day) for p in products)

    async def tick(self) -> None:
        """Run whatever is due now for the days whose gate is near or just passed."""
        if isinstance(self.state.market, SelfClearing):
            await self.state.market.clear_due()
        now = self.state.clock.now()
        today = market_day_of(now)
        for day in (today + timedelta(days=n) for n in range(3)):
            gate = self.gate(day)
            if gate - DRAFT_LEAD <= now < gate - SUBMIT_LEAD:
                await self._once("draft_bids", day, self.draft_bids)
            if now < gate:
                await self.submit_bids(day)
            if now >= gate + AWARDS_DELAY and not has_run(self.factory, "fetch_awards", str(day)):
                await self.fetch_awards(day)
        await self.dispatch_minute(now)
        minute = now.replace(second=0, microsecond=0)
        await self._once_in(
            "market_instructions", minute.isoformat(), lambda: self.market_instructions(now)
        )
        if self.webhook is not None and self.http is not None:
            await deliver_due(self.factory, self.http, now, self.webhook)
        await run_in_threadpool(
            settle_due, self.factory, self.state.packs, now, self.state.settings
        )

    async def market_instructions(self, now: datetime) -> str:
        """Answer the market operator's intraday instructions issued since the last one taken
        (at most the grid interface's freshness window ago): each re-plans the pool."""
        max_age = timedelta(seconds=self.state.settings.grid_instruction_max_age_s)

        def since() -> datetime:
            with self.factory() as session:
                last = grid_repository.last_issued_at(session, source=MARKET_SOURCE)
            return max(now - max_age, last) if last is not None else now - max_age

        found = await self.state.market.instructions(await run_in_threadpool(since))

        def receive(instruction: Instruction) -> str:
            with self.factory() as session:
                try:
                    answer = receive_instruction(
                        session,
                        self.state.packs,
                        instruction,
                        source=MARKET_SOURCE,
                        now=self.state.clock.now(),
                        account_id=None,
                        max_age=max_age,
                    )
                except InstructionRefused as refused:
                    log.warning(
                        "market instruction %s refused: %s",
                        instruction.instruction_id,
                        refused.detail,
                    )
                    return "refused"
                session.commit()
                return answer.status.value

        answers = [await run_in_threadpool(receive, i) for i in found]
        return ", ".join(f"{i.instruction_id}: {a}" for i, a in zip(found, answers, strict=True))

    async def dispatch_minute(self, now: datetime) -> None:
        """Close the interval just over (once) and correct the one under way (once a minute)."""
        previous = interval_of(now).previous()
        await self._once_in(
            "close_interval",
            str(previous),
            lambda: self.close_interval(previous.day, previous.index),
        )
        minute = now.replace(second=0, microsecond=0)
        await self._once_in("correct_dispatch", minute.isoformat(), lambda: self.correct(now))

    async def close_interval(self, day: date, interval: int) -> str:
        def run() -> str:
            with self.factory() as session:
                assets = close_interval(session, self.state.packs, day, interval)
                session.commit()
            return f"{assets} asset(s) measured"

        return await run_in_threadpool(run)

    async def correct(self, now: datetime) -> str:
        """Re-dispatch the shortfall of the interval under way."""

        def run() -> str:
            with self.factory() as session:
                summary = correct(session, self.state.packs, now)
                session.commit()
            return (
                f"{summary.commands} command(s); {summary.offline} offline, "
                f"{summary.lagging} lagging; shortfall {summary.shortfall_kw} kW"
            )

        return await run_in_threadpool(run)

    async def _once(self, job: str, day: date, run: Callable[[date], Awaitable[str]]) -> None:
        await self._once_in(job, str(day), lambda: run(day))

    async def _once_in(self, job: str, period: str, run: Callable[[], Awaitable[str]]) -> None:
        """Run ``job`` for ``period`` unless it ran (or runs) elsewhere; a failure is released."""
        if not await run_in_threadpool(claim, self.factory, job, period, self.state.clock.now()):
            return
        try:
            detail = await run()
        except Exception as exc:  # a failed run is released for the next tick
            log.exception("job %s for %s failed", job, period)
            await run_in_threadpool(
                finish, self.factory, job, period, self.state.clock.now(), "failed", repr(exc)
            )
            return
        await run_in_threadpool(
            finish, self.factory, job, period, self.state.clock.now(), "done", detail
        )

    async def draft_bids(self, day: date) -> str:
        settings = self.state.settings
        request = DraftRequest(day=day, risk_quantile=settings.bid_risk_quantile)
        with self.factory() as session:
            try:
                rows = await workflow.draft(self.state, session, request, None)
            except Problem as problem:
                if problem.status != 409:  # 409: bids of the day are already past drafting
                    raise
                return problem.detail
            if settings.bid_auto_approve:
                for row in rows:
                    await run_in_threadpool(
                        service.approve_bid,
                        session,
                        None,
                        self.state.packs,
                        row.id,
                        self.state.clock.now(),
                        self.state.participant,
                    )
            await run_in_threadpool(session.commit)
            return f"{len(rows)} draft(s)"

    async def submit_bids(self, day: date) -> int:
        """Submit every approved bid of ``day``; how many were sent."""

        def approved() -> list[uuid.UUID]:
            with self.factory() as session:
                rows = repository.list_bids(
                    session, None, 1000, day=day, states=[BidState.APPROVED.value]
                )
                return [row.id for row in rows]

        submitted = 0
        for bid_id in await run_in_threadpool(approved):
            with self.factory() as session:
                await workflow.submit(self.state, session, bid_id, None)
                submitted += 1
        return submitted

    async def fetch_awards(self, day: date) -> None:
        await workflow.fetch_awards(self.state, self.factory, day)

        def pending() -> int:
            with self.factory() as session:
                return len(
                    repository.list_bids(
                        session, None, 1, day=day, states=[BidState.SUBMITTED.value]
                    )
                )

        if await run_in_threadpool(pending) == 0 and await run_in_threadpool(
            claim, self.factory, "fetch_awards", str(day), self.state.clock.now()
        ):
            await run_in_threadpool(
                finish, self.factory, "fetch_awards", str(day), self.state.clock.now(), "done", ""
            )
            await self._once("plan_dispatch", day, self.plan_dispatch)

    async def plan_dispatch(self, day: date) -> str:
        """Split the day's awards among the assets and queue their setpoints."""

        def plan() -> str:
            with self.factory() as session:
                now = self.state.clock.now()
                summary = plan_day(session, self.state.packs, day, now)
                publish_schedule(session, day, now, cause="day-ahead plan")
                session.commit()
            return (
                f"{summary.commands} command(s) for {summary.assets} asset(s); "
                f"awarded {summary.awarded_kwh} kWh, shortfall {summary.shortfall_kwh} kWh; "
                f"disaggregation {summary.solve_status or 'not run'}"
            )

        return await run_in_threadpool(plan)


def start_scheduler(market_day: MarketDay, tick_seconds: float = TICK_SECONDS) -> AsyncIOScheduler:
    """Start APScheduler with the tick job (one instance at a time; missed ticks coalesce)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        market_day.tick,
        "interval",
        seconds=tick_seconds,
        id="market-day-tick",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
