"""The dispatch-centre links on their production path: wired to the database.

A park of two batteries (±100 kW each, energy never binding) holds a day's plan: a peak-cut
award of 100 kW in one interval, -50 kW per battery, with the plan's commands queued. An
openleadr VTN's event, or a c104 dispatch master's setpoint, reaches the VPP through
`database_intake` (the grid service in a session of its own, committed) and changes the
pool's targets, the plan and the queued commands; what the links report comes from
`database_readings`. Last, the app starts both links from its settings and stops them.

The test's one database connection (rolled back at the end) is shared with the links'
worker threads, so every session here takes its turn on it (`TurnTaking`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import make_settings
from tests.dispatch.park import PEAK_CUT, add_asset, award, enterprise, reading, store_plan
from tests.grid.test_iec104 import Master, free_port
from tests.grid.test_openadr import QUARTER, next_quarter, serve_vtn
from vpp.app import create_app
from vpp.bidding.registry import load_packs
from vpp.dispatch.service import PlannedSetpoint, enqueue_many
from vpp.domain.time import INTERVAL, interval_of, interval_starts_utc
from vpp.grid.iec104 import (
    IOA_DISPATCHING,
    IOA_DOWN_KW,
    IOA_MEASURED_KW,
    IOA_ONLINE,
    IOA_TARGET_ECHO_KW,
    IOA_UP_KW,
    Iec104Station,
    StationOptions,
)
from vpp.grid.links import OPENADR_MAX_AGE, database_intake, database_readings
from vpp.grid.openadr import OpenAdrVen, VenOptions, instruction_id_of
from vpp.kit.db import make_sessionmaker
from vpp.models import Asset, GridInstruction, PlannedSetpointRow, PoolTarget, SetpointCommandRow
from vpp.ports import ManualClock, MarketPack

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
]

WAIT_S = 10.0


class TurnTaking(Session):
    """A session that holds the test's single connection alone while it is open: the
    links' worker threads and the test take turns instead of interleaving statements."""

    turn = threading.RLock()

    def __enter__(self) -> TurnTaking:
        self.turn.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self.close()
        finally:
            self.turn.release()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    return make_sessionmaker(
        connection, class_=TurnTaking, join_transaction_mode="create_savepoint"
    )


@pytest.fixture(scope="module")
def packs() -> dict[str, MarketPack]:
    return load_packs()


@dataclass
class Park:
    day: date
    interval: int
    assets: list[Asset]


def plant(sessions: sessionmaker[Session], now: datetime, day: date, intervals: list[int]) -> Park:
    """Two batteries planned at -50 kW each for a 100 kW peak-cut award in ``intervals``,
    the plan's commands queued (sent a minute ahead), and fresh readings a minute before
    ``now``: battery 0 at -40 kW, battery 1 at -35 kW (5,000 kWh stored each)."""
    starts = interval_starts_utc(day)
    with sessions() as session:
        account = enterprise(session, "Plant")
        assets = [add_asset(session, account, name=f"battery {i}") for i in range(2)]
        store_plan(session, day, assets, {(i, t): -50.0 for i in range(2) for t in intervals})
        award(session, day, PEAK_CUT, {t: 100.0 for t in intervals})
        enqueue_many(
            session,
            [
                PlannedSetpoint(
                    a.id,
                    a.account_id,
                    "simulated",
                    starts[t].to_pydatetime(),
                    -50.0,
                    starts[t].to_pydatetime() + INTERVAL,
                    starts[t].to_pydatetime() - timedelta(minutes=1),
                )
                for a in assets
                for t in intervals
            ],
            now - timedelta(minutes=2),
            "plan",
        )
        for asset, kw in zip(assets, (-40.0, -35.0), strict=True):
            reading(session, asset, now - timedelta(minutes=1), kw, 5000.0)
        session.commit()
    return Park(day, intervals[0], assets)


def planned_kw(sessions: sessionmaker[Session], park: Park, interval: int) -> list[float]:
    with sessions() as session:
        return [
            round(row.deviation_kw, 3)
            for asset in park.assets
            if (row := session.get(PlannedSetpointRow, (park.day, asset.id, interval)))
        ]


def target_of(sessions: sessionmaker[Session], park: Park, interval: int) -> tuple[float, ...]:
    """(awarded, target, planned, shortfall) kW of the peak cut in ``interval``."""
    with sessions() as session:
        row = session.get(PoolTarget, (park.day, PEAK_CUT, interval))
        assert row is not None
        return (row.awarded_kw, row.target_kw, row.planned_kw, row.shortfall_kw)


def commands(sessions: sessionmaker[Session]) -> list[tuple[str, str, float, datetime]]:
    """(source, state, power kW, interval start) of every command, sorted."""
    with sessions() as session:
        rows = session.scalars(select(SetpointCommandRow))
        return sorted((r.source, r.state, r.power_kw, r.interval_start) for r in rows)


def instructions(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, list[float]]]:
    with sessions() as session:
        rows = session.scalars(select(GridInstruction))
        return [(r.instruction_id, r.source, r.status, r.feasible_kw) for r in rows]


# -- OpenADR: an openleadr VTN's event, executed and reported on -----------------------------


async def test_vtn_event_changes_the_plan_is_opted_in_and_measured_power_reported(
    sessions: sessionmaker[Session], packs: dict[str, MarketPack]
) -> None:
    # openleadr judges events by the wall clock: the service clock stands at the real now
    # and the event starts at the first quarter an hour ahead.
    now = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(now)
    start = next_quarter(now + timedelta(hours=1))
    event_interval = interval_of(start)
    park = plant(sessions, now, event_interval.day, [event_interval.index])
    async with serve_vtn() as vtn:
        ven = OpenAdrVen(
            "vpp",
            vtn.url,
            database_intake(sessions, packs, clock, "openadr", OPENADR_MAX_AGE),
            database_readings(sessions, clock),
            VenOptions(report_min_period=timedelta(seconds=1)),
        )
        opted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        vtn.server.add_event(
            ven_id="ven-1",
            signal_name="LOAD_DISPATCH",
            signal_type="delta",
            intervals=[{"dtstart": start, "duration": QUARTER, "signal_payload": -150.0}],
            callback=opted,
            event_id="dr-prod-1",
        )
        try:
            await ven.start()
            assert await asyncio.wait_for(opted, WAIT_S) == "optIn"
            # The pool's measured net load: -40 kW + -35 kW of the fresh readings.
            values = await asyncio.wait_for(vtn.reports.get(), WAIT_S)
            assert [value for _, value in values] == [-75.0]
        finally:
            await ven.stop()

    t = park.interval
    assert instructions(sessions) == [
        (instruction_id_of("dr-prod-1", 0), "openadr", "accepted", [150.0])
    ]
    # Target 150 kW, awarded 100: each battery gives the same share of its headroom.
    assert target_of(sessions, park, t) == (100.0, 150.0, 150.0, 0.0)
    assert planned_kw(sessions, park, t) == [-75.0, -75.0]
    begin = interval_starts_utc(park.day)[t].to_pydatetime()
    # The plan's commands were not sent yet: revised in place.
    assert commands(sessions) == [
        ("replan", "pending", -75.0, begin),
        ("replan", "pending", -75.0, begin),
    ]


# -- IEC 104: the master reads the pool's values; its setpoint moves the plan ---------------

# 10:07 Beijing on 2026-03-02 = 02:07 UTC: inside interval 40 of that market day.
MID_INTERVAL = datetime(2026, 3, 2, 2, 7, tzinfo=UTC)


@pytest.fixture
def master_port() -> int:
    return free_port()


@pytest.fixture
def master(master_port: int) -> Iterator[Master]:
    master = Master(master_port)
    try:
        yield master
    finally:
        master.client.stop()


async def test_master_reads_the_pool_and_its_setpoint_moves_the_plan(
    sessions: sessionmaker[Session],
    packs: dict[str, MarketPack],
    master_port: int,
    master: Master,
) -> None:
    clock = ManualClock(MID_INTERVAL)
    park = plant(sessions, MID_INTERVAL, date(2026, 3, 2), [40, 41])
    station = Iec104Station(
        database_intake(sessions, packs, clock, "iec104"),
        database_readings(sessions, clock),
        StationOptions(port=master_port, update_s=1.0, answer_timeout_s=WAIT_S / 2),
        clock=clock,
    )
    await station.start()
    try:
        await asyncio.to_thread(master.connect)
        await asyncio.to_thread(master.interrogate)
        # Enrolled 200 kW each way; the plan lowers net load by 100 kW in interval 40.
        assert {ioa: master.value(ioa) for ioa in (IOA_MEASURED_KW, IOA_UP_KW, IOA_DOWN_KW)} == {
            IOA_MEASURED_KW: -75.0,
            IOA_UP_KW: 200.0,
            IOA_DOWN_KW: 100.0,
        }
        assert (master.value(IOA_ONLINE), master.value(IOA_DISPATCHING)) == (True, True)

        assert await asyncio.to_thread(master.send, -150.0)  # positive confirmation

        await station.refresh()
        await asyncio.to_thread(master.interrogate)
        assert master.value(IOA_TARGET_ECHO_KW) == -150.0
        assert master.value(IOA_DOWN_KW) == 50.0  # 200 kW less the 150 now planned
    finally:
        await station.stop()

    [(instruction_id, source, status, feasible)] = instructions(sessions)
    assert (instruction_id.startswith("iec104-"), source, status) == (True, "iec104", "accepted")
    assert feasible == [150.0, 150.0]
    for t in (40, 41):
        assert target_of(sessions, park, t) == (100.0, 150.0, 150.0, 0.0)
        assert planned_kw(sessions, park, t) == [-75.0, -75.0]
    start_40, start_41 = (interval_starts_utc(park.day)[t].to_pydatetime() for t in (40, 41))
    assert commands(sessions) == [
        ("replan", "pending", -75.0, start_40),
        ("replan", "pending", -75.0, start_40),
        ("replan", "pending", -75.0, start_41),
        ("replan", "pending", -75.0, start_41),
    ]


# -- the app runs the links its settings configure -------------------------------------------


def refused(port: int) -> bool:
    """Whether nothing listens on ``port`` of the loopback address."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True


async def test_app_starts_the_configured_links_and_stops_them_cleanly(
    sessions: sessionmaker[Session], master_port: int, master: Master
) -> None:
    clock = ManualClock(MID_INTERVAL)
    plant(sessions, MID_INTERVAL, date(2026, 3, 2), [40])
    async with serve_vtn() as vtn:
        settings = make_settings(
            openadr_vtn_url=vtn.url, iec104_host="127.0.0.1", iec104_port=master_port
        )
        app = create_app(settings, session_factory=sessions, clock=clock)
        async with app.router.lifespan_context(app):
            ven: OpenAdrVen = app.state.openadr
            assert ven.registered
            assert isinstance(app.state.iec104, Iec104Station)
            await asyncio.to_thread(master.connect)
            await asyncio.to_thread(master.interrogate)
            assert master.value(IOA_MEASURED_KW) == -75.0  # read from the database
        assert ven.client.client_session.closed
        assert not ven.client.scheduler.running
    assert await asyncio.to_thread(refused, master_port)
