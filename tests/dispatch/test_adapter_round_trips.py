# The MQTT fixtures are imported from conftest_mqtt, so test arguments "redefine" them.
# ruff: noqa: F811

"""Full round trips through the engine and real protocol peers, ending in the database:
telemetry in, setpoint out, acknowledgement back, state ``acked`` stored."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from adapters.http import HttpWebhookAdapter
from adapters.modbus import ModbusAdapter
from adapters.mqtt import MqttAdapter, MqttDevice
from adapters.mqtt import TelemetryReading as MqttReading
from adapters.ocpp import OcppAdapter
from adapters.ocpp.lib import SUBPROTOCOL_16
from tests.adapters.conftest_mqtt import (  # noqa: F401  (fixtures)
    SITE_A,
    BrokerEnv,
    RecordingHandler,
    mosquitto_binary,
    mqtt_broker,
)
from tests.adapters.test_http_delivery import LOOPBACK_CONFIG, Peer, peer  # noqa: F401  (fixture)
from tests.adapters.test_modbus_adapter import SimulatedInverter, binding, free_port
from tests.adapters.test_ocpp_adapter import SimulatedCharger, watts
from tests.conftest import Caller, create_site, make_settings
from vpp.app import create_app
from vpp.dispatch.engine import DeliveryEngine
from vpp.models import SetpointCommandRow, TelemetryReading
from vpp.ports import AssetAdapter, SystemClock

pytestmark = pytest.mark.anyio


def enroll(client: TestClient, caller: Caller, body: dict[str, Any]) -> str:
    site = create_site(client, caller)
    response = client.post(
        "/v1/assets", json={"site_id": site["id"], **body}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    asset_id: str = response.json()["id"]
    return asset_id


def setpoint(client: TestClient, operator: Caller, asset_id: str, power_kw: float) -> uuid.UUID:
    response = client.post(
        f"/v1/assets/{asset_id}/setpoints", json={"power_kw": power_kw}, headers=operator.headers
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def eventually(engine: DeliveryEngine, probe: Callable[[Session], bool]) -> None:
    with anyio.fail_after(10):
        while not await engine.db(probe):
            await asyncio.sleep(0.02)


def readings_of(asset_id: str) -> Callable[[Session], bool]:
    def probe(session: Session) -> bool:
        stmt = select(func.count()).where(TelemetryReading.asset_id == uuid.UUID(asset_id))
        return int(session.execute(stmt).scalar_one()) > 0

    return probe


def state_of(command_id: uuid.UUID) -> Callable[[Session], str]:
    def probe(session: Session) -> str:
        return str(session.get(SetpointCommandRow, command_id, populate_existing=True).state)  # type: ignore[union-attr]

    return probe


@contextlib.asynccontextmanager
async def running(
    factory: sessionmaker[Session], name: str, adapter: AssetAdapter
) -> AsyncIterator[DeliveryEngine]:
    engine = DeliveryEngine(factory, {name: adapter}, SystemClock())
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def test_modbus_inverter_round_trip(
    client: TestClient, enterprise: Caller, operator: Caller, session_factory: sessionmaker[Session]
) -> None:
    inverter = SimulatedInverter(free_port())
    await inverter.start()
    try:
        inverter.power_w = 20_000  # discharging 20 kW
        asset_id = enroll(
            client,
            enterprise,
            {
                "name": "Storage inverter",
                "kind": "battery",
                "params": {"capacity_kwh": 100, "charge_power_kw": 100, "discharge_power_kw": 100},
                "adapter": {"name": "modbus", "settings": binding(inverter.port)},
            },
        )
        command_id = setpoint(client, operator, asset_id, 60.0)
        async with running(session_factory, "modbus", ModbusAdapter(SystemClock())) as engine:
            await eventually(engine, readings_of(asset_id))
            report = await engine.run_once()
            assert report.outcomes["acked"] == 1
            assert await engine.db(state_of(command_id)) == "acked"
            assert inverter.wset_w == -60_000  # SunSpec sign: negative = charging
    finally:
        await inverter.stop()
    stored = client.get(
        f"/v1/assets/{asset_id}/telemetry",
        params={"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
        headers=enterprise.headers,
    ).json()["items"]
    assert stored[0]["power_kw"] == pytest.approx(-20.0)


async def test_ocpp_charge_point_round_trip(
    client: TestClient, enterprise: Caller, operator: Caller, session_factory: sessionmaker[Session]
) -> None:
    asset_id = enroll(
        client,
        enterprise,
        {
            "name": "Depot charger",
            "kind": "ev_fleet",
            "params": {"charger_count": 1, "charger_power_kw": 22, "daily_energy_kwh": 50},
            "adapter": {
                "name": "ocpp",
                "settings": {"charge_point_id": "CP-7", "connector_id": 1, "max_power_kw": 22},
            },
        },
    )
    command_id = setpoint(client, operator, asset_id, 11.0)
    adapter = OcppAdapter(SystemClock(), {"port": 0, "call_timeout_s": 2})
    async with (
        running(session_factory, "ocpp", adapter) as engine,
        connect(
            f"ws://127.0.0.1:{adapter.port}/ocpp/CP-7", subprotocols=[Subprotocol(SUBPROTOCOL_16)]
        ) as websocket,
    ):
        charger = SimulatedCharger("CP-7", websocket, "Accepted")

        async def serve() -> None:
            with contextlib.suppress(ConnectionClosed):
                await charger.start()

        task = asyncio.create_task(serve())
        try:
            await charger.boot()
            await charger.meter(1, watts("7400"))
            await eventually(engine, readings_of(asset_id))
            report = await engine.run_once()
            assert report.outcomes["acked"] == 1
            assert await engine.db(state_of(command_id)) == "acked"
            [profile] = charger.profiles
            period = profile["charging_schedule"]["charging_schedule_period"][0]
            assert period["limit"] == pytest.approx(11_000)
        finally:
            await websocket.close()
            await task


async def test_mqtt_gateway_round_trip(
    client: TestClient,
    enterprise: Caller,
    operator: Caller,
    session_factory: sessionmaker[Session],
    mqtt_broker: BrokerEnv,
) -> None:
    asset_id = enroll(
        client,
        enterprise,
        {
            "name": "Site battery",
            "kind": "battery",
            "params": {"capacity_kwh": 500, "charge_power_kw": 250, "discharge_power_kw": 250},
            "adapter": {"name": "mqtt", "settings": {"site": SITE_A, "device": "bess-1"}},
        },
    )
    command_id = setpoint(client, operator, asset_id, -120.0)
    handler = RecordingHandler()
    gateway = MqttDevice(mqtt_broker.options("ent-a"), SITE_A, handler=handler)
    adapter = MqttAdapter(SystemClock(), mqtt_broker.adapter_config())
    async with running(session_factory, "mqtt", adapter) as engine:
        await adapter.wait_connected(5)
        await gateway.start()
        await gateway.wait_connected(5)
        try:
            now = datetime.now(UTC)
            await gateway.publish_telemetry("bess-1", [MqttReading(now, -80.0, soc=0.55)])
            await eventually(engine, readings_of(asset_id))
            report = await engine.run_once()
            assert report.outcomes["sent"] == 1
            await eventually(engine, lambda s: state_of(command_id)(s) == "acked")
            assert [(device, c.id, c.power_kw) for device, c in handler.applied] == [
                ("bess-1", command_id, -120.0)
            ]
        finally:
            await gateway.stop()


async def test_http_webhook_round_trip(
    enterprise: Caller, operator: Caller, session_factory: sessionmaker[Session], peer: Peer
) -> None:
    settings = make_settings(adapter_config={"http": LOOPBACK_CONFIG})
    client = TestClient(create_app(settings, session_factory=session_factory))
    binding = {"url": peer.url("/hooks/ok"), "secret_id": "ent-1", "timeout_s": 5}
    asset_id = enroll(
        client,
        enterprise,
        {
            "name": "Boiler controller",
            "kind": "curtailable_load",
            "params": {"nominal_kw": 800, "min_kw": 300},
            "adapter": {"name": "http", "settings": binding},
        },
    )
    # Without the loopback allowance (the production policy) the same URL is refused.
    strict = TestClient(create_app(make_settings(), session_factory=session_factory))
    site = create_site(strict, enterprise)
    refused = strict.post(
        "/v1/assets",
        json={
            "site_id": site["id"],
            "name": "x",
            "kind": "pv",
            "params": {"peak_kw": 10},
            "adapter": {"name": "http", "settings": binding},
        },
        headers=enterprise.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "adapter.settings.url"

    command_id = setpoint(client, operator, asset_id, 500.0)
    adapter = HttpWebhookAdapter(SystemClock(), LOOPBACK_CONFIG)
    async with running(session_factory, "http", adapter) as engine:
        report = await engine.run_once()
        assert report.outcomes["acked"] == 1
        assert await engine.db(state_of(command_id)) == "acked"
    assert [(c.command_id, c.power_kw) for c in peer.device.applied] == [(command_id, 500.0)]
