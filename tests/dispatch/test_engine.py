"""Guaranteed setpoint delivery: the outbox, retries with backoff, expiry, restarts."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.simulated import SimulatedAdapter
from tests.conftest import Caller, create_battery, create_site
from vpp.dispatch.engine import Backoff, DeliveryEngine
from vpp.domain.commands import DeliveryOutcome, DeliveryStatus, SetpointCommand
from vpp.models import SetpointCommandRow, TelemetryReading
from vpp.ports import AssetAdapter, ManualClock

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 Beijing


class ScriptedAdapter(AssetAdapter):
    """An in-memory adapter whose answers the test scripts, recording every delivery."""

    name = "scripted"

    def __init__(self, clock: ManualClock, script: Sequence[DeliveryStatus]) -> None:
        super().__init__(clock)
        self.script = list(script)
        self.delivered: list[SetpointCommand] = []

    async def deliver(self, commands: Sequence[SetpointCommand]) -> Sequence[DeliveryOutcome]:
        self.delivered += commands
        status = self.script.pop(0) if self.script else DeliveryStatus.ACKED
        return [DeliveryOutcome(c.id, status, f"scripted {status.value}") for c in commands]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def api(session_factory: sessionmaker[Session], clock: ManualClock) -> TestClient:
    from tests.conftest import make_settings
    from vpp.app import create_app

    return TestClient(create_app(make_settings(), session_factory=session_factory, clock=clock))


@pytest.fixture
def battery(api: TestClient, enterprise: Caller) -> dict[str, Any]:
    site = create_site(api, enterprise)
    return create_battery(
        api, enterprise, site["id"], adapter={"name": "simulated", "settings": {"seed": 3}}
    )


def setpoint(
    api: TestClient, operator: Caller, asset: dict[str, Any], power_kw: float, **extra: Any
) -> dict[str, Any]:
    response = api.post(
        f"/v1/assets/{asset['id']}/setpoints",
        json={"power_kw": power_kw, **extra},
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def engine_for(
    factory: sessionmaker[Session], clock: ManualClock, adapter: AssetAdapter
) -> DeliveryEngine:
    return DeliveryEngine(
        factory,
        {"simulated": adapter},
        clock,
        backoff=Backoff(base_s=2, cap_s=60, jitter=0),
        seed=1,
    )


async def test_manual_setpoint_is_delivered_acknowledged_and_moves_the_device(
    api: TestClient,
    operator: Caller,
    enterprise: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    command = setpoint(api, operator, battery, -300.0)
    assert command["state"] == "pending"
    assert command["interval_start"] == "2026-11-25T02:00:00Z"
    assert command["expires_at"] == "2026-11-25T02:15:00Z"

    adapter = SimulatedAdapter(clock)
    engine = engine_for(session_factory, clock, adapter)
    await engine.start()
    report = await engine.run_once()
    await engine.stop()
    assert report.claimed == 1 and report.outcomes["acked"] == 1

    detail = api.get(f"/v1/commands/{command['id']}", headers=enterprise.headers).json()
    assert detail["state"] == "acked" and detail["attempts"] == 1
    assert [e["state"] for e in detail["history"]] == ["pending", "acked"]
    clock.advance(60)
    reading = next(r for r in adapter.read_all() if str(r.asset_id) == battery["id"])
    assert reading.power_kw == -300.0
    assert reading.soc is not None and reading.soc < 0.5
    # Nothing is sent again once acknowledged.
    clock.advance(300)
    assert (await engine.run_once()).claimed == 0


async def test_silent_device_is_retried_with_backoff_then_expires(
    api: TestClient,
    operator: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    command = setpoint(api, operator, battery, 200.0)
    adapter = SimulatedAdapter(clock)
    engine = engine_for(session_factory, clock, adapter)
    await engine.start()
    adapter.set_offline(uuid.UUID(battery["id"]))

    attempts_at = []
    while clock.now() < START + timedelta(minutes=16):
        report = await engine.run_once()
        if report.claimed:
            attempts_at.append((clock.now() - START).total_seconds())
        clock.advance(1)
    await engine.stop()
    # 2, 4, 8, 16, 32, 60, 60 ... seconds apart until the 15-minute expiry.
    gaps = [b - a for a, b in itertools.pairwise(attempts_at)]
    assert gaps[:6] == [2, 4, 8, 16, 32, 60]
    assert all(gap == 60 for gap in gaps[6:])
    row = session.get(SetpointCommandRow, uuid.UUID(command["id"]))
    assert row is not None
    session.refresh(row)
    assert row.state == "expired"
    assert row.finished_at is not None and row.finished_at <= START + timedelta(
        minutes=15, seconds=1
    )
    assert row.attempts == len(attempts_at)
    assert 'vpp_adapter_commands_total{adapter="simulated",outcome="expired"} 1.0' in _metrics(
        engine
    )


def _metrics(engine: DeliveryEngine) -> str:
    from prometheus_client import generate_latest

    return generate_latest(engine.metrics.registry).decode()


async def test_transient_failures_are_retried_and_applied_once(
    api: TestClient,
    operator: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    command = setpoint(api, operator, battery, 100.0)
    adapter = ScriptedAdapter(
        clock, [DeliveryStatus.RETRY, DeliveryStatus.RETRY, DeliveryStatus.ACKED]
    )
    engine = engine_for(session_factory, clock, adapter)
    for _ in range(10):
        await engine.run_once()
        clock.advance(1)
    row = session.execute(
        select(SetpointCommandRow).where(SetpointCommandRow.id == uuid.UUID(command["id"]))
    ).scalar_one()
    session.refresh(row)
    assert row.state == "acked" and row.attempts == 3
    assert [c.attempt for c in adapter.delivered] == [1, 2, 3]


async def test_rejected_and_failed_are_final(
    api: TestClient,
    operator: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    for status, state in ((DeliveryStatus.REJECTED, "rejected"), (DeliveryStatus.FAILED, "failed")):
        command = setpoint(api, operator, battery, 50.0)
        adapter = ScriptedAdapter(clock, [status])
        engine = engine_for(session_factory, clock, adapter)
        for _ in range(5):
            await engine.run_once()
            clock.advance(5)
        row = session.get(SetpointCommandRow, uuid.UUID(command["id"]))
        assert row is not None
        session.refresh(row)
        assert row.state == state and len(adapter.delivered) == 1


async def test_restart_between_send_and_ack_resumes_without_double_application(
    api: TestClient,
    operator: Caller,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    command = setpoint(api, operator, battery, -150.0)
    device_side = SimulatedAdapter(clock)
    first = engine_for(session_factory, clock, device_side)
    await first.start()
    # The ack is lost: the device applied the command but the service died before
    # recording the answer (the adapter reports it as merely sent).
    device_side.set_offline(uuid.UUID(battery["id"]))
    await first.run_once()
    device_side.set_offline(uuid.UUID(battery["id"]), False)
    device_side.applied[uuid.UUID(battery["id"])].add(uuid.UUID(command["id"]))
    device_side.devices[uuid.UUID(battery["id"])].set_target(-150.0, START + timedelta(minutes=15))
    await first.stop()

    # A new engine (process restart) sees the command still open and redelivers it
    # once its lease runs out; the device acknowledges without applying it twice.
    second = engine_for(session_factory, clock, device_side)
    assert (await second.run_once()).claimed == 0  # lease still running
    clock.advance(2)
    report = await second.run_once()
    assert report.claimed == 1 and report.outcomes["acked"] == 1
    row = session.get(SetpointCommandRow, uuid.UUID(command["id"]))
    assert row is not None
    session.refresh(row)
    assert row.state == "acked" and row.attempts == 2
    assert device_side.applied[uuid.UUID(battery["id"])] == {uuid.UUID(command["id"])}


async def test_simulated_telemetry_flows_into_the_database(
    api: TestClient,
    battery: dict[str, Any],
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    session: Session,
) -> None:
    adapter = SimulatedAdapter(clock, {"telemetry_interval_s": 60})
    engine = engine_for(session_factory, clock, adapter)
    await engine.start()
    await engine.sinks["simulated"].telemetry(adapter.read_all())
    clock.advance(60)
    await engine.sinks["simulated"].telemetry(adapter.read_all())
    await engine.stop()
    stored = (
        session.execute(
            select(TelemetryReading).where(TelemetryReading.asset_id == uuid.UUID(battery["id"]))
        )
        .scalars()
        .all()
    )
    assert len(stored) == 2
    assert all(r.soc == 0.5 for r in stored)


async def test_adapter_event_counts_are_exported(
    session_factory: sessionmaker[Session], clock: ManualClock
) -> None:
    class Noisy(ScriptedAdapter):
        def event_counts(self) -> dict[str, int]:
            return {"malformed_payloads": 3, "timeouts": 1}

    engine = DeliveryEngine(session_factory, {"noisy": Noisy(clock, [])}, clock)
    text = _metrics(engine)
    assert 'vpp_adapter_events_total{adapter="noisy",event="malformed_payloads"} 3.0' in text
    assert 'vpp_adapter_events_total{adapter="noisy",event="timeouts"} 1.0' in text
