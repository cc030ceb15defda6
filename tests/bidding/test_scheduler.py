"""The market-day scheduler: drafts once per day, submits approved bids once, fetches awards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from market.factories import DrivenMarketClient
from tests.bidding.conftest import DAY, MORNING_BEFORE
from tests.bidding.test_bids_api import BIG_BATTERY, KILN, enroll
from tests.conftest import Caller, make_settings
from vpp.config import Settings
from vpp.domain.market import Instruction
from vpp.domain.time import day_bounds_utc, interval_of
from vpp.kit.jobruns import claim, finish
from vpp.models import (
    BidRow,
    GridInstruction,
    JobRun,
    PlannedSetpointRow,
    PoolTarget,
    ScheduleVersion,
)
from vpp.ports import ManualClock, MarketClient
from vpp.scheduler import MarketDay

END_OF_DAY = day_bounds_utc(DAY)[1]


@pytest.fixture
def settings() -> Settings:
    return make_settings(bid_auto_approve=True)


def bids_of_day(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as session:
        rows = session.scalars(select(BidRow).where(BidRow.day == DAY).order_by(BidRow.product))
        return [(row.product, row.state) for row in rows]


def test_two_instances_draft_and_submit_once_then_fetch_awards(
    app: FastAPI,
    client: TestClient,
    enterprise: Caller,
    clock: ManualClock,
    session_factory: sessionmaker[Session],
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    first, second = MarketDay(app.state, session_factory), MarketDay(app.state, session_factory)
    anyio.run(first.tick)
    anyio.run(second.tick)
    assert bids_of_day(session_factory) == [
        ("peak_shaving.peak_cut", "submitted"),
        ("peak_shaving.valley_fill", "submitted"),
    ]
    clock.advance(3 * 3600)  # 11:00 Beijing: past the 10:00 gate
    anyio.run(second.tick)
    states = {state for _, state in bids_of_day(session_factory)}
    assert states <= {"awarded", "not_awarded"}
    with session_factory() as session:
        runs = session.execute(
            select(JobRun.job, JobRun.status).where(JobRun.period == str(DAY))
        ).all()
    assert sorted(tuple(r) for r in runs) == [
        ("draft_bids", "done"),
        ("fetch_awards", "done"),
        ("plan_dispatch", "done"),
    ]


def test_a_period_is_claimed_once_and_a_failed_run_is_released(
    session_factory: sessionmaker[Session],
) -> None:
    now = datetime(2026, 3, 9, tzinfo=UTC)
    assert claim(session_factory, "draft_bids", "2026-03-10", now)
    assert not claim(session_factory, "draft_bids", "2026-03-10", now)
    finish(session_factory, "draft_bids", "2026-03-10", now, "failed", "market down")
    assert claim(session_factory, "draft_bids", "2026-03-10", now)
    finish(session_factory, "draft_bids", "2026-03-10", now, "done", "")
    assert not claim(session_factory, "draft_bids", "2026-03-10", now)


@pytest.mark.parametrize("market_config", [{"seed": 7, "instruction_probability": 1.0}])
def test_the_plan_is_published_and_a_market_instruction_is_answered_once(
    app: FastAPI,
    client: TestClient,
    enterprise: Caller,
    clock: ManualClock,
    market: MarketClient,
    session_factory: sessionmaker[Session],
) -> None:
    assets = enroll(client, enterprise, BIG_BATTERY, KILN)
    day = MarketDay(app.state, session_factory)
    anyio.run(day.tick)
    clock.advance(3 * 3600)  # past the gate: awards, plan, first schedule version
    anyio.run(day.tick)
    with session_factory() as session:
        versions = session.scalars(
            select(ScheduleVersion.cause).where(ScheduleVersion.day == DAY)
        ).all()
    assert versions == ["day-ahead plan"]
    assert isinstance(market, DrivenMarketClient)
    issued: list[Instruction] = []
    while not issued and clock.now() < END_OF_DAY:  # minute by minute until one is issued
        clock.advance(60)
        issued = anyio.run(market.market.instructions, MORNING_BEFORE, "vpp")
    assert len(issued) == 1
    instruction = issued[0]
    # Both assets report, following their plan, so the pool is online when it arrives.
    now = interval_of(clock.now())
    with session_factory() as session:
        planned = {
            str(row.asset_id): row.setpoint_kw
            for row in session.scalars(
                select(PlannedSetpointRow).where(
                    PlannedSetpointRow.day == DAY, PlannedSetpointRow.interval == now.index
                )
            )
        }
    readings = [
        {
            "asset_id": a,
            "ts": (clock.now() - timedelta(seconds=s)).isoformat(),
            "power_kw": planned[a],
        }
        for a in assets
        for s in (30, 90)
    ]
    pushed = client.post("/v1/telemetry", json={"readings": readings}, headers=enterprise.headers)
    assert pushed.status_code in (200, 201, 202), pushed.text
    anyio.run(day.tick)
    anyio.run(day.tick)  # the same minute again: taken once
    clock.advance(60)
    anyio.run(day.tick)  # the next minute: nothing new since the last one taken
    with session_factory() as session:
        rows = session.scalars(select(GridInstruction)).all()
        targets = {
            t.interval: t.target_kw
            for t in session.scalars(
                select(PoolTarget).where(
                    PoolTarget.day == DAY, PoolTarget.product == instruction.product
                )
            )
        }
    assert [(r.instruction_id, r.source) for r in rows] == [(instruction.instruction_id, "market")]
    # The market asks for less than the pool was awarded there: the pool takes it whole.
    assert rows[0].status == "accepted", rows[0].reason
    assert [targets[t] for t in instruction.intervals] == list(instruction.target_kw)
    with session_factory() as session:
        causes = session.scalars(
            select(ScheduleVersion.cause)
            .where(ScheduleVersion.day == DAY)
            .order_by(ScheduleVersion.version)
        ).all()
    assert len(causes) == 2 and causes[0] == "day-ahead plan"
