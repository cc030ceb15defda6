"""Setpoint commands (the transactional outbox) and their state history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, UtcDateTime, new_id, utcnow


class SetpointCommandRow(Base):
    """One setpoint for one asset, written in the transaction that decided it.

    Senders claim due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), push
    ``next_attempt_at`` forward as a lease, deliver, and record the outcome; open
    states are ``pending`` and ``sent``, every other state is final.
    """

    __tablename__ = "setpoint_commands"
    __table_args__ = (
        Index(  # open commands only (migration 0010)
            "ix_setpoint_commands_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'sent')"),
            sqlite_where=text("state IN ('pending', 'sent')"),
        ),
        Index("ix_setpoint_commands_asset_interval", "asset_id", "interval_start"),
        {"postgresql_with": {"fillfactor": 80}},  # revised in place: migration 0010
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # No foreign keys: a plan writes a command per asset and commanded interval, and
    # checking them was more than half of writing (migration 0013).
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    adapter: Mapped[str] = mapped_column(String(64))
    interval_start: Mapped[datetime] = mapped_column(UtcDateTime)
    power_kw: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(32), default="manual")
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CommandEvent(Base):
    """A state change or delivery attempt of a command after its creation, in order (the
    creation is the command row itself: migration 0015)."""

    __tablename__ = "command_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # No foreign key (migration 0010): written only with the change of its command.
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(String(500), default="")
