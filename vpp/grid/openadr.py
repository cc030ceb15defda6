"""OpenADR 2.0b VEN towards a utility VTN (openleadr): events in, opt answers and telemetry out.

The VEN registers with the VTN, polls it, and turns each event into an `Instruction` handed
to the injected intake; it opts in when the answer is accepted or partial and opts out when
it is rejected or the event cannot be read. It offers one TELEMETRY_USAGE report: the pool's
measured net load (kW, `powerReal` with scale ``k``), sampled whenever the VTN asks.

Mapping of an event to an instruction (one event = one instruction):

==================  ===========  ============================================================
signal name         signal type  meaning
==================  ===========  ============================================================
``LOAD_DISPATCH``   ``delta``    change of the pool's net load per interval, in the signal's
                                 power unit (``powerReal`` W with SI scale; kW when the signal
                                 carries no measurement). Negative = lower net load: product
                                 ``peak_shaving.peak_cut``, direction DOWN; positive = raise
                                 it: ``peak_shaving.valley_fill``, UP. target = abs(value).
``SIMPLE``          ``level``    level 0-3 (normal, moderate, high, special) = lower net load
                                 by level x ``simple_level_kw``: ``peak_shaving.peak_cut``,
                                 DOWN. Refused when ``simple_level_kw`` is not configured.
anything else                    refused (opt out): unknown signal name or type.
==================  ===========  ============================================================

An event naming LOAD_DISPATCH may carry a SIMPLE signal alongside (OpenADR 2.0b asks VTNs to
add one for simple VENs); the LOAD_DISPATCH signal then decides. Each event interval must
start on a 15-minute boundary and last a whole number of 15-minute intervals; it covers that
many market intervals (Asia/Shanghai day, 96 x 15 min, DESIGN §3) at the same kW. All of an
event's intervals must fall in one market day, share one direction and be finite and at most
``max_kw`` in size; otherwise the event is refused with a logged reason and nothing changes.

Idempotency: the instruction id is derived from (event id, modification number) only, so a
second delivery (the VEN asks for events after registering and the VTN repeats them on the
next poll) gets the first answer and reaches the intake at most once; a modified event (new
modification number) is a new instruction. A cancelled event becomes an instruction with
zero targets in its intervals (instructed targets replace earlier ones, so this releases
them); one that cannot be read is acknowledged without change.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from openleadr import OpenADRClient, enums, objects

from vpp.domain.market import Instruction, InstructionAnswer, InstructionStatus
from vpp.domain.time import INTERVAL, interval_of
from vpp.domain.units import Direction
from vpp.grid.links import Intake, ReadingsProvider, takes_effect

log = logging.getLogger(__name__)

OptType = Literal["optIn", "optOut"]
SOURCE = "openadr"
"""The ``source`` the production intake records for instructions from this link."""

PRODUCT_BY_DIRECTION: Mapping[Direction, str] = {
    Direction.DOWN: "peak_shaving.peak_cut",
    Direction.UP: "peak_shaving.valley_fill",
}
DEFAULT_MAX_KW = 1_000_000.0
"""Largest instructed change accepted from a VTN (kW, 1 GW): anything above is a unit error."""

_NAMESPACE = uuid.UUID("6f1d3b8e-5c0a-4a53-9a43-1f0c2d7e8b41")
_SCALE = {"none": 1e-3, "k": 1.0, "M": 1e3, "G": 1e6}
"""kW per unit of ``powerReal`` (W) at each SI scale code."""
_SIMPLE_LEVELS = range(4)


class EventRefused(ValueError):
    """An event the VEN cannot turn into an instruction; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def instruction_id_of(event_id: str, modification_number: int) -> str:
    """The instruction id of an event's version: stable across deliveries and restarts."""
    return f"oadr-{uuid.uuid5(_NAMESPACE, f'{event_id}#{modification_number}')}"


@dataclass(frozen=True)
class _Slot:
    start: datetime
    value_kw: float
    """Signed change of net load (kW): + raise, - lower."""


def _get(mapping: Any, key: str, what: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping or mapping[key] is None:
        raise EventRefused(f"event has no {what}")
    return mapping[key]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EventRefused(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise EventRefused(f"{what} must be finite, got {value!r}")
    return number


def _kw_per_unit(signal: Mapping[str, Any]) -> float:
    """kW per payload unit of a LOAD_DISPATCH signal: ``powerReal`` in W at its SI scale."""
    measurement = signal.get("measurement")
    if measurement is None:
        return 1.0
    if not isinstance(measurement, Mapping):
        raise EventRefused("signal measurement is malformed")
    name, unit = measurement.get("name"), measurement.get("unit")
    scale = measurement.get("scale") or "none"
    if name not in ("powerReal", "RealPower") or unit != "W" or scale not in _SCALE:
        raise EventRefused(
            f"LOAD_DISPATCH must be powerReal in W (scale none, k, M or G), got "
            f"{name!r} in {unit!r} with scale {scale!r}"
        )
    return _SCALE[scale]


def _pick_signal(signals: Sequence[Any]) -> Mapping[str, Any]:
    if not signals:
        raise EventRefused("event has no signals")
    named: dict[str, list[Mapping[str, Any]]] = {}
    for signal in signals:
        name = _get(signal, "signal_name", "signal name")
        named.setdefault(str(name).upper(), []).append(signal)
    unknown = sorted(set(named) - {"LOAD_DISPATCH", "SIMPLE"})
    if unknown:
        raise EventRefused(f"unsupported signal {', '.join(unknown)}")
    chosen = named.get("LOAD_DISPATCH") or named["SIMPLE"]
    if len(chosen) > 1:
        raise EventRefused("more than one signal of the same name")
    return chosen[0]


def _slots(
    event: Mapping[str, Any], signal: Mapping[str, Any], simple_level_kw: float
) -> list[_Slot]:
    name = str(signal["signal_name"]).upper()
    kind = signal.get("signal_type")
    if name == "LOAD_DISPATCH" and kind != enums.SIGNAL_TYPE.DELTA:
        raise EventRefused(f"LOAD_DISPATCH signal type {kind!r} is not supported (only delta)")
    if name == "SIMPLE" and kind != enums.SIGNAL_TYPE.LEVEL:
        raise EventRefused(f"SIMPLE signal type {kind!r} is not supported (only level)")
    if name == "SIMPLE" and simple_level_kw <= 0:
        raise EventRefused("SIMPLE signals are not mapped to kW on this VPP")
    per_unit = _kw_per_unit(signal) if name == "LOAD_DISPATCH" else 1.0
    intervals = _get(signal, "intervals", "signal intervals")
    if not isinstance(intervals, Sequence) or not intervals:
        raise EventRefused("signal has no intervals")
    start = _get(_get(event, "active_period", "active period"), "dtstart", "start")
    if not isinstance(start, datetime) or start.tzinfo is None:
        raise EventRefused("event start must be an aware timestamp")
    slots: list[_Slot] = []
    for i, interval in enumerate(intervals):
        begin = interval.get("dtstart") if isinstance(interval, Mapping) else None
        begin = begin if isinstance(begin, datetime) and begin.tzinfo is not None else start
        duration = _get(interval, "duration", f"duration of interval {i}")
        if not isinstance(duration, timedelta) or duration <= timedelta(0):
            raise EventRefused(f"interval {i} must have a positive duration")
        if duration % INTERVAL or (begin - datetime(2000, 1, 1, tzinfo=UTC)) % INTERVAL:
            raise EventRefused(f"interval {i} is not aligned to 15-minute market intervals")
        payload = _number(_get(interval, "signal_payload", "payload"), f"payload {i}")
        if name == "SIMPLE":
            if payload not in _SIMPLE_LEVELS:
                raise EventRefused(f"SIMPLE level must be 0, 1, 2 or 3, got {payload:g}")
            value_kw = -payload * simple_level_kw
        else:
            value_kw = payload * per_unit
        slots.extend(_Slot(begin + k * INTERVAL, value_kw) for k in range(duration // INTERVAL))
        start = begin + duration
    return slots


def parse_event(
    event: Mapping[str, Any],
    *,
    simple_level_kw: float = 0.0,
    max_kw: float = DEFAULT_MAX_KW,
    products: Mapping[Direction, str] = PRODUCT_BY_DIRECTION,
) -> Instruction:
    """The instruction an openleadr event dict asks for (see the module's mapping table).

    ``simple_level_kw`` is the kW of one SIMPLE level (0 = SIMPLE not mapped); ``max_kw``
    the largest change per interval (kW) accepted. Raises `EventRefused` with the reason.
    """
    descriptor = _get(event, "event_descriptor", "descriptor")
    event_id = _get(descriptor, "event_id", "event id")
    modification = _get(descriptor, "modification_number", "modification number")
    if not isinstance(event_id, str) or not event_id:
        raise EventRefused("event id must be a non-empty string")
    if isinstance(modification, bool) or not isinstance(modification, int) or modification < 0:
        raise EventRefused("modification number must be a non-negative integer")
    signals = _get(event, "event_signals", "signals")
    slots = _slots(event, _pick_signal(signals), simple_level_kw)
    too_big = [s for s in slots if abs(s.value_kw) > max_kw]
    if too_big:
        raise EventRefused(f"{too_big[0].value_kw:g} kW is beyond the {max_kw:g} kW limit")
    signs = {math.copysign(1.0, s.value_kw) for s in slots if s.value_kw != 0}
    if len(signs) > 1:
        raise EventRefused("event both raises and lowers net load")
    direction = Direction.UP if signs == {1.0} else Direction.DOWN
    market = [interval_of(s.start) for s in slots]
    if len({m.day for m in market}) > 1:
        raise EventRefused("event spans more than one market day")
    if len({m.index for m in market}) != len(market):
        raise EventRefused("event intervals overlap")
    issued = descriptor.get("modification_date_time") or descriptor.get("created_date_time")
    if not isinstance(issued, datetime) or issued.tzinfo is None:
        raise EventRefused("event has no aware creation time")
    return Instruction(
        instruction_id=instruction_id_of(event_id, modification),
        product=products[direction],
        day=market[0].day,
        direction=direction,
        intervals=tuple(m.index for m in market),
        target_kw=tuple(round(abs(s.value_kw), 3) for s in slots),
        issued_at=issued.astimezone(UTC),
    )


def _refusal(event: Mapping[str, Any], reason: str) -> InstructionAnswer:
    descriptor = event.get("event_descriptor") if isinstance(event, Mapping) else None
    event_id = descriptor.get("event_id") if isinstance(descriptor, Mapping) else None
    return InstructionAnswer(str(event_id), InstructionStatus.REJECTED, (), reason)


@dataclass
class VenOptions:
    """How the VEN presents itself and reads events (TLS paths are PEM files)."""

    simple_level_kw: float = 0.0
    """kW of one SIMPLE level (0 = SIMPLE events refused)."""
    max_kw: float = DEFAULT_MAX_KW
    report_min_period: timedelta = timedelta(seconds=10)
    """Fastest telemetry sampling the VEN offers; the VTN picks within [this, 1 h]."""
    ven_id: str | None = None
    cert: str | None = None
    key: str | None = None
    ca_file: str | None = None
    vtn_fingerprint: str | None = None
    products: Mapping[Direction, str] = field(default_factory=lambda: dict(PRODUCT_BY_DIRECTION))


class OpenAdrVen:
    """The VPP as an OpenADR 2.0b VEN (pull model) of one VTN.

    ``intake`` receives every instruction once; ``readings`` is sampled for the
    TELEMETRY_USAGE report. Answers are remembered per (event id, modification number).
    """

    def __init__(
        self,
        ven_name: str,
        vtn_url: str,
        intake: Intake,
        readings: ReadingsProvider,
        options: VenOptions | None = None,
    ) -> None:
        self.options = options or VenOptions()
        self._intake = intake
        self._readings = readings
        self._answers: dict[tuple[str, int], asyncio.Future[InstructionAnswer]] = {}
        self.client = OpenADRClient(
            ven_name=ven_name,
            vtn_url=vtn_url,
            ven_id=self.options.ven_id,
            cert=self.options.cert,
            key=self.options.key,
            ca_file=self.options.ca_file,
            vtn_fingerprint=self.options.vtn_fingerprint,
            show_fingerprint=False,
        )
        self.client.add_handler("on_event", self.on_event)
        self.client.add_handler("on_update_event", self.on_event)
        self.report_specifier_id, self.r_id = self.client.add_report(
            callback=self.measured_kw,
            resource_id="pool",
            measurement="real_power",
            unit="W",
            scale="k",
            report_name=enums.REPORT_NAME.TELEMETRY_USAGE,
            report_duration=timedelta(hours=1),
            sampling_rate=objects.SamplingRate(
                min_period=self.options.report_min_period,
                max_period=timedelta(hours=1),
                on_change=False,
            ),
        )

    @property
    def registered(self) -> bool:
        return self.client.registration_id is not None

    async def start(self) -> None:
        """Register with the VTN, offer the report, fetch events and start polling."""
        await self.client.run()

    async def stop(self) -> None:
        if self.client.client_session is None:
            return
        await self.client.stop()

    async def measured_kw(self) -> float:
        """The report callback: the pool's measured net load (kW, + drawn from the grid)."""
        return round((await self._readings()).measured_kw, 3)

    async def answer(self, event: Mapping[str, Any]) -> InstructionAnswer:
        """The VPP's answer to an event, asking the intake only for an unseen version."""
        descriptor = event.get("event_descriptor") if isinstance(event, Mapping) else None
        event_id = descriptor.get("event_id") if isinstance(descriptor, Mapping) else None
        modification = descriptor.get("modification_number") if descriptor else None
        if not isinstance(event_id, str) or not isinstance(modification, int):
            reason = "event has no id or modification number"
            log.warning("OpenADR event refused: %s", reason)
            return _refusal(event, reason)
        key = (event_id, modification)
        pending = self._answers.get(key)
        if pending is not None:
            log.info("OpenADR event %s#%s delivered again: repeating its answer", *key)
            return await asyncio.shield(pending)
        future: asyncio.Future[InstructionAnswer] = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        try:
            answer = await self._decide(event)
        except BaseException as exc:
            del self._answers[key]
            future.set_exception(exc)
            future.exception()  # marks it retrieved when nobody else waits
            raise
        future.set_result(answer)
        return answer

    async def _decide(self, event: Mapping[str, Any]) -> InstructionAnswer:
        descriptor = event["event_descriptor"]
        cancelled = descriptor.get("event_status") == enums.EVENT_STATUS.CANCELLED
        try:
            instruction = parse_event(
                event,
                simple_level_kw=self.options.simple_level_kw,
                max_kw=self.options.max_kw,
                products=self.options.products,
            )
        except EventRefused as exc:
            if cancelled:
                log.info("OpenADR event %s cancelled: nothing to release", descriptor["event_id"])
                return InstructionAnswer(descriptor["event_id"], InstructionStatus.ACCEPTED, ())
            log.warning("OpenADR event %s refused: %s", descriptor.get("event_id"), exc.reason)
            return _refusal(event, exc.reason)
        if cancelled:
            # Targets replace the product's targets in their intervals: zero releases them.
            instruction = replace(instruction, target_kw=tuple(0.0 for _ in instruction.intervals))
        answer = await self._intake(instruction)
        log.info(
            "OpenADR event %s#%s as %s: %s %s",
            descriptor["event_id"],
            descriptor["modification_number"],
            instruction.instruction_id,
            answer.status.value,
            answer.reason,
        )
        return answer

    async def on_event(self, event: dict[str, Any]) -> OptType:
        """openleadr's ``on_event`` / ``on_update_event`` handler: opt in or out."""
        try:
            answer = await self.answer(event)
        except Exception:
            log.exception("OpenADR event could not be handed to the VPP: opting out")
            return "optOut"
        return "optIn" if takes_effect(answer) else "optOut"
