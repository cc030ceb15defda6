"""The OCPP 1.6J central system against charge points built with the ocpp library, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from adapters.ocpp import OcppAdapter
from adapters.ocpp.lib import (
    SUBPROTOCOL_16,
    ChargePoint16,
    OCPPError,
    call16,
    call_result16,
    enums16,
    on,
)
from tests.adapters.sinks import RecordingSink
from vpp.domain.commands import DeliveryStatus, SetpointCommand
from vpp.ports import SystemClock

CALL_TIMEOUT_S = 0.5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SimulatedCharger(ChargePoint16):
    """A charge point that answers SetChargingProfile with ``answer`` ("silent": never)."""

    def __init__(self, charge_point_id: str, connection: ClientConnection, answer: str) -> None:
        super().__init__(charge_point_id, connection, response_timeout=5)
        self.websocket = connection
        self.answer = answer
        self.profiles: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    @on(enums16.Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        self.profiles.append({"connector_id": connector_id, **cs_charging_profiles})
        if self.answer == "silent":
            await self.release.wait()
        return call_result16.SetChargingProfile(status=self.answer)

    async def boot(self) -> Any:
        return await self.call(
            call16.BootNotification(charge_point_model="Terra AC", charge_point_vendor="ABB")
        )

    async def meter(self, connector_id: int, *sampled: dict[str, str]) -> None:
        await self.call(
            call16.MeterValues(
                connector_id=connector_id,
                meter_value=[
                    {"timestamp": "2024-03-05T01:30:00.000Z", "sampledValue": list(sampled)}
                ],
            )
        )

    async def status(self, connector_id: int, status: str) -> None:
        await self.call(
            call16.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status
            )
        )


def watts(value: str, phase: str | None = None) -> dict[str, str]:
    sampled = {"value": value, "measurand": "Power.Active.Import", "unit": "W"}
    if phase:
        sampled["phase"] = phase
    return sampled


@pytest.fixture
async def central() -> AsyncIterator[tuple[OcppAdapter, RecordingSink]]:
    adapter = OcppAdapter(
        SystemClock(),
        {"port": 0, "call_timeout_s": CALL_TIMEOUT_S, "heartbeat_interval_s": 60},
    )
    sink = RecordingSink()
    await adapter.start(sink)
    yield adapter, sink
    await adapter.stop()


@contextlib.asynccontextmanager
async def charge_point(
    adapter: OcppAdapter, charge_point_id: str, answer: str = "Accepted"
) -> AsyncIterator[SimulatedCharger]:
    """A connected, booted charge point, its message loop running."""
    async with connect(
        f"ws://127.0.0.1:{adapter.port}/ocpp/{charge_point_id}",
        subprotocols=[Subprotocol(SUBPROTOCOL_16)],
    ) as websocket:
        charger = SimulatedCharger(charge_point_id, websocket, answer)

        async def serve() -> None:
            with contextlib.suppress(ConnectionClosed):
                await charger.start()

        task = asyncio.create_task(serve())
        try:
            booted = await charger.boot()
            assert booted.status == "Accepted"
            yield charger
        finally:
            charger.release.set()
            await websocket.close()
            await task


def setpoint(asset_id: uuid.UUID, power_kw: float) -> SetpointCommand:
    start = datetime.now(UTC).replace(microsecond=0)
    return SetpointCommand(
        id=uuid.uuid4(),
        asset_id=asset_id,
        interval_start=start,
        power_kw=power_kw,
        expires_at=start + timedelta(minutes=15),
    )


def bind(adapter: OcppAdapter, charge_point_id: str, connector_id: int = 1) -> uuid.UUID:
    asset_id = uuid.uuid4()
    adapter.bind(
        asset_id,
        OcppAdapter.validate_settings(
            {"charge_point_id": charge_point_id, "connector_id": connector_id, "max_power_kw": 22}
        ),
    )
    return asset_id


@pytest.mark.anyio
async def test_boot_status_and_meter_values_become_telemetry(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, sink = central
    connector, whole = bind(adapter, "CP1", 1), bind(adapter, "CP1", 0)
    mark = sink.mark()
    async with charge_point(adapter, "CP1") as charger:
        booted = await sink.reading(connector, mark)
        assert (booted.status, booted.power_kw, booted.quality) == ("online", 0.0, "estimated")
        assert adapter.health().connected_devices == 1

        mark = sink.mark()
        await charger.status(1, "Charging")
        assert (await sink.reading(connector, mark)).status == "charging"
        assert (await sink.reading(whole, mark)).status == "charging"

        mark = sink.mark()
        await charger.meter(
            1,
            {"value": "15234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            watts("3680", "L1"),
            watts("3675", "L2"),
            watts("3690", "L3"),
        )
        reading = await sink.reading(connector, mark)
        assert reading.power_kw == pytest.approx(11.045)  # + : the charger draws
        assert reading.energy_kwh == pytest.approx(15.234)
        assert reading.ts == datetime(2024, 3, 5, 1, 30, tzinfo=UTC)
        assert (reading.status, reading.quality) == ("charging", "good")
        assert (await sink.reading(whole, mark)).power_kw == pytest.approx(11.045)

        mark = sink.mark()
        beat = await charger.call(call16.Heartbeat())
        assert beat.current_time.endswith("Z")
        alive = await sink.reading(connector, mark)
        assert alive.power_kw == pytest.approx(11.045)
        assert (alive.status, alive.quality) == ("charging", "estimated")

        mark = sink.mark()
        await charger.status(1, "Finishing")
        done = await sink.reading(connector, mark)
        assert (done.power_kw, done.status) == (0.0, "finishing")


@pytest.mark.anyio
async def test_setpoint_becomes_a_charging_profile_and_accepted_is_acked(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, _ = central
    asset = bind(adapter, "CP1")
    async with charge_point(adapter, "CP1") as charger:
        command = setpoint(asset, 7.4)
        [outcome] = await adapter.deliver([command])
        assert outcome.command_id == command.id
        assert outcome.status is DeliveryStatus.ACKED, outcome.detail

        [profile] = charger.profiles
        assert profile["connector_id"] == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["valid_to"] == command.expires_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        schedule = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "W"
        assert schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 7400}]

        [capped] = await adapter.deliver([setpoint(asset, 30.0)])  # max_power_kw is 22
        assert capped.status is DeliveryStatus.ACKED
        assert "capped" in capped.detail
        assert charger.profiles[-1]["charging_schedule"]["charging_schedule_period"][0][
            "limit"
        ] == pytest.approx(22000)


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ["Rejected", "NotSupported"])
async def test_a_refusing_charge_point_means_rejected(
    central: tuple[OcppAdapter, RecordingSink], answer: str
) -> None:
    adapter, _ = central
    asset = bind(adapter, "CP2")
    async with charge_point(adapter, "CP2", answer=answer) as charger:
        [outcome] = await adapter.deliver([setpoint(asset, 11.0)])
    assert outcome.status is DeliveryStatus.REJECTED
    assert answer in outcome.detail
    assert len(charger.profiles) == 1


@pytest.mark.anyio
async def test_a_silent_charge_point_means_retry_after_the_call_timeout(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, _ = central
    asset = bind(adapter, "CP3")
    async with charge_point(adapter, "CP3", answer="silent") as charger:
        started = time.monotonic()
        [outcome] = await adapter.deliver([setpoint(asset, 11.0)])
        elapsed = time.monotonic() - started
        assert len(charger.profiles) == 1
    assert outcome.status is DeliveryStatus.RETRY
    assert CALL_TIMEOUT_S <= elapsed < CALL_TIMEOUT_S + 1
    assert adapter.counters.call_timeouts == 1


@pytest.mark.anyio
async def test_no_connection_means_retry_and_bad_commands_fail_or_are_rejected(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, _ = central
    asset = bind(adapter, "CP4")
    [offline] = await adapter.deliver([setpoint(asset, 11.0)])
    assert offline.status is DeliveryStatus.RETRY
    assert "not connected" in offline.detail

    async with charge_point(adapter, "CP4"):
        assert adapter.is_connected("CP4")
        discharge, unbound = setpoint(asset, -5.0), setpoint(uuid.uuid4(), 5.0)
        outcomes = {o.command_id: o for o in await adapter.deliver([discharge, unbound])}
        assert outcomes[discharge.id].status is DeliveryStatus.REJECTED
        assert outcomes[unbound.id].status is DeliveryStatus.FAILED

    with anyio.fail_after(5):
        while adapter.is_connected("CP4"):
            await asyncio.sleep(0.01)
    [gone] = await adapter.deliver([setpoint(asset, 11.0)])
    assert gone.status is DeliveryStatus.RETRY


@pytest.mark.anyio
async def test_malformed_messages_are_answered_counted_and_the_connection_keeps_working(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, sink = central
    asset = bind(adapter, "CP5")
    async with charge_point(adapter, "CP5") as charger:
        await charger.websocket.send("this is not OCPP-J")  # nothing to answer: dropped
        with anyio.fail_after(5):
            while adapter.counters.invalid_messages < 1:
                await asyncio.sleep(0.01)

        with pytest.raises(OCPPError) as refused:  # fails the schema: answered with a CallError
            await charger.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Asleep"),
                skip_schema_validation=True,
                suppress=False,
            )
        assert getattr(refused.value, "code", None) == "FormatViolation"
        assert adapter.counters.invalid_messages == 2
        assert adapter.counters.error_codes["FormatViolation"] == 2

        await charger.meter(1, watts("lots"))  # valid schema, nonsense value: accepted, dropped
        assert adapter.counters.payload_errors == 1

        mark = sink.mark()
        await charger.meter(1, watts("7200"))
        assert (await sink.reading(asset, mark)).power_kw == pytest.approx(7.2)
    assert not any(r.power_kw != r.power_kw for r in sink.readings)  # no NaN stored


@pytest.mark.anyio
async def test_a_reconnecting_charge_point_replaces_its_old_connection(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, _ = central
    asset = bind(adapter, "CP7")
    async with charge_point(adapter, "CP7") as stale:
        async with charge_point(adapter, "CP7") as fresh:
            with anyio.fail_after(5):  # the central system closes the stale socket
                await stale.websocket.wait_closed()
            [outcome] = await adapter.deliver([setpoint(asset, 3.7)])
            assert outcome.status is DeliveryStatus.ACKED
            assert (len(stale.profiles), len(fresh.profiles)) == (0, 1)
        assert adapter.counters.connections == 2


@pytest.mark.anyio
async def test_a_client_without_the_ocpp_subprotocol_is_refused(
    central: tuple[OcppAdapter, RecordingSink],
) -> None:
    adapter, _ = central
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{adapter.port}/ocpp/CP6"):
            pass
    assert refused.value.response.status_code == 400
    assert not adapter.is_connected("CP6")
