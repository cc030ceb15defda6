"""Queries on setpoint commands: the outbox's claim, outcome, ack and expiry steps."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from vpp.domain.commands import CommandState, SetpointCommand
from vpp.models import Asset, CommandEvent, SetpointCommandRow

OPEN = (CommandState.PENDING.value, CommandState.SENT.value)
CHUNK = 2000


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed command with what its adapter needs to deliver it."""

    command: SetpointCommand
    adapter: str
    kind: str
    params: dict[str, Any]


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    adapters: Sequence[str],
    backoff: Callable[[int], timedelta],
) -> list[Claimed]:
    """Take up to ``limit`` open, unexpired commands of ``adapters`` whose attempt is due.

    Rows are locked ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers
    anyway) and their ``next_attempt_at`` moved to ``now + backoff(attempt)``: once the
    caller commits, no other sender picks them up before this attempt has had its chance
    to be acknowledged.
    """
    stmt = (
        select(SetpointCommandRow)
        .where(
            SetpointCommandRow.state.in_(OPEN),
            SetpointCommandRow.next_attempt_at <= now,
            SetpointCommandRow.expires_at > now,
            SetpointCommandRow.adapter.in_(adapters),
        )
        .order_by(SetpointCommandRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.execute(stmt).scalars())
    if not rows:
        return []
    by_attempt: dict[int, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        by_attempt[row.attempts + 1].append(row.id)
    for attempt, ids in by_attempt.items():
        for chunk in _chunks(ids):
            session.execute(
                update(SetpointCommandRow)
                .where(SetpointCommandRow.id.in_(chunk))
                .values(next_attempt_at=now + backoff(attempt), attempts=attempt)
                .execution_options(synchronize_session=False)
            )
    assets = {
        a.id: a
        for chunk in _chunks(list({row.asset_id for row in rows}))
        for a in session.execute(select(Asset).where(Asset.id.in_(chunk))).scalars()
    }
    claimed = []
    for row in rows:
        asset = assets[row.asset_id]
        command = SetpointCommand(
            id=row.id,
            asset_id=row.asset_id,
            interval_start=row.interval_start,
            power_kw=row.power_kw,
            expires_at=row.expires_at,
            attempt=row.attempts + 1,
            settings=dict(asset.adapter_settings),
        )
        claimed.append(Claimed(command, row.adapter, asset.kind, dict(asset.params)))
    session.expunge_all()
    return claimed


def transition(
    session: Session,
    ids: Sequence[uuid.UUID],
    state: CommandState,
    now: datetime,
    detail: str = "",
    *,
    attempts: dict[uuid.UUID, int] | None = None,
) -> list[uuid.UUID]:
    """Move open commands to ``state`` (final states are never changed); log events.

    Returns the ids that actually changed, so a late or repeated ack is a no-op.
    """
    if not ids:
        return []
    values: dict[str, object] = {"state": state.value, "detail": detail[:500]}
    if state is CommandState.SENT:
        values["sent_at"] = now
    elif not state.is_open:
        values["finished_at"] = now
    changed: list[uuid.UUID] = []
    for chunk in _chunks(ids):
        still_open = list(
            session.execute(
                select(SetpointCommandRow.id).where(
                    SetpointCommandRow.id.in_(chunk), SetpointCommandRow.state.in_(OPEN)
                )
            ).scalars()
        )
        if not still_open:
            continue
        session.execute(
            update(SetpointCommandRow)
            .where(SetpointCommandRow.id.in_(still_open), SetpointCommandRow.state.in_(OPEN))
            .values(**values)
        )
        changed += still_open
    log_events(session, changed, state, now, detail, attempts)
    return changed


def note_retry(
    session: Session,
    ids: Sequence[uuid.UUID],
    now: datetime,
    detail: str,
    attempts: dict[uuid.UUID, int],
) -> None:
    """Record a failed attempt that will be retried (the state does not change)."""
    for chunk in _chunks(list(ids)):
        session.execute(
            update(SetpointCommandRow)
            .where(SetpointCommandRow.id.in_(chunk), SetpointCommandRow.state.in_(OPEN))
            .values(detail=detail[:500])
        )
    log_events(session, ids, None, now, detail, attempts)


def log_events(
    session: Session,
    ids: Sequence[uuid.UUID],
    state: CommandState | None,
    now: datetime,
    detail: str,
    attempts: dict[uuid.UUID, int] | None = None,
) -> None:
    if not ids:
        return
    session.execute(
        insert(CommandEvent),
        [
            {
                "command_id": command_id,
                "at": now,
                "state": state.value if state else "retry",
                "attempt": (attempts or {}).get(command_id, 0),
                "detail": detail[:500],
            }
            for command_id in ids
        ],
    )


def overdue(session: Session, now: datetime) -> list[uuid.UUID]:
    """Open commands whose expiry has passed."""
    stmt = select(SetpointCommandRow.id).where(
        SetpointCommandRow.state.in_(OPEN), SetpointCommandRow.expires_at <= now
    )
    return list(session.execute(stmt).scalars())


def get_command(
    session: Session, command_id: uuid.UUID, account_id: uuid.UUID | None
) -> SetpointCommandRow | None:
    stmt = select(SetpointCommandRow).where(SetpointCommandRow.id == command_id)
    if account_id is not None:
        stmt = stmt.where(SetpointCommandRow.account_id == account_id)
    return session.execute(stmt).scalar_one_or_none()


def list_commands(
    session: Session,
    account_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
    asset_id: uuid.UUID | None = None,
    state: str | None = None,
) -> Sequence[SetpointCommandRow]:
    stmt = select(SetpointCommandRow).order_by(SetpointCommandRow.id).limit(limit)
    if account_id is not None:
        stmt = stmt.where(SetpointCommandRow.account_id == account_id)
    if after is not None:
        stmt = stmt.where(SetpointCommandRow.id > after)
    if asset_id is not None:
        stmt = stmt.where(SetpointCommandRow.asset_id == asset_id)
    if state is not None:
        stmt = stmt.where(SetpointCommandRow.state == state)
    return session.execute(stmt).scalars().all()


def events_of(session: Session, command_id: uuid.UUID) -> Sequence[CommandEvent]:
    stmt = (
        select(CommandEvent).where(CommandEvent.command_id == command_id).order_by(CommandEvent.id)
    )
    return session.execute(stmt).scalars().all()
