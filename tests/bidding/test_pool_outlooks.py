"""The pool is forecast once a day per risk: drafting keeps the forecasts, planning reuses them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.bidding.conftest import DAY, MORNING_BEFORE
from tests.bidding.test_bids_api import BIG_BATTERY, KILN, draft, enroll
from tests.conftest import Caller
from vpp.bidding import service
from vpp.bidding.planner import PoolAsset
from vpp.dispatch.planning import ACTIVE_KW, SEND_AHEAD, plan_day
from vpp.domain.time import INTERVAL, interval_starts_utc
from vpp.models import Asset, PlannedSetpointRow, PoolOutlookRow, SetpointCommandRow


def same(a: PoolAsset, b: PoolAsset) -> None:
    assert (a.asset_id, a.account_id, a.params, a.battery) == (
        b.asset_id,
        b.account_id,
        b.params,
        b.battery,
    )
    for name in ("baseline_kw", "lo_kw", "hi_kw"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def stored_rows(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(PoolOutlookRow).where(PoolOutlookRow.day == DAY)
        )
        or 0
    )


def no_forecast(*_: object, **__: object) -> None:
    raise AssertionError("the pool was forecast again")


def test_the_plan_reuses_the_forecasts_the_bids_were_drafted_on(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    with session_factory() as session:
        forecast = service.pool_assets(session, DAY, 0.1)
    draft(client, operator, risk_quantile=0.1)
    monkeypatch.setattr(service, "outlooks_of", no_forecast)
    with session_factory() as session:
        assert stored_rows(session) == 2
        reused = service.planning_pool(session, DAY, 0.1)
    assert len(reused) == len(forecast) == 2
    for a, b in zip(reused, forecast, strict=True):
        same(a, b)


def test_assets_without_a_stored_forecast_are_forecast_now(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    other_enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    enroll(client, enterprise, BIG_BATTERY)
    draft(client, operator, risk_quantile=0.1)
    late = enroll(client, other_enterprise, KILN)[0]
    with session_factory() as session:
        pool = service.planning_pool(session, DAY, 0.1)
        fresh = service.pool_assets(session, DAY, 0.1)
        other_risk = service.planning_pool(session, DAY, 0.5)
        at_median = service.pool_assets(session, DAY, 0.5)
    assert [str(a.asset_id) for a in pool] == [str(a.asset_id) for a in fresh]
    assert late in {str(a.asset_id) for a in pool}
    for a, b in zip(pool, fresh, strict=True):
        assert a.params == b.params
        np.testing.assert_array_equal(a.baseline_kw, b.baseline_kw)
    # Nothing stored at another risk setting: the whole pool is forecast at that one.
    for a, b in zip(other_risk, at_median, strict=True):
        same(a, b)


def test_drafting_again_replaces_the_stored_forecasts(
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    draft(client, operator, risk_quantile=0.1)
    draft(client, operator, risk_quantile=0.5)
    with session_factory() as session:
        assert stored_rows(session) == 2
        risks = set(session.scalars(select(PoolOutlookRow.risk_quantile)))
    assert risks == {0.5}


def test_the_day_ahead_plan_stands_on_the_stored_baselines(
    app: FastAPI,
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(client, enterprise, BIG_BATTERY, KILN)
    draft(client, operator, risk_quantile=0.1)
    with session_factory() as session:
        stored = {a.asset_id: a for a in service.planning_pool(session, DAY, 0.1)}
    monkeypatch.setattr(service, "outlooks_of", no_forecast)
    with session_factory() as session:
        summary = plan_day(session, app.state.packs, DAY, MORNING_BEFORE)
        rows = session.scalars(select(PlannedSetpointRow).where(PlannedSetpointRow.day == DAY))
        baseline = {(r.asset_id, r.interval): r.baseline_kw for r in rows}
    assert summary.assets == 2
    assert len(baseline) == 2 * 96
    for (asset_id, t), kw in baseline.items():
        assert kw == stored[asset_id].baseline_kw[t]


def test_the_plan_queues_a_command_per_commanded_interval(
    app: FastAPI,
    client: TestClient,
    operator: Caller,
    enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    """Each planned deviation of at least ACTIVE_KW becomes one pending command of its
    asset's account and adapter, carrying the planned setpoint, sent SEND_AHEAD of its
    interval and expiring at its end; intervals already over get none."""
    enroll(client, enterprise, BIG_BATTERY, KILN)
    draft(client, operator, risk_quantile=0.1)
    day_start = interval_starts_utc(DAY)[0].to_pydatetime()
    now = day_start + timedelta(hours=5, minutes=3)  # intervals 0-19 are over
    with session_factory() as session:
        summary = plan_day(session, app.state.packs, DAY, now)
        rows = list(
            session.scalars(select(PlannedSetpointRow).where(PlannedSetpointRow.day == DAY))
        )
        commands = list(
            session.scalars(select(SetpointCommandRow).where(SetpointCommandRow.source == "plan"))
        )
        assets = {a.id: a for a in session.scalars(select(Asset))}
    expected = {
        (r.asset_id, day_start + r.interval * INTERVAL): r
        for r in rows
        if abs(r.deviation_kw) >= ACTIVE_KW and r.interval >= 20
    }
    assert expected, "the firm schedules command nothing: the test proves nothing"
    assert summary.commands == len(commands) == len(expected)
    assert len({c.id for c in commands}) == len(commands)
    for command in commands:
        row = expected[(command.asset_id, command.interval_start)]
        assert command.power_kw == pytest.approx(round(row.setpoint_kw, 3), abs=1e-9)
        assert command.account_id == row.account_id == assets[command.asset_id].account_id
        assert command.adapter == assets[command.asset_id].adapter
        assert command.state == "pending" and command.attempts == 0
        assert command.expires_at == command.interval_start + INTERVAL
        assert command.next_attempt_at == max(now, command.interval_start - SEND_AHEAD)
        assert command.id.version == 7
