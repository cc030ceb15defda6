"""Bids (draft -> approved -> submitted -> awarded), what each asset backs, awards, job runs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base, JsonDocument, UtcDateTime, new_id, utcnow


class BidRow(Base):
    """One product's day-ahead bid for the pool and its life cycle.

    ``ladder`` is the offer as submitted: one ``{"interval", "steps": [{"price_cny_per_mwh",
    "quantity_kw"}]}`` entry per interval of the product's day. ``submission_key`` is fixed
    when the draft is created and sent as the market's idempotency key, so a submission
    retried after a crash can never be accepted twice. ``revision`` counts edits
    (optimistic concurrency for PATCH).
    """

    __tablename__ = "bids"
    __table_args__ = (Index("ix_bids_day_product", "day", "product"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    product: Mapped[str] = mapped_column(String(64))
    pack_version: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    side: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    risk_quantile: Mapped[float] = mapped_column(Float)
    ladder: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    offered_kwh: Mapped[float] = mapped_column(Float)
    expected_revenue_cny: Mapped[float] = mapped_column(Float)
    submission_key: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    awarded_kwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True
    )
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("accounts.id"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BidAllocation(Base):
    """How much of one asset's flexibility backs a bid in one interval (kW, >= 0).

    ``capacity_kw`` is the asset's share of the optimiser's robust box (any part of it is
    deliverable); ``offered_kw`` the part of it the ladder actually offers (the ladder may
    be rounded to the market's quantity step or lowered by an edit); ``awarded_kw`` the
    part the market accepted.
    """

    __tablename__ = "bid_allocations"

    # No foreign keys: written with their bid, a row per asset and offered interval, from
    # the assets the bid service has just read (migration 0017).
    bid_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    capacity_kw: Mapped[float] = mapped_column(Float)
    offered_kw: Mapped[float] = mapped_column(Float)
    awarded_kw: Mapped[float] = mapped_column(Float, default=0.0)


class FirmSchedule(Base):
    """An asset's firm deviation from its baseline in one interval of a market day (kW).

    The bid optimiser decides it with the offers (energy arbitrage against the tariff;
    e.g. a battery charging at midday so it can cut the evening peak); the offers are
    deliverable only on top of it, so dispatch executes it whatever the awards.
    """

    __tablename__ = "firm_schedules"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # No foreign keys and no index but the key: the bid writes a row per asset and
    # interval with a firm deviation, every read is of one day, and checking the keys was
    # 40 % of writing (migration 0014), the two indexes more than half of the rest (0016).
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    firm_kw: Mapped[float] = mapped_column(Float)


class AwardRow(Base):
    """A cleared quantity of the pool's bid in one interval at one price (kW, CNY/MWh)."""

    __tablename__ = "awards"
    __table_args__ = (
        UniqueConstraint("bid_id", "interval", "price_cny_per_mwh"),
        Index("ix_awards_day_product", "day", "product"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    bid_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("bids.id"))
    product: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    side: Mapped[str] = mapped_column(String(8))
    interval: Mapped[int] = mapped_column(Integer)
    quantity_kw: Mapped[float] = mapped_column(Float)
    price_cny_per_mwh: Mapped[float] = mapped_column(Float)
    clearing_price_cny_per_mwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key makes it run once.

    Every scheduler instance inserts the row before doing the work; the loser of a race
    (or a second leader after a split brain) hits the unique constraint and skips.
    """

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    detail: Mapped[str] = mapped_column(String(1000), default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
