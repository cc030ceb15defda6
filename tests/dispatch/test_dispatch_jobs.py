"""The scheduler's dispatch jobs: each minute's correction and each interval's close run once."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import make_settings
from vpp.app import create_app
from vpp.models import JobRun
from vpp.ports import ManualClock
from vpp.scheduler import MarketDay

NOW = datetime(2026, 3, 10, 2, 5, 30, tzinfo=UTC)  # 10:05:30 Beijing, interval 40


def test_two_schedulers_correct_a_minute_and_close_an_interval_once(
    session_factory: sessionmaker[Session],
) -> None:
    app = create_app(make_settings(), session_factory=session_factory, clock=ManualClock(NOW))
    first, second = MarketDay(app.state, session_factory), MarketDay(app.state, session_factory)
    anyio.run(first.dispatch_minute, NOW)
    anyio.run(second.dispatch_minute, NOW)
    with session_factory() as session:
        runs = session.execute(select(JobRun.job, JobRun.period, JobRun.status)).all()
    assert sorted(tuple(r) for r in runs) == [
        ("close_interval", "2026-03-10#39", "done"),
        ("correct_dispatch", "2026-03-10T02:05:00+00:00", "done"),
    ]
