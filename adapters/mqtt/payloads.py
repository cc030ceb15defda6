"""The MQTT topics and JSON payloads between the VPP and devices: build, parse, validate.

Topics (``<site>`` and ``<device>`` are the binding's segments, see ``MqttBinding``)::

    vpp/<site>/<device>/telemetry   device -> VPP   QoS 1
    vpp/<site>/<device>/setpoint    VPP -> device   QoS 1, MQTT 5 message expiry
    vpp/<site>/<device>/ack         device -> VPP   QoS 1

Payloads are UTF-8 JSON objects. Times are ISO 8601 strings *with* a UTC offset
(naive times are refused); power is kW with the net-load sign (+ drawn from the grid,
- injected); energy kWh; state of charge a fraction 0-1. Numbers must be JSON
numbers (not strings, not booleans, finite).

setpoint (VPP -> device)::

    {"command_id": "<uuid>", "asset_id": "<uuid>",
     "interval_start": "2025-07-01T08:00:00+00:00", "power_kw": -250.0,
     "expires_at": "2025-07-01T08:15:00+00:00", "attempt": 1}

  Hold ``power_kw`` from ``interval_start`` until ``expires_at``, then fall back to the
  device's own default. The same command may arrive more than once (at-least-once
  delivery, ``attempt`` counts deliveries): apply it once per ``command_id`` and ack
  every copy. The MQTT 5 message-expiry interval is set to the seconds left until
  ``expires_at``, so a broker drops a setpoint that waited too long in a queue.
  Receivers ignore unknown keys (the VPP may add some).

ack (device -> VPP)::

    {"command_id": "<uuid>", "accepted": true, "detail": "optional text",
     "at": "2025-07-01T08:00:01+00:00"}

  ``detail`` (<= 500 characters) and ``at`` (when the device decided; default: when
  the VPP received the ack) are optional.

telemetry (device -> VPP): one reading or a list of 1-1000 readings::

    {"ts": "2025-07-01T08:00:00+00:00", "power_kw": 812.5, "soc": 0.42,
     "energy_kwh": 420.0, "status": "running", "quality": "good"}

  ``ts`` and ``power_kw`` are required; ``soc`` (0-1), ``energy_kwh``, ``status``
  (<= 32 characters) and ``quality`` (good | estimated | suspect, default good) are
  optional.

Messages from devices (telemetry, ack) refuse unknown keys, so a misspelt field is an
error rather than a silent default. A payload is at most 256 KiB. Anything else is an
``AdapterPayloadError``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from adapters.errors import AdapterPayloadError
from vpp.domain.commands import Acknowledgement, SetpointCommand, TelemetryPoint

TOPIC_ROOT = "vpp"
# A topic segment: no MQTT wildcards or separators, no leading "$" (reserved), no
# spaces or control characters; short enough for ACL files and logs.
SEGMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SEGMENT = re.compile(SEGMENT_PATTERN)
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_READINGS_PER_MESSAGE = 1000
MAX_DETAIL_CHARS = 500

Quality = Literal["good", "estimated", "suspect"]


class TopicKind(StrEnum):
    TELEMETRY = "telemetry"
    SETPOINT = "setpoint"
    ACK = "ack"


def is_segment(value: str) -> bool:
    """Whether ``value`` is a valid ``<site>`` or ``<device>`` topic segment."""
    return bool(_SEGMENT.fullmatch(value))


def topic(site: str, device: str, kind: TopicKind) -> str:
    """``vpp/<site>/<device>/<kind>``; raises ValueError on an unsafe segment."""
    for segment in (site, device):
        if not is_segment(segment):
            raise ValueError(f"not an MQTT-safe topic segment: {segment!r}")
    return f"{TOPIC_ROOT}/{site}/{device}/{kind.value}"


def subscription(kind: TopicKind, site: str = "+") -> str:
    """The filter for ``kind`` messages of one site (default: every site)."""
    return f"{TOPIC_ROOT}/{site}/+/{kind.value}"


def parse_topic(name: str) -> tuple[str, str, TopicKind] | None:
    """``(site, device, kind)`` of a ``vpp/<site>/<device>/<kind>`` topic, or None."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != TOPIC_ROOT:
        return None
    _, site, device, kind = parts
    if not (is_segment(site) and is_segment(device)):
        return None
    try:
        return site, device, TopicKind(kind)
    except ValueError:
        return None


# -- validation models (strict: JSON numbers are numbers, times carry an offset) --------


class _TelemetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    ts: AwareDatetime
    power_kw: float
    soc: float | None = Field(default=None, ge=0, le=1)
    energy_kwh: float | None = None
    status: str | None = Field(default=None, max_length=32)
    quality: Quality = "good"


_TELEMETRY_LIST: TypeAdapter[list[_TelemetryIn]] = TypeAdapter(list[_TelemetryIn])


class _AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    command_id: uuid.UUID
    accepted: bool
    detail: str | None = Field(default=None, max_length=MAX_DETAIL_CHARS)
    at: AwareDatetime | None = None


class _SetpointIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, frozen=True)

    command_id: uuid.UUID
    asset_id: uuid.UUID
    interval_start: AwareDatetime
    power_kw: float
    expires_at: AwareDatetime
    attempt: int = Field(default=1, ge=1)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise AdapterPayloadError(
            f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES} bytes"
        )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# -- device -> VPP ----------------------------------------------------------------------


def parse_telemetry(payload: bytes, asset_id: uuid.UUID) -> list[TelemetryPoint]:
    """Readings of ``asset_id`` from one telemetry payload (one object or a list).

    Times are converted to UTC. Raises AdapterPayloadError, naming the first offending
    fields, when the payload is not JSON or breaks the schema."""
    _check_size(payload)
    try:
        if payload.lstrip()[:1] == b"[":
            readings = _TELEMETRY_LIST.validate_json(payload)
            if not 1 <= len(readings) <= MAX_READINGS_PER_MESSAGE:
                raise AdapterPayloadError(
                    f"telemetry: a list of 1 to {MAX_READINGS_PER_MESSAGE} readings expected,"
                    f" got {len(readings)}"
                )
        else:
            readings = [_TelemetryIn.model_validate_json(payload)]
    except ValidationError as exc:
        raise AdapterPayloadError(f"telemetry: {_describe(exc)}") from None
    return [
        TelemetryPoint(
            asset_id=asset_id,
            ts=_utc(r.ts),
            power_kw=r.power_kw,
            soc=r.soc,
            energy_kwh=r.energy_kwh,
            status=r.status,
            quality=r.quality,
        )
        for r in readings
    ]


def parse_ack(payload: bytes, received_at: datetime) -> Acknowledgement:
    """The acknowledgement in ``payload``; ``received_at`` (UTC-aware) stands in for a
    missing ``at``. Raises AdapterPayloadError on a malformed payload."""
    _check_size(payload)
    try:
        ack = _AckIn.model_validate_json(payload)
    except ValidationError as exc:
        raise AdapterPayloadError(f"ack: {_describe(exc)}") from None
    return Acknowledgement(
        command_id=ack.command_id,
        accepted=ack.accepted,
        at=_utc(ack.at) if ack.at is not None else received_at,
        detail=ack.detail or "",
    )


# -- VPP -> device ----------------------------------------------------------------------


def _dumps(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def encode_setpoint(command: SetpointCommand) -> bytes:
    """The setpoint payload of ``command``; raises ValueError if it cannot be encoded
    (naive times, a non-finite power)."""
    for name in ("interval_start", "expires_at"):
        if getattr(command, name).tzinfo is None:
            raise ValueError(f"{name} is a naive datetime")
    if not math.isfinite(command.power_kw):
        raise ValueError("power_kw is not finite")
    return _dumps(
        {
            "command_id": str(command.id),
            "asset_id": str(command.asset_id),
            "interval_start": _utc(command.interval_start).isoformat(),
            "power_kw": command.power_kw,
            "expires_at": _utc(command.expires_at).isoformat(),
            "attempt": command.attempt,
        }
    )


def parse_setpoint(payload: bytes) -> SetpointCommand:
    """The command in a setpoint payload (device side; unknown keys ignored).

    Raises AdapterPayloadError on a malformed payload."""
    _check_size(payload)
    try:
        body = _SetpointIn.model_validate_json(payload)
    except ValidationError as exc:
        raise AdapterPayloadError(f"setpoint: {_describe(exc)}") from None
    return SetpointCommand(
        id=body.command_id,
        asset_id=body.asset_id,
        interval_start=_utc(body.interval_start),
        power_kw=body.power_kw,
        expires_at=_utc(body.expires_at),
        attempt=body.attempt,
    )


def encode_ack(command_id: uuid.UUID, accepted: bool, at: datetime, detail: str = "") -> bytes:
    """The ack payload a device sends for ``command_id`` (``at`` UTC-aware)."""
    if at.tzinfo is None:
        raise ValueError("at is a naive datetime")
    body: dict[str, Any] = {
        "command_id": str(command_id),
        "accepted": accepted,
        "at": _utc(at).isoformat(),
    }
    if detail:
        body["detail"] = detail[:MAX_DETAIL_CHARS]
    return _dumps(body)


@dataclass(frozen=True, slots=True)
class TelemetryReading:
    """One reading as a device reports it (kW net-load sign, kWh, soc 0-1)."""

    ts: datetime
    power_kw: float
    soc: float | None = None
    energy_kwh: float | None = None
    status: str | None = None
    quality: Quality = "good"


def encode_telemetry(readings: Sequence[TelemetryReading]) -> bytes:
    """A telemetry payload: one object for one reading, else a list (1-1000 readings)."""
    if not 1 <= len(readings) <= MAX_READINGS_PER_MESSAGE:
        raise ValueError(f"1 to {MAX_READINGS_PER_MESSAGE} readings per message")
    items: list[dict[str, Any]] = []
    for r in readings:
        if r.ts.tzinfo is None:
            raise ValueError("ts is a naive datetime")
        item: dict[str, Any] = {"ts": _utc(r.ts).isoformat(), "power_kw": r.power_kw}
        if r.soc is not None:
            item["soc"] = r.soc
        if r.energy_kwh is not None:
            item["energy_kwh"] = r.energy_kwh
        if r.status is not None:
            item["status"] = r.status
        if r.quality != "good":
            item["quality"] = r.quality
        items.append(item)
    return _dumps(items[0] if len(items) == 1 else items)
