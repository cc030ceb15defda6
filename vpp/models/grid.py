"""The grid company's interface: signing keys, intraday instructions, schedule versions
and the schedule webhook's outbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, JsonDocument, UtcDateTime, new_id, utcnow


class GridSigningKey(Base):
    """An Ed25519 public key with which a grid account signs its instructions.

    ``key_id`` is what the grid company sends in the ``Signature-Key-Id`` header;
    ``public_key`` the raw 32-byte key in standard base64 (RFC 8032 encoding).
    """

    __tablename__ = "grid_signing_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    key_id: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class GridInstruction(Base):
    """An intraday instruction as received, and the answer it got (given once, repeated).

    ``intervals``, ``target_kw`` and ``feasible_kw`` are parallel lists: interval index in
    the product's day, the target and the feasible power (kW, >= 0, in ``direction``).
    ``content_hash`` (SHA-256 of the canonical content) tells a replay from a conflict.
    """

    __tablename__ = "grid_instructions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    instruction_id: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True, index=True
    )
    source: Mapped[str] = mapped_column(String(32))
    product: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    direction: Mapped[str] = mapped_column(String(8))
    intervals: Mapped[list[int]] = mapped_column(JsonDocument)
    target_kw: Mapped[list[float]] = mapped_column(JsonDocument)
    feasible_kw: Mapped[list[float]] = mapped_column(JsonDocument)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    schedule_version: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ScheduleVersion(Base):
    """One published version of the pool's schedule of a market day.

    ``document`` is the schedule as sent to the grid company (see
    ``vpp.grid.schemas.ScheduleOut``); a version is recorded only when it differs from the
    previous one (``content_hash``). Versions count from 1 per day.
    """

    __tablename__ = "grid_schedule_versions"
    __table_args__ = (UniqueConstraint("day", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    cause: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox of the schedule webhook: one row per schedule version to deliver.

    The version id is the delivery's ``webhook-id``: the receiver dedupes on it, so
    delivery is at least once. ``state`` is pending, delivered or failed (given up).
    """

    __tablename__ = "grid_webhook_deliveries"
    __table_args__ = (Index("ix_grid_webhook_deliveries_due", "state", "next_attempt_at"),)

    version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("grid_schedule_versions.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
