"""The market-day scheduler: drafts once per day, submits approved bids once, fetches awards."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.bidding.conftest import DAY
from tests.bidding.test_bids_api import BIG_BATTERY, KILN, enroll
from tests.conftest import Caller, make_settings
from vpp.config import Settings
from vpp.models import BidRow, JobRun
from vpp.ports import ManualClock
from vpp.scheduler import MarketDay, claim, finish


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
