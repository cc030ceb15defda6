"""Dispatch plans: per-asset setpoints, the pool's targets per product, measured delivery."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from vpp.models.base import Base


class PlannedSetpointRow(Base):
    """One asset's planned net power in one interval of a market day (kW, net-load sign).

    ``setpoint_kw = baseline_kw + deviation_kw``: the forecast baseline (P50) plus the firm
    schedule and the asset's share of the awards, as the disaggregation LP decided.
    """

    __tablename__ = "planned_setpoints"
    # No foreign keys, two indexes besides the key: a plan writes a row per asset and
    # interval, and their upkeep was most of writing it (migration 0012).
    __table_args__ = (
        Index("ix_planned_setpoints_day_interval", "day", "interval"),
        Index("ix_planned_setpoints_account_day", "account_id", "day"),
        {"postgresql_with": {"fillfactor": 80}},  # updated in place: migration 0010
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    baseline_kw: Mapped[float] = mapped_column(Float)
    deviation_kw: Mapped[float] = mapped_column(Float)
    setpoint_kw: Mapped[float] = mapped_column(Float)


def _awarded(context: DefaultExecutionContext) -> float:
    """Default target: the award (what the pool must deliver unless the grid says otherwise)."""
    parameters: dict[str, float] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return float(parameters["awarded_kw"])


class PoolTarget(Base):
    """What the pool was awarded of a product in an interval, its current target (the
    award, or a grid instruction's), what the plan delivers, and what was measured.

    kW in the product's direction (>= 0). ``delivered_kw`` is filled once the interval
    is over (`vpp.dispatch.tracking`); None before.
    """

    __tablename__ = "pool_targets"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    awarded_kw: Mapped[float] = mapped_column(Float)
    target_kw: Mapped[float] = mapped_column(Float, default=_awarded)
    planned_kw: Mapped[float] = mapped_column(Float)
    shortfall_kw: Mapped[float] = mapped_column(Float)
    delivered_kw: Mapped[float | None] = mapped_column(Float, nullable=True)


class AssetDelivery(Base):
    """An asset's mean measured net load over one interval (kW, net-load sign), stored
    when the interval is over so tracking never re-reads a day of raw telemetry."""

    __tablename__ = "asset_deliveries"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("assets.id"), primary_key=True, index=True
    )
    interval: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    measured_kw: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
