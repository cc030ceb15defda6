"""The schedule webhook against a real HTTP receiver on loopback: signed, retried, in order."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.orm import Session, sessionmaker

from tests.grid.conftest import DAY, NOW
from vpp.grid.service import publish_schedule
from vpp.grid.webhook import DeliveryReport, WebhookTarget, deliver_due
from vpp.models import Account, Asset, PlannedSetpointRow, PoolTarget, Site, WebhookDelivery

pytestmark = pytest.mark.anyio

SECRET_BYTES = b"grid-company-webhook-secret-32by"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


@dataclass
class Receiver:
    """The grid company's endpoint: answers with the queued statuses (then 204), records
    each request, and can hold requests to make the sender time out."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((dict(request.headers), body))
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/schedules", recv.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    recv.url = str(server.make_url("/schedules"))
    try:
        yield recv
    finally:
        if recv.hold is not None:
            recv.hold.set()
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def plan_day(session: Session, planned_kw: float) -> None:
    """One asset planned at ``planned_kw`` in interval 72 (baseline 20 kW), 60 kW awarded."""
    account = Account(name=f"ent-{uuid.uuid4().hex[:6]}", kind="enterprise")
    session.add(account)
    session.flush()
    site = Site(account_id=account.id, name="s", connection_point="GS-1", voltage_kv=10.0)
    session.add(site)
    session.flush()
    asset = Asset(
        account_id=account.id, site_id=site.id, name="b", kind="battery", params={},
        baseline_kw=0.0, up_kw=100.0, down_kw=100.0,
    )  # fmt: skip
    session.add(asset)
    session.flush()
    for t in range(96):
        setpoint = planned_kw if t == 72 else 20.0
        session.add(
            PlannedSetpointRow(
                day=DAY, asset_id=asset.id, interval=t, account_id=account.id,
                baseline_kw=20.0, deviation_kw=setpoint - 20.0, setpoint_kw=setpoint,
            )
        )  # fmt: skip
    session.add(
        PoolTarget(
            day=DAY, product="peak_shaving.peak_cut", interval=72, awarded_kw=60.0,
            target_kw=60.0, planned_kw=60.0, shortfall_kw=0.0,
        )
    )  # fmt: skip
    session.flush()


def expected_signature(headers: dict[str, str], body: bytes) -> str:
    """Computed here from the Standard Webhooks definition, independently of vpp.grid."""
    message = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return (
        "v1," + base64.b64encode(hmac.new(SECRET_BYTES, message, hashlib.sha256).digest()).decode()
    )


def delivery(session_factory: sessionmaker[Session], version_id: uuid.UUID) -> WebhookDelivery:
    with session_factory() as session:
        row = session.get(WebhookDelivery, version_id)
        assert row is not None
        return row


async def test_a_new_schedule_reaches_the_grid_signed(
    session_factory: sessionmaker[Session], receiver: Receiver, http: httpx.AsyncClient
) -> None:
    with session_factory() as session:
        plan_day(session, planned_kw=-40.0)
        version = publish_schedule(session, DAY, NOW)
        assert version is not None
        session.commit()
    target = WebhookTarget(receiver.url, SECRET, timeout_s=5.0)

    report = await deliver_due(session_factory, http, NOW, target)

    assert report == DeliveryReport(delivered=1)
    [(headers, body)] = receiver.requests
    assert headers["webhook-id"] == str(version.id)
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"] == expected_signature(headers, body)
    assert headers["Content-Type"] == "application/json"
    payload: dict[str, Any] = json.loads(body)
    assert payload["type"] == "schedule.updated"
    schedule = payload["data"]
    assert (schedule["day"], schedule["version"]) == (DAY.isoformat(), 1)
    assert schedule["planned_kw"][72] == -40.0 and schedule["planned_kw"][0] == 20.0
    assert schedule["baseline_kw"][72] == 20.0
    assert schedule["products"][0]["awarded_kw"][72] == 60.0
    row = delivery(session_factory, version.id)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 204)
    # Nothing is due any more.
    assert await deliver_due(session_factory, http, NOW + timedelta(hours=1), target) == (
        DeliveryReport()
    )
    assert len(receiver.requests) == 1


async def test_failures_are_retried_with_backoff_under_the_same_id(
    session_factory: sessionmaker[Session], receiver: Receiver, http: httpx.AsyncClient
) -> None:
    with session_factory() as session:
        plan_day(session, planned_kw=-40.0)
        version = publish_schedule(session, DAY, NOW)
        assert version is not None
        session.commit()
    target = WebhookTarget(receiver.url, SECRET)
    receiver.statuses = [503, 500]

    assert await deliver_due(session_factory, http, NOW, target) == DeliveryReport(retrying=1)
    row = delivery(session_factory, version.id)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert row.next_attempt_at == NOW + timedelta(seconds=10)

    # Not yet due five seconds later; due at ten.
    assert await deliver_due(session_factory, http, NOW + timedelta(seconds=5), target) == (
        DeliveryReport()
    )
    later = NOW + timedelta(seconds=10)
    assert await deliver_due(session_factory, http, later, target) == DeliveryReport(retrying=1)
    assert delivery(session_factory, version.id).next_attempt_at == later + timedelta(seconds=20)
    last = later + timedelta(seconds=20)
    assert await deliver_due(session_factory, http, last, target) == DeliveryReport(delivered=1)

    ids = {headers["webhook-id"] for headers, _ in receiver.requests}
    bodies = {body for _, body in receiver.requests}
    assert ids == {str(version.id)} and len(bodies) == 1 and len(receiver.requests) == 3
    for headers, body in receiver.requests:
        assert headers["webhook-signature"] == expected_signature(headers, body)


async def test_unreachable_or_slow_receivers_are_retried_then_given_up(
    session_factory: sessionmaker[Session], receiver: Receiver, http: httpx.AsyncClient
) -> None:
    with session_factory() as session:
        plan_day(session, planned_kw=-40.0)
        version = publish_schedule(session, DAY, NOW)
        assert version is not None
        session.commit()

    receiver.hold = asyncio.Event()
    slow = WebhookTarget(receiver.url, SECRET, timeout_s=0.2)
    assert await deliver_due(session_factory, http, NOW, slow) == DeliveryReport(retrying=1)
    assert delivery(session_factory, version.id).last_error.startswith("timeout")
    receiver.hold.set()

    closed = WebhookTarget("http://127.0.0.1:9/schedules", SECRET)  # discard port: refused
    due = NOW + timedelta(seconds=10)
    assert await deliver_due(session_factory, http, due, closed) == DeliveryReport(retrying=1)
    assert delivery(session_factory, version.id).last_error.startswith("connection")

    a_day_on = NOW + timedelta(days=1)
    assert await deliver_due(session_factory, http, a_day_on, closed) == DeliveryReport(failed=1)
    row = delivery(session_factory, version.id)
    assert (row.state, row.attempts) == ("failed", 3)


async def test_only_changed_schedules_are_versioned_and_they_go_out_in_order(
    session_factory: sessionmaker[Session], receiver: Receiver, http: httpx.AsyncClient
) -> None:
    with session_factory() as session:
        plan_day(session, planned_kw=-40.0)
        first = publish_schedule(session, DAY, NOW)
        assert publish_schedule(session, DAY, NOW + timedelta(seconds=1)) is None
        row = session.get(PoolTarget, (DAY, "peak_shaving.peak_cut", 72))
        assert row is not None
        row.target_kw = 80.0
        second = publish_schedule(session, DAY, NOW + timedelta(seconds=2), cause="instruction x")
        assert first is not None and second is not None
        assert (first.version, second.version) == (1, 2)
        session.commit()

    target = WebhookTarget(receiver.url, SECRET)
    report = await deliver_due(session_factory, http, NOW + timedelta(seconds=3), target)
    assert report == DeliveryReport(delivered=2)
    sent = [json.loads(body)["data"] for _, body in receiver.requests]
    assert [(s["version"], s["cause"]) for s in sent] == [(1, "plan"), (2, "instruction x")]
    assert [s["products"][0]["target_kw"][72] for s in sent] == [60.0, 80.0]


def test_the_target_comes_from_settings() -> None:
    from tests.conftest import make_settings

    assert WebhookTarget.from_settings(make_settings()) is None
    settings = make_settings(
        grid_webhook_url="https://grid.example/hook", grid_webhook_secret=SECRET
    )
    assert WebhookTarget.from_settings(settings) == WebhookTarget(
        "https://grid.example/hook", SECRET, 10.0
    )
    with pytest.raises(ValueError, match="SECRET"):
        make_settings(grid_webhook_url="https://grid.example/hook")
    with pytest.raises(ValueError, match="https"):
        make_settings(
            environment="production",
            database_url="postgresql://u@h/db",
            grid_webhook_url="http://grid.example/hook",
            grid_webhook_secret=SECRET,
        )
