"""Settlements: versions per market day, pool and enterprise results, agreements, the ledger.

Money is integer fen (1 CNY = 100 fen) throughout; power kW, energy kWh / MWh.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, UtcDateTime, new_id, utcnow

Fen = BigInteger


class AgencyAgreement(Base):
    """An enterprise's agency agreement (代理协议): the aggregator's share of its revenue."""

    __tablename__ = "agency_agreements"

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), primary_key=True)
    ratio_bp: Mapped[int] = mapped_column(Integer)
    """Aggregator's share of the enterprise's gross, basis points (2,000 = 20 %)."""
    fee_fen_per_mwh: Mapped[int] = mapped_column(Integer)
    """Aggregator's fee per MWh of positive measured response (fen/MWh)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True
    )


class Settlement(Base):
    """One settled version of a market day; a re-settlement adds version + 1."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("day", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    settled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True
    )
    rule: Mapped[str] = mapped_column(String(200))
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    head_hash: Mapped[str] = mapped_column(String(64))
    """Hash of this version's last ledger record."""
    payment_fen: Mapped[int] = mapped_column(Fen)
    penalty_fen: Mapped[int] = mapped_column(Fen)
    net_fen: Mapped[int] = mapped_column(Fen)
    aggregator_fen: Mapped[int] = mapped_column(Fen)
    enterprises_net_fen: Mapped[int] = mapped_column(Fen)
    flagged: Mapped[int] = mapped_column(Integer)
    """Enterprise intervals with a telemetry gap or an interpolated value."""


class SettlementInterval(Base):
    """The pool's result of one product in one interval of a settled version."""

    __tablename__ = "settlement_intervals"

    settlement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("settlements.id"), primary_key=True
    )
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(8))
    awarded_kw: Mapped[float] = mapped_column(Float)
    price_cny_per_mwh: Mapped[float] = mapped_column(Float)
    delivered_kw: Mapped[float] = mapped_column(Float)
    response_rate: Mapped[float] = mapped_column(Float)
    payment_fen: Mapped[int] = mapped_column(Fen)
    penalty_fen: Mapped[int] = mapped_column(Fen)


class SettlementShare(Base):
    """One enterprise's contribution and share of one product in one interval."""

    __tablename__ = "settlement_shares"

    settlement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("settlements.id"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id"), primary_key=True, index=True
    )
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    allocated_kw: Mapped[float] = mapped_column(Float)
    response_kw: Mapped[float] = mapped_column(Float)
    flagged: Mapped[int] = mapped_column(Integer)
    payment_fen: Mapped[int] = mapped_column(Fen)
    penalty_fen: Mapped[int] = mapped_column(Fen)


class SettlementStatement(Base):
    """One enterprise's statement line of one product in a settled version."""

    __tablename__ = "settlement_statements"

    settlement_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("settlements.id"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id"), primary_key=True, index=True
    )
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    allocated_kwh: Mapped[float] = mapped_column(Float)
    response_kwh: Mapped[float] = mapped_column(Float)
    positive_mwh: Mapped[float] = mapped_column(Float)
    flagged: Mapped[int] = mapped_column(Integer)
    ratio_bp: Mapped[int] = mapped_column(Integer)
    fee_fen_per_mwh: Mapped[int] = mapped_column(Integer)
    payment_fen: Mapped[int] = mapped_column(Fen)
    penalty_fen: Mapped[int] = mapped_column(Fen)
    gross_fen: Mapped[int] = mapped_column(Fen)
    aggregator_fen: Mapped[int] = mapped_column(Fen)
    net_fen: Mapped[int] = mapped_column(Fen)


class LedgerRecord(Base):
    """A sealed evidence record (`vpp.settlement.ledger`). Triggers refuse UPDATE and DELETE.

    ``body`` is the canonical JSON text itself, so its digest is recomputed byte for byte.
    """

    __tablename__ = "ledger_records"
    __table_args__ = (
        UniqueConstraint("day", "seq"),
        Index("ix_ledger_records_day_account", "day", "account_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    day: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
