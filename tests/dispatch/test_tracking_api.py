"""GET /v1/dispatch/tracking: delivered against awarded per product and interval, by role.

Enterprise A has two batteries planned at -50 kW each, enterprise B one at -100 kW, for a
peak-cut award of 200 kW in interval 40 (10:00-10:15 Beijing). Measured: A's first
battery -50 kW, its second only -30 kW (it lags), B's -100 kW: the pool delivers 180 kW.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import Caller, make_settings
from tests.dispatch.park import PEAK_CUT, add_asset, award, reading, store_plan
from vpp.app import create_app
from vpp.bidding.registry import load_packs
from vpp.dispatch.tracking import close_interval
from vpp.models import AssetDelivery, PoolTarget
from vpp.ports import ManualClock

DAY = date(2026, 3, 10)
START_40 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START_40 + timedelta(hours=1))


@pytest.fixture
def api(session_factory: sessionmaker[Session], clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(make_settings(), session_factory=session_factory, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def park(
    session_factory: sessionmaker[Session], enterprise: Caller, other_enterprise: Caller
) -> None:
    with session_factory() as session:
        a1 = add_asset(session, enterprise.account_id, name="A1")
        a2 = add_asset(session, enterprise.account_id, name="A2")
        b = add_asset(session, other_enterprise.account_id, name="B")
        store_plan(session, DAY, [a1, a2, b], {(0, 40): -50.0, (1, 40): -50.0, (2, 40): -100.0})
        award(session, DAY, PEAK_CUT, {40: 200.0})
        for minute in (1, 2):
            ts = START_40 + timedelta(minutes=minute)
            reading(session, a1, ts, -50.0)
            reading(session, a2, ts, -30.0)
            reading(session, b, ts, -100.0)
        session.commit()


def track(api: TestClient, caller: Caller, day: str = "2026-03-10") -> dict[str, Any]:
    response = api.get("/v1/dispatch/tracking", params={"day": day}, headers=caller.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def close(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert close_interval(session, load_packs(), DAY, 40) == 3
        session.commit()


def test_operator_sees_the_pool_against_its_award(
    api: TestClient, park: None, operator: Caller, session_factory: sessionmaker[Session]
) -> None:
    close(session_factory)
    close(session_factory)  # closing twice stores the same, once
    with session_factory() as session:
        assert len(session.scalars(select(AssetDelivery)).all()) == 3
        row = session.get(PoolTarget, (DAY, PEAK_CUT, 40))
        assert row is not None and row.delivered_kw == 180.0
    body = track(api, operator)
    assert body["scope"] == "pool"
    assert body["intervals"] == [
        {
            "product": PEAK_CUT,
            "interval": 40,
            "start": "2026-03-10T02:00:00Z",
            "awarded_kw": 200.0,
            "target_kw": 200.0,
            "planned_kw": 200.0,
            "delivered_kw": 180.0,
            "live": False,
        }
    ]
    assert body["products"] == [
        {
            "product": PEAK_CUT,
            "direction": "down",
            "awarded_kwh": 50.0,
            "delivered_kwh": 45.0,
            "intervals_awarded": 1,
            "intervals_within_5pct": 0,  # 180 of 200 is 10 % short
        }
    ]


def test_each_enterprise_sees_only_its_own_contribution(
    api: TestClient,
    park: None,
    enterprise: Caller,
    other_enterprise: Caller,
    session_factory: sessionmaker[Session],
) -> None:
    close(session_factory)
    mine, theirs = track(api, enterprise), track(api, other_enterprise)
    assert mine["scope"] == theirs["scope"] == "enterprise"
    own = [(i["planned_kw"], i["delivered_kw"], i["awarded_kw"]) for i in mine["intervals"]]
    other = [(i["planned_kw"], i["delivered_kw"], i["awarded_kw"]) for i in theirs["intervals"]]
    assert own == [(100.0, 80.0, None)]
    assert other == [(100.0, 100.0, None)]
    assert mine["products"][0]["intervals_within_5pct"] is None


def test_the_interval_under_way_is_tracked_live(
    api: TestClient, park: None, operator: Caller, clock: ManualClock
) -> None:
    clock.advance(-3600 + 150)  # 10:02:30, readings of 10:01 and 10:02 so far
    (interval,) = track(api, operator)["intervals"]
    assert (interval["delivered_kw"], interval["live"]) == (180.0, True)


def test_before_any_reading_delivery_is_null(
    api: TestClient, operator: Caller, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        award(session, DAY, PEAK_CUT, {41: 10.0})
        session.commit()
    (interval,) = track(api, operator)["intervals"]
    assert (interval["interval"], interval["delivered_kw"]) == (41, None)


@pytest.mark.parametrize("role", ["grid", "admin"])
def test_other_roles_are_refused(
    api: TestClient, park: None, role: str, grid: Caller, admin: Caller
) -> None:
    caller = {"grid": grid, "admin": admin}[role]
    response = api.get(
        "/v1/dispatch/tracking", params={"day": "2026-03-10"}, headers=caller.headers
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bad_day_and_no_key_are_refused(api: TestClient, operator: Caller) -> None:
    response = api.get(
        "/v1/dispatch/tracking", params={"day": "2026-13-01"}, headers=operator.headers
    )
    assert response.status_code == 422
    assert api.get("/v1/dispatch/tracking", params={"day": "2026-03-10"}).status_code == 401
