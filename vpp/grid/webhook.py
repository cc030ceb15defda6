"""The schedule webhook: signed deliveries of new schedule versions to the grid company.

`vpp.grid.service.publish_schedule` queues one delivery per schedule version in the
``grid_webhook_deliveries`` outbox, in the transaction that changed the schedule;
`deliver_due` (a scheduler job) sends the due ones with an injected ``httpx.AsyncClient``.
Each is a POST of ``{"type": "schedule.updated", "timestamp", "data": <ScheduleOut>}``
signed the Standard Webhooks way (``webhook-id`` = the version id, which the receiver
dedupes on; ``webhook-timestamp``; ``webhook-signature: v1,<HMAC-SHA256>``). Delivery is
at least once: any answer but 2xx, a timeout or a connection error is retried with
exponential backoff (10 s doubling to 15 min) until a day has passed, then given up
(``failed``; the schedule stays readable at ``GET /v1/grid/schedules``). Versions of a
day go out oldest first.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
import httpx
from sqlalchemy.orm import Session, sessionmaker

from vpp.config import Settings
from vpp.grid import repository, signing
from vpp.grid.service import schedule_out
from vpp.models import ScheduleVersion, WebhookDelivery

log = logging.getLogger(__name__)

EVENT_TYPE = "schedule.updated"
RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(minutes=15)
GIVE_UP_AFTER = timedelta(days=1)
LEASE = timedelta(minutes=1)
"""How long a claimed delivery is hidden from other senders while it is being sent."""
BATCH = 20


@dataclass(frozen=True)
class WebhookTarget:
    """Where schedules go and the Standard Webhooks secret (``whsec_...``) signing them."""

    url: str
    secret: str
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookTarget | None:
        """The configured target (``VPP_GRID_WEBHOOK_URL`` / ``_SECRET``), None if unset."""
        if not settings.grid_webhook_url or not settings.grid_webhook_secret:
            return None
        return cls(
            settings.grid_webhook_url,
            settings.grid_webhook_secret,
            settings.grid_webhook_timeout_s,
        )


@dataclass(frozen=True)
class DeliveryReport:
    """What one `deliver_due` run did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after ``attempts`` failed ones: 10 s, 20 s, 40 s, ... 15 min."""
    delay: timedelta = RETRY_BASE * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_CAP)


def webhook_body(version: ScheduleVersion) -> bytes:
    """The delivery's body: the same bytes on every retry of a version."""
    payload = {
        "type": EVENT_TYPE,
        "timestamp": version.created_at.isoformat(),
        "data": schedule_out(version).model_dump(mode="json"),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Claimed:
    version_id: uuid.UUID
    body: bytes
    attempts: int
    created_at: datetime


def _claim(factory: sessionmaker[Session], now: datetime) -> list[_Claimed]:
    with factory() as session:
        claimed = []
        for row in repository.due_deliveries(session, now, BATCH):
            if not repository.claim_delivery(
                session, row.version_id, row.next_attempt_at, now + LEASE
            ):
                continue
            version = session.get(ScheduleVersion, row.version_id)
            if version is None:
                continue
            claimed.append(
                _Claimed(row.version_id, webhook_body(version), row.attempts, row.created_at)
            )
        session.commit()
        return claimed


def _record(
    factory: sessionmaker[Session],
    outcomes: list[tuple[_Claimed, int | None, str]],
    now: datetime,
) -> DeliveryReport:
    delivered = retrying = failed = 0
    with factory() as session:
        for claimed, status, error in outcomes:
            row = session.get(WebhookDelivery, claimed.version_id)
            if row is None:
                continue
            row.attempts = claimed.attempts + 1
            row.last_status = status
            row.last_error = error[:500]
            if not error:
                row.state, row.delivered_at = "delivered", now
                delivered += 1
            elif now - claimed.created_at >= GIVE_UP_AFTER:
                row.state = "failed"
                failed += 1
                log.warning("schedule webhook %s given up: %s", claimed.version_id, error)
            else:
                row.next_attempt_at = now + backoff(row.attempts)
                retrying += 1
        session.commit()
    return DeliveryReport(delivered, retrying, failed)


async def _send(
    client: httpx.AsyncClient, target: WebhookTarget, claimed: _Claimed, now: datetime
) -> tuple[int | None, str]:
    """POST one delivery; (HTTP status or None, error text or "" when delivered)."""
    key = signing.webhook_secret_bytes(target.secret)
    headers = {
        "content-type": "application/json",
        **signing.webhook_headers(key, str(claimed.version_id), int(now.timestamp()), claimed.body),
    }
    try:
        response = await client.post(
            target.url,
            content=claimed.body,
            headers=headers,
            timeout=httpx.Timeout(target.timeout_s),
        )
    except httpx.TimeoutException as exc:
        return None, f"timeout: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        return None, f"connection: {type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


async def deliver_due(
    factory: sessionmaker[Session],
    client: httpx.AsyncClient,
    now: datetime,
    target: WebhookTarget,
) -> DeliveryReport:
    """Send every due schedule delivery (up to one batch), oldest first, and record each
    outcome; database work runs in worker threads. Claims are compare-and-set, so two
    senders never send the same attempt."""
    claimed = await anyio.to_thread.run_sync(_claim, factory, now)
    outcomes = []
    for item in claimed:
        status, error = await _send(client, target, item, now)
        outcomes.append((item, status, error))
    if not outcomes:
        return DeliveryReport()
    return await anyio.to_thread.run_sync(_record, factory, outcomes, now)
