"""IEC 60870-5-104 controlled station (c104): the pool's values out, a target setpoint in.

The VPP is one station (common address ``common_address``, default 1) of a 104 server that
the dispatch centre's master connects to. Information objects:

=====  =========  ==========================================================================
IOA    type id    meaning
=====  =========  ==========================================================================
1001   M_ME_NC_1  pool measured net load, kW (short float; + drawn from the grid)
1002   M_ME_NC_1  available up capacity, kW (>= 0: can still raise net load, 填谷)
1003   M_ME_NC_1  available down capacity, kW (>= 0: can still lower net load, 削峰)
1004   M_ME_NC_1  last target taken on, kW (signed as 3001; the feasible part when partial)
2001   M_SP_NA_1  pool online (fresh telemetry from at least one asset)
2002   M_SP_NA_1  pool dispatching (the current interval's plan departs from the baseline)
3001   C_SE_NC_1  pool target, kW, signed change of net load: > 0 raise (valley filling,
                  ``peak_shaving.valley_fill``, UP), < 0 lower (peak cutting,
                  ``peak_shaving.peak_cut``, DOWN), 0 release the direction last commanded
=====  =========  ==========================================================================

Measured values (1001-1004, 2001-2002) are refreshed from the readings provider every
``update_s`` seconds, sent cyclically (cause PERIODIC) at that period and answer general
interrogation and read commands. Their quality is INVALID while the provider fails.

A setpoint on 3001 (direct execute) becomes an `Instruction` for the interval in progress
and the next one of the same market day (Asia/Shanghai, 96 x 15 min), target abs(value) in
each. The station confirms it positively (ACT_CON) when the intake accepts it fully or
partly and negatively when the intake rejects it, the value is not finite or exceeds
``max_kw``, or no answer comes within ``answer_timeout_s``; refusals are logged with
their reason and change nothing.

This module deliberately does not use ``from __future__ import annotations``: c104 checks
a callback's annotations against its own classes and refuses string annotations.
"""

import asyncio
import logging
import math
import uuid
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime

import c104

from vpp.domain.market import Instruction, InstructionAnswer
from vpp.domain.time import interval_of
from vpp.domain.units import Direction
from vpp.grid.links import Intake, PoolReadings, ReadingsProvider, takes_effect
from vpp.kit.eventloop import cancel_and_wait
from vpp.ports import Clock, SystemClock

log = logging.getLogger(__name__)

SOURCE = "iec104"
"""The ``source`` the production intake records for instructions from this link."""

IOA_MEASURED_KW = 1001
IOA_UP_KW = 1002
IOA_DOWN_KW = 1003
IOA_TARGET_ECHO_KW = 1004
IOA_ONLINE = 2001
IOA_DISPATCHING = 2002
IOA_TARGET_KW = 3001

PRODUCT_BY_DIRECTION: Mapping[Direction, str] = {
    Direction.DOWN: "peak_shaving.peak_cut",
    Direction.UP: "peak_shaving.valley_fill",
}
DEFAULT_MAX_KW = 1_000_000.0
"""Largest target accepted (kW, 1 GW): anything above is a unit or typing error."""


@dataclass(frozen=True)
class StationOptions:
    """Where the station listens and how it answers (seconds, kW)."""

    host: str = "127.0.0.1"
    port: int = 2404
    common_address: int = 1
    update_s: float = 5.0
    """Refresh and cyclic transmission period of the measured values (s, >= 0.1)."""
    answer_timeout_s: float = 8.0
    """Longest wait for the intake before a negative confirmation (below the master's
    usual 10 s command timeout)."""
    max_kw: float = DEFAULT_MAX_KW
    hold_intervals: int = 2
    """Market intervals a setpoint covers: the one in progress and the next."""
    tick_rate_ms: int = 100


def setpoint_instruction(
    value_kw: float,
    now: datetime,
    *,
    hold_intervals: int = 2,
    last_direction: Direction | None = None,
    max_kw: float = DEFAULT_MAX_KW,
    products: Mapping[Direction, str] = PRODUCT_BY_DIRECTION,
    instruction_id: str | None = None,
) -> Instruction:
    """The instruction a target setpoint (kW, signed change of net load) received at ``now``
    stands for: the interval in progress and the following ones up to ``hold_intervals``,
    cut at the end of the market day. 0 releases ``last_direction`` (DOWN if none).

    Raises ValueError with the reason for a non-finite or out-of-range value.
    """
    if not math.isfinite(value_kw):
        raise ValueError(f"target must be finite, got {value_kw!r}")
    if abs(value_kw) > max_kw:
        raise ValueError(f"target {value_kw:g} kW is beyond the {max_kw:g} kW limit")
    if value_kw > 0:
        direction = Direction.UP
    elif value_kw < 0:
        direction = Direction.DOWN
    else:
        direction = last_direction or Direction.DOWN
    current = interval_of(now)
    intervals = tuple(range(current.index, min(96, current.index + hold_intervals)))
    return Instruction(
        instruction_id=instruction_id or f"iec104-{uuid.uuid4()}",
        product=products[direction],
        day=current.day,
        direction=direction,
        intervals=intervals,
        target_kw=tuple(round(abs(value_kw), 3) for _ in intervals),
        issued_at=now.astimezone(UTC),
    )


class Iec104Station:
    """The VPP as a 104 controlled station; runs c104's server thread next to an event loop.

    ``intake`` and ``readings`` are coroutines run on the loop that called `start`; c104's
    command callback (on its own thread) waits for the intake's answer there.
    """

    def __init__(
        self,
        intake: Intake,
        readings: ReadingsProvider,
        options: StationOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.options = options or StationOptions()
        self._intake = intake
        self._readings = readings
        self._clock = clock or SystemClock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_direction: Direction | None = None
        self.server = c104.Server(
            ip=self.options.host,
            port=self.options.port,
            tick_rate_ms=self.options.tick_rate_ms,
        )
        station = self.server.add_station(common_address=self.options.common_address)
        if station is None:
            raise ValueError(f"invalid common address {self.options.common_address}")
        self.station = station
        report_ms = self._report_ms()
        self.points = {
            ioa: self._add(ioa, c104.Type.M_ME_NC_1, report_ms)
            for ioa in (IOA_MEASURED_KW, IOA_UP_KW, IOA_DOWN_KW, IOA_TARGET_ECHO_KW)
        }
        for ioa in (IOA_ONLINE, IOA_DISPATCHING):
            self.points[ioa] = self._add(ioa, c104.Type.M_SP_NA_1, report_ms)
        command = self._add(IOA_TARGET_KW, c104.Type.C_SE_NC_1, 0)
        command.on_receive(callable=self._on_setpoint)
        self.points[IOA_TARGET_KW] = command

    def _report_ms(self) -> int:
        tick = self.options.tick_rate_ms
        return max(tick, round(self.options.update_s * 1000 / tick) * tick)

    def _add(self, ioa: int, kind: c104.Type, report_ms: int) -> c104.Point:
        point = self.station.add_point(io_address=ioa, type=kind, report_ms=report_ms)
        if point is None:
            raise ValueError(f"cannot add IOA {ioa}")
        return point

    async def start(self) -> None:
        """Read the pool once, open the listening socket and start the refresh loop."""
        self._loop = asyncio.get_running_loop()
        await self.refresh()
        await asyncio.to_thread(self.server.start)
        self._task = asyncio.create_task(self._refresh_forever(), name="iec104-refresh")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        # Off the loop: a command callback on c104's thread may be waiting for the loop.
        await asyncio.to_thread(self.server.stop)

    async def _refresh_forever(self) -> None:
        while True:
            await self._clock.sleep(self.options.update_s)
            await self.refresh()

    async def refresh(self) -> PoolReadings | None:
        """Copy the provider's readings into the measured points (INVALID quality if it fails)."""
        try:
            readings = await self._readings()
        except Exception:
            log.exception("IEC 104: pool readings unavailable; values marked invalid")
            for ioa in (IOA_MEASURED_KW, IOA_UP_KW, IOA_DOWN_KW, IOA_ONLINE, IOA_DISPATCHING):
                self.points[ioa].quality = c104.Quality.Invalid
            return None
        values: dict[int, float | bool] = {
            IOA_MEASURED_KW: float(readings.measured_kw),
            IOA_UP_KW: float(readings.up_kw),
            IOA_DOWN_KW: float(readings.down_kw),
            IOA_ONLINE: bool(readings.online),
            IOA_DISPATCHING: bool(readings.dispatching),
        }
        for ioa, value in values.items():
            point = self.points[ioa]
            point.value = value
            point.quality = c104.Quality()
        return readings

    def _on_setpoint(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        """c104's command callback (its own thread): ask the intake, confirm + or -."""
        value = point.value
        if isinstance(value, bool) or not isinstance(value, float | int):
            log.warning("IEC 104 setpoint refused: value %r is not a number", value)
            return c104.ResponseState.FAILURE
        try:
            instruction = setpoint_instruction(
                float(value),
                self._clock.now(),
                hold_intervals=self.options.hold_intervals,
                last_direction=self._last_direction,
                max_kw=self.options.max_kw,
            )
        except ValueError as exc:
            log.warning("IEC 104 setpoint refused: %s", exc)
            return c104.ResponseState.FAILURE
        answer = self._ask(instruction)
        if answer is None:
            return c104.ResponseState.FAILURE
        if not takes_effect(answer):
            log.warning(
                "IEC 104 setpoint %g kW rejected (%s): %s",
                value,
                instruction.instruction_id,
                answer.reason,
            )
            return c104.ResponseState.FAILURE
        self._last_direction = instruction.direction
        feasible = answer.feasible_kw[0] if answer.feasible_kw else abs(float(value))
        sign = 1.0 if instruction.direction is Direction.UP else -1.0
        echo = self.points[IOA_TARGET_ECHO_KW]
        echo.value = sign * float(feasible)
        echo.transmit(cause=c104.Cot.SPONTANEOUS)
        log.info(
            "IEC 104 setpoint %g kW %s (%s), feasible %s kW",
            value,
            answer.status.value,
            instruction.instruction_id,
            answer.feasible_kw,
        )
        return c104.ResponseState.SUCCESS

    def _ask(self, instruction: Instruction) -> InstructionAnswer | None:
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("IEC 104 setpoint refused: the station is not running")
            return None

        async def ask() -> InstructionAnswer:
            return await self._intake(instruction)

        future = asyncio.run_coroutine_threadsafe(ask(), loop)
        try:
            return future.result(timeout=self.options.answer_timeout_s)
        except FutureTimeout:
            future.cancel()
            log.warning(
                "IEC 104 setpoint %s: no answer within %.1f s, confirmed negatively; the VPP "
                "may still apply it (see GET /v1/grid/instructions/{id})",
                instruction.instruction_id,
                self.options.answer_timeout_s,
            )
            return None
        except Exception:
            log.exception("IEC 104 setpoint %s: the intake failed", instruction.instruction_id)
            return None
