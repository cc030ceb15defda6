"""The Modbus adapter against a real pymodbus TCP server simulating a SunSpec-style inverter."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, cast

import anyio
import pytest
from pydantic import ValidationError
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from adapters.modbus import ModbusAdapter, ModbusBindingSettings
from adapters.modbus.client import tcp_client
from tests.adapters.sinks import RecordingSink
from vpp.domain.commands import (
    DeliveryStatus,
    SetpointCommand,
)
from vpp.ports import SystemClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SimulatedInverter:
    """A 100 kW / 100 kWh storage inverter behind the shipped SunSpec-style register layout.

    State is the truth and registers are rendered from it on every request, with their own
    struct-based encoding (not the adapter's), so an encoding bug cannot cancel itself out.
    Sign follows SunSpec: ``power_w`` > 0 exports (discharges). Writes to WSet / WSetEna /
    WSetRvrtTms move the device at once; ``step`` integrates SoC and runs the revert timer.
    """

    RATING_W = 100_000
    CAPACITY_WH = 100_000

    def __init__(self, port: int) -> None:
        self.port = port
        self.power_w = 0
        self.soc_pct = 65.5
        self.wset_w = 0
        self.revert_s = 0
        self.enabled = 0
        self.revert_remaining_s = 0.0
        self.fail_with: ExcCodes | None = None
        self.overrides: dict[int, int] = {}
        self.writes: list[tuple[int, list[int]]] = []
        self._server: ModbusTcpServer | None = None

    # -- the register image ----------------------------------------------------------

    def render(self) -> dict[int, int]:
        words: dict[int, int] = {
            40100: struct.unpack(">H", struct.pack(">h", round(self.power_w / 10)))[0],
            40101: round(self.soc_pct * 10),
            40102: 3 if self.power_w > 0 else 4 if self.power_w < 0 else 6,
            40114: self.enabled,
        }
        wset = struct.unpack(">HH", struct.pack(">i", self.wset_w))
        revert = struct.unpack(">HH", struct.pack(">I", self.revert_s))
        words.update({40110: wset[0], 40111: wset[1], 40112: revert[0], 40113: revert[1]})
        words.update(self.overrides)
        return words

    def apply(self, image: dict[int, int]) -> None:
        was_enabled = self.enabled
        wset = struct.unpack(">i", struct.pack(">HH", image[40110], image[40111]))[0]
        self.wset_w = max(-self.RATING_W, min(self.RATING_W, wset))
        self.revert_s = struct.unpack(">I", struct.pack(">HH", image[40112], image[40113]))[0]
        self.enabled = image[40114]
        if self.enabled and not was_enabled:
            self.revert_remaining_s = self.revert_s
        self.power_w = self.wset_w if self.enabled else 0

    def step(self, seconds: float) -> None:
        self.soc_pct -= self.power_w * seconds / 3600 / self.CAPACITY_WH * 100
        self.soc_pct = max(0.0, min(100.0, self.soc_pct))
        if self.enabled and self.revert_s:
            self.revert_remaining_s -= seconds
            if self.revert_remaining_s <= 0:  # WSetRvrtTms ran out: back to the default
                self.enabled, self.power_w = 0, 0

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.fail_with is not None:
            return self.fail_with
        image = self.render()
        if values is not None:
            words = cast(list[int], values)  # register writes (this device has no coils)
            self.writes.append((address, list(words)))
            for i, value in enumerate(words):
                image[address + i] = value
            self.apply(image)
            image = self.render()
            for i in range(count):  # the device may clamp what was written
                words[i] = image[address + i]
        for reg_address, word in image.items():
            registers[reg_address - start_address] = word
        return None

    # -- the server ------------------------------------------------------------------

    async def start(self) -> None:
        device = SimDevice(
            id=1,
            simdata=[
                SimData(40100, count=3, datatype=SimType.REGISTERS, readonly=True),
                SimData(40110, count=5, datatype=SimType.REGISTERS),
            ],
            action=self.action,
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus
            self._server = None


@pytest.fixture
async def inverter() -> AsyncIterator[SimulatedInverter]:
    device = SimulatedInverter(free_port())
    await device.start()
    yield device
    await device.stop()


@pytest.fixture
async def adapter() -> AsyncIterator[ModbusAdapter]:
    modbus = ModbusAdapter(SystemClock())
    yield modbus
    await modbus.stop()


def binding(port: int, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "unit_id": 1,
        "poll_interval_s": 0.05,
        "timeout_s": 0.5,
    }
    settings.update(overrides)
    return ModbusAdapter.validate_settings(settings)


def command(
    asset_id: uuid.UUID, power_kw: float, expires_in_s: float = 900, **settings: Any
) -> SetpointCommand:
    now = SystemClock().now()
    return SetpointCommand(
        id=uuid.uuid4(),
        asset_id=asset_id,
        interval_start=now,
        power_kw=power_kw,
        expires_at=now + timedelta(seconds=expires_in_s),
        settings=settings,
    )


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_polled_telemetry_has_net_load_sign_scale_and_status(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    inverter.power_w = 25_000  # discharging: 25 kW injected
    adapter.bind(asset, binding(inverter.port))
    sink = RecordingSink()
    await adapter.start(sink)

    reading = await sink.next_reading(asset)
    assert reading.power_kw == pytest.approx(-25.0)
    assert reading.soc == pytest.approx(0.655)
    assert reading.status == "discharging"
    assert reading.quality == "good"
    assert reading.ts.utcoffset() == timedelta(0)

    inverter.power_w = -40_000  # charging
    reading = await sink.next_reading(asset, lambda r: r.power_kw > 0)
    assert reading.power_kw == pytest.approx(40.0)
    assert reading.status == "charging"
    assert adapter.health().connected_devices == 1


@pytest.mark.anyio
async def test_setpoint_is_written_with_its_revert_timer_read_back_and_acked(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    sink = RecordingSink()
    await adapter.start(sink)

    cmd = command(asset, 50.0)  # charge 50 kW for 15 minutes
    [outcome] = await adapter.deliver([cmd])

    assert outcome.command_id == cmd.id
    assert outcome.status is DeliveryStatus.ACKED, outcome.detail
    # Revert timer first, then the setpoint (-50 000 W in SunSpec's sign), then enable.
    assert [address for address, _ in inverter.writes] == [40112, 40110, 40114]
    assert inverter.revert_s == 900
    assert inverter.wset_w == -50_000
    assert inverter.enabled == 1
    assert inverter.power_w == -50_000  # the device moved
    reading = await sink.next_reading(asset, lambda r: r.power_kw > 0)
    assert reading.power_kw == pytest.approx(50.0)

    inverter.step(72)  # 50 kW for 72 s = 1 kWh = 1 % of 100 kWh
    reading = await sink.next_reading(asset, lambda r: r.soc != pytest.approx(0.655))
    assert reading.soc == pytest.approx(0.665)

    inverter.step(900)  # nobody renewed the command: the device reverts by itself
    reading = await sink.next_reading(asset, lambda r: r.power_kw == 0)
    assert reading.status == "holding"
    assert inverter.enabled == 0


@pytest.mark.anyio
async def test_a_setpoint_the_device_clamps_is_rejected_on_read_back(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    [outcome] = await adapter.deliver([command(asset, -150.0)])  # rated 100 kW
    assert outcome.status is DeliveryStatus.REJECTED
    assert "holds -100.0 kW" in outcome.detail


@pytest.mark.anyio
async def test_exception_response_rejects_is_counted_and_polling_goes_on(
    inverter: SimulatedInverter, adapter: ModbusAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = uuid.uuid4(), uuid.uuid4()
    mis_mapped = {
        "power_kw": {"address": 40100, "type": "int16", "scale": 0.01, "sign": -1},
        "soc": {"address": 40105, "scale": 0.001},  # in the gap: not implemented
        "setpoint_kw": {"address": 40120, "type": "int32", "scale": 0.001, "access": "rw"},
    }
    adapter.bind(good, binding(inverter.port))
    adapter.bind(bad, binding(inverter.port, register_map=mis_mapped))
    sink = RecordingSink()
    await adapter.start(sink)

    with caplog.at_level(logging.WARNING, logger="adapters.modbus"):
        [outcome] = await adapter.deliver([command(bad, 10.0)])
    assert outcome.status is DeliveryStatus.REJECTED
    assert "ILLEGAL_DATA_ADDRESS (0x02)" in outcome.detail
    assert "ILLEGAL_DATA_ADDRESS" in caplog.text

    failures = adapter.counters.poll_failures
    await until(lambda: adapter.counters.poll_failures >= failures + 3)  # bad asset: every poll
    assert adapter.counters.exception_codes["ILLEGAL_DATA_ADDRESS"] >= 4
    await sink.next_reading(good)  # ...while the good one keeps reporting
    await sink.next_reading(good)
    assert not any(r.asset_id == bad for r in sink.readings)
    assert adapter.health().healthy


@pytest.mark.anyio
async def test_busy_device_is_retried_not_rejected(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    inverter.fail_with = ExcCodes.DEVICE_BUSY
    [outcome] = await adapter.deliver([command(asset, 10.0)])
    assert outcome.status is DeliveryStatus.RETRY
    assert "SERVER_DEVICE_BUSY (0x06)" in outcome.detail

    inverter.fail_with = None
    [outcome] = await adapter.deliver([command(asset, 10.0)])
    assert outcome.status is DeliveryStatus.ACKED


@pytest.mark.anyio
async def test_server_down_means_retry_and_the_adapter_recovers(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    sink = RecordingSink()
    await adapter.start(sink)
    await sink.next_reading(asset)

    await inverter.stop()
    [outcome] = await adapter.deliver([command(asset, 20.0)])
    assert outcome.status is DeliveryStatus.RETRY
    await until(lambda: adapter.counters.connection_errors >= 3)  # polling goes on, failing

    await inverter.start()
    [outcome] = await adapter.deliver([command(asset, 20.0)])
    assert outcome.status is DeliveryStatus.ACKED, outcome.detail
    reading = await sink.next_reading(asset, lambda r: r.power_kw > 0)
    assert reading.power_kw == pytest.approx(20.0)


class AnswersDespiteCancel:
    """pymodbus's client, except that its first read returns the device's answer although
    it was cancelled: what ``asyncio.wait_for`` (which pymodbus awaits answers with) does
    on Python 3.11 when the answer and the cancellation arrive together. That read is held
    until it is cancelled, so the race happens every time."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.inner = tcp_client(host, port, timeout_s)
        self.holding = asyncio.Event()
        self.reads = 0
        self.swallowed = 0

    @property
    def connected(self) -> bool:
        return bool(self.inner.connected)

    async def connect(self) -> bool:
        return await self.inner.connect()

    def close(self) -> None:
        self.inner.close()

    async def read_holding_registers(self, address: int, **kwargs: Any) -> Any:
        self.reads += 1
        answer = await self.inner.read_holding_registers(address, **kwargs)
        if self.reads > 1:
            return answer
        self.holding.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.swallowed += 1
        return answer

    read_input_registers = read_holding_registers

    def write_registers(self, address: int, values: Any, **kwargs: Any) -> Any:
        return self.inner.write_registers(address, values, **kwargs)


async def polling_held(
    asset: uuid.UUID, port: int, settings: dict[str, Any]
) -> tuple[ModbusAdapter, AnswersDespiteCancel]:
    """An adapter polling ``asset`` at ``port``, its first read held (see above)."""
    clients: list[AnswersDespiteCancel] = []

    def factory(host: str, port: int, timeout_s: float) -> AnswersDespiteCancel:
        clients.append(AnswersDespiteCancel(host, port, timeout_s))
        return clients[-1]

    adapter = ModbusAdapter(SystemClock(), client_factory=factory)
    adapter.bind(asset, binding(port, **settings))
    await adapter.start(RecordingSink())
    await until(lambda: bool(clients) and clients[0].holding.is_set())
    [client] = clients
    return adapter, client


@pytest.mark.anyio
async def test_stop_ends_polling_even_when_a_cancellation_is_lost(
    inverter: SimulatedInverter,
) -> None:
    adapter, client = await polling_held(uuid.uuid4(), inverter.port, {"timeout_s": 5.0})
    with anyio.fail_after(5):
        await adapter.stop()
    assert client.swallowed == 1
    await asyncio.sleep(0.3)  # six poll intervals: a poller left running would read again
    assert client.reads == 1


@pytest.mark.anyio
async def test_a_rebound_asset_is_polled_once_even_when_a_cancellation_is_lost(
    inverter: SimulatedInverter,
) -> None:
    asset = uuid.uuid4()
    settings = {"poll_interval_s": 0.2, "timeout_s": 5.0}
    adapter, client = await polling_held(asset, inverter.port, settings)
    try:
        adapter.bind(asset, binding(inverter.port, **settings))  # replaces the held poller
        await until(lambda: client.swallowed == 1)
        started = client.reads
        await asyncio.sleep(1.0)  # five intervals: one poller reads about 5 times, two 10
        assert client.reads - started <= 7
    finally:
        with anyio.fail_after(5):
            await adapter.stop()


@pytest.mark.anyio
async def test_a_device_that_never_answers_times_out_as_retry(adapter: ModbusAdapter) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept requests, answer nothing
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    asset = uuid.uuid4()
    adapter.bind(asset, binding(port, timeout_s=0.2))
    try:
        started = time.monotonic()
        [outcome] = await adapter.deliver([command(asset, 10.0)])
        assert time.monotonic() - started < 2
    finally:
        server.close()
    assert outcome.status is DeliveryStatus.RETRY
    assert adapter.counters.timeouts == 1


@pytest.mark.anyio
async def test_unimplemented_power_is_a_counted_decode_error(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    inverter.overrides[40100] = 0x8000  # SunSpec "not implemented"
    assert await adapter.poll(asset) is None
    assert adapter.counters.decode_errors == 1

    inverter.overrides = {40101: 1200}  # 120 % SoC: reading kept, SoC dropped as suspect
    reading = await adapter.poll(asset)
    assert reading is not None
    assert reading.soc is None
    assert reading.quality == "suspect"
    assert adapter.counters.decode_errors == 2


@pytest.mark.anyio
async def test_bad_bindings_and_stale_commands_fail_without_touching_the_device(
    inverter: SimulatedInverter, adapter: ModbusAdapter
) -> None:
    with pytest.raises(ValidationError, match="unknown register map"):
        adapter.bind(uuid.uuid4(), binding(inverter.port, register_map="no-such-map"))
    with pytest.raises(ValidationError):
        ModbusBindingSettings.model_validate({"host": "127.0.0.1", "colour": "blue"})

    unbound = command(uuid.uuid4(), 10.0)
    asset = uuid.uuid4()
    adapter.bind(asset, binding(inverter.port))
    expired = command(asset, 10.0, expires_in_s=-1)
    invalid = command(asset, 10.0, host="")
    too_big = command(
        asset,
        40.0,
        **binding(
            inverter.port,
            register_map={
                "power_kw": {"address": 40100, "type": "int16"},
                "setpoint_kw": {"address": 40110, "type": "int16", "scale": 0.001, "access": "w"},
            },
        ),
    )
    outcomes = {
        o.command_id: o for o in await adapter.deliver([unbound, expired, invalid, too_big])
    }
    assert outcomes[unbound.id].status is DeliveryStatus.FAILED
    assert outcomes[expired.id].status is DeliveryStatus.FAILED
    assert outcomes[invalid.id].status is DeliveryStatus.FAILED
    assert outcomes[too_big.id].status is DeliveryStatus.REJECTED
    assert "does not fit in int16" in outcomes[too_big.id].detail
    assert inverter.writes == []
