"""Receiver helper for enterprises: verify signed setpoint batches, apply each command once, ack.

Plain use (any web framework)::

    receiver = WebhookReceiver({"key-2025": secret}, apply=my_device_setter)
    answer = receiver.handle(request_headers, request_body_bytes)
    # reply with answer.status_code and answer.content() (application/json)

ASGI use: ``create_receiver_app(receiver, path="/setpoints")`` is a Starlette app,
``receiver_endpoint(receiver)`` a route endpoint to mount in an existing one.

What ``handle`` checks, in order: body size (413); ``X-VPP-Timestamp`` within
``tolerance_s`` of now, past or future (401); a known ``X-VPP-Key-Id`` and a matching
``X-VPP-Signature`` (constant-time comparison, 401); the (timestamp, signature) pair
not seen before within the tolerance window (401, a replay); the body's schema (400,
nothing applied). Then each command is applied at most once: a command id seen before
gets its first answer again without being applied again; a command past its
``expires_at`` is refused unapplied. ``apply`` accepts a command by returning and
refuses it by raising ``CommandRefused(detail)``; any other exception propagates
(``handle``) or becomes a 500 (the ASGI endpoint), and that command stays unrecorded so
the sender's retry applies it. Memory stays bounded: a command id is forgotten at its
expiry (a later redelivery is refused as expired, so never applied twice), a signature
when it leaves the tolerance window. State is per process and guarded by a lock; run
one receiver process per endpoint, or back ``WebhookReceiver`` with shared storage.

Uses the standard library only (Starlette for the ASGI helpers), so it can be vendored.
"""

from __future__ import annotations

import heapq
import hmac
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.http.signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    parse_signature_header,
    secret_bytes,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

DEFAULT_TOLERANCE_S = 300.0
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_MAX_BODY_BYTES = 1 << 20
_MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Exception):
    """A request is not authentic or not fresh; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CommandRefused(Exception):
    """Raised by ``apply`` to refuse a command; ``detail`` goes back in its ack."""

    def __init__(self, detail: str = "refused") -> None:
        super().__init__(detail)
        self.detail = detail


class ReceivedCommand(NamedTuple):
    """One setpoint: hold ``power_kw`` (kW, + = draw from the grid, - = inject) from
    ``interval_start`` until ``expires_at`` (UTC-aware), then fall back to the device's
    own default. ``attempt`` counts deliveries of this command (1 on the first).

    A named tuple: immutable, and built in half the time of a frozen dataclass, which
    counts at fifty commands a request."""

    command_id: uuid.UUID
    asset_id: uuid.UUID
    interval_start: datetime
    power_kw: float
    expires_at: datetime
    attempt: int


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    key_id: str
    timestamp: int
    signature: str


@dataclass(frozen=True, slots=True)
class ReceiverResponse:
    status_code: int
    body: dict[str, Any]

    def content(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, bytes],
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> VerifiedRequest:
    """Check a request's timestamp and signature (stateless: no replay check).

    ``now`` is Unix seconds; ``secrets`` maps key ids to secret bytes. Raises
    SignatureError.
    """
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    if (
        raw_timestamp is None
        or not raw_timestamp.isdigit()
        or len(raw_timestamp) > _MAX_TIMESTAMP_DIGITS
    ):
        raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER}")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("timestamp outside the tolerance window")
    key_id = _header(headers, KEY_ID_HEADER)
    secret = secrets.get(key_id) if key_id is not None else None
    if key_id is None or secret is None:
        raise SignatureError(f"missing or unknown {KEY_ID_HEADER}")
    expected = compute_signature(secret, timestamp, body)
    offered = parse_signature_header(_header(headers, SIGNATURE_HEADER) or "")
    matched = False
    for candidate in offered:
        # compare_digest: the time taken does not reveal how much of a guess was right.
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureError("signature does not match")
    return VerifiedRequest(key_id, timestamp, expected)


def parse_batch(body: bytes) -> list[ReceivedCommand]:
    """The commands of a request body (schema in ``adapters.http.wire``); ValueError."""
    return [command for _, command in _parse_batch(body)]


def _parse_batch(body: bytes) -> list[tuple[str, ReceivedCommand]]:
    """Each command with its id as sent (acks echo it, as the sender matches on it)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("commands"), list):
        raise ValueError('the body has no "commands" list')
    times: dict[str, datetime] = {}  # a batch shares a few interval times
    return [_parse_command(item, i, times) for i, item in enumerate(document["commands"])]


def _parse_command(
    item: object, index: int, times: dict[str, datetime]
) -> tuple[str, ReceivedCommand]:
    if not isinstance(item, dict):
        raise ValueError(f"commands[{index}] is not an object")
    power = item.get("power_kw")
    # A JSON true must not pass for 1.
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not math.isfinite(power):
        raise ValueError(f"commands[{index}].power_kw is not a finite number")
    attempt = item.get("attempt")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"commands[{index}].attempt is not a positive integer")
    raw_id = item.get("command_id")
    command = ReceivedCommand(
        command_id=_parse_uuid(raw_id, index, "command_id"),
        asset_id=_asset_uuid(item.get("asset_id"), index),
        interval_start=_parse_utc(item.get("interval_start"), index, "interval_start", times),
        power_kw=float(power),
        expires_at=_parse_utc(item.get("expires_at"), index, "expires_at", times),
        attempt=attempt,
    )
    return str(raw_id), command


# An endpoint serves the same assets request after request, and parsing a UUID is most
# of the cost of reading a command: asset ids are parsed once and remembered (bounded).
_ASSET_IDS: dict[str, uuid.UUID] = {}
_ASSET_IDS_KEPT = 100_000


def _asset_uuid(value: object, index: int) -> uuid.UUID:
    if not isinstance(value, str):
        return _parse_uuid(value, index, "asset_id")  # raises the schema error
    parsed = _ASSET_IDS.get(value)
    if parsed is None:
        parsed = _parse_uuid(value, index, "asset_id")
        if len(_ASSET_IDS) >= _ASSET_IDS_KEPT:
            _ASSET_IDS.clear()
        _ASSET_IDS[value] = parsed
    return parsed


def _parse_uuid(value: object, index: int, name: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError(f"commands[{index}].{name} is not a string")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValueError(f"commands[{index}].{name} is not a UUID") from exc


def _parse_utc(value: object, index: int, name: str, seen: dict[str, datetime]) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"commands[{index}].{name} is not a string")
    parsed = seen.get(value)
    if parsed is not None:
        return parsed
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"commands[{index}].{name} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"commands[{index}].{name} has no UTC offset")
    seen[value] = parsed
    return parsed


@dataclass(frozen=True, slots=True)
class _Answer:
    accepted: bool
    detail: str


class WebhookReceiver:
    """Verifies, dedupes and applies setpoint batches; see the module docstring.

    ``secrets``: key id -> secret (text or bytes, at least 32 bytes; several ids let a
    secret be rotated without downtime). ``apply``: called once per new command.
    ``now``: Unix seconds (tests inject a fake clock).
    """

    def __init__(
        self,
        secrets: Mapping[str, str | bytes],
        apply: Callable[[ReceivedCommand], None],
        *,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        now: Callable[[], float] = time.time,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if tolerance_s <= 0:
            raise ValueError("tolerance_s must be positive")
        self._secrets = {key_id: secret_bytes(s) for key_id, s in secrets.items()}
        self._apply = apply
        self.tolerance_s = tolerance_s
        self._now = now
        self.max_body_bytes = max_body_bytes
        self._lock = threading.Lock()
        self._signatures: set[str] = set()
        self._signature_expiry: list[tuple[float, str]] = []
        # Keyed by the id's canonical text: strings are not tracked by the garbage
        # collector, so a large memory of ids costs no collection pauses.
        self._answers: dict[str, _Answer] = {}
        # Commands by expiry time, and a heap of those times: a batch shares a few.
        self._expiring: dict[float, list[str]] = {}
        self._expiry_times: list[float] = []

    def __repr__(self) -> str:
        return f"WebhookReceiver(<{len(self._secrets)} secrets>, tolerance_s={self.tolerance_s})"

    @property
    def remembered_commands(self) -> int:
        return len(self._answers)

    def handle(self, headers: Mapping[str, str], body: bytes) -> ReceiverResponse:
        """Answer one request: status code and JSON body (``{"acks": [...]}`` on 200)."""
        if len(body) > self.max_body_bytes:
            return _error(413, "body_too_large", f"the body exceeds {self.max_body_bytes} bytes")
        now = self._now()
        try:
            verified = verify_request(
                headers, body, self._secrets, now=now, tolerance_s=self.tolerance_s
            )
        except SignatureError as exc:
            log.info("refused a setpoint request: %s", exc.reason)
            return _error(401, "invalid_signature", exc.reason)
        try:
            commands = _parse_batch(body)
        except ValueError as exc:
            return _error(400, "invalid_body", str(exc))
        with self._lock:
            self._forget_expired(now)
            if verified.signature in self._signatures:
                log.warning("refused a replayed setpoint request (key id %s)", verified.key_id)
                return _error(401, "invalid_signature", "replayed request")
            self._signatures.add(verified.signature)
            heapq.heappush(
                self._signature_expiry, (verified.timestamp + self.tolerance_s, verified.signature)
            )
            acks = [self._apply_once(raw_id, command, now) for raw_id, command in commands]
        return ReceiverResponse(200, {"acks": acks})

    def _apply_once(self, raw_id: str, command: ReceivedCommand, now: float) -> dict[str, Any]:
        key = raw_id if _CANONICAL_UUID.fullmatch(raw_id) else str(command.command_id)
        answer = self._answers.get(key)
        if answer is None:
            expires_at = command.expires_at.timestamp()
            if expires_at <= now:
                return _ack(raw_id, _EXPIRED)
            try:
                self._apply(command)
                answer = _ACCEPTED
            except CommandRefused as exc:
                answer = _Answer(False, exc.detail)
            self._answers[key] = answer
            expiring = self._expiring.get(expires_at)
            if expiring is None:
                expiring = self._expiring[expires_at] = []
                heapq.heappush(self._expiry_times, expires_at)
            expiring.append(key)
        return _ack(raw_id, answer)

    def _forget_expired(self, now: float) -> None:
        while self._signature_expiry and self._signature_expiry[0][0] < now:
            _, signature = heapq.heappop(self._signature_expiry)
            self._signatures.discard(signature)
        while self._expiry_times and self._expiry_times[0] <= now:
            for command_id in self._expiring.pop(heapq.heappop(self._expiry_times)):
                self._answers.pop(command_id, None)


_ACCEPTED = _Answer(True, "")
_EXPIRED = _Answer(False, "expired")


def _ack(command_id: str, answer: _Answer) -> dict[str, Any]:
    ack: dict[str, Any] = {"command_id": command_id, "accepted": answer.accepted}
    if answer.detail:
        ack["detail"] = answer.detail
    return ack


def _error(status: int, error: str, detail: str) -> ReceiverResponse:
    return ReceiverResponse(status, {"error": error, "detail": detail})


def receiver_endpoint(receiver: WebhookReceiver) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint (``Route(path, endpoint, methods=["POST"])``) for ``receiver``.

    ``apply`` runs on the event loop: it should hand the setpoint over quickly.
    """
    from starlette.responses import Response

    async def endpoint(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > receiver.max_body_bytes:
            too_large = _error(413, "body_too_large", "the body is too large")
            return Response(too_large.content(), 413, media_type="application/json")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > receiver.max_body_bytes:
                break
        try:
            answer = receiver.handle(request.headers, bytes(body))
        except Exception:
            log.exception("applying a setpoint batch failed")
            answer = _error(500, "apply_failed", "the batch could not be applied; retry")
        return Response(answer.content(), answer.status_code, media_type="application/json")

    return endpoint


def create_receiver_app(receiver: WebhookReceiver, *, path: str = "/setpoints") -> Starlette:
    """A Starlette app answering ``POST path`` with ``receiver``."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    return Starlette(routes=[Route(path, receiver_endpoint(receiver), methods=["POST"])])
