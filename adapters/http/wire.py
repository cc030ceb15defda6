"""The webhook's JSON vocabulary, translated once: setpoint batches out, acks in.

Request body (``Content-Type: application/json``, UTF-8)::

    {"commands": [{"command_id": "<uuid>", "asset_id": "<uuid>",
                   "interval_start": "2025-06-01T16:00:00Z", "power_kw": -250.0,
                   "expires_at": "2025-06-01T16:15:00Z", "attempt": 1}, ...]}

``power_kw`` is the net-load setpoint in kW (positive: draw from the grid; negative:
inject); times are RFC 3339 in UTC. Response body of a synchronous answer (2xx except
202)::

    {"acks": [{"command_id": "<uuid>", "accepted": true, "detail": "optional text"}]}
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from adapters.errors import AdapterPayloadError
from vpp.domain.commands import SetpointCommand

MAX_DETAIL_CHARS = 500


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; refuses a naive datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime cannot be sent; times must be UTC-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UtcFormatter:
    """``format_utc`` remembering its answers: the commands of one plan share a few
    interval times, and formatting each again costs more than the look-up."""

    def __init__(self) -> None:
        self._seen: dict[datetime, str] = {}

    def __call__(self, value: datetime) -> str:
        text = self._seen.get(value)
        if text is None:
            text = self._seen[value] = format_utc(value)
        return text


class EncodedCommand(NamedTuple):
    """A command ready to send: its id as canonical UUID text (acks are matched on it)
    and its JSON object text."""

    command_id: str
    json: str


# Every field is a UUID, an RFC 3339 time, a finite float or an int: none needs escaping,
# and a template is several times faster than building a dict for json.dumps.
_COMMAND_JSON = (
    '{"command_id":"%s","asset_id":"%s","interval_start":"%s",'
    '"power_kw":%r,"expires_at":"%s","attempt":%d}'
)


def encode_command(
    command: SetpointCommand, utc: Callable[[datetime], str] = format_utc
) -> EncodedCommand:
    """One command as JSON; ValueError if it cannot be represented."""
    power_kw = float(command.power_kw)
    if not math.isfinite(power_kw):
        raise ValueError("power_kw must be a finite number")
    command_id = str(command.id)
    text = _COMMAND_JSON % (
        command_id,
        command.asset_id,
        utc(command.interval_start),
        power_kw,
        utc(command.expires_at),
        int(command.attempt),
    )
    return EncodedCommand(command_id, text)


def encode_batch(encoded: Sequence[EncodedCommand]) -> bytes:
    """The request body for already encoded commands."""
    return ('{"commands":[' + ",".join(e.json for e in encoded) + "]}").encode()


@dataclass(frozen=True, slots=True)
class WireAck:
    """An endpoint's answer for one command in a synchronous response; ``command_id`` as
    the endpoint wrote it."""

    command_id: str
    accepted: bool
    detail: str = ""


def parse_acks(content: bytes) -> dict[str, WireAck]:
    """The acks of a response body by command id text; AdapterPayloadError if malformed.
    ``match_acks`` pairs them with the commands sent."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterPayloadError("the response body is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("acks"), list):
        raise AdapterPayloadError('the response body has no "acks" list')
    acks: dict[str, WireAck] = {}
    for index, item in enumerate(document["acks"]):
        ack = _parse_ack(item, index)
        acks[ack.command_id] = ack
    return acks


def _parse_ack(item: object, index: int) -> WireAck:
    if not isinstance(item, dict):
        raise AdapterPayloadError(f"acks[{index}] is not an object")
    raw_id, accepted, detail = item.get("command_id"), item.get("accepted"), item.get("detail")
    if not isinstance(raw_id, str):
        raise AdapterPayloadError(f"acks[{index}].command_id is not a string")
    if not isinstance(accepted, bool):
        raise AdapterPayloadError(f"acks[{index}].accepted is not a boolean")
    if detail is None:
        return WireAck(raw_id, accepted)
    if not isinstance(detail, str):
        raise AdapterPayloadError(f"acks[{index}].detail is not a string")
    return WireAck(raw_id, accepted, printable(detail, MAX_DETAIL_CHARS))


def match_acks(acks: Mapping[str, WireAck], command_ids: Sequence[str]) -> list[WireAck | None]:
    """The ack of each command id sent (canonical text), None where there is none.

    Acks echo the id as sent, so a dictionary look-up finds them; only when some are
    missing are the acks' ids parsed as UUIDs, in case an endpoint wrote them another way
    (upper case, braces). An id that is not a UUID is then an AdapterPayloadError.
    """
    found = [acks.get(command_id) for command_id in command_ids]
    if None not in found or len(acks) == sum(ack is not None for ack in found):
        return found
    canonical: dict[str, WireAck] = {}
    for text, ack in acks.items():
        try:
            canonical[str(uuid.UUID(text))] = ack
        except ValueError as exc:
            raise AdapterPayloadError(f"ack command_id {text[:64]!r} is not a UUID") from exc
    return [canonical.get(command_id) for command_id in command_ids]


def printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, control characters replaced (it is stored and
    shown to operators, and came from a peer)."""
    cleaned = "".join(c if c.isprintable() else " " for c in text[:limit])
    return cleaned.strip()
