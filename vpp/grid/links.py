"""The dispatch-centre links (OpenADR VEN, IEC 104 station): shared vocabulary and wiring.

Both protocol links (`vpp.grid.openadr`, `vpp.grid.iec104`) are written against two
injected callables, so they run and are tested without a database:

- an *intake* ``Instruction -> InstructionAnswer``; in production `database_intake`:
  `vpp.grid.service.receive_instruction` in its own session, committed, run in a thread;
- a *readings provider* returning the pool's `PoolReadings` now; in production
  `database_readings`: fresh telemetry summed, capacity left beside the current plan.

`run_links` starts whichever link the settings configure for the app's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from vpp.domain.market import Instruction, InstructionAnswer, InstructionStatus
from vpp.domain.time import interval_of
from vpp.grid.repository import enrolled_capacity_kw
from vpp.grid.service import DEFAULT_MAX_AGE, InstructionRefused, receive_instruction
from vpp.models import PlannedSetpointRow
from vpp.ports import Clock, MarketPack
from vpp.telemetry.repository import latest_readings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

FRESH = timedelta(minutes=5)
"""A reading older than this no longer counts towards the pool's measured power."""
ACTIVE_KW = 0.5
"""Planned deviation (kW) from which the pool counts as dispatching (as the planner)."""


@dataclass(frozen=True)
class PoolReadings:
    """What the pool measures and can still offer now (kW, net-load sign of DESIGN §3).

    ``measured_kw`` is the pool's net load (+ drawn from the grid); ``up_kw`` / ``down_kw``
    are the non-negative capacities left to raise / lower it in the current interval on
    top of what is already planned.
    """

    at: datetime
    measured_kw: float
    up_kw: float
    down_kw: float
    online: bool
    """At least one asset reported fresh telemetry."""
    dispatching: bool
    """The current interval's plan moves the pool away from its baseline."""
    assets_reporting: int = 0


Intake = Callable[[Instruction], Awaitable[InstructionAnswer]]
"""Hands an instruction to the VPP and returns its answer (idempotent by instruction id)."""

ReadingsProvider = Callable[[], Awaitable[PoolReadings]]
"""Reads the pool's current `PoolReadings`."""


def takes_effect(answer: InstructionAnswer) -> bool:
    """Whether an answer means the VPP follows the instruction (fully or partly)."""
    return answer.status in (InstructionStatus.ACCEPTED, InstructionStatus.PARTIAL)


def database_intake(
    sessions: sessionmaker[Session],
    packs: Mapping[str, MarketPack],
    clock: Clock,
    source: str,
    max_age: timedelta | None = None,
) -> Intake:
    """An intake calling `vpp.grid.service.receive_instruction` in a session of its own,
    committed, on a worker thread; one instruction at a time per link.

    A refusal before anything changed (`InstructionRefused`: stale, unknown product,
    interval over, target beyond the pool's capacity, ...) becomes a REJECTED answer with
    the problem's detail and field errors as its reason. ``max_age`` overrides the
    service's freshness limit (OpenADR events are issued well ahead of their delivery).
    """
    lock = asyncio.Lock()

    def receive(instruction: Instruction) -> InstructionAnswer:
        with sessions() as session:
            try:
                answer = receive_instruction(
                    session,
                    packs,
                    instruction,
                    source=source,
                    now=clock.now(),
                    account_id=None,
                    max_age=max_age or DEFAULT_MAX_AGE,
                )
            except InstructionRefused as refused:
                session.rollback()
                fields = "; ".join(
                    f"{e.get('field')}: {e.get('message')}" for e in refused.errors or ()
                )
                reason = f"{refused.detail} ({fields})" if fields else str(refused.detail)
                log.warning(
                    "%s instruction %s refused: %s", source, instruction.instruction_id, reason
                )
                return InstructionAnswer(
                    instruction.instruction_id, InstructionStatus.REJECTED, (), reason
                )
            session.commit()
            return answer

    async def intake(instruction: Instruction) -> InstructionAnswer:
        async with lock:
            return await asyncio.to_thread(receive, instruction)

    return intake


def read_pool(session: Session, now: datetime) -> PoolReadings:
    """The pool's `PoolReadings` at ``now`` from the database.

    measured_kw: each asset's latest reading of the last `FRESH` minutes, summed (assets
    silent longer are left out); up_kw / down_kw: the enrolled flexibility of the active
    assets less what the current interval's plan already uses in that direction.
    """
    latest = latest_readings(session, now - FRESH, now)
    measured = math.fsum(reading.power_kw for reading in latest.values())
    reporting = len(latest)
    current = interval_of(now)
    deviation = PlannedSetpointRow.deviation_kw
    plan = session.execute(
        select(
            func.coalesce(func.sum(case((deviation > 0, deviation), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((deviation < 0, -deviation), else_=0.0)), 0.0),
        ).where(PlannedSetpointRow.day == current.day, PlannedSetpointRow.interval == current.index)
    ).one()
    raised, lowered = float(plan[0]), float(plan[1])
    up_kw, down_kw = enrolled_capacity_kw(session)
    return PoolReadings(
        at=now,
        measured_kw=round(float(measured), 3),
        up_kw=round(max(0.0, up_kw - raised), 3),
        down_kw=round(max(0.0, down_kw - lowered), 3),
        online=int(reporting) > 0,
        dispatching=max(raised, lowered) >= ACTIVE_KW,
        assets_reporting=int(reporting),
    )


def database_readings(sessions: sessionmaker[Session], clock: Clock) -> ReadingsProvider:
    """A readings provider running `read_pool` on a worker thread."""

    def read() -> PoolReadings:
        with sessions() as session:
            return read_pool(session, clock.now())

    async def readings() -> PoolReadings:
        return await asyncio.to_thread(read)

    return readings


OPENADR_MAX_AGE = timedelta(days=2)
"""Freshness limit for OpenADR events: they are issued up to a day ahead, and replays are
already told apart by (event id, modification number)."""


@asynccontextmanager
async def run_links(app: FastAPI) -> AsyncIterator[None]:
    """Run the OpenADR VEN and the IEC 104 station for the app's lifetime, if configured
    (``VPP_OPENADR_VTN_URL``, ``VPP_IEC104_HOST``)."""
    settings = app.state.settings
    if not settings.openadr_vtn_url and not settings.iec104_host:
        yield
        return
    sessions = app.state.write_sessionmaker
    readings = database_readings(app.state.sessionmaker, app.state.clock)
    async with AsyncExitStack() as stack:
        if settings.openadr_vtn_url:
            from vpp.grid.openadr import SOURCE as OPENADR
            from vpp.grid.openadr import OpenAdrVen, VenOptions

            ven = OpenAdrVen(
                settings.openadr_ven_name,
                settings.openadr_vtn_url,
                database_intake(
                    sessions, app.state.packs, app.state.clock, OPENADR, OPENADR_MAX_AGE
                ),
                readings,
                VenOptions(
                    simple_level_kw=settings.openadr_simple_level_kw,
                    ven_id=settings.openadr_ven_id,
                    cert=settings.openadr_cert,
                    key=settings.openadr_key,
                    ca_file=settings.openadr_ca_file,
                    vtn_fingerprint=settings.openadr_vtn_fingerprint,
                ),
            )
            await ven.start()
            stack.push_async_callback(ven.stop)
            app.state.openadr = ven
        if settings.iec104_host:
            from vpp.grid.iec104 import SOURCE as IEC104
            from vpp.grid.iec104 import Iec104Station, StationOptions

            station = Iec104Station(
                database_intake(sessions, app.state.packs, app.state.clock, IEC104),
                readings,
                StationOptions(
                    host=settings.iec104_host,
                    port=settings.iec104_port,
                    common_address=settings.iec104_common_address,
                ),
                clock=app.state.clock,
            )
            await station.start()
            stack.push_async_callback(station.stop)
            app.state.iec104 = station
        yield
