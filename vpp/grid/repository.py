"""Queries of the grid interface: signing keys, instructions, schedules and the webhook outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vpp.models import (
    Asset,
    GridInstruction,
    GridSigningKey,
    PlannedSetpointRow,
    PoolTarget,
    ScheduleVersion,
    WebhookDelivery,
)


def signing_key(session: Session, key_id: str) -> GridSigningKey | None:
    return session.scalars(select(GridSigningKey).where(GridSigningKey.key_id == key_id)).first()


def signing_key_by_id(session: Session, id_: uuid.UUID) -> GridSigningKey | None:
    return session.get(GridSigningKey, id_)


def list_signing_keys(
    session: Session, account_id: uuid.UUID | None, after: uuid.UUID | None, limit: int
) -> Sequence[GridSigningKey]:
    query = select(GridSigningKey).order_by(GridSigningKey.id).limit(limit)
    if account_id is not None:
        query = query.where(GridSigningKey.account_id == account_id)
    if after is not None:
        query = query.where(GridSigningKey.id > after)
    return session.scalars(query).all()


def instruction(session: Session, instruction_id: str) -> GridInstruction | None:
    return session.scalars(
        select(GridInstruction).where(GridInstruction.instruction_id == instruction_id)
    ).first()


def last_issued_at(session: Session, *, source: str) -> datetime | None:
    """When the latest instruction taken from ``source`` was issued (None if none was)."""
    return session.scalars(
        select(func.max(GridInstruction.issued_at)).where(GridInstruction.source == source)
    ).first()


def list_instructions(
    session: Session,
    account_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
    *,
    day: date | None = None,
) -> Sequence[GridInstruction]:
    """Instructions in receipt order (of one grid account if ``account_id`` is given)."""
    query = select(GridInstruction).order_by(GridInstruction.id).limit(limit)
    if account_id is not None:
        query = query.where(GridInstruction.account_id == account_id)
    if after is not None:
        query = query.where(GridInstruction.id > after)
    if day is not None:
        query = query.where(GridInstruction.day == day)
    return session.scalars(query).all()


def enrolled_capacity_kw(session: Session) -> tuple[float, float]:
    """(up_kw, down_kw): the summed flexibility of every active asset (kW, >= 0)."""
    up, down = session.execute(
        select(
            func.coalesce(func.sum(Asset.up_kw), 0.0), func.coalesce(func.sum(Asset.down_kw), 0.0)
        ).where(Asset.retired_at.is_(None))
    ).one()
    return float(up), float(down)


def pool_plan_totals(session: Session, day: date) -> list[tuple[int, float, float]]:
    """(interval, summed baseline_kw, summed setpoint_kw) of the day's planned setpoints."""
    rows = session.execute(
        select(
            PlannedSetpointRow.interval,
            func.sum(PlannedSetpointRow.baseline_kw),
            func.sum(PlannedSetpointRow.setpoint_kw),
        )
        .where(PlannedSetpointRow.day == day)
        .group_by(PlannedSetpointRow.interval)
    ).all()
    return [(int(t), float(b), float(s)) for t, b, s in rows]


def pool_targets(session: Session, day: date) -> Sequence[PoolTarget]:
    return session.scalars(
        select(PoolTarget)
        .where(PoolTarget.day == day)
        .order_by(PoolTarget.product, PoolTarget.interval)
    ).all()


def latest_version(
    session: Session, day: date, before: datetime | None = None
) -> ScheduleVersion | None:
    """The day's newest schedule version (created before ``before`` if given)."""
    query = select(ScheduleVersion).where(ScheduleVersion.day == day)
    if before is not None:
        query = query.where(ScheduleVersion.created_at < before)
    return session.scalars(query.order_by(ScheduleVersion.version.desc()).limit(1)).first()


def schedule_version(session: Session, day: date, version: int) -> ScheduleVersion | None:
    return session.scalars(
        select(ScheduleVersion).where(
            ScheduleVersion.day == day, ScheduleVersion.version == version
        )
    ).first()


def due_deliveries(session: Session, now: datetime, limit: int) -> Sequence[WebhookDelivery]:
    """Pending deliveries whose next attempt is due, oldest version first."""
    return session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.version_id)
        .limit(limit)
    ).all()


def claim_delivery(
    session: Session, version_id: uuid.UUID, due_at: datetime, lease_until: datetime
) -> bool:
    """Take a due delivery for one attempt: move its next attempt to ``lease_until`` unless
    another sender moved it first (compare-and-set on ``next_attempt_at``)."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.version_id == version_id,
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at == due_at,
        )
        .values(next_attempt_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
