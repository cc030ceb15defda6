"""The delivery engine: claims due commands, hands them to adapters, records outcomes.

At-least-once delivery with acknowledgement (DESIGN.md section 6): a claim leases a
command until its next attempt time (exponential backoff), so a crash between sending
and the ack only delays a retry, and receivers dedupe by command id. Acknowledged,
rejected, failed and expired commands are final and never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpp.dispatch import repository
from vpp.domain.commands import (
    Acknowledgement,
    CommandState,
    DeliveryOutcome,
    DeliveryStatus,
    TelemetryPoint,
)
from vpp.kit.db import writing
from vpp.kit.metrics import Metrics
from vpp.models import Asset
from vpp.ports import AssetAdapter, BoundAsset, Clock
from vpp.telemetry.repository import insert_readings

log = logging.getLogger(__name__)
T = TypeVar("T")

_FINAL = {
    DeliveryStatus.ACKED: CommandState.ACKED,
    DeliveryStatus.REJECTED: CommandState.REJECTED,
    DeliveryStatus.FAILED: CommandState.FAILED,
    DeliveryStatus.SENT: CommandState.SENT,
}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts: base·2^(n-1), capped, with ±10 % jitter."""

    base_s: float = 2.0
    cap_s: float = 60.0
    jitter: float = 0.1

    def delay(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.cap_s, self.base_s * 2.0 ** max(0, attempt - 1))
        return raw * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))


@dataclass
class RoundReport:
    """What one pass of the engine did, by outcome."""

    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    expired: int = 0


class DeliveryEngine:
    """Runs the adapters and moves commands through their states.

    Database work runs in worker threads, one at a time (SQLite has one writer; on
    PostgreSQL several engines in several processes share the work through
    ``FOR UPDATE SKIP LOCKED``).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        adapters: Mapping[str, AssetAdapter],
        clock: Clock,
        metrics: Metrics | None = None,
        *,
        batch_size: int = 10_000,
        backoff: Backoff | None = None,
        lease_s: float = 30.0,
        seed: int | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.adapters = dict(adapters)
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.batch_size = batch_size
        # How long a claimed command is left alone while its adapter delivers it: if
        # this process dies mid-delivery, another sender retries after the lease.
        self.lease_s = lease_s
        self.backoff = backoff or Backoff()
        self._rng = random.Random(seed)
        self._db_lock = asyncio.Lock()
        self._first_sent: dict[uuid.UUID, tuple[str, float]] = {}
        self.sinks = {name: _EngineSink(self, name) for name in self.adapters}
        for name, adapter in self.adapters.items():
            self.metrics.adapter_events.sources[name] = adapter.event_counts

    async def db(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a committed session, serialised with the engine's own database work."""

        def run() -> T:
            with self.session_factory() as session:
                result = fn(writing(session))
                session.commit()
                return result

        async with self._db_lock:
            return await to_thread.run_sync(run)

    async def start(self) -> None:
        """Start every adapter and teach it the active assets bound to it."""
        for name, adapter in self.adapters.items():
            await adapter.start(self.sinks[name])
        await self.rebind()

    async def rebind(self) -> None:
        names = list(self.adapters)

        def load(session: Session) -> list[tuple[str, BoundAsset]]:
            rows = session.execute(
                select(Asset).where(Asset.adapter.in_(names), Asset.retired_at.is_(None))
            ).scalars()
            return [
                (a.adapter, BoundAsset(a.id, a.kind, dict(a.params), dict(a.adapter_settings)))
                for a in rows
            ]

        for name, bound in await self.db(load):
            self.adapters[name].bind_asset(bound)

    async def stop(self) -> None:
        for adapter in self.adapters.values():
            await adapter.stop()

    async def run_once(self) -> RoundReport:
        """Claim due commands, deliver them, record outcomes, expire the overdue."""
        report = RoundReport()
        now = self.clock.now()
        claimed = await self.db(lambda s: self._claim(s, now))
        report.claimed = len(claimed)
        by_adapter: dict[str, list[repository.Claimed]] = defaultdict(list)
        for item in claimed:
            by_adapter[item.adapter].append(item)
        results = await asyncio.gather(
            *(self._deliver(name, items) for name, items in by_adapter.items())
        )
        outcomes = [o for batch in results for o in batch]
        attempts = {c.command.id: c.command.attempt for c in claimed}
        adapters_of = {c.command.id: c.adapter for c in claimed}
        await self.db(lambda s: self._record(s, outcomes, attempts, adapters_of, now, report))
        report.expired = len(await self.db(lambda s: self._expire(s, self.clock.now())))
        for name, adapter in self.adapters.items():
            self.metrics.adapter_devices.labels(name).set(adapter.health().connected_devices)
        return report

    async def run(self, stop: asyncio.Event, idle_s: float = 0.25) -> None:
        """Deliver until ``stop`` is set; idle ``idle_s`` (clock time) when nothing is due."""
        while not stop.is_set():
            try:
                report = await self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying")
                report = RoundReport()
            if report.claimed == 0:
                await self.clock.sleep(idle_s)

    def _claim(self, session: Session, now: datetime) -> list[repository.Claimed]:
        return repository.claim_due(
            session,
            now,
            self.batch_size,
            list(self.adapters),
            timedelta(seconds=self.lease_s),
            with_settings=[n for n, a in self.adapters.items() if a.commands_carry_settings],
        )

    async def _deliver(
        self, name: str, items: Sequence[repository.Claimed]
    ) -> list[DeliveryOutcome]:
        adapter = self.adapters[name]
        started = time.perf_counter()
        for item in items:
            self._first_sent.setdefault(item.command.id, (name, started))
        try:
            outcomes = list(await adapter.deliver([item.command for item in items]))
        except Exception as exc:  # an adapter bug must not stop delivery for the others
            log.exception("adapter %s failed to deliver a batch", name)
            detail = f"{type(exc).__name__}: {exc}"
            outcomes = [DeliveryOutcome(i.command.id, DeliveryStatus.RETRY, detail) for i in items]
        answered = {o.command_id for o in outcomes}
        outcomes += [
            DeliveryOutcome(i.command.id, DeliveryStatus.RETRY, "adapter gave no outcome")
            for i in items
            if i.command.id not in answered
        ]
        return outcomes

    def _record(
        self,
        session: Session,
        outcomes: Sequence[DeliveryOutcome],
        attempts: dict[uuid.UUID, int],
        adapters_of: dict[uuid.UUID, str],
        now: datetime,
        report: RoundReport,
    ) -> None:
        groups: dict[tuple[DeliveryStatus, str], list[uuid.UUID]] = defaultdict(list)
        for outcome in outcomes:
            groups[(outcome.status, outcome.detail)].append(outcome.command_id)
        for (status, detail), ids in groups.items():
            report.outcomes[status.value] += len(ids)
            per_adapter = Counter(adapters_of[command_id] for command_id in ids)
            for adapter, count in per_adapter.items():
                self.metrics.commands.labels(adapter, status.value).inc(count)
            if status in (DeliveryStatus.RETRY, DeliveryStatus.SENT):
                # Not final: the next attempt follows the backoff unless an ack comes first.
                next_attempt = {
                    command_id: now
                    + timedelta(seconds=self.backoff.delay(attempts[command_id], self._rng))
                    for command_id in ids
                }
                retry_detail = detail if status is DeliveryStatus.RETRY else None
                repository.schedule_retry(session, next_attempt, retry_detail)
            if status is DeliveryStatus.RETRY:
                repository.log_events(session, ids, None, now, detail, attempts)
                continue
            changed = repository.transition(
                session, ids, _FINAL[status], now, detail, attempts=attempts
            )
            if status is DeliveryStatus.ACKED:
                self._observe_acks(changed)
            elif status is not DeliveryStatus.SENT:
                for command_id in changed:
                    self._first_sent.pop(command_id, None)

    def _expire(self, session: Session, now: datetime) -> list[uuid.UUID]:
        ids = repository.overdue(session, now)
        changed = repository.transition(
            session, ids, CommandState.EXPIRED, now, "no acknowledgement before the expiry"
        )
        for command_id in changed:
            adapter, _ = self._first_sent.pop(command_id, ("unknown", 0.0))
            self.metrics.commands.labels(adapter, "expired").inc()
            log.warning("setpoint command %s expired without acknowledgement", command_id)
        return changed

    def _observe_acks(self, ids: Sequence[uuid.UUID]) -> None:
        now = time.perf_counter()
        for command_id in ids:
            sent = self._first_sent.pop(command_id, None)
            if sent is not None:
                self.metrics.delivery_latency.labels(sent[0]).observe(now - sent[1])

    async def acknowledged(self, adapter: str, acks: Sequence[Acknowledgement]) -> None:
        def apply(session: Session) -> None:
            for accepted in (True, False):
                ids = [a.command_id for a in acks if a.accepted is accepted]
                detail = "; ".join(
                    sorted({a.detail for a in acks if a.accepted is accepted and a.detail})
                )
                state = CommandState.ACKED if accepted else CommandState.REJECTED
                changed = repository.transition(session, ids, state, self.clock.now(), detail)
                self.metrics.commands.labels(adapter, state.value).inc(len(changed))
                if accepted:
                    self._observe_acks(changed)

        await self.db(apply)

    async def telemetry(self, adapter: str, readings: Sequence[TelemetryPoint]) -> None:
        rows = [
            (r.asset_id, r.ts, r.power_kw, r.soc, r.energy_kwh, r.status, r.quality)
            for r in readings
        ]
        inserted = await self.db(lambda s: insert_readings(s, rows))
        self.metrics.adapter_readings.labels(adapter).inc(len(readings))
        self.metrics.readings_ingested.inc(inserted)


class _EngineSink:
    """The ``AdapterSink`` one adapter writes to."""

    def __init__(self, engine: DeliveryEngine, adapter: str) -> None:
        self.engine = engine
        self.adapter = adapter

    async def telemetry(self, readings: Sequence[TelemetryPoint]) -> None:
        if readings:
            await self.engine.telemetry(self.adapter, readings)

    async def acknowledged(self, acks: Sequence[Acknowledgement]) -> None:
        if acks:
            await self.engine.acknowledged(self.adapter, acks)
