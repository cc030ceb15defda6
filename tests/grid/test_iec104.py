"""The IEC 104 station: setpoint mapping by hand, and a c104 dispatch master on loopback.

No ``from __future__ import annotations`` here: c104 checks callback annotations against
its own classes and refuses string annotations.
"""

import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import c104
import pytest

from vpp.domain.market import Instruction, InstructionAnswer, InstructionStatus
from vpp.domain.units import Direction
from vpp.grid.iec104 import (
    IOA_DISPATCHING,
    IOA_DOWN_KW,
    IOA_MEASURED_KW,
    IOA_ONLINE,
    IOA_TARGET_ECHO_KW,
    IOA_TARGET_KW,
    IOA_UP_KW,
    Iec104Station,
    StationOptions,
    setpoint_instruction,
)
from vpp.grid.links import PoolReadings
from vpp.ports import ManualClock

pytestmark = pytest.mark.anyio

# 10:07 Beijing on 2026-03-02 = 02:07 UTC: inside interval 40 of that market day.
MID_INTERVAL = datetime(2026, 3, 2, 2, 7, tzinfo=UTC)
WAIT_S = 10.0


# -- mapping, hand-computed ----------------------------------------------------------------


def test_negative_target_lowers_net_load_for_current_and_next_interval() -> None:
    instruction = setpoint_instruction(-200.0, MID_INTERVAL, instruction_id="i-1")
    assert instruction == Instruction(
        instruction_id="i-1",
        product="peak_shaving.peak_cut",
        day=date(2026, 3, 2),
        direction=Direction.DOWN,
        intervals=(40, 41),
        target_kw=(200.0, 200.0),
        issued_at=MID_INTERVAL,
    )


def test_positive_target_raises_net_load() -> None:
    instruction = setpoint_instruction(150.25, MID_INTERVAL, hold_intervals=3)
    assert (instruction.product, instruction.direction) == (
        "peak_shaving.valley_fill",
        Direction.UP,
    )
    assert (instruction.intervals, instruction.target_kw) == ((40, 41, 42), (150.25,) * 3)
    assert instruction.instruction_id.startswith("iec104-")


def test_last_interval_of_the_day_is_not_carried_into_the_next() -> None:
    # 23:50 Beijing = 15:50 UTC: interval 95, the day's last.
    instruction = setpoint_instruction(-10.0, datetime(2026, 3, 2, 15, 50, tzinfo=UTC))
    assert (instruction.day, instruction.intervals) == (date(2026, 3, 2), (95,))


def test_zero_releases_the_direction_last_commanded() -> None:
    up = setpoint_instruction(0.0, MID_INTERVAL, last_direction=Direction.UP)
    assert (up.product, up.target_kw) == ("peak_shaving.valley_fill", (0.0, 0.0))
    assert setpoint_instruction(0.0, MID_INTERVAL).direction is Direction.DOWN


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2e9, -1_000_001.0])
def test_absurd_targets_refused(value: float) -> None:
    with pytest.raises(ValueError, match=r"finite|limit"):
        setpoint_instruction(value, MID_INTERVAL)


# -- against a c104 master on loopback -------------------------------------------------------


@dataclass
class Intake:
    status: InstructionStatus = InstructionStatus.ACCEPTED
    seen: list[Instruction] = field(default_factory=list)

    async def __call__(self, instruction: Instruction) -> InstructionAnswer:
        self.seen.append(instruction)
        if self.status is InstructionStatus.REJECTED:
            return InstructionAnswer(instruction.instruction_id, self.status, (), "no headroom")
        share = 0.5 if self.status is InstructionStatus.PARTIAL else 1.0
        feasible = tuple(v * share for v in instruction.target_kw)
        return InstructionAnswer(instruction.instruction_id, self.status, feasible)


@dataclass
class Provider:
    readings: PoolReadings
    fail: bool = False

    async def __call__(self) -> PoolReadings:
        if self.fail:
            raise RuntimeError("database unavailable")
        return self.readings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


READINGS = PoolReadings(
    at=MID_INTERVAL,
    measured_kw=1234.5,
    up_kw=300.25,
    down_kw=450.75,
    online=True,
    dispatching=False,
    assets_reporting=12,
)
MEASURED = {
    IOA_MEASURED_KW: c104.Type.M_ME_NC_1,
    IOA_UP_KW: c104.Type.M_ME_NC_1,
    IOA_DOWN_KW: c104.Type.M_ME_NC_1,
    IOA_TARGET_ECHO_KW: c104.Type.M_ME_NC_1,
    IOA_ONLINE: c104.Type.M_SP_NA_1,
    IOA_DISPATCHING: c104.Type.M_SP_NA_1,
}


class Master:
    """A c104 client acting as the dispatch master.

    c104's blocking ``read`` / ``transmit`` can miss a reply that arrives within
    microseconds on loopback and then report a timeout, so the master judges by what it
    receives: values through the points' ``on_receive``, confirmations from the raw APDUs.
    """

    def __init__(self, port: int) -> None:
        self.client = c104.Client(tick_rate_ms=50, command_timeout_ms=2000)
        connection = self.client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.NONE)
        assert connection is not None
        self.connection = connection
        self.opened = threading.Event()
        self.arrived = {ioa: threading.Event() for ioa in MEASURED}
        self.confirmed = threading.Event()
        self.confirmations: list[bool] = []
        connection.on_state_change(callable=self._on_state_change)
        connection.on_receive_raw(callable=self._on_receive_raw)
        remote = connection.add_station(common_address=1)
        assert remote is not None
        self.points: dict[int, c104.Point] = {}
        for ioa, kind in MEASURED.items():
            point = remote.add_point(io_address=ioa, type=kind)
            assert point is not None
            point.on_receive(callable=self._on_receive)
            self.points[ioa] = point
        command = remote.add_point(io_address=IOA_TARGET_KW, type=c104.Type.C_SE_NC_1)
        assert command is not None
        self.points[IOA_TARGET_KW] = command

    def _on_state_change(self, connection: c104.Connection, state: c104.ConnectionState) -> None:
        if state == c104.ConnectionState.OPEN:
            self.opened.set()

    def _on_receive(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        self.arrived[point.io_address].set()
        return c104.ResponseState.SUCCESS

    def _on_receive_raw(self, connection: c104.Connection, data: bytes) -> None:
        text = c104.explain_bytes(apdu=data)
        if "C_SE_NC_1" in text and "ACTIVATION_CON" in text:
            self.confirmations.append("NEGATIVE" not in text)
            self.confirmed.set()

    def connect(self) -> None:
        """Start and wait for the link to open (STARTDT confirmed). A confirmation lost as
        described above leaves the link muted: ask again, within the overall wait."""
        self.client.start()
        deadline = time.monotonic() + WAIT_S
        while not self.opened.wait(0.5):
            assert time.monotonic() < deadline, "master did not connect"
            if self.connection.state == c104.ConnectionState.OPEN_MUTED:
                self.connection.unmute()

    def interrogate(self) -> None:
        """General interrogation; returns once every monitored IOA has been received."""
        for arrived in self.arrived.values():
            arrived.clear()
        assert self.connection.interrogation(common_address=1, wait_for_response=False)
        for ioa, arrived in self.arrived.items():
            assert arrived.wait(WAIT_S), f"no value for IOA {ioa}"

    def value(self, ioa: int) -> object:
        return self.points[ioa].value

    def send(self, value: float) -> bool:
        """Send a setpoint (direct execute); True on a positive confirmation."""
        self.confirmed.clear()
        command = self.points[IOA_TARGET_KW]
        command.value = value
        command.transmit(cause=c104.Cot.ACTIVATION)  # its verdict: see the class docstring
        assert self.confirmed.wait(WAIT_S), "no confirmation"
        return self.confirmations[-1]


@dataclass
class Link:
    station: Iec104Station
    intake: Intake
    provider: Provider
    clock: ManualClock
    master: Master

    async def read(self, ioa: int) -> object:
        """The station's current value of ``ioa`` as the master sees it after a GI."""
        await asyncio.to_thread(self.master.interrogate)
        return self.master.value(ioa)

    async def send(self, value: float) -> bool:
        return await asyncio.to_thread(self.master.send, value)


@pytest.fixture
def master_port() -> int:
    return free_port()


@pytest.fixture
async def link(master_port: int) -> AsyncIterator[Link]:
    intake, provider = Intake(), Provider(READINGS)
    clock = ManualClock(MID_INTERVAL)
    station = Iec104Station(
        intake,
        provider,
        StationOptions(port=master_port, update_s=1.0, answer_timeout_s=5.0),
        clock=clock,
    )
    await station.start()
    master = Master(master_port)
    try:
        await asyncio.to_thread(master.connect)
        yield Link(station, intake, provider, clock, master)
    finally:
        await asyncio.to_thread(master.client.stop)
        await station.stop()


async def test_master_reads_measured_values_and_states(link: Link) -> None:
    assert await link.read(IOA_MEASURED_KW) == 1234.5
    assert await link.read(IOA_UP_KW) == 300.25
    assert await link.read(IOA_DOWN_KW) == 450.75
    assert await link.read(IOA_ONLINE) is True
    assert await link.read(IOA_DISPATCHING) is False


async def test_values_follow_the_provider_each_update(link: Link) -> None:
    link.provider.readings = PoolReadings(
        at=MID_INTERVAL,
        measured_kw=-80.0,
        up_kw=0.0,
        down_kw=12.5,
        online=False,
        dispatching=True,
    )
    refreshed = asyncio.Event()
    original = link.station.refresh

    async def spy() -> PoolReadings | None:
        result = await original()
        refreshed.set()
        return result

    link.station.refresh = spy  # type: ignore[method-assign]
    link.clock.advance(1.0)  # the refresh loop's period
    await asyncio.wait_for(refreshed.wait(), WAIT_S)
    assert await link.read(IOA_MEASURED_KW) == -80.0
    assert await link.read(IOA_DOWN_KW) == 12.5
    assert await link.read(IOA_ONLINE) is False
    assert await link.read(IOA_DISPATCHING) is True


async def test_failing_provider_marks_values_invalid(link: Link) -> None:
    link.provider.fail = True
    assert await link.station.refresh() is None
    await link.read(IOA_MEASURED_KW)
    quality = link.master.points[IOA_MEASURED_KW].quality
    assert quality is not None
    assert not quality.is_good()


async def test_accepted_setpoint_reaches_intake_and_is_confirmed(link: Link) -> None:
    assert await link.send(-200.0)
    [instruction] = link.intake.seen
    assert (instruction.product, instruction.intervals, instruction.target_kw) == (
        "peak_shaving.peak_cut",
        (40, 41),
        (200.0, 200.0),
    )
    assert await link.read(IOA_TARGET_ECHO_KW) == -200.0


async def test_partial_setpoint_confirmed_with_feasible_echo(link: Link) -> None:
    link.intake.status = InstructionStatus.PARTIAL
    assert await link.send(90.0)
    assert await link.read(IOA_TARGET_ECHO_KW) == 45.0


async def test_rejected_setpoint_confirmed_negatively_and_logged(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    link.intake.status = InstructionStatus.REJECTED
    with caplog.at_level(logging.WARNING, logger="vpp.grid.iec104"):
        assert not await link.send(-500.0)
    assert len(link.intake.seen) == 1
    assert "no headroom" in caplog.text
    assert await link.read(IOA_TARGET_ECHO_KW) == 0.0


@pytest.mark.parametrize("value", [math.nan, 5e9])
async def test_absurd_setpoint_refused_before_intake(
    link: Link, value: float, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vpp.grid.iec104"):
        assert not await link.send(value)
    assert link.intake.seen == []
    assert "setpoint refused" in caplog.text


async def test_intake_timeout_gives_negative_confirmation(master_port: int) -> None:
    release = asyncio.Event()

    async def slow(instruction: Instruction) -> InstructionAnswer:
        await release.wait()
        return InstructionAnswer(instruction.instruction_id, InstructionStatus.ACCEPTED, (1.0,))

    station = Iec104Station(
        slow,
        Provider(READINGS),
        StationOptions(port=master_port, answer_timeout_s=0.2),
        clock=ManualClock(MID_INTERVAL),
    )
    await station.start()
    try:
        answer = await asyncio.to_thread(
            station._on_setpoint,  # the callback c104 runs, called as its thread would
            _FakePoint(-1.0),  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
        )
        assert answer == c104.ResponseState.FAILURE
    finally:
        release.set()
        await station.stop()


@dataclass
class _FakePoint:
    value: float
