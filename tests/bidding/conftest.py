"""An app on a manual clock with the simulated market operator in process."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from market.factories import simulated_client
from vpp.app import create_app
from vpp.config import Settings
from vpp.ports import ManualClock, MarketClient

DAY = date(2026, 3, 10)
"""The market day bid for; its day-ahead gate is 2026-03-09 10:00 Beijing (02:00Z)."""
MORNING_BEFORE = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
"""08:00 Beijing on the day before: drafting time."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MORNING_BEFORE)


@pytest.fixture
def market_config() -> dict[str, object]:
    """The simulated market's configuration (a test may parametrize it)."""
    return {"seed": 7}


@pytest.fixture
def market(clock: ManualClock, market_config: dict[str, object]) -> MarketClient:
    return simulated_client(market_config, clock, "vpp")


@pytest.fixture
def app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    market: MarketClient,
) -> FastAPI:
    return create_app(settings, session_factory=session_factory, clock=clock, market=market)
