"""The OpenADR 2.0b VEN: event mapping by hand, idempotency, and an openleadr VTN on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from openleadr import OpenADRServer, objects

from vpp.domain.market import Instruction, InstructionAnswer, InstructionStatus
from vpp.domain.units import Direction
from vpp.grid.links import PoolReadings
from vpp.grid.openadr import (
    EventRefused,
    OpenAdrVen,
    VenOptions,
    instruction_id_of,
    parse_event,
)

pytestmark = [
    pytest.mark.anyio,
    # openleadr's VTN stores itself in its aiohttp app under a plain string key.
    pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning"),
]

# 10:00 Beijing on 2026-03-02 = 02:00 UTC: interval 40 of that market day.
TEN_AM = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CREATED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def event(
    payloads: list[float],
    *,
    start: datetime = TEN_AM,
    duration: timedelta = QUARTER,
    name: str = "LOAD_DISPATCH",
    kind: str = "delta",
    measurement: dict[str, Any] | None = None,
    event_id: str = "ev-1",
    modification: int = 0,
    status: str = "far",
) -> dict[str, Any]:
    """An event dict as openleadr's parser hands it to ``on_event``."""
    signal: dict[str, Any] = {
        "signal_name": name,
        "signal_type": kind,
        "signal_id": "sig-1",
        "intervals": [
            {"dtstart": start + i * duration, "duration": duration, "uid": i, "signal_payload": p}
            for i, p in enumerate(payloads)
        ],
    }
    if measurement is not None:
        signal["measurement"] = measurement
    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": modification,
            "created_date_time": CREATED,
            "event_status": status,
            "priority": 0,
            "market_context": "oadr://test",
        },
        "active_period": {"dtstart": start, "duration": duration * len(payloads)},
        "event_signals": [signal],
        "targets": [{"ven_id": "ven-1"}],
        "response_required": "always",
    }


# -- mapping, hand-computed ----------------------------------------------------------------


def test_load_dispatch_delta_in_kw_lowers_net_load_as_peak_cut() -> None:
    instruction = parse_event(event([-100.0, -80.0], duration=timedelta(minutes=30)))
    assert instruction == Instruction(
        instruction_id=instruction_id_of("ev-1", 0),
        product="peak_shaving.peak_cut",
        day=date(2026, 3, 2),
        direction=Direction.DOWN,
        intervals=(40, 41, 42, 43),
        target_kw=(100.0, 100.0, 80.0, 80.0),
        issued_at=CREATED,
    )


def test_power_real_in_watts_and_megawatts_converted_to_kw() -> None:
    watts = {"name": "powerReal", "description": "RealPower", "unit": "W", "scale": "none"}
    assert parse_event(event([-250_000.0], measurement=watts)).target_kw == (250.0,)
    mega = {**watts, "scale": "M"}
    raised = parse_event(event([0.5], measurement=mega))
    assert (raised.product, raised.direction, raised.target_kw) == (
        "peak_shaving.valley_fill",
        Direction.UP,
        (500.0,),
    )


def test_simple_level_times_configured_kw_lowers_net_load() -> None:
    instruction = parse_event(event([2, 1], name="SIMPLE", kind="level"), simple_level_kw=150.0)
    assert instruction.direction is Direction.DOWN
    assert instruction.intervals == (40, 41)
    assert instruction.target_kw == (300.0, 150.0)


def test_load_dispatch_decides_over_an_accompanying_simple_signal() -> None:
    both = event([-40.0])
    simple = {**both["event_signals"][0], "signal_name": "SIMPLE", "signal_type": "level"}
    simple["intervals"] = [{**simple["intervals"][0], "signal_payload": 3}]
    both["event_signals"].append(simple)
    assert parse_event(both).target_kw == (40.0,)


def test_instruction_id_depends_on_event_id_and_modification_only() -> None:
    assert instruction_id_of("ev-1", 0) == instruction_id_of("ev-1", 0)
    assert instruction_id_of("ev-1", 1) != instruction_id_of("ev-1", 0)
    assert instruction_id_of("ev-2", 0) != instruction_id_of("ev-1", 0)
    assert len(instruction_id_of("e" * 500, 99)) <= 128


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (event([5.0], name="ELECTRICITY_PRICE", kind="price"), "unsupported signal"),
        (event([1], name="SIMPLE", kind="level"), "not mapped"),
        (event([-10.0], kind="setpoint"), "only delta"),
        (event([-10.0], start=TEN_AM + timedelta(minutes=5)), "aligned"),
        (event([-10.0], duration=timedelta(minutes=20)), "aligned"),
        (event([float("nan")]), "finite"),
        (event(["lots"]), "number"),  # type: ignore[list-item]
        (event([-2e9]), "limit"),
        (event([-10.0, 10.0]), "both raises and lowers"),
        # 23:45 Beijing + 30 min crosses midnight into the next market day.
        (
            event([-10.0], start=datetime(2026, 3, 2, 15, 45, tzinfo=UTC), duration=2 * QUARTER),
            "more than one market day",
        ),
        (
            event([-10.0], measurement={"name": "energyReal", "unit": "Wh", "scale": "k"}),
            "powerReal",
        ),
        ({"event_descriptor": {"event_id": "x"}}, "modification number"),
    ],
)
def test_bad_events_are_refused_with_a_reason(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventRefused, match=reason):
        parse_event(bad)


def test_simple_level_outside_0_to_3_refused() -> None:
    with pytest.raises(EventRefused, match="0, 1, 2 or 3"):
        parse_event(event([7], name="SIMPLE", kind="level"), simple_level_kw=10.0)


# -- the VEN's decisions ---------------------------------------------------------------------


@dataclass
class RecordingIntake:
    """Answers from a fixed status, keeps every instruction it was handed."""

    status: InstructionStatus = InstructionStatus.ACCEPTED
    seen: list[Instruction] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def __call__(self, instruction: Instruction) -> InstructionAnswer:
        self.seen.append(instruction)
        if self.gate is not None:
            await self.gate.wait()
        feasible = (
            ()
            if self.status is InstructionStatus.REJECTED
            else tuple(
                v / 2 if self.status is InstructionStatus.PARTIAL else v
                for v in instruction.target_kw
            )
        )
        reason = "no headroom" if self.status is InstructionStatus.REJECTED else ""
        return InstructionAnswer(instruction.instruction_id, self.status, feasible, reason)


async def readings() -> PoolReadings:
    return PoolReadings(
        at=datetime.now(UTC),
        measured_kw=1234.5,
        up_kw=300.0,
        down_kw=450.0,
        online=True,
        dispatching=False,
    )


def make_ven(intake: RecordingIntake, **options: Any) -> OpenAdrVen:
    return OpenAdrVen("vpp", "http://127.0.0.1:9/none", intake, readings, VenOptions(**options))


@pytest.mark.parametrize(
    ("status", "opt"),
    [
        (InstructionStatus.ACCEPTED, "optIn"),
        (InstructionStatus.PARTIAL, "optIn"),
        (InstructionStatus.REJECTED, "optOut"),
    ],
)
async def test_opt_follows_the_answer(status: InstructionStatus, opt: str) -> None:
    intake = RecordingIntake(status)
    assert await make_ven(intake).on_event(event([-100.0])) == opt
    assert len(intake.seen) == 1


async def test_second_delivery_gets_first_answer_and_reaches_intake_once() -> None:
    intake = RecordingIntake(InstructionStatus.PARTIAL)
    ven = make_ven(intake)
    first = await ven.answer(event([-100.0]))
    again = await ven.answer(event([-100.0]))
    assert again == first
    assert first.feasible_kw == (50.0,)
    assert len(intake.seen) == 1
    modified = await ven.answer(event([-60.0], modification=1))
    assert len(intake.seen) == 2
    assert modified.instruction_id == instruction_id_of("ev-1", 1)


async def test_concurrent_deliveries_wait_for_one_answer() -> None:
    intake = RecordingIntake(gate=asyncio.Event())
    ven = make_ven(intake)
    tasks = [asyncio.create_task(ven.on_event(event([-100.0]))) for _ in range(3)]
    while not intake.seen:
        await asyncio.sleep(0)
    intake.gate.set()  # type: ignore[union-attr]
    assert await asyncio.gather(*tasks) == ["optIn"] * 3
    assert len(intake.seen) == 1


async def test_bad_event_opts_out_with_logged_reason_and_intake_untouched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    intake = RecordingIntake()
    with caplog.at_level(logging.WARNING, logger="vpp.grid.openadr"):
        opt = await make_ven(intake).on_event(event([5.0], name="ELECTRICITY_PRICE", kind="price"))
    assert opt == "optOut"
    assert intake.seen == []
    assert "unsupported signal ELECTRICITY_PRICE" in caplog.text


async def test_cancelled_event_releases_its_targets() -> None:
    intake = RecordingIntake()
    ven = make_ven(intake)
    await ven.answer(event([-100.0]))
    assert await ven.on_event(event([-100.0], modification=1, status="cancelled")) == "optIn"
    release = intake.seen[-1]
    assert release.instruction_id == instruction_id_of("ev-1", 1)
    assert (release.intervals, release.target_kw) == ((40,), (0.0,))


async def test_failing_intake_opts_out_and_a_later_delivery_retries() -> None:
    calls = 0

    async def flaky(instruction: Instruction) -> InstructionAnswer:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return InstructionAnswer(instruction.instruction_id, InstructionStatus.ACCEPTED, (1.0,))

    ven = OpenAdrVen("vpp", "http://127.0.0.1:9/none", flaky, readings)
    assert await ven.on_event(event([-1.0])) == "optOut"
    assert await ven.on_event(event([-1.0])) == "optIn"
    assert calls == 2


# -- against an openleadr VTN on loopback ----------------------------------------------------


@dataclass
class Vtn:
    server: OpenADRServer
    url: str
    reports: asyncio.Queue[list[tuple[datetime, float]]]


@asynccontextmanager
async def serve_vtn() -> AsyncIterator[Vtn]:
    """An openleadr VTN on a free loopback port that registers one VEN (``ven-1``) and
    asks for its TELEMETRY_USAGE report every second; received reports go to ``reports``."""
    reports: asyncio.Queue[list[tuple[datetime, float]]] = asyncio.Queue()
    server = OpenADRServer(
        vtn_id="TEST_VTN", http_host="127.0.0.1", http_port=0, show_fingerprint=False
    )

    async def on_create_party_registration(info: dict[str, Any]) -> tuple[str, str]:
        return "ven-1", "reg-1"

    async def on_register_report(
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        assert (resource_id, unit, scale) == ("pool", "W", "k")
        return reports.put_nowait, timedelta(seconds=1)

    server.add_handler("on_create_party_registration", on_create_party_registration)
    server.add_handler("on_register_report", on_register_report)
    await server.run()
    port = server.app_runner.addresses[0][1]
    try:
        yield Vtn(server, f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", reports)
    finally:
        await server.stop()


@pytest.fixture
async def vtn() -> AsyncIterator[Vtn]:
    async with serve_vtn() as served:
        yield served


def next_quarter(after: datetime) -> datetime:
    start = after.replace(second=0, microsecond=0)
    return start + timedelta(minutes=15 - start.minute % 15)


async def test_vtn_event_opted_in_once_and_telemetry_reported(vtn: Vtn) -> None:
    intake = RecordingIntake()
    ven = OpenAdrVen(
        "vpp", vtn.url, intake, readings, VenOptions(report_min_period=timedelta(seconds=1))
    )
    opted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    start = next_quarter(datetime.now(UTC) + timedelta(hours=1))
    vtn.server.add_event(
        ven_id="ven-1",
        signal_name="LOAD_DISPATCH",
        signal_type="delta",
        intervals=[{"dtstart": start, "duration": QUARTER, "signal_payload": -120.0}],
        callback=opted,
        event_id="dr-7",
    )
    try:
        await ven.start()
        assert ven.registered
        assert await asyncio.wait_for(opted, 10) == "optIn"
        # Delivered again: once as openleadr remembers it, once as if it had forgotten.
        await ven.client.sync_events()
        ven.client.received_events.clear()
        ven.client.responded_events.clear()
        second: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        vtn.server.event_callbacks["dr-7"] = (None, second)
        await ven.client.sync_events()
        assert await asyncio.wait_for(second, 10) == "optIn"
        assert len(intake.seen) == 1
        instruction = intake.seen[0]
        assert instruction.instruction_id == instruction_id_of("dr-7", 0)
        assert (instruction.direction, instruction.target_kw) == (Direction.DOWN, (120.0,))
        values = await asyncio.wait_for(vtn.reports.get(), 10)
        assert [value for _, value in values] == [1234.5]
    finally:
        await ven.stop()


async def test_vtn_event_with_unknown_signal_gets_opt_out(vtn: Vtn) -> None:
    intake = RecordingIntake()
    ven = OpenAdrVen("vpp", vtn.url, intake, readings)
    opted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    start = next_quarter(datetime.now(UTC) + timedelta(hours=1))
    signal = objects.EventSignal(
        intervals=[objects.Interval(dtstart=start, duration=QUARTER, signal_payload=90.0)],
        signal_name="ELECTRICITY_PRICE",
        signal_type="price",
        signal_id="price-1",
    )
    vtn.server.add_raw_event(
        ven_id="ven-1",
        event=objects.Event(
            event_descriptor=objects.EventDescriptor(
                event_id="price-event",
                modification_number=0,
                market_context="oadr://test",
                event_status="far",
                created_date_time=datetime.now(UTC),
            ),
            active_period=objects.ActivePeriod(dtstart=start, duration=QUARTER),
            event_signals=[signal],
            targets=[objects.Target(ven_id="ven-1")],
        ),
        callback=opted,
    )
    try:
        await ven.start()
        assert await asyncio.wait_for(opted, 10) == "optOut"
        assert intake.seen == []
    finally:
        await ven.stop()
